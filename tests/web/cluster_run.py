#!/usr/bin/python3
"""Run a command (the browser end-to-end test) against a private FlowState cluster.

Like `scripts/cluster.py run`, it starts a throwaway cluster (Postgres, Redis, N nodes and the
nginx gateway serving gateway/www) on free loopback ports and passes its addresses in the
environment (FLOWSTATE_TEST_GATEWAY_URL, FLOWSTATE_TEST_NODE_URLS). It also lets the test
stop and start nodes, which a browser cannot do, through a small HTTP control endpoint on
loopback (FLOWSTATE_WEB_CONTROL_URL):

  POST /stop-busiest   SIGTERM the node holding the most WebSocket connections (the one the
                       gateway pins the test's canvas to); answers {"node": i}
  POST /stop-node?i=   SIGTERM node i
  POST /start-node?i=  start node i again

Besides the cluster's gateway (consistent hash: every client of a canvas on one node), it starts
one more nginx per node, rendered from the same template with that node as its only upstream
(FLOWSTATE_TEST_NODE_GATEWAYS, comma-separated, in node order), so a test can put two users of
one canvas on two different nodes and check what crosses between them.

Usage: cluster_run.py [--nodes N] [--dir DIR] -- COMMAND...
Exits with the command's status (1 if the cluster fails, or if a node log has a sanitizer
report).
"""

import argparse
import http.server
import signal
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import urllib.request
from pathlib import Path

from flowstate import procs
from flowstate.cluster import Cluster, ClusterError
from flowstate.cluster.gateway import Gateway


def ws_connections(url):
	try:
		with urllib.request.urlopen(url + "/metrics", timeout=2) as res:
			text = res.read().decode()
	except OSError:
		return -1
	m = re.search(r"^flowstate_ws_connections\s+([0-9.]+)", text, re.M)
	return int(float(m.group(1))) if m else 0


def control_server(c):
	lock = threading.Lock()

	class Handler(http.server.BaseHTTPRequestHandler):
		def log_message(self, fmt, *args):
			procs.log("control: " + fmt % args)

		def answer(self, status, body):
			data = json.dumps(body).encode()
			self.send_response(status)
			self.send_header("Content-Type", "application/json")
			self.send_header("Content-Length", str(len(data)))
			self.end_headers()
			self.wfile.write(data)

		def do_POST(self):
			url = urllib.parse.urlparse(self.path)
			q = urllib.parse.parse_qs(url.query)
			try:
				with lock:
					if url.path == "/stop-busiest":
						counts = [ws_connections(u) for u in c.node_urls]
						i = max(range(c.nodes), key=lambda k: counts[k])
						code = c.stop_node(i)
						self.answer(200, {"node": i, "ws_connections": counts,
								  "exit_code": code})
					elif url.path == "/stop-node":
						i = int(q["i"][0])
						code = c.stop_node(i)
						self.answer(200, {"node": i, "exit_code": code})
					elif url.path == "/start-node":
						i = int(q["i"][0])
						c.start_node(i)
						self.answer(200, {"node": i})
					else:
						self.answer(404, {"detail": "unknown control"})
			except Exception as e:  # report to the test, keep serving
				self.answer(500, {"detail": str(e)})

	srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
	threading.Thread(target=srv.serve_forever, daemon=True).start()
	return srv


def start_pinned_gateways(c, root):
	"""One more gateway per node (the package's Gateway, the same template), each with that node
	as its only upstream. Returns (urls, gateways)."""
	urls, gateways = [], []
	for i, node in enumerate(c.node_list):
		d = root / ("pinned-gateway-%d" % (i + 1))
		(d / "logs").mkdir(parents=True, exist_ok=True)
		(d / "nginx").mkdir(parents=True, exist_ok=True)
		gw = Gateway(d, procs.free_port(), c.table, lambda n=node: [c.address_for(n.name)])
		gw.name = "gateway-pinned-%d" % (i + 1)
		gw.start()
		gateways.append(gw)
		urls.append(gw.url)
	return urls, gateways


def stop_pinned_gateways(gateways):
	for gw in gateways:
		try:
			gw.stop()
		except ClusterError as e:
			print("cluster_run: stopping %s: %s" % (gw.name, e), file=sys.stderr)


def main():
	p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	p.add_argument("--nodes", type=int, default=2)
	p.add_argument("--dir", help="cluster directory (default: a temporary one, removed on success)")
	p.add_argument("command", nargs=argparse.REMAINDER)
	args = p.parse_args()
	cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
	if not cmd:
		p.error("no command given")
	own_dir = args.dir is None
	root = Path(tempfile.mkdtemp(prefix="flowstate-webtest-")) if own_dir else Path(args.dir)
	os.chmod(root, 0o755)  # Postgres and the nginx workers run as other users
	# A cheap KDF: the test registers users through the UI.
	c = Cluster(root, nodes=args.nodes, env_overrides={"FLOWSTATE_SCRYPT_LOG2N": "10"})
	code = 1
	srv = None
	pinned = []
	try:
		c.start()
		pinned_urls, pinned = start_pinned_gateways(c, root)
		srv = control_server(c)
		env = dict(os.environ)
		env["FLOWSTATE_TEST_GATEWAY_URL"] = c.gateway_url
		env["FLOWSTATE_TEST_NODE_URLS"] = ",".join(c.node_urls)
		env["FLOWSTATE_TEST_NODE_GATEWAYS"] = ",".join(pinned_urls)
		env["FLOWSTATE_WEB_CONTROL_URL"] = "http://127.0.0.1:%d" % srv.server_address[1]
		procs.log("running %s (gateway %s)" % (" ".join(cmd), c.gateway_url))
		child = subprocess.Popen(cmd, env=env)
		try:
			code = child.wait()
		except BaseException:
			child.terminate()
			child.wait()
			raise
	except ClusterError as e:
		print("cluster_run: %s" % e, file=sys.stderr)
		code = 1
	finally:
		if srv is not None:
			srv.shutdown()
		stop_pinned_gateways(pinned)
		try:
			c.stop()
		except ClusterError as e:
			print("cluster_run: stopping: %s" % e, file=sys.stderr)
			code = code or 1
		reports = c.sanitizer_reports()
		if reports:
			for path, excerpt in reports:
				print("cluster_run: sanitizer report in %s:\n%s" % (path, excerpt), file=sys.stderr)
			code = code or 1
		if code == 0 and own_dir:
			shutil.rmtree(root, ignore_errors=True)
		elif code != 0:
			print("cluster_run: cluster directory kept: %s" % root, file=sys.stderr)
	return code


if __name__ == "__main__":
	sys.exit(main())
