"""Commit benchmark of FlowState's REST write path, with the Postgres ceiling of the same run.

Run it through `scripts/bench commit [--quick]` (scripts/bench_commit.py calls main()).

What one run does:
  1. builds build/ (release) and the load generator tests/load/commit_bench.c;
  2. starts a private cluster through flowstate.cluster (Postgres, Redis, 3 nodes, nginx, all
     on 127.0.0.1 in a temporary directory), unless --cluster-dir or --nodes/--database-url point at
     a running one;
  3. measures the ceiling with pgbench against the same Postgres: the bare single-op commit
     transaction (UPDATE canvases ... RETURNING + INSERT) on one hot canvas with 1 and 16
     clients and over many canvases, and the same transaction allocating 16 versions at once
     on one hot canvas and over many canvases;
  4. drives POST /api/v1/canvases/{id}/operations with commit_bench: one hot canvas (30 writers)
     and many canvases (1,000 x 3 writers), on 1 node and on 3 nodes, plus many canvases through
     the sticky nginx gateway, and (many-fixed) an open-loop load of half the best many-canvas
     throughput of the run, for the ack latency at a fixed offered load;
  5. after every scenario checks in Postgres that each canvas's versions are exactly 1..N and
     canvases.version = N, and that N matches the 201s the load generator counted; a mismatch
     fails the run;
  6. prints a table and writes var/bench/<timestamp>/commit.json and commit.md (figures,
     machine facts, CPU time and RSS of every process involved).

Everything runs on 127.0.0.1, and everything it starts is stopped at the end (also on Ctrl-C).
"""

import argparse
import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

from flowstate import REPO, api, plot
from flowstate.bench import BenchError, say
from flowstate.bench.common import (Accounts, Database, api_client, build_load_generator,
				    commit_stats, machine_facts, run_guarded)
from flowstate.bench.measure import run_measured, wait_for_quiet
from flowstate.cluster.postgres import PG_BIN
from flowstate.report import (cpu_table, disturbed_note, fmt_int, fmt_ms, label_of,
			      machine_paragraph, mode_paragraph, print_targets, targets_table)

# DESIGN.md §10 and issue 14: ratios to the ceilings of the same run.
TARGET_MANY_RATIO = 3.0         # many-3nodes(-gateway) / single-many-16 (moonshot 5x)
TARGET_MANY_MOONSHOT = 5.0
TARGET_NODES_RATIO = 0.9        # many-3nodes / many-1node: adding nodes never costs
TARGET_HOT_RATIO = 0.5          # hot-3nodes / x16-hot-1
TARGET_HOT_P99_MS = 25.0
TARGET_FIXED_P99_MS = 50.0      # many-fixed: half the measured maximum, open loop


# ---------------------------------------------------------------------------------------------
# Database: verification and pgbench.

def pgbench_script(prefix, canvases, versions, user_id):
	"""The commit transaction of DESIGN §2.1 on its own: lock-and-bump the canvas version,
	insert the rows, commit. The canvas is picked uniformly from `canvases` synthetic ones."""
	canvas = "('%s' || lpad(:c::text, 12, '0'))::uuid" % prefix
	payload = '{"shape_id": "s1", "x": 10.0, "y": 20.0}'
	lines = ["\\set c random(1, %d)" % canvases, "BEGIN;",
		 "UPDATE canvases SET version = version + %d WHERE id = %s RETURNING version AS v \\gset"
		 % (versions, canvas)]
	if versions == 1:
		lines.append("INSERT INTO operations (canvas_id, version, client_op_id, user_id, type, "
			     "payload) VALUES (%s, :v, gen_random_uuid(), '%s', 'move_shape', '%s');"
			     % (canvas, user_id, payload))
	else:
		lines.append("INSERT INTO operations (canvas_id, version, client_op_id, user_id, type, "
			     "payload) SELECT %s, :v::bigint - %d + g, gen_random_uuid(), '%s', "
			     "'move_shape', '%s' FROM generate_series(1, %d) g;"
			     % (canvas, versions, user_id, payload, versions))
	lines.append("COMMIT;")
	return "\n".join(lines) + "\n"


