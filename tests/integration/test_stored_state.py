"""A canvas at rest opens from its stored snapshot's text (node/store/state.c, state_load_text)
and quiet canvases get that snapshot (node/store/snapshot.c, snapshot_note_commit).

A WebSocket sync of the whole state used to parse the nearest snapshot, replay the ops after
it and serialize the result, on a worker: ~250-400 ms of CPU for a 5,000-shape canvas. When
the nearest snapshot is at the head and was written in the current form (snapshots.format ==
CANVAS_STATE_FORMAT), its stored text is the state, sent as it is. A canvas this node committed
to is snapshotted at its head once it has been quiet for FLOWSTATE_SNAPSHOT_QUIET_MS (default
2 s) when enough ops came since its last snapshot (max(FLOWSTATE_SNAPSHOT_EVERY, shapes / 4)).

What must hold: the stored text is sent only when it is exactly the state at the head (a commit
after the snapshot, a snapshot of an unknown or older form: built as before), every sync equals
the replay of the log, and the node counts the syncs it answered from the stored text
(flowstate_state_stored_texts_total) so this test knows which path it took.
"""

import re
import time

import pytest

from flowstate.api import request
from helpers import api, commit, create_canvas, get_state_raw, list_ops, make_team, rect
from model import canonical, floats, replay
from wsclient import close_all, connect, run

SNAPSHOT_EVERY = 50  # FLOWSTATE_SNAPSHOT_EVERY default: the fixture does not override it
QUIET_S = 2.0        # FLOWSTATE_SNAPSHOT_QUIET_MS default
HEAD = 170


def metric(base, name):
	resp = request("GET", base + "/metrics")
	assert resp.status == 200
	m = re.search(r"^%s (\d+)$" % name, resp.text, re.M)
	assert m, "no %s in /metrics" % name
	return int(m.group(1))


def stored_texts(base):
	return metric(base, "flowstate_state_stored_texts_total")


def snapshot_versions(cluster, canvas_id):
	out = cluster.psql("SELECT string_agg(version::text, ',' ORDER BY version) FROM snapshots "
			   "WHERE canvas_id = '%s'" % canvas_id).strip()
	return [int(v) for v in out.split(",")] if out else []


def wait_snapshot(cluster, canvas_id, version, timeout=QUIET_S + 8):
	deadline = time.monotonic() + timeout
	while version not in snapshot_versions(cluster, canvas_id):
		assert time.monotonic() < deadline, \
			"no snapshot at %d: %r" % (version, snapshot_versions(cluster, canvas_id))
		time.sleep(0.1)


def sync_state(base, canvas_id, user):
	async def body():
		c = await connect(base, canvas_id, user, settle=False)
		try:
			return c.sync
		finally:
			await close_all(c)
	return run(body())


def replayed(canvas_id, user):
	return canonical(replay(list_ops(canvas_id, user)))


@pytest.fixture(scope="module")
def team(cluster):
	return make_team({"viewer": "viewer"})


@pytest.fixture(scope="module")
def rested(cluster, team):
	"""170 shapes committed on node 1, then left alone: automatic snapshots at 50 and 100
	(spacing: max(50, the shapes of the latest snapshot)), none at 150 (50 ops since 100,
	which held 100 shapes), then a quiet one at the head (70 ops since 100: at least
	max(50, 100 / 4))."""
	base = cluster.node_urls[0]
	canvas_id = create_canvas(team.owner, team.workspace_id, base=base)["id"]
	for i in range(HEAD):
		commit(canvas_id, team.owner, "create_shape",
		       rect("s%03d" % i, i * 3.25, -i * 1.5, text="shape %d" % i), base=base)
	wait_snapshot(cluster, canvas_id, HEAD)
	return canvas_id


def test_a_quiet_canvas_is_snapshotted_at_its_head(cluster, team, rested):
	versions = snapshot_versions(cluster, rested)
	# 100 is skipped when the snapshot at 50 is still being written (one at a time).
	assert versions in ([50, 100, HEAD], [50, HEAD]), versions
	fmt = cluster.psql("SELECT format FROM snapshots WHERE canvas_id = '%s' AND version = %d"
			   % (rested, HEAD)).strip()
	assert fmt == "1", fmt  # CANVAS_STATE_FORMAT


def test_a_canvas_at_rest_opens_from_its_stored_snapshot(cluster, team, rested):
	base = cluster.node_urls[1]  # any node: the snapshot is in Postgres
	before = stored_texts(base)
	sync = sync_state(base, rested, team.viewer)
	assert sync["mode"] == "state" and sync["current_version"] == HEAD, sync["mode"]
	assert canonical(floats(sync["state"]["shapes"])) == replayed(rested, team.viewer)
	assert stored_texts(base) == before + 1
	# GET /state at that version: the stored text is the canonical one, byte for byte.
	_, raw = get_state_raw(rested, team.viewer, base=base)
	assert raw == replayed(rested, team.viewer)
	assert stored_texts(base) == before + 2
	_, raw = get_state_raw(rested, team.viewer, at=HEAD - 1, base=base)  # built: no snapshot
	assert raw == canonical(replay(list_ops(rested, team.viewer)[:HEAD - 1]))
	assert stored_texts(base) == before + 2


def test_a_snapshot_behind_the_head_or_of_another_form_is_rebuilt(cluster, team):
	base = cluster.node_urls[0]
	canvas_id = create_canvas(team.owner, team.workspace_id, base=base)["id"]
	for i in range(3):
		commit(canvas_id, team.owner, "create_shape", rect("r%d" % i, i, i), base=base)
	status, snap = api("POST", "/api/v1/canvases/%s/snapshots" % canvas_id,
			   token=team.owner.token, base=base)
	assert status == 201 and snap["version"] == 3, snap

	before = stored_texts(base)
	assert canonical(floats(sync_state(base, canvas_id, team.viewer)["state"]["shapes"])) == \
		replayed(canvas_id, team.viewer)
	assert stored_texts(base) == before + 1

	# A snapshot of an older form (written before formats were recorded) or of a form this
	# node does not write: built from it as before, never sent as it is.
	for fmt in ("NULL", "999"):
		cluster.psql("UPDATE snapshots SET format = %s WHERE canvas_id = '%s'" % (fmt, canvas_id))
		sync = sync_state(base, canvas_id, team.viewer)
		assert canonical(floats(sync["state"]["shapes"])) == replayed(canvas_id, team.viewer)
		assert stored_texts(base) == before + 1, fmt
	cluster.psql("UPDATE snapshots SET format = 1 WHERE canvas_id = '%s'" % canvas_id)

	# An op after the snapshot: the state is the snapshot plus that op, built.
	commit(canvas_id, team.owner, "delete_shape", {"shape_id": "r0"}, base=base)
	sync = sync_state(base, canvas_id, team.viewer)
	assert sync["current_version"] == 4
	assert sorted(sync["state"]["shapes"]) == ["r1", "r2"]
	assert canonical(floats(sync["state"]["shapes"])) == replayed(canvas_id, team.viewer)
	assert stored_texts(base) == before + 1


def test_few_ops_since_the_last_snapshot_write_no_quiet_snapshot(cluster, team):
	base = cluster.node_urls[0]
	canvas_id = create_canvas(team.owner, team.workspace_id, base=base)["id"]
	for i in range(SNAPSHOT_EVERY - 1):
		commit(canvas_id, team.owner, "create_shape", rect("q%d" % i, i, 0), base=base)
	time.sleep(QUIET_S + 1.5)
	assert snapshot_versions(cluster, canvas_id) == []
