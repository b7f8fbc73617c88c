"""CPU cost per committed op on a node: instructions (callgrind) and syscalls (strace).

Run it through `scripts/bench profile`; scripts/bench_profile.py calls main().

Instruction counts do not depend on what else the machine is doing (a shared box's wall-clock
figures vary 3x from day to day), so this is how two builds are compared: each binary runs on
a fresh private cluster of one node, the same load (commit_bench, REST writes over --canvases
canvases x --writers-per-canvas writers, seed fixed) is offered, and callgrind counts only a
window of --seconds after a warmup. The figure is instructions per op committed in that window.
With --syscalls a second run of the node (without valgrind) is traced with `strace -c -f` for
the same window: syscalls per request, by name.

  scripts/bench profile                                  # build/bin/flowstate-node
  scripts/bench profile --compare OTHER_BINARY           # and another build, same load
  scripts/bench profile --syscalls --seconds 10

Writes var/bench/<timestamp>/profile.{json,md}, with the top functions by inclusive cost.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from flowstate import REPO, api
from flowstate.bench import BenchError, say
from flowstate.bench.common import Accounts, api_client, build_load_generator
from flowstate.cluster import Cluster
from flowstate.report import fmt_int

NODE_ENV = {"FLOWSTATE_USER_OPS_PER_SECOND": "1000000", "FLOWSTATE_USER_OPS_BURST": "1000000",
	    "FLOWSTATE_LOG_LEVEL": "info"}


def need(tool, package):
	if not shutil.which(tool):
		raise BenchError("%s is missing: apt-get install %s" % (tool, package))


def committed(url):
	return api.metric_total(api.metrics(url), "flowstate_ops_committed_total") or 0


def requests_total(url):
	return api.metric_total(api.metrics(url), "flowstate_http_requests_total") or 0


class Run:
	"""One binary on a fresh one-node cluster with accounts and canvases."""

	def __init__(self, binary, work, args):
		self.binary = Path(binary).resolve()
		self.args = args
		self.root = Path(work) / ("cluster-%s" % uuid.uuid4().hex[:6])
		self.cluster = Cluster(self.root, nodes=1, env_overrides=NODE_ENV,
				       node_bin=self.binary)

	def __enter__(self):
		say("fresh cluster for %s" % self.binary)
		self.cluster.start()
		self.cluster.wait_ready()
		client = api_client(self.cluster.node_urls[0])
		accounts = Accounts(client, uuid.uuid4().hex[:8])
		ws = accounts.workspace("profile")
		canvases = accounts.canvases(ws, self.args.canvases)
		client.close()
		self.canvases_file = self.root / "canvases.txt"
		self.canvases_file.write_text("".join("%s %s\n" % c for c in canvases))
		os.chmod(self.canvases_file, 0o600)
		return self

	def __exit__(self, *exc):
		self.cluster.stop()
		return False

	def load(self, loadgen, seconds, rate):
		"""commit_bench against the node for warmup + seconds (+ slack), in the background;
		rate: ops/s offered (open loop), or None for as many as it takes (closed loop)."""
		argv = [str(loadgen), "--node", self.cluster.node_urls[0], "--canvases",
			str(self.canvases_file), "--writers-per-canvas", str(self.args.writers_per_canvas),
			"--duration", str(seconds + 4), "--warmup", "1", "--seed", "7"]
		if rate:
			argv += ["--rate", str(rate)]
		return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
					text=True)

	def replace_node(self, wrapper):
		"""Stops the cluster's node and starts the same binary under wrapper (argv prefix)
		with the node's environment; returns the process."""
		env = self.cluster.node_env(0)
		self.cluster.stop_node(0)
		log = open(self.root / "profiled-node.log", "w")
		proc = subprocess.Popen(wrapper + [str(self.binary)], env=env, stdout=log,
					stderr=subprocess.STDOUT, cwd=self.root)
		url = self.cluster.node_urls[0]
		deadline = time.monotonic() + 120
		while time.monotonic() < deadline:
			if proc.poll() is not None:
				raise BenchError("the profiled node exited (log: %s)" % log.name)
			if api.probe(url + "/readyz")[0] == 200:
				return proc
			time.sleep(0.5)
		proc.kill()
		raise BenchError("the profiled node did not get ready (log: %s)" % log.name)