def checked(db, report, where, acked, unknown, label):
	"""db.verify, but a violation is recorded (and fails the run at the end) instead of
	stopping it: the other scenarios still tell something."""
	try:
		return db.verify(where, acked, unknown, label)
	except BenchError as e:
		say(str(e))
		report["verification_failures"].append(str(e))
		return {"ok": False, "error": str(e)}


def run_pgbench(db, work, name, prefix, canvases, versions, clients, seconds, user_id, groups):
	script = Path(work) / ("%s.sql" % name)
	script.write_text(pgbench_script(prefix, canvases, versions, user_id))
	argv = [str(PG_BIN / "pgbench"), "-n", "-M", "prepared", "-c", str(clients),
		"-j", str(min(clients, os.cpu_count() or 2)), "-T", str(max(1, round(seconds))),
		"-f", str(script), db.url]
	say("pgbench %s: %d client(s), %d canvas(es), %d version(s) per transaction, %ds"
	    % (name, clients, canvases, versions, max(1, round(seconds))))
	out_path, err_path = Path(work) / (name + ".out"), Path(work) / (name + ".err")
	lsn = db.wal_lsn()
	code, sampler = run_measured(argv, groups, seconds + 120, out_path, err_path, env=db.env(),
				     client="pgbench")
	wal_bytes = db.wal_lsn() - lsn
	out = out_path.read_text()
	if code != 0:
		raise BenchError("pgbench %s failed:\n%s%s" % (name, out, err_path.read_text()))
	tps = float(re.search(r"^tps = ([\d.]+)", out, re.M).group(1))
	processed = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))
	lat = re.search(r"latency average = ([\d.]+) ms", out)
	failed = re.search(r"number of failed transactions: (\d+)", out)
	return {"name": name, "clients": clients, "canvases": canvases,
		"versions_per_tx": versions, "tps": round(tps, 1), "ops_per_sec": round(tps * versions, 1),
		"transactions": processed, "failed": int(failed.group(1)) if failed else 0,
		"latency_avg_ms": float(lat.group(1)) if lat else None, "processes": sampler.result,
		"machine_cpu": sampler.machine(),
		"wal_bytes_per_op": round(wal_bytes / (processed * versions)) if processed else None}


# ---------------------------------------------------------------------------------------------
# Scenarios.

def cpu_per_op_us(result):
	"""Microseconds of CPU per committed op of the nodes (together) and of Postgres, over the
	whole run (warmup and drain included, like the acked count)."""
	acked = result["total"]["acked_201"]
	procs = result.get("processes") or {}
	if not acked:
		return {}
	nodes = [p["cpu_seconds"] for n, p in procs.items()
		 if n.startswith("node") and p.get("cpu_seconds") is not None]
	out = {}
	if nodes:
		out["nodes"] = round(sum(nodes) / acked * 1e6, 1)
	pg = procs.get("postgres", {}).get("cpu_seconds")
	if pg is not None:
		out["postgres"] = round(pg / acked * 1e6, 1)
	return out


