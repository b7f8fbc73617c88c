"""The monitoring kit (infra/prometheus, infra/grafana) against real nodes: every metric the
Grafana dashboard and the alert rules use exists in a node's /metrics, with the labels they
select or group by, and every dashboard query is valid PromQL (promtool parses it).

scripts/test checks the alert rules themselves (promtool check rules, and their unit tests in
infra/prometheus/alerts_test.yml); this module ties them to what the node really exports."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from flowstate.api import request

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "infra" / "grafana" / "dashboards" / "flowstate.json"
ALERTS = REPO / "infra" / "prometheus" / "alerts.yml"

# Series Prometheus makes itself for every target, not the node.
PROMETHEUS_SERIES = {"up"}
# Labels Prometheus adds to every scraped series (the scrape job and the target).
TARGET_LABELS = {"job", "instance"}
# Grafana's own variables, replaced by what they stand for in a query Prometheus can parse.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h",
		     "$instance": ".*"}

METRIC = re.compile(r"\b(flowstate_[a-zA-Z0-9_]+|up)\b(?!\s*\()")
SELECTOR = re.compile(r"\b(flowstate_[a-zA-Z0-9_]+|up)\s*\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
HISTOGRAM_SUFFIX = re.compile(r"_(bucket|sum|count)$")


def _dashboard_queries():
	"""(panel title, expression) of every query of the dashboard, its variables included."""
	doc = json.loads(DASHBOARD.read_text())
	queries = []

	def walk(panels):
		for p in panels:
			for t in p.get("targets", []):
				queries.append((p["title"], t["expr"]))
			walk(p.get("panels", []))
	walk(doc["panels"])
	for v in doc.get("templating", {}).get("list", []):
		if v.get("type") == "query":
			q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
			m = re.fullmatch(r"label_values\((.*),\s*[a-zA-Z_]+\)", q)
			queries.append(("variable " + v["name"], m.group(1) if m else q))
	assert len(queries) >= 20, "the dashboard's queries were not found"
	return queries


def _alert_queries():
	"""(alert name, expression) of every rule in alerts.yml (a YAML subset: `- alert: NAME`
	followed by `expr: ...` or `expr: |` and an indented block)."""
	queries, name, lines = [], None, ALERTS.read_text().splitlines()
	i = 0
	while i < len(lines):
		line = lines[i]
		m = re.match(r"\s*- (?:alert|record): (\S+)", line)
		if m:
			name = m.group(1)
		m = re.match(r"(\s*)expr: (.*)$", line)
		if m:
			indent, rest = len(m.group(1)), m.group(2).strip()
			if rest in ("|", ">", "|-", ">-"):
				block = []
				i += 1
				while i < len(lines) and (not lines[i].strip() or
							  len(lines[i]) - len(lines[i].lstrip()) > indent):
					block.append(lines[i].strip())
					i += 1
				queries.append((name, " ".join(block)))
				continue
			queries.append((name, rest))
		i += 1
	assert len(queries) >= 7, "the alert rules were not found"
	return queries


def _families(text):
	"""Metric family name -> set of label names seen on its samples, from the exposition
	text (every family the node declares with # TYPE, with or without samples yet)."""
	families = {}
	for line in text.splitlines():
		if line.startswith("# TYPE "):
			families.setdefault(line.split()[2], set())
	for line in text.splitlines():
		if not line or line.startswith("#"):
			continue
		m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s", line)
		if not m:
			continue
		name = m.group(1)
		family = name if name in families else HISTOGRAM_SUFFIX.sub("", name)
		labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or ""))
		families.setdefault(family, set()).update(labels - {"le"})
	return families


def _family_of(name, families):
	if name in families:
		return name
	base = HISTOGRAM_SUFFIX.sub("", name)
	return base if base in families else None


@pytest.fixture(scope="module")
def node_metrics(cluster):
	"""The families of a node of the session cluster, after a little traffic so that the
	labelled series (requests by route and status) have samples."""
	for path in ("/api/v1/auth/me", "/api/v1/workspaces"):
		request("GET", cluster.node_urls[0] + path)
	r = request("GET", cluster.node_urls[0] + "/metrics")
	assert r.status == 200, r
	return _families(r.text)


@pytest.mark.parametrize("source", ["dashboard", "alert rules"])
def test_every_metric_used_exists_on_a_node_with_the_labels_used(node_metrics, source):
	queries = _dashboard_queries() if source == "dashboard" else _alert_queries()
	problems = []
	for where, expr in queries:
		for name in set(METRIC.findall(expr)) - PROMETHEUS_SERIES:
			if not _family_of(name, node_metrics):
				problems.append("%s: %s is not in a node's /metrics" % (where, name))
		for name, matchers in SELECTOR.findall(expr):
			family = _family_of(name, node_metrics)
			if name in PROMETHEUS_SERIES or not family:
				continue
			for label, _ in MATCHER.findall(matchers):
				if label not in node_metrics[family] | TARGET_LABELS:
					problems.append("%s: %s has no label %s (it has %s)" % (
						where, family, label, sorted(node_metrics[family]) or "none"))
		grouped = {l.strip() for g in GROUPING.findall(expr) for l in g.split(",") if l.strip()}
		names = {_family_of(n, node_metrics) for n in METRIC.findall(expr)} - {None}
		known = set(TARGET_LABELS)
		for family in names:
			known |= node_metrics[family]
		for label in grouped - known - {"le"}:
			problems.append("%s: groups by %s, which none of its metrics has" % (where, label))
	assert not problems, "\n".join(problems)


def test_every_dashboard_query_is_valid_promql(tmp_path):
	"""promtool parses each query (as a recording rule), with Grafana's variables replaced."""
	promtool = shutil.which("promtool")
	assert promtool, "promtool is missing (Debian package prometheus, scripts/setup)"
	rules = ["groups:", "  - name: dashboard", "    rules:"]
	for i, (where, expr) in enumerate(_dashboard_queries()):
		for var, value in GRAFANA_VARIABLES.items():
			expr = expr.replace(var, value)
		assert "$" not in expr, "%s: a Grafana variable this test does not know: %s" % (
			where, expr)
		rules += ["      - record: dashboard:query_%d" % i,
			  "        expr: %s" % json.dumps(expr)]
	path = tmp_path / "dashboard_rules.yml"
	path.write_text("\n".join(rules) + "\n")
	p = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
	assert p.returncode == 0, p.stdout + p.stderr
