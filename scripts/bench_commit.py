#!/usr/bin/python3
"""Commit benchmark of FlowState's REST write path, with the Postgres ceiling of the same run.

Run it through `scripts/bench commit [--quick]`. Python 3 standard library only.

What one run does:
  1. builds build/ (release) and the load generator tests/load/commit_bench.c;
  2. starts a private cluster through scripts/cluster.py (Postgres, Redis, 3 nodes, nginx, all on
     127.0.0.1 in a temporary directory), unless --cluster-dir or --nodes/--database-url point at
     a running one;
  3. measures the ceiling with pgbench against the same Postgres: the bare single-op commit
     transaction (UPDATE canvases ... RETURNING + INSERT) on one hot canvas with 1 and 16
     clients and over many canvases, and the same transaction allocating 16 versions at once;
  4. drives POST /api/v1/canvases/{id}/operations with commit_bench: one hot canvas (30 writers)
     and many canvases (1,000 x 3 writers), on 1 node and on 3 nodes, plus many canvases through
     the sticky nginx gateway;
  5. after every scenario checks in Postgres that each canvas's versions are exactly 1..N and
     canvases.version = N, and that N matches the 201s the load generator counted; a mismatch
     fails the run;
  6. prints a table and writes var/bench/<timestamp>/commit.json and commit.md (figures,
     machine facts, CPU time and RSS of every process involved).

Everything runs on 127.0.0.1, and everything it starts is stopped at the end (also on Ctrl-C).
"""

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import bench_plot  # noqa: E402
import cluster as topo  # noqa: E402  (scripts/ is not a package)

