"""The node's HTTP layer against hostile or unusual clients, over raw sockets straight to a node
port (nginx would normalize most of this away), plus a few checks through the gateway: limits
(413, 431, 411), malformed requests, keep-alive and pipelining, HEAD, clients that vanish
mid-request, and the JSON error contract.
"""

import json
import socket
import time
import urllib.parse
import uuid

import pytest

from flowstate.api import request
from helpers import api, assert_error

MAX_BODY = 1024 * 1024       # FLOWSTATE_MAX_BODY_BYTES default
MAX_HEAD = 16 * 1024         # FLOWSTATE_MAX_HEADER_BYTES default


# ---------------------------------------------------------------------------------------------
# A minimal HTTP/1.1 client over a raw socket: we control every byte sent and see every byte
# received (http.client would refuse or fix up most of what these tests send).

class RawResponse:
	def __init__(self, status, reason, headers, body):
		self.status = status
		self.reason = reason
		self.headers = headers
		self.body = body

	def json(self):
		return json.loads(self.body)

	def __repr__(self):
		return "<RawResponse %d %r %r>" % (self.status, self.headers, self.body[:200])


class RawConn:
	def __init__(self, url, timeout=10.0):
		u = urllib.parse.urlsplit(url)
		self.host = u.hostname
		self.port = u.port
		self.sock = socket.create_connection((self.host, self.port), timeout=timeout)
		self.buf = b""

	def close(self):
		self.sock.close()

	def __enter__(self):
		return self

	def __exit__(self, *exc):
		self.close()

	def send(self, data):
		self.sock.sendall(data)

	def _fill(self):
		chunk = self.sock.recv(65536)
		if not chunk:
			raise EOFError("connection closed by the server")
		self.buf += chunk

	def read_response(self, head_only=False):
		"""Reads exactly one response; a body is read by its Content-Length (none for
		head_only, i.e. a response to HEAD)."""
		while b"\r\n\r\n" not in self.buf:
			self._fill()
		head, self.buf = self.buf.split(b"\r\n\r\n", 1)
		lines = head.decode("latin-1").split("\r\n")
		version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
		assert version == "HTTP/1.1", lines[0]
		headers = {}
		for line in lines[1:]:
			name, _, value = line.partition(":")
			assert name.lower() not in headers, "duplicate header %r" % name
			headers[name.lower()] = value.strip()
		length = 0 if head_only else int(headers.get("content-length", "0"))
		while len(self.buf) < length:
			self._fill()
		body, self.buf = self.buf[:length], self.buf[length:]
		return RawResponse(int(status), reason, headers, body)

	def closed_by_peer(self, timeout=5.0):
		"""True when the server closes the connection (after whatever was buffered)."""
		self.sock.settimeout(timeout)
		try:
			while True:
				chunk = self.sock.recv(65536)
				if not chunk:
					return True
				self.buf += chunk
		except socket.timeout:
			return False
		except ConnectionResetError:
			return True

	def no_more_data(self, wait=0.3):
		"""True when nothing beyond what was read arrives within wait seconds."""
		self.sock.settimeout(wait)
		try:
			chunk = self.sock.recv(65536)
			self.buf += chunk
			return not chunk and not self.buf
		except socket.timeout:
			return not self.buf


def http_request_bytes(method, path, host="127.0.0.1", headers=None, body=b"", version="1.1"):
	headers = dict(headers or {})
	lines = ["%s %s HTTP/%s" % (method, path, version)]
	if host is not None:
		lines.append("Host: %s" % host)
	if body and not any(k.lower() in ("content-length", "transfer-encoding") for k in headers):
		headers["Content-Length"] = str(len(body))
	lines += ["%s: %s" % kv for kv in headers.items()]
	return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def exchange(url, data, head_only=False):
	"""Sends data on a fresh connection and reads one response."""
	with RawConn(url) as c:
		c.send(data)
		return c.read_response(head_only=head_only)


def assert_json_error(resp, status, code=None):
	assert resp.status == status, resp
	assert resp.headers.get("content-type", "").startswith("application/json"), resp
	body = resp.json()
	assert_error(resp.status, body, status, code)
	return body


