"""Canvas states sent from a stored text instead of rebuilt (node/store/state.c,
state_load_text), and the head texts kept for canvases that went quiet (node/store/snapshot.c,
snapshot_note_commit).

A WebSocket sync of a whole state, and GET /state, used to parse the nearest snapshot, replay
the ops after it and serialize the result: ~250-400 ms of worker CPU for a 5,000-shape canvas.
Now, when a text in the current form (CANVAS_STATE_FORMAT) is stored for exactly the version
asked for, it is the answer: the canvas's head text (canvas_heads, one row per canvas, kept by
the node after it built a head state of at least 64 KiB, and asked for when a canvas it
committed to has been quiet for FLOWSTATE_SNAPSHOT_QUIET_MS) or a snapshot's
(snapshots.state_text).

What must hold: a stored text is sent only for exactly its version and form (a commit after
it, a text of an unknown or older form: built as before), every answer equals the replay of
the log byte for byte where the API promises canonical bytes, and the node counts the answers
taken from a stored text (flowstate_state_stored_texts_total) so this test knows which path it
took.
"""

import random
import re
import string
import time

import pytest

from flowstate.api import request
from helpers import api, commit, create_canvas, get_state_raw, list_ops, make_team, rect
from model import canonical, floats, replay
import wsclient
from wsclient import close_all, connect, run

QUIET_S = 2.0                # FLOWSTATE_SNAPSHOT_QUIET_MS default
HEAD_TEXT_MIN = 64 * 1024    # HEAD_TEXT_MIN_BYTES in node/store/state.c
LOOP_FETCH_STORED_BYTES = 128 * 1024  # STATE_LOOP_FETCH_STORED_BYTES in node/store/state.c


def metric(base, name):
	resp = request("GET", base + "/metrics")
	assert resp.status == 200
	m = re.search(r"^%s (\d+)$" % name, resp.text, re.M)
	assert m, "no %s in /metrics" % name
	return int(m.group(1))


def stored_texts(base):
	return metric(base, "flowstate_state_stored_texts_total")


def head_row(cluster, canvas_id):
	"""(version, format, stored bytes) of the canvas's head text, or None."""
	out = cluster.psql("SELECT version, format, pg_column_size(state_text) FROM canvas_heads "
			   "WHERE canvas_id = '%s'" % canvas_id).strip()
	return tuple(int(v) for v in out.split("|")) if out else None


def wait_head(cluster, canvas_id, version, timeout=QUIET_S + 8):
	deadline = time.monotonic() + timeout
	while True:
		row = head_row(cluster, canvas_id)
		if row and row[0] == version:
			return row
		assert time.monotonic() < deadline, "no head text at %d: %r" % (version, row)
		time.sleep(0.1)


def sync_of(base, canvas_id, user):
	async def body():
		c = await connect(base, canvas_id, user, settle=False, timeout=30)
		try:
			return c.sync
		finally:
			await close_all(c)
	return run(body())


def replayed(canvas_id, user, upto=None):
	return canonical(replay([o for o in list_ops(canvas_id, user)
				 if upto is None or o["version"] <= upto]))


def filled(cluster, team, base, count, text):
	canvas_id = create_canvas(team.owner, team.workspace_id, base=base)["id"]
	for i in range(count):
		commit(canvas_id, team.owner, "create_shape",
		       rect("s%02d" % i, i * 3.25, -i * 1.5, text=text(i)), base=base)
	return canvas_id


@pytest.fixture(scope="module")
def team(cluster):
	return make_team({"viewer": "viewer"})


@pytest.fixture(scope="module")
def calm(cluster):
	"""A node that does not watch canvases going quiet: what it commits is read only when a
	test reads it, so the counts and the stored texts of these tests are theirs alone."""
	node = wsclient.ExtraNode(cluster, "calm", {"FLOWSTATE_SNAPSHOT_QUIET_MS": "0"}).start()
	yield node.url
	code = node.stop()
	assert not node.sanitizer_reports(), node.log
	assert code == 0, code


@pytest.fixture(scope="module")
def rested(cluster, team):
	"""12 shapes of 7,000 repetitive characters (an 84 KB text, stored compressed: read on
	the loop), committed on node 1 and then left alone."""
	canvas_id = filled(cluster, team, cluster.node_urls[0], 12,
			   lambda i: ("shape %d says hello. " % i) * 350)
	wait_head(cluster, canvas_id, 12)
	return canvas_id


@pytest.fixture(scope="module")
def big_rested(cluster, team):
	"""30 shapes of 9,000 random letters: a head text that compresses poorly (> 128 KiB
	stored), so its read goes through a worker's own connection."""
	rng = random.Random(20261205)
	canvas_id = filled(cluster, team, cluster.node_urls[0], 30,
			   lambda i: "".join(rng.choice(string.ascii_letters) for _ in range(9000)))
	row = wait_head(cluster, canvas_id, 30)
	assert row[2] > LOOP_FETCH_STORED_BYTES, row
	return canvas_id


