"""What every benchmark driver shares: the build of flowstate-node and of its load generator,
the servers under test (Topology), the accounts that write, the database checks, the machine
facts of the report, and the run wrapper that stops everything it started."""

import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from flowstate import REPO, api, procs
from flowstate.bench import BenchError, say
from flowstate.bench.measure import ProcessGroup
from flowstate.cluster import Cluster, ClusterError
from flowstate.cluster.base import ProcessTable
from flowstate.cluster.gateway import NGINX_BIN
from flowstate.cluster.postgres import PG_BIN, Postgres
from flowstate.cluster.redis import REDIS_BIN

BUILD_DIR = REPO / "build"
# The same configuration as scripts/up, so the two never fight over build/'s cache.
CMAKE_CONFIGURE = ["cmake", "-S", str(REPO), "-B", str(BUILD_DIR), "-DCMAKE_BUILD_TYPE=Release",
		   "-DCMAKE_C_FLAGS_RELEASE=-O2 -g -DNDEBUG", "-DFLOWSTATE_SANITIZE=OFF",
		   "-DFLOWSTATE_TESTS=OFF"]
PASSWORD = "bench-password-not-secret"


# ---------------------------------------------------------------------------------------------
# Machine facts.

def first_line(argv):
	try:
		res = subprocess.run(argv, capture_output=True, text=True, timeout=20,
				     stdin=subprocess.DEVNULL)
	except (OSError, subprocess.TimeoutExpired) as e:
		return "unavailable (%s)" % e
	text = (res.stdout.strip() or res.stderr.strip()).splitlines()
	return text[0].strip() if text else "unknown"


def meminfo_mb(key):
	for line in Path("/proc/meminfo").read_text().splitlines():
		if line.startswith(key + ":"):
			return int(line.split()[1]) // 1024
	return None


def cpu_model():
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
	rev = first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
	try:
		dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
				       capture_output=True, text=True, timeout=20).stdout.strip()
	except (OSError, subprocess.TimeoutExpired):
		dirty = ""
	return rev + ("+uncommitted changes" if dirty else "")


def machine_facts(fsync_dir):
	return {
		"nproc": os.cpu_count(),
		"cpu_model": cpu_model(),
		"memory_mb": meminfo_mb("MemTotal"),
		"kernel": platform.release(),
		"postgres": first_line([str(PG_BIN / "postgres"), "--version"]),
		"pgbench": first_line([str(PG_BIN / "pgbench"), "--version"]),
		"redis": first_line([REDIS_BIN, "--version"]),
		"nginx": first_line([NGINX_BIN, "-v"]),
		"libevent": first_line(["pkg-config", "--modversion", "libevent"]),
		"fdatasync_per_sec": fdatasync_rate(fsync_dir),
		"git": git_revision(),
		"build": " ".join(CMAKE_CONFIGURE[5:]),
	}


# ---------------------------------------------------------------------------------------------
# Build.

def build_load_generator(target, skip, node_too):
	"""Builds the CMake target `target` (a load generator of tests/load/) in build/ and returns
	its path; with node_too, flowstate-node first (release, as scripts/up). skip: use what is
	there."""
	if not skip and node_too:
		say("building build/ (release)")
		try:
			subprocess.run(CMAKE_CONFIGURE, check=True, stdout=subprocess.DEVNULL)
			subprocess.run(["cmake", "--build", str(BUILD_DIR), "-j%d" % (os.cpu_count() or 2),
					"--target", "flowstate-node"], check=True, stdout=subprocess.DEVNULL)
		except subprocess.CalledProcessError:
			raise BenchError("the release build of flowstate-node failed (compiler output "
					 "above); --node-bin BINARY runs the benchmark with another build")
	if not skip:
		if not (BUILD_DIR / "CMakeCache.txt").exists():
			subprocess.run(CMAKE_CONFIGURE, check=True, stdout=subprocess.DEVNULL)
		subprocess.run(["cmake", "--build", str(BUILD_DIR), "--target", target], check=True,
			       stdout=subprocess.DEVNULL)
	binary = BUILD_DIR / "bin" / target
	if not os.access(binary, os.X_OK):
		raise BenchError("%s is missing (run without --skip-build)" % binary)
	return binary


# ---------------------------------------------------------------------------------------------
# Accounts.