def assert_node_healthy(url):
	resp = exchange(url, http_request_bytes("GET", "/healthz"))
	assert resp.status == 200, resp
	assert resp.json() == {"status": "ok"}


@pytest.fixture
def node(cluster):
	"""One node's base URL, checked healthy before and after the test (and, through the
	cluster fixture's teardown, sanitizer-clean)."""
	url = cluster.node_urls[0]
	proc = cluster.node_proc(0)
	assert_node_healthy(url)
	yield url
	assert proc is None or proc.alive(), "the node process died"
	assert_node_healthy(url)


# ---------------------------------------------------------------------------------------------
# Limits.

def test_declared_body_over_1_mib_is_413_with_json_before_the_body_is_sent(node):
	with RawConn(node) as c:
		c.send(http_request_bytes("POST", "/api/v1/auth/register",
					  headers={"Content-Length": str(MAX_BODY + 1),
						   "Content-Type": "application/json"}))
		resp = c.read_response()
		assert_json_error(resp, 413, "payload_too_large")
		assert c.closed_by_peer(), "connection should close after a 413"


def test_body_over_1_mib_sent_in_full_is_413_with_json(node):
	body = b'{"email": "' + b"a" * (MAX_BODY + 10) + b'"}'
	with RawConn(node) as c:
		try:
			c.send(http_request_bytes("POST", "/api/v1/auth/register", body=body,
						  headers={"Content-Type": "application/json"}))
		except (BrokenPipeError, ConnectionResetError):
			pass  # the node answered and closed while we were still sending
		resp = c.read_response()
	assert_json_error(resp, 413, "payload_too_large")


def test_body_of_exactly_1_mib_is_accepted_and_parsed(node):
	core = b'{"email": "x", "password": 1}'
	body = core[:-1] + b" " * (MAX_BODY - len(core)) + b"}"
	assert len(body) == MAX_BODY
	resp = exchange(node, http_request_bytes("POST", "/api/v1/auth/register", body=body))
	# Parsed as JSON and judged by its fields: the size itself is fine.
	assert_json_error(resp, 422)


def test_body_over_1_mib_through_the_gateway_is_413_json(cluster):
	body = b'{"name": "' + b"a" * (MAX_BODY + 10) + b'"}'
	r = request("POST", cluster.gateway_url + "/api/v1/auth/register", body=body,
		    headers={"Content-Type": "application/json"})
	assert r.status == 413, r
	data = r.json()
	assert data["code"] == "payload_too_large" and data["detail"], data


def test_header_block_over_the_limit_is_431(node):
	resp = exchange(node, http_request_bytes("GET", "/healthz",
						 headers={"X-Fill": "a" * (MAX_HEAD + 100)}))
	assert_json_error(resp, 431)


