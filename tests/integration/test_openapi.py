"""The API reference (docs/api/openapi.json) against the server: every route the node has is
documented and nothing else is, the node serves the document byte for byte as built, and the
gateway serves the interactive documentation (/docs) over it."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import apidoc_check
from flowstate.api import request

REPO = Path(__file__).resolve().parents[2]
OPENAPI = REPO / "docs" / "api" / "openapi.json"
ROUTER = REPO / "node" / "api" / "router.c"

# Routes the gateway answers for a node (nginx rewrites them; the node itself has no such path).
GATEWAY_ONLY = {("get", "/api/v1/readyz")}

ROUTE = re.compile(r'\{\s*HTTP_(GET|POST|PUT|PATCH|DELETE),\s*"([^"]+)"')


def _router_routes():
	"""(method, pattern with {} for each parameter) of every entry in the node's route table."""
	routes = {(m.lower(), p) for m, p in ROUTE.findall(ROUTER.read_text())}
	assert len(routes) >= 30, "the route table of node/api/router.c was not recognised"
	return routes


def _documented_routes(doc):
	methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
	return {(method, re.sub(r"\{[^}]+\}", "{}", path))
		for path, item in doc["paths"].items() for method in item if method in methods}


def test_every_route_of_the_node_is_documented_and_nothing_else():
	doc = json.loads(OPENAPI.read_text())
	routes = _router_routes()
	documented = _documented_routes(doc) - GATEWAY_ONLY
	missing = sorted(routes - documented)
	extra = sorted(documented - routes)
	assert not missing, ("routes of node/api/router.c missing from docs/api/openapi.json "
			     "(document them): %s" % missing)
	assert not extra, ("paths in docs/api/openapi.json the node does not serve: %s" % extra)


def test_every_node_serves_the_document_it_was_built_from(cluster):
	want = OPENAPI.read_bytes()
	for url in cluster.node_urls:
		r = request("GET", url + "/api/v1/openapi.json")
		assert r.status == 200, (url, r)
		assert r.headers["content-type"] == "application/json", r.headers
		assert r.body == want, "%s serves another document than docs/api/openapi.json" % url


def test_the_gateway_serves_the_document(gateway):
	r = request("GET", gateway + "/api/v1/openapi.json")
	assert r.status == 200, r
	doc = r.json()
	assert doc["openapi"].startswith("3.1."), doc["openapi"]
	assert "/api/v1/canvases/{canvas_id}/operations" in doc["paths"]
	r = request("HEAD", gateway + "/api/v1/openapi.json")
	assert r.status == 200 and r.body == b"", r


def test_the_gateway_serves_interactive_docs_over_the_nodes_document(gateway):
	page = request("GET", gateway + "/docs")
	assert page.status == 200, page
	assert page.headers["content-type"].startswith("text/html"), page.headers
	assert "script-src 'self'" in page.headers["content-security-policy"], page.headers
	for asset in ("/docs/swagger-ui-bundle.js", "/docs/docs.js", "/docs/swagger-ui.css"):
		assert asset in page.text, asset
	script = request("GET", gateway + "/docs/docs.js")
	assert script.status == 200 and "'/api/v1/openapi.json'" in script.text, script
	for asset, media in (("/docs/swagger-ui-bundle.js", "application/javascript"),
			     ("/docs/swagger-ui.css", "text/css")):
		r = request("GET", gateway + asset)
		assert r.status == 200 and r.headers["content-type"].startswith(media), (asset, r)
		assert len(r.body) > 10000, (asset, len(r.body))
	# Only the files the page loads: not the npm package's other files, nor its manifest.
	for other in ("/docs/package.json", "/docs/node_modules/swagger-ui-dist/package.json",
		      "/docs/index.html"):
		assert request("GET", gateway + other).status == 404, other


def test_the_docs_page_shows_every_documented_operation_in_a_browser(gateway):
	"""Swagger UI, run by headless Chromium, renders one block per operation of the document
	the nodes serve (nothing fails to load under the page's Content-Security-Policy)."""
	chromium = shutil.which("chromium")
	if not chromium:
		pytest.skip("no chromium (Debian package chromium; tests/web/run installs it)")
	doc = json.loads(OPENAPI.read_text())
	operations = {"operations-%s-%s" % (op["tags"][0], op["operationId"])
		      for item in doc["paths"].values() for method, op in item.items()
		      if method in ("get", "put", "post", "delete", "patch")}
	p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
			    "--virtual-time-budget=15000", "--dump-dom", gateway + "/docs"],
			   capture_output=True, text=True, timeout=120)
	assert p.returncode == 0, p.stderr[-2000:]
	shown = set(re.findall(r'id="(operations-[^"]+-[^"]+)"', p.stdout)) - {
		"operations-tag-" + t["name"] for t in doc["tags"]}
	assert shown == operations, ("missing: %s; unexpected: %s"
				     % (sorted(operations - shown), sorted(shown - operations)))