class Accounts:
	"""An owner and two editors. Every scenario gets its own workspace, so its canvases (and
	nothing else) are what the verification reads. client: an api.Client of one node."""

	def __init__(self, client, tag):
		self.client = client
		self.emails = ["bench-%s-%d@example.com" % (tag, i) for i in range(3)]
		self.user_ids = []
		self.tokens = []
		for i, email in enumerate(self.emails):
			self.user_ids.append(client.register(email, PASSWORD, "bench %d" % i)["id"])
		self.login()

	def login(self):
		"""Fresh access tokens (they live 15 minutes; a full run can take longer)."""
		self.tokens = [self.client.login(e, PASSWORD)["access_token"] for e in self.emails]

	def workspace(self, name):
		ws = self.client.create_workspace(name, token=self.tokens[0])["id"]
		for email in self.emails[1:]:
			self.client.add_member(ws, email, "editor", token=self.tokens[0])
		return ws

	def canvases(self, ws, count):
		"""[(canvas id, access token of the user who writes it)]: canvases rotate over the
		three users."""
		out = []
		for i in range(count):
			c = self.client.create_canvas(ws, "bench %d" % i, token=self.tokens[i % 3])
			out.append((c["id"], self.tokens[i % 3]))
		return out


def api_client(url):
	"""A keep-alive client of one node (loopback only; a connection the node closed while idle
	is reopened once)."""
	try:
		api.loopback_only(url)
	except ValueError as e:
		raise BenchError(str(e))
	return api.Client(url, timeout=30, keep_alive=True, reconnect=True)


def commit_stats(before, after):
	"""What the nodes' group commit did between two scrapes of all nodes (api.metrics):
	batches, ops per batch, mean database round trip of a batch, snapshots written. None where
	the node does not export the series."""
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
# Database.

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


# ---------------------------------------------------------------------------------------------
# The servers under test.

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
			self.cluster = Cluster(root, nodes=3, env_overrides=env, node_bin=args.node_bin)
			say("starting a private cluster in %s (3 nodes)" % root)
			self.cluster.start()
			self.cluster.wait_ready()
			self.cluster_root = root
			self.node_urls = self.cluster.node_urls
			self.gateway_url = self.cluster.gateway_url
			self.database_url = self.cluster.database_url

	def postgres(self):
		"""The Postgres of a cluster whose directory we know (for its pid and data dir)."""
		return Postgres(self.cluster_root, 1, ProcessTable(self.cluster_root / "run"), True)

	def fsync_dir(self, fallback):
		"""Where Postgres writes (for the fdatasync probe): its data directory when we can see
		it, else fallback."""
		if self.cluster_root is not None and self.postgres().data.exists():
			return self.postgres().data
		return fallback

	def live(self, name):
		"""The live process `name` (node1, redis, ...) of a cluster we can see, or None."""
		if self.cluster_root is None:
			return None
		p = ProcessTable(self.cluster_root / "run").get(name)
		return p if p and p.alive() else None

	def node_pids(self):
		"""{node index: pid} of the nodes we can see (nothing for bare URLs)."""
		out = {}
		for i in range(len(self.node_urls)):
			p = self.live("node%d" % (i + 1))
			if p:
				out[i] = p.pid
		return out

	def process_groups(self):
		"""What we can see of the servers' processes (nothing for bare URLs)."""
		if self.cluster_root is None:
			return []
		groups = []
		pg_pid = self.postgres().postmaster_pid()
		if pg_pid is not None:
			groups.append(ProcessGroup("postgres", pg_pid, tree=True))
		for i, pid in sorted(self.node_pids().items()):
			groups.append(ProcessGroup("node%d" % (i + 1), pid))
		for name, tree in (("redis", False), ("gateway", True)):
			p = self.live(name)
			if p:
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


def node_rss_mb(pids):
	"""{node1: MB, ...} of the node pids (Topology.node_pids); None for a node that is gone."""
	out = {}
	for i, pid in pids.items():
		try:
			out["node%d" % (i + 1)] = round(procs.rss_mb(pid), 2)
		except OSError:
			out["node%d" % (i + 1)] = None
	return out


# ---------------------------------------------------------------------------------------------
# One run.

def run_guarded(args, work_prefix, body):
	"""Runs body(work, start_topology) in a fresh work directory and returns its exit code.
	start_topology() builds the Topology of args; whatever it started is stopped at the end,
	also on errors and Ctrl-C. The work directory is removed unless --keep, or the run failed
	with a cluster in it (its logs)."""
	work = Path(tempfile.mkdtemp(prefix=work_prefix))
	os.chmod(work, 0o755)  # Postgres and nginx workers run as other users and must reach it
	topologies = []

	def start_topology():
		topologies.append(Topology(args, work))
		return topologies[-1]

	code = 1
	try:
		code = body(work, start_topology)
	except (BenchError, api.ApiError) as e:
		say("FAILED: %s" % e)
		code = 1
	except subprocess.CalledProcessError as e:
		say("FAILED: %s" % e)
		code = 1
	except ClusterError as e:
		say("FAILED (cluster): %s" % e)
		code = 1
	except KeyboardInterrupt:
		say("interrupted")
		code = 130
	finally:
		for topology in topologies:
			try:
				topology.stop()
			except ClusterError as e:
				say("stopping the cluster: %s" % e)
		if args.keep or (code not in (0, 130) and (work / "cluster").exists()):
			say("work directory kept: %s" % work)
		else:
			shutil.rmtree(work, ignore_errors=True)
	return code
