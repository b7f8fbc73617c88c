"""The nginx gateway of the local topology, rendered from gateway/nginx.conf.tmpl (the template
every deployment uses) with one upstream line per node. Working directory nginx/, logs
logs/nginx-access.log, logs/nginx-error.log and logs/nginx-stderr.log."""

import grp
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

from flowstate import REPO, api, procs
from flowstate.cluster.base import (ClusterError, check_reachable_by, loopback, render_template,
				    user_ids)

NGINX_BIN = shutil.which("nginx") or "/usr/sbin/nginx"
GATEWAY_TEMPLATE = REPO / "gateway" / "nginx.conf.tmpl"
WWW_ROOT = REPO / "gateway" / "web" / "dist"  # the web client, built by scripts/setup
DOCS_ROOT = REPO / "gateway" / "docs"


def nginx_user():
	"""(user, group) the workers drop to when the master runs as root, else None."""
	if not procs.is_root():
		return None
	for user, group in (("www-data", "www-data"), ("nobody", "nogroup"), ("nobody", "nobody")):
		try:
			pwd.getpwnam(user)
			grp.getgrnam(group)
			return user, group
		except KeyError:
			continue
	raise ClusterError("no unprivileged user for the nginx workers")


class Gateway:
	"""upstreams: a callable returning the node Addresses nginx proxies to, read at each
	render (the cluster's routes apply)."""

	name = "gateway"

	def __init__(self, root, port, table, upstreams):
		self.root = Path(root)
		self.port = port
		self.table = table
		self.upstreams = upstreams
		self.dir = self.root / "nginx"
		self.access_log = self.root / "logs" / "nginx-access.log"
		self.error_log = self.root / "logs" / "nginx-error.log"
		self.stderr_log = self.root / "logs" / "nginx-stderr.log"
		self.fd_limit = 4096

	@property
	def address(self):
		return loopback(self.port)

	@property
	def url(self):
		return "http://%s" % (self.address,)

	def write_upstreams(self):
		lines = ["# Written by scripts/flowstate/cluster/gateway.py: one line per node."]
		for address in self.upstreams():
			lines.append("server %s max_fails=1 fail_timeout=2s;" % (address,))
		path = self.dir / "upstream_servers.conf"
		path.write_text("\n".join(lines) + "\n")
		return path

	def render_config(self):
		user = nginx_user()
		if user is not None:
			uid, _, gids = user_ids(user[0])
			check_reachable_by(self.dir, uid, gids, self.root)
			check_reachable_by(WWW_ROOT, uid, gids, self.root)
			check_reachable_by(DOCS_ROOT, uid, gids, self.root)
		nofile = min(self.fd_limit, 1048576)
		temp_dir = self.dir / "tmp"
		temp_dir.mkdir(parents=True, exist_ok=True)
		values = {
			"user_directive": "user %s %s;" % user if user else "# (not root: no user directive)",
			"worker_rlimit_nofile": nofile,
			"worker_connections": max(1024, nofile // 2),
			"pid_path": self.dir / "nginx.pid",
			"error_log": self.error_log,
			"access_log": self.access_log,
			"temp_dir": temp_dir,
			"listen": str(self.address),
			"upstream_servers_file": self.write_upstreams(),
			"www_root": WWW_ROOT,
			"docs_root": DOCS_ROOT,
		}
		conf = self.dir / "nginx.conf"
		conf.write_text(render_template(GATEWAY_TEMPLATE.read_text(), values))
		return conf

	def argv(self, conf, *extra):
		return [NGINX_BIN, "-p", str(self.dir) + "/", "-c", str(conf)] + list(extra)

	def start(self):
		conf = self.render_config()
		res = subprocess.run(self.argv(conf, "-t", "-q"), capture_output=True, text=True,
				     stdin=subprocess.DEVNULL)
		if res.returncode != 0:
			raise ClusterError("nginx rejected %s:\n%s" % (conf, res.stderr.strip()))
		if not procs.port_is_free(self.port):
			raise ClusterError("port %d (gateway) is in use" % self.port)
		proc = procs.Proc.spawn(self.name, self.argv(conf), self.stderr_log)
		self.table.track(proc)
		deadline = time.monotonic() + 15
		while api.probe(self.url + "/healthz", timeout=1)[0] != 200:
			if not proc.alive() or time.monotonic() > deadline:
				raise ClusterError("nginx did not start on port %d:\n%s\n%s"
						   % (self.port, procs.log_tail(self.error_log),
						      procs.log_tail(self.stderr_log)))
			time.sleep(0.05)

	def stop(self):
		proc = self.table.get(self.name)
		if proc is not None:
			# SIGQUIT: graceful; WebSocket connections are closed at the end of the grace time.
			proc.stop(signal.SIGQUIT, 10)
		self.table.untrack(self.name)