def run_commit_bench(binary, work, name, urls, canvases, writers_per_canvas, args, groups,
		     db, metric_urls, route="writer", rate=None):
	tokens_file = Path(work) / ("%s.canvases" % name)
	tokens_file.write_text("".join("%s %s\n" % c for c in canvases))
	os.chmod(tokens_file, 0o600)
	argv = [str(binary), "--canvases", str(tokens_file), "--writers-per-canvas",
		str(writers_per_canvas), "--max-connections", str(args.max_connections),
		"--duration", str(args.duration), "--warmup", str(args.warmup), "--route", route]
	for u in urls:
		argv += ["--node", u]
	if rate:
		argv += ["--rate", "%.0f" % rate]
	say("%s: %d canvas(es) x %d writer(s) over %d endpoint(s), %.0fs + %.0fs warmup%s"
	    % (name, len(canvases), writers_per_canvas, len(urls), args.duration, args.warmup,
	       ", open loop at %s ops/s" % fmt_int(rate) if rate else ""))
	out_path, err_path = Path(work) / (name + ".json"), Path(work) / (name + ".log")
	metrics_before = [api.metrics(u) for u in metric_urls]
	lsn = db.wal_lsn()
	code, sampler = run_measured(argv, groups, args.duration + args.warmup + 120, out_path,
				     err_path, client="load_generator")
	wal_bytes = db.wal_lsn() - lsn
	metrics_after = [api.metrics(u) for u in metric_urls]
	if code != 0:
		raise BenchError("%s: commit_bench exited %d:\n%s" % (name, code,
								      err_path.read_text()[-3000:]))
	result = json.loads(out_path.read_text())
	result["processes"] = sampler.result
	result["machine_cpu"] = sampler.machine()
	result["node_commit"] = commit_stats(metrics_before, metrics_after)
	acked = result["total"]["acked_201"]
	result["wal_bytes_per_op"] = round(wal_bytes / acked) if acked else None
	result["cpu_us_per_op"] = cpu_per_op_us(result)
	return result


# ---------------------------------------------------------------------------------------------
# Report.

def tables(report):
	ceilings = report["ceilings"]
	lines = []
	lines.append("| scenario | nodes | canvases | writers | ops/s | p50 ms | p90 ms | p99 ms | "
		     "p99.9 ms | max ms | errors | x ceiling | ops/batch | batch ms | node µs/op "
		     "| pg µs/op |")
	lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
		     "| ---: | ---: | ---: | ---: |")
	for s in report["scenarios"]:
		lat = s["latency_ms"]
		nc = s.get("node_commit") or {}
		cpu = s.get("cpu_us_per_op") or {}
		ops = fmt_int(s["ops_per_sec"])
		if s.get("offered_ops_per_sec"):
			ops += " (offered %s)" % fmt_int(s["offered_ops_per_sec"])
		lines.append("| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %d | %s | %s | %s | "
			     "%s | %s |" % (
			label_of(s), s["nodes_label"], fmt_int(s["canvases"]), s["writers"],
			ops, fmt_ms(lat["p50"]), fmt_ms(lat["p90"]),
			fmt_ms(lat["p99"]), fmt_ms(lat["p999"]), fmt_ms(lat["max"]), s["errors"],
			"%.2f" % s["ratio_to_ceiling"] if s.get("ratio_to_ceiling") else "-",
			"%.1f" % nc["ops_per_batch"] if nc.get("ops_per_batch") else "-",
			fmt_ms(nc.get("batch_round_trip_ms")),
			"%.0f" % cpu["nodes"] if cpu.get("nodes") is not None else "-",
			"%.0f" % cpu["postgres"] if cpu.get("postgres") is not None else "-"))
	lines.append("")
	lines.append("| pgbench ceiling | clients | canvases | versions/tx | tx/s | ops/s | "
		     "avg latency ms |")
	lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for p in report["pgbench"]:
		lines.append("| %s | %d | %s | %d | %s | %s | %s |" % (
			label_of(p), p["clients"], fmt_int(p["canvases"]), p["versions_per_tx"],
			fmt_int(p["tps"]), fmt_int(p["ops_per_sec"]), fmt_ms(p["latency_avg_ms"])))
	lines.append("")
	lines.append("Ceilings used for the ratios: hot canvas %s ops/s (x16-hot-1: one client "
		     "allocating 16 versions per transaction), many canvases %s ops/s "
		     "(single-many-16: the bare one-op transaction, 16 clients over 1,000 canvases)."
		     % (fmt_int(ceilings.get("hot")), fmt_int(ceilings.get("many"))))
	note = disturbed_note(report["scenarios"] + report["pgbench"])
	if note:
		lines.append(note)
	return lines