PG_BIN = topo.PG_BIN
BUILD_DIR = REPO / "build"
# The same configuration as scripts/up, so the two never fight over build/'s cache.
CMAKE_CONFIGURE = ["cmake", "-S", str(REPO), "-B", str(BUILD_DIR), "-DCMAKE_BUILD_TYPE=Release",
		   "-DCMAKE_C_FLAGS_RELEASE=-O2 -g -DNDEBUG", "-DFLOWSTATE_SANITIZE=OFF",
		   "-DFLOWSTATE_TESTS=OFF"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
PASSWORD = "bench-password-not-secret"

# DESIGN.md §10.
TARGET_HOT_OPS = 10000
TARGET_HOT_RATIO = 2.0
TARGET_HOT_P99_MS = 25.0
TARGET_MANY_OPS = 20000


class BenchError(Exception):
	"""The run cannot go on, or its result is wrong: the message says what and where."""


def say(msg):
	print("bench: " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Machine facts.

def _first_line(argv):
	try:
		res = subprocess.run(argv, capture_output=True, text=True, timeout=20,
				     stdin=subprocess.DEVNULL)
	except (OSError, subprocess.TimeoutExpired) as e:
		return "unavailable (%s)" % e
	text = (res.stdout.strip() or res.stderr.strip()).splitlines()
	return text[0].strip() if text else "unknown"


def _meminfo_mb(key):
	for line in Path("/proc/meminfo").read_text().splitlines():
		if line.startswith(key + ":"):
			return int(line.split()[1]) // 1024
	return None


def _cpu_model():
	for line in Path("/proc/cpuinfo").read_text().splitlines():
		if line.startswith("model name"):
			return line.split(":", 1)[1].strip()
	return platform.processor() or "unknown"


def fdatasync_rate(directory, seconds=1.0):
	"""8 KiB write + fdatasync per iteration on the filesystem Postgres writes its WAL to: the
	rate of durable flushes the disk gives one writer, which bounds a single hot canvas."""
	path = Path(directory) / ".bench-fsync-probe"
	block = b"\0" * 8192
	fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
	try:
		n = 0
		start = time.monotonic()
		while time.monotonic() - start < seconds:
			os.pwrite(fd, block, 0)
			os.fdatasync(fd)
			n += 1
		return round(n / (time.monotonic() - start))
	finally:
		os.close(fd)
		path.unlink()


def git_revision():
	rev = _first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
	try:
		dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
				       capture_output=True, text=True, timeout=20).stdout.strip()
	except (OSError, subprocess.TimeoutExpired):
		dirty = ""
	return rev + ("+uncommitted changes" if dirty else "")


def machine_facts(fsync_dir):
	return {
		"nproc": os.cpu_count(),
		"cpu_model": _cpu_model(),
		"memory_mb": _meminfo_mb("MemTotal"),
		"kernel": platform.release(),
		"postgres": _first_line([str(PG_BIN / "postgres"), "--version"]),
		"pgbench": _first_line([str(PG_BIN / "pgbench"), "--version"]),
		"redis": _first_line([topo.REDIS_BIN, "--version"]),
		"nginx": _first_line([topo.NGINX_BIN, "-v"]),
		"libevent": _first_line(["pkg-config", "--modversion", "libevent"]),
		"fdatasync_per_sec": fdatasync_rate(fsync_dir),
		"git": git_revision(),
		"build": " ".join(CMAKE_CONFIGURE[5:]),
	}


# ---------------------------------------------------------------------------------------------
# Build.

def build(skip, node_too):
	"""Returns the path of the commit_bench binary; builds flowstate-node in build/ too."""
	if not skip and node_too:
		say("building build/ (release)")
		try:
			subprocess.run(CMAKE_CONFIGURE, check=True, stdout=subprocess.DEVNULL)
			subprocess.run(["cmake", "--build", str(BUILD_DIR), "-j%d" % (os.cpu_count() or 2),
					"--target", "flowstate-node"], check=True, stdout=subprocess.DEVNULL)
		except subprocess.CalledProcessError:
			raise BenchError("the release build of flowstate-node failed (compiler output "
					 "above); --node-bin BINARY runs the benchmark with another build")
	targets = subprocess.run(["cmake", "--build", str(BUILD_DIR), "--target", "help"],
				 capture_output=True, text=True).stdout
	if re.search(r"\bcommit_bench\b", targets):
		if not skip:
			subprocess.run(["cmake", "--build", str(BUILD_DIR), "--target", "commit_bench"],
				       check=True, stdout=subprocess.DEVNULL)
		binary = BUILD_DIR / "bin" / "commit_bench"
	else:
		# Until CMakeLists.txt has the target: the same flags, compiled directly.
		out_dir = BUILD_DIR / "load"
		out_dir.mkdir(parents=True, exist_ok=True)
		binary = out_dir / "commit_bench"
		pkg = subprocess.run(["pkg-config", "--cflags", "--libs", "libevent"], check=True,
				     capture_output=True, text=True).stdout.split()
		cmd = ["cc", "-std=c17", "-O2", "-g", "-DNDEBUG", "-D_GNU_SOURCE", "-Wall", "-Wextra",
		       "-Werror", "-Wshadow", "-Wstrict-prototypes", "-Wmissing-prototypes",
		       "-Wno-unused-parameter", "-I" + str(REPO / "common"),
		       "-I" + str(REPO / "tests" / "load"), str(REPO / "tests/load/commit_bench.c"),
		       str(REPO / "tests/load/histogram.c"), str(REPO / "tests/load/loadgen.c"),
		       str(REPO / "common/alloc.c"), str(REPO / "common/validate.c"),
		       "-o", str(binary)] + pkg + ["-lm"]
		if not skip or not binary.exists():
			subprocess.run(cmd, check=True)
	if not os.access(binary, os.X_OK):
		raise BenchError("%s is missing (run without --skip-build)" % binary)
	return binary


# ---------------------------------------------------------------------------------------------
# REST client (keep-alive, one connection per base URL).

class Api:
	def __init__(self, base_url):
		m = re.match(r"http://(127\.0\.0\.1):(\d+)/?$", base_url)
		if not m:
			raise BenchError("%s: only http://127.0.0.1:PORT URLs are allowed" % base_url)
		self.host, self.port = m.group(1), int(m.group(2))
		self.conn = None

	def call(self, method, path, body=None, token=None, expect=(200, 201)):
		headers = {"Content-Type": "application/json"}
		if token:
			headers["Authorization"] = "Bearer " + token
		data = json.dumps(body).encode() if body is not None else None
		for attempt in range(2):
			if self.conn is None:
				self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
			try:
				self.conn.request(method, "/api/v1" + path, body=data, headers=headers)
				resp = self.conn.getresponse()
				raw = resp.read()
				break
			except (OSError, http.client.HTTPException):
				# A keep-alive connection the server closed while idle: reconnect once.
				self.conn.close()
				self.conn = None
				if attempt:
					raise
		if resp.status not in expect:
			raise BenchError("%s %s: %d %s" % (method, path, resp.status, raw[:300]))
		return json.loads(raw) if raw else None

	def close(self):
		if self.conn is not None:
			self.conn.close()
			self.conn = None


class Accounts:
	"""An owner and two editors. Every scenario gets its own workspace, so its canvases (and
	nothing else) are what the verification reads."""

	def __init__(self, api, tag):
		self.api = api
		self.emails = ["bench-%s-%d@example.com" % (tag, i) for i in range(3)]
		self.user_ids = []
		self.tokens = []
		for i, email in enumerate(self.emails):
			u = api.call("POST", "/auth/register", {"email": email, "password": PASSWORD,
								"display_name": "bench %d" % i})
			self.user_ids.append(u["id"])
		self.login()

	def login(self):
		"""Fresh access tokens (they live 15 minutes; a full run can take longer)."""
		self.tokens = [self.api.call("POST", "/auth/login", {"email": e, "password": PASSWORD})
			       ["access_token"] for e in self.emails]

	def workspace(self, name):
		ws = self.api.call("POST", "/workspaces", {"name": name}, token=self.tokens[0])["id"]
		for email in self.emails[1:]:
			self.api.call("POST", "/workspaces/%s/members" % ws,
				      {"email": email, "role": "editor"}, token=self.tokens[0])
		return ws

	def canvases(self, ws, count):
		"""[(canvas id, access token of the user who writes it)]: canvases rotate over the
		three users."""
		out = []
		for i in range(count):
			c = self.api.call("POST", "/workspaces/%s/canvases" % ws, {"name": "bench %d" % i},
					  token=self.tokens[i % 3])
			out.append((c["id"], self.tokens[i % 3]))
		return out


# ---------------------------------------------------------------------------------------------
# Processes: CPU time and RSS from /proc.

def _stat_fields(pid):
	data = Path("/proc/%d/stat" % pid).read_text()
	return data[data.rindex(")") + 2:].split()


def proc_cpu_ticks(pid, with_children=False):
	"""utime + stime (+ cutime + cstime of reaped children) in clock ticks."""
	f = _stat_fields(pid)
	ticks = int(f[11]) + int(f[12])
	if with_children:
		ticks += int(f[13]) + int(f[14])
	return ticks


def proc_rss_mb(pid, key="VmRSS"):
	for line in Path("/proc/%d/status" % pid).read_text().splitlines():
		if line.startswith(key + ":"):
			return int(line.split()[1]) / 1024.0
	return 0.0


def children_of(ppid):
	out = []
	for d in os.listdir("/proc"):
		if not d.isdigit():
			continue
		try:
			if int(_stat_fields(int(d))[1]) == ppid:
				out.append(int(d))
		except (OSError, ValueError, IndexError):
			continue
	return out


class ProcessGroup:
	"""A named server whose CPU time we account: one process, or a master and its children
	(Postgres backends, nginx workers). The master's cutime/cstime holds the time of children
	that exited and were reaped, so before/after differences count short-lived backends too."""

	def __init__(self, name, pid, tree=False):
		self.name, self.pid, self.tree = name, pid, tree

	def cpu_ticks(self):
		try:
			ticks = proc_cpu_ticks(self.pid, with_children=self.tree)
		except OSError:
			return None
		if self.tree:
			for child in children_of(self.pid):
				try:
					ticks += proc_cpu_ticks(child)
				except OSError:
					pass
		return ticks

	def rss_mb(self):
		# For a tree only the master's own: Postgres backends share the buffer pool, and
		# summing their RSS would count it many times over.
		try:
			return proc_rss_mb(self.pid)
		except OSError:
			return None


def pressure_stall_us():
	"""Total microseconds some task was stalled on CPU and on I/O since boot (PSI), or None."""
	out = {}
	for kind in ("cpu", "io"):
		try:
			line = Path("/proc/pressure/" + kind).read_text().splitlines()[0]
			out[kind] = int(line.rsplit("total=", 1)[1])
		except (OSError, IndexError, ValueError):
			out[kind] = None
	return out


def machine_cpu_ticks():
	"""(busy, steal) clock ticks of the whole machine since boot, from /proc/stat."""
	f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
	user, nice, system, idle, iowait, irq, softirq, steal = (f + [0] * 8)[:8]
	return user + nice + system + irq + softirq, steal


class Sampler:
	"""Measures CPU time of each group, and of the whole machine, over an interval, and samples
	RSS every 100 ms. The machine's figure tells how much CPU processes that are not part of
	the benchmark took meanwhile (other people's builds and tests on a shared box)."""

	def __init__(self, groups):
		self.groups = groups
		self.rss_max = {g.name: 0.0 for g in groups}
		self._stop = threading.Event()
		self._thread = None

	def __enter__(self):
		self.t0 = time.monotonic()
		self.cpu0 = {g.name: g.cpu_ticks() for g in self.groups}
		self.machine0 = machine_cpu_ticks()
		self.pressure0 = pressure_stall_us()
		self._thread = threading.Thread(target=self._run, daemon=True)
		self._thread.start()
		return self

	def _run(self):
		while not self._stop.wait(0.1):
			for g in self.groups:
				rss = g.rss_mb()
				if rss is not None and rss > self.rss_max[g.name]:
					self.rss_max[g.name] = rss

	def __exit__(self, *exc):
		# Backends of a client that just disconnected exit and are reaped within moments;
		# their CPU time only then moves into the postmaster's cutime.
		time.sleep(0.2)
		self._stop.set()
		self._thread.join()
		self.wall = time.monotonic() - self.t0
		busy, steal = machine_cpu_ticks()
		self.machine_busy = (busy - self.machine0[0]) / CLK_TCK
		self.machine_steal = (steal - self.machine0[1]) / CLK_TCK
		pressure = pressure_stall_us()
		self.pressure = {k: (pressure[k] - self.pressure0[k]) / 1e6 / self.wall
				 if pressure[k] is not None and self.pressure0[k] is not None else None
				 for k in pressure}
		self.result = {}
		for g in self.groups:
			after = g.cpu_ticks()
			before = self.cpu0[g.name]
			cpu = (after - before) / CLK_TCK if after is not None and before is not None else None
			entry = {"cpu_seconds": round(cpu, 2) if cpu is not None else None,
				 "cpu_cores": round(cpu / self.wall, 2) if cpu is not None else None,
				 "rss_max_mb": round(self.rss_max[g.name], 1)}
			if not g.tree:
				try:
					entry["vm_hwm_mb"] = round(proc_rss_mb(g.pid, "VmHWM"), 1)
				except OSError:
					pass
			self.result[g.name] = entry
		return False

	def add_client(self, name, usage, rss_max_mb):
		"""Adds the load generator's own CPU (rusage of the reaped child) and its sampled RSS
		(ru_maxrss is useless here: Linux carries it over exec from the forked Python)."""
		cpu = usage.ru_utime + usage.ru_stime
		self.result[name] = {"cpu_seconds": round(cpu, 2), "cpu_cores": round(cpu / self.wall, 2),
				     "rss_max_mb": round(rss_max_mb, 1)}

	def machine(self):
		"""Whole-machine CPU over the interval, and what of it was nobody of ours."""
		ours = sum(e["cpu_seconds"] or 0 for e in self.result.values())
		return {"wall_seconds": round(self.wall, 2),
			"busy_cores": round(self.machine_busy / self.wall, 2),
			"other_processes_cores": round(max(0.0, self.machine_busy - ours) / self.wall, 2),
			"steal_cores": round(self.machine_steal / self.wall, 2),
			# Share of the time some task waited for a CPU / for I/O (ours included): the
			# I/O figure is where other people's fsyncs on the shared disk show up.
			"cpu_pressure": round(self.pressure["cpu"], 2) if self.pressure["cpu"] is not None else None,
			"io_pressure": round(self.pressure["io"], 2) if self.pressure["io"] is not None else None}


def wait_for_quiet(groups, max_wait, threshold=0.25):
	"""Waits (at most max_wait seconds) until processes that are not ours use less than
	`threshold` cores over one second. Returns the cores they used in the last second."""
	deadline = time.monotonic() + max_wait
	announced = False
	while True:
		with Sampler(groups) as s:
			time.sleep(0.8)
		other = s.machine()["other_processes_cores"]
		if other < threshold or time.monotonic() >= deadline:
			if announced or other >= threshold:
				say("  other processes use %.2f cores%s" % (other, "" if other < threshold
									     else "; going ahead anyway"))
			return other
		if not announced:
			say("  waiting for the machine to quieten (other processes use %.2f cores)" % other)
			announced = True


def run_measured(argv, groups, timeout, stdout_path, stderr_path, env=None, client="client"):
	"""Runs a load-generating child while sampling the servers. Returns (exit code, sampler)."""
	with Sampler(groups) as sampler, open(stdout_path, "w") as out, \
			open(stderr_path, "w") as err:
		proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
		status, usage = wait_with_rusage(proc, timeout)
	if status is None:
		raise BenchError("%s did not finish within %.0fs; killed it" % (argv[0], timeout))
	sampler.add_client(client, usage, proc.rss_max_mb)
	return os.waitstatus_to_exitcode(status), sampler


def wait_with_rusage(proc, timeout):
	"""(wait status, rusage) of the child itself (os.wait4, not RUSAGE_CHILDREN, which would
	also hold psql's time); (None, None) after killing it on timeout."""
	deadline = time.monotonic() + timeout
	proc.rss_max_mb = 0.0
	while True:
		try:
			proc.rss_max_mb = max(proc.rss_max_mb, proc_rss_mb(proc.pid))
		except OSError:
			pass
		pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
		if pid == proc.pid:
			proc.returncode = os.waitstatus_to_exitcode(status)
			return status, usage
		if time.monotonic() > deadline:
			proc.kill()
			os.wait4(proc.pid, 0)
			proc.returncode = -9
			return None, None
		time.sleep(0.05)


def scrape_metrics(url):
	"""{series: value} from a node's Prometheus text; {} if it does not answer."""
	status, body = topo.http_get(url + "/metrics", timeout=5)
	if status != 200:
		return {}
	out = {}
	for line in body.decode("utf-8", "replace").splitlines():
		if not line or line.startswith("#"):
			continue
		series, _, value = line.rpartition(" ")
		try:
			out[series] = float(value)
		except ValueError:
			pass
	return out


def commit_stats(before, after):
	"""What the nodes' group commit did between two scrapes of all nodes: batches, ops per
	batch, mean database round trip of a batch, snapshots written. None where the node does not
	export the series."""
	def delta(series):
		values = [a[series] - b.get(series, 0) for b, a in zip(before, after) if series in a]
		return sum(values) if values else None
	batches = delta("flowstate_commit_batch_ops_count")
	ops = delta("flowstate_commit_batch_ops_sum")
	seconds = delta("flowstate_commit_duration_seconds_sum")
	timed = delta("flowstate_commit_duration_seconds_count")
	return {"batches": int(batches) if batches is not None else None,
		"ops_per_batch": round(ops / batches, 2) if batches else None,
		"batch_round_trip_ms": round(seconds / timed * 1000, 2) if timed else None,
		"snapshots_written": delta("flowstate_snapshots_written_total"),
		"commit_failures": delta("flowstate_commit_failures_total")}


# ---------------------------------------------------------------------------------------------
# Database: verification and pgbench.

class Database:
	def __init__(self, url):
		if not re.match(r"postgres(ql)?://[^@/]*@?127\.0\.0\.1[:/]", url):
			raise BenchError("%s: only a Postgres on 127.0.0.1 is allowed" % url)
		self.url = url

	def env(self):
		return {k: v for k, v in os.environ.items() if not k.startswith("PG")}

	def sql(self, text):
		res = subprocess.run([str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-F", "\t", "-v",
				      "ON_ERROR_STOP=1", "-d", self.url, "-f", "-"], input=text,
				     capture_output=True, text=True, env=self.env(), timeout=300)
		if res.returncode != 0:
			raise BenchError("psql failed: %s" % res.stderr.strip())
		return [line.split("\t") for line in res.stdout.strip().splitlines() if line]

	def wal_lsn(self):
		return int(self.sql("SELECT pg_current_wal_lsn() - '0/0'")[0][0])

	def verify(self, where, acked, unknown, label):
		"""Checks every canvas matched by `where` (SQL over canvases c): versions exactly
		1..N, canvases.version = N, and sum(N) consistent with the acks counted by the client.
		Returns a dict; raises BenchError on any violation."""
		rows = self.sql("""
			SELECT count(*),
			       coalesce(sum(c.version), 0),
			       count(*) FILTER (WHERE o.n <> c.version OR coalesce(o.top, 0) <> c.version
			                           OR o.distinct_versions <> c.version)
			FROM canvases c
			CROSS JOIN LATERAL (SELECT count(*) AS n, max(version) AS top,
			                           count(DISTINCT version) AS distinct_versions
			                    FROM operations WHERE canvas_id = c.id) o
			WHERE %s;""" % where)
		canvases, committed, bad = (int(x) for x in rows[0])
		result = {"canvases": canvases, "committed": committed, "bad_canvases": bad,
			  "acked": acked, "unknown": unknown}
		problems = []
		if canvases == 0:
			problems.append("no canvases matched")
		if bad:
			sample = self.sql("""
				SELECT c.id, c.version, count(o.version), max(o.version),
				       count(DISTINCT o.version)
				FROM canvases c LEFT JOIN operations o ON o.canvas_id = c.id
				WHERE %s GROUP BY c.id, c.version
				HAVING count(o.version) <> c.version OR coalesce(max(o.version), 0) <> c.version
				    OR count(DISTINCT o.version) <> c.version
				LIMIT 5;""" % where)
			problems.append("%d canvas(es) whose versions are not exactly 1..N = canvases.version "
					"(id, version, rows, max, distinct): %s" % (bad, sample))
		if acked is not None and not (acked <= committed <= acked + unknown):
			problems.append("Postgres holds %d committed ops, the client counted %d acks "
					"(+%d with unknown outcome)" % (committed, acked, unknown))
		result["ok"] = not problems
		if problems:
			raise BenchError("VERIFICATION FAILED for %s: %s" % (label, "; ".join(problems)))
		return result


def pgbench_script(prefix, canvases, versions, user_id):
	"""The commit transaction of DESIGN §2.1 on its own: lock-and-bump the canvas version,
	insert the rows, commit. The canvas is picked uniformly from `canvases` synthetic ones."""
	canvas = "('%s' || lpad(:c::text, 12, '0'))::uuid" % prefix
	payload = '{"shape_id": "s1", "x": 10.0, "y": 20.0}'
	lines = ["\\set c random(1, %d)" % canvases, "BEGIN;",
		 "UPDATE canvases SET version = version + %d WHERE id = %s RETURNING version AS v \\gset"
		 % (versions, canvas)]
	if versions == 1:
		lines.append("INSERT INTO operations (canvas_id, version, client_op_id, user_id, type, "
			     "payload) VALUES (%s, :v, gen_random_uuid(), '%s', 'move_shape', '%s');"
			     % (canvas, user_id, payload))
	else:
		lines.append("INSERT INTO operations (canvas_id, version, client_op_id, user_id, type, "
			     "payload) SELECT %s, :v::bigint - %d + g, gen_random_uuid(), '%s', "
			     "'move_shape', '%s' FROM generate_series(1, %d) g;"
			     % (canvas, versions, user_id, payload, versions))
	lines.append("COMMIT;")
	return "\n".join(lines) + "\n"


def checked(db, report, where, acked, unknown, label):
	"""db.verify, but a violation is recorded (and fails the run at the end) instead of
	stopping it: the other scenarios still tell something."""
	try:
		return db.verify(where, acked, unknown, label)
	except BenchError as e:
		say(str(e))
		report["verification_failures"].append(str(e))
		return {"ok": False, "error": str(e)}


def run_pgbench(db, work, name, prefix, canvases, versions, clients, seconds, user_id, groups):
	script = Path(work) / ("%s.sql" % name)
	script.write_text(pgbench_script(prefix, canvases, versions, user_id))
	argv = [str(PG_BIN / "pgbench"), "-n", "-M", "prepared", "-c", str(clients),
		"-j", str(min(clients, os.cpu_count() or 2)), "-T", str(max(1, round(seconds))),
		"-f", str(script), db.url]
	say("pgbench %s: %d client(s), %d canvas(es), %d version(s) per transaction, %ds"
	    % (name, clients, canvases, versions, max(1, round(seconds))))
	out_path, err_path = Path(work) / (name + ".out"), Path(work) / (name + ".err")
	lsn = db.wal_lsn()
	code, sampler = run_measured(argv, groups, seconds + 120, out_path, err_path, env=db.env(),
				     client="pgbench")
	wal_bytes = db.wal_lsn() - lsn
	out = out_path.read_text()
	if code != 0:
		raise BenchError("pgbench %s failed:\n%s%s" % (name, out, err_path.read_text()))
	tps = float(re.search(r"^tps = ([\d.]+)", out, re.M).group(1))
	processed = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))
	lat = re.search(r"latency average = ([\d.]+) ms", out)
	failed = re.search(r"number of failed transactions: (\d+)", out)
	return {"name": name, "clients": clients, "canvases": canvases,
		"versions_per_tx": versions, "tps": round(tps, 1), "ops_per_sec": round(tps * versions, 1),
		"transactions": processed, "failed": int(failed.group(1)) if failed else 0,
		"latency_avg_ms": float(lat.group(1)) if lat else None, "processes": sampler.result,
		"machine_cpu": sampler.machine(),
		"wal_bytes_per_op": round(wal_bytes / (processed * versions)) if processed else None}


