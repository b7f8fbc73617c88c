-- Automatic snapshots are spaced by max(FLOWSTATE_SNAPSHOT_EVERY, shapes) ops: a snapshot
-- costs O(shapes) to build and store, a replay O(ops since the snapshot), so a large canvas
-- snapshotted every 50 ops spends far more on snapshots than they ever save. The node decides
-- with one cheap read of the latest snapshot's size, before it loads any state.
ALTER TABLE snapshots ADD COLUMN shape_count integer;
CREATE INDEX snapshots_canvas_version ON snapshots (canvas_id, version DESC);
