"""Silent partitions (issue 9 §1): a link that stops delivering packets without closing anything,
between a node and Postgres and between a node and Redis, made with the harness's TCP fault
proxy (flowstate.faultproxy: pass, black hole, reset, delay).

Each test runs an extra node whose Postgres (or Redis) address is the proxy's, with short
deadlines; the session cluster's own nodes keep their direct links. What must hold:
bounded answers (a request through a silent link fails retryable, it does not hang),
truthful readiness (answered at once, not ready / degraded while the link is silent), recovery
by itself when the link heals, and nothing lost or duplicated.
"""

import asyncio
import random
import re
import threading
import time
import uuid

import pytest

import helpers
from flowstate.api import request
from flowstate.cluster import Address
from flowstate.faultproxy import FaultProxy
from helpers import RestWriter, make_team, rect
from wsclient import ExtraNode, connect, run

DB_TIMEOUT_MS = 3000        # FLOWSTATE_DB_QUERY_TIMEOUT_MS of the node behind the proxy
HEARTBEAT_MS = 200          # FLOWSTATE_BUS_HEARTBEAT_MS of the node behind the Redis proxy
BUS_DEAD_MS = 1000          # FLOWSTATE_BUS_DEAD_MS


def wait_until(pred, timeout, what):
	deadline = time.monotonic() + timeout
	while True:
		value = pred()
		if value:
			return value
		if time.monotonic() > deadline:
			raise AssertionError("no %s within %.0f s" % (what, timeout))
		time.sleep(0.1)


def readyz(url):
	"""/readyz must answer from what the node already knows: a client timeout well under the
	node's query deadline tells an answer from a wait on a query."""
	r = request("GET", url + "/readyz", timeout=DB_TIMEOUT_MS / 1000 * 0.8)
	return r.status, r.json()


def metric(url, name):
	r = request("GET", url + "/metrics")
	m = re.search(r"^%s (\S+)$" % re.escape(name), r.text, re.M)
	return float(m.group(1)) if m else None


def started_behind(cluster, service, proxy, name, overrides):
	"""An extra node that reaches `service` through proxy (the route applies to nodes started
	while it is set; the session cluster's nodes keep their own links)."""
	cluster.route(service, Address(proxy.host, proxy.port))
	try:
		node = ExtraNode(cluster, name, overrides)
		try:
			node.start()
		except BaseException:
			node.stop()
			raise
	finally:
		cluster.route(service, None)
	return node


def stop_checked(node):
	code = node.stop()
	reports = node.sanitizer_reports()
	assert not reports, "sanitizer report in %s:\n%s" % (node.log, reports[0][1])
	assert code == 0, "%s exited %s after SIGTERM" % (node.name, code)


@pytest.fixture(scope="module")
def pg_proxy(cluster):
	proxy = FaultProxy(cluster.service("postgres").address, name="postgres").start()
	yield proxy
	proxy.stop()


@pytest.fixture(scope="module")
def pg_node(cluster, pg_proxy):
	node = started_behind(cluster, "postgres", pg_proxy, "pgproxied",
			      {"FLOWSTATE_DB_QUERY_TIMEOUT_MS": str(DB_TIMEOUT_MS),
			       "FLOWSTATE_DB_POOL_SIZE": "2",
			       # No background reads of quiet canvases: the tests count and time
			       # the node's reads through the partition themselves.
			       "FLOWSTATE_SNAPSHOT_QUIET_MS": "0"})
	yield node
	pg_proxy.pass_()
	stop_checked(node)


@pytest.fixture(scope="module")
def redis_proxy(cluster):
	proxy = FaultProxy(cluster.service("redis").address, name="redis").start()
	yield proxy
	proxy.stop()


@pytest.fixture(scope="module")
def redis_node(cluster, redis_proxy):
	node = started_behind(cluster, "redis", redis_proxy, "redisproxied",
			      {"FLOWSTATE_BUS_HEARTBEAT_MS": str(HEARTBEAT_MS),
			       "FLOWSTATE_BUS_DEAD_MS": str(BUS_DEAD_MS),
			       "FLOWSTATE_HEAD_CHECK_MS": "300"})
	yield node
	redis_proxy.pass_()
	stop_checked(node)


