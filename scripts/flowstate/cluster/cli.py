"""The command line of the local cluster (scripts/cluster.py):

    cluster.py up --dir var [--nodes 3] [--gateway-port 8080] [--foreground]
    cluster.py down --dir var
    cluster.py status --dir var
    cluster.py psql --dir var [-- psql args]
    cluster.py run [--dir D] [--pg-only] [--nodes N] -- command args...
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flowstate import procs
from flowstate.cluster.base import ClusterError
from flowstate.cluster.postgres import PG_BIN
from flowstate.cluster.topology import (Cluster, any_running, cluster_status, read_manifest,
					stop_from_pidfiles)

# Default fixed ports of the persistent cluster (scripts/up): away from a system Postgres/Redis.
UP_GATEWAY_PORT = 8080
UP_NODE_BASE_PORT = 8081
UP_PG_PORT = 15432
UP_REDIS_PORT = 16379


def display_path(path):
	"""Relative to the current directory when inside it, else absolute."""
	path = Path(path).resolve()
	try:
		return str(path.relative_to(Path.cwd()))
	except ValueError:
		return str(path)


def print_summary(c, stop_hint, foreground):
	rel = display_path(c.root)
	print("FlowState local cluster is up: %d node(s), data in %s" % (c.nodes, c.root))
	if c.gateway_url:
		print("  gateway   %s/   (web client; API under /api/v1)" % c.gateway_url)
	for node in c.node_list:
		print("  node %-4s %s   log %s" % (node.node_id, node.url, display_path(node.log)))
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
	if any_running(root):
		print("cluster in %s is already running; restarting it (data is kept)" % root, flush=True)
		stop_from_pidfiles(root)
	c = Cluster(root, nodes=args.nodes, gateway_port=args.gateway_port,
		    node_base_port=args.node_base_port, pg_port=args.pg_port, redis_port=args.redis_port,
		    persistent=True, sanitized_build=args.sanitized, node_bin=args.node_bin)
	if args.foreground:
		c.start(detach=False)
		print_summary(c, None, True)
		try:
			supervise(c)
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
	print_summary(c, args.stop_hint or "%s down --dir %s" % (sys.argv[0], args.dir), False)
	return 0


def supervise(c):
	"""Foreground mode: report a process that dies, keep the rest running."""
	reported = set()
	while True:
		time.sleep(1)
		for name, proc in c.table.items():
			if name not in reported and not proc.alive():
				reported.add(name)
				procs.log("%s exited (code %s); see %s/logs/" % (name, proc.returncode(), c.root))


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
	manifest = read_manifest(args.dir)
	if "database_url" not in manifest:
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
		procs.log("running %s (database %s)" % (" ".join(cmd), c.database_url))
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
	while procs.is_alive(parent, start):
		time.sleep(0.5)
	# Only our own pid file means the owner never got to stop() (it removes us first).
	run_dir = Path(args.dir) / "run"
	if (run_dir / "guard.pid").exists():
		procs.log("owner process %d died; stopping the cluster in %s" % (parent, args.dir))
		procs.remove_pidfile(run_dir, "guard")
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
