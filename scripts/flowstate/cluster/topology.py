"""The local topology: Postgres, Redis, N flowstate-node processes and the nginx gateway, all on
127.0.0.1, rooted in one directory.

This is the one implementation of the topology: scripts/up uses it through the CLI (a persistent
cluster in ./var), scripts/test, the integration tests, tests/web and the benchmarks use the
Cluster class (a throwaway cluster on free ports in a temporary directory).

Layout of a cluster directory (root):
    cluster.json        what was started (ports, node count, binary): read by `down` and `status`
    run/*.pid           one JSON pid file per process we started (pid + kernel start time)
    logs/               postgres.log, redis.log, node1.log..nodeN.log, nginx-access.log, nginx-error.log
    pg/data, pg/sock    the Postgres cluster and its private unix socket directory
    redis/              Redis working directory (no persistence: Redis is never the truth)
    nginx/              rendered gateway config, upstream list and temp directories
    jwt_secret          persistent clusters only: tokens stay valid across restarts

Routes. Every service listens on its own address; who connects to it is told an address by the
cluster, and `route(service, address)` changes what a client is told: nodes read the addresses of
"postgres" and "redis" when they start, the gateway reads those of "node1".."nodeN" when it
renders its upstreams. A TCP fault proxy goes in between that way: listen on a free port, forward
to the service's own address, `cluster.route("postgres", proxy_address)`, then start (or restart)
the nodes. Tools that inspect the service (psql, the manifest) keep its own address.
"""

import atexit
import json
import os
import secrets
import shutil
import signal
import sys
import threading
from pathlib import Path

from flowstate import SCRIPTS, api, procs
from flowstate.cluster.base import ClusterError, ProcessTable
from flowstate.cluster.gateway import Gateway
from flowstate.cluster.node import Node, default_node_bin, wait_healthy, wait_ready
from flowstate.cluster.postgres import Postgres, database_url
from flowstate.cluster.redis import Redis, redis_url


