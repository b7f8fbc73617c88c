"""Realtime benchmark of FlowState's WebSocket path: fan-out, cursors, idle connections, joins.

Run it through `scripts/bench ws [--quick]` (scripts/bench_ws.py calls main()). The load comes
from tests/load/ws_load.c (one C process holding every WebSocket client).

What one run does:
  1. builds build/ (release) and ws_load;
  2. starts a private cluster through flowstate.cluster (Postgres, Redis, 3 nodes, nginx, all
     on 127.0.0.1 in a temporary directory), unless --cluster-dir or --nodes/--database-url point at
     a running one;
  3. registers three users (an owner, two editors) and gives every scenario its own workspace
     and fresh canvases;
  4. runs the scenarios (DESIGN.md §10):
       fanout          1 canvas, 300 clients over 3 nodes, 30 writers, 100 ops/s in total
       fanout-gateway  the same through the nginx gateway, which is sticky per canvas: all
                       300 clients on one node
       delivery-2000   1 canvas, 30 writers over 3 nodes, 2,000 ops/s in total
       cursors         100 clients over 3 nodes (10 canvases of 10), 30 Hz each
       cursors-25hz    the same at 25 Hz, under the node's 30/s coalescing limit
       idle            10,000 idle connections on node 1 (1,000 canvases of 10): RSS per
                       connection, and every node's RSS at rest
       join-history    a canvas with 100,000 ops of history (inserted with SQL), snapshotted by
                       POST /snapshots: connect → `sync` over 50 joins, without and with ?since=
       commit-hot-ws   1 canvas, 30 writers over 3 nodes, closed loop over WebSocket
       bigcanvas       the largest canvas the limits allow (FLOWSTATE_MAX_SHAPES, _PATH_POINTS,
                       _STATE_BYTES; inserted with SQL) read over and over on node 1 (GET /state,
                       export.svg) while /healthz latency, cursor relay and the event-loop lag
                       histogram are measured on that same node
     each ending with ws_load's convergence check (every client's state hash = GET /state, every
     client's last version = canvases.version); a failed check fails the run;
  5. prints a table per scenario and writes var/bench/<timestamp>/ws.json and ws.md (figures,
     targets, machine facts, CPU time and RSS of every process involved). Node RSS is taken at
     rest, after every scenario (once the node's periodic malloc trim has run) and at the end.

Everything runs on 127.0.0.1, and everything it starts is stopped at the end (also on Ctrl-C).
What it shares with the REST benchmark (build, machine facts, accounts, topology, CPU sampling,
report formatting) comes from bench.common, bench.measure and report.
"""

import argparse
import json
import os
import re
import subprocess
import threading
import time
import uuid
from pathlib import Path

from flowstate import REPO, api, procs
from flowstate.bench import BenchError, say
from flowstate.bench.common import (Accounts, Database, api_client, build_load_generator,
				    commit_stats, machine_facts, node_rss_mb, run_guarded)
from flowstate.bench.measure import Sampler, wait_for_quiet
from flowstate.report import (cpu_table, fmt_int, fmt_ms, label_of, machine_paragraph,
			      mode_paragraph, print_targets, targets_table)

PAGE = os.sysconf("SC_PAGE_SIZE")

# DESIGN.md §10.
TARGET_DELIVERY_P99_MS = 10.0
TARGET_DELIVERY_RATE = 2000
TARGET_CURSOR_P99_MS = 5.0
TARGET_IDLE_CONNECTIONS = 10000
TARGET_IDLE_KB_PER_CONN = 15.0
# Issue 9 §3: RSS "returns near its baseline" after mass disconnects.
TARGET_IDLE_RSS_RETURN_MB = 5.0
TARGET_REST_RSS_MB = 20.0
TARGET_JOIN_MS = 50.0
TARGET_JOIN_HISTORY = 100000
TARGET_HOT_OPS = 10000
TARGET_HOT_P99_MS = 25.0
TARGET_LOOP_STALL_P99_MS = 20.0
# The node trims malloc's heaps every 5 s (node/core/memtrim.h): RSS "after" is read past that.
RSS_SETTLE_S = 6.0
# How long the idle scenario waits for node 1's rooms to go (FLOWSTATE_ROOM_GRACE, 30 s by
# default, after the last client left) before it reads RSS once more.
ROOM_GRACE_WAIT_S = 90.0

SCENARIOS = ["fanout", "fanout-gateway", "delivery-2000", "cursors", "cursors-25hz", "idle", "join-history",
	     "commit-hot-ws", "ws-many", "bigcanvas"]


# ---------------------------------------------------------------------------------------------
# Build.

def build_ws_load(skip, node_too):
	"""Builds flowstate-node in build/ (release, as scripts/up) and ws_load; returns the
	ws_load path after its self-test passed."""
	binary = build_load_generator("ws_load", skip, node_too)
	res = subprocess.run([str(binary), "--self-test"], capture_output=True, text=True)
	if res.returncode != 0:
		raise BenchError("ws_load --self-test failed:\n%s" % res.stderr)
	return binary


# ---------------------------------------------------------------------------------------------
# Running ws_load.

WS_SERIES = ["flowstate_room_gap_fetches_total", "flowstate_room_ops_fetched_total",
	     "flowstate_room_duplicates_dropped_total", "flowstate_ws_transient_dropped_total",
	     "flowstate_ws_slow_clients_closed_total", "flowstate_ws_rate_limited_total",
	     "flowstate_bus_publish_dropped_total", "flowstate_redis_reconnects_total",
	     "flowstate_delivery_lag_seconds_sum", "flowstate_delivery_lag_seconds_count",
	     "flowstate_room_ops_delivered_total", "flowstate_ws_messages_received_total"]


def ws_stats(before, after):
	"""What the nodes counted between two scrapes: gap fetches, drops, the mean delivery lag of
	ops committed on another node (their own metric), plus the group-commit figures."""
	out = commit_stats(before, after)
	for series in WS_SERIES:
		values = [a[series] - b.get(series, 0) for b, a in zip(before, after) if series in a]
		out[series.replace("flowstate_", "")] = sum(values) if values else None
	n = out.get("delivery_lag_seconds_count")
	out["delivery_lag_mean_ms"] = (round(out["delivery_lag_seconds_sum"] / n * 1000, 3)
				       if n else None)
	return out