def test_many_headers_over_the_limit_are_431(node):
	headers = {"X-Fill-%d" % i: "b" * 100 for i in range(MAX_HEAD // 100 + 20)}
	resp = exchange(node, http_request_bytes("GET", "/healthz", headers=headers))
	assert_json_error(resp, 431)


def test_header_block_under_the_limit_is_served(node):
	resp = exchange(node, http_request_bytes("GET", "/healthz",
						 headers={"X-Fill": "a" * (MAX_HEAD // 2)}))
	assert resp.status == 200, resp


def test_oversized_head_sent_slowly_is_431_without_waiting_for_the_end(node):
	"""The limit applies to the bytes buffered so far, not only to a complete head."""
	with RawConn(node) as c:
		c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Fill: ")
		try:
			for _ in range(MAX_HEAD // 1024 + 4):
				c.send(b"z" * 1024)
				time.sleep(0.005)
		except (BrokenPipeError, ConnectionResetError):
			pass
		resp = c.read_response()
	assert_json_error(resp, 431)


def test_chunked_request_body_is_411(node):
	data = (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
		b"Content-Type: application/json\r\n\r\n"
		b"2\r\n{}\r\n0\r\n\r\n")
	with RawConn(node) as c:
		c.send(data)
		assert_json_error(c.read_response(), 411, "length_required")
		assert c.closed_by_peer()


def test_content_length_and_transfer_encoding_together_are_refused(node):
	"""A request smuggling vector: never served."""
	data = (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
		b"Transfer-Encoding: chunked\r\n\r\n{}")
	assert_json_error(exchange(node, data), 400, "bad_request")


@pytest.mark.parametrize("coding", ["gzip", "gzip, chunked", "identity"])
def test_transfer_coding_other_than_chunked_is_refused(node, coding):
	data = ("POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: %s\r\n\r\n"
		% coding).encode()
	resp = exchange(node, data)
	assert resp.status in (400, 411, 501), resp
	assert_json_error(resp, resp.status)


def test_request_target_over_the_head_limit_is_414_or_431(node):
	resp = exchange(node, http_request_bytes("GET", "/" + "t" * (MAX_HEAD + 10)))
	assert resp.status in (414, 431), resp
	assert_json_error(resp, resp.status)


@pytest.mark.parametrize("lengths", [("2", "3"), ("2", "2")], ids=["different", "same"])
def test_duplicate_content_length_is_400(node, lengths):
	data = (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\n"
		b"Content-Length: %s\r\n\r\n{} " % (lengths[0].encode(), lengths[1].encode()))
	resp = exchange(node, data)
	if lengths[0] != lengths[1]:
		assert_json_error(resp, 400, "bad_request")
	else:
		# RFC 9110 allows identical duplicates to be merged; refusing them is stricter.
		assert resp.status in (400, 401, 422), resp


@pytest.mark.parametrize("value", ["-1", "abc", "1e3", "+5", " 5 5", "99999999999999999999999"])
def test_invalid_content_length_is_400(node, value):
	data = ("POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\n\r\n"
		% value).encode()
	resp = exchange(node, data)
	assert resp.status in (400, 413), resp
	assert_json_error(resp, resp.status)


# ---------------------------------------------------------------------------------------------
# Malformed requests.

@pytest.mark.parametrize("data", [
	b"GARBAGE\r\n\r\n",
	b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 32 + b"\r\n\r\n",  # TLS hello
	b"GET\r\n\r\n",
	b"GET  /healthz  HTTP/1.1\r\nHost: x\r\n\r\n",
	b"GET /healthz HTTP/1.1 trailing\r\nHost: x\r\n\r\n",
	b"GET /healthz HTP/1.1\r\nHost: x\r\n\r\n",
	b"GET /heal\x00thz HTTP/1.1\r\nHost: x\r\n\r\n",
	b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n",
	b"GET /healthz HTTP/1.1\r\nHost: x\r\n folded: continuation\r\n\r\n",
	b"GET /healthz HTTP/1.1\r\nBad Header: x\r\nHost: x\r\n\r\n",
	b"GET /healthz HTTP/1.1\r\n\r\n",
], ids=["word", "tls_client_hello", "no_target", "double_spaces", "trailing_token",
	"bad_protocol_name", "nul_in_target", "header_without_colon", "obs_fold",
	"space_in_header_name", "http11_without_host"])
def test_malformed_request_is_400_json_and_the_connection_closes(node, data):
	with RawConn(node) as c:
		c.send(data)
		resp = c.read_response()
		assert_json_error(resp, 400, "bad_request")
		assert c.closed_by_peer()


def test_http2_preface_is_refused(node):
	with RawConn(node) as c:
		c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
		resp = c.read_response()
		assert resp.status in (400, 505), resp
		assert_json_error(resp, resp.status)
		assert c.closed_by_peer()


def test_http2_preface_followed_by_frames_is_refused(node):
	settings_frame = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
	with RawConn(node) as c:
		c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + settings_frame)
		resp = c.read_response()
		assert resp.status in (400, 505), resp


@pytest.mark.parametrize("version", ["2.0", "3.0", "0.9", "2.1"])
def test_unsupported_http_version_is_505_or_400(node, version):
	resp = exchange(node, http_request_bytes("GET", "/healthz", version=version))
	assert resp.status in (400, 505), resp
	assert_json_error(resp, resp.status)


def test_higher_http1_minor_version_is_served_as_http11(node):
	"""RFC 9110 2.5: a higher minor version of a supported major version is understood as the
	highest minor version the server supports."""
	with RawConn(node) as c:
		c.send(http_request_bytes("GET", "/healthz", version="1.2"))
		assert c.read_response().status == 200
		c.send(http_request_bytes("GET", "/healthz", version="1.1"))
		assert c.read_response().status == 200


def test_http09_request_line_is_refused(node):
	resp = exchange(node, b"GET /healthz\r\n\r\n")
	assert resp.status in (400, 505), resp


def test_http10_request_is_answered_and_closed(node):
	with RawConn(node) as c:
		c.send(b"GET /healthz HTTP/1.0\r\n\r\n")
		resp = c.read_response()
		assert resp.status == 200, resp
		assert c.closed_by_peer()


def test_connection_close_is_honoured(node):
	with RawConn(node) as c:
		c.send(http_request_bytes("GET", "/healthz", headers={"Connection": "close"}))
		resp = c.read_response()
		assert resp.status == 200, resp
		assert resp.headers.get("connection", "").lower() == "close"
		assert c.closed_by_peer()


def test_unknown_method_is_refused_as_json(node):
	resp = exchange(node, http_request_bytes("BREW", "/healthz"))
	assert resp.status in (400, 405, 501), resp
	assert_json_error(resp, resp.status)


# ---------------------------------------------------------------------------------------------
# Connection reuse.

def test_keep_alive_answers_two_requests_on_one_connection(node):
	with RawConn(node) as c:
		c.send(http_request_bytes("GET", "/healthz"))
		first = c.read_response()
		c.send(http_request_bytes("GET", "/api/v1/no-such-endpoint"))
		second = c.read_response()
		c.send(http_request_bytes("POST", "/api/v1/auth/register", body=b"{"))
		third = c.read_response()
	assert first.status == 200 and first.json() == {"status": "ok"}, first
	assert first.headers.get("connection", "keep-alive").lower() == "keep-alive", first
	assert_json_error(second, 404, "not_found")
	assert_json_error(third, 400, "malformed_json")


def test_pipelined_requests_in_one_send_are_answered_in_order(node):
	"""The slow request (scrypt + Postgres) comes first: its answer must still come first."""
	login = json.dumps({"email": "pipe-%s@example.com" % uuid.uuid4().hex,
			    "password": "wrong password"}).encode()
	data = (http_request_bytes("POST", "/api/v1/auth/login", body=login)
		+ http_request_bytes("GET", "/healthz")
		+ http_request_bytes("GET", "/api/v1/no-such-endpoint")
		+ http_request_bytes("HEAD", "/healthz")
		+ http_request_bytes("GET", "/readyz"))
	with RawConn(node) as c:
		c.send(data)
		responses = [c.read_response(), c.read_response(), c.read_response(),
			     c.read_response(head_only=True), c.read_response()]
		assert c.no_more_data(), "unexpected bytes after the last response: %r" % c.buf
	assert [r.status for r in responses] == [401, 200, 404, 200, 200], responses
	assert responses[0].json()["code"] == "invalid_credentials"
	ids = [int(r.headers["x-request-id"]) for r in responses]
	assert ids == sorted(ids) and len(set(ids)) == len(ids), ids


def test_pipelined_request_split_across_sends_at_odd_boundaries(node):
	data = (http_request_bytes("POST", "/api/v1/auth/register", body=b"[]")
		+ http_request_bytes("GET", "/healthz"))
	with RawConn(node) as c:
		for i in range(0, len(data), 7):
			c.send(data[i:i + 7])
			time.sleep(0.002)
		first = c.read_response()
		second = c.read_response()
	assert_json_error(first, 422, "invalid_body")
	assert second.status == 200, second


def test_many_sequential_requests_on_one_connection(node):
	with RawConn(node) as c:
		for i in range(50):
			path = "/healthz" if i % 2 == 0 else "/api/v1/healthz"
			c.send(http_request_bytes("GET", path))
			assert c.read_response().status == 200


# ---------------------------------------------------------------------------------------------
# HEAD.

def test_head_healthz_has_headers_but_no_body(node):
	with RawConn(node) as c:
		c.send(http_request_bytes("HEAD", "/healthz"))
		resp = c.read_response(head_only=True)
		assert resp.status == 200, resp
		assert resp.body == b""
		# A body would show up as stray bytes before the next response.
		assert c.no_more_data(), "HEAD response carried a body: %r" % c.buf
		c.send(http_request_bytes("GET", "/healthz"))
		after = c.read_response()
	assert after.status == 200 and after.json() == {"status": "ok"}, after
	# Content-Length of HEAD, when present, is that of the GET.
	if "content-length" in resp.headers:
		assert int(resp.headers["content-length"]) == len(after.body)


def test_head_of_an_error_has_no_body(node):
	with RawConn(node) as c:
		c.send(http_request_bytes("HEAD", "/api/v1/auth/me"))
		resp = c.read_response(head_only=True)
		assert resp.status == 401, resp
		assert c.no_more_data(), "HEAD response carried a body: %r" % c.buf


# ---------------------------------------------------------------------------------------------
# Clients that go away.

def test_client_disconnecting_mid_head_does_not_affect_the_node(node):
	for fragment in (b"G", b"GET /heal", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: b"):
		with RawConn(node) as c:
			c.send(fragment)
	assert_node_healthy(node)


def test_client_disconnecting_mid_body_does_not_affect_the_node(node):
	with RawConn(node) as c:
		c.send(http_request_bytes("POST", "/api/v1/auth/login",
					  headers={"Content-Length": "100"}) + b'{"email": ')
	with RawConn(node) as c:
		c.send(http_request_bytes("POST", "/api/v1/auth/register",
					  headers={"Content-Length": str(MAX_BODY)}) + b"x" * 65536)
	assert_node_healthy(node)


def test_client_disconnecting_while_its_request_is_handled_does_not_affect_the_node(node):
	"""A login waits on scrypt and Postgres; the client leaves meanwhile (ABANDONED state).
	Many at once, some with an abortive close (RST)."""
	body = json.dumps({"email": "gone-%s@example.com" % uuid.uuid4().hex,
			   "password": "whatever password"}).encode()
	conns = []
	for i in range(20):
		c = RawConn(node)
		c.send(http_request_bytes("POST", "/api/v1/auth/login", body=body))
		if i % 2:
			# SO_LINGER 0: close sends RST instead of FIN.
			c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
					  b"\x01\x00\x00\x00\x00\x00\x00\x00")
		conns.append(c)
	# Half leave at once, half once their request is surely being handled.
	for c in conns[:10]:
		c.close()
	time.sleep(0.05)
	for c in conns[10:]:
		c.close()
	time.sleep(1.0)  # let the handlers finish for connections that no longer exist
	assert_node_healthy(node)
	status, data = api("POST", "/api/v1/auth/login", json.loads(body), base=node)
	assert status == 401, data


def test_client_leaving_with_pipelined_requests_unread_does_not_affect_the_node(node):
	data = b"".join(http_request_bytes("GET", "/readyz") for _ in range(50))
	with RawConn(node) as c:
		c.send(data)
	assert_node_healthy(node)


def test_idle_connections_do_not_block_others(node):
	idle = [RawConn(node) for _ in range(20)]
	try:
		for c in idle[:10]:
			c.send(b"GET /healthz HTTP/1.1\r\n")  # an unfinished head
		assert_node_healthy(node)
	finally:
		for c in idle:
			c.close()


# ---------------------------------------------------------------------------------------------
# Routing errors and the error contract.

@pytest.mark.parametrize("path", ["/", "/api", "/api/v1", "/api/v1/nothing", "/api/v1/auth",
				  "/api/v1/auth/me/extra", "/healthz/", "/api/v2/auth/me",
				  "/api/v1/workspaces/%s/nothing" % uuid.uuid4()])
def test_unknown_path_is_404_json(node, path):
	assert_json_error(exchange(node, http_request_bytes("GET", path)), 404, "not_found")


@pytest.mark.parametrize("method,path", [
	("GET", "/api/v1/auth/login"),
	("DELETE", "/api/v1/auth/me"),
	("PUT", "/api/v1/workspaces"),
	("POST", "/healthz"),
	("PUT", "/api/v1/canvases/%s" % uuid.uuid4()),  # PATCH renames (issue 11)
	("DELETE", "/api/v1/workspaces/%s/members" % uuid.uuid4()),
])
def test_wrong_method_on_a_known_path_is_405_json(node, method, path):
	resp = exchange(node, http_request_bytes(method, path, body=b"{}" if method != "GET" else b""))
	assert_json_error(resp, 405, "method_not_allowed")


def test_query_string_does_not_change_routing(node):
	assert exchange(node, http_request_bytes("GET", "/healthz?x=1&y")).status == 200
	assert_json_error(exchange(node, http_request_bytes("GET", "/api/v1/auth/me?token=abc")),
			  401, "unauthorized")


# Requests that each end in an error, from the HTTP layer and from handlers.
ERROR_REQUESTS = [
	("404", http_request_bytes("GET", "/nope"), 404),
	("405", http_request_bytes("DELETE", "/healthz"), 405),
	("401", http_request_bytes("GET", "/api/v1/auth/me"), 401),
	("400_json", http_request_bytes("POST", "/api/v1/auth/login", body=b"{x"), 400),
	("422", http_request_bytes("POST", "/api/v1/auth/login", body=b"{}"), 422),
	("400_http", b"NONSENSE\r\n\r\n", 400),
	("411", http_request_bytes("POST", "/api/v1/auth/login",
				   headers={"Transfer-Encoding": "chunked"}) + b"0\r\n\r\n", 411),
	("413", http_request_bytes("POST", "/api/v1/auth/login",
				   headers={"Content-Length": str(MAX_BODY + 1)}), 413),
	("431", http_request_bytes("GET", "/healthz", headers={"X-Big": "q" * (MAX_HEAD + 1)}), 431),
]


@pytest.mark.parametrize("data,status", [e[1:] for e in ERROR_REQUESTS],
			 ids=[e[0] for e in ERROR_REQUESTS])
def test_every_error_body_is_json_with_detail_and_code(node, data, status):
	resp = exchange(node, data)
	assert_json_error(resp, status)
	assert int(resp.headers["content-length"]) == len(resp.body)


ROUTED_REQUESTS = [e for e in ERROR_REQUESTS if e[0] in ("404", "405", "401", "400_json", "422")]
CONNECTION_LEVEL_ERRORS = [e for e in ERROR_REQUESTS if e not in ROUTED_REQUESTS]


@pytest.mark.parametrize("data,status", [("200", http_request_bytes("GET", "/healthz"), 200)[1:]]
			 + [e[1:] for e in ROUTED_REQUESTS],
			 ids=["200"] + [e[0] for e in ROUTED_REQUESTS])
def test_every_response_carries_request_id_and_no_store(node, data, status):
	resp = exchange(node, data)
	assert resp.status == status, resp
	assert resp.headers.get("cache-control") == "no-store", resp.headers
	assert resp.headers.get("x-request-id"), resp.headers


@pytest.mark.parametrize("data,status", [e[1:] for e in CONNECTION_LEVEL_ERRORS],
			 ids=[e[0] for e in CONNECTION_LEVEL_ERRORS])
def test_connection_level_errors_carry_request_id_and_no_store(node, data, status):
	resp = exchange(node, data)
	assert resp.status == status, resp
	assert resp.headers.get("cache-control") == "no-store", resp.headers
	assert resp.headers.get("x-request-id"), resp.headers


def test_unknown_path_through_the_gateway_is_404_json(cluster):
	r = request("GET", cluster.gateway_url + "/api/v1/no-such-endpoint-" + uuid.uuid4().hex)
	assert r.status == 404, r
	data = r.json()
	assert data["code"] == "not_found" and data["detail"], data