def exit_on_signal(signum, frame):
	# KeyboardInterrupt, not SystemExit: pytest treats SystemExit inside a test as one failed
	# test and carries on, while KeyboardInterrupt ends the session and runs the teardown.
	raise KeyboardInterrupt("signal %d" % signum)


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
		self.env_overrides = dict(env_overrides or {})
		# Absolute: nodes run with the cluster directory as their working directory.
		self.node_bin = Path(node_bin or default_node_bin(sanitized_build)).absolute()
		self.startup_timeout = startup_timeout or (90.0 if sanitized_build else 30.0)

		self.run_dir = self.root / "run"
		self.logs_dir = self.root / "logs"
		self.table = ProcessTable(self.run_dir)
		self.postgres = Postgres(self.root, pg_port or procs.free_port(), self.table, persistent)
		self.redis = (Redis(self.root, redis_port or procs.free_port(), self.table)
			      if with_redis else None)
		self.node_list = []
		for i in range(nodes):
			port = node_base_port + i if node_base_port else procs.free_port()
			self.node_list.append(Node("node%d" % (i + 1), "n%d" % (i + 1), port, self.node_bin,
						   self.logs_dir / ("node%d.log" % (i + 1)), self.root,
						   self.table))
		self.gateway = (Gateway(self.root, gateway_port or procs.free_port(), self.table,
					lambda: [self.address_for(n.name) for n in self.node_list])
				if with_gateway else None)
		self.routes = {}

		self.guard = None
		self.started = False
		self.stopping = False
		self.atexit_registered = False
		self.jwt_secret = None
		# Exit code of each node stopped by stop() (None when it was not our child): a node
		# must drain and exit 0 on SIGTERM.
		self.node_exit_codes = {}

	# -- addresses ----------------------------------------------------------------------------

	def service(self, name):
		"""The service object by name: postgres, redis, gateway, node1..nodeN."""
		for s in [self.postgres, self.redis, self.gateway] + self.node_list:
			if s is not None and s.name == name:
				return s
		raise ClusterError("no service %r in this cluster" % name)

	def route(self, name, address=None):
		"""From now on, clients of service `name` are told `address` (an Address; None: the
		service's own again). Takes effect for whoever reads it next: a node at its next start,
		the gateway at its next render."""
		self.service(name)
		if address is None:
			self.routes.pop(name, None)
		else:
			self.routes[name] = address

	def address_for(self, name):
		"""The address clients of service `name` are told (its own unless routed)."""
		return self.routes.get(name) or self.service(name).address

	@property
	def pg_port(self):
		return self.postgres.port

	@property
	def database_url(self):
		return self.postgres.url

	@property
	def redis_url(self):
		return self.redis.url if self.redis else None

	@property
	def node_ports(self):
		return [n.port for n in self.node_list]

	@property
	def node_urls(self):
		return [n.url for n in self.node_list]

	@property
	def gateway_url(self):
		return self.gateway.url if self.gateway else None

	def node_log(self, i):
		return self.node_list[i].log

	@property
	def node_logs(self):
		return [n.log for n in self.node_list]

	@property
	def gateway_access_log(self):
		return self.gateway.access_log

	@property
	def gateway_error_log(self):
		return self.gateway.error_log

	# -- whole cluster ------------------------------------------------------------------------

	def start(self, detach=False):
		"""Start every component and wait until each answers. detach=True leaves the processes
		running after this Python process exits (scripts/up); otherwise they are stopped at
		exit, on SIGTERM/SIGHUP/Ctrl-C, and by a guardian process if we are killed outright."""
		dirs = [self.root, self.run_dir, self.logs_dir]
		dirs += [s.dir for s in (self.redis, self.gateway) if s is not None]
		for d in dirs:
			d.mkdir(parents=True, exist_ok=True)
		os.chmod(self.root, 0o755)
		if not self.persistent and self.postgres.dir.exists():
			shutil.rmtree(self.postgres.dir)
		fd_limit = procs.raise_fd_limit()
		if self.gateway:
			self.gateway.fd_limit = fd_limit
		self.write_manifest()
		if not detach:
			self.install_cleanup()
		self.started = True
		try:
			self.postgres.start()
			if self.redis:
				self.redis.start()
			self.start_nodes(range(self.nodes))
			if self.gateway:
				self.gateway.start()
		except BaseException:
			self.stop()
			raise
		return self

	def stop(self):
		"""Stop everything this cluster started, gateway first and Postgres last. Idempotent;
		keeps going past individual failures so nothing is left running."""
		if self.stopping:
			return
		self.stopping = True
		try:
			errors = []
			steps = [("gateway", self.gateway.stop if self.gateway else None),
				 ("nodes", self.stop_all_nodes),
				 ("redis", self.redis.stop if self.redis else None),
				 ("postgres", self.postgres.stop)]
			for name, step in steps:
				if step is None:
					continue
				try:
					step()
				except Exception as e:  # keep stopping the rest
					errors.append("stopping %s: %s" % (name, e))
			if self.guard is not None:
				self.guard.stop(signal.SIGTERM, 5)
				self.guard = None
				procs.remove_pidfile(self.run_dir, "guard")
			self.started = False
			if errors:
				raise ClusterError("; ".join(errors))
		finally:
			self.stopping = False

	def __enter__(self):
		return self.start()

	def __exit__(self, *exc):
		self.stop()

	def sanitizer_reports(self):
		return procs.sanitizer_reports(self.node_logs)

	def write_manifest(self):
		manifest = {
			"nodes": self.nodes,
			"node_ports": self.node_ports,
			"gateway_port": self.gateway.port if self.gateway else None,
			"pg_port": self.postgres.port,
			"redis_port": self.redis.port if self.redis else None,
			"node_bin": str(self.node_bin),
			"persistent": self.persistent,
			"database_url": self.database_url,
			"redis_url": self.redis_url,
			"gateway_url": self.gateway_url,
			"node_urls": self.node_urls,
		}
		(self.root / "cluster.json").write_text(json.dumps(manifest, indent=2) + "\n")

	def install_cleanup(self):
		if not self.atexit_registered:
			atexit.register(self.stop_at_exit)
			self.atexit_registered = True
		if threading.current_thread() is threading.main_thread():
			for sig in (signal.SIGTERM, signal.SIGHUP):
				if signal.getsignal(sig) in (signal.SIG_DFL, None):
					signal.signal(sig, exit_on_signal)
		# If this process is killed with SIGKILL, no handler runs: a small guardian process
		# notices our death and stops the cluster from the pid files.
		self.guard = procs.Proc.spawn("guard", [sys.executable, str(SCRIPTS / "cluster.py"),
							"_guard", "--dir", str(self.root), "--parent",
							str(os.getpid()), "--parent-start",
							str(procs.start_time(os.getpid()))],
					      self.logs_dir / "guard.log")
		procs.write_pidfile(self.run_dir, self.guard)

	def stop_at_exit(self):
		if self.started:
			try:
				self.stop()
			except Exception as e:
				procs.log("stop at exit: %s" % e)

	# -- Postgres and Redis -------------------------------------------------------------------

	def psql(self, sql, **kw):
		"""Postgres.psql: SQL through psql, output stripped (user=, db=, check=)."""
		return self.postgres.psql(sql, **kw)

	def start_postgres(self):
		self.postgres.start()

	def stop_postgres(self, mode="fast"):
		self.postgres.stop(mode)

	def start_redis(self):
		self.redis.start()

	def stop_redis(self):
		self.redis.stop()

	# -- nodes --------------------------------------------------------------------------------

	def node_env(self, i=0):
		"""The environment node i starts with."""
		return self.env_for(self.node_list[i])

	def env_for(self, node):
		"""A node's environment: the JWT secret every node shares, the addresses of Postgres
		and Redis as routed now, the cluster's overrides, then the node's own."""
		env = dict(os.environ)
		env.setdefault("FLOWSTATE_MODE", "development")
		env.setdefault("FLOWSTATE_LOG_LEVEL", "info")
		env.setdefault("FLOWSTATE_JWT_SECRET", self.jwt())
		env.update({
			"FLOWSTATE_HOST": procs.LOOPBACK,
			"FLOWSTATE_PORT": str(node.port),
			"FLOWSTATE_NODE_ID": node.node_id,
			"FLOWSTATE_DATABASE_URL": database_url(self.address_for("postgres")),
		})
		if self.redis:
			env["FLOWSTATE_REDIS_URL"] = redis_url(self.address_for("redis"))
		env.update({k: str(v) for k, v in self.env_overrides.items()})
		env.update({k: str(v) for k, v in node.overrides.items()})
		return env

	def jwt(self):
		"""One secret for all nodes (any node verifies any node's tokens). A persistent cluster
		keeps it on disk so tokens survive a restart."""
		if self.jwt_secret is None:
			path = self.root / "jwt_secret"
			if self.persistent and path.exists():
				self.jwt_secret = path.read_text().strip()
			else:
				self.jwt_secret = secrets.token_hex(32)
				if self.persistent:
					path.write_text(self.jwt_secret + "\n")
					os.chmod(path, 0o600)
		return self.jwt_secret

	def shutdown_timeout(self):
		value = self.env_overrides.get("FLOWSTATE_SHUTDOWN_TIMEOUT",
					       os.environ.get("FLOWSTATE_SHUTDOWN_TIMEOUT", "10"))
		try:
			return float(value)
		except ValueError:
			return 10.0

	def start_nodes(self, indices):
		# All at once: they race to migrate, which the advisory lock must make safe.
		nodes = [self.node_list[i] for i in indices]
		for node in nodes:
			node.spawn(self.env_for(node))
		wait_healthy(nodes, self.startup_timeout)

	def start_node(self, i):
		if self.node_list[i].running():
			raise ClusterError("node %s is already running" % self.node_list[i].node_id)
		self.start_nodes([i])

	def stop_node(self, i, timeout=None):
		"""SIGTERM (graceful drain), SIGKILL after the shutdown timeout plus a margin. Returns
		the exit code (None if it was not our child)."""
		return self.node_list[i].stop(timeout or self.shutdown_timeout() + 5)

	def kill_node(self, i):
		"""SIGKILL: the node gets no chance to drain or say goodbye."""
		self.node_list[i].kill()

	def restart_node(self, i):
		code = self.stop_node(i)
		self.start_node(i)
		return code

	def node_proc(self, i):
		return self.node_list[i].proc()

	def extra_node(self, name, overrides):
		"""One more node sharing this cluster's Postgres, Redis and JWT secret, with env
		overrides of its own; start it with start_extra_node, stop it with its stop(). It is not
		one of the numbered nodes (the gateway does not know it, stop() leaves it alone), but its
		pid file is in run/ as node-<name>.pid, so the guardian and `down` stop it too."""
		return Node("node-" + name, name, procs.free_port(), self.node_bin,
			    self.logs_dir / ("node-%s.log" % name), self.root, self.table, overrides)

	def start_extra_node(self, node, timeout=None):
		"""Starts it and waits until it is healthy; a node that does not get there is killed."""
		node.spawn(self.env_for(node))
		try:
			wait_healthy([node], timeout or self.startup_timeout)
		except BaseException:
			node.kill()
			raise
		return node

	def stop_all_nodes(self):
		nodes = [n for n in self.node_list if self.table.get(n.name) is not None]
		for node in nodes:
			node.signal_stop()
		for node in nodes:
			self.node_exit_codes[node.name] = node.stop(self.shutdown_timeout() + 5)

	def wait_ready(self, timeout=30.0, urls=None):
		"""Wait until every node answers /readyz with 200."""
		wait_ready(urls or self.node_urls, timeout)


