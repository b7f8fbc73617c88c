"""Plots for benchmark reports: latency CDFs and throughput over time, drawn with gnuplot.

The benchmark drivers call it after a run:

    from flowstate import plot
    plots = plot.render(out_dir, "Commit benchmark 20261122-005658", scenarios, stem="commit")
    # -> [("Commit benchmark ...: latency CDF", "commit-latency-cdf.png"), ...]

Each scenario is a dict with "name" (or "scenario"), "latency_cdf_ms" ([[ms, fraction], ...],
as the load generators print it) and one per-second series: "ops_per_second_series" or
"deliveries_per_second_series" ([count in second 0 of the measured window, second 1, ...]).
A scenario without one of them is left out of that plot; a plot nobody has data for is not
drawn. The PNGs go into the report directory, next to the Markdown that embeds them.

It needs gnuplot (Debian package gnuplot-nox) and installs it when missing, as scripts/setup
would; if that is impossible render raises PlotError.

On its own (scripts/bench_plot.py), for a report directory and the JSON report in it (its
top-level "scenarios"):

    scripts/bench_plot.py var/bench/<timestamp> [commit.json] [--title T] [--stem S]
"""

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGE = "gnuplot-nox"
SERIES_KEYS = (("ops_per_second_series", "committed ops/s"),
	       ("deliveries_per_second_series", "deliveries/s"))
SIZE = "1000,600"
# ColorBrewer's Dark2: distinct, colour-blind tolerant, and no pale yellow on white.
COLORS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
	  "#666666")

_gnuplot = None  # (binary, terminal) once found or installed


class PlotError(Exception):
	"""No plot could be drawn: gnuplot is missing and cannot be installed, or it failed."""


def say(msg):
	print("bench: " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# gnuplot.

def _installed(package):
	res = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", package],
			     capture_output=True, text=True)
	return res.returncode == 0 and res.stdout.strip() == "installed"


def _apt_get(args):
	sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
	if sudo and not shutil.which("sudo"):
		raise PlotError("%s is not installed, and installing it needs root or sudo" % PACKAGE)
	# The lock timeout lets two benchmarks that both want gnuplot wait for each other.
	argv = sudo + ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y",
		       "-o", "DPkg::Lock::Timeout=300"] + args
	try:
		return subprocess.run(argv, capture_output=True, text=True, timeout=900,
				      stdin=subprocess.DEVNULL)
	except (OSError, subprocess.TimeoutExpired) as e:
		raise PlotError("apt-get %s: %s" % (" ".join(args), e))


def _install():
	"""Installs gnuplot-nox, running apt-get update only when the package lists are too old
	to know it (as scripts/setup does)."""
	if _installed(PACKAGE):
		return
	say("installing %s for the report's plots" % PACKAGE)
	install = ["install", "--no-install-recommends", PACKAGE]
	res = _apt_get(install)
	if res.returncode != 0:
		update = _apt_get(["update"])
		if update.returncode == 0:
			res = _apt_get(install)
	if res.returncode != 0:
		tail = "; ".join((res.stderr or res.stdout).strip().splitlines()[-3:])
		raise PlotError("could not install %s: %s" % (PACKAGE, tail))


def gnuplot():
	"""(path of gnuplot, PNG terminal to use), installing gnuplot first when needed."""
	global _gnuplot
	if _gnuplot is None:
		binary = shutil.which("gnuplot")
		if binary is None:
			_install()
			binary = shutil.which("gnuplot")
			if binary is None:
				raise PlotError("%s is installed but there is no gnuplot on PATH" % PACKAGE)
		# pngcairo draws antialiased lines; the plain gd png terminal is the fallback.
		probe = subprocess.run([binary, "-e", "set terminal pngcairo"], capture_output=True,
				       stdin=subprocess.DEVNULL)
		_gnuplot = (binary, "pngcairo" if probe.returncode == 0 else "png")
	return _gnuplot


# ---------------------------------------------------------------------------------------------
# Plots.

def _quote(text):
	"""A gnuplot single-quoted string: no escapes are interpreted, '' is a quote."""
	return "'" + str(text).replace("\n", " ").replace("'", "''") + "'"


def _slug(text):
	return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "bench"


def _datablock(name, rows):
	return ["$%s << EOD" % name] + ["%r %r" % (float(x), float(y)) for x, y in rows
					 if math.isfinite(float(x)) and math.isfinite(float(y))] + ["EOD"]


def _draw(path, title, settings, curves, style):
	"""Runs gnuplot on one plot: curves is [(legend, [(x, y), ...])]."""
	binary, terminal = gnuplot()
	lines = ["set terminal %s size %s noenhanced font 'sans,11'" % (terminal, SIZE),
		 "set output %s" % _quote(path),
		 "set title %s font ',13'" % _quote(title),
		 "set grid", "set key outside right top vertical Left reverse",
		 "set border 3", "set tics nomirror"]
	lines += ["set linetype %d linecolor rgb '%s'" % (i + 1, c) for i, c in enumerate(COLORS)]
	lines += ["set linetype cycle %d" % len(COLORS)] + settings
	plots = []
	for i, (legend, rows) in enumerate(curves):
		lines += _datablock("d%d" % i, rows)
		plots.append("$d%d using 1:2 %s lw 2 title %s" % (i, style, _quote(legend)))
	lines.append("plot " + ", \\\n\t".join(plots))
	with tempfile.NamedTemporaryFile("w", suffix=".gp", prefix="bench-plot-") as script:
		script.write("\n".join(lines) + "\n")
		script.flush()
		# A script file, not stdin: only then does gnuplot stop at an error with status 1.
		res = subprocess.run([binary, script.name], capture_output=True, text=True,
				     timeout=120, stdin=subprocess.DEVNULL)
	if res.returncode != 0 or not Path(path).is_file() or Path(path).stat().st_size == 0:
		raise PlotError("gnuplot failed on %s: %s" % (Path(path).name, res.stderr.strip()[-500:]))


