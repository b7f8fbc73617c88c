"""The WebSocket protocol (DESIGN §2 invariants 5-7, §6, §7; node/realtime/session.c) against
sanitized nodes, spoken by an independent client: Debian's python3-websockets, plus a raw socket
with hand-built frames for what a correct client never sends and for a client that stops reading.

Covered: refusals before the upgrade; acks and exactly-once, in-order delivery to every client
(also across three nodes, converging on the state Postgres replays); the two sync modes and
their boundary; reconnecting with since; presence, cursors (coalesced) and strokes, which never
touch Postgres; per-message errors that keep the socket open; viewers; undo/redo; the rate limit;
a slow consumer closed with 1013 that loses nothing on reconnect; RFC close codes for protocol
violations; server pings and the idle timeout; 1001 on drain.

Each test uses its own canvas. Tests that need non-default limits use one extra node (`tuned`)
sharing the session cluster's Postgres and Redis.
"""

import asyncio
import http.client
import json
import random
import re
import socket
import struct
import threading
import time
import urllib.parse
import uuid

import pytest
import websockets
import websockets.exceptions

import wsclient
from flowstate.procs import log_tail
from helpers import RestWriter, canvas_version, create_canvas, get_state, list_ops, make_team, rect
from model import floats, random_op, replay
from wsclient import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, ExtraNode, RawWs,
		      build_frame, close_all, connect, run)

SYNC_MAX_OPS = 1000        # FLOWSTATE_SYNC_MAX_OPS default
MAX_OPS_PER_MESSAGE = 64   # FLOWSTATE_WS_MAX_OPS_PER_MESSAGE default
MAX_MESSAGE = 65536        # FLOWSTATE_WS_MAX_MESSAGE default
CURSOR_HZ = 30             # FLOWSTATE_WS_CURSOR_HZ default

# The extra node's settings: a small token bucket, small output limits, fast pings.
TUNED_ENV = {
	"FLOWSTATE_WS_OPS_PER_SECOND": "5",
	"FLOWSTATE_WS_OPS_BURST": "5",
	"FLOWSTATE_WS_SOFT_LIMIT": "16384",
	"FLOWSTATE_WS_HARD_LIMIT": "65536",
	"FLOWSTATE_WS_PING_INTERVAL": "1",
	"FLOWSTATE_WS_IDLE_TIMEOUT": "4",
	"FLOWSTATE_WS_STALL_TIMEOUT": "2",
}


# ---------------------------------------------------------------------------------------------
# Fixtures.

@pytest.fixture(scope="module")
def team(cluster):
	"""A workspace with an owner, three editors (a, b, c), a viewer, and an outsider."""
	return make_team({"a": "editor", "b": "editor", "c": "editor", "viewer": "viewer",
			  "outsider": None})


@pytest.fixture
def canvas(team):
	return create_canvas(team.owner, team.workspace_id)["id"]


@pytest.fixture
def node(cluster):
	"""The first node, addressed directly (one room, no gateway in between)."""
	return cluster.node_urls[0]


def _stop_checked(extra):
	code = extra.stop()
	reports = extra.sanitizer_reports()
	assert not reports, "sanitizer report in %s:\n%s" % (extra.log, reports[0][1])
	assert code == 0, "%s exited %s after SIGTERM; log tail:\n%s" % (
		extra.name, code, log_tail(extra.log))


@pytest.fixture(scope="module")
def tuned(cluster):
	extra = ExtraNode(cluster, "wstuned", TUNED_ENV)
	try:
		extra.start()
	except BaseException:
		extra.stop()
		raise
	yield extra
	_stop_checked(extra)


def error_ok(m, code):
	assert m["type"] == "error", m
	assert m["code"] in (code if isinstance(code, tuple) else (code,)), m
	assert isinstance(m.get("detail"), str) and m["detail"], m


async def roundtrip(c, timeout=10.0):
	"""A ping/pong round trip: everything the server queued for c before it is received."""
	start = len(c.messages)
	await c.send({"type": "ping"})
	await c.wait_type("pong", start=start, timeout=timeout)


def _http_upgrade(base, path, headers, timeout=10.0):
	u = urllib.parse.urlsplit(base)
	conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
	try:
		conn.request("GET", path, headers=headers)
		resp = conn.getresponse()
		body = resp.read()
		return resp.status, json.loads(body) if body else None
	finally:
		conn.close()


