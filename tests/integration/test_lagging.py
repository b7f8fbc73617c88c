"""Lagging clients (issue 9 §3): a client that reads slowly is never closed and never makes the
node queue without bound; it stops getting one frame per op, keeps its cursor, and gets what it
missed in batched `operations` frames as its socket drains (from the room's ring of recent ops,
or Postgres), every op exactly once and in order. A client that stops reading entirely is
covered by test_ws.py's slow-client test (closed after FLOWSTATE_WS_STALL_TIMEOUT, close frame
visible).

The node under test is an extra one with small output limits, sharing the session cluster's
Postgres and Redis.
"""

import random
import re
import threading
import time

import pytest

import helpers
from flowstate.api import request
from helpers import RestWriter, make_team
from wsclient import ExtraNode, RawWs, run

SOFT = 16384
HARD = 65536
LAG_ENV = {
	"FLOWSTATE_WS_SOFT_LIMIT": str(SOFT),
	"FLOWSTATE_WS_HARD_LIMIT": str(HARD),
	"FLOWSTATE_WS_STALL_TIMEOUT": "20",
}


@pytest.fixture(scope="module")
def team(cluster):
	return make_team({"a": "editor", "b": "editor"})


def new_canvas(team):
	return helpers.create_canvas(team.owner, team.workspace_id)["id"]


@pytest.fixture(scope="module")
def lagnode(cluster):
	extra = ExtraNode(cluster, "lag", LAG_ENV)
	try:
		extra.start()
	except BaseException:
		extra.stop()
		raise
	yield extra
	code = extra.stop()
	reports = extra.sanitizer_reports()
	assert not reports, "sanitizer report in %s:\n%s" % (extra.log, reports[0][1])
	assert code == 0, "%s exited %s after SIGTERM" % (extra.name, code)


def metric(base, name):
	resp = request("GET", base + "/metrics")
	assert resp.status == 200
	m = re.search(r"^%s (\d+)$" % re.escape(name), resp.text, re.M)
	assert m, "no %s in /metrics" % name
	return int(m.group(1))


def bloated(shape_id, i):
	"""A create_shape of about 11 KB once normalized."""
	rng = random.Random(i)
	return {"shape_id": shape_id, "kind": "path", "x": i, "y": 0, "text": "x" * 4000,
		"points": [[rng.random(), rng.random()] for _ in range(150)]}


def test_a_slow_reader_is_never_closed_gets_every_op_once_in_order_in_batches(
		cluster, team, lagnode):
	"""300 ops of ~11 KB (3 MB, 50 times the hard limit) on a canvas whose slow client reads
	one frame every 200 ms while they are written: before, its queue reached the hard limit and
	it was closed with 1013. Now it lags: no frame per op past the soft limit, batches as it
	drains, every op exactly once in order, and its queued output never past the soft limit
	by more than one op frame (the node's high-water mark of any client's queue)."""
	canvas = new_canvas(team)
	total = 300
	lagging_before = metric(lagnode.url, "flowstate_ws_lagging_total")
	closed_before = metric(lagnode.url, "flowstate_ws_slow_clients_closed_total")
	stalled_before = metric(lagnode.url, "flowstate_ws_stalled_clients_closed_total")
	committed = []
	received = []
	frames = {"operation": 0, "operations": 0}
	problems = []

	def write():
		w = RestWriter(lagnode.url, team.b.token)
		try:
			for i in range(total):
				committed.append(w.commit(canvas, "create_shape",
							  bloated("s%d" % (i % 20), i))["version"])
		finally:
			w.close()
			writer_done.set()

	writer_done = threading.Event()

	def read_slowly(slow):
		"""Reads a frame every 200 ms (slower than the writer) until the writer is done, then
		at full speed."""
		try:
			while len(received) < total:
				if not writer_done.is_set():
					time.sleep(0.2)
				m = slow.recv_message()
				if isinstance(m, tuple):
					problems.append("closed: %r" % (m,))
					return
				if m["type"] == "operation":
					frames["operation"] += 1
					received.append(m["operation"]["version"])
				elif m["type"] == "operations":
					frames["operations"] += 1
					received.extend(o["version"] for o in m["operations"])
		except Exception as e:
			problems.append("%s: %s" % (type(e).__name__, e))

	slow = RawWs(lagnode.url, canvas, team.a.token, since=0, rcvbuf=4096, timeout=60)
	try:
		sync = slow.recv_message()
		assert sync["type"] == "sync" and sync["current_version"] == 0, sync
		reader = threading.Thread(target=read_slowly, args=(slow,))
		writer = threading.Thread(target=write)
		reader.start()
		writer.start()
		writer.join(180)
		reader.join(180)
		assert not writer.is_alive() and not reader.is_alive()
	finally:
		slow.close()
	assert not problems, problems
	assert committed == list(range(1, total + 1))
	assert received == committed, "versions not exactly once in order: %s" % received[:50]
	assert frames["operations"] >= 1, "the slow client never got a batch: %s" % frames
	assert metric(lagnode.url, "flowstate_ws_lagging_total") > lagging_before
	assert metric(lagnode.url, "flowstate_ws_slow_clients_closed_total") == closed_before
	assert metric(lagnode.url, "flowstate_ws_stalled_clients_closed_total") == stalled_before
	high = metric(lagnode.url, "flowstate_ws_output_high_water_bytes")
	assert high < HARD, "a client's queue reached %d bytes (hard limit %d)" % (high, HARD)
	assert high <= SOFT + 16 * 1024, "a client's queue reached %d bytes (soft %d)" % (high, SOFT)


