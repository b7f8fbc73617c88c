-- The canonical text of a canvas's state at a recent version, overwritten in place: what a
-- client opening the canvas at that version is sent, without a rebuild (node/store/state.c).
-- Written by a node after it built the state at the head for a reader (the text is in hand),
-- and when a canvas it committed to has gone quiet (node/store/snapshot.c). Derived data like
-- snapshots, but one row per canvas: refreshing it after every editing session does not grow
-- with the canvas's history, as a snapshot each time would.
CREATE TABLE canvas_heads (
	canvas_id  uuid PRIMARY KEY REFERENCES canvases (id) ON DELETE CASCADE,
	version    bigint NOT NULL CONSTRAINT canvas_heads_version_nonnegative CHECK (version >= 0),
	format     int NOT NULL,
	state_text text NOT NULL,
	written_at timestamptz NOT NULL DEFAULT now()
);
