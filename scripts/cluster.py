#!/usr/bin/python3
"""The local FlowState topology: Postgres, Redis, N flowstate-node processes and the nginx gateway,
all on 127.0.0.1.

This is the one implementation of the topology. scripts/up uses it through the CLI (a persistent
cluster in ./var), scripts/test and the integration tests use the Cluster class (a throwaway cluster
on free ports in a temporary directory). Python 3 standard library only; run it with /usr/bin/python3.

Layout of a cluster directory (root):
    cluster.json        what was started (ports, node count, binary): read by `down` and `status`
    run/*.pid           one JSON pid file per process we started (pid + kernel start time)
    logs/               postgres.log, redis.log, node1.log..nodeN.log, nginx-access.log, nginx-error.log
    pg/data, pg/sock    the Postgres cluster and its private unix socket directory
    redis/              Redis working directory (no persistence: Redis is never the truth)
    nginx/              rendered gateway config, upstream list and temp directories
    jwt_secret          persistent clusters only: tokens stay valid across restarts

CLI:
    cluster.py up --dir var [--nodes 3] [--gateway-port 8080] [--foreground]
    cluster.py down --dir var
    cluster.py status --dir var
    cluster.py psql --dir var [-- psql args]
    cluster.py run [--dir D] [--pg-only] [--nodes N] -- command args...
"""

import argparse
import atexit
import grp
import http.client
import json
import os
import pwd
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
NGINX_BIN = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"
GATEWAY_TEMPLATE = REPO / "gateway" / "nginx.conf.tmpl"
WWW_ROOT = REPO / "gateway" / "www"
DOCS_ROOT = REPO / "gateway" / "docs"

DB_NAME = "flowstate"
DB_USER = "flowstate"
LOOPBACK = "127.0.0.1"

# Default fixed ports of the persistent cluster (scripts/up): away from a system Postgres/Redis.
UP_GATEWAY_PORT = 8080
UP_NODE_BASE_PORT = 8081
UP_PG_PORT = 15432
UP_REDIS_PORT = 16379

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")

# Tuned for a 2-core box with durable commits: fsync stays on, checkpoints are spread out so a
# benchmark measures commits rather than checkpoint storms.
PG_SETTINGS = {
	"listen_addresses": "'127.0.0.1'",
	"fsync": "on",
	"synchronous_commit": "on",
	"full_page_writes": "on",
	"shared_buffers": "256MB",
	"max_connections": "200",
	"effective_cache_size": "1GB",
	"work_mem": "8MB",
	"maintenance_work_mem": "64MB",
	"wal_buffers": "16MB",
	"max_wal_size": "2GB",
	"min_wal_size": "256MB",
	"checkpoint_timeout": "15min",
	"checkpoint_completion_target": "0.9",
	"random_page_cost": "1.1",
	"log_line_prefix": "'%m [%p] %q%u@%d '",
	"log_min_messages": "warning",
	"log_checkpoints": "off",
	"timezone": "'UTC'",
}


class ClusterError(Exception):
	"""A component failed to start or stop; the message says which and shows its log."""


def log(msg):
	print("cluster: " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Processes: pid files carry the kernel start time so a recycled pid is never signalled.

def _proc_start_time(pid):
	"""Start time of pid in clock ticks since boot, or None if it is gone or a zombie."""
	try:
		with open("/proc/%d/stat" % pid) as f:
			data = f.read()
	except OSError:
		return None
	fields = data[data.rindex(")") + 2:].split()
	if fields[0] in ("Z", "X"):
		return None
	return int(fields[19])


def _alive(pid, start_time):
	return pid is not None and _proc_start_time(pid) == start_time


class Proc:
	"""A process we started: a live Popen when we are its parent, else only the pid file data."""

	def __init__(self, name, pid, start_time, popen=None):
		self.name = name
		self.pid = pid
		self.start_time = start_time
		self.popen = popen

	@classmethod
	def spawn(cls, name, argv, log_path, env=None, cwd=None):
		with open(log_path, "ab", buffering=0) as out:
			# A new session: Ctrl-C in the terminal reaches only us, and we stop the children
			# in order instead of having all of them die at once.
			popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
						 env=env, cwd=cwd, start_new_session=True)
		return cls(name, popen.pid, _proc_start_time(popen.pid), popen)

	def alive(self):
		if self.popen is not None:
			return self.popen.poll() is None
		return _alive(self.pid, self.start_time)

	def returncode(self):
		return self.popen.poll() if self.popen is not None else None

	def send(self, sig):
		if self.alive():
			try:
				os.kill(self.pid, sig)
			except ProcessLookupError:
				pass

	def wait(self, timeout):
		"""Wait until the process is gone; True if it is."""
		if self.popen is not None:
			try:
				self.popen.wait(timeout)
				return True
			except subprocess.TimeoutExpired:
				return False
		deadline = time.monotonic() + timeout
		while self.alive():
			if time.monotonic() >= deadline:
				return False
			time.sleep(0.05)
		return True

	def stop(self, sig=signal.SIGTERM, timeout=15.0):
		"""Signal, wait up to timeout, then SIGKILL. Returns the exit code when known."""
		if not self.alive():
			return self.returncode()
		self.send(sig)
		if not self.wait(timeout):
			log("%s (pid %d) did not exit %.0fs after %s; killing it"
			    % (self.name, self.pid, timeout, signal.Signals(sig).name))
			self.send(signal.SIGKILL)
			self.wait(10)
		return self.returncode()

	def to_json(self):
		return {"name": self.name, "pid": self.pid, "start_time": self.start_time}


def _write_pidfile(run_dir, proc):
	path = Path(run_dir) / (proc.name + ".pid")
	tmp = path.with_suffix(".tmp")
	tmp.write_text(json.dumps(proc.to_json()) + "\n")
	tmp.replace(path)


def _read_pidfile(path):
	try:
		d = json.loads(Path(path).read_text())
		return Proc(d["name"], int(d["pid"]), d.get("start_time"))
	except (OSError, ValueError, KeyError):
		return None