# The checks every response of the suite goes through (apidoc_check, wired in conftest.py)
# must fail on what the documents do not describe: these feed them such answers directly.

_ID = "0b6f2a52-3c1e-4f4a-9d2e-6a1f0c9e8b71"
_HEADERS = {"content-type": "application/json", "x-request-id": "1"}
_USER = {"id": _ID, "email": "ada@example.com", "display_name": "Ada",
	 "created_at": "2026-11-21T10:00:00.123Z"}


@pytest.mark.parametrize("case, method, path, status, headers, body", [
	("an undocumented field", "GET", "/api/v1/auth/me", 200, _HEADERS, dict(_USER, extra=1)),
	("a missing field", "GET", "/api/v1/auth/me", 200, _HEADERS,
	 {k: v for k, v in _USER.items() if k != "email"}),
	("a wrong type", "GET", "/api/v1/auth/me", 200, _HEADERS, dict(_USER, id=7)),
	("a malformed timestamp", "GET", "/api/v1/auth/me", 200, _HEADERS,
	 dict(_USER, created_at="2026-11-21 10:00:00")),
	("an undocumented status", "GET", "/api/v1/auth/me", 418, _HEADERS,
	 {"detail": "x", "code": "teapot"}),
	("an error without its code", "GET", "/api/v1/auth/me", 401, _HEADERS, {"detail": "x"}),
	("another Content-Type", "GET", "/api/v1/auth/me", 200,
	 {"content-type": "text/html", "x-request-id": "1"}, _USER),
	("no X-Request-Id", "GET", "/api/v1/auth/me", 200, {"content-type": "application/json"},
	 _USER),
	("an undocumented API path", "GET", "/api/v1/nothing/here", 200, _HEADERS, {}),
	("an undocumented method", "PUT", "/api/v1/auth/me", 200, _HEADERS, _USER),
	("an op payload of no op type", "GET", "/api/v1/canvases/%s/operations" % _ID, 200,
	 _HEADERS, [{"id": _ID, "canvas_id": _ID, "version": 1, "type": "move_shape",
		     "payload": {"shape_id": "a", "x": 1.0}, "created_by": _ID,
		     "client_op_id": _ID, "created_at": "2026-11-21T10:00:00.123Z", "kind": "do",
		     "undo_of": None}]),
])
def test_the_response_check_refuses_what_the_document_does_not_describe(
		case, method, path, status, headers, body):
	v = apidoc_check.OpenApiValidator()
	with pytest.raises(apidoc_check.ResponseMismatch):
		v.validate(method, path, status, headers, json.dumps(body).encode())
	assert not v.seen, case


def test_the_response_check_accepts_what_the_document_describes():
	v = apidoc_check.OpenApiValidator()
	v.validate("GET", "/api/v1/auth/me", 200, _HEADERS, json.dumps(_USER).encode())
	v.validate("GET", "/api/v1/nothing/here", 404, _HEADERS,
		   b'{"detail": "no such endpoint", "code": "not_found"}')
	v.validate("GET", "/", 200, {"content-type": "text/html"}, b"<html>")  # the gateway's own
	assert v.seen == {("GET", "/api/v1/auth/me", 200), ("GET", "unknown path", 404)}


@pytest.mark.parametrize("message", [
	{"type": "surprise"},
	{"type": "ack", "client_op_id": _ID, "version": 3},
	{"type": "ack", "client_op_id": _ID, "version": 3, "duplicate": False, "extra": 1},
	{"type": "cursor", "user_id": _ID, "session_id": _ID, "x": 1.0, "y": "2"},
	{"type": "sync", "canvas_id": _ID, "current_version": 0, "mode": "state", "presence": [],
	 "you": {"user_id": _ID, "session_id": _ID, "display_name": "a", "color": "#e6194b",
		 "role": "editor"}},
])
def test_the_websocket_check_refuses_what_the_asyncapi_document_does_not_describe(message):
	v = apidoc_check.AsyncApiValidator()
	v.validate({"type": "ack", "client_op_id": _ID, "version": 3, "duplicate": False})
	with pytest.raises(apidoc_check.ResponseMismatch):
		v.validate(message)