class Runner:
	def __init__(self, args, binary, work, topology, groups, report):
		self.args, self.binary, self.work = args, binary, Path(work)
		self.topology, self.groups, self.report = topology, groups, report
		self.pids = topology.node_pids()

	def endpoints(self, nodes):
		urls = self.topology.node_urls[:nodes] if nodes else [self.topology.gateway_url]
		return [u.replace("http://", "") for u in urls]

	def run(self, name, mode, canvases, endpoints, extra, timeout, on_ready=None):
		"""Runs ws_load once while sampling the servers; returns its JSON result with the
		process table attached. A failed check is recorded in the report (and fails the run)."""
		lines = "".join("%s %s\n" % (cid, " ".join(tokens)) for cid, tokens in canvases)
		path = self.work / ("%s.canvases" % name)
		path.write_text(lines)
		os.chmod(path, 0o600)
		ready = self.work / ("%s.ready" % name)
		if ready.exists():
			ready.unlink()
		argv = [str(self.binary), "--mode", mode, "--canvases", str(path), "--ready-file",
			str(ready)] + extra
		for e in endpoints:
			argv += ["--endpoint", e]
		say("%s: ws_load %s" % (name, " ".join(a for a in argv[1:] if not a.startswith("/"))))
		out_path, err_path = self.work / (name + ".json"), self.work / (name + ".log")
		urls = self.topology.node_urls
		metrics_before = [api.metrics(u) for u in urls]
		ready_info = None
		with Sampler(self.groups) as sampler, open(out_path, "w") as out, \
				open(err_path, "w") as err:
			proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
			deadline = time.monotonic() + timeout
			rss_max = 0.0
			while True:
				try:
					rss_max = max(rss_max, procs.rss_mb(proc.pid))
				except OSError:
					pass
				pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
				if pid == proc.pid:
					break
				if on_ready and ready_info is None and ready.exists():
					ready_info = on_ready()
				if time.monotonic() > deadline:
					proc.kill()
					os.wait4(proc.pid, 0)
					raise BenchError("%s: ws_load did not finish within %.0fs; killed it "
							 "(log: %s)" % (name, timeout, err_path))
				time.sleep(0.05)
		sampler.add_client("ws_load", usage, rss_max)
		metrics_after = [api.metrics(u) for u in urls]
		code = os.waitstatus_to_exitcode(status)
		try:
			result = json.loads(out_path.read_text())
		except ValueError:
			raise BenchError("%s: ws_load exited %d without a report:\n%s"
					 % (name, code, err_path.read_text()[-3000:]))
		result["scenario"] = name
		result["exit_code"] = code
		result["processes"] = sampler.result
		result["machine_cpu"] = sampler.machine()
		result["node_stats"] = ws_stats(metrics_before, metrics_after)
		if ready_info is not None:
			result["at_ready"] = ready_info
		if code != 0 or not result.get("ok"):
			log_tail = err_path.read_text()[-2500:]
			msg = "%s: ws_load reported a failed check (exit %d):\n%s" % (name, code, log_tail)
			say("FAILED " + msg)
			self.report["failures"].append(msg)
		self.report["scenarios"].append(result)
		return result


# ---------------------------------------------------------------------------------------------
# Scenarios.

def canvases_for(accounts, name, count, tag):
	"""Fresh canvases in a workspace of their own, each with all three users' tokens (clients
	rotate over them, so a canvas has several users)."""
	ws = accounts.workspace("bench ws %s %s" % (name, tag))
	made = accounts.canvases(ws, count)
	return [(cid, accounts.tokens) for cid, _ in made], ws


def scenario_fanout(r, accounts, tag, name="fanout", clients=300, writers=30, rate=100.0,
		    gateway=False):
	a = r.args
	canvases, _ = canvases_for(accounts, name, 1, tag)
	return r.run(name, "ops", canvases, r.endpoints(0 if gateway else 3),
		     # Open loop: up to 64 ops in flight per writer, so the offered rate is offered
		     # even when acks are slow (latency then shows the queueing).
		     ["--clients", str(clients), "--writers", str(writers), "--rate", str(rate),
		      "--window", "64", "--duration", str(a.duration), "--warmup", str(a.warmup)],
		     timeout=a.duration + a.warmup + 300)


def scenario_cursors(r, accounts, tag, name, hz):
	a = r.args
	canvases, _ = canvases_for(accounts, name, a.cursor_canvases, tag)
	return r.run(name, "cursors", canvases, r.endpoints(3),
		     ["--clients", str(a.cursor_clients), "--cursor-hz", str(hz),
		      "--duration", str(a.duration), "--warmup", str(a.warmup)],
		     timeout=a.duration + a.warmup + 300)


def scenario_commit_hot(r, accounts, tag):
	a = r.args
	canvases, _ = canvases_for(accounts, "commit-hot-ws", 1, tag)
	return r.run("commit-hot-ws", "ops", canvases, r.endpoints(3),
		     ["--clients", str(a.hot_writers), "--writers", str(a.hot_writers), "--rate", "0",
		      "--window", "1", "--duration", str(a.duration), "--warmup", str(a.warmup)],
		     timeout=a.duration + a.warmup + 300)


def scenario_ws_many(r, accounts, tag):
	"""Many canvases, few writers each, over WebSocket (issue 14): 1,000 canvases x 3 clients,
	every client writing (closed loop, one op in flight), the three clients of a canvas on the
	three nodes, so every op is also delivered across nodes."""
	a = r.args
	canvases, _ = canvases_for(accounts, "ws-many", a.many_canvases, tag)
	clients = a.many_canvases * a.many_clients_per_canvas
	result = r.run("ws-many", "ops", canvases, r.endpoints(3),
		       ["--clients", str(clients), "--writers", str(clients), "--rate", "0",
			"--window", "1", "--duration", str(a.duration), "--warmup", str(a.warmup)],
		       timeout=a.duration + a.warmup + 600)
	result["canvases"] = a.many_canvases
	result["clients_per_canvas"] = a.many_clients_per_canvas
	return result


def tcp_kernel_mb():
	"""Kernel memory of the machine's TCP sockets, in MB: queued data (/proc/net/sockstat
	"mem") and the socket structures (the "TCP" slab, when /proc/slabinfo is readable)."""
	out = {"buffers": None, "sockets": None}
	for line in Path("/proc/net/sockstat").read_text().splitlines():
		if line.startswith("TCP:"):
			f = line.split()
			out["buffers"] = int(f[f.index("mem") + 1]) * PAGE / 2 ** 20
	try:
		for line in Path("/proc/slabinfo").read_text().splitlines():
			f = line.split()
			if f and f[0] == "TCP":
				out["sockets"] = int(f[1]) * int(f[3]) / 2 ** 20  # active objects x size
	except OSError:
		pass
	return out