@pytest.fixture
def team(cluster):
	t = make_team({"writer": "editor"})
	t.canvas = helpers.create_canvas(t.owner, t.workspace_id)["id"]
	return t


def post_op(base, user, canvas_id, payload, client_op_id, timeout=30.0):
	return helpers.api("POST", "/api/v1/canvases/%s/operations" % canvas_id,
			   {"type": "create_shape", "payload": payload, "client_op_id": client_op_id},
			   token=user.token, base=base, timeout=timeout)


def assert_log_exactly_once(cluster, canvas_id, client_op_ids):
	"""Postgres holds versions 1..head without a gap, and each client op id once."""
	text = cluster.psql("SELECT version, client_op_id FROM operations WHERE canvas_id = '%s' "
			    "ORDER BY version" % canvas_id)
	rows = [line.split("|") for line in text.splitlines() if line]
	versions = [int(r[0]) for r in rows]
	assert versions == list(range(1, len(versions) + 1)), versions
	ids = [r[1] for r in rows]
	assert len(ids) == len(set(ids)), ids
	for cid in client_op_ids:
		assert ids.count(cid) == 1, (cid, ids)
	return len(versions)


# ---------------------------------------------------------------------------------------------
# Postgres.

def test_the_node_behind_the_proxy_uses_keepalives_and_tcp_user_timeout(pg_node):
	"""libpq's connections carry TCP keepalives and tcp_user_timeout = the query deadline, so
	the kernel also gives up on a peer that went silent (the node logs what the socket has)."""
	rx = re.compile(r"db_connected .*keepalive=(\d+) tcp_user_timeout_ms=(\d+)")
	m = wait_until(lambda: rx.search(pg_node.log_text()), 30, "a db_connected line")
	assert m.group(1) == "1" and int(m.group(2)) == DB_TIMEOUT_MS, m.group(0)


def test_a_silent_postgres_link_fails_requests_retryable_and_readiness_says_so(
		cluster, team, pg_proxy, pg_node):
	wait_until(lambda: readyz(pg_node.url)[0] == 200, 30, "ready before the partition")
	writer, canvas = team.writer, team.canvas

	async def body():
		ws = await connect(pg_node.url, canvas, writer, since=0, label="ws@proxied")
		try:
			status, first = post_op(pg_node.url, writer, canvas, rect("before"),
						str(uuid.uuid4()))
			assert status == 201, first
			await ws.wait_version(1)

			pg_proxy.blackhole()
			# REST: the commit is answered, retryable, instead of hanging.
			lost_id = str(uuid.uuid4())
			t0 = time.monotonic()
			status, body_ = post_op(pg_node.url, writer, canvas, rect("during"), lost_id)
			rest_s = time.monotonic() - t0
			helpers.assert_error(status, body_, 503, "unavailable")
			# WebSocket: an error naming the op, retryable.
			ws_id = str(uuid.uuid4())
			start = len(ws.messages)
			await ws.send_op("create_shape", rect("ws-during"), ws_id)
			err = await ws.wait_type("error", lambda m: m.get("client_op_id") == ws_id,
						 start=start, timeout=DB_TIMEOUT_MS / 1000 * 4)
			assert err["code"] == "unavailable" and err["retryable"] is True, err
			# Readiness: answered at once (readyz's own timeout), and not ready.
			status, ready = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(
				readyz(pg_node.url)), 15, "/readyz 503 during the partition")
			assert ready["postgres"] == "unreachable" and ready["status"] == "not_ready", ready
			assert metric(pg_node.url, "flowstate_db_reachable") == 0
			assert metric(pg_node.url, "flowstate_db_timeouts_total") >= 1

			pg_proxy.pass_()
			wait_until(lambda: readyz(pg_node.url)[0] == 200, 30, "ready after the partition")
			# Retrying with the same client op ids is safe: each commits exactly once.
			status, again = post_op(pg_node.url, writer, canvas, rect("during"), lost_id)
			assert status in (200, 201), again
			await ws.send_op("create_shape", rect("ws-during"), ws_id)
			ack = await ws.wait_type("ack", lambda m: m["client_op_id"] == ws_id,
						 timeout=20)
			head = assert_log_exactly_once(cluster, canvas, [lost_id, ws_id])
			await ws.wait_version(head, timeout=20)
			assert ws.versions() == list(range(1, head + 1)), ws.versions()
			return rest_s, ack
		finally:
			await ws.close()

	rest_s, _ = run(body(), timeout=180)
	print("silent Postgres link: REST 503 after %.2f s (deadline %d ms)" % (rest_s, DB_TIMEOUT_MS))