def instructions(run, loadgen, args, out_dir, name):
	out = out_dir / ("callgrind-%s.out" % name)
	node = run.replace_node(["valgrind", "--tool=callgrind", "--instr-atstart=no",
				 "--callgrind-out-file=%s" % out])
	url = run.cluster.node_urls[0]
	bench = run.load(loadgen, args.seconds, args.rate)
	try:
		time.sleep(3)
		before = committed(url)
		subprocess.run(["callgrind_control", "-i", "on", str(node.pid)], check=True,
			       stdout=subprocess.DEVNULL)
		time.sleep(args.seconds)
		subprocess.run(["callgrind_control", "-i", "off", str(node.pid)], check=True,
			       stdout=subprocess.DEVNULL)
		after = committed(url)
		bench.communicate(timeout=args.seconds + 120)
	finally:
		node.send_signal(signal.SIGINT)
		node.wait(timeout=120)
	ops = after - before
	text = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(out)], check=True,
			      capture_output=True, text=True).stdout
	total = int(re.search(r"([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", text).group(1).replace(",", ""))
	top = []
	for line in text.splitlines():
		m = re.match(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+(\S+):(\S+)(?: \[|$)", line)
		if m and ("/node/" in m.group(3) or "/common/" in m.group(3)):
			path = m.group(3)
			path = path[path.index("/node/") + 1:] if "/node/" in path else \
				path[path.index("/common/") + 1:]
			count = int(m.group(1).replace(",", ""))
			top.append({"function": "%s:%s" % (path, m.group(4)),
				    "per_op": round(count / ops) if ops else None,
				    "share": float(m.group(2))})
	return {"ops": ops, "instructions": total, "per_op": round(total / ops) if ops else None,
		"top": top[:args.top], "callgrind_out": out.name}


def syscalls(run, loadgen, args):
	url = run.cluster.node_urls[0]
	pid = run.cluster.node_list[0].proc().pid
	bench = run.load(loadgen, args.seconds, None)
	time.sleep(3)
	before = requests_total(url)
	trace = subprocess.run(["timeout", "-s", "INT", str(args.seconds), "strace", "-c", "-f",
				"-p", str(pid)], capture_output=True, text=True)
	after = requests_total(url)
	bench.communicate(timeout=args.seconds + 120)
	requests = max(1, after - before - 2)  # our two /metrics reads
	calls = {}
	for line in trace.stderr.splitlines():
		parts = line.split()
		if (len(parts) >= 5 and parts[-1].isidentifier() and parts[-1] != "total" and
		    parts[3].isdigit()):
			calls[parts[-1]] = int(parts[3])
	total = sum(calls.values())
	return {"requests": requests, "syscalls": total,
		"per_request": round(total / requests, 2),
		"by_name": {k: round(v / requests, 2) for k, v in
			    sorted(calls.items(), key=lambda kv: -kv[1])}}


def report_md(report):
	md = ["# Node CPU per committed op %s" % report["started_at"], "",
	      "Load: commit_bench, REST writes over %d canvases x %d writers, seed 7, %s, on a "
	      "fresh one-node cluster per binary; callgrind counts a window of %s s after a "
	      "warmup. Syscalls: the same node without valgrind, closed loop, strace -c -f."
	      % (report["canvases"], report["writers_per_canvas"],
		 "%s ops/s offered" % fmt_int(report["rate"]) if report["rate"] else "closed loop",
		 report["seconds"]), ""]
	md.append("| binary | ops in the window | instructions | per op |")
	md.append("| --- | ---: | ---: | ---: |")
	for r in report["runs"]:
		i = r["instructions"]
		md.append("| `%s` | %s | %s | %s |" % (r["binary"], fmt_int(i["ops"]),
						     fmt_int(i["instructions"]), fmt_int(i["per_op"])))
	for r in report["runs"]:
		md += ["", "## Top functions (inclusive, per op): `%s`" % r["binary"], "",
		       "| function | instructions per op | share |", "| --- | ---: | ---: |"]
		for t in r["instructions"]["top"]:
			md.append("| `%s` | %s | %.1f%% |" % (t["function"], fmt_int(t["per_op"]),
							    t["share"]))
		s = r.get("syscalls")
		if s:
			md += ["", "Syscalls per request (strace -c -f over the window, %s requests): "
			       "%.2f — %s." % (fmt_int(s["requests"]), s["per_request"], ", ".join(
				       "%s %.2f" % kv for kv in s["by_name"].items()))]
	return "\n".join(md) + "\n"


def main(argv=None):
	p = argparse.ArgumentParser(prog="scripts/bench profile", description=__doc__.split("\n")[0])
	p.add_argument("--binary", help="node binary (default: build/bin/flowstate-node, built here)")
	p.add_argument("--compare", action="append", default=[], metavar="BINARY",
		       help="another node binary to profile under the same load (repeatable)")
	p.add_argument("--seconds", type=float, default=15.0, help="profiled window")
	p.add_argument("--rate", type=float, default=80.0,
		       help="ops/s offered while profiling (open loop), the same for every binary, so "
		       "that each does the same work, snapshots included (0: closed loop, as many as "
		       "the binary takes; the default is below what a node under callgrind sustains)")
	p.add_argument("--canvases", type=int, default=100)
	p.add_argument("--writers-per-canvas", type=int, default=3)
	p.add_argument("--syscalls", action="store_true", help="also count syscalls with strace")
	p.add_argument("--top", type=int, default=25, help="functions listed per binary")
	p.add_argument("--skip-build", action="store_true")
	p.add_argument("--out-dir", help="report directory (default var/bench/<timestamp>)")
	args = p.parse_args(argv)
	need("valgrind", "valgrind")
	if args.syscalls:
		need("strace", "strace")
	started = time.strftime("%Y%m%d-%H%M%S")
	out_dir = Path(args.out_dir) if args.out_dir else REPO / "var" / "bench" / started
	out_dir.mkdir(parents=True, exist_ok=True)
	loadgen = build_load_generator("commit_bench", args.skip_build,
				       node_too=not args.binary)
	binaries = [args.binary or str(REPO / "build" / "bin" / "flowstate-node")] + args.compare
	report = {"started_at": started, "seconds": args.seconds, "rate": args.rate,
		  "canvases": args.canvases,
		  "writers_per_canvas": args.writers_per_canvas, "runs": []}
	work = Path(tempfile.mkdtemp(prefix="flowstate-profile-"))
	os.chmod(work, 0o755)  # Postgres and nginx run as other users
	try:
		for i, binary in enumerate(binaries):
			entry = {"binary": binary}
			with Run(binary, work, args) as run:
				# Instructions first, on canvases that start empty like every binary's;
				# then (the profiled node restarted plainly) the syscalls.
				entry["instructions"] = instructions(run, loadgen, args, out_dir, str(i))
				if args.syscalls:
					run.cluster.start_node(0)
					run.cluster.wait_ready()
					entry["syscalls"] = syscalls(run, loadgen, args)
					say("  %.2f syscalls per request" % entry["syscalls"]["per_request"])
			say("%s: %s instructions per committed op (%s ops in the window)"
			    % (binary, fmt_int(entry["instructions"]["per_op"]),
			       fmt_int(entry["instructions"]["ops"])))
			report["runs"].append(entry)
	finally:
		shutil.rmtree(work, ignore_errors=True)
	(out_dir / "profile.json").write_text(json.dumps(report, indent=2) + "\n")
	(out_dir / "profile.md").write_text(report_md(report))
	print(report_md(report))
	print("report: %s/profile.md" % out_dir)
	return 0