def scenario_idle(r, accounts, tag):
	a = r.args
	n = a.idle_connections
	per_canvas = max(1, a.idle_clients_per_canvas)
	count = max(1, (n + per_canvas - 1) // per_canvas)
	canvases, _ = canvases_for(accounts, "idle", count, tag)
	pids = {0: r.pids[0]} if 0 in r.pids else {}
	if not pids:
		say("idle: node 1's process is not visible (external deployment): no RSS figures")
	time.sleep(1.0)
	rest = node_rss_mb(pids)
	kernel_before = tcp_kernel_mb()

	def at_ready():
		time.sleep(2.0)  # let every session finish its presence and sync work
		return {"node_rss_mb": node_rss_mb(pids), "tcp_kernel_mb": tcp_kernel_mb()}

	res = r.run("idle", "idle", canvases, r.endpoints(1),
		    ["--clients", str(n), "--hold", str(a.idle_hold), "--connect-timeout", "180"],
		    timeout=a.idle_hold + 600, on_ready=at_ready)
	time.sleep(RSS_SETTLE_S)  # past the node's periodic malloc trim
	after = node_rss_mb(pids)
	# Rooms outlive their last client by FLOWSTATE_ROOM_GRACE (30 s by default), ring of
	# recent ops included, so a reconnecting client resumes without Postgres: RSS is read
	# again once node 1 has no room left (and the trim has run since).
	node1 = r.topology.node_urls[0]
	rooms_gone, deadline = None, time.monotonic() + ROOM_GRACE_WAIT_S
	while time.monotonic() < deadline:
		if api.metric_total(api.metrics(node1), "flowstate_rooms") == 0:
			rooms_gone = time.monotonic()
			break
		time.sleep(0.5)
	after_grace = None
	if rooms_gone is not None:
		time.sleep(RSS_SETTLE_S)
		after_grace = node_rss_mb(pids)
	else:
		say("idle: node 1 still has rooms %.0f s after the clients left" % ROOM_GRACE_WAIT_S)
	held = (res.get("at_ready") or {}).get("node_rss_mb", {})
	synced = res["connect"]["synced"]
	mem = {"connections": synced, "clients_per_canvas": per_canvas, "node_rss_before_mb": rest,
	       "node_rss_held_mb": held, "node_rss_after_close_mb": after,
	       "node_rss_after_rooms_mb": after_grace}
	if rest.get("node1") and held.get("node1") and synced:
		mem["kb_per_connection"] = round((held["node1"] - rest["node1"]) * 1024 / synced, 2)
		# The delta can be flattered by heap freed in earlier scenarios and reused: the
		# node's whole RSS over the connections bounds it from above.
		mem["kb_per_connection_upper_bound"] = round(held["node1"] * 1024 / synced, 2)
	kernel_held = (res.get("at_ready") or {}).get("tcp_kernel_mb") or {}
	if synced:
		# Both ends of every connection are on this machine: half of it is the node's side.
		for key in ("buffers", "sockets"):
			if kernel_before.get(key) is not None and kernel_held.get(key) is not None:
				mem["tcp_kernel_%s_kb_per_socket" % key] = round(
					(kernel_held[key] - kernel_before[key]) * 1024 / (2 * synced), 2)
	res["memory"] = mem
	return res


# ---------------------------------------------------------------------------------------------
# The largest allowed canvas.

def node_limits(node_bin):
	"""The per-canvas limits of the node (FLOWSTATE_MAX_SHAPES, _PATH_POINTS, _STATE_BYTES) from
	its --help; {} when the binary has none (then the canvas of issue 9 is used)."""
	try:
		text = subprocess.run([str(node_bin), "--help"], capture_output=True, text=True,
				      timeout=10).stdout
	except (OSError, subprocess.TimeoutExpired):
		return {}
	out = {}
	for name in ("MAX_SHAPES", "MAX_PATH_POINTS", "MAX_STATE_BYTES"):
		m = re.search(r"FLOWSTATE_%s\b.*\n\s*default (\d+)" % name, text)
		if m:
			out[name.lower()] = int(m.group(1))
	return out


def big_canvas_plan(limits, args):
	"""(rects, paths, points per path): as large as the limits allow, with the state kept at
	about 90 % of FLOWSTATE_MAX_STATE_BYTES (a rect as inserted is ~215 bytes of state, a path
	point ~14: fitted to two runs). Without limits: 10,000 rects and 100 paths of 10,000 points (~18 MB), the canvas
	of issue 9, which every limit accepted then."""
	if args.big_shapes:
		return args.big_shapes, args.big_paths, args.big_points
	if not limits:
		return 10000, 100, 10000
	shapes = limits.get("max_shapes", 10000)
	points = limits.get("max_path_points", 5000)
	budget = 0.9 * limits.get("max_state_bytes", 10 * 2 ** 20)
	rect_bytes, path_bytes = 215, 250 + 14 * points
	paths = max(0, min(shapes, int((budget - shapes * rect_bytes) / (path_bytes - rect_bytes))))
	return shapes - paths, paths, points


def insert_big_canvas(db, canvas_id, user_id, rects, paths, points):
	"""rects + paths create_shape ops in one transaction, payloads in normalized form."""
	db.sql("""
BEGIN;
INSERT INTO operations (canvas_id, version, client_op_id, user_id, type, payload)
SELECT '%(c)s', g, gen_random_uuid(), '%(u)s', 'create_shape',
       jsonb_build_object('shape_id', 'r' || g, 'kind', 'rect',
                          'x', round((g * 37 %% 4000)::numeric, 1),
                          'y', round((g * 53 %% 3000)::numeric, 1),
                          'w', 120.0, 'h', 80.0, 'rotation', 0.0, 'z', 0.0,
                          'style', jsonb_build_object('stroke', '#000000', 'fill', 'none',
                                                     'width', 1.0, 'opacity', 1.0),
                          'text', 'shape ' || g, 'points', '[]'::jsonb, 'from', null, 'to', null)
FROM generate_series(1, %(r)d) g;
INSERT INTO operations (canvas_id, version, client_op_id, user_id, type, payload)
SELECT '%(c)s', %(r)d + g, gen_random_uuid(), '%(u)s', 'create_shape',
       jsonb_build_object('shape_id', 'p' || g, 'kind', 'path', 'x', g * 10.0, 'y', g * 10.0,
                          'w', 1000.0, 'h', 1000.0, 'rotation', 0.0, 'z', 1.0,
                          'style', jsonb_build_object('stroke', '#0000ff', 'fill', 'none',
                                                     'width', 2.0, 'opacity', 1.0),
                          'text', '', 'from', null, 'to', null,
                          'points', (SELECT jsonb_agg(jsonb_build_array(
                                         round(((i * 7 + g) %% 1000)::numeric, 1),
                                         round(((i * 13 + g) %% 1000)::numeric, 1)))
                                     FROM generate_series(1, %(n)d) i))
FROM generate_series(1, %(p)d) g;
UPDATE canvases SET version = %(v)d WHERE id = '%(c)s' AND version = 0;
COMMIT;
""" % {"c": canvas_id, "u": user_id, "r": rects, "p": paths, "n": points, "v": rects + paths})


def latency_summary(values_s):
	"""The bench's histogram shape (ms) from raw seconds."""
	v = sorted(values_s)
	if not v:
		return {"count": 0}

	def q(p):
		return round(v[min(len(v) - 1, int(p * len(v)))] * 1000, 3)
	return {"count": len(v), "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999),
		"max": round(v[-1] * 1000, 3)}


def lag_histogram(before, after):
	"""flowstate_event_loop_lag_seconds between two scrapes: samples, and the bucket bounds
	(ms) the 99th percentile and the largest sample fall in."""
	name = "flowstate_event_loop_lag_seconds_bucket"
	bounds = []
	for series in after:
		if series.startswith(name + "{le="):
			le = series[len(name) + 5:-2]
			bounds.append((float("inf") if le == "+Inf" else float(le), series))
	bounds.sort()
	counts = [(le, after[series] - before.get(series, 0)) for le, series in bounds]
	total = counts[-1][1] if counts else 0
	out = {"samples": int(total), "p99_le_ms": None, "max_le_ms": None}
	for le, cum in counts:
		if out["p99_le_ms"] is None and total and cum >= 0.99 * total:
			out["p99_le_ms"] = le * 1000
		if total and cum >= total:
			out["max_le_ms"] = le * 1000
			break
	return out


def scenario_bigcanvas(r, accounts, tag, db):
	"""Reads of the largest allowed canvas must not stall the node: GET /state and export.svg
	in a loop on node 1, while a prober times /healthz there every 10 ms and ws_load relays
	cursors between clients of another canvas on that node."""
	a = r.args
	limits = node_limits(r.topology.cluster.node_bin) if r.topology.cluster else {}
	rects, paths, points = big_canvas_plan(limits, a)
	big, _ = canvases_for(accounts, "bigcanvas", 1, tag)
	big_id = big[0][0]
	t0 = time.monotonic()
	insert_big_canvas(db, big_id, accounts.user_ids[0], rects, paths, points)
	insert_s = time.monotonic() - t0
	node = r.topology.node_urls[0]
	token = accounts.tokens[0]
	reader = api.Client(node, token=token, timeout=120, keep_alive=True, reconnect=True)
	t0 = time.monotonic()
	snap = reader.call("POST", "/canvases/%s/snapshots" % big_id, expect=(200, 201))
	snap_s = time.monotonic() - t0
	first = reader.request("GET", "/api/v1/canvases/%s/state" % big_id)
	state_bytes = len(first.body)
	say("bigcanvas: %s rects + %s paths of %s points (limits %s): state %.1f MB, inserted in "
	    "%.1fs, snapshot in %.1fs" % (fmt_int(rects), fmt_int(paths), fmt_int(points),
					   limits or "none: the canvas of issue 9", state_bytes / 2 ** 20,
					   insert_s, snap_s))
	results = []
	for reading in (False, True):
		results.append(bigcanvas_phase(r, accounts, tag, node, big_id, reader, reading))
	reader.close()
	for res in results:
		res["bigcanvas"].update({
			"rects": rects, "paths": paths, "points_per_path": points, "limits": limits,
			"state_bytes": state_bytes, "insert_seconds": round(insert_s, 2),
			"snapshot": {"version": snap.get("version"), "seconds": round(snap_s, 3)}})
	return results


def bigcanvas_phase(r, accounts, tag, node, big_id, reader, reading):
	"""One measured run on node 1: the /healthz prober and ws_load's cursor clients, with the
	big canvas read over and over (reading) or not (the control: what the machine itself
	costs, other people's processes included)."""
	a = r.args
	name = "bigcanvas" if reading else "bigcanvas-control"
	stop = threading.Event()
	healthz, reads = [], []

	def probe():
		c = api.Client(node, timeout=30, keep_alive=True, reconnect=True)
		try:
			while not stop.is_set():
				t = time.perf_counter()
				resp = c.request("GET", "/healthz")
				if resp.status == 200:
					healthz.append(time.perf_counter() - t)
				time.sleep(0.01)
		finally:
			c.close()

	def read():
		paths_ = ["/api/v1/canvases/%s/state" % big_id, "/api/v1/canvases/%s/export.svg" % big_id]
		i = 0
		while not stop.is_set():
			t = time.perf_counter()
			resp = reader.request("GET", paths_[i % 2])
			reads.append((paths_[i % 2].rsplit("/", 1)[1], resp.status, len(resp.body),
				      time.perf_counter() - t))
			i += 1

	threads = []
	metrics_before = {}
	rss = {"before": node_rss_mb({0: r.pids[0]}) if 0 in r.pids else {}}

	def at_ready():
		metrics_before.update(api.metrics(node))
		threads.append(threading.Thread(target=probe))
		if reading:
			threads.append(threading.Thread(target=read))
		for t in threads:
			t.start()
		return {}

	cursor_canvases, _ = canvases_for(accounts, name + "-cursors", 2, tag)
	try:
		res = r.run(name, "cursors", cursor_canvases, r.endpoints(1),
			    ["--clients", str(a.big_cursor_clients), "--cursor-hz", str(a.cursor_hz),
			     "--duration", str(a.big_duration), "--warmup", str(a.warmup)],
			    timeout=a.big_duration + a.warmup + 300, on_ready=at_ready)
	finally:
		stop.set()
		for t in threads:
			t.join(300)
	lag = lag_histogram(metrics_before, api.metrics(node))
	if 0 in r.pids:
		rss["during_max"] = res.get("processes", {}).get("node1", {}).get("rss_max_mb")
		time.sleep(RSS_SETTLE_S)
		rss["after"] = node_rss_mb({0: r.pids[0]})
	statuses = sorted({x[1] for x in reads})
	res["bigcanvas"] = {
		"reading": reading, "reads": len(reads), "read_statuses": statuses,
		"read_ms": {kind: latency_summary([x[3] for x in reads if x[0] == kind])
			    for kind in ("state", "export.svg")},
		"healthz_ms": latency_summary(healthz), "loop_lag": lag, "node_rss_mb": rss,
	}
	if reading and statuses != [200]:
		msg = "bigcanvas: reads answered %s" % statuses
		say("FAILED " + msg)
		r.report["failures"].append(msg)
	b = res["bigcanvas"]
	say("%s: %d reads (state p50 %s ms, svg p50 %s ms); /healthz p99 %s ms max %s ms; "
	    "loop lag p99 <= %s ms over %d samples" % (
		    name, b["reads"], fmt_ms(b["read_ms"]["state"].get("p50")),
		    fmt_ms(b["read_ms"]["export.svg"].get("p50")), fmt_ms(b["healthz_ms"].get("p99")),
		    fmt_ms(b["healthz_ms"].get("max")), lag["p99_le_ms"], lag["samples"]))
	return res


def insert_history(db, canvas_id, user_id, ops, shapes):
	"""ops rows of history on a new canvas in one transaction, with canvases.version = ops:
	`shapes` creates, then alternating move_shape and update_shape over those shapes. Payloads are
	in normalized form (numbers as reals), as the commit path would have stored them."""
	db.sql("""
BEGIN;
INSERT INTO operations (canvas_id, version, client_op_id, user_id, type, payload)
SELECT '%(c)s', g, gen_random_uuid(), '%(u)s',
       CASE WHEN g <= %(s)d THEN 'create_shape' WHEN g %% 2 = 0 THEN 'move_shape'
            ELSE 'update_shape' END,
       CASE WHEN g <= %(s)d THEN
            jsonb_build_object('shape_id', 'h' || g, 'kind', 'rect',
                               'x', round((g * 37 %% 4000)::numeric, 1),
                               'y', round((g * 53 %% 3000)::numeric, 1),
                               'w', 120.0, 'h', 80.0, 'rotation', 0.0, 'z', 0.0,
                               'style', jsonb_build_object('stroke', '#000000', 'fill', 'none',
                                                          'width', 1.0, 'opacity', 1.0),
                               'text', '', 'points', '[]'::jsonb, 'from', null, 'to', null)
            WHEN g %% 2 = 0 THEN
            jsonb_build_object('shape_id', 'h' || (1 + g * 7919 %% %(s)d),
                               'x', round((g %% 4000)::numeric, 1),
                               'y', round((g %% 3000)::numeric, 1))
            ELSE
            jsonb_build_object('shape_id', 'h' || (1 + g * 7919 %% %(s)d),
                               'text', 'edit ' || g, 'z', round(g::numeric, 1))
       END
FROM generate_series(1, %(n)d) g;
UPDATE canvases SET version = %(n)d WHERE id = '%(c)s' AND version = 0;
COMMIT;
""" % {"c": canvas_id, "u": user_id, "n": ops, "s": shapes})
	rows = db.sql("SELECT version, (SELECT count(*) FROM operations WHERE canvas_id = '%s') "
		      "FROM canvases WHERE id = '%s'" % (canvas_id, canvas_id))
	if [int(x) for x in rows[0]] != [ops, ops]:
		raise BenchError("history insert: canvas %s has version/ops %s, wanted %d"
				 % (canvas_id, rows[0], ops))


def setup_history(args, accounts, tag, db):
	"""The canvas with a long history, made before any scenario: join-history joins it, and
	every scenario runs against an operations table of realistic size with its statistics
	(commit plans depend on them; see ANALYZE in main)."""
	canvases, _ = canvases_for(accounts, "join-history", 1, tag)
	t0 = time.monotonic()
	insert_history(db, canvases[0][0], accounts.user_ids[0], args.history_ops,
		       args.history_shapes)
	seconds = time.monotonic() - t0
	say("history: inserted %s ops (%d shapes) on canvas %s in %.1fs"
	    % (fmt_int(args.history_ops), args.history_shapes, canvases[0][0], seconds))
	return {"canvases": canvases, "insert_seconds": round(seconds, 2)}


def scenario_join_history(r, accounts, history):
	a = r.args
	canvases = [(cid, accounts.tokens) for cid, _ in history["canvases"]]  # fresh tokens
	cid = canvases[0][0]
	insert_s = history["insert_seconds"]
	results = []
	endpoint = r.endpoints(1)
	# Without a snapshot: every join replays the whole log (what a snapshot saves).
	if a.nosnapshot_joins:
		res = r.run("join-history-nosnapshot", "join", canvases, endpoint,
			    ["--joins", str(a.nosnapshot_joins)], timeout=600)
		res["history_ops"] = a.history_ops
		results.append(res)
	t0 = time.monotonic()
	snap = accounts.client.call("POST", "/canvases/%s/snapshots" % cid, token=accounts.tokens[0],
				 expect=(200, 201))
	snap_s = time.monotonic() - t0
	say("join-history: POST /snapshots -> version %s, %s shapes, %.2fs"
	    % (snap.get("version"), snap.get("shape_count"), snap_s))
	for name, extra in (("join-history", []),
			    ("join-history-since", ["--since-lag", str(a.since_lag)])):
		res = r.run(name, "join", canvases, endpoint, ["--joins", str(a.joins)] + extra,
			    timeout=600)
		res["history_ops"] = a.history_ops
		res["history_insert_seconds"] = insert_s
		res["snapshot"] = {"version": snap.get("version"), "shape_count": snap.get("shape_count"),
				   "seconds": round(snap_s, 3)}
		results.append(res)
	return results


# ---------------------------------------------------------------------------------------------
# Report.

def lat_rows(s):
	"""(measure, histogram) pairs worth a row in the latency table."""
	rows = []
	# Through the sticky gateway there is one endpoint, and every client of a canvas is on
	# the same node behind it.
	sides = ((("same_endpoint", "one node (gateway)"),) if len(s.get("endpoints", [])) == 1
		 else (("other_endpoint", "other node"), ("same_endpoint", "same node")))
	if "ops" in s:
		o = s["ops"]
		rows.append(("ack (send → ack)", o["ack_ms"]))
		for k, label in sides:
			rows.append(("commit → delivery, %s" % label, o["commit_to_delivery_ms"][k]))
		for k, label in sides:
			rows.append(("send → delivery, %s" % label, o["send_to_delivery_ms"][k]))
	if "cursors" in s:
		for k, label in sides:
			rows.append(("cursor relay, %s" % label, s["cursors"]["relay_ms"][k]))
	if "bigcanvas" in s:
		b = s["bigcanvas"]
		rows.append(("GET /healthz%s" % (" while reading it" if b["reading"] else ""),
			     b["healthz_ms"]))
		rows.append(("GET /state of it", b["read_ms"]["state"]))
		rows.append(("GET export.svg of it", b["read_ms"]["export.svg"]))
	if "join" in s:
		rows.append(("connect → 101", s["join"]["connect_to_upgrade_ms"]))
		rows.append(("connect → sync", s["join"]["connect_to_sync_ms"]))
	if s.get("mode") == "idle":
		rows.append(("connect → 101", s["connect"]["upgrade_ms"]))
		rows.append(("connect → sync", s["connect"]["sync_ms"]))
	return rows


def summary(s):
	"""One line of what the scenario did: offered and achieved load."""
	w = s.get("window_seconds") or 0
	if "ops" in s:
		o = s["ops"]
		load = ("%s writers, %s" % (o["writers"], "closed loop" if o["loop"] == "closed"
					     else "%s ops/s offered" % fmt_int(o["rate"])))
		got = "%s ops/s acked, %s deliveries/s" % (fmt_int(o["acked_per_sec"]),
							   fmt_int(o["deliveries_per_sec"]))
	elif "cursors" in s:
		c = s["cursors"]
		load = "%.0f Hz per client, %s msgs/s sent" % (c["hz"], fmt_int(c["sent_per_sec"]))
		got = "%s relays/s received" % fmt_int(c["received_per_sec"])
	elif "join" in s:
		j = s["join"]
		load = "%d joins%s, head %s" % (j["joins"], ", since = head - %d" % j["since_lag"]
						 if j["since_lag"] >= 0 else "", fmt_int(j["head"]))
		got = "sync %s KB (%s)" % (fmt_int(j["sync_bytes_max"] / 1024),
					   "operations" if s["messages"]["sync_operations_mode"]
					   else "state")
	else:
		m = s.get("memory", {})
		load = "%s connections held %.0fs" % (fmt_int(s["connect"]["synced"]), w)
		got = ("%.2f KB/connection" % m["kb_per_connection"]) if "kb_per_connection" in m else "-"
	conv = s["convergence"]
	verdict = "ok" if s.get("ok") else "**FAILED**"
	checked = "%s, heads sum %s" % (verdict, fmt_int(conv["sum_of_heads"]))
	return load, got, checked


def tables(report):
	lines = ["| scenario | clients | canvases | endpoints | load | achieved | convergence |",
		 "| --- | ---: | ---: | --- | --- | --- | --- |"]
	for s in report["scenarios"]:
		load, got, checked = summary(s)
		eps = s.get("endpoints", [])
		lines.append("| %s | %s | %s | %d x %s | %s | %s | %s |" % (
			label_of(s), fmt_int(s["clients"]), fmt_int(s["canvases"]), len(eps),
			"/".join(str(e["clients"]) for e in eps), load, got, checked))
	lines += ["", "| scenario | latency | samples | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |",
		  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
	for s in report["scenarios"]:
		for measure, h in lat_rows(s):
			if not h or not h["count"]:
				continue
			lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
				label_of(s), measure, fmt_int(h["count"]), fmt_ms(h["p50"]), fmt_ms(h["p90"]),
				fmt_ms(h["p99"]), fmt_ms(h["p999"]), fmt_ms(h["max"])))
	idle = [s for s in report["scenarios"] if s.get("memory")]
	if idle or report.get("rest_rss_mb"):
		lines += ["", "| node RSS MB | at rest (after start) | before idle | %s idle connections "
			  "held | after they closed | after their rooms went | KB per connection |" % (
				  fmt_int(idle[0]["memory"]["connections"]) if idle else "-"),
			  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
		rest = report.get("rest_rss_mb", {})
		m = idle[0]["memory"] if idle else {}
		for node in sorted(rest):
			before = m.get("node_rss_before_mb", {}).get(node)
			held = m.get("node_rss_held_mb", {}).get(node)
			after = m.get("node_rss_after_close_mb", {}).get(node)
			gone = (m.get("node_rss_after_rooms_mb") or {}).get(node)
			per = m.get("kb_per_connection") if node == "node1" and held else None
			lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
				node, "%.1f" % rest[node] if rest[node] else "-",
				"%.1f" % before if before else "-", "%.1f" % held if held else "-",
				"%.1f" % after if after else "-", "%.1f" % gone if gone else "-",
				"%.2f" % per if per else "-"))
		if m.get("tcp_kernel_sockets_kb_per_socket") is not None or \
				m.get("tcp_kernel_buffers_kb_per_socket") is not None:
			def kb(key):
				v = m.get("tcp_kernel_%s_kb_per_socket" % key)
				return "%.2f KB" % v if v is not None else "-"
			lines += ["", "Kernel memory per TCP socket while they were held (not in any RSS): "
				  "%s of socket structure (\"TCP\" slab), %s of queued data." % (
					  kb("sockets"), kb("buffers"))]
	return lines