def test_a_reset_postgres_link_fails_at_once_and_recovers(cluster, team, pg_proxy, pg_node):
	wait_until(lambda: readyz(pg_node.url)[0] == 200, 30, "ready before the reset")
	writer, canvas = team.writer, team.canvas
	pg_proxy.reset()
	try:
		op_id = str(uuid.uuid4())
		status, body = post_op(pg_node.url, writer, canvas, rect("reset"), op_id)
		helpers.assert_error(status, body, 503, "unavailable")
		status, ready = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(
			readyz(pg_node.url)), 15, "/readyz 503 while connections are refused")
		assert ready["postgres"] == "unreachable", ready
	finally:
		pg_proxy.pass_()
	wait_until(lambda: readyz(pg_node.url)[0] == 200, 30, "ready after the reset")
	status, body = post_op(pg_node.url, writer, canvas, rect("reset"), op_id)
	assert status in (200, 201), body
	assert_log_exactly_once(cluster, canvas, [op_id])


def test_a_big_state_read_by_a_worker_is_bounded_by_the_query_deadline(
		cluster, team, pg_proxy, pg_node):
	"""A state too large for the loop is read by a canvas worker on a connection of its own
	(node/store/state.c, db_fetch). That connection has the pool's deadline too: with a link
	that leaves new connections unanswered (the pool's open ones keep working), GET /state is
	answered 503 retryable within it, the loop serves meanwhile, and once the link heals the
	same read answers the state."""
	wait_until(lambda: readyz(pg_node.url)[0] == 200, 30, "ready before the partition")
	rng = random.Random(9)
	canvas = helpers.create_canvas(team.owner, team.workspace_id)["id"]
	for i in range(3):
		pts = [[round(rng.uniform(-1e5, 1e5), 3), round(rng.uniform(-1e5, 1e5), 3)]
		       for _ in range(4000)]
		status, op = post_op(pg_node.url, team.writer, canvas,
				     {"shape_id": "p%d" % i, "kind": "path", "x": 0, "y": 0,
				      "points": pts}, str(uuid.uuid4()))
		assert status == 201, op
	path = helpers.state_path(canvas)
	fetches = metric(pg_node.url, "flowstate_state_worker_fetches_total")
	pg_proxy.blackhole_new()
	try:
		answer = {}

		def read():
			t0 = time.monotonic()
			answer["status"], answer["body"] = helpers.api("GET", path, token=team.writer.token,
									base=pg_node.url, timeout=30)
			answer["s"] = time.monotonic() - t0

		reader = threading.Thread(target=read)
		reader.start()
		probes = []
		while reader.is_alive():
			t0 = time.monotonic()
			r = request("GET", pg_node.url + "/healthz", timeout=2)
			probes.append((r.status, time.monotonic() - t0))
			time.sleep(0.1)
		reader.join()
	finally:
		pg_proxy.pass_()
	helpers.assert_error(answer["status"], answer["body"], 503, "unavailable")
	assert DB_TIMEOUT_MS / 1000 * 0.9 <= answer["s"] < DB_TIMEOUT_MS / 1000 + 2.5, answer["s"]
	assert len(probes) >= 10 and all(status == 200 for status, _ in probes), probes
	assert max(s for _, s in probes) < 1.0, probes
	state = helpers.get_state(canvas, team.writer, base=pg_node.url)
	assert sorted(state["shapes"]) == ["p0", "p1", "p2"]
	assert len(state["shapes"]["p2"]["points"]) == 4000
	assert metric(pg_node.url, "flowstate_state_worker_fetches_total") == fetches + 2
	print("big state under a silent link for new connections: 503 after %.2f s (deadline %d ms)"
	      % (answer["s"], DB_TIMEOUT_MS))


