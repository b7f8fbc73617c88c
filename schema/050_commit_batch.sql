-- Node-wide group commit (docs/architecture.md, "The write path"): one transaction and one
-- round trip commit everything a node has queued, for any number of canvases, instead of one
-- transaction per canvas. Per canvas the invariants of DESIGN §2 hold as before: versions are
-- allocated by one UPDATE canvases ... RETURNING in the same transaction as the inserts; the
-- duplicate check runs after the canvas row is locked; authorization is read under the lock;
-- conditional jobs (restore, shape-guarded undo) are checked per canvas; and one canvas's
-- failure (forbidden, conflict, full) does not fail the others.
--
-- Canvas size limits. Exact state sizes are known only where a state is built (a snapshot),
-- so each canvas carries upper bounds of its live shape count and of its canonical state size
-- in bytes at its head: a batch adds, per committed op, its payload size + 64 (a shape's key
-- and punctuation; an op never grows the serialized state by more) and, per create_shape, one
-- shape. A batch that would take a bound past the limit is refused for that canvas
-- ('canvas_full'); the node then tightens the bounds to exact values by writing a snapshot at
-- the head (fs_store_snapshot) and retries once, so a canvas near its limit is refused only
-- when it really is full. The bounds only ever overestimate: a canvas never grows past them.
ALTER TABLE canvases
	ADD COLUMN bound_shapes bigint NOT NULL DEFAULT 0,
	ADD COLUMN bound_bytes bigint NOT NULL DEFAULT 0,
	ADD COLUMN bound_version bigint NOT NULL DEFAULT 0;

-- Existing canvases: from the latest snapshot (jsonb's text form is never shorter than the
-- canonical JSON) plus every op after it.
UPDATE canvases c SET
	bound_shapes = coalesce(s.shape_count, 0) + coalesce(o.creates, 0),
	bound_bytes = coalesce(s.bytes, 0) + coalesce(o.bytes, 0),
	bound_version = coalesce(s.version, 0)
FROM canvases c2
LEFT JOIN LATERAL (
	SELECT sn.version, coalesce(sn.shape_count, (SELECT count(*) FROM jsonb_object_keys(sn.state))) AS shape_count,
	       octet_length(sn.state::text) AS bytes
	FROM snapshots sn WHERE sn.canvas_id = c2.id ORDER BY sn.version DESC LIMIT 1) s ON true
LEFT JOIN LATERAL (
	SELECT count(*) FILTER (WHERE op.type = 'create_shape') AS creates,
	       sum(octet_length(op.payload::text) + 64) AS bytes
	FROM operations op WHERE op.canvas_id = c2.id AND op.version > coalesce(s.version, 0)) o ON true
WHERE c.id = c2.id;

