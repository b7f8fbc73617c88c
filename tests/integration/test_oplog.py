"""The operation log over real HTTP against three sanitized nodes and a real Postgres (DESIGN §2
invariants 1-4): gap-free versions under parallel writers on every node, idempotent commit by
client op id (also when one id races itself across nodes), validation that commits nothing,
paging, state at every version equal to a full replay by the Python oracle (model.py; across
the automatic snapshots), and state that survives node restarts.

Users, workspaces and canvases are made per module or per test; nothing depends on test order.
"""

import json
import random
import threading
import time
import types
import uuid

import pytest

from flowstate.api import Client, request
from helpers import (api, assert_error, canvas_version, commit, create_canvas, db_head, db_rows,
		     get_state_raw, list_ops, make_team)
from model import SHAPE_DEFAULTS, apply_op, canonical, floats, random_op

SNAPSHOT_EVERY = 50  # FLOWSTATE_SNAPSHOT_EVERY default: the fixture does not override it


# ---------------------------------------------------------------------------------------------
# Posting a request body as given (the endpoint's contract is what these tests check).

def op_body(type_, payload, client_op_id=None):
	return {"type": type_, "payload": payload, "client_op_id": client_op_id or str(uuid.uuid4())}


def post_body(canvas_id, user, body, base=None):
	return api("POST", "/api/v1/canvases/%s/operations" % canvas_id, body, token=user.token,
		   base=base)


# ---------------------------------------------------------------------------------------------
# Fixtures.

@pytest.fixture(scope="module")
def team(cluster):
	"""A workspace with an owner (who writes), an editor, a viewer, and an outsider."""
	return make_team({"editor": "editor", "viewer": "viewer", "outsider": None})


@pytest.fixture(scope="module")
def replayed(cluster, team):
	"""A canvas with 150 random ops committed one by one, round-robin over the three nodes."""
	rng = random.Random(20261122)
	canvas_id = create_canvas(team.owner, team.workspace_id)["id"]
	nodes = cluster.node_urls
	sent = []
	for i in range(150):
		type_, payload = random_op(rng)
		op = commit(canvas_id, team.owner if i % 2 else team.editor, type_, payload,
			    base=nodes[i % len(nodes)])
		assert op["version"] == i + 1, op
		sent.append((type_, payload))
	return types.SimpleNamespace(canvas_id=canvas_id, sent=sent, head=150)


# ---------------------------------------------------------------------------------------------
# Total order: gap-free versions under parallel writers on every node.

