"""Canvas states too large for the event loop (issue 9 §2). When a canvas's snapshot and the ops
after it take more than 128 KiB stored, the loop's state query carries only the versions and a
canvas worker thread reads the texts on a connection of its own (node/store/state.c, db_fetch in
node/store/db.c): receiving a 9 MB state through libpq held the loop 30-75 ms per read.

What must hold on that path: every reader that builds a state (GET /state at the head and at
earlier versions, from the log alone and from a snapshot, export.svg, a joining WebSocket's sync)
answers exactly what a full replay gives, and the node counts the reads it sent that way
(flowstate_state_worker_fetches_total), so this test knows it exercised the path. The deadline of
that connection under a silent link is in test_partitions.py.
"""

import random
import re

import pytest

from flowstate.api import request
from helpers import api, commit, create_canvas, get_state, list_ops, make_team, rect
from model import canonical, floats, replay
from wsclient import close_all, connect, run

LOOP_FETCH_STORED_BYTES = 128 * 1024  # STATE_LOOP_FETCH_STORED_BYTES in node/store/state.c


def WRITER(cluster):
	"""The node the big canvas's ops are committed on: not node 1, whose reads this test
	counts. A node reads the head of a canvas it committed to once it has been quiet for 2 s
	(node/store/snapshot.c), which would add to node 1's count at any moment."""
	return cluster.node_urls[1]


def worker_fetches(base):
	resp = request("GET", base + "/metrics")
	assert resp.status == 200
	m = re.search(r"^flowstate_state_worker_fetches_total (\d+)$", resp.text, re.M)
	assert m, "no flowstate_state_worker_fetches_total in /metrics"
	return int(m.group(1))


def long_path(rng, shape_id, points=4000):
	"""A path whose random coordinates compress poorly: ~60 KB stored."""
	pts = [[round(rng.uniform(-1e5, 1e5), 3), round(rng.uniform(-1e5, 1e5), 3)]
	       for _ in range(points)]
	return {"shape_id": shape_id, "kind": "path", "x": 0, "y": 0, "points": pts}


def replayed(ops, upto=None):
	"""The canonical state the log gives at version upto (the head when None)."""
	return canonical(replay([o for o in ops if upto is None or o["version"] <= upto]))


@pytest.fixture(scope="module")
def team(cluster):
	return make_team({"viewer": "viewer"})


@pytest.fixture(scope="module")
def big(cluster, team):
	"""A canvas of 2 rects and 5 long paths (versions 1..7), no snapshot yet."""
	rng = random.Random(20261205)
	canvas_id = create_canvas(team.owner, team.workspace_id)["id"]
	commit(canvas_id, team.owner, "create_shape", rect("r1", 10, 20), base=WRITER(cluster))
	commit(canvas_id, team.owner, "create_shape", rect("r2", 30, 40), base=WRITER(cluster))
	for i in range(5):
		commit(canvas_id, team.owner, "create_shape", long_path(rng, "p%d" % i),
		       base=WRITER(cluster))
	stored = int(cluster.psql("SELECT sum(pg_column_size(payload)) FROM operations "
				  "WHERE canvas_id = '%s'" % canvas_id).strip())
	assert stored > LOOP_FETCH_STORED_BYTES, stored
	return canvas_id


def test_a_big_state_from_the_log_alone_equals_the_replay_at_every_version(cluster, team, big):
	base = cluster.node_urls[0]
	ops = list_ops(big, team.viewer)
	assert [o["version"] for o in ops] == list(range(1, 8))
	before = worker_fetches(base)
	state = get_state(big, team.viewer, base=base)
	assert state["version"] == 7
	assert canonical(floats(state["shapes"])) == replayed(ops)
	assert worker_fetches(base) == before + 1, "the head's state was not read by a worker"
	# Earlier versions: the ops up to there (the first ones are small and stay on the loop).
	for at in (1, 2, 4, 6):
		s = get_state(big, team.viewer, at=at, base=base)
		assert s["version"] == at
		assert canonical(floats(s["shapes"])) == replayed(ops, at), at
	assert worker_fetches(base) >= before + 3  # versions 4 and 6 exceed the bound too


def test_a_big_snapshot_and_the_ops_after_it_equal_the_replay(cluster, team, big):
	base = cluster.node_urls[0]
	status, snap = api("POST", "/api/v1/canvases/%s/snapshots" % big, {}, token=team.owner.token,
			   base=base)
	assert status in (200, 201), (status, snap)
	assert snap["version"] == 7, snap
	stored = int(cluster.psql("SELECT pg_column_size(state) FROM snapshots WHERE canvas_id = "
				  "'%s' AND version = 7" % big).strip())
	assert stored > LOOP_FETCH_STORED_BYTES, stored
	commit(big, team.owner, "move_shape", {"shape_id": "p1", "x": 5, "y": 6},
	       base=WRITER(cluster))
	commit(big, team.owner, "delete_shape", {"shape_id": "r2"}, base=WRITER(cluster))
	ops = list_ops(big, team.viewer)
	before = worker_fetches(base)
	state = get_state(big, team.viewer, base=base)
	assert state["version"] == 9
	assert canonical(floats(state["shapes"])) == replayed(ops)
	assert state["shapes"]["p1"]["x"] == 5 and "r2" not in state["shapes"]
	at7 = get_state(big, team.viewer, at=7, base=base)
	assert canonical(floats(at7["shapes"])) == replayed(ops, 7)
	assert worker_fetches(base) == before + 2


def test_export_and_a_joining_client_get_the_big_state(cluster, team, big):
	base = cluster.node_urls[0]
	ops = list_ops(big, team.viewer)
	head = ops[-1]["version"]
	before = worker_fetches(base)
	resp = request("GET", base + "/api/v1/canvases/%s/export.svg" % big,
		       headers={"Authorization": "Bearer " + team.viewer.token}, timeout=60)
	assert resp.status == 200, resp.status
	assert resp.text.count("<path") + resp.text.count("<polyline") >= 5, resp.text[:300]

	async def body():
		c = await connect(base, big, team.viewer, settle=False, timeout=30)
		try:
			assert c.sync["mode"] == "state", c.sync
			assert c.sync["current_version"] == head
			assert canonical(floats(c.sync["state"]["shapes"])) == replayed(ops)
		finally:
			await close_all(c)
	run(body())
	assert worker_fetches(base) == before + 2


def test_a_small_canvas_is_read_on_the_loop(cluster, team):
	base = cluster.node_urls[0]
	canvas_id = create_canvas(team.owner, team.workspace_id)["id"]
	commit(canvas_id, team.owner, "create_shape", rect("a", 1, 2))
	before = worker_fetches(base)
	state = get_state(canvas_id, team.viewer, base=base)
	assert list(state["shapes"]) == ["a"]
	assert worker_fetches(base) == before