def node_notes(report):
	lines = []
	for s in report["scenarios"]:
		n = s.get("node_stats") or {}
		bits = []
		for key, label in (("room_gap_fetches_total", "gap fetches"),
				   ("ws_transient_dropped_total", "transient msgs dropped"),
				   ("ws_slow_clients_closed_total", "slow clients closed"),
				   ("ws_rate_limited_total", "rate limited"),
				   ("bus_publish_dropped_total", "publishes dropped")):
			if n.get(key):
				bits.append("%s %s" % (fmt_int(n[key]), label))
		if n.get("delivery_lag_mean_ms") is not None:
			bits.append("node-measured cross-node delivery lag mean %s ms"
				    % fmt_ms(n["delivery_lag_mean_ms"]))
		if n.get("ops_per_batch"):
			bits.append("%.1f ops/batch, batch %s ms" % (n["ops_per_batch"],
								      fmt_ms(n.get("batch_round_trip_ms"))))
		errs = s.get("messages", {}).get("errors") or {}
		if errs:
			bits.append("error messages: " + ", ".join("%s %s" % (v, k) for k, v in errs.items()))
		closes = s.get("connections", {})
		if closes.get("reconnects"):
			bits.append("%s reconnects (%s)" % (closes["reconnects"], ", ".join(
				"%s %s" % (v, k) for k, v in closes["unexpected_closes"].items())))
		lg = s.get("load_generator", {})
		bits.append("ws_load %.1f CPU s" % (lg.get("cpu_seconds") or 0))
		lines.append("- %s: %s." % (s["scenario"], "; ".join(bits)))
	return lines


