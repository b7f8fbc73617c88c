-- 021: workspace invites (issue 11). An owner creates an invite for a role, optionally bound to
-- one email address, with an expiry and a maximum number of uses; whoever holds its token (a
-- random 256-bit secret shown once) can see what it is for and accept it while it is valid.
-- Only the token's SHA-256 is stored, so the table cannot be used to join a workspace.

CREATE TABLE invites (
	id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	workspace_id  uuid NOT NULL REFERENCES workspaces (id),
	token_hash    text NOT NULL UNIQUE
	              CONSTRAINT invites_hash_is_sha256_hex CHECK (token_hash ~ '^[0-9a-f]{64}$'),
	role          text NOT NULL
	              CONSTRAINT invites_role CHECK (role IN ('viewer', 'commenter', 'editor', 'owner')),
	-- Bound to this (normalized) address: only the account with it can accept.
	email         text CONSTRAINT invites_email CHECK (email IS NULL OR
	              (email = lower(email) AND char_length(email) BETWEEN 1 AND 254)),
	max_uses      integer CONSTRAINT invites_max_uses CHECK (max_uses BETWEEN 1 AND 10000),
	uses          integer NOT NULL DEFAULT 0
	              CONSTRAINT invites_uses CHECK (uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)),
	created_by    uuid NOT NULL REFERENCES users (id),
	created_at    timestamptz NOT NULL DEFAULT now(),
	expires_at    timestamptz NOT NULL,
	revoked_at    timestamptz
);
CREATE INDEX invites_workspace ON invites (workspace_id, created_at);

-- active | revoked | expired | used_up, in that order of precedence.
CREATE FUNCTION fs_invite_status(i invites) RETURNS text
LANGUAGE sql STABLE
AS $$
	SELECT CASE WHEN i.revoked_at IS NOT NULL THEN 'revoked'
	            WHEN i.expires_at <= now() THEN 'expired'
	            WHEN i.max_uses IS NOT NULL AND i.uses >= i.max_uses THEN 'used_up'
	            ELSE 'active' END
$$;

-- The invite as owners see it (never the token: it is not stored).
CREATE FUNCTION fs_invite_json(i invites) RETURNS json
LANGUAGE sql STABLE
AS $$
	SELECT json_build_object('id', i.id, 'workspace_id', i.workspace_id, 'role', i.role,
	                         'email', i.email, 'expires_at', fs_ts(i.expires_at),
	                         'max_uses', i.max_uses, 'uses', i.uses,
	                         'created_by', i.created_by, 'created_at', fs_ts(i.created_at),
	                         'revoked_at', fs_ts(i.revoked_at), 'status', fs_invite_status(i))
$$;

-- Accepts the invite whose token hashes to p_hash, as p_user. One row:
--   status        ok | not_found (unknown, revoked, or its workspace deleted) | forbidden
--                 (bound to another email) | expired | used_up
--   workspace_id  for ok
--   role          for ok: the user's role now (an existing member keeps a higher role)
--   changed       for ok: whether the membership changed (a use was counted)
--
-- The invite row is locked first: concurrent accepts of one invite run one after the other,
-- and each reads the uses count its predecessor left (a later statement, a fresh snapshot), so
-- a single-use invite admits exactly one account. Accepting never lowers a role, and an accept
-- that changes nothing (already a member with that role or higher) does not count as a use.
CREATE FUNCTION fs_invite_accept(p_hash text, p_user uuid)
RETURNS TABLE (status text, workspace_id uuid, role text, changed boolean)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
	v_invite invites;
	v_email text;
	v_current text;
	v_status text;
BEGIN
	SELECT i.* INTO v_invite FROM invites i WHERE i.token_hash = p_hash FOR UPDATE;
	IF NOT FOUND OR v_invite.revoked_at IS NOT NULL OR NOT EXISTS (
	       SELECT 1 FROM workspaces w WHERE w.id = v_invite.workspace_id AND w.deleted_at IS NULL)
	THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::text, false;
		RETURN;
	END IF;
	SELECT u.email INTO v_email FROM users u WHERE u.id = p_user;
	IF v_invite.email IS NOT NULL AND v_invite.email IS DISTINCT FROM v_email THEN
		RETURN QUERY SELECT 'forbidden'::text, NULL::uuid, NULL::text, false;
		RETURN;
	END IF;
	v_status := fs_invite_status(v_invite);
	IF v_status <> 'active' THEN
		RETURN QUERY SELECT v_status, NULL::uuid, NULL::text, false;
		RETURN;
	END IF;
	SELECT m.role INTO v_current FROM workspace_members m
	WHERE m.workspace_id = v_invite.workspace_id AND m.user_id = p_user;
	IF v_current IS NOT NULL AND fs_role_rank(v_current) >= fs_role_rank(v_invite.role) THEN
		RETURN QUERY SELECT 'ok'::text, v_invite.workspace_id, v_current, false;
		RETURN;
	END IF;
	UPDATE invites i SET uses = i.uses + 1 WHERE i.id = v_invite.id;
	-- Raise only: a concurrent change may have raised the role since it was read.
	INSERT INTO workspace_members AS m (workspace_id, user_id, role)
	VALUES (v_invite.workspace_id, p_user, v_invite.role)
	ON CONFLICT (workspace_id, user_id) DO UPDATE
	SET role = CASE WHEN fs_role_rank(EXCLUDED.role) > fs_role_rank(m.role) THEN EXCLUDED.role
	                ELSE m.role END;
	RETURN QUERY SELECT 'ok'::text, v_invite.workspace_id, m.role, true
	             FROM workspace_members m
	             WHERE m.workspace_id = v_invite.workspace_id AND m.user_id = p_user;
END
$$;
