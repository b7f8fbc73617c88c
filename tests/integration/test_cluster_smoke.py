"""Smoke tests of the whole topology: every node answers, the gateway routes as designed
(sticky per canvas, spread otherwise, fail-over, no secrets in its log), and the basic REST flow
works end to end through the gateway."""

import re
import time
import uuid

from flowstate.api import request
from helpers import api

PROMETHEUS_SAMPLE = re.compile(
	r"^[a-zA-Z_:][a-zA-Z0-9_:]*"            # metric name
	r"(\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\]|\\.)*\",?)*\})?"  # labels
	r" [-+]?([0-9.]+([eE][-+]?[0-9]+)?|Inf|NaN)"  # value
	r"( -?[0-9]+)?$")                        # optional timestamp


def _access_log_lines(cluster, needle, expected, timeout=3.0):
	"""Access log lines containing needle; waits for at least `expected` of them (nginx logs a
	request just after answering it)."""
	deadline = time.monotonic() + timeout
	while True:
		text = cluster.gateway_access_log.read_text(errors="replace")
		lines = [line for line in text.splitlines() if needle in line]
		if len(lines) >= expected or time.monotonic() > deadline:
			return lines


def _upstream_of(line):
	m = re.search(r" upstream=(\S+)", line)
	return m.group(1) if m else None


def test_every_node_answers_healthz_directly(cluster):
	for url in cluster.node_urls:
		r = request("GET", url + "/healthz")
		assert r.status == 200, (url, r)


def test_every_node_is_ready_while_postgres_is_up(cluster):
	cluster.wait_ready(timeout=15)
	for url in cluster.node_urls:
		r = request("GET", url + "/readyz")
		assert r.status == 200, (url, r)


def test_gateway_answers_its_own_healthz(cluster):
	r = request("GET", cluster.gateway_url + "/healthz")
	assert r.status == 200
	assert r.text.strip() == "ok"


def test_gateway_reaches_node_health_and_readiness(cluster):
	assert request("GET", cluster.gateway_url + "/api/v1/healthz").status == 200
	assert request("GET", cluster.gateway_url + "/api/v1/readyz").status == 200


def test_metrics_are_prometheus_text_exposition(cluster):
	for url in cluster.node_urls:
		r = request("GET", url + "/metrics")
		assert r.status == 200, (url, r)
		assert r.headers.get("content-type", "").startswith("text/plain"), r.headers
		samples = 0
		for line in r.text.splitlines():
			if not line.strip():
				continue
			if line.startswith("#"):
				assert re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* ", line), line
				continue
			assert PROMETHEUS_SAMPLE.match(line), "not a Prometheus sample: %r" % line
			samples += 1
		assert samples > 0, "no samples in %s/metrics" % url


def test_gateway_serves_the_static_web_client(cluster):
	r = request("GET", cluster.gateway_url + "/")
	assert r.status == 200
	assert r.headers.get("content-type", "").startswith("text/html")
	assert "FlowState" in r.text


def test_gateway_responses_carry_exactly_one_request_id(cluster):
	for path in ("/healthz", "/api/v1/healthz", "/api/v1/auth/me",
		     "/api/v1/canvases/%s/state" % uuid.uuid4()):
		r = request("GET", cluster.gateway_url + path)
		ids = [v for k, v in r.header_list if k.lower() == "x-request-id"]
		assert len(ids) == 1 and ids[0], (path, r.header_list)


def test_requests_for_one_canvas_always_reach_the_same_node(cluster):
	canvases = [str(uuid.uuid4()) for _ in range(12)]
	for canvas in canvases:
		for _ in range(3):
			request("GET", "%s/api/v1/canvases/%s/state" % (cluster.gateway_url, canvas))
	nodes_used = set()
	for canvas in canvases:
		lines = _access_log_lines(cluster, "canvas=" + canvas, 3)
		upstreams = {_upstream_of(line) for line in lines}
		assert len(lines) == 3 and len(upstreams) == 1, (canvas, lines)
		nodes_used |= upstreams
	# 12 random canvases all hashing to one of 3 nodes has probability ~1e-5.
	assert len(nodes_used) > 1, nodes_used


def test_requests_outside_canvases_are_spread_over_nodes(cluster):
	marker = "/api/v1/nothing-" + uuid.uuid4().hex
	for _ in range(9):
		request("GET", cluster.gateway_url + marker)
	lines = _access_log_lines(cluster, marker, 9)
	assert len({_upstream_of(line) for line in lines}) > 1, lines


def test_access_log_never_records_the_query_string(cluster):
	secret = "tok-" + uuid.uuid4().hex
	canvas = str(uuid.uuid4())
	request("GET", "%s/api/v1/canvases/%s/ws?token=%s&since=0" % (cluster.gateway_url, canvas, secret),
		headers={"Upgrade": "websocket", "Connection": "Upgrade"})
	request("GET", "%s/api/v1/healthz?token=%s" % (cluster.gateway_url, secret))
	assert len(_access_log_lines(cluster, "canvas=" + canvas, 1)) == 1
	time.sleep(0.2)
	assert secret not in cluster.gateway_access_log.read_text(errors="replace")


