-- The one write path's database half: a group commit of a batch of operations for one canvas
-- in one round trip, and the JSON shape of an operation as the API returns it everywhere.

-- What an operation row is for the history features: an ordinary edit, an undo or a redo of
-- an earlier op (undo_of names it), or part of a restore. Undo stacks are rebuilt from this.
ALTER TABLE operations ADD COLUMN kind text NOT NULL DEFAULT 'do'
	CONSTRAINT operations_kind CHECK (kind IN ('do', 'undo', 'redo', 'restore'));
CREATE INDEX operations_canvas_user_version ON operations (canvas_id, user_id, version);

CREATE FUNCTION fs_op_json(o operations) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT json_build_object('id', o.id, 'canvas_id', o.canvas_id, 'version', o.version,
	                         'type', o.type, 'payload', o.payload, 'created_by', o.user_id,
	                         'client_op_id', o.client_op_id, 'created_at', fs_ts(o.created_at),
	                         'kind', o.kind, 'undo_of', o.undo_of)
$$;

-- Commits a batch. p_ops is a JSON array of
--   {client_op_id, user_id, type, payload, kind?, undo_of?}
-- (already validated by the node). Returns one row per input element (idx = 0-based position):
--   status committed | duplicate | forbidden | not_found | conflict, the op's version and JSON.
--
-- Invariants it keeps:
-- * Versions come only from UPDATE canvases SET version = version + k ... RETURNING, in the same
--   transaction as the insert of the k rows: gap-free and monotonic.
-- * The canvas row is locked FIRST, in its own statement. In READ COMMITTED every later
--   statement takes a fresh snapshot, so the duplicate check below sees every op committed by
--   whoever held the lock before us: a client op id submitted concurrently from any number of
--   nodes commits once, and the others get the original version (never a unique violation).
-- * Authorization (editor or owner of the canvas's workspace) is checked per op under the
--   same lock, so a role change cannot race a commit.
-- * p_expected_version (restore, undo): commit nothing unless the canvas is still at that
--   version, or, when p_guard_shapes (a JSON array of shape ids) is given, unless no op after
--   that version touched one of those shapes. Undo reverts properties of its own shapes only,
--   so edits to other shapes in between do not invalidate it; restore needs the whole canvas.
CREATE FUNCTION fs_commit_ops(p_canvas uuid, p_ops jsonb, p_expected_version bigint DEFAULT NULL,
                              p_guard_shapes jsonb DEFAULT NULL)
RETURNS TABLE (idx int, status text, version bigint, op text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
	v_workspace uuid;
	v_head bigint;
BEGIN
	SELECT c.workspace_id, c.version INTO v_workspace, v_head
	FROM canvases c WHERE c.id = p_canvas FOR UPDATE;
	IF NOT FOUND THEN
		RETURN QUERY SELECT (e.ord - 1)::int, 'not_found'::text, NULL::bigint, NULL::text
		             FROM jsonb_array_elements(p_ops) WITH ORDINALITY e(v, ord);
		RETURN;
	END IF;
	IF p_expected_version IS NOT NULL AND v_head <> p_expected_version AND (
	       p_guard_shapes IS NULL OR EXISTS (
	           SELECT 1 FROM operations o
	           WHERE o.canvas_id = p_canvas AND o.version > p_expected_version
	             AND o.payload->>'shape_id' IN
	                 (SELECT jsonb_array_elements_text(p_guard_shapes)))) THEN
		RETURN QUERY SELECT (e.ord - 1)::int, 'conflict'::text, v_head, NULL::text
		             FROM jsonb_array_elements(p_ops) WITH ORDINALITY e(v, ord);
		RETURN;
	END IF;

	RETURN QUERY
	WITH input AS (
		SELECT (e.ord - 1)::int AS i, (e.v->>'client_op_id')::uuid AS client_op_id,
		       (e.v->>'user_id')::uuid AS user_id, e.v->>'type' AS type, e.v->'payload' AS payload,
		       coalesce(e.v->>'kind', 'do') AS kind, (e.v->>'undo_of')::bigint AS undo_of
		FROM jsonb_array_elements(p_ops) WITH ORDINALITY e(v, ord)
	), authorized AS (
		SELECT inp.*, m.role FROM input inp
		LEFT JOIN workspace_members m ON m.workspace_id = v_workspace AND m.user_id = inp.user_id
	), fresh AS (
		-- first occurrence of each new client op id among the authorized inputs
		SELECT DISTINCT ON (a.client_op_id) a.* FROM authorized a
		WHERE a.role IN ('editor', 'owner')
		  AND NOT EXISTS (SELECT 1 FROM operations o
		                  WHERE o.canvas_id = p_canvas AND o.client_op_id = a.client_op_id)
		ORDER BY a.client_op_id, a.i
	), numbered AS (
		SELECT f.*, row_number() OVER (ORDER BY f.i) AS n, count(*) OVER () AS k FROM fresh f
	), bump AS (
		UPDATE canvases SET version = canvases.version + (SELECT count(*) FROM numbered)
		WHERE id = p_canvas AND EXISTS (SELECT 1 FROM numbered)
		RETURNING canvases.version AS head
	), ins AS (
		INSERT INTO operations (canvas_id, version, client_op_id, user_id, type, payload, kind,
		                        undo_of)
		SELECT p_canvas, b.head - nb.k + nb.n, nb.client_op_id, nb.user_id, nb.type, nb.payload,
		       nb.kind, nb.undo_of
		FROM numbered nb, bump b
		RETURNING *
	)
	SELECT a.i,
	       CASE WHEN a.role IS NULL THEN 'not_found'
	            WHEN a.role = 'viewer' THEN 'forbidden'
	            WHEN ins.client_op_id IS NOT NULL AND nb.i = a.i THEN 'committed'
	            ELSE 'duplicate' END,
	       CASE WHEN a.role IN ('editor', 'owner') THEN coalesce(ins.version, prior.version) END,
	       CASE WHEN a.role NOT IN ('editor', 'owner') THEN NULL
	            WHEN ins.version IS NOT NULL THEN fs_op_json(ROW(ins.*)::operations)::text
	            ELSE fs_op_json(prior)::text END
	FROM authorized a
	LEFT JOIN numbered nb ON nb.client_op_id = a.client_op_id
	LEFT JOIN ins ON ins.client_op_id = a.client_op_id
	LEFT JOIN operations prior ON prior.canvas_id = p_canvas AND prior.client_op_id = a.client_op_id
	ORDER BY a.i;
END
$$;