def test_a_slow_postgres_link_stays_ready_and_answers(cluster, team, pg_proxy, pg_node):
	"""200 ms each way: slower, but within every deadline: ready, and every commit succeeds."""
	wait_until(lambda: readyz(pg_node.url)[0] == 200, 30, "ready before the delay")
	writer, canvas = team.writer, team.canvas
	pg_proxy.delay(0.2)
	try:
		ids = [str(uuid.uuid4()) for _ in range(5)]
		for i, op_id in enumerate(ids):
			status, body = post_op(pg_node.url, writer, canvas, rect("slow%d" % i), op_id)
			assert status == 201, body
		time.sleep(2)  # past the probe period: readiness reflects the delayed answers
		status, ready = readyz(pg_node.url)
		assert status == 200 and ready["postgres"] == "ok", ready
	finally:
		pg_proxy.pass_()
	assert assert_log_exactly_once(cluster, canvas, ids) == 5


# ---------------------------------------------------------------------------------------------
# Redis.

def test_a_silent_redis_link_turns_readiness_degraded_and_back_and_loses_nothing(
		cluster, team, redis_proxy, redis_node):
	"""Readiness follows the heartbeat path, not the mere connections; cross-node delivery
	slows to the head check while the link is silent, and nothing is lost or duplicated."""
	wait_until(lambda: readyz(redis_node.url)[1].get("status") == "ready", 30,
		   "ready with Redis before the partition")
	writer, canvas = team.writer, team.canvas
	other = cluster.node_urls[0]

	async def body():
		here = await connect(redis_node.url, canvas, writer, since=0, label="proxied")
		there = await connect(other, canvas, team.owner, since=0, label="direct")
		w = RestWriter(redis_node.url, writer.token)
		try:
			ids = []

			def commit(tag):
				op_id = str(uuid.uuid4())
				ids.append(op_id)
				w.commit(canvas, "create_shape", rect(tag), op_id)

			commit("a")
			redis_proxy.blackhole()
			status, ready = wait_until(
				lambda: (lambda r: r if r[1].get("status") == "degraded" else None)(
					readyz(redis_node.url)), 15, "degraded readiness")
			assert status == 200 and ready["redis"] == "unreachable", ready
			for i in range(5):
				commit("b%d" % i)
			# Same node: delivered at once. Other node: from Postgres (head check).
			await here.wait_version(6, timeout=10)
			await there.wait_version(6, timeout=20)
			silent = (metric(redis_node.url, "flowstate_redis_dead_subscriber_total") or 0) + \
				(metric(redis_node.url, "flowstate_redis_silent_publisher_total") or 0)
			wait_until(lambda: (metric(redis_node.url, "flowstate_redis_dead_subscriber_total")
					    or 0) + (metric(redis_node.url,
							   "flowstate_redis_silent_publisher_total")
						     or 0) >= 1, 15, "a silent Redis connection dropped")
			assert readyz(redis_node.url)[1]["status"] == "degraded"

			redis_proxy.pass_()
			status, ready = wait_until(
				lambda: (lambda r: r if r[1].get("status") == "ready" else None)(
					readyz(redis_node.url)), 30, "ready again after the partition")
			assert ready["redis"] == "ok", ready
			for i in range(3):
				commit("c%d" % i)
			head = assert_log_exactly_once(cluster, canvas, ids)
			await here.wait_version(head, timeout=20)
			await there.wait_version(head, timeout=20)
			for c in (here, there):
				assert c.versions() == list(range(1, head + 1)), (c.label, c.versions())
			return silent
		finally:
			w.close()
			await here.close()
			await there.close()

	run(body(), timeout=180)