def pick(report, name):
	for s in report["scenarios"]:
		if s["scenario"] == name:
			return s
	return None


def targets(report):
	out = []
	d = pick(report, "delivery-2000")
	if d:
		h = d["ops"]["commit_to_delivery_ms"]["other_endpoint"]
		rate = d["ops"]["acked_per_sec"]
		out.append(("commit → delivery on another node p99 < %.0f ms at %s ops/s"
			    % (TARGET_DELIVERY_P99_MS, fmt_int(TARGET_DELIVERY_RATE)),
			    "%s ms at %s ops/s" % (fmt_ms(h["p99"]), fmt_int(rate)),
			    h["count"] > 0 and h["p99"] < TARGET_DELIVERY_P99_MS and
			    rate >= 0.95 * TARGET_DELIVERY_RATE))
	f = pick(report, "fanout")
	if f:
		h = f["ops"]["commit_to_delivery_ms"]["other_endpoint"]
		out.append(("(fanout, %s clients) commit → delivery on another node p99 < %.0f ms"
			    % (fmt_int(f["clients"]), TARGET_DELIVERY_P99_MS), "%s ms at %s deliveries/s"
			    % (fmt_ms(h["p99"]), fmt_int(f["ops"]["deliveries_per_sec"])),
			    h["count"] > 0 and h["p99"] < TARGET_DELIVERY_P99_MS))
	for name in ("cursors", "cursors-25hz"):
		c = pick(report, name)
		if c:
			h = c["cursors"]["relay_ms"]["other_endpoint"]
			out.append(("cursor relay across nodes p99 < %.0f ms (%.0f Hz per client)"
				    % (TARGET_CURSOR_P99_MS, c["cursors"]["hz"]), "%s ms" % fmt_ms(h["p99"]),
				    h["count"] > 0 and h["p99"] < TARGET_CURSOR_P99_MS))
	i = pick(report, "idle")
	if i:
		m = i.get("memory", {})
		n = m.get("connections", 0)
		out.append(("%s idle WebSocket connections on one node" % fmt_int(TARGET_IDLE_CONNECTIONS),
			    fmt_int(n), n >= TARGET_IDLE_CONNECTIONS))
		kb = m.get("kb_per_connection")
		ub = m.get("kb_per_connection_upper_bound")
		out.append(("< %.0f KB per idle connection (RSS delta; whole RSS / connections)"
			    % TARGET_IDLE_KB_PER_CONN, "%.2f KB (%.2f KB)" % (kb, ub)
			    if kb is not None and ub is not None else "-",
			    kb is not None and kb < TARGET_IDLE_KB_PER_CONN))
		before = (m.get("node_rss_before_mb") or {}).get("node1")
		gone = (m.get("node_rss_after_rooms_mb") or {}).get("node1")
		out.append(("node RSS back within %.0f MB of its level before the connections, "
			    "once they closed and their rooms went" % TARGET_IDLE_RSS_RETURN_MB,
			    "%+.1f MB (%.1f -> %.1f)" % (gone - before, before, gone)
			    if before and gone else "-",
			    bool(before and gone and gone - before <= TARGET_IDLE_RSS_RETURN_MB)))
	rest = report.get("rest_rss_mb") or {}
	if rest:
		worst = max(v for v in rest.values() if v is not None)
		out.append(("a node at rest < %.0f MB RSS" % TARGET_REST_RSS_MB, "%.1f MB (largest of %d)"
			    % (worst, len(rest)), worst < TARGET_REST_RSS_MB))
		end = report.get("end_rss_mb") or {}
		if end and all(end.get(k) for k in rest):
			grown = max(end[k] - rest[k] for k in rest)
			out.append(("... and back near it after load (end - rest)",
				    "%+.1f MB (largest of %d)" % (grown, len(rest)),
				    grown < 0.25 * TARGET_REST_RSS_MB))
	bc = pick(report, "bigcanvas")
	if bc:
		b = bc["bigcanvas"]
		h = b["healthz_ms"]
		ctl = (pick(report, "bigcanvas-control") or {}).get("bigcanvas", {})
		out.append(("reading the largest allowed canvas: event-loop stall p99 < %.0f ms"
			    % TARGET_LOOP_STALL_P99_MS,
			    "/healthz p99 %s ms (max %s), loop lag p99 <= %s ms (control: %s ms, "
			    "<= %s ms)" % (
				    fmt_ms(h.get("p99")), fmt_ms(h.get("max")),
				    b["loop_lag"]["p99_le_ms"],
				    fmt_ms(ctl.get("healthz_ms", {}).get("p99")),
				    ctl.get("loop_lag", {}).get("p99_le_ms")),
			    h.get("count", 0) > 0 and h["p99"] < TARGET_LOOP_STALL_P99_MS and
			    (b["loop_lag"]["p99_le_ms"] or 0) <= TARGET_LOOP_STALL_P99_MS))
	j = pick(report, "join-history")
	if j:
		h = j["join"]["connect_to_sync_ms"]
		out.append(("join a canvas with %s ops of history: < %.0f ms to sync (p99)"
			    % (fmt_int(j.get("history_ops", 0)), TARGET_JOIN_MS),
			    "%s ms (p50 %s)" % (fmt_ms(h["p99"]), fmt_ms(h["p50"])),
			    h["count"] > 0 and h["p99"] < TARGET_JOIN_MS and
			    j.get("history_ops", 0) >= TARGET_JOIN_HISTORY))
	js = pick(report, "join-history-since")
	if js:
		h = js["join"]["connect_to_sync_ms"]
		out.append(("... with ?since=head-%d (p99)" % js["join"]["since_lag"],
			    "%s ms (p50 %s)" % (fmt_ms(h["p99"]), fmt_ms(h["p50"])),
			    h["count"] > 0 and h["p99"] < TARGET_JOIN_MS))
	many = pick(report, "ws-many")
	if many:
		o = many["ops"]
		h = o["commit_to_delivery_ms"]["other_endpoint"]
		out.append(("ws-many (%s canvases x %d clients over 3 nodes): committed ops/s, ack p99, "
			    "cross-node delivery p99" % (fmt_int(many.get("canvases", 0)),
							 many.get("clients_per_canvas", 3)),
			    "%s ops/s, %s ms, %s ms" % (fmt_int(o["acked_per_sec"]),
						       fmt_ms(o["ack_ms"]["p99"]), fmt_ms(h["p99"])),
			    bool(many.get("ok"))))
	hot = pick(report, "commit-hot-ws")
	if hot:
		o = hot["ops"]
		out.append(("commit-hot over WebSocket >= %s ops/s" % fmt_int(TARGET_HOT_OPS),
			    fmt_int(o["acked_per_sec"]), o["acked_per_sec"] >= TARGET_HOT_OPS))
		out.append(("commit-hot over WebSocket ack p99 < %.0f ms" % TARGET_HOT_P99_MS,
			    "%s ms" % fmt_ms(o["ack_ms"]["p99"]), o["ack_ms"]["p99"] < TARGET_HOT_P99_MS))
	if report["scenarios"]:
		bad = [s["scenario"] for s in report["scenarios"] if not s.get("ok")]
		out.append(("convergence: every client's state hash = GET /state, version = "
			    "canvases.version, in every run", "failed in " + ", ".join(bad) if bad else
			    "%d of %d runs" % (len(report["scenarios"]), len(report["scenarios"])), not bad))
	return out