def test_a_quiet_canvas_keeps_its_head_text_and_opens_from_it(cluster, team, rested):
	assert head_row(cluster, rested)[1] == 1  # CANVAS_STATE_FORMAT
	base = cluster.node_urls[1]  # any node: the text is in Postgres
	before = stored_texts(base)
	sync = sync_of(base, rested, team.viewer)
	assert sync["mode"] == "state" and sync["current_version"] == 12
	assert canonical(floats(sync["state"]["shapes"])) == replayed(rested, team.viewer)
	assert stored_texts(base) == before + 1
	# GET /state at the head: the stored text is the canonical one, byte for byte.
	_, raw = get_state_raw(rested, team.viewer, base=base)
	assert raw == replayed(rested, team.viewer)
	assert stored_texts(base) == before + 2
	_, raw = get_state_raw(rested, team.viewer, at=11, base=base)  # not stored: built
	assert raw == replayed(rested, team.viewer, 11)
	assert stored_texts(base) == before + 2


def test_a_big_head_text_is_read_by_a_worker(cluster, team, big_rested):
	base = cluster.node_urls[0]
	before = stored_texts(base)
	fetches = metric(base, "flowstate_state_worker_fetches_total")
	sync = sync_of(base, big_rested, team.viewer)
	assert canonical(floats(sync["state"]["shapes"])) == replayed(big_rested, team.viewer)
	_, raw = get_state_raw(big_rested, team.viewer, base=base)
	assert raw == replayed(big_rested, team.viewer)
	assert stored_texts(base) == before + 2
	assert metric(base, "flowstate_state_worker_fetches_total") == fetches + 2


def test_a_head_text_behind_the_head_or_of_another_form_is_not_sent(cluster, team, calm):
	base = calm
	canvas_id = filled(cluster, team, base, 12, lambda i: ("shape %d says hello. " % i) * 350)
	before = stored_texts(base)
	assert canonical(floats(sync_of(base, canvas_id, team.viewer)["state"]["shapes"])) == \
		replayed(canvas_id, team.viewer)
	assert stored_texts(base) == before  # built, and kept:
	wait_head(cluster, canvas_id, 12, timeout=5)
	commit(canvas_id, team.owner, "delete_shape", {"shape_id": "s00"}, base=base)
	sync = sync_of(base, canvas_id, team.viewer)
	assert sync["current_version"] == 13 and "s00" not in sync["state"]["shapes"]
	assert canonical(floats(sync["state"]["shapes"])) == replayed(canvas_id, team.viewer)
	assert stored_texts(base) == before
	# The text that read built is kept for the next one.
	wait_head(cluster, canvas_id, 13, timeout=5)
	assert canonical(floats(sync_of(base, canvas_id, team.viewer)["state"]["shapes"])) == \
		replayed(canvas_id, team.viewer)
	assert stored_texts(base) == before + 1
	# A text of a form this node does not write is rebuilt, and replaced.
	cluster.psql("UPDATE canvas_heads SET format = 999 WHERE canvas_id = '%s'" % canvas_id)
	_, raw = get_state_raw(canvas_id, team.viewer, base=base)
	assert raw == replayed(canvas_id, team.viewer)
	assert stored_texts(base) == before + 1
	deadline = time.monotonic() + 5
	while head_row(cluster, canvas_id)[1] != 1:
		assert time.monotonic() < deadline, head_row(cluster, canvas_id)
		time.sleep(0.1)


def test_a_snapshot_at_the_version_asked_for_is_sent_as_its_text(cluster, team, calm):
	base = calm
	canvas_id = create_canvas(team.owner, team.workspace_id, base=base)["id"]
	for i in range(3):
		commit(canvas_id, team.owner, "create_shape", rect("r%d" % i, i, i), base=base)
	status, snap = api("POST", "/api/v1/canvases/%s/snapshots" % canvas_id,
			   token=team.owner.token, base=base)
	assert status == 201 and snap["version"] == 3, snap
	commit(canvas_id, team.owner, "delete_shape", {"shape_id": "r0"}, base=base)

	before = stored_texts(base)
	_, raw = get_state_raw(canvas_id, team.viewer, at=3, base=base)
	assert raw == replayed(canvas_id, team.viewer, 3)
	assert stored_texts(base) == before + 1
	_, raw = get_state_raw(canvas_id, team.viewer, base=base)  # the snapshot + 1 op: built
	assert raw == replayed(canvas_id, team.viewer) and "r0" not in raw
	assert stored_texts(base) == before + 1
	# A snapshot written before texts were kept, or in a form this node does not write:
	# built from it as before.
	for fmt in ("NULL", "999"):
		cluster.psql("UPDATE snapshots SET format = %s WHERE canvas_id = '%s'" % (fmt, canvas_id))
		_, raw = get_state_raw(canvas_id, team.viewer, at=3, base=base)
		assert raw == replayed(canvas_id, team.viewer, 3)
		assert stored_texts(base) == before + 1, fmt


def test_a_small_canvas_keeps_no_head_text(cluster, team):
	base = cluster.node_urls[0]
	canvas_id = filled(cluster, team, base, 5, lambda i: "small %d" % i)
	time.sleep(QUIET_S + 1.5)
	assert head_row(cluster, canvas_id) is None
	assert canonical(floats(sync_of(base, canvas_id, team.viewer)["state"]["shapes"])) == \
		replayed(canvas_id, team.viewer)
	assert head_row(cluster, canvas_id) is None