# ---------------------------------------------------------------------------------------------
# Scenarios.

class Topology:
	"""Where the servers are: our own throwaway cluster, a running scripts/up cluster
	(--cluster-dir), or bare URLs (--nodes, --gateway, --database-url)."""

	def __init__(self, args, work):
		self.cluster = None
		self.cluster_root = None
		if args.nodes or args.database_url:
			if not (args.nodes and args.database_url):
				raise BenchError("--nodes and --database-url go together")
			self.node_urls = [u.strip().rstrip("/") for u in args.nodes.split(",") if u.strip()]
			self.gateway_url = args.gateway
			self.database_url = args.database_url
		elif args.cluster_dir:
			self.cluster_root = Path(args.cluster_dir).resolve()
			try:
				manifest = json.loads((self.cluster_root / "cluster.json").read_text())
			except (OSError, ValueError) as e:
				raise BenchError("no cluster in %s: %s" % (args.cluster_dir, e))
			self.node_urls = manifest["node_urls"]
			self.gateway_url = manifest.get("gateway_url")
			self.database_url = manifest["database_url"]
		else:
			root = Path(work) / "cluster"
			# One load-generator user writes for what would be many people: lift the
			# per-user limit (1,000 ops/s by default) so it measures the commit path, not
			# the limiter. --node-env overrides.
			env = {"FLOWSTATE_USER_OPS_PER_SECOND": "1000000",
			       "FLOWSTATE_USER_OPS_BURST": "1000000"}
			if args.node_log_level:
				env["FLOWSTATE_LOG_LEVEL"] = args.node_log_level
			for item in args.node_env:
				name, sep, value = item.partition("=")
				if not sep or not re.match(r"FLOWSTATE_[A-Z0-9_]+$", name):
					raise BenchError("--node-env %s: expected FLOWSTATE_NAME=VALUE" % item)
				env[name] = value
			self.cluster = topo.Cluster(root, nodes=3, env_overrides=env, node_bin=args.node_bin)
			say("starting a private cluster in %s (3 nodes)" % root)
			self.cluster.start()
			self.cluster.wait_ready()
			self.cluster_root = root
			self.node_urls = self.cluster.node_urls
			self.gateway_url = self.cluster.gateway_url
			self.database_url = self.cluster.database_url

	def process_groups(self):
		"""What we can see of the servers' processes (nothing for bare URLs)."""
		if self.cluster_root is None:
			return []
		run = self.cluster_root / "run"
		groups = []
		pg_pid = self.cluster_root / "pg" / "data" / "postmaster.pid"
		try:
			groups.append(ProcessGroup("postgres", int(pg_pid.read_text().split()[0]), tree=True))
		except (OSError, ValueError, IndexError):
			pass
		for i in range(len(self.node_urls)):
			p = topo._read_pidfile(run / ("node%d.pid" % (i + 1)))
			if p and p.alive():
				groups.append(ProcessGroup("node%d" % (i + 1), p.pid))
		for name, tree in (("redis", False), ("gateway", True)):
			p = topo._read_pidfile(run / (name + ".pid"))
			if p and p.alive():
				groups.append(ProcessGroup(name, p.pid, tree=tree))
		return groups

	def stop(self):
		if self.cluster is not None:
			say("stopping the private cluster")
			self.cluster.stop()
			codes = {k: v for k, v in self.cluster.node_exit_codes.items() if v not in (0, None)}
			if codes:
				say("warning: nodes exited with non-zero codes on SIGTERM: %s" % codes)
			self.cluster = None