def _remove_pidfile(run_dir, name):
	try:
		(Path(run_dir) / (name + ".pid")).unlink()
	except FileNotFoundError:
		pass


# ---------------------------------------------------------------------------------------------
# Small helpers.

def _ephemeral_range():
	try:
		lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
		return int(lo), int(hi)
	except (OSError, ValueError):
		return 32768, 60999


def _port_is_free(port):
	with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
		# Like the servers themselves: connections of a previous run in TIME_WAIT do not count.
		s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		try:
			s.bind((LOOPBACK, port))
		except OSError:
			return False
	return True


_handed_out_ports = set()


def free_port():
	"""A free loopback port. Chosen below the kernel's ephemeral range, so an outgoing
	connection (a node talking to Postgres, a load generator) cannot grab it between now and the
	moment our server binds it; falls back to bind(0)."""
	lo, _ = _ephemeral_range()
	if lo > 12000:
		for _ in range(200):
			port = random.randint(10000, lo - 1)
			if port not in _handed_out_ports and _port_is_free(port):
				_handed_out_ports.add(port)
				return port
	while True:
		with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
			s.bind((LOOPBACK, 0))
			port = s.getsockname()[1]
		if port not in _handed_out_ports:
			_handed_out_ports.add(port)
			return port


def http_get(url, timeout=2.0):
	"""(status, body bytes) or (None, error text). Never raises for network errors."""
	m = re.match(r"http://([^/:]+):(\d+)(/.*)?$", url)
	if not m:
		raise ValueError("unsupported url " + url)
	conn = http.client.HTTPConnection(m.group(1), int(m.group(2)), timeout=timeout)
	try:
		conn.request("GET", m.group(3) or "/")
		resp = conn.getresponse()
		return resp.status, resp.read()
	except (OSError, http.client.HTTPException) as e:
		return None, str(e)
	finally:
		conn.close()


def log_tail(path, lines=40):
	try:
		with open(path, "rb") as f:
			f.seek(0, os.SEEK_END)
			f.seek(max(0, f.tell() - 64 * 1024))
			text = f.read().decode("utf-8", "replace")
	except OSError as e:
		return "(no log: %s)" % e
	tail = text.splitlines()[-lines:]
	return "\n".join("    | " + line for line in tail) or "    | (empty)"


def sanitizer_reports(paths):
	"""[(path, excerpt)] for every log that contains an ASan/LSan/UBSan report."""
	found = []
	for path in paths:
		try:
			text = Path(path).read_text(errors="replace")
		except OSError:
			continue
		for marker in SANITIZER_MARKERS:
			i = text.find(marker)
			if i >= 0:
				start = text.rfind("\n", 0, max(0, i - 2000)) + 1
				found.append((str(path), text[start:i + 4000]))
				break
	return found


def _is_root():
	return os.geteuid() == 0


def _check_reachable_by(path, uid, gids, fix_under):
	"""Every ancestor of path must be searchable by uid (Postgres and nginx workers drop root).
	Directories inside fix_under are ours and get o+x; anything else is reported."""
	path = Path(path).resolve()
	fix_under = Path(fix_under).resolve()
	for d in reversed([path] + list(path.parents)):
		st = d.stat()
		if st.st_uid == uid:
			ok = st.st_mode & stat.S_IXUSR
		elif st.st_gid in gids:
			ok = st.st_mode & stat.S_IXGRP
		else:
			ok = st.st_mode & stat.S_IXOTH
		if ok:
			continue
		if d == fix_under or fix_under in d.parents:
			os.chmod(d, st.st_mode | stat.S_IXOTH | stat.S_IROTH)
			continue
		raise ClusterError("user uid=%d cannot reach %s: %s is mode %o; use a directory outside it "
				   "or run chmod o+x %s" % (uid, path, d, stat.S_IMODE(st.st_mode), d))


def _user_ids(name):
	pw = pwd.getpwnam(name)
	gids = {pw.pw_gid} | {g.gr_gid for g in grp.getgrall() if name in g.gr_mem}
	return pw.pw_uid, pw.pw_gid, gids


def _raise_fd_limit():
	soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
	if soft < hard:
		resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
	return hard


def render_template(text, values):
	"""Replace every {{name}}; an unknown or missing name is an error, not an empty string."""
	def sub(m):
		if m.group(1) not in values:
			raise ClusterError("template placeholder {{%s}} has no value" % m.group(1))
		return str(values[m.group(1)])
	return re.sub(r"\{\{([a-z_]+)\}\}", sub, text)


def default_node_bin(sanitized):
	if os.environ.get("FLOWSTATE_NODE_BIN"):
		return Path(os.environ["FLOWSTATE_NODE_BIN"])
	return REPO / ("build-asan" if sanitized else "build") / "bin" / "flowstate-node"


# ---------------------------------------------------------------------------------------------

