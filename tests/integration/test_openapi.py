"""The API reference (docs/api/openapi.json) against the server: every route the node has is
documented and nothing else is, and the node serves the document byte for byte as built."""

import json
import re
from pathlib import Path

from conftest import request

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
