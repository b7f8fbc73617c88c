"""CPU time and RSS of the servers, and of the whole machine, while a load generator runs.

The machine's figures tell how much CPU processes that are not part of the benchmark took
meanwhile (other people's builds and tests on a shared box); a report marks such runs.
"""

import os
import subprocess
import threading
import time
from pathlib import Path

from flowstate import procs
from flowstate.bench import BenchError, say

CLK_TCK = os.sysconf("SC_CLK_TCK")


class ProcessGroup:
	"""A named server whose CPU time we account: one process, or a master and its children
	(Postgres backends, nginx workers). The master's cutime/cstime holds the time of children
	that exited and were reaped, so before/after differences count short-lived backends too."""

	def __init__(self, name, pid, tree=False):
		self.name, self.pid, self.tree = name, pid, tree

	def cpu_ticks(self):
		try:
			ticks = procs.cpu_ticks(self.pid, with_children=self.tree)
		except OSError:
			return None
		if self.tree:
			for child in procs.children_of(self.pid):
				try:
					ticks += procs.cpu_ticks(child)
				except OSError:
					pass
		return ticks

	def rss_mb(self):
		# For a tree only the master's own: Postgres backends share the buffer pool, and
		# summing their RSS would count it many times over.
		try:
			return procs.rss_mb(self.pid)
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
					entry["vm_hwm_mb"] = round(procs.rss_mb(g.pid, "VmHWM"), 1)
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
			proc.rss_max_mb = max(proc.rss_max_mb, procs.rss_mb(proc.pid))
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