def run_commit_bench(binary, work, name, urls, canvases, writers_per_canvas, args, groups,
		     db, metric_urls, route="writer"):
	tokens_file = Path(work) / ("%s.canvases" % name)
	tokens_file.write_text("".join("%s %s\n" % c for c in canvases))
	os.chmod(tokens_file, 0o600)
	argv = [str(binary), "--canvases", str(tokens_file), "--writers-per-canvas",
		str(writers_per_canvas), "--max-connections", str(args.max_connections),
		"--duration", str(args.duration), "--warmup", str(args.warmup), "--route", route]
	for u in urls:
		argv += ["--node", u]
	say("%s: %d canvas(es) x %d writer(s) over %d endpoint(s), %.0fs + %.0fs warmup"
	    % (name, len(canvases), writers_per_canvas, len(urls), args.duration, args.warmup))
	out_path, err_path = Path(work) / (name + ".json"), Path(work) / (name + ".log")
	metrics_before = [scrape_metrics(u) for u in metric_urls]
	lsn = db.wal_lsn()
	code, sampler = run_measured(argv, groups, args.duration + args.warmup + 120, out_path,
				     err_path, client="load_generator")
	wal_bytes = db.wal_lsn() - lsn
	metrics_after = [scrape_metrics(u) for u in metric_urls]
	if code != 0:
		raise BenchError("%s: commit_bench exited %d:\n%s" % (name, code,
								      err_path.read_text()[-3000:]))
	result = json.loads(out_path.read_text())
	result["processes"] = sampler.result
	result["machine_cpu"] = sampler.machine()
	result["node_commit"] = commit_stats(metrics_before, metrics_after)
	acked = result["total"]["acked_201"]
	result["wal_bytes_per_op"] = round(wal_bytes / acked) if acked else None
	return result