def test_a_client_far_behind_catches_up_from_postgres_in_order(cluster, team, lagnode):
	"""Behind by more than the room's ring holds (256 KiB of ops): the batches come from
	Postgres, still in order and exactly once, and the client ends live (it gets the next op
	alone)."""
	canvas = new_canvas(team)

	async def body():
		slow = RawWs(lagnode.url, canvas, team.a.token, since=0, rcvbuf=4096, timeout=60)
		try:
			sync = slow.recv_message()
			assert sync["type"] == "sync"
			w = RestWriter(lagnode.url, team.b.token)
			try:
				# While the slow client does not read, 100 ops of 11 KB: it lags early (its
				# socket is full of the first ones) and falls out of the ring.
				for i in range(100):
					w.commit(canvas, "create_shape", bloated("p%d" % (i % 5), i))
				got = []
				batches = 0
				while len(got) < 100:
					m = slow.recv_message()
					assert not isinstance(m, tuple), m
					if m["type"] == "operation":
						got.append(m["operation"]["version"])
					elif m["type"] == "operations":
						batches += 1
						got += [o["version"] for o in m["operations"]]
				assert got == list(range(1, 101)), got[:40]
				assert batches >= 1
				# Level again: the next op comes alone.
				w.commit(canvas, "create_shape", {"shape_id": "last", "kind": "rect", "x": 0,
								  "y": 0, "w": 1, "h": 1})
			finally:
				w.close()
			while True:
				m = slow.recv_message()
				assert not isinstance(m, tuple), m
				if m["type"] in ("operation", "operations"):
					break
			assert m["type"] == "operation" and m["operation"]["version"] == 101, m
		finally:
			slow.close()
	run(body(), timeout=240)


def test_a_client_that_stopped_reading_sees_its_close_frame_when_it_reads_again(
		cluster, team, lagnode):
	"""A client that stops reading and sends nothing (a suspended tab): once it has taken no
	byte for FLOWSTATE_WS_STALL_TIMEOUT (20 s here) it is closed with 1013, its queued ops
	dropped. Its close frame waits behind what the socket buffers hold for as long as the stall
	timeout, not just the 5 s of a closing handshake: read 8 s later, the stream still ends
	with the close frame, not a bare EOF, after ops in order from the first."""
	canvas = new_canvas(team)
	slow = RawWs(lagnode.url, canvas, team.a.token, since=0, rcvbuf=4096, timeout=60)
	try:
		sync = slow.recv_message()
		assert sync["type"] == "sync" and sync["current_version"] == 0, sync
		log_start = len(lagnode.log_text())
		w = RestWriter(lagnode.url, team.b.token)
		try:
			# ~440 KB: more than the socket buffers (the kernel's and the node's) hold.
			for i in range(40):
				w.commit(canvas, "create_shape", bloated("q%d" % (i % 5), i))
		finally:
			w.close()
		rx = re.compile(r"ws_stalled_client session=\d+ canvas=%s " % canvas)
		deadline = time.monotonic() + 90
		while not rx.search(lagnode.log_text()[log_start:]):
			assert time.monotonic() < deadline, "the stalled client was not closed in 90 s"
			time.sleep(0.2)
		time.sleep(8)  # longer than a closing handshake's 5 s
		messages, code = slow.read_until_close(answer_pings=False)
		assert code == 1013, (code, len(messages), slow.end_reason)
		versions = []
		for m in messages:
			if m["type"] == "operation":
				versions.append(m["operation"]["version"])
			elif m["type"] == "operations":
				versions += [o["version"] for o in m["operations"]]
		assert versions == list(range(1, len(versions) + 1)), versions
		assert len(versions) < 40
	finally:
		slow.close()
