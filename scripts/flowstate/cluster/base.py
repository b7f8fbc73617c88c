"""What every service of the local topology shares: errors, addresses, the table of the
processes a cluster started, and dropping root for the servers that refuse to run as root."""

import grp
import os
import pwd
import re
import stat
from collections import namedtuple
from pathlib import Path

from flowstate import procs


class ClusterError(Exception):
	"""A component failed to start or stop; the message says which and shows its log."""


class Address(namedtuple("Address", "host port")):
	"""Where a service listens, or where a client is told to connect (Cluster.route)."""

	def __str__(self):
		return "%s:%d" % (self.host, self.port)


def loopback(port):
	return Address(procs.LOOPBACK, port)


class ProcessTable:
	"""The processes one cluster started, by name, each with its pid file in run_dir (so `down`
	and the guardian find them even when the owner is gone)."""

	def __init__(self, run_dir):
		self.run_dir = Path(run_dir)
		self.procs = {}

	def track(self, proc):
		self.procs[proc.name] = proc
		procs.write_pidfile(self.run_dir, proc)

	def untrack(self, name):
		self.procs.pop(name, None)
		procs.remove_pidfile(self.run_dir, name)

	def get(self, name):
		"""Our live handle, else what the pid file says (a process started by another
		invocation, e.g. `scripts/up` before `scripts/down`), else None."""
		return self.procs.get(name) or procs.read_pidfile(self.run_dir / (name + ".pid"))

	def items(self):
		return list(self.procs.items())


def user_ids(name):
	"""(uid, gid, every gid the user is in) of a system user."""
	pw = pwd.getpwnam(name)
	gids = {pw.pw_gid} | {g.gr_gid for g in grp.getgrall() if name in g.gr_mem}
	return pw.pw_uid, pw.pw_gid, gids


def check_reachable_by(path, uid, gids, fix_under):
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


def render_template(text, values):
	"""Replace every {{name}}; an unknown or missing name is an error, not an empty string."""
	def sub(m):
		if m.group(1) not in values:
			raise ClusterError("template placeholder {{%s}} has no value" % m.group(1))
		return str(values[m.group(1)])
	return re.sub(r"\{\{([a-z_]+)\}\}", sub, text)