UPGRADE_HEADERS = {"Upgrade": "websocket", "Connection": "Upgrade",
		   "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}


# ---------------------------------------------------------------------------------------------
# Handshake.

@pytest.mark.parametrize("case", ["no_token", "garbage_token", "tampered_token", "outsider",
				  "unknown_canvas", "malformed_canvas_id", "no_upgrade",
				  "bad_version", "missing_version", "bad_key", "missing_key",
				  "bad_since"])
def test_handshake_is_refused_with_plain_http_before_the_upgrade(cluster, team, canvas, case):
	headers = dict(UPGRADE_HEADERS)
	canvas_id, token, since = canvas, team.a.token, None
	expected = {"no_token": (401, "unauthorized"), "garbage_token": (401, "unauthorized"),
		    "tampered_token": (401, "unauthorized"), "outsider": (404, "not_found"),
		    "unknown_canvas": (404, "not_found"), "malformed_canvas_id": (404, "not_found"),
		    "no_upgrade": (426, "upgrade_required"), "bad_version": (426, "upgrade_required"),
		    "missing_version": (426, "upgrade_required"), "bad_key": (400, "bad_request"),
		    "missing_key": (400, "bad_request"), "bad_since": (422, "invalid_query")}[case]
	if case == "no_token":
		token = None
	elif case == "garbage_token":
		token = "not.a.jwt"
	elif case == "tampered_token":
		token = team.a.token[:-4] + ("AAAA" if not team.a.token.endswith("AAAA") else "BBBB")
	elif case == "outsider":
		token = team.outsider.token
	elif case == "unknown_canvas":
		canvas_id = str(uuid.uuid4())
	elif case == "malformed_canvas_id":
		canvas_id = "not-a-uuid"
	elif case == "no_upgrade":
		del headers["Upgrade"]
		headers["Connection"] = "keep-alive"
	elif case == "bad_version":
		headers["Sec-WebSocket-Version"] = "8"
	elif case == "missing_version":
		del headers["Sec-WebSocket-Version"]
	elif case == "bad_key":
		headers["Sec-WebSocket-Key"] = "short"
	elif case == "missing_key":
		del headers["Sec-WebSocket-Key"]
	elif case == "bad_since":
		since = "abc"
	status, body = _http_upgrade(cluster.node_urls[0], wsclient.ws_path(canvas_id, token, since),
				     headers)
	assert (status, body and body.get("code")) == expected, (status, body)
	assert isinstance(body.get("detail"), str) and body["detail"], body


def test_websockets_library_sees_refusals_as_http_status(cluster, team, canvas):
	async def body():
		for base in (cluster.node_urls[1], cluster.gateway_url):
			for token, status in ((team.outsider.token, 404), ("x", 401)):
				with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
					await connect(base, canvas, team.outsider, token=token)
				assert e.value.status_code == status, (base, status, e.value)
	run(body())


def test_upgrade_through_the_gateway_syncs_and_commits(cluster, team, canvas):
	async def body():
		a = await connect(cluster.gateway_url, canvas, team.a, since=0)
		b = await connect(cluster.gateway_url, canvas, team.b)
		try:
			s = a.sync
			assert set(s) == {"type", "canvas_id", "current_version", "mode", "operations",
					  "comments", "presence", "you"}, s
			assert s["comments"] == {"seq": 0, "mode": "state", "threads": []}, s
			assert s["canvas_id"] == canvas and s["current_version"] == 0, s
			assert s["mode"] == "operations" and s["operations"] == [], s
			assert set(s["you"]) == {"user_id", "session_id", "display_name", "color",
						 "role"}, s
			assert s["you"]["user_id"] == team.a.id
			assert s["you"]["display_name"] == team.a.display_name
			assert s["you"]["role"] == "editor"
			assert b.sync["mode"] == "state" and b.sync["state"] == {"shapes": {}}, b.sync
			ack = await a.commit("create_shape", rect("g1", 1, 2))
			assert ack["version"] == 1 and ack["duplicate"] is False, ack
			await b.wait_version(1)
			assert b.ops()[0]["payload"]["shape_id"] == "g1"
		finally:
			await close_all(a, b)
		# A raw client through the gateway gets a proper 101 (RawWs checks the accept key).
		raw = RawWs(cluster.gateway_url, canvas, team.a.token, since=1)
		try:
			m = raw.recv_message()
			assert m["type"] == "sync" and m["current_version"] == 1, m
		finally:
			raw.close()
	run(body())


# ---------------------------------------------------------------------------------------------
# Acks, delivery order, idempotency.

def test_ops_are_acked_and_delivered_to_every_client_in_version_order_exactly_once(
		cluster, team, canvas, node):
	async def body():
		a = await connect(node, canvas, team.a, since=0)
		b = await connect(node, canvas, team.b, since=0)
		try:
			sent = {}
			# Pipelined: 20 single ops and one batch of 10, without waiting for acks.
			for i in range(20):
				payload = rect("s%d" % (i % 4), i, -i) if i % 3 else {"shape_id": "s%d" % (i % 4),
											"x": i, "y": i}
				op_type = "create_shape" if i % 3 else "move_shape"
				cid = await a.send_op(op_type, payload)
				sent[cid] = (op_type, payload)
			batch = []
			for i in range(10):
				cid = str(uuid.uuid4())
				payload = {"shape_id": "s%d" % (i % 4), "text": "batch %d" % i}
				batch.append({"op_type": "update_shape", "payload": payload,
					      "client_op_id": cid})
				sent[cid] = ("update_shape", payload)
			await a.send({"type": "operations", "ops": batch})
			acks = {}
			for cid in sent:
				reply = await a.wait_reply(cid)
				assert reply["type"] == "ack" and reply["duplicate"] is False, reply
				assert set(reply) == {"type", "client_op_id", "version", "duplicate"}, reply
				acks[cid] = reply["version"]
			assert sorted(acks.values()) == list(range(1, 31)), acks
			for c in (a, b):
				await c.wait_version(30)
				assert c.versions() == list(range(1, 31)), (c.label, c.versions())
				for op in c.ops():
					assert acks[op["client_op_id"]] == op["version"], op
					assert op["canvas_id"] == canvas and op["created_by"] == team.a.id, op
					assert op["type"] == sent[op["client_op_id"]][0], op
			# The batch's ops keep their order in the message.
			batch_versions = [acks[o["client_op_id"]] for o in batch]
			assert batch_versions == sorted(batch_versions), batch_versions

			# A resent client op id is acked as a duplicate with its original version, and
			# not delivered again: the next op directly follows the last one.
			first = next(iter(sent))
			start = len(a.messages)
			dup = await a.send_op(*sent[first], client_op_id=first)
			reply = await a.wait_type("ack", lambda m: m["client_op_id"] == dup, start=start)
			assert reply["duplicate"] is True and reply["version"] == acks[first], reply
			# The same id again from another connection of the same user (a retry after a
			# reconnect): the original too.
			a2 = await connect(node, canvas, team.a)
			try:
				await a2.send_op(*sent[first], client_op_id=first)
				reply = await a2.wait_reply(first)
				assert reply["type"] == "ack" and reply["duplicate"] is True, reply
				assert reply["version"] == acks[first], reply
			finally:
				await close_all(a2)
			# From another user the id is refused: a client op id belongs to its author.
			start_b = len(b.messages)
			await b.send_op(*sent[first], client_op_id=first)
			reply = await b.wait_type("error", lambda m: m.get("client_op_id") == first,
						  start=start_b)
			assert reply["code"] == "client_op_id_conflict", reply
			marker = await b.commit("create_shape", rect("marker"))
			assert marker["version"] == 31, marker
			for c in (a, b):
				await c.wait_version(31)
			await asyncio.sleep(0.3)
			for c in (a, b):
				assert c.versions() == list(range(1, 32)), (c.label, c.versions())
			assert canvas_version(canvas, team.a) == 31
		finally:
			await close_all(a, b)
	run(body())


def test_three_writers_on_three_nodes_all_receive_every_version_once_in_order_and_converge(
		cluster, team, canvas):
	rng = random.Random(20261122)
	users = [team.a, team.b, team.c]
	per_writer = 90
	plans = []
	for w in range(3):
		messages, n = [], 0
		while n < per_writer:
			k = min(rng.choice([1, 1, 1, 2, 5, 8]), per_writer - n)
			ops = []
			for _ in range(k):
				op_type, payload = random_op(rng)
				ops.append({"op_type": op_type, "payload": payload,
					    "client_op_id": str(uuid.uuid4())})
			if k == 1:
				messages.append(dict(ops[0], type="operation"))
			else:
				messages.append({"type": "operations", "ops": ops})
			n += k
		plans.append(messages)
	total = 3 * per_writer

	async def write(c, plan):
		cids = []
		for m in plan:
			await c.send(m)
			cids += [o["client_op_id"] for o in m["ops"]] if m["type"] == "operations" else \
				[m["client_op_id"]]
			await asyncio.sleep(rng.random() * 0.004)
		versions = {}
		for cid in cids:
			reply = await c.wait_reply(cid, timeout=30)
			assert reply["type"] == "ack" and not reply["duplicate"], reply
			versions[cid] = reply["version"]
		return versions

	async def body():
		clients = []
		try:
			for i, user in enumerate(users):
				clients.append(await connect(cluster.node_urls[i], canvas, user, since=0,
							     label="writer%d@node%d" % (i, i + 1)))
			# A reader through the gateway as well.
			clients.append(await connect(cluster.gateway_url, canvas, team.viewer, since=0,
						     label="viewer@gateway"))
			results = await asyncio.gather(*(write(clients[i], plans[i]) for i in range(3)))
			acked = {}
			for r in results:
				acked.update(r)
			assert sorted(acked.values()) == list(range(1, total + 1))
			for c in clients:
				await c.wait_version(total, timeout=30)
			await asyncio.sleep(0.5)  # anything duplicated late would show up now
			reference = clients[0].ops()
			for c in clients:
				assert c.versions() == list(range(1, total + 1)), (c.label, c.versions())
				assert [o["id"] for o in c.ops()] == [o["id"] for o in reference], c.label
				for op in c.ops():
					assert acked[op["client_op_id"]] == op["version"], op
			return reference
		finally:
			await close_all(*clients)

	received = run(body(), timeout=180)
	# The stream equals the log, and replaying it gives the state the server computes.
	log = list_ops(canvas, team.a)
	keys = ("id", "version", "type", "payload", "client_op_id", "created_by")
	assert [{k: o[k] for k in keys} for o in received] == [{k: o[k] for k in keys} for o in log]
	state = replay(received)
	server = get_state(canvas, team.a)
	assert server["version"] == total
	assert floats(server["shapes"]) == floats(state)
	assert len(state) > 0


# ---------------------------------------------------------------------------------------------
# Sync.

def test_sync_with_since_sends_exactly_the_missing_ops_and_without_since_the_state(
		cluster, team, canvas, node):
	w = RestWriter(node, team.a.token)
	try:
		committed = [w.commit(canvas, "create_shape", rect("s%d" % i, i, i)) for i in range(8)]
		committed.append(w.commit(canvas, "delete_shape", {"shape_id": "s0"}))
	finally:
		w.close()
	head = len(committed)

	async def body():
		for since in (0, 3, head - 1, head):
			c = await connect(node, canvas, team.b, since=since)
			try:
				s = c.sync
				assert s["mode"] == "operations" and "state" not in s, s
				assert s["current_version"] == head
				assert [o["version"] for o in s["operations"]] == list(range(since + 1, head + 1))
				assert [o["id"] for o in s["operations"]] == [o["id"] for o in committed[since:]]
			finally:
				await c.close()
		state = get_state(canvas, team.b)
		for since in (None, head + 5):  # no since, or a since from the future
			c = await connect(node, canvas, team.b, since=since)
			try:
				s = c.sync
				assert s["mode"] == "state" and "operations" not in s, s
				assert s["current_version"] == head
				assert floats(s["state"]["shapes"]) == floats(state["shapes"])
				assert "s0" not in s["state"]["shapes"] and "s7" in s["state"]["shapes"]
			finally:
				await c.close()
	run(body())


def test_sync_switches_to_state_beyond_sync_max_ops_and_live_ops_follow(cluster, team, canvas):
	head = SYNC_MAX_OPS + 5
	errors = []

	def writer(i, n):
		try:
			w = RestWriter(cluster.node_urls[i % 3], team.a.token)
			try:
				for j in range(n):
					w.commit(canvas, "create_shape", rect("w%d-%d" % (i, j % 50), j, i))
			finally:
				w.close()
		except Exception as e:  # reported below
			errors.append(e)

	shares = [head // 4 + (1 if i < head % 4 else 0) for i in range(4)]
	threads = [threading.Thread(target=writer, args=(i, n)) for i, n in enumerate(shares)]
	for t in threads:
		t.start()
	for t in threads:
		t.join(300)
	assert not errors, errors
	assert canvas_version(canvas, team.a) == head
	node = cluster.node_urls[1]

	async def body():
		state = get_state(canvas, team.b)
		# The boundary: missing exactly SYNC_MAX_OPS ops is still sent as operations.
		c = await connect(node, canvas, team.b, since=head - SYNC_MAX_OPS)
		try:
			assert c.sync["mode"] == "operations"
			assert [o["version"] for o in c.sync["operations"]] == \
				list(range(head - SYNC_MAX_OPS + 1, head + 1))
		finally:
			await c.close()
		for since in (head - SYNC_MAX_OPS - 1, 0, None):
			c = await connect(node, canvas, team.b, since=since)
			try:
				assert c.sync["mode"] == "state", (since, c.sync["mode"])
				assert c.sync["current_version"] == head
				assert floats(c.sync["state"]["shapes"]) == floats(state["shapes"])
				# Live ops follow the state, starting right after it.
				if since is None:
					ack = await c.commit("move_shape", {"shape_id": "w0-0", "x": 5, "y": 5})
					assert ack["version"] == head + 1
					await c.wait_version(head + 1)
					await roundtrip(c)
					assert c.versions() == [head + 1]
			finally:
				await c.close()
	run(body())


def test_reconnect_with_since_on_another_node_gets_the_missed_ops_then_live_ones(
		cluster, team, canvas):
	async def body():
		a = await connect(cluster.node_urls[0], canvas, team.a, since=0)
		for i in range(5):
			await a.commit("create_shape", rect("r%d" % i))
		await a.wait_version(5)
		seen = a.versions()[-1]
		await a.close()
		# Meanwhile someone else writes.
		w = RestWriter(cluster.node_urls[2], team.b.token)
		try:
			for i in range(7):
				w.commit(canvas, "move_shape", {"shape_id": "r%d" % (i % 5), "x": i, "y": i})
		finally:
			w.close()
		a2 = await connect(cluster.node_urls[1], canvas, team.a, since=seen)
		b = await connect(cluster.node_urls[2], canvas, team.b, since=12)
		try:
			assert a2.sync["mode"] == "operations"
			assert [o["version"] for o in a2.sync["operations"]] == list(range(6, 13))
			for i in range(3):
				await b.commit("delete_shape", {"shape_id": "r%d" % i})
			await a2.wait_version(15)
			await asyncio.sleep(0.3)
			assert a2.versions() == [13, 14, 15], a2.versions()
		finally:
			await close_all(a2, b)
	run(body())



def test_op_sent_right_after_sync_is_accepted(cluster, team):
	"""A client may edit as soon as it has the sync: that is its base. Fresh canvases, so each
	join also creates the node's room for the canvas."""
	async def body():
		refused = []
		for i in range(24):
			canvas = create_canvas(team.owner, team.workspace_id)["id"]
			if i % 2:
				w = RestWriter(cluster.node_urls[0], team.a.token)
				w.commit(canvas, "create_shape", rect("pre"))
				w.close()
			c = await connect(cluster.node_urls[i % 3], canvas, team.a,
					  since=None if i % 4 < 2 else 0, settle=False)
			try:
				cid = await c.send_op("create_shape", rect("x%d" % i))
				reply = await c.wait(lambda: c.reply_for(cid) or c.find("error"),
						     what="ack or error")
				if reply["type"] != "ack":
					refused.append((i, c.sync["mode"], reply))
			finally:
				await c.close()
		assert not refused, "ops sent right after the sync were refused: %r" % refused
	run(body())


# ---------------------------------------------------------------------------------------------
# Presence, cursors, strokes.

def _presence_ok(entry, user, session_id=None):
	assert set(entry) == {"user_id", "session_id", "display_name", "color", "selection"}, entry
	assert isinstance(entry["selection"], list), entry
	assert entry["user_id"] == user.id and entry["display_name"] == user.display_name, entry
	assert entry["color"].startswith("#") and len(entry["color"]) == 7, entry
	if session_id:
		assert entry["session_id"] == session_id, entry


def test_presence_join_sync_list_and_leave_are_told_once_each(cluster, team, canvas, node):
	async def body():
		a = await connect(node, canvas, team.a)
		a_sid = a.sync["you"]["session_id"]
		b = await connect(node, canvas, team.b)
		b_sid = b.sync["you"]["session_id"]
		try:
			assert a_sid != b_sid
			joined = await a.wait_type("presence_join",
						   lambda m: m["user"]["session_id"] == b_sid)
			_presence_ok(joined["user"], team.b, b_sid)
			assert joined["user"]["color"] == b.sync["you"]["color"]
			listed = {p["session_id"]: p for p in b.sync["presence"]}
			assert set(listed) == {a_sid, b_sid}, b.sync["presence"]  # B itself included
			_presence_ok(listed[a_sid], team.a, a_sid)
			assert listed[a_sid]["color"] == a.sync["you"]["color"]
			assert len(listed) == len(b.sync["presence"]), "a session listed twice"
			await roundtrip(b)
			assert not b.find("presence_join", lambda m: m["user"]["session_id"] == a_sid), \
				"B was told about A twice (sync and presence_join)"
		finally:
			await b.close()
		try:
			left = await a.wait_type("presence_leave")
			assert left == {"type": "presence_leave", "user_id": team.b.id,
					"session_id": b_sid}, left
			await roundtrip(a)
			await asyncio.sleep(0.3)
			assert len(a.of_type("presence_join")) == 1, a.of_type("presence_join")
			assert len(a.of_type("presence_leave")) == 1, a.of_type("presence_leave")
			assert not a.find("presence_join", lambda m: m["user"]["session_id"] == a_sid)
		finally:
			await a.close()
	run(body())


def test_two_tabs_of_one_user_are_two_sessions_with_one_colour(cluster, team, canvas, node):
	async def body():
		t1 = await connect(node, canvas, team.c)
		t2 = await connect(node, canvas, team.c)
		try:
			y1, y2 = t1.sync["you"], t2.sync["you"]
			assert y1["user_id"] == y2["user_id"] == team.c.id
			assert y1["session_id"] != y2["session_id"]
			assert y1["color"] == y2["color"]
			joined = await t1.wait_type("presence_join")
			_presence_ok(joined["user"], team.c, y2["session_id"])
			assert joined["user"]["color"] == y1["color"]
			sids = [p["session_id"] for p in t2.sync["presence"] if p["user_id"] == team.c.id]
			assert y1["session_id"] in sids
		finally:
			await close_all(t1, t2)
		# The colour is stable for the user, not per connection (also on another node).
		t3 = await connect(cluster.node_urls[2], canvas, team.c)
		try:
			assert t3.sync["you"]["color"] == y1["color"]
		finally:
			await t3.close()
	run(body())


def test_presence_cursors_and_ops_cross_nodes(cluster, team, canvas):
	async def body():
		a = await connect(cluster.node_urls[0], canvas, team.a, since=0)
		a_sid = a.sync["you"]["session_id"]
		b = await connect(cluster.node_urls[1], canvas, team.b, since=0)
		b_sid = b.sync["you"]["session_id"]
		try:
			await a.wait_type("presence_join", lambda m: m["user"]["session_id"] == b_sid)
			# B learns of A from its sync or, if the room had not loaded presence yet, from
			# a presence_join right after it.
			if not any(p["session_id"] == a_sid for p in b.sync["presence"]):
				m = await b.wait_type("presence_join",
						      lambda m: m["user"]["session_id"] == a_sid)
				_presence_ok(m["user"], team.a, a_sid)
			await b.send({"type": "cursor", "x": 12.5, "y": -3})
			cur = await a.wait_type("cursor")
			assert cur == {"type": "cursor", "user_id": team.b.id, "session_id": b_sid,
				       "x": 12.5, "y": -3.0}, cur
			ack = await a.commit("create_shape", rect("x"))
			await b.wait_version(ack["version"])
			assert b.ops()[-1]["client_op_id"] == ack["client_op_id"]
		finally:
			await b.close()
		try:
			left = await a.wait_type("presence_leave")
			assert left["session_id"] == b_sid and left["user_id"] == team.b.id, left
			await asyncio.sleep(0.5)
			assert len([m for m in a.of_type("presence_join")
				    if m["user"]["session_id"] == b_sid]) == 1, a.of_type("presence_join")
			assert len(a.of_type("presence_leave")) == 1, a.of_type("presence_leave")
		finally:
			await a.close()
	run(body())


def test_cursors_reach_others_not_the_sender_coalesced_to_the_latest(cluster, team, canvas,
									node):
	async def body():
		a = await connect(node, canvas, team.a)
		b = await connect(node, canvas, team.b)
		a_sid = a.sync["you"]["session_id"]
		try:
			await a.wait_type("presence_join")
			t0 = time.monotonic()
			for i in range(100):
				await a.send({"type": "cursor", "x": i, "y": 2 * i + 0.5})
			last = await b.wait_type("cursor", lambda m: m["x"] == 99)
			window = time.monotonic() - t0
			assert last == {"type": "cursor", "user_id": team.a.id, "session_id": a_sid,
					"x": 99.0, "y": 198.5}, last
			got = b.of_type("cursor")
			# Every relay happened between the first send and the arrival of the last one: in
			# that window the token bucket allows at most its burst of 3
			# (SESSION_CURSOR_BURST in node/realtime/session.c) and one relay per 1/30 s. (The
			# window, not the time the client took to send: a busy node reads the 100 messages
			# over a longer time than the client took to write them, and may relay once more.)
			bound = 3 + int(window * CURSOR_HZ)
			assert len(got) <= bound and len(got) < 100, (len(got), window)
			xs = [m["x"] for m in got]
			assert xs == sorted(xs), xs  # never an older position after a newer one
			await roundtrip(a)
			assert not a.of_type("cursor"), a.of_type("cursor")

			# A steady 200/s stream for one second is relayed at about 30/s.
			start = len(b.messages)
			t0 = time.monotonic()
			for i in range(200):
				await a.send({"type": "cursor", "x": 1000 + i, "y": 0})
				await asyncio.sleep(max(0, t0 + (i + 1) * 0.005 - time.monotonic()))
			elapsed = time.monotonic() - t0
			await b.wait_type("cursor", lambda m: m["x"] == 1199, start=start)
			n = len([m for m in b.messages[start:] if m["type"] == "cursor"])
			assert n <= elapsed * CURSOR_HZ + 3, (n, elapsed)
			assert n >= elapsed * CURSOR_HZ / 3, (n, elapsed)  # coalesced, not starved

			# Invalid cursors are answered with an error; nothing is relayed.
			for bad, code in (({"type": "cursor", "x": "1", "y": 0}, "invalid_field"),
					  ({"type": "cursor", "x": 1}, "invalid_field"),
					  ({"type": "cursor", "x": 1, "y": 2, "z": 3}, "unknown_field"),
					  ({"type": "cursor", "x": 1e300, "y": 0}, "invalid_field")):
				start_a = len(a.messages)
				await a.send(bad)
				error_ok(await a.wait_type("error", start=start_a), code)
			await roundtrip(a)
			await asyncio.sleep(0.2)
			assert b.of_type("cursor")[-1]["x"] == 1199
		finally:
			await close_all(a, b)
	run(body())


def test_strokes_are_relayed_to_others_validated_and_never_stored(cluster, team, canvas, node):
	async def body():
		a = await connect(node, canvas, team.a)
		b = await connect(node, canvas, team.b)
		a_sid = a.sync["you"]["session_id"]
		try:
			await a.wait_type("presence_join")
			await a.send({"type": "stroke", "stroke_id": "st-1", "points": [[0, 0], [1.5, 2]]})
			await a.send({"type": "stroke", "stroke_id": "st-1", "points": [[3, 4]],
				      "done": True})
			await b.wait(lambda: len(b.of_type("stroke")) == 2, what="two strokes")
			s1, s2 = b.of_type("stroke")
			assert s1 == {"type": "stroke", "user_id": team.a.id, "session_id": a_sid,
				      "stroke_id": "st-1", "points": [[0, 0], [1.5, 2]], "done": False}, s1
			assert s2["points"] == [[3, 4]] and s2["done"] is True, s2
			bad = [
				({"type": "stroke", "stroke_id": "st-2", "points": [[0]]}, "invalid_field"),
				({"type": "stroke", "stroke_id": "st-2", "points": [[0, "x"]]},
				 "invalid_field"),
				({"type": "stroke", "stroke_id": "st-2", "points": [[0, 1e12]]},
				 "invalid_field"),
				({"type": "stroke", "stroke_id": "st-2", "points": [0, 1]}, "invalid_field"),
				({"type": "stroke", "stroke_id": "st-2", "points": [[0, 0]] * 513},
				 "invalid_field"),
				({"type": "stroke", "stroke_id": "", "points": []}, "invalid_field"),
				({"type": "stroke", "stroke_id": "x" * 65, "points": []}, "invalid_field"),
				({"type": "stroke", "points": [[0, 0]]}, "invalid_field"),
				({"type": "stroke", "stroke_id": "st-2", "points": [], "done": "yes"},
				 "invalid_field"),
				({"type": "stroke", "stroke_id": "st-2", "points": [], "color": "red"},
				 "unknown_field"),
			]
			for msg, code in bad:
				start = len(a.messages)
				await a.send(msg)
				error_ok(await a.wait_type("error", start=start), code)
			# 512 points is the limit, not above it.
			await a.send({"type": "stroke", "stroke_id": "st-3", "points": [[1, 1]] * 512})
			await b.wait(lambda: len(b.of_type("stroke")) == 3, what="third stroke")
			await roundtrip(a)
			await asyncio.sleep(0.2)
			assert len(b.of_type("stroke")) == 3
			assert not a.of_type("stroke"), "strokes are not echoed to their sender"
		finally:
			await close_all(a, b)
		assert canvas_version(canvas, team.a) == 0
		assert cluster.psql("SELECT count(*) FROM operations WHERE canvas_id = '%s'"
				    % canvas).strip() == "0"
	run(body())


# ---------------------------------------------------------------------------------------------
# Errors keep the socket open.

def test_bad_messages_get_errors_and_the_socket_stays_open(cluster, team, canvas, node):
	cid = lambda: str(uuid.uuid4())  # noqa: E731

	async def body():
		a = await connect(node, canvas, team.a, since=0)
		try:
			c1, c2, c3, c4, c5 = cid(), cid(), cid(), cid(), cid()
			cases = [
				("not json", "malformed_json", None),
				('{"type":"ping","type":"ping"}', "malformed_json", None),
				("[1, 2]", "invalid_message", None),
				# Valid JSON that is not an object; jansson's decoder calls it malformed.
				('"operation"', ("invalid_message", "malformed_json"), None),
				({"x": 1}, "invalid_message", None),
				({"type": 5}, "invalid_message", None),
				({"type": "dance"}, "unknown_type", None),
				({"type": "operation", "op_type": "create_shape", "payload": rect("e")},
				 "invalid_field", None),
				({"type": "operation", "op_type": "create_shape", "payload": rect("e"),
				  "client_op_id": "not-a-uuid"}, "invalid_field", None),
				({"type": "operation", "op_type": "explode_shape", "payload": rect("e"),
				  "client_op_id": c1}, "unknown_op_type", c1),
				({"type": "operation", "op_type": "create_shape", "client_op_id": c2},
				 "missing_field", c2),
				({"type": "operation", "op_type": "create_shape",
				  "payload": dict(rect("e"), kind="blob"), "client_op_id": c3},
				 "invalid_field", c3),
				({"type": "operation", "op_type": "create_shape",
				  "payload": dict(rect("e"), colour="red"), "client_op_id": c4},
				 "unknown_field", c4),
				({"type": "operation", "op_type": "create_shape", "payload": rect("e"),
				  "client_op_id": c5, "extra": 1}, "unknown_field", c5),
				({"type": "operations", "ops": []}, "invalid_field", None),
				({"type": "operations", "ops": {}}, "invalid_field", None),
				({"type": "operations"}, "invalid_field", None),
				({"type": "operations", "ops": [
					{"op_type": "create_shape", "payload": rect("big%d" % i),
					 "client_op_id": cid()} for i in range(MAX_OPS_PER_MESSAGE + 1)]},
				 "too_many_ops", None),
			]
			for msg, code, expect_cid in cases:
				start = len(a.messages)
				await a.send(msg)
				m = await a.wait_type("error", start=start)
				error_ok(m, code)
				if expect_cid:
					assert m.get("client_op_id") == expect_cid, m
				await roundtrip(a)
			assert canvas_version(canvas, team.a) == 0, "an invalid message committed"

			# A batch commits its valid ops and names the invalid ones.
			good1, bad1, good2 = cid(), cid(), cid()
			start = len(a.messages)
			await a.send({"type": "operations", "ops": [
				{"op_type": "create_shape", "payload": rect("ok1"), "client_op_id": good1},
				{"op_type": "move_shape", "payload": {"shape_id": "ok1", "x": "far"},
				 "client_op_id": bad1},
				7,
				{"op_type": "create_shape", "payload": rect("ok2"), "client_op_id": good2}]})
			assert (await a.wait_reply(good1))["type"] == "ack"
			assert (await a.wait_reply(good2))["type"] == "ack"
			assert (await a.wait_reply(bad1))["type"] == "error"
			await a.wait(lambda: len([m for m in a.messages[start:]
						  if m["type"] == "error"]) == 2, what="two errors")
			# Exactly MAX_OPS_PER_MESSAGE ops in one message is fine.
			ids = [cid() for _ in range(MAX_OPS_PER_MESSAGE)]
			await a.send({"type": "operations", "ops": [
				{"op_type": "create_shape", "payload": rect("m%d" % i), "client_op_id": i_}
				for i, i_ in enumerate(ids)]})
			versions = [(await a.wait_reply(i_))["version"] for i_ in ids]
			assert versions == list(range(3, 3 + MAX_OPS_PER_MESSAGE)), versions
			ack = await a.commit("create_shape", rect("after"))
			head = 3 + MAX_OPS_PER_MESSAGE
			assert ack["version"] == head
			await a.wait_version(head)
			assert a.versions() == list(range(1, head + 1))
			assert canvas_version(canvas, team.a) == head
			assert not a.finished
		finally:
			await a.close()
	run(body())


def test_viewer_receives_ops_but_cannot_write(cluster, team, canvas, node):
	async def body():
		v = await connect(node, canvas, team.viewer, since=0)
		a = await connect(node, canvas, team.a, since=0)
		try:
			assert v.sync["you"]["role"] == "viewer"
			c1 = await v.send_op("create_shape", rect("v"))
			error_ok(await v.wait_reply(c1), "forbidden")
			c2 = str(uuid.uuid4())
			start = len(v.messages)
			await v.send({"type": "operations", "ops": [
				{"op_type": "create_shape", "payload": rect("v"), "client_op_id": c2}]})
			error_ok(await v.wait_type("error", start=start), "forbidden")
			for kind in ("undo", "redo"):
				start = len(v.messages)
				await v.send({"type": kind})
				error_ok(await v.wait_type("error", start=start), "forbidden")
			ack = await a.commit("create_shape", rect("a"))
			await v.wait_version(ack["version"])
			assert v.versions() == [1]
			await roundtrip(v)
		finally:
			await close_all(v, a)
		assert canvas_version(canvas, team.a) == 1
		ops = list_ops(canvas, team.a)
		assert [o["created_by"] for o in ops] == [team.a.id]
	run(body())


# ---------------------------------------------------------------------------------------------
# Undo and redo over the socket.

def test_undo_and_redo_over_the_socket_commit_forward_ops_delivered_to_all(
		cluster, team, canvas, node):
	async def body():
		a = await connect(node, canvas, team.a, since=0)
		b = await connect(node, canvas, team.b, since=0)
		try:
			# The undo is sent right behind the op, without waiting for its ack: it must
			# undo that op, not the step before it.
			cid = await a.send_op("create_shape", rect("u1", 5, 6))
			start = len(a.messages)
			await a.send({"type": "undo"})
			ack = await a.wait_reply(cid)
			assert ack["type"] == "ack" and ack["version"] == 1, ack
			undo = await a.wait_type("undo", start=start)
			assert undo["applied"] is True, undo
			assert undo["version"] == 2, undo
			assert undo["operation"]["version"] == 2, undo
			assert undo["operation"]["type"] == "delete_shape", undo
			assert undo["operation"]["payload"]["shape_id"] == "u1", undo
			for c in (a, b):
				await c.wait_version(2)
				assert c.versions() == [1, 2]
				assert c.ops()[1]["id"] == undo["operation"]["id"]
			assert "u1" not in get_state(canvas, team.a)["shapes"]

			start = len(a.messages)
			await a.send({"type": "redo"})
			redo = await a.wait_type("redo", start=start)
			assert redo["applied"] is True and redo["operation"]["version"] == 3, redo
			assert redo["operation"]["type"] == "create_shape", redo
			for c in (a, b):
				await c.wait_version(3)
				assert c.versions() == [1, 2, 3]
			shapes = get_state(canvas, team.a)["shapes"]
			assert floats(shapes["u1"]["x"]) == 5.0, shapes

			# B has nothing to undo: answered, nothing committed.
			start = len(b.messages)
			await b.send({"type": "undo"})
			nothing = await b.wait_type("undo", start=start)
			assert nothing["applied"] is False, nothing
			await roundtrip(a)
			assert canvas_version(canvas, team.a) == 3
			assert a.versions() == [1, 2, 3]
		finally:
			await close_all(a, b)
	run(body())


# ---------------------------------------------------------------------------------------------
# Limits on the tuned node.

def test_rate_limit_rejects_ops_over_the_token_bucket_and_refills(cluster, team, canvas, tuned):
	async def body():
		a = await connect(tuned.url, canvas, team.a, since=0)
		try:
			cids = [str(uuid.uuid4()) for _ in range(20)]
			for i, c in enumerate(cids):
				await a.send_op("create_shape", rect("r%d" % i), c)
			replies = [await a.wait_reply(c) for c in cids]
			acked = [r for r in replies if r["type"] == "ack"]
			limited = [r for r in replies if r["type"] == "error"]
			for r in limited:
				error_ok(r, "rate_limited")
				assert "5 operations per second" in r["detail"], r
			assert 5 <= len(acked) <= 8, replies
			assert len(acked) + len(limited) == 20
			assert [r["version"] for r in acked] == list(range(1, len(acked) + 1))
			await a.wait_version(len(acked))
			assert canvas_version(canvas, team.a) == len(acked)
			logged = {o["client_op_id"] for o in list_ops(canvas, team.a)}
			assert logged == {r["client_op_id"] for r in acked}
			# The bucket refills at 5/s.
			await asyncio.sleep(1.2)
			ack = await a.commit("create_shape", rect("later"))
			assert ack["version"] == len(acked) + 1
		finally:
			await a.close()
	run(body())


def bloated(shape_id, i):
	"""A create_shape of about 21 KB once normalized (9,000 bytes of text and 300 points with
	17 significant digits): a handful of them passes the tuned node's 64 KiB hard limit."""
	rng = random.Random(i)
	return {"shape_id": shape_id, "kind": "path", "x": i, "y": 0, "text": "x" * 9000,
		"points": [[rng.random(), rng.random()] for _ in range(300)]}



@pytest.mark.parametrize("talks_after_close", [False, True],
			 ids=["silent_after_close", "talks_after_close"])
def test_slow_client_is_closed_with_1013_and_loses_nothing_on_reconnect(
		cluster, team, canvas, tuned, talks_after_close):
	"""A client that keeps its socket (it still sends pings) but stops reading: once the
	kernel buffers are full the node stops queueing ops for it (it lags), and when it has taken
	no byte for FLOWSTATE_WS_STALL_TIMEOUT it is closed with 1013, its queued data dropped, so
	the close frame comes right after what the socket buffers already hold: it sees the close
	frame, not a bare EOF. A fast client on the same canvas misses nothing, and the slow one
	reconnects with since (through the gateway) and gets every op it missed.
	talks_after_close: the client goes on sending (it answers the server's pings, as browsers
	do) while it reads the backlog; it must still get the backlog and the close frame, which
	a close with unread input would turn into a TCP reset that drops both."""
	stop = threading.Event()
	committed = []

	def write():
		w = RestWriter(tuned.url, team.c.token)
		try:
			for i in range(2000):
				if stop.is_set():
					return
				committed.append(w.commit(canvas, "create_shape", bloated("b%d" % (i % 10), i))
						 ["version"])
		finally:
			w.close()

	async def body():
		loop = asyncio.get_running_loop()
		fast = await connect(tuned.url, canvas, team.b, since=0, label="fast")
		slow = RawWs(tuned.url, canvas, team.a.token, since=0, rcvbuf=4096)
		writer = None
		try:
			sync = slow.recv_message()
			assert sync["type"] == "sync" and sync["current_version"] == 0, sync
			log_start = len(tuned.log_text())
			writer = loop.run_in_executor(None, write)
			rx = re.compile(r"ws_close session=\d+ canvas=%s code=(\d+)" % canvas)
			deadline = loop.time() + 60
			last_ping = 0
			while True:
				m = rx.search(tuned.log_text()[log_start:])
				if m:
					break
				assert not writer.done(), "2000 ops (40 MB) written, slow client still open"
				assert loop.time() < deadline, "slow client not closed within 60 s"
				if loop.time() - last_ping > 0.5:
					slow.send_frame(OP_PING, b"alive")  # it talks, it just does not read
					last_ping = loop.time()
				await asyncio.sleep(0.02)
			stop.set()
			assert m.group(1) == "1013", m.group(0)
			# Read what the server flushed before its close frame (it waits 5 s for that).
			if talks_after_close:
				slow.send_frame(OP_PING, b"still here")
			messages, code = await loop.run_in_executor(None, slow.read_until_close,
								    talks_after_close)
			assert code == 1013, (code, len(messages), slow.end_reason)
			# (A presence_join of the fast client may come first: it can turn visible after
			# the slow one joined.)
			assert {m["type"] for m in messages} <= {"operation", "operations",
								 "presence_join"}, [m["type"] for m in messages]
			versions = []
			for m in messages:
				if m["type"] == "operation":
					versions.append(m["operation"]["version"])
				elif m["type"] == "operations":
					versions += [o["version"] for o in m["operations"]]
			assert versions == list(range(1, len(versions) + 1)), versions
			await writer
			total = len(committed)
			assert committed == list(range(1, total + 1))
			assert len(versions) < total
			# The fast client was not affected.
			await fast.wait_version(total, timeout=60)
			assert fast.versions() == list(range(1, total + 1))
			assert not fast.finished
			# The slow one reconnects with since and gets exactly the ops it missed.
			seen = versions[-1] if versions else 0
			again = await connect(cluster.gateway_url, canvas, team.a, since=seen,
					      label="slow-again")
			try:
				assert again.sync["mode"] == "operations"
				got = [o["version"] for o in again.sync["operations"]]
				assert got == list(range(seen + 1, total + 1)), got
				assert all(len(o["payload"]["points"]) == 300
					   for o in again.sync["operations"])
			finally:
				await again.close()
		finally:
			stop.set()
			if writer is not None:
				await asyncio.wait_for(asyncio.shield(writer), 120)
			slow.close()
			await fast.close()
	run(body(), timeout=180)



def _big_canvas(tuned, team, canvas, n=5):
	"""n bloated shapes: a state (and a list of missing ops) well over 64 KiB."""
	w = RestWriter(tuned.url, team.c.token)
	try:
		for i in range(n):
			w.commit(canvas, "create_shape", bloated("big%d" % i, i))
	finally:
		w.close()


def test_sync_larger_than_the_hard_limit_is_still_delivered(cluster, team, canvas, tuned):
	"""The output limits are for clients that fall behind, not for the size of one message: a
	client joining a canvas whose state (or missing ops) exceeds FLOWSTATE_WS_HARD_LIMIT must
	still get its sync, or it could never join."""
	_big_canvas(tuned, team, canvas)

	async def body():
		for since in (None, 0):
			c = await connect(tuned.url, canvas, team.a, since=since)
			try:
				assert c.sync["current_version"] == 5
			finally:
				await c.close()
	run(body())


def test_pongs_owed_to_a_client_that_does_not_read_are_bounded_too(cluster, team, canvas, tuned):
	"""Every output is bounded (DESIGN §7): a client that floods pings and never reads must not
	make the node queue pongs without limit. It may be closed, or its input throttled; what it
	must not get is every one of ~39 MB of pongs back."""
	raw = RawWs(tuned.url, canvas, team.a.token, rcvbuf=4096)
	try:
		assert raw.recv_message(False)["type"] == "sync"
		chunk = build_frame(OP_PING, b"p" * 125) * 1000  # 131 KB: 1,000 pings
		sent = 0
		raw.sock.settimeout(5)
		try:
			for _ in range(300):
				raw.sock.sendall(chunk)
				sent += 1000
		except (socket.timeout, BrokenPipeError, ConnectionResetError):
			pass  # throttled or closed: both bound the output
		pongs, code = 0, None
		raw.sock.settimeout(10)
		try:
			while True:
				fin, opcode, payload = raw.recv_frame()
				if opcode == OP_PONG:
					pongs += 1
				elif opcode == OP_CLOSE:
					code = struct.unpack("!H", payload[:2])[0]
					break
		except (wsclient.EndOfStream, ConnectionResetError, socket.timeout):
			pass
		assert pongs * 127 < 12 * 1024 * 1024, (sent, pongs, code)
	finally:
		raw.close()


def test_server_pings_keep_a_quiet_client_open_and_a_mute_one_is_closed(cluster, team, canvas,
									  tuned):
	"""The tuned node pings every second and closes a client silent for 4 s: a client that
	answers pings (the websockets library does, by itself) stays, a socket that answers
	nothing is closed with 1008."""
	async def body():
		quiet = await connect(tuned.url, canvas, team.a)
		mute = RawWs(tuned.url, canvas, team.b.token)
		try:
			assert mute.recv_message()["type"] == "sync"

			def listen():
				pings, t0 = 0, time.monotonic()
				while True:
					try:
						fin, opcode, payload = mute.recv_frame()
					except wsclient.EndOfStream:
						return pings, None, time.monotonic() - t0
					if opcode == OP_PING:
						pings += 1
					elif opcode == OP_CLOSE:
						code = struct.unpack("!H", payload[:2])[0]
						return pings, code, time.monotonic() - t0

			mute.sock.settimeout(20)
			pings, code, after = await asyncio.get_running_loop().run_in_executor(None, listen)
			assert code == 1008, (pings, code, after)
			assert pings >= 1, (pings, after)  # the node pinged it before giving up
			assert 3.0 <= after <= 9.0, after
			# Six seconds idle by now: the quiet client is still open and usable.
			assert not quiet.finished, (quiet.close_code, quiet.close_reason)
			await asyncio.sleep(1.5)
			await roundtrip(quiet)
		finally:
			mute.close()
			await quiet.close()
	run(body())


def test_stopping_a_node_closes_its_websockets_with_1001(cluster, team, canvas):
	extra = ExtraNode(cluster, "wsdrain", {})
	try:
		extra.start()
	except BaseException:
		extra.stop()
		raise
	try:
		async def body():
			c = await connect(extra.url, canvas, team.a)
			raw = RawWs(extra.url, canvas, team.b.token)
			try:
				assert raw.recv_message()["type"] == "sync"
				stopping = asyncio.get_running_loop().run_in_executor(None, extra.stop)
				code = await c.wait_closed(timeout=20)
				assert code == 1001, (code, c.close_reason)
				messages, raw_code = await asyncio.get_running_loop().run_in_executor(
					None, raw.read_until_close)
				assert raw_code == 1001, (raw_code, messages)
				await stopping
			finally:
				raw.close()
				await c.close()
		run(body())
	finally:
		_stop_checked(extra)


# ---------------------------------------------------------------------------------------------
# Protocol violations over a raw socket.

def _violations():
	ping = b'{"type":"ping"}'
	return [
		("binary_message", build_frame(OP_BINARY, b"\x00\x01\x02"), 1003),
		("invalid_utf8", build_frame(OP_TEXT, b'{"type":"ping","x":"\xff"}'), 1007),
		("overlong_utf8", build_frame(OP_TEXT, b'{"type":"ping","x":"\xc0\xaf"}'), 1007),
		("utf16_surrogate", build_frame(OP_TEXT, b'{"type":"ping","x":"\xed\xa0\x80"}'), 1007),
		("utf8_cut_by_message_end",
		 build_frame(OP_TEXT, b'"\xe2\x82', fin=False) + build_frame(OP_CONT, b""), 1007),
		("invalid_utf8_in_close_reason",
		 build_frame(OP_CLOSE, struct.pack("!H", 1000) + b"\xff"), 1007),
		# Only the head of the oversized part is sent: the server must refuse on the length.
		("frame_over_max_message",
		 build_frame(OP_TEXT, b"", length=MAX_MESSAGE + 1) + b"x" * 100, 1009),
		("fragments_over_max_message",
		 build_frame(OP_TEXT, b"a" * 40000, fin=False)
		 + build_frame(OP_CONT, b"", length=30000) + b"y" * 10, 1009),
		("unmasked_frame", build_frame(OP_TEXT, ping, mask=False), 1002),
		("reserved_opcode", build_frame(0x3, ping), 1002),
		("reserved_control_opcode", build_frame(0xB, b""), 1002),
		("rsv_bits", build_frame(OP_TEXT, ping, rsv=4), 1002),
		("long_control_frame", build_frame(OP_PING, b"p" * 126), 1002),
		("fragmented_control_frame", build_frame(OP_PING, b"p", fin=False), 1002),
		("continuation_outside_message", build_frame(OP_CONT, ping), 1002),
		("new_message_inside_fragmented_one",
		 build_frame(OP_TEXT, b'{"type":', fin=False) + build_frame(OP_TEXT, ping), 1002),
		("non_minimal_length", bytes([0x81, 0x80 | 126, 0, 5]) + b"\0\0\0\0" + b"hello", 1002),
		("close_with_one_byte", build_frame(OP_CLOSE, b"\x03"), 1002),
		("close_code_1005_on_the_wire", build_frame(OP_CLOSE, struct.pack("!H", 1005)), 1002),
	]


@pytest.mark.parametrize("name,data,code", _violations(), ids=[v[0] for v in _violations()])
def test_protocol_violation_closes_with_rfc_code(cluster, team, canvas, node, name, data, code):
	raw = RawWs(node, canvas, team.a.token)
	try:
		sync = raw.recv_message()
		assert sync["type"] == "sync"
		raw.send_raw(data)
		messages, got = raw.read_until_close()
		assert got == code, (name, got, messages)
		assert messages == [], messages  # no error message first: a close frame
		assert raw.at_eof(timeout=8), "the server kept the TCP connection after its close"
		assert raw.after_close == b"", raw.after_close
	finally:
		raw.close()


def test_fragmented_text_and_client_pings_are_handled_per_rfc(cluster, team, canvas, node):
	raw = RawWs(node, canvas, team.a.token)
	try:
		assert raw.recv_message()["type"] == "sync"
		# A ping is answered with a pong carrying the same payload, even mid-message.
		raw.send_frame(OP_TEXT, b'{"type"', fin=False)
		raw.send_frame(OP_PING, b"hello")
		raw.send_frame(OP_CONT, b':"pi', fin=False)
		raw.send_frame(OP_CONT, b'ng"}')
		fin, opcode, payload = raw.recv_frame()
		assert (fin, opcode, payload) == (True, OP_PONG, b"hello")
		assert raw.recv_message() == {"type": "pong"}
		# Multi-byte UTF-8 split across fragments is fine.
		text = json.dumps({"type": "dance", "x": "h\u00e9llo \u2713"}, ensure_ascii=False).encode()
		cut = text.index("\u2713".encode()) + 1
		raw.send_frame(OP_TEXT, text[:cut], fin=False)
		raw.send_frame(OP_CONT, text[cut:])
		m = raw.recv_message()
		assert m["type"] == "error" and m["code"] == "unknown_type", m
		# A client close is echoed with its code, then the server closes the connection.
		raw.send_frame(OP_CLOSE, struct.pack("!H", 4001) + b"bye")
		messages, code = raw.read_until_close()
		assert (messages, code) == ([], 4001)
		assert raw.at_eof(timeout=8)
		assert raw.after_close == b"", raw.after_close
	finally:
		raw.close()