-- Commits one node-wide batch (it replaces schema/008's per-canvas fs_commit_ops, whose
-- deleted-canvas and commenter rules of schema/020 it keeps). Per canvas (1-based index into
-- p_canvases):
--   p_expected[i]  NULL, or the version the canvas must still be at (restore), or that no op
--                  after it touched the shapes of p_guards->(i-1) (undo)
--   p_guards       JSON array aligned with p_canvases: null or an array of shape ids
--   p_wait         the canvases whose locks the batch waits for; the others it takes only if
--                  free (see step 1)
-- Per op (in batch order; a job's ops are consecutive, and p_jobs numbers the jobs):
--   p_op_canvas, p_client_op_ids, p_users, p_types, p_kinds, p_undo_of, p_sizes (payload
--   bytes), p_jobs, and p_payloads (JSON array of the payloads)
-- Limits: p_max_shapes, p_max_bytes (bounds, see above); a job is all or nothing.
-- Returns one row per op, in batch order: status committed | duplicate | conflict (expected
-- version missed; version = the head) | forbidden | not_found | id_conflict (the client op id
-- is another user's op on that canvas) | canvas_full | busy (another transaction holds the
-- canvas: nothing was done, the node sends it again and then waits); version for committed and duplicate
-- ops, op_id/created_at for committed ones, and the original op's JSON for duplicates.
CREATE FUNCTION fs_commit_batch(p_canvases uuid[], p_expected bigint[], p_guards jsonb,
                                p_wait uuid[],
                                p_op_canvas int[], p_client_op_ids uuid[], p_users uuid[],
                                p_types text[], p_kinds text[], p_undo_of bigint[],
                                p_sizes int[], p_jobs int[], p_payloads jsonb,
                                p_max_shapes bigint, p_max_bytes bigint)
RETURNS TABLE (idx int, status text, version bigint, op_id uuid, created_at text, op text)
LANGUAGE plpgsql
-- Every probe below is an index lookup; a cold table's statistics must never turn one into a
-- scan (the trap schema/008 fixed for the per-canvas function).
SET enable_seqscan = off
AS $$
#variable_conflict use_column
DECLARE
	v_now text := fs_ts(now());
	v_locked uuid[];
BEGIN
	-- 1. Lock the batch's canvases. Those in p_wait are waited for, in id order; then the
	--    others are taken only where free (SKIP LOCKED): with writers of a canvas on several
	--    nodes, batches of hundreds of canvases overlap, and waiting for one canvas while
	--    holding the others made the nodes' batches queue behind each other. A canvas taken
	--    by someone else answers busy: the node sends it again, and then waits for it. No
	--    deadlock: a transaction waits only while it holds nothing but lower ids it waited
	--    for (it takes no lock without waiting until it has every lock it waits for).
	--    Separate statements, so that statement 2 takes its snapshot after the locks are
	--    held (READ COMMITTED, VOLATILE): it sees every op committed by whoever held a lock
	--    before us, and a client op id submitted concurrently from any node commits once.
	PERFORM 1 FROM canvases c WHERE c.id = ANY(p_wait) ORDER BY c.id FOR UPDATE;
	SELECT array_agg(l.id) INTO v_locked FROM (
		SELECT c.id FROM canvases c
		WHERE c.id = ANY(p_canvases) AND NOT (c.id = ANY(coalesce(p_wait, '{}')))
		ORDER BY c.id FOR UPDATE SKIP LOCKED) l;
	v_locked := coalesce(v_locked, '{}') || coalesce(p_wait, '{}');

	-- 2. Everything else in one set-based statement.
	RETURN QUERY
	WITH cv AS (
		SELECT k.ci::int AS ci, c.id, c.workspace_id, c.version AS head, k.expected,
		       c.id = ANY(v_locked) AS locked,
		       c.bound_shapes, c.bound_bytes,
		       k.expected IS NULL OR c.version = k.expected OR (
		           p_guards -> (k.ci::int - 1) IS NOT NULL
		           AND jsonb_typeof(p_guards -> (k.ci::int - 1)) = 'array'
		           AND NOT EXISTS (
		               SELECT 1 FROM operations o
		               WHERE o.canvas_id = c.id AND o.version > k.expected
		                 AND o.payload->>'shape_id' IN
		                     (SELECT jsonb_array_elements_text(p_guards -> (k.ci::int - 1))))) AS ok
		FROM unnest(p_canvases, p_expected) WITH ORDINALITY k(id, expected, ci)
		-- a deleted canvas (schema/020) is not found: read under its lock, so a commit that
		-- waited behind the deletion sees it
		JOIN canvases c ON c.id = k.id AND c.deleted_at IS NULL
	), input AS (
		SELECT u.i::int AS i, u.ci, u.client_op_id, u.user_id, u.type, u.kind, u.undo_of,
		       u.size, u.job, p_payloads -> (u.i::int - 1) AS payload
		FROM unnest(p_op_canvas, p_client_op_ids, p_users, p_types, p_kinds, p_undo_of,
		            p_sizes, p_jobs)
		     WITH ORDINALITY u(ci, client_op_id, user_id, type, kind, undo_of, size, job, i)
	), authorized AS (
		SELECT inp.*, cv.id AS canvas_id, cv.ok, cv.head, cv.locked,
		       (SELECT m.role FROM workspace_members m
		        WHERE m.workspace_id = cv.workspace_id AND m.user_id = inp.user_id) AS role
		FROM input inp LEFT JOIN cv ON cv.ci = inp.ci
	), dups AS MATERIALIZED (
		-- one probe of the unique (canvas_id, client_op_id) index per distinct op id, as a
		-- correlated scalar subquery the planner cannot flatten into a scan of the canvas
		SELECT u.canvas_id, u.client_op_id,
		       (SELECT o FROM operations o
		        WHERE o.canvas_id = u.canvas_id AND o.client_op_id = u.client_op_id) AS prior
		FROM (SELECT DISTINCT a.canvas_id, a.client_op_id FROM authorized a
		      WHERE a.role IN ('editor', 'owner') AND a.ok AND a.locked) u
	), candidates AS (
		-- first occurrence of each new client op id of a canvas among the authorized inputs
		-- (a join, not NOT EXISTS: that became a nested loop over the CTE, O(ops^2))
		SELECT DISTINCT ON (a.canvas_id, a.client_op_id) a.* FROM authorized a
		JOIN dups d ON d.canvas_id = a.canvas_id AND d.client_op_id = a.client_op_id
		WHERE a.role IN ('editor', 'owner') AND a.ok AND a.locked AND (d.prior).id IS NULL
		ORDER BY a.canvas_id, a.client_op_id, a.i
	), job_sizes AS (
		-- a job commits only if every canvas bound stays within its limit with it and every
		-- earlier job of the canvas in this batch: accepted jobs are a prefix per canvas
		SELECT j.canvas_id, j.job,
		       sum(j.shapes) OVER w AS shapes_upto, sum(j.bytes) OVER w AS bytes_upto
		FROM (SELECT c.canvas_id, c.job, count(*) FILTER (WHERE c.type = 'create_shape') AS shapes,
		             sum(c.size + 64) AS bytes
		      FROM candidates c GROUP BY c.canvas_id, c.job) j
		WINDOW w AS (PARTITION BY j.canvas_id ORDER BY j.job)
	), fresh AS (
		SELECT c.* FROM candidates c
		JOIN job_sizes js ON js.canvas_id = c.canvas_id AND js.job = c.job
		JOIN cv ON cv.id = c.canvas_id
		WHERE cv.bound_shapes + js.shapes_upto <= p_max_shapes
		  AND cv.bound_bytes + js.bytes_upto <= p_max_bytes
	), numbered AS (
		SELECT f.*, row_number() OVER (PARTITION BY f.canvas_id ORDER BY f.i) AS n
		FROM fresh f
	), counts AS (
		SELECT nb.canvas_id, count(*) AS k,
		       count(*) FILTER (WHERE nb.type = 'create_shape') AS shapes,
		       sum(nb.size + 64) AS bytes
		FROM numbered nb GROUP BY nb.canvas_id
	), bump AS (
		UPDATE canvases c SET version = c.version + n.k,
		                      bound_shapes = c.bound_shapes + n.shapes,
		                      bound_bytes = c.bound_bytes + n.bytes
		FROM counts n WHERE c.id = n.canvas_id
		RETURNING c.id, c.version AS head, n.k
	), ins AS (
		INSERT INTO operations (canvas_id, version, client_op_id, user_id, type, payload, kind,
		                        undo_of, created_at)
		SELECT nb.canvas_id, b.head - b.k + nb.n, nb.client_op_id, nb.user_id, nb.type,
		       nb.payload, nb.kind, nb.undo_of, now()
		FROM numbered nb JOIN bump b ON b.id = nb.canvas_id
		RETURNING operations.canvas_id, operations.client_op_id, operations.version,
		          operations.id, operations.user_id
	)
	SELECT a.i - 1,
	       CASE WHEN a.canvas_id IS NULL THEN 'not_found'
	            WHEN NOT a.locked THEN 'busy'
	            WHEN a.role IS NULL THEN 'not_found'
	            WHEN a.role NOT IN ('editor', 'owner') THEN 'forbidden'
	            WHEN NOT a.ok THEN 'conflict'
	            WHEN nb.i = a.i THEN 'committed'
	            WHEN (d.prior).user_id IS NOT NULL AND (d.prior).user_id <> a.user_id
	                 THEN 'id_conflict'
	            WHEN (d.prior).id IS NOT NULL THEN 'duplicate'
	            WHEN nb.i IS NOT NULL AND nb.user_id <> a.user_id THEN 'id_conflict'
	            WHEN nb.i IS NOT NULL THEN 'duplicate'
	            ELSE 'canvas_full' END,
	       CASE WHEN a.canvas_id IS NULL OR NOT a.locked OR a.role IS NULL
	                 OR a.role NOT IN ('editor', 'owner') THEN NULL
	            WHEN NOT a.ok THEN a.head
	            WHEN (d.prior).user_id IS NOT NULL AND (d.prior).user_id <> a.user_id THEN NULL
	            WHEN nb.i IS NOT NULL AND nb.user_id <> a.user_id THEN NULL
	            ELSE coalesce(ins.version, (d.prior).version) END,
	       CASE WHEN nb.i = a.i THEN ins.id END,
	       CASE WHEN nb.i = a.i THEN v_now END,
	       CASE WHEN (d.prior).id IS NOT NULL AND (d.prior).user_id = a.user_id
	            THEN fs_op_json(d.prior)::text END
	FROM authorized a
	LEFT JOIN numbered nb ON nb.canvas_id = a.canvas_id AND nb.client_op_id = a.client_op_id
	LEFT JOIN ins ON ins.canvas_id = a.canvas_id AND ins.client_op_id = a.client_op_id
	LEFT JOIN dups d ON d.canvas_id = a.canvas_id AND d.client_op_id = a.client_op_id
	ORDER BY a.i;
END
$$;

-- The per-canvas function of schema/003-008 (and 020's deleted-canvas check) has no caller
-- any more.
DROP FUNCTION fs_commit_ops(uuid, jsonb, bigint, jsonb);

-- Stores a snapshot (derived data: one per version, whoever writes it first) and, under the
-- canvas lock, tightens the canvas's size bounds to the exact values at that version plus
-- what the ops after it may have added. Returns the snapshot as API JSON and whether this
-- call inserted it.
CREATE FUNCTION fs_store_snapshot(p_canvas uuid, p_version bigint, p_state jsonb,
                                  p_shapes int, p_bytes bigint)
RETURNS TABLE (snapshot text, inserted boolean)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
BEGIN
	PERFORM 1 FROM canvases c WHERE c.id = p_canvas FOR UPDATE;
	UPDATE canvases c SET
		bound_shapes = p_shapes + coalesce(o.creates, 0),
		bound_bytes = p_bytes + coalesce(o.bytes, 0),
		bound_version = p_version
	FROM (SELECT count(*) FILTER (WHERE op.type = 'create_shape') AS creates,
	             sum(octet_length(op.payload::text) + 64) AS bytes
	      FROM operations op WHERE op.canvas_id = p_canvas AND op.version > p_version) o
	WHERE c.id = p_canvas AND c.bound_version < p_version AND c.version >= p_version;
	RETURN QUERY
	WITH ins AS (
		INSERT INTO snapshots (canvas_id, version, state, shape_count)
		VALUES (p_canvas, p_version, p_state, p_shapes) ON CONFLICT DO NOTHING
		RETURNING snapshots.canvas_id, snapshots.version, snapshots.created_at, snapshots.state
	), s AS (
		SELECT i.canvas_id, i.version, i.created_at, i.state, true AS inserted FROM ins i
		UNION ALL
		SELECT sn.canvas_id, sn.version, sn.created_at, sn.state, false FROM snapshots sn
		WHERE sn.canvas_id = p_canvas AND sn.version = p_version
		  AND NOT EXISTS (SELECT 1 FROM ins)
	)
	SELECT json_build_object('canvas_id', s.canvas_id, 'version', s.version,
	                         'created_at', fs_ts(s.created_at), 'shape_count',
	                         (SELECT count(*) FROM jsonb_object_keys(s.state)))::text,
	       s.inserted
	FROM s;
END
$$;