def test_gateway_routes_around_a_killed_node(cluster):
	victim = 1
	cluster.kill_node(victim)
	try:
		for _ in range(6):
			assert request("GET", cluster.gateway_url + "/api/v1/healthz").status == 200
		# The canvases that hashed to the dead node fail over too, including POSTs: a refused
		# connection is retried on the next node because nothing was sent.
		for _ in range(6):
			r = request("POST", "%s/api/v1/canvases/%s/operations" % (cluster.gateway_url, uuid.uuid4()),
				    body={})
			assert r.status != 503 and r.status != 502, r
		# Upgrade requests that hit the dead node make nginx log an upstream error; its request
		# line would carry the token, so that location logs errors at "crit" only.
		secret = "tok-" + uuid.uuid4().hex
		for _ in range(12):
			request("GET", "%s/api/v1/canvases/%s/ws?token=%s" % (cluster.gateway_url, uuid.uuid4(), secret),
				headers={"Upgrade": "websocket", "Connection": "Upgrade"})
		assert secret not in cluster.gateway_error_log.read_text(errors="replace")
		assert secret not in cluster.gateway_access_log.read_text(errors="replace")
	finally:
		cluster.start_node(victim)
	assert request("GET", cluster.node_urls[victim] + "/healthz").status == 200


def test_gateway_answers_503_json_when_no_node_is_reachable(cluster):
	for i in range(cluster.nodes):
		cluster.kill_node(i)
	try:
		r = request("GET", cluster.gateway_url + "/api/v1/auth/me")
		assert r.status == 503, r
		assert r.json()["code"] == "unavailable", r
		assert r.headers.get("retry-after") == "1", r.headers
		assert r.headers.get("cache-control") == "no-store", r.headers
		assert request("GET", cluster.gateway_url + "/healthz").status == 200
	finally:
		for i in range(cluster.nodes):
			cluster.start_node(i)
		# nginx keeps a failed node out for fail_timeout (2 s) before it tries it again.
		deadline = time.monotonic() + 10
		while request("GET", cluster.gateway_url + "/api/v1/healthz").status != 200:
			assert time.monotonic() < deadline, "gateway did not recover after the nodes restarted"
			time.sleep(0.2)


def test_gateway_rejects_bodies_over_1_mib_with_413_json(cluster):
	r = request("POST", cluster.gateway_url + "/api/v1/auth/login", body=b"x" * (1024 * 1024 + 1),
		    headers={"Content-Type": "application/json"})
	assert r.status == 413, r
	assert r.json()["code"] == "payload_too_large", r


def test_register_login_and_create_workspace_and_canvas_through_gateway(cluster):
	email = "smoke-%s@example.com" % uuid.uuid4().hex[:12]
	password = "correct horse battery staple"

	status, body = api("POST", "/api/v1/auth/register",
			   {"email": email, "password": password, "display_name": "Smoke Test"})
	assert status == 201, body

	status, body = api("POST", "/api/v1/auth/register",
			   {"email": email, "password": password, "display_name": "Smoke Test"})
	assert status == 409, body

	status, body = api("POST", "/api/v1/auth/login", {"email": email, "password": password})
	assert status == 200, body
	assert body["token_type"].lower() == "bearer"
	assert body["access_token"] and body["refresh_token"]
	token = body["access_token"]

	status, body = api("POST", "/api/v1/workspaces", {"name": "Smoke workspace"}, token=token)
	assert status == 201, body
	workspace_id = body["id"]

	status, body = api("POST", "/api/v1/workspaces/%s/canvases" % workspace_id,
			   {"name": "Smoke canvas"}, token=token)
	assert status == 201, body
	canvas_id = body["id"]

	status, body = api("GET", "/api/v1/canvases/%s" % canvas_id, token=token)
	assert status == 200, body
	assert body["name"] == "Smoke canvas"

	status, body = api("GET", "/api/v1/canvases/%s" % canvas_id)
	assert status == 401, body


def test_node_adopts_a_sane_forwarded_request_id_and_replaces_anything_else(cluster):
	"""nginx forwards its $request_id; echoing it lets node and gateway logs name a request
	alike. An id that could break a log line is replaced by the node's own."""
	node = cluster.node_urls[0]
	r = request("GET", node + "/healthz", headers={"X-Request-Id": "0123abcdef4567"})
	assert r.headers.get("x-request-id") == "0123abcdef4567", r.headers
	r = request("GET", node + "/healthz", headers={"X-Request-Id": "bad id; level=error"})
	rid = r.headers.get("x-request-id")
	assert rid and re.fullmatch(r"\d+", rid), r.headers
	r = request("GET", cluster.gateway_url + "/api/v1/healthz")
	assert re.fullmatch(r"[0-9a-f]{32}", r.headers.get("x-request-id", "")), r.headers
