#!/usr/bin/python3
"""Web client frame rates in headless Chromium (1440x900): drag, draw, pan, zoom, cursors, offline.

Run it through `scripts/bench web [--quick]`. Python 3 standard library plus Debian's
python3-websockets (installed by scripts/setup); the browser side is tests/web/bench.mjs
(playwright-core driving Debian's Chromium, installed by tests/web/run).

What one run does:
  1. builds the web client (scripts/setup) and build/ (release), unless --node-bin is given;
  2. starts a private cluster (Postgres, Redis, 1 node, nginx) on 127.0.0.1 in a temporary
     directory with scripts/cluster.py;
  3. registers a user and seeds two canvases through the REST API: 1,000 shapes and 5,000
     shapes (rectangles, ellipses, stickies and texts with text, freehand paths, connectors);
  4. runs the scenarios of DESIGN.md §10 and issue 13 in one headless Chromium at 1440x900
     (flags as the e2e test: --headless --no-sandbox --disable-gpu ...), measuring frames with a
     requestAnimationFrame loop in the page while input arrives at 60 Hz:
       drag-1000     drag one shape among 1,000 for 3 s               target >= 55 fps
       draw-1000     draw with the pen on the 1,000-shape canvas      target >= 55 fps
       cursor-1000   another user's cursor moving (30 Hz) over it     target: no dropped frames
       open-5000     open the 5,000-shape canvas: navigation to live and painted  < 500 ms
       pan-5000      pan with the wheel, zoomed to fit all 5,000      target >= 50 fps
       zoom-5000     zoom with Ctrl+wheel on the same view            target >= 50 fps
       offline       browser goes offline → "Offline" shown            target < 2 s
       online        browser back online → live again                  target < 1 s
     then, from Python: sync-5000, the node's part of open-5000 (WebSocket upgrade to the
     sync of the 5,000-shape canvas) and whether it came from a stored text
  5. prints a table and writes var/bench/<timestamp>/web.json and web.md.

The fps of a scenario is frames / elapsed over the input period; "dropped" counts frame
intervals longer than 1.5 vsync periods (each counted as the frames it skipped); "worst" is the
longest frame. Everything it starts is stopped at the end.
"""

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from flowstate.cluster import Cluster  # noqa: E402

TARGETS = {
	"drag-1000": ("fps", ">=", 55), "draw-1000": ("fps", ">=", 55), "cursor-1000": ("dropped", "<=", 0),
	"open-5000": ("ms", "<", 500), "pan-5000": ("fps", ">=", 50), "zoom-5000": ("fps", ">=", 50),
	"offline": ("ms", "<", 2000), "online": ("ms", "<", 1000),
}


def say(msg):
	print("bench web: %s" % msg, flush=True)


class Rest:
	def __init__(self, base):
		self.base = base.rstrip("/") + "/api/v1"
		self.token = None

	def call(self, method, path, body=None, expect=(200, 201)):
		data = json.dumps(body).encode() if body is not None else None
		for attempt in range(20):
			req = urllib.request.Request(self.base + path, method=method, data=data)
			req.add_header("Content-Type", "application/json")
			if self.token:
				req.add_header("Authorization", "Bearer " + self.token)
			try:
				with urllib.request.urlopen(req, timeout=30) as res:
					raw = res.read()
					return json.loads(raw) if raw else None
			except urllib.error.HTTPError as e:
				if e.code in (429, 503) and attempt < 19:
					time.sleep(0.05 * (attempt + 1))
					continue
				raise RuntimeError("%s %s: %d %s" % (method, path, e.code, e.read()[:200]))
		raise RuntimeError("%s %s: gave up" % (method, path))


