"""Formatting shared by the benchmark reports (bench/commit.py, bench/ws.py): numbers, run
labels, the CPU table, the targets table, and the Mode and Machine paragraphs.

A run is a dict as the drivers record it: "scenario" or "name", and optionally "processes"
({process: {cpu_cores, rss_max_mb, ...}}) and "machine_cpu" (measure.Sampler.machine()).
"""

# A run during which processes outside the benchmark used more than this many cores is marked.
DISTURBED_CORES = 0.25


def fmt_int(v):
	return "{:,}".format(int(round(v))) if v is not None else "-"


def fmt_ms(v):
	if v is None:
		return "-"
	return "%.1f" % v if v >= 10 else "%.2f" % v


def label_of(run):
	"""A run's name, marked when processes outside the benchmark took a share of the CPU."""
	name = run.get("scenario") or run["name"]
	other = (run.get("machine_cpu") or {}).get("other_processes_cores") or 0
	return name + (" (!)" if other > DISTURBED_CORES else "")


def disturbed_note(runs):
	"""The footnote explaining (!) when any run carries it, else None."""
	if any("(!)" in label_of(r) for r in runs):
		return ("(!) = processes outside the benchmark used more than %.2f cores during "
			"that run: its figures are disturbed (see the CPU table)." % DISTURBED_CORES)
	return None


def cpu_table(runs):
	"""Markdown: per run, cores busy / max RSS MB of every process, and the machine's share of
	other processes, steal and pressure stalls."""
	names = []
	for s in runs:
		for n in s.get("processes", {}):
			if n not in names:
				names.append(n)
	lines = ["| run | " + " | ".join(names) + " | all others | steal | cpu stall | io stall |",
		 "| --- |" + " ---: |" * (len(names) + 4)]
	for s in runs:
		label = ("" if s.get("scenario") else "pgbench ") + label_of(s)
		cells = []
		for n in names:
			p = s.get("processes", {}).get(n)
			if not p or p.get("cpu_cores") is None:
				cells.append("-")
			else:
				cells.append("%.2f / %s" % (p["cpu_cores"], fmt_int(p["rss_max_mb"])))
		m = s.get("machine_cpu", {})
		cells.append("%.2f" % m["other_processes_cores"] if m else "-")
		cells.append("%.2f" % m["steal_cores"] if m else "-")
		for key in ("cpu_pressure", "io_pressure"):
			cells.append("%.0f%%" % (100 * m[key]) if m.get(key) is not None else "-")
		lines.append("| %s | %s |" % (label, " | ".join(cells)))
	return lines


def targets_table(targets):
	"""Markdown of [(target, measured, met)]."""
	lines = ["| target | measured | |", "| --- | ---: | --- |"]
	for name, value, ok in targets:
		lines.append("| %s | %s | %s |" % (name, value, "met" if ok else "**missed**"))
	return lines


def print_targets(targets, name_width, value_width):
	for name, value, ok in targets:
		print("%-*s %*s  %s" % (name_width, name, value_width, value, "met" if ok else "MISSED"))


def mode_paragraph(report):
	"""How the run was made: quick or full, durations, node log level and settings, commit."""
	return ("Mode: %s (%.0f s measured per scenario after %.0f s warmup). Nodes log at `%s`%s. "
		"Commit %s." % ("quick" if report["quick"] else "full", report["duration"],
				report["warmup"], report["node_log_level"],
				", with " + ", ".join("`%s`" % e for e in report["node_env"])
				if report["node_env"] else ", default settings otherwise",
				report["machine"]["git"]))


def machine_paragraph(m, extra=None):
	"""The machine facts of measure.machine_facts in one sentence (extra: one more clause)."""
	return ("Machine: %d cores (%s), %s MB RAM, kernel %s; %s; %s; %s; libevent %s; "
		"fdatasync %s/s (8 KiB, one writer)%s." % (
			m["nproc"], m["cpu_model"], fmt_int(m["memory_mb"]), m["kernel"], m["postgres"],
			m["redis"], m["nginx"], m["libevent"], fmt_int(m["fdatasync_per_sec"]),
			"; " + extra if extra else ""))
