"""flowstate-node processes of the local topology.

A Node is one process: its name (pid file and log file name), node id (FLOWSTATE_NODE_ID),
port and log. The cluster builds its environment (Cluster.node_env), so every start sees the
addresses in force at that moment (Cluster.route).
"""

import os
import signal
import time
from pathlib import Path

from flowstate import REPO, api, procs
from flowstate.cluster.base import ClusterError, loopback


def default_node_bin(sanitized):
	"""$FLOWSTATE_NODE_BIN, else build-asan/ or build/ bin/flowstate-node."""
	if os.environ.get("FLOWSTATE_NODE_BIN"):
		return Path(os.environ["FLOWSTATE_NODE_BIN"])
	return REPO / ("build-asan" if sanitized else "build") / "bin" / "flowstate-node"


class Node:
	def __init__(self, name, node_id, port, binary, log, cwd, table, overrides=None):
		self.name = name
		self.node_id = node_id
		self.port = port
		self.binary = Path(binary)
		self.log = Path(log)
		self.cwd = cwd
		self.table = table
		self.overrides = dict(overrides or {})  # env settings of this node only

	@property
	def address(self):
		return loopback(self.port)

	@property
	def url(self):
		return "http://%s" % (self.address,)

	def proc(self):
		"""Our handle of the running process (None when we did not start it or it stopped)."""
		return self.table.procs.get(self.name)

	def running(self):
		proc = self.proc()
		return proc is not None and proc.alive()

	def spawn(self, env):
		"""Starts the process without waiting for it (wait_healthy does)."""
		if not os.access(self.binary, os.X_OK):
			raise ClusterError("node binary %s not found or not executable (build it, or set "
					   "FLOWSTATE_NODE_BIN)" % self.binary)
		if not procs.port_is_free(self.port):
			raise ClusterError("port %d (node %s) is in use" % (self.port, self.node_id))
		with open(self.log, "a") as f:
			f.write("# cluster.py: starting %s on port %d at %s\n"
				% (self.node_id, self.port, time.strftime("%Y-%m-%dT%H:%M:%S")))
		proc = procs.Proc.spawn(self.name, [str(self.binary)], self.log, env=env, cwd=self.cwd)
		self.table.track(proc)
		return proc

	def signal_stop(self):
		"""SIGTERM without waiting: several nodes drain at once (then stop() each)."""
		proc = self.table.get(self.name)
		if proc is not None:
			proc.send(signal.SIGTERM)

	def stop(self, timeout):
		"""SIGTERM (graceful drain), SIGKILL after timeout. Returns the exit code (None if it
		was not our child)."""
		proc = self.table.get(self.name)
		code = None
		if proc is not None:
			code = proc.stop(signal.SIGTERM, timeout)
		self.table.untrack(self.name)
		return code

	def kill(self):
		"""SIGKILL: the node gets no chance to drain or say goodbye."""
		proc = self.table.get(self.name)
		if proc is not None:
			proc.stop(signal.SIGKILL, 10)
		self.table.untrack(self.name)

	def log_text(self):
		try:
			return self.log.read_text(errors="replace")
		except OSError:
			return ""

	def sanitizer_reports(self):
		return procs.sanitizer_reports([self.log])


def wait_healthy(nodes, timeout):
	"""Waits until every node answers /healthz with 200; fails early when one exits."""
	deadline = time.monotonic() + timeout
	pending = list(nodes)
	while pending:
		for node in list(pending):
			if api.probe(node.url + "/healthz", timeout=1)[0] == 200:
				pending.remove(node)
				continue
			proc = node.proc()
			if proc is not None and not proc.alive():
				raise ClusterError("node %s exited with code %s before becoming healthy; "
						   "last lines of %s:\n%s"
						   % (node.node_id, proc.returncode(), node.log,
						      procs.log_tail(node.log)))
		if pending and time.monotonic() > deadline:
			node = pending[0]
			raise ClusterError("node %s did not answer /healthz on port %d within %.0fs; "
					   "last lines of %s:\n%s"
					   % (node.node_id, node.port, timeout, node.log,
					      procs.log_tail(node.log)))
		if pending:
			time.sleep(0.1)


def wait_ready(urls, timeout):
	"""Waits until every node answers /readyz with 200."""
	deadline = time.monotonic() + timeout
	for url in urls:
		while True:
			status, body = api.probe(url + "/readyz", timeout=2)
			if status == 200:
				break
			if time.monotonic() > deadline:
				raise ClusterError("%s/readyz: %s %r" % (url, status, body[:200]))
			time.sleep(0.1)