# ---------------------------------------------------------------------------------------------
# Report.

def fmt_int(v):
	return "{:,}".format(int(round(v))) if v is not None else "-"


def fmt_ms(v):
	if v is None:
		return "-"
	return "%.1f" % v if v >= 10 else "%.2f" % v


DISTURBED_CORES = 0.25


def label_of(run):
	"""A run's name, marked when processes outside the benchmark took a share of the CPU."""
	name = run.get("scenario") or run["name"]
	other = (run.get("machine_cpu") or {}).get("other_processes_cores") or 0
	return name + (" (!)" if other > DISTURBED_CORES else "")


def tables(report):
	ceilings = report["ceilings"]
	lines = []
	lines.append("| scenario | nodes | canvases | writers | ops/s | p50 ms | p90 ms | p99 ms | "
		     "p99.9 ms | max ms | errors | x ceiling | ops/batch | batch ms |")
	lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
		     "| ---: | ---: |")
	for s in report["scenarios"]:
		lat = s["latency_ms"]
		nc = s.get("node_commit") or {}
		lines.append("| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %d | %s | %s | %s |" % (
			label_of(s), s["nodes_label"], fmt_int(s["canvases"]), s["writers"],
			fmt_int(s["ops_per_sec"]), fmt_ms(lat["p50"]), fmt_ms(lat["p90"]),
			fmt_ms(lat["p99"]), fmt_ms(lat["p999"]), fmt_ms(lat["max"]), s["errors"],
			"%.2f" % s["ratio_to_ceiling"] if s.get("ratio_to_ceiling") else "-",
			"%.1f" % nc["ops_per_batch"] if nc.get("ops_per_batch") else "-",
			fmt_ms(nc.get("batch_round_trip_ms"))))
	lines.append("")
	lines.append("| pgbench ceiling | clients | canvases | versions/tx | tx/s | ops/s | "
		     "avg latency ms |")
	lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for p in report["pgbench"]:
		lines.append("| %s | %d | %s | %d | %s | %s | %s |" % (
			label_of(p), p["clients"], fmt_int(p["canvases"]), p["versions_per_tx"],
			fmt_int(p["tps"]), fmt_int(p["ops_per_sec"]), fmt_ms(p["latency_avg_ms"])))
	lines.append("")
	lines.append("Single-op ceilings used for the ratio: hot canvas %s ops/s (best of 1 and 16 "
		     "clients), many canvases %s ops/s." % (fmt_int(ceilings.get("hot")),
							  fmt_int(ceilings.get("many"))))
	if any("(!)" in label_of(r) for r in report["scenarios"] + report["pgbench"]):
		lines.append("(!) = processes outside the benchmark used more than %.2f cores during "
			     "that run: its figures are disturbed (see the CPU table)." % DISTURBED_CORES)
	return lines


