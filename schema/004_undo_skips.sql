-- Undo/redo steps that were passed over because undoing them would change nothing (others
-- changed or deleted everything the step touched). Recording them keeps such a step popped, so
-- a user's stack never gets stuck behind it and a later undo never resurrects it. This is
-- metadata about a user's stack, not part of the canvas history: the operations log is
-- untouched.
CREATE TABLE undo_skips (
	canvas_id   uuid NOT NULL REFERENCES canvases (id),
	user_id     uuid NOT NULL REFERENCES users (id),
	stack       text NOT NULL CONSTRAINT undo_skips_stack CHECK (stack IN ('undo', 'redo')),
	version     bigint NOT NULL,   -- first version of the skipped step
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (canvas_id, user_id, stack, version)
);
