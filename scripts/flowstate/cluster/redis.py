"""Redis of the local topology: pub/sub and presence only, so no persistence (Redis is never
the truth). Working directory redis/, log logs/redis.log."""

import shutil
import signal
import socket
import time
from pathlib import Path

from flowstate import procs
from flowstate.cluster.base import ClusterError, loopback

REDIS_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"


def redis_url(address):
	return "redis://%s" % (address,)


class Redis:
	name = "redis"

	def __init__(self, root, port, table):
		self.port = port
		self.table = table
		self.dir = Path(root) / "redis"
		self.log = Path(root) / "logs" / "redis.log"

	@property
	def address(self):
		return loopback(self.port)

	@property
	def url(self):
		return redis_url(self.address)

	def start(self):
		if not procs.port_is_free(self.port):
			raise ClusterError("port %d (Redis) is in use" % self.port)
		argv = [REDIS_BIN, "--bind", self.address.host, "--port", str(self.port), "--save", "",
			"--appendonly", "no", "--dir", str(self.dir), "--daemonize", "no",
			"--protected-mode", "yes", "--logfile", "", "--maxclients", "10000"]
		proc = procs.Proc.spawn(self.name, argv, self.log)
		self.table.track(proc)
		deadline = time.monotonic() + 15
		while not self.ping():
			if not proc.alive() or time.monotonic() > deadline:
				raise ClusterError("redis did not start on port %d:\n%s"
						   % (self.port, procs.log_tail(self.log)))
			time.sleep(0.05)

	def ping(self):
		try:
			with socket.create_connection(self.address, timeout=1) as s:
				s.sendall(b"PING\r\n")
				return s.recv(64).startswith(b"+PONG")
		except OSError:
			return False

	def stop(self):
		proc = self.table.get(self.name)
		if proc is not None:
			proc.stop(signal.SIGTERM, 10)
		self.table.untrack(self.name)