def write_reports(report, out_dir):
	out_dir.mkdir(parents=True, exist_ok=True)
	(out_dir / "ws.json").write_text(json.dumps(report, indent=2) + "\n")
	md = ["# Realtime (WebSocket) benchmark %s" % report["started_at"], ""]
	for failure in report["failures"]:
		md += ["**FAILED:** " + failure.replace("\n", " "), ""]
	md.append(mode_paragraph(report))
	if report.get("node_env_effective"):
		md.append("")
		md.append("Node settings set by the benchmark: %s." % ", ".join(
			"`%s=%s`" % kv for kv in sorted(report["node_env_effective"].items())))
	md.append("")
	h = report.get("history")
	md.append("Planner statistics: %s%s." % (
		"`ANALYZE` of the FlowState tables before every scenario"
		if report.get("analyze") else "none forced (--no-analyze)",
		"; the operations table holds a %s-op history canvas (inserted with SQL at setup, "
		"%.1f s) from the start" % (fmt_int(h["ops"]), h["insert_seconds"]) if h else ""))
	md.append("")
	md.append(machine_paragraph(report["machine"], "ulimit -n %s" % report.get("fd_limit")))
	md.append("")
	md += tables(report)
	md.append("")
	md.append("## Targets (DESIGN §10)")
	md.append("")
	md += targets_table(targets(report))
	md.append("")
	md.append("## Node counters and load generator")
	md.append("")
	md += node_notes(report)
	md.append("")
	md.append("## CPU (cores busy, averaged over the run incl. connect and warmup) / max RSS MB")
	md.append("")
	md += cpu_table(report["scenarios"])
	md.append("")
	md.append("Columns: \"same/other node\" compares the endpoint of the writer (or cursor "
		  "sender) with the receiver's; with the nodes as endpoints that is the node. "
		  "commit → delivery = arrival of the `operation` at a client − arrival of the `ack` at "
		  "the writer (one clock: all clients live in one process); a delivery that arrives "
		  "before the ack counts as 0. send → delivery includes the commit. Latencies of ops "
		  "and cursors sent in the measured window only.")
	(out_dir / "ws.md").write_text("\n".join(md) + "\n")