# ---------------------------------------------------------------------------------------------
# From pid files alone: `down`, `status`, and the guardian of a cluster whose owner died.

def read_manifest(root):
	"""cluster.json of the cluster in root, or {}."""
	try:
		return json.loads((Path(root) / "cluster.json").read_text())
	except (OSError, ValueError):
		return {}


def stop_from_pidfiles(root):
	"""Stop whatever the pid files in root/run name, in dependency order. Returns the names it
	stopped."""
	root = Path(root).resolve()
	run_dir = root / "run"
	if not run_dir.is_dir():
		return []
	stopped = []
	table = ProcessTable(run_dir)

	def stop_named(name, sig, timeout):
		proc = table.get(name)
		if proc is not None and proc.alive():
			proc.stop(sig, timeout)
			stopped.append(name)
		table.untrack(name)

	stop_named("gateway", signal.SIGQUIT, 10)
	names = sorted(p.stem for p in run_dir.glob("node*.pid"))
	nodes = [p for p in (table.get(n) for n in names) if p and p.alive()]
	for p in nodes:
		p.send(signal.SIGTERM)
	for p in nodes:
		p.stop(signal.SIGTERM, 20)
		stopped.append(p.name)
	for n in names:
		table.untrack(n)
	stop_named("redis", signal.SIGTERM, 10)
	pg = Postgres(root, read_manifest(root).get("pg_port") or 1, table, persistent=True)
	if pg.pid_file_exists():
		pg.stop()
		stopped.append("postgres")
	table.untrack("postgres")
	return stopped


def cluster_status(root):
	"""{component: (alive, detail)} from the pid files and health endpoints."""
	root = Path(root).resolve()
	table = ProcessTable(root / "run")
	manifest = read_manifest(root)
	pg = Postgres(root, manifest.get("pg_port") or 1, table, persistent=True)
	status = {"postgres": (pg.running(), manifest.get("database_url", ""))}
	names = ["redis"] + ["node%d" % (i + 1) for i in range(manifest.get("nodes", 0))] + ["gateway"]
	for name in names:
		if name == "gateway" and not manifest.get("gateway_url"):
			continue
		if name == "redis" and not manifest.get("redis_url"):
			continue
		proc = table.get(name)
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
					h = api.probe(urls[i] + "/healthz")[0]
					r = api.probe(urls[i] + "/readyz")[0]
					detail += "  healthz=%s readyz=%s" % (h, r)
		else:
			detail = manifest.get("gateway_url") or ""
			if alive and detail:
				detail += "  healthz=%s" % api.probe(detail + "/healthz")[0]
		status[name] = (alive, detail)
	return status


def any_running(root):
	return any(alive for alive, _ in cluster_status(root).values())