def targets(report):
	by = {s["scenario"]: s for s in report["scenarios"]}
	ceilings = report["ceilings"]
	out = []
	for name in ("many-3nodes", "many-3nodes-gateway"):
		many = by.get(name)
		if many and ceilings.get("many"):
			ratio = many["ops_per_sec"] / ceilings["many"]
			out.append(("%s >= %.0fx single-many-16 (%s ops/s; moonshot %.0fx)"
				    % (name, TARGET_MANY_RATIO, fmt_int(ceilings["many"]),
				       TARGET_MANY_MOONSHOT),
				    "%.2fx (%s)" % (ratio, fmt_int(many["ops_per_sec"])),
				    ratio >= TARGET_MANY_RATIO))
	one, three = by.get("many-1node"), by.get("many-3nodes")
	if one and three and one["ops_per_sec"]:
		ratio = three["ops_per_sec"] / one["ops_per_sec"]
		out.append(("many-3nodes >= %.1fx many-1node" % TARGET_NODES_RATIO, "%.2fx" % ratio,
			    ratio >= TARGET_NODES_RATIO))
	hot = by.get("hot-3nodes")
	if hot and ceilings.get("hot"):
		ratio = hot["ops_per_sec"] / ceilings["hot"]
		out.append(("hot-3nodes >= %.1fx x16-hot-1 (%s ops/s)"
			    % (TARGET_HOT_RATIO, fmt_int(ceilings["hot"])),
			    "%.2fx (%s)" % (ratio, fmt_int(hot["ops_per_sec"])), ratio >= TARGET_HOT_RATIO))
		out.append(("hot-3nodes ack p99 < %.0f ms" % TARGET_HOT_P99_MS,
			    "%s ms" % fmt_ms(hot["latency_ms"]["p99"]),
			    hot["latency_ms"]["p99"] < TARGET_HOT_P99_MS))
	fixed = by.get("many-fixed")
	if fixed:
		out.append(("many-fixed (half the max, open loop) ack p99 < %.0f ms"
			    % TARGET_FIXED_P99_MS,
			    "%s ms at %s ops/s" % (fmt_ms(fixed["latency_ms"]["p99"]),
						   fmt_int(fixed["ops_per_sec"])),
			    fixed["latency_ms"]["p99"] < TARGET_FIXED_P99_MS))
	failed = [s["scenario"] for s in report["scenarios"] if s["errors"]]
	out.append(("zero errors in every scenario", ", ".join(failed) if failed else "0",
		    not failed))
	return out