def cpu_table(report):
	names = []
	for s in report["scenarios"] + report["pgbench"]:
		for n in s.get("processes", {}):
			if n not in names:
				names.append(n)
	lines = ["| run | " + " | ".join(names) + " | all others | steal | cpu stall | io stall |",
		 "| --- |" + " ---: |" * (len(names) + 4)]
	for s in report["scenarios"] + report["pgbench"]:
		label = ("" if s.get("scenario") else "pgbench ") + label_of(s)
		cells = []
		for n in names:
			p = s.get("processes", {}).get(n)
			if not p or p.get("cpu_cores") is None:
				cells.append("-")
			else:
				cells.append("%.2f / %s" % (p["cpu_cores"], fmt_int(p["rss_max_mb"])))
		m = s.get("machine_cpu", {})
		cells.append("%.2f" % m["other_processes_cores"] if m else "-")
		cells.append("%.2f" % m["steal_cores"] if m else "-")
		for key in ("cpu_pressure", "io_pressure"):
			cells.append("%.0f%%" % (100 * m[key]) if m.get(key) is not None else "-")
		lines.append("| %s | %s |" % (label, " | ".join(cells)))
	return lines


def targets(report):
	by = {s["scenario"]: s for s in report["scenarios"]}
	out = []
	hot = by.get("hot-3nodes")
	if hot:
		ceiling = report["ceilings"].get("hot")
		out.append(("commit-hot ops/s >= %s" % fmt_int(TARGET_HOT_OPS), fmt_int(hot["ops_per_sec"]),
			    hot["ops_per_sec"] >= TARGET_HOT_OPS))
		if ceiling:
			ratio = hot["ops_per_sec"] / ceiling
			out.append(("commit-hot >= %.0fx single-op pgbench ceiling (%s)"
				    % (TARGET_HOT_RATIO, fmt_int(ceiling)), "%.2fx" % ratio,
				    ratio >= TARGET_HOT_RATIO))
		out.append(("commit-hot ack p99 < %.0f ms" % TARGET_HOT_P99_MS,
			    "%s ms" % fmt_ms(hot["latency_ms"]["p99"]),
			    hot["latency_ms"]["p99"] < TARGET_HOT_P99_MS))
	many = by.get("many-3nodes")
	if many:
		out.append(("commit-many (3 nodes, writers spread) ops/s >= %s" % fmt_int(TARGET_MANY_OPS),
			    fmt_int(many["ops_per_sec"]), many["ops_per_sec"] >= TARGET_MANY_OPS))
	sticky = by.get("many-3nodes-gateway")
	if sticky:
		out.append(("commit-many (3 nodes, through the gateway) ops/s >= %s"
			    % fmt_int(TARGET_MANY_OPS), fmt_int(sticky["ops_per_sec"]),
			    sticky["ops_per_sec"] >= TARGET_MANY_OPS))
	return out