def shapes_for(n, seed):
	"""n shapes on a grid: a realistic mix, with connectors between neighbours."""
	rnd = random.Random(seed)
	out = []
	cols = 40 if n <= 1000 else 100
	colors = ["#1e1e1e", "#e03131", "#2f9e44", "#1971c2", "#f08c00"]
	fills = ["none", "#ffc9c9", "#b2f2bb", "#a5d8ff", "#ffec99"]
	ids = []
	for i in range(n):
		x, y = (i % cols) * 220, (i // cols) * 160
		sid = "b%05d" % i
		kind = ["rect", "ellipse", "sticky", "text", "path", "rect", "ellipse", "connector"][i % 8]
		style = {"stroke": rnd.choice(colors), "fill": rnd.choice(fills), "width": rnd.choice([1, 2, 4]), "opacity": 1}
		p = {"shape_id": sid, "kind": kind, "x": x, "y": y, "w": 160, "h": 100, "style": style, "z": i}
		if kind in ("rect", "ellipse", "sticky"):
			p["text"] = "Item %d" % i if kind != "sticky" else "Note %d: a few words that wrap" % i
		elif kind == "text":
			p.update({"text": "Label %d" % i, "h": 22, "w": 90, "style": {**style, "fill": "none"}})
		elif kind == "path":
			p["points"] = [[j * 8, (j % 2) * 30 + rnd.random() * 10] for j in range(20)]
			p["style"] = {**style, "fill": "none"}
		elif kind == "connector" and len(ids) >= 2:
			p.update({"from": ids[-1], "to": ids[-2 - rnd.randrange(min(5, len(ids) - 1))], "style": {**style, "fill": "none"}})
		elif kind == "connector":
			p["kind"] = "rect"
		if p["kind"] != "connector" and p["kind"] != "path":
			ids.append(sid)
		out.append(p)
	return out


def seed(rest, canvas_id, n):
	ops = shapes_for(n, n)
	def post(p):
		rest.call("POST", "/canvases/%s/operations" % canvas_id,
			  {"type": "create_shape", "payload": p, "client_op_id": str(uuid.uuid4())})
	t0 = time.monotonic()
	with ThreadPoolExecutor(max_workers=8) as pool:
		list(pool.map(post, ops))
	say("seeded %d shapes in %.1f s" % (n, time.monotonic() - t0))


class CursorMover:
	"""A second user's session moving its cursor at 30 Hz over the canvas (python3-websockets)."""

	def __init__(self, ws_url):
		self.ws_url = ws_url
		self.stop_flag = threading.Event()
		self.sent = 0
		self.thread = threading.Thread(target=lambda: asyncio.run(self.run()), daemon=True)

	async def run(self):
		import websockets
		async with websockets.connect(self.ws_url, max_size=None) as ws:
			await ws.recv()  # sync
			t = 0.0
			async def drain():
				try:
					async for _ in ws:
						pass
				except Exception:
					pass
			reader = asyncio.ensure_future(drain())
			while not self.stop_flag.is_set():
				x = 700 + 400 * __import__("math").cos(t)
				y = 450 + 250 * __import__("math").sin(t)
				await ws.send(json.dumps({"type": "cursor", "x": round(x, 1), "y": round(y, 1)}))
				self.sent += 1
				t += 0.08
				await asyncio.sleep(1 / 30)
			reader.cancel()

	def start(self):
		self.thread.start()

	def stop(self):
		self.stop_flag.set()
		self.thread.join(timeout=5)


def node_counter(c, name):
	with urllib.request.urlopen(c.node_urls[0] + "/metrics", timeout=10) as res:
		for line in res.read().decode().splitlines():
			if line.startswith(name + " "):
				return int(float(line.split()[1]))
	return None


def sync_timing(c, canvas_id, token, rounds=5):
	"""What open-5000 waits for on the node: a WebSocket's upgrade to its sync, from a Python
	client (after the browser's scenarios), and whether the node sent a stored text of the
	state at the head (flowstate_state_stored_texts_total) or built it."""
	import websockets
	url = c.gateway_url.replace("http://", "ws://") + "/api/v1/canvases/%s/ws?token=%s" % (canvas_id, token)
	before = node_counter(c, "flowstate_state_stored_texts_total")

	async def one():
		t0 = time.monotonic()
		async with websockets.connect(url, max_size=None, compression=None) as ws:
			t1 = time.monotonic()
			msg = await ws.recv()
			return (time.monotonic() - t1) * 1000, (t1 - t0) * 1000, len(msg)
	runs = [asyncio.run(one()) for _ in range(rounds)]
	stored = node_counter(c, "flowstate_state_stored_texts_total")
	ms = sorted(r[0] for r in runs)
	return {"ms": round(ms[len(ms) // 2], 1), "min": round(ms[0], 1), "max": round(ms[-1], 1),
		"upgrade_ms": round(sorted(r[1] for r in runs)[rounds // 2], 1), "bytes": runs[0][2],
		"stored_texts": stored - before if stored is not None and before is not None else None}


def machine():
	try:
		cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
	except (OSError, IndexError):
		cpu = platform.processor()
	chromium = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True).stdout.strip()
	return {"cpu": cpu, "cores": os.cpu_count(), "chromium": chromium, "load": os.getloadavg()}


def verdict(name, r):
	what, op, want = TARGETS[name]
	v = r.get(what)
	if v is None:
		return "n/a"
	ok = {">=": v >= want, "<=": v <= want, "<": v < want}[op]
	return "PASS" if ok else "MISS"


def main():
	ap = argparse.ArgumentParser(prog="scripts/bench web", description=__doc__.split("\n")[0])
	ap.add_argument("--quick", action="store_true", help="shorter gestures (1.5 s instead of 3 s)")
	ap.add_argument("--node-bin", help="flowstate-node binary (default: build build/ as scripts/up)")
	ap.add_argument("--out-dir", help="report directory (default var/bench/<timestamp>)")
	args = ap.parse_args()
	load_at_start = os.getloadavg()

	say("building the web client (scripts/setup)")
	subprocess.run([str(REPO / "scripts/setup")], check=True, stdout=subprocess.DEVNULL)
	if not (REPO / "tests/web/node_modules/playwright-core").exists():
		subprocess.run(["npm", "ci", "--prefix", str(REPO / "tests/web"), "--no-audit", "--no-fund", "--loglevel=error"], check=True)
	node_bin = args.node_bin
	if not node_bin:
		say("building build/ (release)")
		subprocess.run(["cmake", "-S", str(REPO), "-B", str(REPO / "build"), "-DCMAKE_BUILD_TYPE=Release",
				"-DCMAKE_C_FLAGS_RELEASE=-O2 -g -DNDEBUG", "-DFLOWSTATE_SANITIZE=OFF", "-DFLOWSTATE_TESTS=OFF"],
			       check=True, stdout=subprocess.DEVNULL)
		subprocess.run(["cmake", "--build", str(REPO / "build"), "-j%d" % os.cpu_count(), "--target", "flowstate-node"],
			       check=True, stdout=subprocess.DEVNULL)
		node_bin = str(REPO / "build/bin/flowstate-node")
	os.environ["FLOWSTATE_NODE_BIN"] = node_bin

	import tempfile
	root = Path(tempfile.mkdtemp(prefix="flowstate-benchweb-"))
	os.chmod(root, 0o755)
	c = Cluster(root, nodes=1, env_overrides={"FLOWSTATE_SCRYPT_LOG2N": "10"})
	mover = None
	try:
		say("starting a private cluster in %s" % root)
		c.start()
		rest = Rest(c.gateway_url)
		email = "bench-%s@example.com" % uuid.uuid4().hex[:8]
		rest.call("POST", "/auth/register", {"email": email, "password": "bench password", "display_name": "Bench"})
		pair = rest.call("POST", "/auth/login", {"email": email, "password": "bench password"})
		rest.token = pair["access_token"]
		ws_id = rest.call("POST", "/workspaces", {"name": "Bench"})["id"]
		c1000 = rest.call("POST", "/workspaces/%s/canvases" % ws_id, {"name": "1,000 shapes"})["id"]
		c5000 = rest.call("POST", "/workspaces/%s/canvases" % ws_id, {"name": "5,000 shapes"})["id"]
		seed(rest, c1000, 1000)
		seed(rest, c5000, 5000)
		# The mover is a second session of another user on the 1,000-shape canvas.
		email2 = "mover-%s@example.com" % uuid.uuid4().hex[:8]
		rest.call("POST", "/auth/register", {"email": email2, "password": "bench password", "display_name": "Mover"})
		rest.call("POST", "/workspaces/%s/members" % ws_id, {"email": email2, "role": "editor"})
		rest2 = Rest(c.gateway_url)
		rest2.token = rest.call("POST", "/auth/login", {"email": email2, "password": "bench password"})["access_token"]
		ws_url = c.gateway_url.replace("http://", "ws://") + "/api/v1/canvases/%s/ws?token=%s" % (c1000, rest2.token)

		env = dict(os.environ)
		env.update({
			"BENCH_GATEWAY": c.gateway_url, "BENCH_EMAIL": email, "BENCH_PASSWORD": "bench password",
			"BENCH_C1000": c1000, "BENCH_C5000": c5000, "BENCH_SECONDS": "1.5" if args.quick else "3",
		})
		proc = subprocess.Popen(["node", str(REPO / "tests/web/bench.mjs")], env=env, cwd=str(REPO),
					stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
		results = {}
		for line in proc.stdout:
			line = line.strip()
			if line.startswith("NEED cursor-start"):
				mover = CursorMover(ws_url)
				mover.start()
				time.sleep(0.5)
				proc.stdin.write("ok\n")
				proc.stdin.flush()
			elif line.startswith("NEED cursor-stop"):
				mover.stop()
				say("the mover sent %d cursor messages" % mover.sent)
				mover = None
				proc.stdin.write("ok\n")
				proc.stdin.flush()
			elif line.startswith("RESULT "):
				name, data = line[7:].split(" ", 1)
				results[name] = json.loads(data)
				say("%-12s %s" % (name, data))
			else:
				print(line, flush=True)
		if proc.wait() != 0:
			raise RuntimeError("tests/web/bench.mjs failed (exit %d)" % proc.returncode)
		results["sync-5000"] = sync_timing(c, c5000, rest.token)
		say("%-12s %s" % ("sync-5000", json.dumps(results["sync-5000"])))
	finally:
		if mover:
			mover.stop()
		c.stop()
		import shutil
		shutil.rmtree(root, ignore_errors=True)

	stamp = time.strftime("%Y%m%d-%H%M%S")
	out = Path(args.out_dir) if args.out_dir else REPO / "var" / "bench" / stamp
	out.mkdir(parents=True, exist_ok=True)
	report = {"machine": machine(), "quick": args.quick, "results": results, "targets": TARGETS}
	report["machine"]["load_at_start"] = load_at_start
	report["machine"]["load_at_end"] = report["machine"].pop("load")
	(out / "web.json").write_text(json.dumps(report, indent=2) + "\n")
	lines = ["# Web client benchmark (%s)" % stamp, "",
		 "Headless Chromium 1440x900, --disable-gpu; %s; %d cores; load average at start %s, at end %s." % (
			 report["machine"]["cpu"], report["machine"]["cores"], " ".join("%.2f" % x for x in load_at_start),
			 " ".join("%.2f" % x for x in report["machine"]["load_at_end"])),
		 "", "| scenario | fps | dropped | worst frame ms | p95 frame ms | ms | target | verdict |",
		 "| --- | --- | --- | --- | --- | --- | --- | --- |"]
	for name, r in results.items():
		what, op, want = TARGETS.get(name, ("", "", ""))
		lines.append("| %s | %s | %s | %s | %s | %s | %s %s %s | %s |" % (
			name, r.get("fps", ""), r.get("dropped", ""), r.get("worst", ""), r.get("p95", ""), r.get("ms", ""),
			what, op, want, verdict(name, r) if name in TARGETS else ""))
	if "open-5000" in results and results["open-5000"].get("marks"):
		lines += ["", "open-5000 timeline (ms since navigation): " + ", ".join("%s %s" % (k, v) for k, v in results["open-5000"]["marks"].items())]
	if "sync-5000" in results:
		r = results["sync-5000"]
		lines += ["", "sync-5000 (the node's part of open-5000: upgrade to sync of %d bytes, Python client, %d rounds "
			  "after the browser's scenarios): median %s ms (min %s, max %s); answered from a stored text "
			  "(not rebuilt): %s of them" % (r["bytes"], 5, r["ms"], r["min"], r["max"], r["stored_texts"])]
	(out / "web.md").write_text("\n".join(lines) + "\n")
	print("\n".join(lines[4:]))
	say("report: %s" % out)
	missed = [n for n in results if n in TARGETS and verdict(n, results[n]) == "MISS"]
	if missed:
		say("targets missed: %s" % ", ".join(missed))


if __name__ == "__main__":
	main()