class Cluster:
	"""Postgres + Redis + N nodes + nginx on loopback, rooted in one directory.

	persistent=True keeps the Postgres data directory (and JWT secret) across starts;
	persistent=False wipes it on start (a throwaway cluster). Node indices are 0-based:
	node i has id n{i+1}, port node_ports[i] and log logs/node{i+1}.log.
	"""

	def __init__(self, root_dir, nodes=3, gateway_port=None, node_base_port=None, pg_port=None,
		     redis_port=None, persistent=False, sanitized_build=False, env_overrides=None,
		     node_bin=None, with_redis=True, with_gateway=True, startup_timeout=None):
		if nodes < 1 and with_gateway:
			raise ClusterError("a gateway needs at least one node")
		self.root = Path(root_dir).resolve()
		self.nodes = nodes
		self.persistent = persistent
		self.sanitized_build = sanitized_build
		self.env_overrides = dict(env_overrides or {})
		# Absolute: nodes run with the cluster directory as their working directory.
		self.node_bin = Path(node_bin or default_node_bin(sanitized_build)).absolute()
		self.with_redis = with_redis
		self.with_gateway = with_gateway
		self.startup_timeout = startup_timeout or (90.0 if sanitized_build else 30.0)

		self.pg_port = pg_port or free_port()
		self.redis_port = (redis_port or free_port()) if with_redis else None
		if node_base_port:
			self.node_ports = [node_base_port + i for i in range(nodes)]
		else:
			self.node_ports = [free_port() for _ in range(nodes)]
		self.gateway_port = (gateway_port or free_port()) if with_gateway else None

		self.run_dir = self.root / "run"
		self.logs_dir = self.root / "logs"
		self.pg_dir = self.root / "pg"
		self.pg_data = self.pg_dir / "data"
		self.pg_sock = self.pg_dir / "sock"
		self.redis_dir = self.root / "redis"
		self.nginx_dir = self.root / "nginx"

		self._procs = {}
		self._guard = None
		self._started = False
		self._stopping = False
		self._atexit_registered = False
		self._jwt_secret = None
		# Exit code of each node stopped by stop() (None when it was not our child): a node
		# must drain and exit 0 on SIGTERM.
		self.node_exit_codes = {}

	# -- addresses ----------------------------------------------------------------------------

	@property
	def database_url(self):
		return "postgresql://%s@%s:%d/%s" % (DB_USER, LOOPBACK, self.pg_port, DB_NAME)

	@property
	def redis_url(self):
		return "redis://%s:%d" % (LOOPBACK, self.redis_port) if self.redis_port else None

	@property
	def node_urls(self):
		return ["http://%s:%d" % (LOOPBACK, p) for p in self.node_ports]

	@property
	def gateway_url(self):
		return "http://%s:%d" % (LOOPBACK, self.gateway_port) if self.gateway_port else None

	def node_id(self, i):
		return "n%d" % (i + 1)

	def node_log(self, i):
		return self.logs_dir / ("node%d.log" % (i + 1))

	@property
	def node_logs(self):
		return [self.node_log(i) for i in range(self.nodes)]

	@property
	def gateway_access_log(self):
		return self.logs_dir / "nginx-access.log"

	@property
	def gateway_error_log(self):
		return self.logs_dir / "nginx-error.log"

	@property
	def postgres_log(self):
		return self.logs_dir / "postgres.log"

	@property
	def redis_log(self):
		return self.logs_dir / "redis.log"

	# -- whole cluster ------------------------------------------------------------------------

	def start(self, detach=False):
		"""Start every component and wait until each answers. detach=True leaves the processes
		running after this Python process exits (scripts/up); otherwise they are stopped at
		exit, on SIGTERM/SIGHUP/Ctrl-C, and by a guardian process if we are killed outright."""
		for d in (self.root, self.run_dir, self.logs_dir, self.redis_dir, self.nginx_dir):
			d.mkdir(parents=True, exist_ok=True)
		os.chmod(self.root, 0o755)
		if not self.persistent and self.pg_dir.exists():
			shutil.rmtree(self.pg_dir)
		self._raise_limits()
		self._write_manifest()
		if not detach:
			self._install_cleanup()
		self._started = True
		try:
			self.start_postgres()
			if self.with_redis:
				self.start_redis()
			self._start_nodes(range(self.nodes))
			if self.with_gateway:
				self.start_gateway()
		except BaseException:
			self.stop()
			raise
		return self

	def stop(self):
		"""Stop everything this cluster started, gateway first and Postgres last. Idempotent;
		keeps going past individual failures so nothing is left running."""
		if self._stopping:
			return
		self._stopping = True
		try:
			errors = []
			steps = [self.stop_gateway, self._stop_all_nodes, self.stop_redis,
				 self.stop_postgres]
			for step in steps:
				try:
					step()
				except Exception as e:  # keep stopping the rest
					errors.append("%s: %s" % (step.__name__, e))
			if self._guard is not None:
				self._guard.stop(signal.SIGTERM, 5)
				self._guard = None
				_remove_pidfile(self.run_dir, "guard")
			self._started = False
			if errors:
				raise ClusterError("; ".join(errors))
		finally:
			self._stopping = False

	def __enter__(self):
		return self.start()

	def __exit__(self, *exc):
		self.stop()

	def sanitizer_reports(self):
		return sanitizer_reports(self.node_logs)

	def _raise_limits(self):
		# Inherited by every child: nodes and nginx hold one descriptor per client.
		self._fd_limit = _raise_fd_limit()

	def _write_manifest(self):
		manifest = {
			"nodes": self.nodes,
			"node_ports": self.node_ports,
			"gateway_port": self.gateway_port,
			"pg_port": self.pg_port,
			"redis_port": self.redis_port,
			"node_bin": str(self.node_bin),
			"persistent": self.persistent,
			"database_url": self.database_url,
			"redis_url": self.redis_url,
			"gateway_url": self.gateway_url,
			"node_urls": self.node_urls,
		}
		(self.root / "cluster.json").write_text(json.dumps(manifest, indent=2) + "\n")

	def _install_cleanup(self):
		if not self._atexit_registered:
			atexit.register(self._stop_at_exit)
			self._atexit_registered = True
		if threading.current_thread() is threading.main_thread():
			for sig in (signal.SIGTERM, signal.SIGHUP):
				if signal.getsignal(sig) in (signal.SIG_DFL, None):
					signal.signal(sig, _exit_on_signal)
		# If this process is killed with SIGKILL, no handler runs: a small guardian process
		# notices our death and stops the cluster from the pid files.
		self._guard = Proc.spawn("guard", [sys.executable, str(Path(__file__).resolve()), "_guard",
						   "--dir", str(self.root), "--parent", str(os.getpid()),
						   "--parent-start", str(_proc_start_time(os.getpid()))],
					 self.logs_dir / "guard.log")
		_write_pidfile(self.run_dir, self._guard)

	def _stop_at_exit(self):
		if self._started:
			try:
				self.stop()
			except Exception as e:
				log("stop at exit: %s" % e)

	def _track(self, proc):
		self._procs[proc.name] = proc
		_write_pidfile(self.run_dir, proc)

	def _untrack(self, name):
		self._procs.pop(name, None)
		_remove_pidfile(self.run_dir, name)

	# -- Postgres -----------------------------------------------------------------------------

	def _pg_run(self, args, check=True, timeout=120):
		"""Run a Postgres server binary, as the postgres user when we are root (initdb and the
		postmaster refuse to run as root)."""
		argv = [str(PG_BIN / args[0])] + [str(a) for a in args[1:]]
		if _is_root():
			argv = ["runuser", "-u", "postgres", "--"] + argv
		res = subprocess.run(argv, cwd=self.pg_dir, stdin=subprocess.DEVNULL,
				     capture_output=True, text=True, timeout=timeout,
				     start_new_session=True)
		if check and res.returncode != 0:
			raise ClusterError("%s failed (exit %d):\n%s%s\npostgres log:\n%s"
					   % (args[0], res.returncode, res.stdout, res.stderr,
					      log_tail(self.postgres_log)))
		return res

	def _pg_prepare_dirs(self):
		self.pg_dir.mkdir(parents=True, exist_ok=True)
		self.pg_sock.mkdir(exist_ok=True)
		self.postgres_log.touch()
		if _is_root():
			uid, gid, gids = _user_ids("postgres")
			_check_reachable_by(self.pg_dir, uid, gids, self.root)
			os.chown(self.pg_dir, uid, gid)
			os.chown(self.pg_sock, uid, gid)
			os.chown(self.postgres_log, uid, gid)

	def _pg_write_config(self):
		settings = dict(PG_SETTINGS)
		settings["port"] = str(self.pg_port)
		sock = str(self.pg_sock)
		# A unix socket path is limited to 107 bytes; without one, TCP on loopback still works.
		settings["unix_socket_directories"] = ("'%s'" % sock
						       if len(sock) + 20 < 107 else "''")
		lines = ["# Written by scripts/cluster.py on every start; edit PG_SETTINGS there."]
		lines += ["%s = %s" % kv for kv in settings.items()]
		conf = self.pg_data / "flowstate.conf"
		conf.write_text("\n".join(lines) + "\n")
		# Trust, but only over loopback: listen_addresses allows nothing else anyway.
		hba = self.pg_data / "pg_hba.conf"
		hba.write_text("# Written by scripts/cluster.py: loopback only, no passwords.\n"
			       "local all all trust\n"
			       "host all all 127.0.0.1/32 trust\n")
		if _is_root():
			uid, gid, _ = _user_ids("postgres")
			os.chown(conf, uid, gid)
			os.chown(hba, uid, gid)

	def start_postgres(self):
		self._pg_prepare_dirs()
		if not (self.pg_data / "PG_VERSION").exists():
			if self.pg_data.exists():
				shutil.rmtree(self.pg_data)
			# A throwaway cluster skips initdb's final sync (-N); the server itself always
			# runs with fsync on, because durable commits are what is being tested.
			self._pg_run(["initdb", "-D", self.pg_data, "-U", "postgres", "-E", "UTF8",
				      "--locale=C", "-A", "trust"] + ([] if self.persistent else ["-N"]))
			with open(self.pg_data / "postgresql.conf", "a") as f:
				f.write("\ninclude = 'flowstate.conf'\n")
		self._pg_write_config()
		if (self.pg_data / "postmaster.pid").exists():
			# A stale pid file from a crash: pg_ctl status tells a live server from a dead one.
			if self._pg_run(["pg_ctl", "status", "-D", self.pg_data], check=False).returncode == 0:
				raise ClusterError("a Postgres server is already running on %s" % self.pg_data)
		if not _port_is_free(self.pg_port):
			raise ClusterError("port %d (Postgres) is in use" % self.pg_port)
		self._pg_run(["pg_ctl", "start", "-w", "-t", "60", "-s", "-D", self.pg_data,
			      "-l", self.postgres_log])
		try:
			pid = int((self.pg_data / "postmaster.pid").read_text().split()[0])
			self._track(Proc("postgres", pid, _proc_start_time(pid)))
		except (OSError, ValueError, IndexError):
			pass
		self._pg_create_database()

	def _pg_create_database(self):
		script = ("SELECT 'CREATE ROLE %(u)s LOGIN CREATEDB' "
			  "WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%(u)s')\\gexec\n"
			  "SELECT 'CREATE DATABASE %(d)s OWNER %(u)s' "
			  "WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '%(d)s')\\gexec\n"
			  % {"u": DB_USER, "d": DB_NAME})
		self.psql(script, user="postgres", db="postgres")

	def stop_postgres(self, mode="fast"):
		"""mode: smart | fast (roll back and disconnect) | immediate (crash-like: recovery
		runs at the next start)."""
		if not (self.pg_data / "postmaster.pid").exists():
			self._untrack("postgres")
			return
		res = self._pg_run(["pg_ctl", "stop", "-w", "-t", "60", "-s", "-m", mode, "-D",
				    self.pg_data], check=False)
		proc = self._procs.get("postgres") or _read_pidfile(self.run_dir / "postgres.pid")
		if res.returncode != 0 and proc is not None and proc.alive():
			log("pg_ctl stop failed (%s); sending SIGQUIT" % res.stderr.strip())
			proc.stop(signal.SIGQUIT, 10)
		self._untrack("postgres")

	def kill_postgres(self):
		self.stop_postgres(mode="immediate")

	def restart_postgres(self, down_seconds=0.0, mode="fast"):
		self.stop_postgres(mode=mode)
		if down_seconds:
			time.sleep(down_seconds)
		self.start_postgres()

	def psql(self, sql, user=DB_USER, db=DB_NAME, check=True):
		"""Run SQL through psql (unaligned, tuples only) and return its output, stripped."""
		env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
		res = subprocess.run([str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
				      "-h", LOOPBACK, "-p", str(self.pg_port), "-U", user, "-d", db, "-f", "-"],
				     input=sql, capture_output=True, text=True, env=env, timeout=120)
		if check and res.returncode != 0:
			raise ClusterError("psql failed (exit %d): %s" % (res.returncode, res.stderr.strip()))
		return res.stdout.strip()

	# -- Redis --------------------------------------------------------------------------------

	def start_redis(self):
		if not _port_is_free(self.redis_port):
			raise ClusterError("port %d (Redis) is in use" % self.redis_port)
		argv = [REDIS_BIN, "--bind", LOOPBACK, "--port", str(self.redis_port), "--save", "",
			"--appendonly", "no", "--dir", str(self.redis_dir), "--daemonize", "no",
			"--protected-mode", "yes", "--logfile", "", "--maxclients", "10000"]
		proc = Proc.spawn("redis", argv, self.redis_log)
		self._track(proc)
		deadline = time.monotonic() + 15
		while not self._redis_ping():
			if not proc.alive() or time.monotonic() > deadline:
				raise ClusterError("redis did not start on port %d:\n%s"
						   % (self.redis_port, log_tail(self.redis_log)))
			time.sleep(0.05)

	def _redis_ping(self):
		try:
			with socket.create_connection((LOOPBACK, self.redis_port), timeout=1) as s:
				s.sendall(b"PING\r\n")
				return s.recv(64).startswith(b"+PONG")
		except OSError:
			return False

	def stop_redis(self):
		proc = self._procs.get("redis") or _read_pidfile(self.run_dir / "redis.pid")
		if proc is not None:
			proc.stop(signal.SIGTERM, 10)
		self._untrack("redis")

	def kill_redis(self):
		proc = self._procs.get("redis") or _read_pidfile(self.run_dir / "redis.pid")
		if proc is not None:
			proc.stop(signal.SIGKILL, 10)
		self._untrack("redis")

	def restart_redis(self, down_seconds=0.0):
		self.stop_redis()
		if down_seconds:
			time.sleep(down_seconds)
		self.start_redis()

	# -- nodes --------------------------------------------------------------------------------

	def node_env(self, i):
		env = dict(os.environ)
		env.setdefault("FLOWSTATE_MODE", "development")
		env.setdefault("FLOWSTATE_LOG_LEVEL", "info")
		env.setdefault("FLOWSTATE_JWT_SECRET", self._jwt())
		env.update({
			"FLOWSTATE_HOST": LOOPBACK,
			"FLOWSTATE_PORT": str(self.node_ports[i]),
			"FLOWSTATE_NODE_ID": self.node_id(i),
			"FLOWSTATE_DATABASE_URL": self.database_url,
		})
		if self.redis_url:
			env["FLOWSTATE_REDIS_URL"] = self.redis_url
		env.update({k: str(v) for k, v in self.env_overrides.items()})
		return env

	def _jwt(self):
		"""One secret for all nodes (any node verifies any node's tokens). A persistent cluster
		keeps it on disk so tokens survive a restart."""
		if self._jwt_secret is None:
			path = self.root / "jwt_secret"
			if self.persistent and path.exists():
				self._jwt_secret = path.read_text().strip()
			else:
				self._jwt_secret = secrets.token_hex(32)
				if self.persistent:
					path.write_text(self._jwt_secret + "\n")
					os.chmod(path, 0o600)
		return self._jwt_secret

	def _shutdown_timeout(self):
		value = self.env_overrides.get("FLOWSTATE_SHUTDOWN_TIMEOUT",
					       os.environ.get("FLOWSTATE_SHUTDOWN_TIMEOUT", "10"))
		try:
			return float(value)
		except ValueError:
			return 10.0

	def _spawn_node(self, i):
		if not os.access(self.node_bin, os.X_OK):
			raise ClusterError("node binary %s not found or not executable (build it, or set "
					   "FLOWSTATE_NODE_BIN)" % self.node_bin)
		if not _port_is_free(self.node_ports[i]):
			raise ClusterError("port %d (node %s) is in use" % (self.node_ports[i], self.node_id(i)))
		name = "node%d" % (i + 1)
		with open(self.node_log(i), "a") as f:
			f.write("# cluster.py: starting %s on port %d at %s\n"
				% (self.node_id(i), self.node_ports[i], time.strftime("%Y-%m-%dT%H:%M:%S")))
		proc = Proc.spawn(name, [str(self.node_bin)], self.node_log(i), env=self.node_env(i),
				  cwd=self.root)
		self._track(proc)
		return proc

	def _wait_nodes_healthy(self, indices):
		deadline = time.monotonic() + self.startup_timeout
		pending = list(indices)
		while pending:
			for i in list(pending):
				proc = self._procs["node%d" % (i + 1)]
				status, _ = http_get(self.node_urls[i] + "/healthz", timeout=1)
				if status == 200:
					pending.remove(i)
				elif not proc.alive():
					raise ClusterError("node %s exited with code %s before becoming healthy; "
							   "last lines of %s:\n%s"
							   % (self.node_id(i), proc.returncode(), self.node_log(i),
							      log_tail(self.node_log(i))))
			if pending and time.monotonic() > deadline:
				i = pending[0]
				raise ClusterError("node %s did not answer /healthz on port %d within %.0fs; "
						   "last lines of %s:\n%s"
						   % (self.node_id(i), self.node_ports[i], self.startup_timeout,
						      self.node_log(i), log_tail(self.node_log(i))))
			if pending:
				time.sleep(0.1)

	def _start_nodes(self, indices):
		# All at once: they race to migrate, which the advisory lock must make safe.
		indices = list(indices)
		for i in indices:
			self._spawn_node(i)
		self._wait_nodes_healthy(indices)

	def start_node(self, i):
		if self.node_running(i):
			raise ClusterError("node %s is already running" % self.node_id(i))
		self._start_nodes([i])

	def stop_node(self, i, timeout=None):
		"""SIGTERM (graceful drain), SIGKILL after the shutdown timeout plus a margin. Returns
		the exit code (None if it was not our child)."""
		name = "node%d" % (i + 1)
		proc = self._procs.get(name) or _read_pidfile(self.run_dir / (name + ".pid"))
		code = None
		if proc is not None:
			code = proc.stop(signal.SIGTERM, timeout or self._shutdown_timeout() + 5)
		self._untrack(name)
		return code

	def kill_node(self, i):
		"""SIGKILL: the node gets no chance to drain or say goodbye."""
		name = "node%d" % (i + 1)
		proc = self._procs.get(name) or _read_pidfile(self.run_dir / (name + ".pid"))
		if proc is not None:
			proc.stop(signal.SIGKILL, 10)
		self._untrack(name)

	def restart_node(self, i):
		code = self.stop_node(i)
		self.start_node(i)
		return code

	def node_running(self, i):
		proc = self._procs.get("node%d" % (i + 1))
		return proc is not None and proc.alive()

	def node_proc(self, i):
		return self._procs.get("node%d" % (i + 1))

	def _stop_all_nodes(self):
		procs = []
		for i in range(self.nodes):
			name = "node%d" % (i + 1)
			proc = self._procs.get(name) or _read_pidfile(self.run_dir / (name + ".pid"))
			if proc is not None:
				proc.send(signal.SIGTERM)
				procs.append(proc)
		for proc in procs:
			self.node_exit_codes[proc.name] = proc.stop(signal.SIGTERM,
								    self._shutdown_timeout() + 5)
			self._untrack(proc.name)

	def wait_ready(self, timeout=30.0, urls=None):
		"""Wait until every node answers /readyz with 200."""
		deadline = time.monotonic() + timeout
		for url in urls or self.node_urls:
			while True:
				status, body = http_get(url + "/readyz", timeout=2)
				if status == 200:
					break
				if time.monotonic() > deadline:
					raise ClusterError("%s/readyz: %s %r" % (url, status, body[:200]))
				time.sleep(0.1)

	# -- gateway ------------------------------------------------------------------------------

	def _nginx_user(self):
		"""Workers drop root to an unprivileged user when the master runs as root."""
		if not _is_root():
			return None
		for user, group in (("www-data", "www-data"), ("nobody", "nogroup"), ("nobody", "nobody")):
			try:
				pwd.getpwnam(user)
				grp.getgrnam(group)
				return user, group
			except KeyError:
				continue
		raise ClusterError("no unprivileged user for the nginx workers")

	def _write_upstreams(self):
		lines = ["# Written by scripts/cluster.py: one line per node."]
		for i in range(self.nodes):
			lines.append("server %s:%d max_fails=1 fail_timeout=2s;" % (LOOPBACK, self.node_ports[i]))
		path = self.nginx_dir / "upstream_servers.conf"
		path.write_text("\n".join(lines) + "\n")
		return path

	def render_gateway_config(self):
		user = self._nginx_user()
		if user is not None:
			uid, _, gids = _user_ids(user[0])
			_check_reachable_by(self.nginx_dir, uid, gids, self.root)
			_check_reachable_by(WWW_ROOT, uid, gids, self.root)
			_check_reachable_by(DOCS_ROOT, uid, gids, self.root)
		nofile = min(getattr(self, "_fd_limit", 4096), 1048576)
		temp_dir = self.nginx_dir / "tmp"
		temp_dir.mkdir(parents=True, exist_ok=True)
		values = {
			"user_directive": "user %s %s;" % user if user else "# (not root: no user directive)",
			"worker_rlimit_nofile": nofile,
			"worker_connections": max(1024, nofile // 2),
			"pid_path": self.nginx_dir / "nginx.pid",
			"error_log": self.gateway_error_log,
			"access_log": self.gateway_access_log,
			"temp_dir": temp_dir,
			"listen": "%s:%d" % (LOOPBACK, self.gateway_port),
			"upstream_servers_file": self._write_upstreams(),
			"www_root": WWW_ROOT,
			"docs_root": DOCS_ROOT,
		}
		conf = self.nginx_dir / "nginx.conf"
		conf.write_text(render_template(GATEWAY_TEMPLATE.read_text(), values))
		return conf

	def _nginx_argv(self, conf, *extra):
		return [NGINX_BIN, "-p", str(self.nginx_dir) + "/", "-c", str(conf)] + list(extra)

	def start_gateway(self):
		conf = self.render_gateway_config()
		res = subprocess.run(self._nginx_argv(conf, "-t", "-q"), capture_output=True, text=True,
				     stdin=subprocess.DEVNULL)
		if res.returncode != 0:
			raise ClusterError("nginx rejected %s:\n%s" % (conf, res.stderr.strip()))
		if not _port_is_free(self.gateway_port):
			raise ClusterError("port %d (gateway) is in use" % self.gateway_port)
		proc = Proc.spawn("gateway", self._nginx_argv(conf), self.logs_dir / "nginx-stderr.log")
		self._track(proc)
		deadline = time.monotonic() + 15
		while http_get(self.gateway_url + "/healthz", timeout=1)[0] != 200:
			if not proc.alive() or time.monotonic() > deadline:
				raise ClusterError("nginx did not start on port %d:\n%s\n%s"
						   % (self.gateway_port, log_tail(self.gateway_error_log),
						      log_tail(self.logs_dir / "nginx-stderr.log")))
			time.sleep(0.05)

	def reload_gateway(self):
		"""Re-render the config and upstream list, then reload nginx (SIGHUP: no dropped
		connections)."""
		conf = self.render_gateway_config()
		res = subprocess.run(self._nginx_argv(conf, "-t", "-q"), capture_output=True, text=True)
		if res.returncode != 0:
			raise ClusterError("nginx rejected %s:\n%s" % (conf, res.stderr.strip()))
		self._procs["gateway"].send(signal.SIGHUP)

	def stop_gateway(self):
		proc = self._procs.get("gateway") or _read_pidfile(self.run_dir / "gateway.pid")
		if proc is not None:
			# SIGQUIT: graceful; WebSocket connections are closed at the end of the grace time.
			proc.stop(signal.SIGQUIT, 10)
		self._untrack("gateway")


def _exit_on_signal(signum, frame):
	# KeyboardInterrupt, not SystemExit: pytest treats SystemExit inside a test as one failed
	# test and carries on, while KeyboardInterrupt ends the session and runs the teardown.
	raise KeyboardInterrupt("signal %d" % signum)


# ---------------------------------------------------------------------------------------------
# Stopping from pid files alone: `down`, and the guardian of a cluster whose owner died.

def stop_from_pidfiles(root):
	"""Stop whatever the pid files in root/run name, in dependency order. Returns the names it
	stopped."""
	root = Path(root).resolve()
	run_dir = root / "run"
	if not run_dir.is_dir():
		return []
	stopped = []
	manifest = {}
	try:
		manifest = json.loads((root / "cluster.json").read_text())
	except (OSError, ValueError):
		pass

	def stop_named(name, sig, timeout):
		proc = _read_pidfile(run_dir / (name + ".pid"))
		if proc is not None and proc.alive():
			proc.stop(sig, timeout)
			stopped.append(name)
		_remove_pidfile(run_dir, name)

	stop_named("gateway", signal.SIGQUIT, 10)
	nodes = sorted(p.stem for p in run_dir.glob("node*.pid"))
	procs = [p for p in (_read_pidfile(run_dir / (n + ".pid")) for n in nodes) if p and p.alive()]
	for p in procs:
		p.send(signal.SIGTERM)
	for p in procs:
		p.stop(signal.SIGTERM, 20)
		stopped.append(p.name)
	for n in nodes:
		_remove_pidfile(run_dir, n)
	stop_named("redis", signal.SIGTERM, 10)
	pg = Cluster(root, nodes=0, with_redis=False, with_gateway=False,
		     pg_port=manifest.get("pg_port") or 1, persistent=True)
	if (pg.pg_data / "postmaster.pid").exists():
		pg.stop_postgres()
		stopped.append("postgres")
	_remove_pidfile(run_dir, "postgres")
	return stopped


def cluster_status(root):
	"""{component: (alive, detail)} from the pid files and health endpoints."""
	root = Path(root).resolve()
	run_dir = root / "run"
	try:
		manifest = json.loads((root / "cluster.json").read_text())
	except (OSError, ValueError):
		manifest = {}
	status = {}
	pg_pid = root / "pg" / "data" / "postmaster.pid"
	pg_alive = False
	if pg_pid.exists():
		try:
			pid = int(pg_pid.read_text().split()[0])
			pg_alive = _proc_start_time(pid) is not None
		except (OSError, ValueError, IndexError):
			pass
	status["postgres"] = (pg_alive, manifest.get("database_url", ""))
	names = ["redis"] + ["node%d" % (i + 1) for i in range(manifest.get("nodes", 0))] + ["gateway"]
	for name in names:
		proc = _read_pidfile(run_dir / (name + ".pid"))
		alive = proc is not None and proc.alive()
		detail = ""
		if name == "redis":
			detail = manifest.get("redis_url") or ""
		elif name.startswith("node"):
			i = int(name[4:]) - 1
			urls = manifest.get("node_urls", [])
			if i < len(urls):
				detail = urls[i]
				if alive:
					h = http_get(urls[i] + "/healthz")[0]
					r = http_get(urls[i] + "/readyz")[0]
					detail += "  healthz=%s readyz=%s" % (h, r)
		elif name == "gateway":
			detail = manifest.get("gateway_url") or ""
			if alive and detail:
				detail += "  healthz=%s" % http_get(detail + "/healthz")[0]
		if not manifest.get("gateway_url") and name == "gateway":
			continue
		if not manifest.get("redis_url") and name == "redis":
			continue
		status[name] = (alive, detail)
	return status


def _any_running(root):
	return any(alive for alive, _ in cluster_status(root).values())


# ---------------------------------------------------------------------------------------------
# CLI

def _display_path(path):
	"""Relative to the current directory when inside it, else absolute."""
	path = Path(path).resolve()
	try:
		return str(path.relative_to(Path.cwd()))
	except ValueError:
		return str(path)


def _print_summary(c, stop_hint, foreground):
	rel = _display_path(c.root)
	print("FlowState local cluster is up: %d node(s), data in %s" % (c.nodes, c.root))
	if c.gateway_url:
		print("  gateway   %s/   (web client; API under /api/v1)" % c.gateway_url)
	for i, url in enumerate(c.node_urls):
		print("  node %-4s %s   log %s" % (c.node_id(i), url, _display_path(c.node_log(i))))
	print("  postgres  %s" % c.database_url)
	if c.redis_url:
		print("  redis     %s" % c.redis_url)
	print("  logs      %s/logs/" % rel)
	if foreground:
		print("Press Ctrl-C to stop.")
	else:
		print("Stop with: %s" % stop_hint)
	sys.stdout.flush()


def cmd_up(args):
	root = Path(args.dir).resolve()
	if _any_running(root):
		print("cluster in %s is already running; restarting it (data is kept)" % root, flush=True)
		stop_from_pidfiles(root)
	c = Cluster(root, nodes=args.nodes, gateway_port=args.gateway_port,
		    node_base_port=args.node_base_port, pg_port=args.pg_port, redis_port=args.redis_port,
		    persistent=True, sanitized_build=args.sanitized, node_bin=args.node_bin)
	if args.foreground:
		c.start(detach=False)
		_print_summary(c, None, True)
		try:
			_supervise(c)
		except (KeyboardInterrupt, SystemExit):
			pass
		print("\nstopping...", flush=True)
		c.stop()
		return 0
	try:
		c.start(detach=True)
	except ClusterError as e:
		print("error: %s" % e, file=sys.stderr)
		return 1
	_print_summary(c, args.stop_hint or "%s down --dir %s" % (sys.argv[0], args.dir), False)
	return 0


def _supervise(c):
	"""Foreground mode: report a process that dies, keep the rest running."""
	reported = set()
	while True:
		time.sleep(1)
		for name, proc in list(c._procs.items()):
			if name not in reported and not proc.alive():
				reported.add(name)
				log("%s exited (code %s); see %s/logs/" % (name, proc.returncode(), c.root))


def cmd_down(args):
	root = Path(args.dir).resolve()
	stopped = stop_from_pidfiles(root)
	print("stopped: %s" % (", ".join(stopped) if stopped else "nothing was running"))
	return 0


def cmd_status(args):
	root = Path(args.dir).resolve()
	status = cluster_status(root)
	if not (root / "cluster.json").exists():
		print("no cluster in %s" % root)
		return 3
	for name, (alive, detail) in status.items():
		print("%-9s %-8s %s" % (name, "running" if alive else "stopped", detail))
	return 0 if status and all(a for a, _ in status.values()) else 3


def cmd_psql(args):
	"""psql into the cluster's database (extra arguments go to psql)."""
	try:
		manifest = json.loads((Path(args.dir) / "cluster.json").read_text())
	except (OSError, ValueError):
		print("no cluster in %s" % args.dir, file=sys.stderr)
		return 1
	extra = args.psql_args[1:] if args.psql_args[:1] == ["--"] else args.psql_args
	os.execv(str(PG_BIN / "psql"), ["psql", manifest["database_url"]] + extra)


def cmd_run(args):
	"""Start a throwaway cluster, run a command with its addresses in the environment, stop it,
	and exit with the command's status."""
	cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
	if not cmd:
		print("run: no command given", file=sys.stderr)
		return 2
	own_dir = args.dir is None
	root = Path(tempfile.mkdtemp(prefix="flowstate-run-")) if own_dir else Path(args.dir)
	if args.pg_only:
		c = Cluster(root, nodes=0, with_redis=False, with_gateway=False)
	else:
		c = Cluster(root, nodes=args.nodes, with_gateway=args.nodes > 0,
			    sanitized_build=args.sanitized, node_bin=args.node_bin)
	code = 1
	try:
		c.start()
		env = dict(os.environ)
		env["FLOWSTATE_TEST_DATABASE_URL"] = c.database_url
		if c.redis_url:
			env["FLOWSTATE_TEST_REDIS_URL"] = c.redis_url
		if c.nodes:
			env["FLOWSTATE_TEST_NODE_URLS"] = ",".join(c.node_urls)
		if c.gateway_url:
			env["FLOWSTATE_TEST_GATEWAY_URL"] = c.gateway_url
		log("running %s (database %s)" % (" ".join(cmd), c.database_url))
		child = subprocess.Popen(cmd, env=env)
		try:
			code = child.wait()
		except BaseException:
			child.terminate()
			child.wait()
			raise
	finally:
		c.stop()
		if own_dir and not args.keep:
			shutil.rmtree(root, ignore_errors=True)
	return code


def cmd_guard(args):
	"""Watch the owning process; when it dies without stopping the cluster, stop it."""
	signal.signal(signal.SIGINT, signal.SIG_IGN)
	parent, start = args.parent, args.parent_start
	while _alive(parent, start):
		time.sleep(0.5)
	# Only our own pid file means the owner never got to stop() (it removes us first).
	if (Path(args.dir) / "run" / "guard.pid").exists():
		log("owner process %d died; stopping the cluster in %s" % (parent, args.dir))
		_remove_pidfile(Path(args.dir) / "run", "guard")
		stop_from_pidfiles(args.dir)
	return 0


def main(argv=None):
	p = argparse.ArgumentParser(description="Local FlowState cluster on 127.0.0.1.")
	sub = p.add_subparsers(dest="cmd", required=True, metavar="{up,down,status,psql,run}")

	up = sub.add_parser("up", help="start (or restart) a persistent cluster")
	up.add_argument("--dir", default="var")
	up.add_argument("--nodes", type=int, default=3)
	up.add_argument("--gateway-port", type=int, default=UP_GATEWAY_PORT)
	up.add_argument("--node-base-port", type=int, default=UP_NODE_BASE_PORT)
	up.add_argument("--pg-port", type=int, default=UP_PG_PORT)
	up.add_argument("--redis-port", type=int, default=UP_REDIS_PORT)
	up.add_argument("--sanitized", action="store_true", help="use build-asan/bin/flowstate-node")
	up.add_argument("--node-bin", help="node binary (default: build/bin/flowstate-node, or "
			"$FLOWSTATE_NODE_BIN)")
	up.add_argument("--foreground", action="store_true", help="stay attached; Ctrl-C stops")
	up.add_argument("--stop-hint", help=argparse.SUPPRESS)
	up.set_defaults(func=cmd_up)

	down = sub.add_parser("down", help="stop the cluster in --dir (data is kept)")
	down.add_argument("--dir", default="var")
	down.set_defaults(func=cmd_down)

	st = sub.add_parser("status", help="show what is running in --dir")
	st.add_argument("--dir", default="var")
	st.set_defaults(func=cmd_status)

	ps = sub.add_parser("psql", help="psql into the database of the cluster in --dir")
	ps.add_argument("--dir", default="var")
	ps.add_argument("psql_args", nargs=argparse.REMAINDER)
	ps.set_defaults(func=cmd_psql)

	run = sub.add_parser("run", help="run a command against a throwaway cluster")
	run.add_argument("--dir", help="cluster directory (default: a temporary one, removed after)")
	run.add_argument("--keep", action="store_true", help="keep the temporary directory")
	run.add_argument("--pg-only", action="store_true", help="only Postgres")
	run.add_argument("--nodes", type=int, default=3)
	run.add_argument("--sanitized", action="store_true")
	run.add_argument("--node-bin")
	run.add_argument("command", nargs=argparse.REMAINDER)
	run.set_defaults(func=cmd_run)

	guard = sub.add_parser("_guard")
	guard.add_argument("--dir", required=True)
	guard.add_argument("--parent", type=int, required=True)
	guard.add_argument("--parent-start", type=int, required=True)
	guard.set_defaults(func=cmd_guard)

	args = p.parse_args(argv)
	try:
		return args.func(args)
	except ClusterError as e:
		print("error: %s" % e, file=sys.stderr)
		return 1
	except KeyboardInterrupt:
		return 130
	except BrokenPipeError:
		# stdout went away (e.g. piped into head); the cluster itself is unaffected.
		os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
		return 0


if __name__ == "__main__":
	sys.exit(main())