# ---------------------------------------------------------------------------------------------

def main(argv=None):
	p = argparse.ArgumentParser(prog="scripts/bench ws",
				    description="Realtime benchmark of the WebSocket path: fan-out, "
						"cursors, idle connections, joins, commit-hot over "
						"WebSocket.")
	p.add_argument("--quick", action="store_true", help="3 s per scenario instead of 10, "
		       "shorter idle hold")
	p.add_argument("--duration", type=float, help="measured seconds per scenario")
	p.add_argument("--warmup", type=float, help="unmeasured seconds before each scenario")
	p.add_argument("--only", help="comma-separated scenarios: " + ", ".join(SCENARIOS))
	p.add_argument("--fanout-clients", type=int, default=300)
	p.add_argument("--fanout-writers", type=int, default=30)
	p.add_argument("--fanout-rate", type=float, default=100.0)
	p.add_argument("--delivery-rate", type=float, default=2000.0)
	p.add_argument("--delivery-writers", type=int, default=30)
	p.add_argument("--cursor-clients", type=int, default=100)
	p.add_argument("--cursor-canvases", type=int, default=10)
	p.add_argument("--cursor-hz", type=float, default=30.0)
	p.add_argument("--idle-connections", type=int, help="idle connections on node 1 "
		       "(default 10,000, fewer if ulimit -n does not allow it)")
	p.add_argument("--idle-clients-per-canvas", type=int, default=10)
	p.add_argument("--idle-hold", type=float, help="seconds to hold them (default 30, quick 5)")
	p.add_argument("--history-ops", type=int, default=100000)
	p.add_argument("--history-shapes", type=int, default=1000)
	p.add_argument("--joins", type=int, default=50)
	p.add_argument("--nosnapshot-joins", type=int, default=5,
		       help="joins before the snapshot exists (each replays the whole log); 0: skip")
	p.add_argument("--since-lag", type=int, default=100)
	p.add_argument("--hot-writers", type=int, default=30)
	p.add_argument("--many-canvases", type=int, default=1000)
	p.add_argument("--many-clients-per-canvas", type=int, default=3)
	p.add_argument("--big-duration", type=float, help="measured seconds of bigcanvas "
		       "(default 20, quick 8)")
	p.add_argument("--big-cursor-clients", type=int, default=20,
		       help="bigcanvas: cursor clients on node 1 meanwhile")
	p.add_argument("--big-shapes", type=int, help="bigcanvas: rects (default: from the limits)")
	p.add_argument("--big-paths", type=int, default=0, help="with --big-shapes: paths")
	p.add_argument("--big-points", type=int, default=0, help="with --big-shapes: points per path")
	p.add_argument("--node-log-level", help="FLOWSTATE_LOG_LEVEL of our own cluster's nodes")
	p.add_argument("--node-env", action="append", default=[], metavar="NAME=VALUE",
		       help="extra FLOWSTATE_* setting for our own cluster's nodes (repeatable)")
	p.add_argument("--cluster-dir", help="use the running cluster in this directory")
	p.add_argument("--nodes", help="comma-separated node URLs of a running deployment")
	p.add_argument("--gateway", help="gateway URL of a running deployment")
	p.add_argument("--database-url", help="its Postgres (for the history insert)")
	p.add_argument("--out-dir", help="report directory (default var/bench/<timestamp>)")
	p.add_argument("--wait-quiet", type=float, default=30.0, metavar="SECONDS",
		       help="before each scenario, wait up to this long for other processes to use "
		       "< 0.25 cores (default 30; 0: do not wait)")
	p.add_argument("--node-bin", help="flowstate-node binary for our own cluster")
	p.add_argument("--no-analyze", action="store_true", help="do not ANALYZE the tables before "
		       "each scenario (a fresh cluster then runs with no planner statistics)")
	p.add_argument("--skip-build", action="store_true", help="use the binaries as they are")
	p.add_argument("--keep", action="store_true", help="keep the temporary directory")
	args = p.parse_args(argv)
	if args.duration is None:
		args.duration = 3.0 if args.quick else 10.0
	if args.warmup is None:
		args.warmup = 1.0 if args.quick else 2.0
	if args.idle_hold is None:
		args.idle_hold = 5.0 if args.quick else 30.0
	if args.big_duration is None:
		args.big_duration = 8.0 if args.quick else 20.0
	only = set(args.only.split(",")) if args.only else None
	if only and only - set(SCENARIOS):
		p.error("unknown scenario(s): %s" % ", ".join(sorted(only - set(SCENARIOS))))

	def wanted(name):
		return only is None or name in only

	fd_limit = procs.raise_fd_limit()
	if args.idle_connections is None:
		# ws_load and the node each hold one descriptor per connection, plus some slack.
		args.idle_connections = min(TARGET_IDLE_CONNECTIONS, fd_limit - 200)
	if args.idle_connections + 100 > fd_limit:
		p.error("--idle-connections %d: ulimit -n is %d" % (args.idle_connections, fd_limit))

	started = time.strftime("%Y%m%d-%H%M%S")
	out_dir = Path(args.out_dir) if args.out_dir else REPO / "var" / "bench" / started

	def run(work, start_topology):
		node_bin = args.node_bin or os.environ.get("FLOWSTATE_NODE_BIN")
		binary = build_ws_load(args.skip_build,
				       node_too=not (node_bin or args.nodes or args.cluster_dir))
		topology = start_topology()
		groups = topology.process_groups()
		machine = machine_facts(topology.fsync_dir(work))
		say("machine: %d cores, %s MB, fdatasync %s/s, ulimit -n %d"
		    % (machine["nproc"], fmt_int(machine["memory_mb"]),
		       fmt_int(machine["fdatasync_per_sec"]), fd_limit))
		report = {"started_at": started, "quick": args.quick, "duration": args.duration,
			  "warmup": args.warmup, "machine": machine, "fd_limit": fd_limit,
			  "node_log_level": args.node_log_level or (
				  "info" if topology.cluster else "(external deployment)"),
			  "node_env": args.node_env, "failures": [], "scenarios": [],
			  "node_env_effective": dict(topology.cluster.env_overrides)
			  if topology.cluster else None, "analyze": not args.no_analyze,
			  "node_bin": str(topology.cluster.node_bin) if topology.cluster else None}
		runner = Runner(args, binary, work, topology, groups, report)
		# A node at rest: started, migrated, connected to Postgres and Redis, nothing else.
		time.sleep(1.0)
		report["rest_rss_mb"] = node_rss_mb(runner.pids)
		say("node RSS at rest: %s" % report["rest_rss_mb"])

		tag = uuid.uuid4().hex[:8]
		client = api_client(topology.node_urls[0])
		accounts = Accounts(client, tag)
		db = Database(topology.database_url) if topology.database_url else None
		history = None
		if db is not None and args.history_ops > 0:
			history = setup_history(args, accounts, tag, db)
			report["history"] = {"ops": args.history_ops, "shapes": args.history_shapes,
					     "insert_seconds": history["insert_seconds"]}

		def step(name, fn):
			if not wanted(name):
				return
			if len(topology.node_urls) < 3 and name not in ("idle", "join-history",
									 "fanout-gateway", "bigcanvas"):
				say("%s: skipped (needs 3 nodes, have %d)" % (name, len(topology.node_urls)))
				return
			accounts.login()
			if db is not None and not args.no_analyze:
				# A fresh cluster has no planner statistics, and statistics of an empty
				# operations table make the hot canvas commit 3-4x slower until
				# autoanalyze runs. A deployment has a large, analyzed table: measure that
				# (the history canvas made at setup is that table's bulk).
				db.sql("ANALYZE operations, canvases, snapshots, workspace_members, users;")
			if args.wait_quiet > 0:
				wait_for_quiet(groups, args.wait_quiet)
			results = fn()
			for res in results if isinstance(results, list) else [results]:
				show(res)
			# What the node keeps once the load is gone (past its malloc trim).
			time.sleep(RSS_SETTLE_S)
			report.setdefault("rss_after_mb", {})[name] = node_rss_mb(runner.pids)
			say("  node RSS after %s: %s" % (name, report["rss_after_mb"][name]))

		def show(res):
			load, got, checked = summary(res)
			say("  %s: %s -> %s; convergence %s" % (res["scenario"], load, got, checked))
			for measure, h in lat_rows(res):
				if h and h["count"]:
					say("    %-34s p50 %7s  p99 %7s  max %7s ms  (%s)" % (
						measure, fmt_ms(h["p50"]), fmt_ms(h["p99"]), fmt_ms(h["max"]),
						fmt_int(h["count"])))

		step("fanout", lambda: scenario_fanout(runner, accounts, tag, "fanout",
						       args.fanout_clients, args.fanout_writers,
						       args.fanout_rate))
		if wanted("fanout-gateway") and not topology.gateway_url:
			say("fanout-gateway: skipped (no gateway)")
		elif wanted("fanout-gateway"):
			step("fanout-gateway", lambda: scenario_fanout(runner, accounts, tag,
								       "fanout-gateway", args.fanout_clients,
								       args.fanout_writers, args.fanout_rate,
								       gateway=True))
		step("delivery-2000", lambda: scenario_fanout(runner, accounts, tag, "delivery-2000",
							      args.delivery_writers,
							      args.delivery_writers, args.delivery_rate))
		step("cursors", lambda: scenario_cursors(runner, accounts, tag, "cursors", args.cursor_hz))
		step("cursors-25hz", lambda: scenario_cursors(runner, accounts, tag, "cursors-25hz", 25.0))
		step("idle", lambda: scenario_idle(runner, accounts, tag))
		if wanted("join-history") and history is None:
			say("join-history: skipped (needs --database-url and --history-ops > 0)")
		elif wanted("join-history"):
			step("join-history", lambda: scenario_join_history(runner, accounts, history))
		step("commit-hot-ws", lambda: scenario_commit_hot(runner, accounts, tag))
		step("ws-many", lambda: scenario_ws_many(runner, accounts, tag))
		if wanted("bigcanvas") and db is None:
			say("bigcanvas: skipped (needs --database-url)")
		elif wanted("bigcanvas"):
			step("bigcanvas", lambda: scenario_bigcanvas(runner, accounts, tag, db))
		report["end_rss_mb"] = node_rss_mb(runner.pids)
		client.close()

		write_reports(report, out_dir)
		print()
		for failure in report["failures"]:
			print("FAILED: " + failure.splitlines()[0])
		print("\n".join(tables(report)))
		print()
		print_targets(targets(report), 74, 26)
		print()
		print("report: %s/ws.md and ws.json" % out_dir)
		if report["failures"]:
			say("FAILED: %d scenario(s) failed a check (convergence, order or protocol); "
			    "see above and the report" % len(report["failures"]))
			return 1
		return 0

	return run_guarded(args, "flowstate-bench-ws-", run)
