-- 022: comments on canvases (issue 11). Durable, outside the shape log (undo and restore never
-- touch them), and streamed to every client of the canvas on every node exactly once and in
-- order, like operations:
--
--   * every change (created, updated, deleted) of a canvas's comments is an event with a
--     sequence number seq, gap-free per canvas: comment_heads holds the last one, and is
--     advanced in the same transaction as the change and the event row, under that row's lock,
--     exactly as canvases.version is for operations;
--   * comment_events holds the events, each with the comment as it was after the change, so a
--     node can refill a gap (or a reconnecting client its missed changes) from Postgres;
--   * deleting a comment removes it (and its replies) and scrubs its earlier events, so a
--     deleted comment's text does not outlive it; such an event still holds its seq.

CREATE TABLE comments (
	id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	canvas_id    uuid NOT NULL REFERENCES canvases (id),
	author_id    uuid NOT NULL REFERENCES users (id),
	-- One level of threads: a reply's parent is a top-level comment of the same canvas.
	parent_id    uuid REFERENCES comments (id) ON DELETE CASCADE,
	body         text NOT NULL CONSTRAINT comments_body_length
	             CHECK (octet_length(body) BETWEEN 1 AND 4000),
	shape_id     text CONSTRAINT comments_shape_id CHECK (char_length(shape_id) BETWEEN 1 AND 64),
	x            double precision,
	y            double precision,
	resolved     boolean NOT NULL DEFAULT false,
	resolved_by  uuid REFERENCES users (id),
	resolved_at  timestamptz,
	created_at   timestamptz NOT NULL DEFAULT now(),
	updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX comments_canvas ON comments (canvas_id, created_at);
CREATE INDEX comments_parent ON comments (parent_id);

CREATE TABLE comment_heads (
	canvas_id  uuid PRIMARY KEY REFERENCES canvases (id),
	seq        bigint NOT NULL CONSTRAINT comment_heads_seq CHECK (seq >= 0)
);

CREATE TABLE comment_events (
	canvas_id   uuid NOT NULL REFERENCES canvases (id),
	seq         bigint NOT NULL CONSTRAINT comment_events_seq CHECK (seq > 0),
	action      text NOT NULL
	            CONSTRAINT comment_events_action CHECK (action IN ('created', 'updated', 'deleted')),
	comment_id  uuid NOT NULL,
	-- The comment after the change; NULL for a deletion, and once the comment is deleted.
	comment     jsonb,
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (canvas_id, seq)
);
CREATE INDEX comment_events_comment ON comment_events (comment_id);

-- The comment as the API shows it.
CREATE FUNCTION fs_comment_json(c comments) RETURNS jsonb
LANGUAGE sql STABLE
AS $$
	SELECT jsonb_build_object('id', c.id, 'canvas_id', c.canvas_id,
	                          'author', jsonb_build_object('user_id', u.id,
	                                                       'display_name', u.display_name),
	                          'body', c.body, 'shape_id', c.shape_id, 'x', c.x, 'y', c.y,
	                          'parent_id', c.parent_id, 'resolved', c.resolved,
	                          'resolved_by', c.resolved_by, 'resolved_at', fs_ts(c.resolved_at),
	                          'created_at', fs_ts(c.created_at), 'updated_at', fs_ts(c.updated_at))
	FROM users u WHERE u.id = c.author_id
$$;

-- An event as clients receive it (the WebSocket message without its "type").
CREATE FUNCTION fs_comment_event_json(e comment_events) RETURNS json
LANGUAGE sql STABLE
AS $$
	SELECT json_build_object('seq', e.seq, 'action', e.action, 'comment_id', e.comment_id,
	                         'comment', e.comment)
$$;

-- The canvas's threads, oldest first: top-level comments (filtered by p_resolved unless NULL),
-- each with its replies, oldest first, under "replies".
CREATE FUNCTION fs_comment_threads(p_canvas uuid, p_resolved boolean) RETURNS json
LANGUAGE sql STABLE
AS $$
	SELECT coalesce(json_agg(fs_comment_json(t) || jsonb_build_object('replies',
	         coalesce((SELECT jsonb_agg(fs_comment_json(r) ORDER BY r.created_at, r.id)
	                   FROM comments r WHERE r.parent_id = t.id), '[]'::jsonb))
	         ORDER BY t.created_at, t.id), '[]'::json)
	FROM comments t
	WHERE t.canvas_id = p_canvas AND t.parent_id IS NULL
	  AND (p_resolved IS NULL OR t.resolved = p_resolved)
$$;

-- The caller's role on a live canvas ('' when not a member or the canvas is gone).
CREATE FUNCTION fs_canvas_role(p_canvas uuid, p_user uuid) RETURNS text
LANGUAGE sql STABLE
AS $$
	SELECT coalesce((SELECT m.role FROM canvases c
	                 JOIN workspace_members m ON m.workspace_id = c.workspace_id
	                                         AND m.user_id = p_user
	                 WHERE c.id = p_canvas AND c.deleted_at IS NULL), '')
$$;

-- Takes the canvas's comment-stream lock (creating its head row), returning the head: every
-- comment change of a canvas runs after this, one at a time, so the statements that follow
-- (fresh snapshots) see every change committed before.
CREATE FUNCTION fs_comment_lock(p_canvas uuid) RETURNS bigint
LANGUAGE sql
AS $$
	INSERT INTO comment_heads AS h (canvas_id, seq) VALUES (p_canvas, 0)
	ON CONFLICT (canvas_id) DO UPDATE SET seq = h.seq
	RETURNING h.seq
$$;

-- Appends one event per changed comment (in the order given) after the head, advances the
-- head, and returns the events as a JSON array.
CREATE FUNCTION fs_comment_append(p_canvas uuid, p_head bigint, p_actions text[], p_ids uuid[])
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
	v_events json;
BEGIN
	INSERT INTO comment_events (canvas_id, seq, action, comment_id, comment)
	SELECT p_canvas, p_head + a.n, a.action, a.id,
	       CASE WHEN a.action = 'deleted' THEN NULL
	            ELSE (SELECT fs_comment_json(c) FROM comments c WHERE c.id = a.id) END
	FROM unnest(p_actions, p_ids) WITH ORDINALITY AS a(action, id, n);
	UPDATE comment_heads SET seq = p_head + cardinality(p_ids) WHERE canvas_id = p_canvas;
	SELECT json_agg(fs_comment_event_json(e) ORDER BY e.seq) INTO v_events
	FROM comment_events e WHERE e.canvas_id = p_canvas AND e.seq > p_head;
	RETURN v_events::text;
END
$$;

-- Creates a comment as p_user (commenter and up). One row:
--   status     ok | not_found | forbidden | invalid_parent (no such top-level comment on this
--              canvas) | too_many_comments (the canvas has p_max already)
--   canvas_id  for ok
--   comment    for ok: the comment
--   events     for ok: the events to deliver (a JSON array)
CREATE FUNCTION fs_comment_create(p_canvas uuid, p_user uuid, p_body text, p_shape text,
                                  p_x double precision, p_y double precision, p_parent uuid,
                                  p_max int)
RETURNS TABLE (status text, canvas_id uuid, comment text, events text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
	v_role text;
	v_head bigint;
	v_id uuid;
BEGIN
	v_role := fs_canvas_role(p_canvas, p_user);
	IF v_role = '' THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::text, NULL::text;
		RETURN;
	END IF;
	v_head := fs_comment_lock(p_canvas);
	v_role := fs_canvas_role(p_canvas, p_user);  -- again, under the lock
	IF v_role = '' THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::text, NULL::text;
		RETURN;
	ELSIF fs_role_rank(v_role) < fs_role_rank('commenter') THEN
		RETURN QUERY SELECT 'forbidden'::text, NULL::uuid, v_role, NULL::text;
		RETURN;
	END IF;
	IF p_parent IS NOT NULL AND NOT EXISTS (
	       SELECT 1 FROM comments c
	       WHERE c.id = p_parent AND c.canvas_id = p_canvas AND c.parent_id IS NULL) THEN
		RETURN QUERY SELECT 'invalid_parent'::text, NULL::uuid, NULL::text, NULL::text;
		RETURN;
	END IF;
	IF (SELECT count(*) FROM comments c WHERE c.canvas_id = p_canvas) >= p_max THEN
		RETURN QUERY SELECT 'too_many_comments'::text, NULL::uuid, NULL::text, NULL::text;
		RETURN;
	END IF;
	INSERT INTO comments (canvas_id, author_id, parent_id, body, shape_id, x, y)
	VALUES (p_canvas, p_user, p_parent, p_body, p_shape, p_x, p_y)
	RETURNING id INTO v_id;
	RETURN QUERY SELECT 'ok'::text, p_canvas,
	                    (SELECT fs_comment_json(c)::text FROM comments c WHERE c.id = v_id),
	                    fs_comment_append(p_canvas, v_head, ARRAY['created'], ARRAY[v_id]);
END
$$;

-- Edits a comment as p_user: p_body (the author, commenter and up) and/or p_resolved (the
-- author, commenter and up, or an editor or owner; top-level comments only). NULL leaves a
-- field as it is. Status ok | not_found | forbidden | not_a_thread; the row as for create.
-- A change that changes nothing still answers ok, without an event.
CREATE FUNCTION fs_comment_update(p_comment uuid, p_user uuid, p_body text, p_resolved boolean)
RETURNS TABLE (status text, canvas_id uuid, comment text, events text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
	v_canvas uuid;
	v_role text;
	v_head bigint;
	v_c comments;
	v_author boolean;
BEGIN
	SELECT c.canvas_id INTO v_canvas FROM comments c WHERE c.id = p_comment;
	IF v_canvas IS NULL OR fs_canvas_role(v_canvas, p_user) = '' THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::text, NULL::text;
		RETURN;
	END IF;
	v_head := fs_comment_lock(v_canvas);
	v_role := fs_canvas_role(v_canvas, p_user);
	SELECT c.* INTO v_c FROM comments c WHERE c.id = p_comment;
	IF v_c.id IS NULL OR v_role = '' THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::text, NULL::text;
		RETURN;
	END IF;
	v_author := v_c.author_id = p_user AND fs_role_rank(v_role) >= fs_role_rank('commenter');
	IF (p_body IS NOT NULL AND NOT v_author) OR
	   (p_resolved IS NOT NULL AND NOT v_author AND fs_role_rank(v_role) < fs_role_rank('editor'))
	THEN
		RETURN QUERY SELECT 'forbidden'::text, NULL::uuid, v_role, NULL::text;
		RETURN;
	END IF;
	IF p_resolved IS NOT NULL AND v_c.parent_id IS NOT NULL THEN
		RETURN QUERY SELECT 'not_a_thread'::text, NULL::uuid, NULL::text, NULL::text;
		RETURN;
	END IF;
	IF coalesce(p_body, v_c.body) = v_c.body AND coalesce(p_resolved, v_c.resolved) = v_c.resolved
	THEN
		RETURN QUERY SELECT 'ok'::text, v_canvas, fs_comment_json(v_c)::text, '[]'::text;
		RETURN;
	END IF;
	UPDATE comments c SET
		body = coalesce(p_body, c.body),
		resolved = coalesce(p_resolved, c.resolved),
		resolved_by = CASE WHEN p_resolved IS NULL OR p_resolved = c.resolved THEN c.resolved_by
		                   WHEN p_resolved THEN p_user ELSE NULL END,
		resolved_at = CASE WHEN p_resolved IS NULL OR p_resolved = c.resolved THEN c.resolved_at
		                   WHEN p_resolved THEN now() ELSE NULL END,
		updated_at = now()
	WHERE c.id = p_comment;
	RETURN QUERY SELECT 'ok'::text, v_canvas,
	                    (SELECT fs_comment_json(c)::text FROM comments c WHERE c.id = p_comment),
	                    fs_comment_append(v_canvas, v_head, ARRAY['updated'], ARRAY[p_comment]);
END
$$;

-- Deletes a comment as p_user (its author, commenter and up, or an owner), with its replies:
-- one deleted event per comment, the replies first. Earlier events of these comments lose
-- their copy of the comment. Status ok | not_found | forbidden; comment: {id, canvas_id,
-- deleted: true, replies_deleted}.
CREATE FUNCTION fs_comment_delete(p_comment uuid, p_user uuid)
RETURNS TABLE (status text, canvas_id uuid, comment text, events text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
	v_canvas uuid;
	v_role text;
	v_head bigint;
	v_c comments;
	v_ids uuid[];
BEGIN
	SELECT c.canvas_id INTO v_canvas FROM comments c WHERE c.id = p_comment;
	IF v_canvas IS NULL OR fs_canvas_role(v_canvas, p_user) = '' THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::text, NULL::text;
		RETURN;
	END IF;
	v_head := fs_comment_lock(v_canvas);
	v_role := fs_canvas_role(v_canvas, p_user);
	SELECT c.* INTO v_c FROM comments c WHERE c.id = p_comment;
	IF v_c.id IS NULL OR v_role = '' THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::text, NULL::text;
		RETURN;
	END IF;
	IF v_role <> 'owner' AND NOT (v_c.author_id = p_user AND
	                              fs_role_rank(v_role) >= fs_role_rank('commenter')) THEN
		RETURN QUERY SELECT 'forbidden'::text, NULL::uuid, v_role, NULL::text;
		RETURN;
	END IF;
	SELECT array_agg(c.id ORDER BY c.created_at, c.id) INTO v_ids
	FROM comments c WHERE c.parent_id = p_comment;
	v_ids := coalesce(v_ids, ARRAY[]::uuid[]) || p_comment;
	DELETE FROM comments c WHERE c.id = p_comment;  -- the replies go with it (cascade)
	UPDATE comment_events e SET comment = NULL
	WHERE e.canvas_id = v_canvas AND e.comment_id = ANY (v_ids) AND e.comment IS NOT NULL;
	RETURN QUERY SELECT 'ok'::text, v_canvas,
	                    json_build_object('id', p_comment, 'canvas_id', v_canvas, 'deleted', true,
	                                      'replies_deleted', cardinality(v_ids) - 1)::text,
	                    fs_comment_append(v_canvas, v_head,
	                                      array_fill('deleted'::text, ARRAY[cardinality(v_ids)]),
	                                      v_ids);
END
$$;