def write_reports(report, out_dir):
	out_dir.mkdir(parents=True, exist_ok=True)
	# The load generator's latency CDF and 201s per second of every REST scenario, as PNGs
	# next to the report; no gnuplot means a note in the report, not a failed run.
	try:
		plots = bench_plot.render(out_dir, "Commit benchmark %s" % report["started_at"],
					  [dict(s, name=s["scenario"]) for s in report["scenarios"]],
					  stem="commit",
					  latency_label="ack latency of POST .../operations (ms)")
		plot_error = None if plots else "no scenario carried a latency CDF or a per-second series"
	except (bench_plot.PlotError, OSError, subprocess.SubprocessError) as e:
		say("no plots: %s" % e)
		plots, plot_error = [], str(e)
	report["plots"] = [png for _, png in plots]
	report["plot_error"] = plot_error
	(out_dir / "commit.json").write_text(json.dumps(report, indent=2) + "\n")
	m = report["machine"]
	md = ["# Commit benchmark %s" % report["started_at"], ""]
	for failure in report["verification_failures"]:
		md += ["**VERIFICATION FAILED:** " + failure, ""]
	md.append("Mode: %s (%.0f s measured per scenario after %.0f s warmup). Nodes log at `%s`%s. "
		  "Commit %s." % ("quick" if report["quick"] else "full", report["duration"],
				  report["warmup"], report["node_log_level"],
				  ", with " + ", ".join("`%s`" % e for e in report["node_env"])
				  if report["node_env"] else ", default settings otherwise", m["git"]))
	if report.get("node_bin"):
		md.append("")
		md.append("Node binary: `%s`." % report["node_bin"])
	md.append("")
	md.append("Machine: %d cores (%s), %s MB RAM, kernel %s; %s; %s; %s; libevent %s; "
		  "fdatasync %s/s (8 KiB, one writer)." % (m["nproc"], m["cpu_model"],
							    fmt_int(m["memory_mb"]), m["kernel"],
							    m["postgres"], m["redis"], m["nginx"],
							    m["libevent"], fmt_int(m["fdatasync_per_sec"])))
	md.append("")
	md += tables(report)
	md.append("")
	md.append("## Targets (DESIGN §10)")
	md.append("")
	md.append("| target | measured | |")
	md.append("| --- | ---: | --- |")
	for name, value, ok in targets(report):
		md.append("| %s | %s | %s |" % (name, value, "met" if ok else "**missed**"))
	md.append("")
	md.append("## Plots")
	md.append("")
	for title, png in plots:
		md.append("![%s](%s)" % (title, png))
		md.append("")
	if plots:
		md.append("The CDF comes from the load generator's latency histogram (acked 201s of "
			  "the measured window; up to 200 bucket tops, each with its exact fraction, "
			  "values < 0.8 % high); "
			  "the throughput plot counts 201s in each whole second of the measured window "
			  "(the fraction of a second at its end is left out).")
	else:
		md.append("No plots: %s." % plot_error.rstrip("."))
	md.append("")
	md.append("## CPU (cores busy, averaged over the run incl. warmup) / max RSS MB")
	md.append("")
	md += cpu_table(report)
	md.append("")
	md.append("Postgres is the postmaster and all its backends (RSS: the postmaster only); "
		  "\"all others\" is every other process on the machine (other people's builds and "
		  "tests on a shared box); steal is CPU the hypervisor took; cpu/io stall is the share of "
		  "the time some task waited for a CPU / for I/O (Linux PSI \"some\", ours included).")
	md.append("")
	md.append("Columns: ops/s and latencies cover the measured window only (acked 201s; "
		  "latency = request handed to the socket until the whole response is read). "
		  "ops/batch and batch ms come from the nodes' /metrics over the whole run: ops per "
		  "group-commit statement and its time from queueing on the pool to the result "
		  "(pool wait included). Closed loop: in the many-canvas runs every writer has one "
		  "request outstanding, so latency is about writers / throughput.")
	md.append("")
	md.append("Every scenario's canvases were verified in Postgres: versions exactly 1..N, "
		  "canvases.version = N, and the sum of N equal to the 201s counted by the load "
		  "generator (warmup and drain included).")
	(out_dir / "commit.md").write_text("\n".join(md) + "\n")


# ---------------------------------------------------------------------------------------------