def write_reports(report, out_dir):
	out_dir.mkdir(parents=True, exist_ok=True)
	# The load generator's latency CDF and 201s per second of every REST scenario, as PNGs
	# next to the report; no gnuplot means a note in the report, not a failed run.
	try:
		plots = plot.render(out_dir, "Commit benchmark %s" % report["started_at"],
				     [dict(s, name=s["scenario"]) for s in report["scenarios"]],
				     stem="commit", latency_label="ack latency of POST .../operations (ms)")
		plot_error = None if plots else "no scenario carried a latency CDF or a per-second series"
	except (plot.PlotError, OSError, subprocess.SubprocessError) as e:
		say("no plots: %s" % e)
		plots, plot_error = [], str(e)
	report["plots"] = [png for _, png in plots]
	report["plot_error"] = plot_error
	(out_dir / "commit.json").write_text(json.dumps(report, indent=2) + "\n")
	md = ["# Commit benchmark %s" % report["started_at"], ""]
	for failure in report["verification_failures"]:
		md += ["**VERIFICATION FAILED:** " + failure, ""]
	md.append(mode_paragraph(report))
	if report.get("node_bin"):
		md.append("")
		md.append("Node binary: `%s`." % report["node_bin"])
	md.append("")
	md.append(machine_paragraph(report["machine"]))
	md.append("")
	md += tables(report)
	md.append("")
	md.append("## Targets (DESIGN §10)")
	md.append("")
	md += targets_table(targets(report))
	md.append("")
	md.append("## Plots")
	md.append("")
	for title, png in plots:
		md.append("![%s](%s)" % (title, png))
		md.append("")
	if plots:
		md.append("The CDF comes from the load generator's latency histogram (acked 201s of "
			  "the measured window; up to 200 bucket tops, each with its exact fraction, "
			  "values < 0.8 % high); "
			  "the throughput plot counts 201s in each whole second of the measured window "
			  "(the fraction of a second at its end is left out).")
	else:
		md.append("No plots: %s." % plot_error.rstrip("."))
	md.append("")
	md.append("## CPU (cores busy, averaged over the run incl. warmup) / max RSS MB")
	md.append("")
	md += cpu_table(report["scenarios"] + report["pgbench"])
	md.append("")
	md.append("Postgres is the postmaster and all its backends (RSS: the postmaster only); "
		  "\"all others\" is every other process on the machine (other people's builds and "
		  "tests on a shared box); steal is CPU the hypervisor took; cpu/io stall is the share of "
		  "the time some task waited for a CPU / for I/O (Linux PSI \"some\", ours included).")
	md.append("")
	md.append("Columns: ops/s and latencies cover the measured window only (acked 201s; "
		  "latency = request handed to the socket until the whole response is read; in the "
		  "open-loop many-fixed run, from when the op fell due). node µs/op and pg µs/op: CPU "
		  "time of all nodes together and of Postgres over the whole run, per acked op. "
		  "ops/batch and batch ms come from the nodes' /metrics over the whole run: ops per "
		  "group-commit statement and its time from queueing on the pool to the result "
		  "(pool wait included). Closed loop: in the many-canvas runs every writer has one "
		  "request outstanding, so latency is about writers / throughput.")
	md.append("")
	md.append("Every scenario's canvases were verified in Postgres: versions exactly 1..N, "
		  "canvases.version = N, and the sum of N equal to the 201s counted by the load "
		  "generator (warmup and drain included).")
	(out_dir / "commit.md").write_text("\n".join(md) + "\n")


# ---------------------------------------------------------------------------------------------

