-- The duplicate check of fs_commit_ops as one probe per op id. 005 wrote it as
-- `client_op_id IN (subquery)` under `canvas_id = $1`; with statistics from a nearly empty
-- table, the plan cached in a session scanned the whole canvas through the primary key
-- (canvas_id, version) and filtered on client_op_id, so every batch cost O(ops in the canvas)
-- until the session ended. Measured with pgbench calling the function with 20-op batches on a
-- fresh database: 10.3 ms per batch in the first session against 1.2 ms in the next.
-- (schema/007's enable_seqscan = off did not help: that plan is an index scan; nor did a
-- LATERAL join, which the planner flattened into the same scan.)
-- Same signature, same results; CREATE OR REPLACE keeps dependent grants and the setting
-- is restated because a replaced function loses its SET clauses.
CREATE OR REPLACE FUNCTION fs_commit_ops(p_canvas uuid, p_ops jsonb, p_expected_version bigint DEFAULT NULL,
                              p_guard_shapes jsonb DEFAULT NULL)
RETURNS TABLE (idx int, status text, version bigint, op_id uuid, created_at text, op text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
#variable_conflict use_column
DECLARE
	v_workspace uuid;
	v_head bigint;
	v_now text := fs_ts(now());
BEGIN
	SELECT c.workspace_id, c.version INTO v_workspace, v_head
	FROM canvases c WHERE c.id = p_canvas FOR UPDATE;
	IF NOT FOUND THEN
		RETURN QUERY SELECT (e.ord - 1)::int, 'not_found'::text, NULL::bigint, NULL::uuid,
		                    NULL::text, NULL::text
		             FROM jsonb_array_elements(p_ops) WITH ORDINALITY e(v, ord);
		RETURN;
	END IF;
	IF p_expected_version IS NOT NULL AND v_head <> p_expected_version AND (
	       p_guard_shapes IS NULL OR EXISTS (
	           SELECT 1 FROM operations o
	           WHERE o.canvas_id = p_canvas AND o.version > p_expected_version
	             AND o.payload->>'shape_id' IN
	                 (SELECT jsonb_array_elements_text(p_guard_shapes)))) THEN
		RETURN QUERY SELECT (e.ord - 1)::int, 'conflict'::text, v_head, NULL::uuid,
		                    NULL::text, NULL::text
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
	), dups AS MATERIALIZED (
		-- one probe of the unique (canvas_id, client_op_id) index per distinct op id, as a
		-- correlated scalar subquery: the planner cannot flatten it into a join against a
		-- scan of the canvas, whatever the statistics say. version NULL: not a duplicate.
		SELECT u.client_op_id,
		       (SELECT op.version FROM operations op
		        WHERE op.canvas_id = p_canvas AND op.client_op_id = u.client_op_id) AS version
		FROM (SELECT DISTINCT a.client_op_id FROM authorized a
		      WHERE a.role IN ('editor', 'owner')) u
	), fresh AS (
		-- first occurrence of each new client op id among the authorized inputs
		SELECT DISTINCT ON (a.client_op_id) a.* FROM authorized a
		WHERE a.role IN ('editor', 'owner')
		  AND NOT EXISTS (SELECT 1 FROM dups d
		                  WHERE d.client_op_id = a.client_op_id AND d.version IS NOT NULL)
		ORDER BY a.client_op_id, a.i
	), numbered AS (
		SELECT f.*, row_number() OVER (ORDER BY f.i) AS n, count(*) OVER () AS k FROM fresh f
	), bump AS (
		UPDATE canvases SET version = canvases.version + (SELECT count(*) FROM numbered)
		WHERE id = p_canvas AND EXISTS (SELECT 1 FROM numbered)
		RETURNING canvases.version AS head
	), ins AS (
		INSERT INTO operations (canvas_id, version, client_op_id, user_id, type, payload, kind,
		                        undo_of, created_at)
		SELECT p_canvas, b.head - nb.k + nb.n, nb.client_op_id, nb.user_id, nb.type, nb.payload,
		       nb.kind, nb.undo_of, now()
		FROM numbered nb, bump b
		RETURNING operations.client_op_id AS client_op_id, operations.version AS version,
		          operations.id AS id
	)
	SELECT a.i,
	       CASE WHEN a.role IS NULL THEN 'not_found'
	            WHEN a.role = 'viewer' THEN 'forbidden'
	            WHEN nb.i = a.i THEN 'committed'
	            ELSE 'duplicate' END,
	       CASE WHEN a.role IN ('editor', 'owner') THEN coalesce(ins.version, d.version) END,
	       CASE WHEN nb.i = a.i THEN ins.id END,
	       CASE WHEN nb.i = a.i THEN v_now END,
	       CASE WHEN a.role NOT IN ('editor', 'owner') OR nb.i = a.i THEN NULL
	            WHEN d.version IS NOT NULL THEN
	                 (SELECT fs_op_json(o)::text FROM operations o
	                  WHERE o.canvas_id = p_canvas AND o.version = d.version)
	            ELSE NULL END
	FROM authorized a
	LEFT JOIN numbered nb ON nb.client_op_id = a.client_op_id
	LEFT JOIN ins ON ins.client_op_id = a.client_op_id
	LEFT JOIN dups d ON d.client_op_id = a.client_op_id
	ORDER BY a.i;
END
$$;