def main(argv=None):
	p = argparse.ArgumentParser(prog="scripts/bench commit",
				    description="Commit benchmark of the REST write path, with the "
						"pgbench ceiling of the same run.")
	p.add_argument("--quick", action="store_true", help="3 s per scenario instead of 10")
	p.add_argument("--duration", type=float, help="measured seconds per scenario")
	p.add_argument("--warmup", type=float, help="unmeasured seconds before each scenario")
	p.add_argument("--hot-writers", type=int, default=30)
	p.add_argument("--many-canvases", type=int, default=1000)
	p.add_argument("--many-writers-per-canvas", type=int, default=3)
	p.add_argument("--max-connections", type=int, default=3000,
		       help="load generator connections at most; beyond that, writers share canvases")
	p.add_argument("--only", help="comma-separated scenario names (hot-1node, hot-3nodes, "
		       "many-1node, many-3nodes, many-3nodes-gateway, pgbench)")
	p.add_argument("--node-log-level", help="FLOWSTATE_LOG_LEVEL of our own cluster's nodes "
		       "(default: the cluster default, info: one line per request)")
	p.add_argument("--node-env", action="append", default=[], metavar="NAME=VALUE",
		       help="extra FLOWSTATE_* setting for our own cluster's nodes (repeatable), e.g. "
		       "FLOWSTATE_DB_POOL_SIZE=16; the report records them")
	p.add_argument("--cluster-dir", help="use the running cluster in this directory "
		       "(e.g. var of scripts/up) instead of starting one")
	p.add_argument("--nodes", help="comma-separated node URLs of a running deployment")
	p.add_argument("--gateway", help="gateway URL of a running deployment")
	p.add_argument("--database-url", help="its Postgres (for pgbench and verification)")
	p.add_argument("--out-dir", help="report directory (default var/bench/<timestamp>)")
	p.add_argument("--wait-quiet", type=float, default=30.0, metavar="SECONDS",
		       help="before each run, wait up to this long for other processes on the machine "
		       "to use < 0.25 cores (default 30; 0: do not wait)")
	p.add_argument("--node-bin", help="flowstate-node binary for our own cluster (default: "
		       "build/bin/flowstate-node, built here; or $FLOWSTATE_NODE_BIN)")
	p.add_argument("--skip-build", action="store_true", help="use the binaries as they are")
	p.add_argument("--keep", action="store_true", help="keep the temporary directory")
	args = p.parse_args(argv)
	if args.duration is None:
		args.duration = 3.0 if args.quick else 10.0
	if args.warmup is None:
		args.warmup = 1.0 if args.quick else 2.0
	only = set(args.only.split(",")) if args.only else None

	def wanted(name):
		return only is None or name in only

	started = time.strftime("%Y%m%d-%H%M%S")
	out_dir = Path(args.out_dir) if args.out_dir else REPO / "var" / "bench" / started
	work = Path(tempfile.mkdtemp(prefix="flowstate-bench-"))
	os.chmod(work, 0o755)  # Postgres and nginx workers run as other users and must reach it
	topology = None
	code = 1
	try:
		node_bin = args.node_bin or os.environ.get("FLOWSTATE_NODE_BIN")
		binary = build(args.skip_build, node_too=not (node_bin or args.nodes or args.cluster_dir))
		topology = Topology(args, work)
		db = Database(topology.database_url)
		groups = topology.process_groups()
		fsync_dir = (topology.cluster_root / "pg" / "data") if topology.cluster_root else work
		machine = machine_facts(fsync_dir if fsync_dir.exists() else work)
		say("machine: %d cores, %s MB, fdatasync %s/s" % (machine["nproc"],
								 fmt_int(machine["memory_mb"]),
								 fmt_int(machine["fdatasync_per_sec"])))
		tag = uuid.uuid4().hex[:8]
		api = Api(topology.node_urls[0])
		accounts = Accounts(api, tag)
		report = {"started_at": started, "quick": args.quick, "duration": args.duration,
			  "warmup": args.warmup, "machine": machine,
			  "node_log_level": args.node_log_level or (
				  "info" if topology.cluster else "(external deployment)"),
			  "node_env": args.node_env, "verification_failures": [],
			  "node_bin": str(topology.cluster.node_bin) if topology.cluster else None, "pgbench": [], "scenarios": [], "ceilings": {}}

		# -- the ceiling: pgbench on the same Postgres ---------------------------------------
		if wanted("pgbench"):
			ws = accounts.workspace("bench pgbench %s" % tag)
			prefix = "%s-0000-4000-8000-" % tag
			n_many = args.many_canvases
			db.sql("INSERT INTO canvases (id, workspace_id, name, created_by) "
			       "SELECT ('%s' || lpad(g::text, 12, '0'))::uuid, '%s', 'pgbench ' || g, '%s' "
			       "FROM generate_series(1, %d) g;" % (prefix, ws, accounts.user_ids[0], n_many))
			runs = [("single-hot-1", 1, 1, 1), ("single-hot-16", 1, 1, 16),
				("single-many-16", n_many, 1, 16), ("x16-hot-1", 1, 16, 1),
				("x16-hot-16", 1, 16, 16)]
			for name, canvases, versions, clients in runs:
				before = int(db.sql("SELECT coalesce(sum(version), 0) FROM canvases "
						    "WHERE workspace_id = '%s'" % ws)[0][0])
				if args.wait_quiet > 0:
					wait_for_quiet(groups, args.wait_quiet)
				r = run_pgbench(db, work, name, prefix, canvases, versions, clients,
						args.duration, accounts.user_ids[0], groups)
				r["verification"] = checked(db, report, "c.workspace_id = '%s'" % ws,
							    before + r["transactions"] * versions, 0,
							    "pgbench " + name)
				report["pgbench"].append(r)
				say("  %s ops/s (%s tx/s), avg %s ms; versions %s"
				    % (fmt_int(r["ops_per_sec"]), fmt_int(r["tps"]), fmt_ms(r["latency_avg_ms"]),
				       "verified" if r["verification"]["ok"] else "WRONG"))
			single = {r["name"]: r["ops_per_sec"] for r in report["pgbench"]}
			report["ceilings"]["hot"] = max(single["single-hot-1"], single["single-hot-16"])
			report["ceilings"]["many"] = single["single-many-16"]

		# -- the REST write path ---------------------------------------------------------------
		urls = topology.node_urls
		scenarios = [
			("hot-1node", urls[:1], 1, args.hot_writers, "writer", "hot"),
			("hot-3nodes", urls[:3], 1, args.hot_writers, "writer", "hot"),
			("many-1node", urls[:1], args.many_canvases, args.many_writers_per_canvas,
			 "writer", "many"),
			("many-3nodes", urls[:3], args.many_canvases, args.many_writers_per_canvas,
			 "writer", "many"),
		]
		if topology.gateway_url:
			scenarios.append(("many-3nodes-gateway", [topology.gateway_url], args.many_canvases,
					  args.many_writers_per_canvas, "writer", "many"))
		for name, nodes, n_canvases, wpc, route, kind in scenarios:
			if not wanted(name):
				continue
			if len(nodes) < (3 if "3nodes" in name and "gateway" not in name else 1):
				say("%s: skipped (needs 3 nodes, have %d)" % (name, len(nodes)))
				continue
			accounts.login()
			ws = accounts.workspace("bench %s %s" % (name, tag))
			canvases = accounts.canvases(ws, n_canvases)
			if args.wait_quiet > 0:
				wait_for_quiet(groups, args.wait_quiet)
			r = run_commit_bench(binary, work, name, nodes, canvases, wpc, args, groups, db,
					     topology.node_urls, route)
			r["scenario"] = name
			r["nodes_label"] = "3 via nginx" if "gateway" in name else str(len(nodes))
			ceiling = report["ceilings"].get(kind)
			r["ratio_to_ceiling"] = round(r["ops_per_sec"] / ceiling, 2) if ceiling else None
			total = r["total"]
			r["verification"] = checked(db, report, "c.workspace_id = '%s'" % ws,
						    total["acked_201"], total["unknown"], name)
			report["scenarios"].append(r)
			lat = r["latency_ms"]
			v = r["verification"]
			say("  %s ops/s, p50 %s ms, p99 %s ms, errors %d; %s"
			    % (fmt_int(r["ops_per_sec"]), fmt_ms(lat["p50"]), fmt_ms(lat["p99"]), r["errors"],
			       "%d canvases verified (%s ops)" % (v["canvases"], fmt_int(v["committed"]))
			       if v["ok"] else "VERIFICATION FAILED"))
		api.close()

		write_reports(report, out_dir)
		print()
		for failure in report["verification_failures"]:
			print("VERIFICATION FAILED: " + failure)
		print("\n".join(tables(report)))
		print()
		for name, value, ok in targets(report):
			print("%-62s %12s  %s" % (name, value, "met" if ok else "MISSED"))
		print()
		print("report: %s/commit.md and commit.json" % out_dir)
		for png in report["plots"]:
			print("plot:   %s/%s" % (out_dir, png))
		code = 0
		if report["verification_failures"]:
			say("FAILED: %d run(s) left Postgres in a state that breaks the invariants; "
			    "see above and the report" % len(report["verification_failures"]))
			code = 1
	except BenchError as e:
		say("FAILED: %s" % e)
		code = 1
	except subprocess.CalledProcessError as e:
		say("FAILED: %s" % e)
		code = 1
	except topo.ClusterError as e:
		say("FAILED (cluster): %s" % e)
		code = 1
	except KeyboardInterrupt:
		say("interrupted")
		code = 130
	finally:
		if topology is not None:
			try:
				topology.stop()
			except topo.ClusterError as e:
				say("stopping the cluster: %s" % e)
		if args.keep or (code not in (0, 130) and (work / "cluster").exists()):
			say("work directory kept: %s" % work)
		else:
			shutil.rmtree(work, ignore_errors=True)
	return code


if __name__ == "__main__":
	sys.exit(main())