def main(argv=None):
	p = argparse.ArgumentParser(prog="scripts/bench commit",
				    description="Commit benchmark of the REST write path, with the "
						"pgbench ceiling of the same run.")
	p.add_argument("--quick", action="store_true", help="3 s per scenario instead of 10")
	p.add_argument("--duration", type=float, help="measured seconds per scenario")
	p.add_argument("--warmup", type=float, help="unmeasured seconds before each scenario")
	p.add_argument("--hot-writers", type=int, default=30)
	p.add_argument("--many-canvases", type=int, default=1000)
	p.add_argument("--many-writers-per-canvas", type=int, default=3)
	p.add_argument("--max-connections", type=int, default=3000,
		       help="load generator connections at most; beyond that, writers share canvases")
	p.add_argument("--only", help="comma-separated scenario names (hot-1node, hot-3nodes, "
		       "many-1node, many-3nodes, many-3nodes-gateway, many-fixed, pgbench)")
	p.add_argument("--node-log-level", help="FLOWSTATE_LOG_LEVEL of our own cluster's nodes "
		       "(default: the cluster default, info: one line per request)")
	p.add_argument("--node-env", action="append", default=[], metavar="NAME=VALUE",
		       help="extra FLOWSTATE_* setting for our own cluster's nodes (repeatable), e.g. "
		       "FLOWSTATE_DB_POOL_SIZE=16; the report records them")
	p.add_argument("--cluster-dir", help="use the running cluster in this directory "
		       "(e.g. var of scripts/up) instead of starting one")
	p.add_argument("--nodes", help="comma-separated node URLs of a running deployment")
	p.add_argument("--gateway", help="gateway URL of a running deployment")
	p.add_argument("--database-url", help="its Postgres (for pgbench and verification)")
	p.add_argument("--out-dir", help="report directory (default var/bench/<timestamp>)")
	p.add_argument("--wait-quiet", type=float, default=30.0, metavar="SECONDS",
		       help="before each run, wait up to this long for other processes on the machine "
		       "to use < 0.25 cores (default 30; 0: do not wait)")
	p.add_argument("--node-bin", help="flowstate-node binary for our own cluster (default: "
		       "build/bin/flowstate-node, built here; or $FLOWSTATE_NODE_BIN)")
	p.add_argument("--skip-build", action="store_true", help="use the binaries as they are")
	p.add_argument("--keep", action="store_true", help="keep the temporary directory")
	args = p.parse_args(argv)
	if args.duration is None:
		args.duration = 3.0 if args.quick else 10.0
	if args.warmup is None:
		args.warmup = 1.0 if args.quick else 2.0
	only = set(args.only.split(",")) if args.only else None

	def wanted(name):
		return only is None or name in only

	started = time.strftime("%Y%m%d-%H%M%S")
	out_dir = Path(args.out_dir) if args.out_dir else REPO / "var" / "bench" / started

	def run(work, start_topology):
		node_bin = args.node_bin or os.environ.get("FLOWSTATE_NODE_BIN")
		binary = build_load_generator("commit_bench", args.skip_build,
					      node_too=not (node_bin or args.nodes or args.cluster_dir))
		topology = start_topology()
		db = Database(topology.database_url)
		groups = topology.process_groups()
		machine = machine_facts(topology.fsync_dir(work))
		say("machine: %d cores, %s MB, fdatasync %s/s" % (machine["nproc"],
								 fmt_int(machine["memory_mb"]),
								 fmt_int(machine["fdatasync_per_sec"])))
		tag = uuid.uuid4().hex[:8]
		client = api_client(topology.node_urls[0])
		accounts = Accounts(client, tag)
		report = {"started_at": started, "quick": args.quick, "duration": args.duration,
			  "warmup": args.warmup, "machine": machine,
			  "node_log_level": args.node_log_level or (
				  "info" if topology.cluster else "(external deployment)"),
			  "node_env": args.node_env, "verification_failures": [],
			  "node_bin": str(topology.cluster.node_bin) if topology.cluster else None, "pgbench": [], "scenarios": [], "ceilings": {}}

		# -- the ceiling: pgbench on the same Postgres ---------------------------------------
		if wanted("pgbench"):
			ws = accounts.workspace("bench pgbench %s" % tag)
			prefix = "%s-0000-4000-8000-" % tag
			n_many = args.many_canvases
			db.sql("INSERT INTO canvases (id, workspace_id, name, created_by) "
			       "SELECT ('%s' || lpad(g::text, 12, '0'))::uuid, '%s', 'pgbench ' || g, '%s' "
			       "FROM generate_series(1, %d) g;" % (prefix, ws, accounts.user_ids[0], n_many))
			runs = [("single-hot-1", 1, 1, 1), ("single-hot-16", 1, 1, 16),
				("single-many-16", n_many, 1, 16), ("x16-hot-1", 1, 16, 1),
				("x16-hot-16", 1, 16, 16), ("x16-many-4", n_many, 16, 4),
				("x16-many-16", n_many, 16, 16)]
			for name, canvases, versions, clients in runs:
				before = int(db.sql("SELECT coalesce(sum(version), 0) FROM canvases "
						    "WHERE workspace_id = '%s'" % ws)[0][0])
				if args.wait_quiet > 0:
					wait_for_quiet(groups, args.wait_quiet)
				r = run_pgbench(db, work, name, prefix, canvases, versions, clients,
						args.duration, accounts.user_ids[0], groups)
				r["verification"] = checked(db, report, "c.workspace_id = '%s'" % ws,
							    before + r["transactions"] * versions, 0,
							    "pgbench " + name)
				report["pgbench"].append(r)
				say("  %s ops/s (%s tx/s), avg %s ms; versions %s"
				    % (fmt_int(r["ops_per_sec"]), fmt_int(r["tps"]), fmt_ms(r["latency_avg_ms"]),
				       "verified" if r["verification"]["ok"] else "WRONG"))
			single = {r["name"]: r["ops_per_sec"] for r in report["pgbench"]}
			report["ceilings"]["hot"] = single["x16-hot-1"]
			report["ceilings"]["many"] = single["single-many-16"]

		# -- the REST write path ---------------------------------------------------------------
		urls = topology.node_urls
		scenarios = [
			("hot-1node", urls[:1], 1, args.hot_writers, "writer", "hot"),
			("hot-3nodes", urls[:3], 1, args.hot_writers, "writer", "hot"),
			("many-1node", urls[:1], args.many_canvases, args.many_writers_per_canvas,
			 "writer", "many"),
			("many-3nodes", urls[:3], args.many_canvases, args.many_writers_per_canvas,
			 "writer", "many"),
		]
		if topology.gateway_url:
			scenarios.append(("many-3nodes-gateway", [topology.gateway_url], args.many_canvases,
					  args.many_writers_per_canvas, "writer", "many"))
		# Last: an open loop at half the best many-canvas throughput measured above.
		scenarios.append(("many-fixed", [topology.gateway_url] if topology.gateway_url
				  else urls[:3], args.many_canvases, args.many_writers_per_canvas,
				  "writer", "many"))
		for name, nodes, n_canvases, wpc, route, kind in scenarios:
			if not wanted(name):
				continue
			rate = None
			if name == "many-fixed":
				best = max((s["ops_per_sec"] for s in report["scenarios"]
					    if s["scenario"].startswith("many-")), default=0)
				if not best:
					say("many-fixed: skipped (no many-canvas scenario ran to set its load)")
					continue
				rate = best / 2
			if len(nodes) < (3 if "3nodes" in name and "gateway" not in name else 1):
				say("%s: skipped (needs 3 nodes, have %d)" % (name, len(nodes)))
				continue
			accounts.login()
			ws = accounts.workspace("bench %s %s" % (name, tag))
			canvases = accounts.canvases(ws, n_canvases)
			if args.wait_quiet > 0:
				wait_for_quiet(groups, args.wait_quiet)
			r = run_commit_bench(binary, work, name, nodes, canvases, wpc, args, groups, db,
					     topology.node_urls, route, rate)
			r["scenario"] = name
			r["nodes_label"] = ("3 via nginx" if "gateway" in name or
					    (name == "many-fixed" and topology.gateway_url) else str(len(nodes)))
			ceiling = report["ceilings"].get(kind)
			r["ratio_to_ceiling"] = round(r["ops_per_sec"] / ceiling, 2) if ceiling else None
			total = r["total"]
			r["verification"] = checked(db, report, "c.workspace_id = '%s'" % ws,
						    total["acked_201"], total["unknown"], name)
			report["scenarios"].append(r)
			lat = r["latency_ms"]
			v = r["verification"]
			say("  %s ops/s, p50 %s ms, p99 %s ms, errors %d; %s"
			    % (fmt_int(r["ops_per_sec"]), fmt_ms(lat["p50"]), fmt_ms(lat["p99"]), r["errors"],
			       "%d canvases verified (%s ops)" % (v["canvases"], fmt_int(v["committed"]))
			       if v["ok"] else "VERIFICATION FAILED"))
		client.close()

		write_reports(report, out_dir)
		print()
		for failure in report["verification_failures"]:
			print("VERIFICATION FAILED: " + failure)
		print("\n".join(tables(report)))
		print()
		print_targets(targets(report), 62, 12)
		print()
		print("report: %s/commit.md and commit.json" % out_dir)
		for png in report["plots"]:
			print("plot:   %s/%s" % (out_dir, png))
		if report["verification_failures"]:
			say("FAILED: %d run(s) left Postgres in a state that breaks the invariants; "
			    "see above and the report" % len(report["verification_failures"]))
			return 1
		return 0

	return run_guarded(args, "flowstate-bench-", run)