def test_versions_stay_gap_free_under_64_parallel_writers_on_three_nodes(cluster, team):
	threads_n, per_thread = 64, 50
	total = threads_n * per_thread
	canvas_id = create_canvas(team.owner, team.workspace_id)["id"]
	path = "/api/v1/canvases/%s/operations" % canvas_id
	barrier = threading.Barrier(threads_n)
	results = [None] * threads_n   # per thread: [(client_op_id, status, body)]
	errors = []

	def writer(t):
		user = team.owner if t % 2 else team.editor
		client = Client(cluster.node_urls[t % len(cluster.node_urls)], user.token, timeout=120,
				keep_alive=True)
		out = []
		try:
			client.connect()
			barrier.wait(timeout=60)
			for i in range(per_thread):
				sid = "t%d-%d" % (t, i // 2)
				if i % 2 == 0:
					payload = {"shape_id": sid, "kind": "rect", "x": t, "y": i}
					type_ = "create_shape"
				else:
					payload = {"shape_id": sid, "x": i, "y": t}
					type_ = "move_shape"
				cid = str(uuid.uuid4())
				r = client.request("POST", path, op_body(type_, payload, cid))
				out.append((cid, r.status, r.json_or_none()))
		except Exception as e:  # reported below with the thread number
			errors.append((t, repr(e)))
		finally:
			client.close()
			results[t] = out

	threads = [threading.Thread(target=writer, args=(t,)) for t in range(threads_n)]
	for th in threads:
		th.start()
	for th in threads:
		th.join(timeout=600)
	assert not any(th.is_alive() for th in threads), "writers did not finish in 10 minutes"
	assert not errors, errors[:5]

	flat = [r for out in results for r in out]
	assert len(flat) == total
	bad = [(s, b) for _, s, b in flat if s != 201]
	assert not bad, "%d non-201 answers, e.g. %r" % (len(bad), bad[:5])
	acked = {cid: body["version"] for cid, _, body in flat}
	for cid, _, body in flat:
		assert body["client_op_id"] == cid, body
		assert body["canvas_id"] == canvas_id, body
		assert body["kind"] == "do" and body["undo_of"] is None, body
	assert sorted(acked.values()) == list(range(1, total + 1)), "acked versions not 1..N"
	# Each writer waited for its ack before sending the next op: its versions increase.
	for t, out in enumerate(results):
		versions = [b["version"] for _, _, b in out]
		assert versions == sorted(versions), "thread %d saw its own ops out of order" % t

	rows = db_rows(cluster, canvas_id)
	assert [v for v, _ in rows] == list(range(1, total + 1)), "versions in Postgres have gaps"
	assert {cid: v for v, cid in rows} == acked, "a 201's version is not its row's version"
	assert db_head(cluster, canvas_id) == total
	assert canvas_version(canvas_id, team.owner) == total

	ops = list_ops(canvas_id, team.viewer)
	assert [o["version"] for o in ops] == list(range(1, total + 1))
	assert {o["client_op_id"]: o["version"] for o in ops} == acked


# ---------------------------------------------------------------------------------------------
# Idempotent commit.

def test_duplicate_client_op_id_submitted_concurrently_commits_once(cluster, team):
	canvas_id = create_canvas(team.owner, team.workspace_id)["id"]
	path = "/api/v1/canvases/%s/operations" % canvas_id
	n = 16
	rounds = 5
	for r in range(rounds):
		cid = str(uuid.uuid4())
		body = op_body("create_shape", {"shape_id": "dup%d" % r, "kind": "sticky", "x": r,
						"y": 2 * r, "text": "once"}, cid)
		barrier = threading.Barrier(n)
		answers = [None] * n
		errors = []

		def submit(i):
			client = Client(cluster.node_urls[i % len(cluster.node_urls)], team.owner.token,
					timeout=60, keep_alive=True)
			try:
				client.connect()
				barrier.wait(timeout=30)
				r = client.request("POST", path, body)
				answers[i] = (r.status, r.json_or_none())
			except Exception as e:
				errors.append((i, repr(e)))
			finally:
				client.close()

		threads = [threading.Thread(target=submit, args=(i,)) for i in range(n)]
		for th in threads:
			th.start()
		for th in threads:
			th.join(timeout=120)
		assert not errors, errors
		statuses = sorted(s for s, _ in answers)
		assert statuses == [200] * (n - 1) + [201], "round %d: %r" % (r, answers)
		ops = [b for _, b in answers]
		assert all(o == ops[0] for o in ops), "round %d: answers differ: %r" % (r, ops)
		assert ops[0]["version"] == r + 1 and ops[0]["client_op_id"] == cid, ops[0]
		rows = db_rows(cluster, canvas_id)
		assert [cid2 for _, cid2 in rows].count(cid) == 1, rows
		assert [v for v, _ in rows] == list(range(1, r + 2)), rows
	assert db_head(cluster, canvas_id) == rounds


def test_retry_of_committed_op_returns_200_with_original_version_and_op(cluster, team):
	canvas_id = create_canvas(team.owner, team.workspace_id)["id"]
	nodes = cluster.node_urls
	body = op_body("create_shape", {"shape_id": "r1", "kind": "rect", "x": 1, "y": 2, "w": 3,
					"h": 4})
	status, original = post_body(canvas_id, team.editor, body, base=nodes[0])
	assert status == 201, original
	assert set(original) == {"id", "canvas_id", "version", "type", "payload", "created_by",
				 "client_op_id", "created_at", "kind", "undo_of"}, original
	assert original["version"] == 1 and original["created_by"] == team.editor.id, original
	assert original["type"] == "create_shape" and original["kind"] == "do", original
	# The stored payload is the normalized, complete shape.
	assert floats(original["payload"]) == floats({
		"shape_id": "r1", "kind": "rect", "x": 1.0, "y": 2.0, "w": 3.0, "h": 4.0,
		"rotation": 0.0, "z": 0.0, "style": SHAPE_DEFAULTS["style"], "text": "",
		"points": [], "from": None, "to": None}), original
	for i in range(3):
		commit(canvas_id, team.editor, "move_shape", {"shape_id": "r1", "x": i, "y": i},
		       base=nodes[1])
	time.sleep(0.05)
	for node in nodes + [None]:  # every node, and the gateway
		status, again = post_body(canvas_id, team.editor, body, base=node)
		assert status == 200, (node, status, again)
		assert again == original, (node, again)
	# Same client op id, different payload: nothing new is committed either.
	other = dict(body, payload={"shape_id": "r1", "x": 99, "y": 99}, type="move_shape")
	status, answer = post_body(canvas_id, team.editor, other)
	assert status != 201 and status < 500, (status, answer)
	if status == 200:
		assert answer == original, answer
	assert db_head(cluster, canvas_id) == 4
	assert len(db_rows(cluster, canvas_id)) == 4
	_, raw = get_state_raw(canvas_id, team.editor)
	assert json.loads(raw)["r1"]["x"] == 2.0


def test_same_client_op_id_on_another_canvas_is_a_different_op(cluster, team):
	"""Dedupe is per canvas (UNIQUE (canvas_id, client_op_id))."""
	a = create_canvas(team.owner, team.workspace_id)["id"]
	b = create_canvas(team.owner, team.workspace_id)["id"]
	body = op_body("create_shape", {"shape_id": "q", "kind": "rect", "x": 0, "y": 0})
	assert post_body(a, team.owner, body)[0] == 201
	status, op = post_body(b, team.owner, body)
	assert status == 201 and op["canvas_id"] == b and op["version"] == 1, op


# ---------------------------------------------------------------------------------------------
# Validation: 422 with a code and a detail naming the field; nothing committed.

def _create(**extra):
	p = {"shape_id": "v1", "kind": "rect", "x": 1, "y": 2}
	p.update(extra)
	return p


INVALID_OPS = [
	# (id, body overrides, code(s), field named in detail)
	("unknown_type", {"type": "rotate_shape", "payload": {"shape_id": "v1"}},
	 ("invalid_field", "unknown_op_type"), "type"),
	("type_not_string", {"type": 7}, "invalid_field", "type"),
	("x_1e300", {"payload": _create(x=1e300)}, "invalid_field", "payload.x"),
	("y_minus_1e300", {"payload": _create(y=-1e300)}, "invalid_field", "payload.y"),
	("x_just_over_1e9", {"payload": _create(x=1000000000.0001)}, "invalid_field", "payload.x"),
	("w_negative", {"payload": _create(w=-1)}, "invalid_field", "payload.w"),
	("x_string", {"payload": _create(x="10")}, "invalid_field", "payload.x"),
	("x_bool", {"payload": _create(x=True)}, "invalid_field", "payload.x"),
	("x_null", {"payload": _create(x=None)}, ("invalid_field", "missing_field"), "payload.x"),
	("kind_unknown", {"payload": _create(kind="hexagon")}, "invalid_field", "payload.kind"),
	("kind_missing", {"payload": {"shape_id": "v1", "x": 1, "y": 2}}, "missing_field",
	 "payload.kind"),
	("unknown_payload_field", {"payload": _create(colour="red")}, "unknown_field",
	 "payload.colour"),
	("id_in_payload", {"payload": _create(id="v1")}, "unknown_field", "payload.id"),
	("unknown_style_key", {"payload": _create(style={"color": "#fff"})}, "unknown_field",
	 "payload.style.color"),
	("opacity_over_1", {"payload": _create(style={"opacity": 2})}, "invalid_field",
	 "payload.style.opacity"),
	("bad_colour", {"payload": _create(style={"fill": "red"})}, "invalid_field",
	 "payload.style.fill"),
	("style_not_object", {"payload": _create(style="bold")}, "invalid_field", "payload.style"),
	("shape_id_65_bytes", {"payload": _create(shape_id="s" * 65)}, "invalid_field",
	 "payload.shape_id"),
	("shape_id_bad_char", {"payload": _create(shape_id="a b")}, "invalid_field",
	 "payload.shape_id"),
	("shape_id_empty", {"payload": _create(shape_id="")}, "invalid_field", "payload.shape_id"),
	("shape_id_number", {"payload": _create(shape_id=5)}, "invalid_field", "payload.shape_id"),
	("text_over_limit", {"payload": _create(text="t" * 10001)}, "too_large", "payload.text"),
	("text_multibyte_over_limit", {"payload": _create(text="\u00e9" * 5001)}, "too_large",
	 "payload.text"),
	("text_number", {"payload": _create(text=5)}, "invalid_field", "payload.text"),
	("points_over_limit", {"payload": _create(points=[[0, 0]] * 10001)}, "too_large",
	 "payload.points"),
	("point_with_three_numbers", {"payload": _create(points=[[1, 2], [1, 2, 3]])},
	 "invalid_field", "payload.points[1]"),
	("point_huge", {"payload": _create(points=[[1, 1e300]])}, "invalid_field",
	 "payload.points[0][1]"),
	("from_number", {"payload": _create(**{"from": 5})}, "invalid_field", "payload.from"),
	("to_bad_id", {"payload": _create(to="no spaces")}, "invalid_field", "payload.to"),
	("payload_not_object", {"payload": [1, 2]}, "invalid_field", "payload"),
	("move_missing_y", {"type": "move_shape", "payload": {"shape_id": "v1", "x": 1}},
	 "missing_field", "payload.y"),
	("move_with_w", {"type": "move_shape", "payload": {"shape_id": "v1", "x": 1, "y": 1, "w": 1}},
	 "unknown_field", "payload.w"),
	("resize_missing_h", {"type": "resize_shape",
			      "payload": {"shape_id": "v1", "x": 1, "y": 1, "w": 1}},
	 "missing_field", "payload.h"),
	("update_nothing", {"type": "update_shape", "payload": {"shape_id": "v1"}},
	 "missing_field", "payload"),
	("update_empty_style", {"type": "update_shape", "payload": {"shape_id": "v1", "style": {}}},
	 "missing_field", "payload.style"),
	("update_kind", {"type": "update_shape", "payload": {"shape_id": "v1", "kind": "rect"}},
	 "unknown_field", "payload.kind"),
	("update_rotation_1e300", {"type": "update_shape",
				   "payload": {"shape_id": "v1", "rotation": 1e300}},
	 "invalid_field", "payload.rotation"),
	("delete_without_shape_id", {"type": "delete_shape", "payload": {}}, "missing_field",
	 "payload.shape_id"),
	("client_op_id_not_uuid", {"client_op_id": "not-a-uuid"}, "invalid_field", "client_op_id"),
	("client_op_id_uuid_without_dashes", {"client_op_id": uuid.uuid4().hex}, "invalid_field",
	 "client_op_id"),
	("client_op_id_number", {"client_op_id": 12345}, "invalid_field", "client_op_id"),
	("client_op_id_missing", {"client_op_id": None}, "missing_field", "client_op_id"),
	("payload_missing", {"payload": None}, "missing_field", "payload"),
	("unknown_top_level_field", {"extra": 1}, "unknown_field", "extra"),
]


@pytest.fixture(scope="module")
def untouched_canvas(cluster, team):
	"""A canvas that only ever receives rejected ops."""
	return create_canvas(team.owner, team.workspace_id)["id"]


@pytest.mark.parametrize("overrides,code,field", [c[1:] for c in INVALID_OPS],
			 ids=[c[0] for c in INVALID_OPS])
def test_invalid_op_is_rejected_with_422_naming_the_field_and_commits_nothing(
		cluster, team, untouched_canvas, overrides, code, field):
	body = op_body("create_shape", _create())
	body.update(overrides)
	body = {k: v for k, v in body.items() if v is not None}  # None: leave the field out
	status, answer = post_body(untouched_canvas, team.editor, body)
	assert_error(status, answer, 422, code, field)
	assert canvas_version(untouched_canvas, team.owner) == 0
	assert db_rows(cluster, untouched_canvas) == []


def test_malformed_json_is_rejected_and_commits_nothing(cluster, team, untouched_canvas):
	nul_text = json.dumps(op_body("create_shape", _create(text="a\u0000b"))).encode()
	for raw in (b"{", b'{"type": "create_shape", "type": "move_shape"}', b"[]", nul_text):
		resp = request("POST", cluster.gateway_url + "/api/v1/canvases/%s/operations"
			       % untouched_canvas, body=raw,
			       headers={"Authorization": "Bearer " + team.editor.token})
		assert resp.status in (400, 422), (raw, resp)
		assert_error(resp.status, resp.json(), resp.status)
	assert db_rows(cluster, untouched_canvas) == []


def test_op_by_viewer_is_403_and_does_not_burn_the_client_op_id(cluster, team):
	canvas_id = create_canvas(team.owner, team.workspace_id)["id"]
	body = op_body("create_shape", _create())
	for node in cluster.node_urls:
		status, answer = post_body(canvas_id, team.viewer, body, base=node)
		assert_error(status, answer, 403, "forbidden")
	assert canvas_version(canvas_id, team.owner) == 0
	assert db_rows(cluster, canvas_id) == []
	# The rejected attempt reserved nothing: an editor may commit that client op id now.
	status, op = post_body(canvas_id, team.editor, body)
	assert status == 201 and op["version"] == 1, op


def test_op_by_non_member_or_on_unknown_canvas_is_404_and_commits_nothing(cluster, team):
	canvas_id = create_canvas(team.owner, team.workspace_id)["id"]
	body = op_body("create_shape", _create())
	status, answer = post_body(canvas_id, team.outsider, body)
	assert_error(status, answer, 404, "not_found")
	status, answer = post_body(str(uuid.uuid4()), team.owner, body)
	assert_error(status, answer, 404, "not_found")
	status, answer = post_body("not-a-uuid", team.owner, body)
	assert_error(status, answer, 404, "not_found")
	status, answer = api("POST", "/api/v1/canvases/%s/operations" % canvas_id, body)
	assert_error(status, answer, 401)
	assert canvas_version(canvas_id, team.owner) == 0
	assert db_rows(cluster, canvas_id) == []
	# Reading is for members only, too.
	for path in ("operations", "state", "snapshots"):
		status, answer = api("GET", "/api/v1/canvases/%s/%s" % (canvas_id, path),
				     token=team.outsider.token)
		assert_error(status, answer, 404, "not_found")


# ---------------------------------------------------------------------------------------------
# Deterministic reducer: state at every version = full replay, across snapshots.

def wait_for_snapshots(canvas_id, user, versions, timeout=20.0):
	deadline = time.monotonic() + timeout
	while True:
		status, snaps = api("GET", "/api/v1/canvases/%s/snapshots" % canvas_id, token=user.token)
		assert status == 200, (status, snaps)
		have = {s["version"] for s in snaps}
		if set(versions) <= have or time.monotonic() > deadline:
			return snaps
		time.sleep(0.1)


def test_state_at_every_version_equals_full_replay(cluster, team, replayed):
	canvas_id = replayed.canvas_id
	snaps = wait_for_snapshots(canvas_id, team.viewer, [50, 100, 150])
	by_version = {s["version"]: s for s in snaps}
	assert {50, 100, 150} <= set(by_version), "automatic snapshots missing: %r" % snaps
	assert [s["version"] for s in snaps] == sorted(s["version"] for s in snaps), snaps
	for s in snaps:
		assert set(s) == {"canvas_id", "version", "created_at", "shape_count"}, s
		assert s["canvas_id"] == canvas_id

	ops = list_ops(canvas_id, team.viewer, page=1000)
	assert [o["version"] for o in ops] == list(range(1, replayed.head + 1))
	assert [o["type"] for o in ops] == [t for t, _ in replayed.sent]

	state = {}
	expected = [({}, canonical({}))]
	noops = 0
	replaced = 0
	for o in ops:
		if o["type"] == "create_shape" and o["payload"]["shape_id"] in state:
			replaced += 1
		if not apply_op(state, o["type"], o["payload"]):
			noops += 1
		expected.append((json.loads(json.dumps(state)), canonical(state)))
	assert noops >= 5, "the random ops should hit missing shapes (%d did)" % noops
	assert replaced >= 3, "the random ops should re-create existing shapes (%d did)" % replaced

	nodes = cluster.node_urls
	for v in range(replayed.head + 1):
		body, raw = get_state_raw(canvas_id, team.viewer, at=v, base=nodes[v % len(nodes)])
		assert body["canvas_id"] == canvas_id and body["version"] == v, body
		want_state, want_text = expected[v]
		assert floats(body["shapes"]) == floats(want_state), "state at %d differs" % v
		assert raw == want_text, "state at %d is not canonical:\n%s\n%s" % (v, raw, want_text)
		if v in by_version:
			assert by_version[v]["shape_count"] == len(want_state), (v, by_version[v])

	# The head without ?at= is the last version.
	body, raw = get_state_raw(canvas_id, team.viewer)
	assert body["version"] == replayed.head and raw == expected[-1][1]
	# The stored snapshots themselves are the replayed states.
	for v in (50, 100, 150):
		stored = json.loads(cluster.psql("SELECT state::text FROM snapshots WHERE canvas_id = '%s'"
						 " AND version = %d" % (canvas_id, v)))
		assert floats(stored) == floats(expected[v][0]), "snapshot at %d differs" % v


def test_state_at_invalid_version_is_422(cluster, team, replayed):
	base = "/api/v1/canvases/%s/state" % replayed.canvas_id
	for query, code in (("?at=%d" % (replayed.head + 1), "invalid_version"),
			    ("?at=-1", "invalid_query"), ("?at=abc", "invalid_query"),
			    ("?at=1.5", "invalid_query")):
		status, body = api("GET", base + query, token=team.viewer.token)
		assert_error(status, body, 422, code)


def test_manual_snapshot_is_for_editors_and_lists_in_version_order(cluster, team):
	canvas_id = create_canvas(team.owner, team.workspace_id)["id"]
	for i in range(3):
		commit(canvas_id, team.editor, "create_shape", _create(shape_id="m%d" % i))
	status, snap = api("POST", "/api/v1/canvases/%s/snapshots" % canvas_id,
			   token=team.editor.token)
	assert status == 201, (status, snap)
	assert snap["version"] == 3 and snap["shape_count"] == 3 and snap["canvas_id"] == canvas_id
	status, again = api("POST", "/api/v1/canvases/%s/snapshots" % canvas_id,
			    token=team.owner.token)
	assert status == 201 and again == snap, again  # one snapshot per version
	status, body = api("POST", "/api/v1/canvases/%s/snapshots" % canvas_id,
			   token=team.viewer.token)
	assert_error(status, body, 403, "forbidden")
	commit(canvas_id, team.editor, "delete_shape", {"shape_id": "m0"})
	status, snap4 = api("POST", "/api/v1/canvases/%s/snapshots" % canvas_id,
			    token=team.owner.token)
	assert status == 201 and snap4["version"] == 4 and snap4["shape_count"] == 2, snap4
	status, snaps = api("GET", "/api/v1/canvases/%s/snapshots" % canvas_id,
			    token=team.viewer.token)
	assert status == 200 and [s["version"] for s in snaps] == [3, 4], snaps
	# State read through the snapshot at 3 and replay of 4 equals the replay from scratch.
	_, raw = get_state_raw(canvas_id, team.viewer, at=4)
	assert sorted(json.loads(raw)) == ["m1", "m2"]


# ---------------------------------------------------------------------------------------------
# Paging.

def test_paging_with_since_and_limit_returns_everything_in_order(cluster, team, replayed):
	canvas_id = replayed.canvas_id
	status, everything = api("GET", "/api/v1/canvases/%s/operations?since=0&limit=1000"
				 % canvas_id, token=team.viewer.token)
	assert status == 200 and len(everything) == replayed.head
	assert [o["version"] for o in everything] == list(range(1, replayed.head + 1))
	for page in (1, 7, 50, 149, 150, 151):
		assert list_ops(canvas_id, team.viewer, page=page) == everything, page
	# Default page: 100.
	status, first = api("GET", "/api/v1/canvases/%s/operations" % canvas_id,
			    token=team.viewer.token)
	assert status == 200 and first == everything[:100]
	status, tail = api("GET", "/api/v1/canvases/%s/operations?since=140" % canvas_id,
			   token=team.viewer.token)
	assert status == 200 and tail == everything[140:]
	status, none = api("GET", "/api/v1/canvases/%s/operations?since=%d" % (canvas_id, 10 ** 6),
			   token=team.viewer.token)
	assert status == 200 and none == []
	# Every node pages the same log.
	for node in cluster.node_urls:
		assert list_ops(canvas_id, team.viewer, page=60, base=node) == everything
	# An empty canvas has an empty log.
	empty = create_canvas(team.owner, team.workspace_id)["id"]
	status, ops = api("GET", "/api/v1/canvases/%s/operations" % empty, token=team.viewer.token)
	assert status == 200 and ops == []


@pytest.mark.parametrize("query", ["limit=1001", "limit=0", "limit=-5", "since=-1",
				   "since=abc", "limit=10x", "since=1e3", "limit=99999999999999999999"])
def test_paging_rejects_out_of_range_parameters_with_422(cluster, team, replayed, query):
	status, body = api("GET", "/api/v1/canvases/%s/operations?%s" % (replayed.canvas_id, query),
			   token=team.viewer.token)
	assert_error(status, body, 422, None, query.split("=")[0])


# ---------------------------------------------------------------------------------------------
# Restart safety.

def test_state_and_log_are_unchanged_after_node_restarts(cluster, team):
	rng = random.Random(7)
	canvas_id = create_canvas(team.owner, team.workspace_id)["id"]
	nodes = cluster.node_urls
	for i in range(SNAPSHOT_EVERY + 13):  # past a snapshot boundary
		type_, payload = random_op(rng)
		commit(canvas_id, team.owner, type_, payload, base=nodes[i % len(nodes)])
	head = SNAPSHOT_EVERY + 13
	wait_for_snapshots(canvas_id, team.owner, [SNAPSHOT_EVERY])
	before_ops = list_ops(canvas_id, team.owner)
	before = [get_state_raw(canvas_id, team.owner, at=v)[1] for v in (0, 20, 50, head)]

	code = cluster.restart_node(0)  # graceful: SIGTERM, drain
	assert code == 0, "node n1 exited %r on SIGTERM" % code
	cluster.kill_node(1)            # crash: SIGKILL
	cluster.start_node(1)
	cluster.wait_ready(timeout=60)

	for node in nodes:
		assert list_ops(canvas_id, team.owner, base=node) == before_ops, node
		after = [get_state_raw(canvas_id, team.owner, at=v, base=node)[1]
			 for v in (0, 20, 50, head)]
		assert after == before, node
	# The log continues without a gap on the restarted nodes.
	for i, node in enumerate(nodes[:2]):
		op = commit(canvas_id, team.owner, "create_shape", _create(shape_id="after%d" % i),
			    base=node)
		assert op["version"] == head + 1 + i, op
	assert [v for v, _ in db_rows(cluster, canvas_id)] == list(range(1, head + 3))
