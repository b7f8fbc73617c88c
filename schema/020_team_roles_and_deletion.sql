-- 020: the team layer, part one (issue 11).
--   * the commenter role: viewer < commenter < editor < owner (fs_role_rank compares them);
--   * deletion of workspaces and canvases as a flag: nothing is removed, the operation log is
--     never touched, and an owner can list and undelete for fs_undelete_window() (30 days);
--   * membership changes that always leave a workspace at least one owner;
--   * access_events: every change that can revoke or alter what an open WebSocket may do,
--     recorded by triggers (whatever statement makes the change) in an order each node can
--     read completely (see the table).

ALTER TABLE workspace_members DROP CONSTRAINT workspace_members_role;
ALTER TABLE workspace_members ADD CONSTRAINT workspace_members_role
	CHECK (role IN ('viewer', 'commenter', 'editor', 'owner'));

CREATE FUNCTION fs_role_rank(r text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE r WHEN 'viewer' THEN 1 WHEN 'commenter' THEN 2 WHEN 'editor' THEN 3
                    WHEN 'owner' THEN 4 ELSE 0 END $$;

-- How long a deleted workspace or canvas can be listed and undeleted. Past it the row stays
-- (the log is immutable, and canvases are referenced by it) but nothing can reach it again.
CREATE FUNCTION fs_undelete_window() RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT interval '30 days' $$;

-- A canvas is live while deleted_at IS NULL: every canvas statement of the node checks it, so
-- a deleted canvas answers 404 everywhere. Deleting a workspace flags its live canvases too
-- (deleted_with_workspace), so that canvas statements need not look at the workspace, and
-- undeleting the workspace brings back exactly those (not canvases deleted on their own).
ALTER TABLE workspaces
	ADD COLUMN deleted_at timestamptz,
	ADD COLUMN deleted_by uuid REFERENCES users (id);
ALTER TABLE canvases
	ADD COLUMN deleted_at timestamptz,
	ADD COLUMN deleted_by uuid REFERENCES users (id),
	ADD COLUMN deleted_with_workspace boolean NOT NULL DEFAULT false;
CREATE INDEX canvases_deleted ON canvases (workspace_id, deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX workspaces_deleted ON workspaces (deleted_at) WHERE deleted_at IS NOT NULL;

-- The feed of access changes that nodes apply to open WebSockets (docs/architecture.md,
-- "Live permissions"). Rows are written by the triggers below, never by the node.
--
-- Reading it completely: ids come from a sequence, so a row with a lower id can commit after
-- one with a higher id has been read. A node therefore reads only rows whose transaction is
-- older than every transaction still running (xid < pg_snapshot_xmin(pg_current_snapshot())):
-- no row can appear later below that horizon, so a cursor (xid, id) over those rows never
-- skips one. Rows are kept for a day, far longer than any node needs them.
CREATE TABLE access_events (
	id            bigserial PRIMARY KEY,
	xid           xid8 NOT NULL DEFAULT pg_current_xact_id(),
	kind          text NOT NULL CONSTRAINT access_events_kind
	              CHECK (kind IN ('role', 'removed', 'canvas_deleted', 'workspace_deleted')),
	workspace_id  uuid NOT NULL,
	canvas_id     uuid,
	user_id       uuid,
	created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX access_events_xid_id ON access_events (xid, id);
CREATE INDEX access_events_created_at ON access_events (created_at);

CREATE FUNCTION fs_access_event_member() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		INSERT INTO access_events (kind, workspace_id, user_id)
		VALUES ('removed', OLD.workspace_id, OLD.user_id);
	ELSIF NEW.role IS DISTINCT FROM OLD.role THEN
		INSERT INTO access_events (kind, workspace_id, user_id)
		VALUES ('role', NEW.workspace_id, NEW.user_id);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER workspace_members_access_event
	AFTER UPDATE OF role OR DELETE ON workspace_members
	FOR EACH ROW EXECUTE FUNCTION fs_access_event_member();

CREATE FUNCTION fs_access_event_canvas() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO access_events (kind, workspace_id, canvas_id)
	VALUES ('canvas_deleted', NEW.workspace_id, NEW.id);
	RETURN NULL;
END
$$;
CREATE TRIGGER canvases_access_event
	AFTER UPDATE OF deleted_at ON canvases
	FOR EACH ROW WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL)
	EXECUTE FUNCTION fs_access_event_canvas();

CREATE FUNCTION fs_access_event_workspace() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO access_events (kind, workspace_id) VALUES ('workspace_deleted', NEW.id);
	RETURN NULL;
END
$$;
CREATE TRIGGER workspaces_access_event
	AFTER UPDATE OF deleted_at ON workspaces
	FOR EACH ROW WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL)
	EXECUTE FUNCTION fs_access_event_workspace();

-- The member entry as the API shows it.
CREATE FUNCTION fs_member_json(p_workspace uuid, p_user uuid) RETURNS json
LANGUAGE sql STABLE
AS $$
	SELECT json_build_object('user_id', u.id, 'email', u.email, 'display_name', u.display_name,
	                         'role', m.role, 'joined_at', fs_ts(m.created_at))
	FROM workspace_members m JOIN users u ON u.id = m.user_id
	WHERE m.workspace_id = p_workspace AND m.user_id = p_user
$$;

-- Changes a member's role (p_role) or removes the member (p_role NULL), as p_actor. Owners
-- may do both to anyone; any member may remove themself (leave). One row:
--   status  ok | not_found (no live workspace, or the actor is not a member) | forbidden |
--           member_not_found | last_owner (the change would leave no owner)
--   member  for ok: the member entry after a role change, or {workspace_id, user_id, removed}
--
-- Every membership change of a workspace first takes its row lock: the owner count is then
-- read by a later statement, with a fresh snapshot (READ COMMITTED), so two owners demoting
-- or removing each other at the same moment leave one owner, never none. NO KEY UPDATE does
-- not conflict with the key-share locks of inserts that merely reference the workspace.
CREATE FUNCTION fs_member_change(p_workspace uuid, p_actor uuid, p_target uuid, p_role text)
RETURNS TABLE (status text, member text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
	v_actor text;
	v_target text;
BEGIN
	PERFORM 1 FROM workspaces w WHERE w.id = p_workspace AND w.deleted_at IS NULL
	FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::text;
		RETURN;
	END IF;
	SELECT m.role INTO v_actor FROM workspace_members m
	WHERE m.workspace_id = p_workspace AND m.user_id = p_actor;
	IF v_actor IS NULL THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::text;
		RETURN;
	END IF;
	IF v_actor <> 'owner' AND NOT (p_role IS NULL AND p_actor = p_target) THEN
		RETURN QUERY SELECT 'forbidden'::text, v_actor;
		RETURN;
	END IF;
	SELECT m.role INTO v_target FROM workspace_members m
	WHERE m.workspace_id = p_workspace AND m.user_id = p_target;
	IF v_target IS NULL THEN
		RETURN QUERY SELECT 'member_not_found'::text, NULL::text;
		RETURN;
	END IF;
	IF v_target = 'owner' AND p_role IS DISTINCT FROM 'owner' AND
	   (SELECT count(*) FROM workspace_members m
	    WHERE m.workspace_id = p_workspace AND m.role = 'owner') <= 1 THEN
		RETURN QUERY SELECT 'last_owner'::text, NULL::text;
		RETURN;
	END IF;
	IF p_role IS NULL THEN
		DELETE FROM workspace_members m
		WHERE m.workspace_id = p_workspace AND m.user_id = p_target;
		RETURN QUERY SELECT 'ok'::text,
			json_build_object('workspace_id', p_workspace, 'user_id', p_target,
			                  'removed', true)::text;
	ELSE
		UPDATE workspace_members m SET role = p_role
		WHERE m.workspace_id = p_workspace AND m.user_id = p_target;
		RETURN QUERY SELECT 'ok'::text, fs_member_json(p_workspace, p_target)::text;
	END IF;
END
$$;

-- Deletes (flags) a workspace and its live canvases, as p_actor (an owner). One row: status
-- ok | not_found | forbidden, and the workspace as the API shows deleted ones.
--
-- The workspace row is locked first (FOR UPDATE, which waits for canvas creations holding
-- their share lock on it): the canvases are then flagged by a later statement that sees every
-- canvas created before, and a canvas creation that waited sees the flag and creates nothing.
CREATE FUNCTION fs_workspace_delete(p_workspace uuid, p_actor uuid)
RETURNS TABLE (status text, workspace text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
	v_role text;
BEGIN
	PERFORM 1 FROM workspaces w WHERE w.id = p_workspace AND w.deleted_at IS NULL FOR UPDATE;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::text;
		RETURN;
	END IF;
	SELECT m.role INTO v_role FROM workspace_members m
	WHERE m.workspace_id = p_workspace AND m.user_id = p_actor;
	IF v_role IS NULL THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::text;
		RETURN;
	ELSIF v_role <> 'owner' THEN
		RETURN QUERY SELECT 'forbidden'::text, v_role;
		RETURN;
	END IF;
	UPDATE workspaces w SET deleted_at = now(), deleted_by = p_actor WHERE w.id = p_workspace;
	UPDATE canvases c SET deleted_at = now(), deleted_by = p_actor, deleted_with_workspace = true
	WHERE c.workspace_id = p_workspace AND c.deleted_at IS NULL;
	RETURN QUERY SELECT 'ok'::text, fs_deleted_workspace_json(w)::text
	             FROM workspaces w WHERE w.id = p_workspace;
END
$$;

CREATE FUNCTION fs_deleted_workspace_json(w workspaces) RETURNS json
LANGUAGE sql STABLE
AS $$
	SELECT json_build_object('id', w.id, 'name', w.name, 'created_by', w.created_by,
	                         'created_at', fs_ts(w.created_at), 'role', 'owner',
	                         'deleted_at', fs_ts(w.deleted_at), 'deleted_by', w.deleted_by,
	                         'undelete_until', fs_ts(w.deleted_at + fs_undelete_window()))
$$;

CREATE FUNCTION fs_deleted_canvas_json(c canvases) RETURNS json
LANGUAGE sql STABLE
AS $$
	SELECT json_build_object('id', c.id, 'workspace_id', c.workspace_id, 'name', c.name,
	                         'version', c.version, 'created_by', c.created_by,
	                         'created_at', fs_ts(c.created_at),
	                         'deleted_at', fs_ts(c.deleted_at), 'deleted_by', c.deleted_by,
	                         'undelete_until', fs_ts(c.deleted_at + fs_undelete_window()))
$$;

-- The commit function in force (schema/008) refuses deleted canvases as not found: the same
-- function with `AND c.deleted_at IS NULL` on its lock. The row lock makes it exact: a commit
-- waiting behind a deletion re-reads the row (EvalPlanQual) and finds it deleted. Replaced
-- only if the function is still 008's, so a newer commit function from another migration
-- range is never overwritten by this copy (that one must carry the check itself).
DO $do$
BEGIN
	IF (SELECT md5(prosrc) FROM pg_proc WHERE proname = 'fs_commit_ops' AND pronargs = 4)
	   IS DISTINCT FROM 'cb8436665d9995ec7a85c9c3ab30da21' THEN
		RAISE NOTICE '020: fs_commit_ops is not schema/008''s; left as it is';
		RETURN;
	END IF;
	EXECUTE $fn$
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
	FROM canvases c WHERE c.id = p_canvas AND c.deleted_at IS NULL FOR UPDATE;
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
		SELECT u.client_op_id,
		       (SELECT op.version FROM operations op
		        WHERE op.canvas_id = p_canvas AND op.client_op_id = u.client_op_id) AS version
		FROM (SELECT DISTINCT a.client_op_id FROM authorized a
		      WHERE a.role IN ('editor', 'owner')) u
	), fresh AS (
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
	            WHEN a.role NOT IN ('editor', 'owner') THEN 'forbidden'
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
$fn$;
END
$do$;
