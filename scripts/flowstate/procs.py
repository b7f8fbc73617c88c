"""Processes we start, the ports they listen on, and what they leave in their logs.

A pid file is JSON {name, pid, start_time}: the kernel start time (from /proc/<pid>/stat) tells
our process from an unrelated one that got the same pid later, so a recycled pid is never
signalled.
"""

import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


def log(msg):
	print("cluster: " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# /proc.

def stat_fields(pid):
	"""The fields of /proc/<pid>/stat after the command name (field 3 onwards)."""
	data = Path("/proc/%d/stat" % pid).read_text()
	return data[data.rindex(")") + 2:].split()


def start_time(pid):
	"""Start time of pid in clock ticks since boot, or None if it is gone or a zombie."""
	try:
		fields = stat_fields(pid)
	except OSError:
		return None
	if fields[0] in ("Z", "X"):
		return None
	return int(fields[19])


def is_alive(pid, start):
	"""True while the process that had `start` as its start time still runs as pid."""
	return pid is not None and start_time(pid) == start


def cpu_ticks(pid, with_children=False):
	"""utime + stime (+ cutime + cstime of reaped children) in clock ticks."""
	f = stat_fields(pid)
	ticks = int(f[11]) + int(f[12])
	if with_children:
		ticks += int(f[13]) + int(f[14])
	return ticks


def rss_mb(pid, key="VmRSS"):
	"""A memory figure of /proc/<pid>/status (VmRSS, VmHWM, ...) in MB."""
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
			if int(stat_fields(int(d))[1]) == ppid:
				out.append(int(d))
		except (OSError, ValueError, IndexError):
			continue
	return out


def raise_fd_limit():
	"""Raises the soft limit of open files to the hard limit (inherited by every child we start:
	nodes and nginx hold one descriptor per client) and returns it."""
	soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
	if soft < hard:
		resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
	return hard


def is_root():
	return os.geteuid() == 0


# ---------------------------------------------------------------------------------------------
# Processes.

class Proc:
	"""A process we started: a live Popen when we are its parent, else only the pid file data."""

	def __init__(self, name, pid, start, popen=None):
		self.name = name
		self.pid = pid
		self.start_time = start
		self.popen = popen

	@classmethod
	def spawn(cls, name, argv, log_path, env=None, cwd=None):
		with open(log_path, "ab", buffering=0) as out:
			# A new session: Ctrl-C in the terminal reaches only us, and we stop the children
			# in order instead of having all of them die at once.
			popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
						 env=env, cwd=cwd, start_new_session=True)
		return cls(name, popen.pid, start_time(popen.pid), popen)

	def alive(self):
		if self.popen is not None:
			return self.popen.poll() is None
		return is_alive(self.pid, self.start_time)

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


def write_pidfile(run_dir, proc):
	path = Path(run_dir) / (proc.name + ".pid")
	tmp = path.with_suffix(".tmp")
	tmp.write_text(json.dumps(proc.to_json()) + "\n")
	tmp.replace(path)


def read_pidfile(path):
	"""The Proc a pid file names (not necessarily alive), or None without a readable file."""
	try:
		d = json.loads(Path(path).read_text())
		return Proc(d["name"], int(d["pid"]), d.get("start_time"))
	except (OSError, ValueError, KeyError):
		return None


def remove_pidfile(run_dir, name):
	try:
		(Path(run_dir) / (name + ".pid")).unlink()
	except FileNotFoundError:
		pass


# ---------------------------------------------------------------------------------------------
# Ports.

def ephemeral_port_range():
	try:
		lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
		return int(lo), int(hi)
	except (OSError, ValueError):
		return 32768, 60999


def port_is_free(port):
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
	moment our server binds it; falls back to bind(0). Never the same port twice per process."""
	lo, _ = ephemeral_port_range()
	if lo > 12000:
		for _ in range(200):
			port = random.randint(10000, lo - 1)
			if port not in _handed_out_ports and port_is_free(port):
				_handed_out_ports.add(port)
				return port
	while True:
		with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
			s.bind((LOOPBACK, 0))
			port = s.getsockname()[1]
		if port not in _handed_out_ports:
			_handed_out_ports.add(port)
			return port


# ---------------------------------------------------------------------------------------------
# Logs.

def log_tail(path, lines=40):
	"""The last lines of a log, indented for an error message."""
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
