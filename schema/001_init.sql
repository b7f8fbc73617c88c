-- 001_init.sql: the initial FlowState schema (DESIGN.md §4).
--
-- Postgres is the source of truth, so the invariants are enforced here as well as in the node:
--   * operations PRIMARY KEY (canvas_id, version): no two ops share a version of a canvas
--     (total order; with the UPDATE canvases ... RETURNING allocation, no gaps either);
--   * operations UNIQUE (canvas_id, client_op_id): a resubmitted op cannot commit twice;
--   * triggers refuse UPDATE, DELETE and TRUNCATE on operations: the log is immutable;
--   * CHECK constraints bound every user-supplied name and the shape of enumerations.
--
-- The migration runner wraps this file in a transaction: no BEGIN/COMMIT here.

-- Accounts. Emails are stored lower-cased (the node normalizes them) so UNIQUE is
-- case-insensitive in effect; 254 is the longest address SMTP allows.
CREATE TABLE users (
	id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	email         text NOT NULL UNIQUE
	              CONSTRAINT users_email_lower CHECK (email = lower(email))
	              CONSTRAINT users_email_length CHECK (char_length(email) BETWEEN 1 AND 254),
	display_name  text NOT NULL
	              CONSTRAINT users_display_name_length
	              CHECK (char_length(display_name) BETWEEN 1 AND 100),
	password_hash text NOT NULL,
	created_at    timestamptz NOT NULL DEFAULT now()
);

-- Opaque refresh tokens, stored only as the SHA-256 hex of the token. Tokens rotate within a
-- family: using a token sets used_at and issues a successor with the same family_id; presenting
-- a used token again (theft) revokes the whole family, hence the index on family_id.
CREATE TABLE refresh_tokens (
	id          bigserial PRIMARY KEY,
	user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	family_id   uuid NOT NULL,
	token_hash  text NOT NULL UNIQUE
	            CONSTRAINT refresh_tokens_hash_is_sha256_hex CHECK (token_hash ~ '^[0-9a-f]{64}$'),
	created_at  timestamptz NOT NULL DEFAULT now(),
	expires_at  timestamptz NOT NULL,
	used_at     timestamptz,
	revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);

CREATE TABLE workspaces (
	id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	name        text NOT NULL
	            CONSTRAINT workspaces_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
	created_by  uuid NOT NULL REFERENCES users (id),
	created_at  timestamptz NOT NULL DEFAULT now()
);

-- Membership is the only authorization: a user without a row here gets 404 for the workspace
-- and everything in it. The index on user_id serves "my workspaces".
CREATE TABLE workspace_members (
	workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
	user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role          text NOT NULL
	              CONSTRAINT workspace_members_role CHECK (role IN ('viewer', 'editor', 'owner')),
	created_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX workspace_members_user_id_idx ON workspace_members (user_id);

-- version is the head of the canvas's operation log. It is only ever advanced by
-- UPDATE canvases SET version = version + k WHERE id = $1 RETURNING version, in the same
-- transaction as the insert of the k operations: the row lock serializes writers per canvas.
CREATE TABLE canvases (
	id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	workspace_id  uuid NOT NULL REFERENCES workspaces (id),
	name          text NOT NULL
	              CONSTRAINT canvases_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
	version       bigint NOT NULL DEFAULT 0 CONSTRAINT canvases_version_nonnegative
	              CHECK (version >= 0),
	created_by    uuid NOT NULL REFERENCES users (id),
	created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX canvases_workspace_id_idx ON canvases (workspace_id);

-- The append-only operation log. Versions start at 1 (version 0 is the empty canvas). undo_of
-- points at an earlier op of the same canvas that this op reverts (the composite foreign key
-- keeps it inside the canvas). id is the public identifier of an op in the API.
CREATE TABLE operations (
	id            uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
	canvas_id     uuid NOT NULL REFERENCES canvases (id),
	version       bigint NOT NULL CONSTRAINT operations_version_positive CHECK (version > 0),
	client_op_id  uuid NOT NULL,
	user_id       uuid NOT NULL REFERENCES users (id),
	type          text NOT NULL
	              CONSTRAINT operations_type CHECK (type IN ('create_shape', 'move_shape',
	                                                         'resize_shape', 'update_shape',
	                                                         'delete_shape')),
	payload       jsonb NOT NULL
	              CONSTRAINT operations_payload_is_object CHECK (jsonb_typeof(payload) = 'object'),
	undo_of       bigint CONSTRAINT operations_undo_of_earlier CHECK (undo_of < version),
	created_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (canvas_id, version),
	CONSTRAINT operations_client_op_id_unique UNIQUE (canvas_id, client_op_id),
	CONSTRAINT operations_undo_of_fkey FOREIGN KEY (canvas_id, undo_of)
		REFERENCES operations (canvas_id, version)
);
-- Activity: per-user daily contribution counts.
CREATE INDEX operations_user_id_created_at_idx ON operations (user_id, created_at);

-- Immutability of the log, enforced by the database itself: undo, redo and restore append new
-- forward operations instead. Snapshots are derived data and stay deletable.
CREATE FUNCTION operations_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'operations are immutable: % is not allowed', TG_OP
		USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER operations_no_update_delete
	BEFORE UPDATE OR DELETE ON operations
	FOR EACH ROW EXECUTE FUNCTION operations_refuse_change();
CREATE TRIGGER operations_no_truncate
	BEFORE TRUNCATE ON operations
	FOR EACH STATEMENT EXECUTE FUNCTION operations_refuse_change();

-- Materialized state of a canvas at a version (derived: can be dropped and rebuilt from the log).
CREATE TABLE snapshots (
	canvas_id   uuid NOT NULL REFERENCES canvases (id) ON DELETE CASCADE,
	version     bigint NOT NULL CONSTRAINT snapshots_version_nonnegative CHECK (version >= 0),
	state       jsonb NOT NULL,
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (canvas_id, version)
);

-- Named versions of a canvas ("versions" in the API); names are unique per canvas.
CREATE TABLE checkpoints (
	id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	canvas_id   uuid NOT NULL REFERENCES canvases (id),
	name        text NOT NULL
	            CONSTRAINT checkpoints_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
	version     bigint NOT NULL CONSTRAINT checkpoints_version_nonnegative CHECK (version >= 0),
	created_by  uuid NOT NULL REFERENCES users (id),
	created_at  timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT checkpoints_canvas_name_unique UNIQUE (canvas_id, name)
);