def _name(scenario):
	return scenario.get("name") or scenario.get("scenario") or "?"


def _series_of(scenario):
	"""(values, y label) of the first per-second series the scenario has, or (None, None)."""
	for key, label in SERIES_KEYS:
		if scenario.get(key):
			return scenario[key], label
	return None, None


def render(report_dir, title_prefix, scenarios, stem=None, latency_label="latency (ms)"):
	"""Draws the latency-CDF plot (one curve per scenario) and the throughput-over-time plot
	(one line per scenario) into report_dir as <stem>-latency-cdf.png and
	<stem>-throughput.png (stem defaults to a slug of title_prefix). Returns
	[(title, png file name)] for the plots drawn; raises PlotError."""
	report_dir = Path(report_dir)
	stem = stem or _slug(title_prefix)
	if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", stem):
		raise PlotError("%r: the stem is a file name prefix, not a path" % stem)
	out = []

	cdfs = []
	for s in scenarios:
		# A log axis has no place for 0 ms.
		rows = [(ms, f) for ms, f in s.get("latency_cdf_ms") or [] if ms > 0]
		if rows:
			cdfs.append((_name(s), rows))
	if cdfs:
		title = "%s: latency CDF" % title_prefix
		png = "%s-latency-cdf.png" % stem
		_draw(report_dir / png, title,
		      ["set logscale x 10", "set format x '%g'", "set mxtics 10",
		       "set xlabel %s" % _quote(latency_label + ", log scale"),
		       "set ylabel 'fraction at or below'", "set yrange [0:1.02]", "set ytics 0.1",
		       "set grid mxtics"],
		      cdfs, "with lines")
		out.append((title, png))

	lines, labels = [], set()
	longest = 0
	for s in scenarios:
		values, label = _series_of(s)
		if values:
			# Second i of the window is drawn at its middle.
			lines.append((_name(s), [(i + 0.5, v) for i, v in enumerate(values)]))
			labels.add(label)
			longest = max(longest, len(values))
	if lines:
		ylabel = labels.pop() if len(labels) == 1 else "per second"
		title = "%s: throughput over time" % title_prefix
		png = "%s-throughput.png" % stem
		_draw(report_dir / png, title,
		      ["set xlabel 'seconds since the start of the measured window (warmup excluded)'",
		       "set ylabel %s" % _quote(ylabel), "set xrange [0:%d]" % longest,
		       "set yrange [0:*]", "set format y '%.0f'",
		       "set xtics %d" % max(1, longest // 20)],
		      lines, "with linespoints pt 7 ps 0.8")
		out.append((title, png))
	return out


# ---------------------------------------------------------------------------------------------

def main(argv=None):
	p = argparse.ArgumentParser(prog="scripts/bench_plot.py",
				    description="Draw the latency-CDF and throughput plots of a "
						"benchmark report with gnuplot.")
	p.add_argument("report_dir", help="the report directory, e.g. var/bench/<timestamp>")
	p.add_argument("report", nargs="?", help="its JSON report (default: the only *.json in it)")
	p.add_argument("--title", help="title prefix (default: '<report> benchmark <directory>')")
	p.add_argument("--stem", help="PNG file names start with this (default: the report's name)")
	args = p.parse_args(argv)

	report_dir = Path(args.report_dir)
	if args.report:
		path = Path(args.report)
		if not path.is_absolute() and not path.exists():
			path = report_dir / path
	else:
		found = sorted(report_dir.glob("*.json"))
		if len(found) != 1:
			p.error("%s holds %d JSON files; name the report" % (report_dir, len(found)))
		path = found[0]
	try:
		report = json.loads(path.read_text())
	except (OSError, ValueError) as e:
		p.error("%s: %s" % (path, e))
	scenarios = report.get("scenarios") if isinstance(report, dict) else None
	if not isinstance(scenarios, list):
		p.error("%s has no \"scenarios\" list" % path)
	stem = args.stem or path.stem
	title = args.title or "%s benchmark %s" % (stem.capitalize(), report_dir.resolve().name)
	try:
		plots = render(report_dir, title, scenarios, stem=stem)
	except PlotError as e:
		print("bench_plot: %s" % e, file=sys.stderr)
		return 1
	if not plots:
		print("bench_plot: no scenario in %s has a latency CDF or a per-second series" % path,
		      file=sys.stderr)
		return 1
	for title, png in plots:
		print("%s: %s" % (title, report_dir / png))
	return 0

