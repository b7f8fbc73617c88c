"""A small HTTP/JSON client of FlowState's REST API, for tests, benchmarks and tools.

    request(method, url, ...)   one request on a fresh connection -> Response (never retried)
    probe(url)                  a health probe: (status, body) or (None, error text), no raise
    metrics(url)                a node's /metrics as {series: value}
    Client(base)                the API under base + /api/v1, on one connection (keep-alive
                                when asked), with the resource calls the tools need
    observe(fn)                 fn(method, url, response) after every exchange (the integration
                                tests check each response against the API reference)
"""

import http.client
import json
import re
import urllib.parse

API_PREFIX = "/api/v1"


class Response:
	"""headers: lower-cased name -> value (the last one wins); header_list: every header as
	sent, in order, for tests about duplicates."""

	def __init__(self, status, headers, body, header_list=None):
		self.status = status
		self.headers = headers
		self.body = body
		self.header_list = header_list or list(headers.items())

	@property
	def text(self):
		return self.body.decode("utf-8", "replace")

	def json(self):
		return json.loads(self.body) if self.body else None

	def json_or_none(self):
		"""The parsed body, or None when it is empty or not JSON."""
		try:
			return self.json()
		except ValueError:
			return None

	def __repr__(self):
		return "<Response %d %r>" % (self.status, self.body[:200])


class ApiError(Exception):
	"""An answer with an unexpected status (Client.call)."""

	def __init__(self, method, path, response):
		super().__init__("%s %s: %d %s" % (method, path, response.status, response.body[:300]))
		self.response = response


def encode_body(body, headers):
	"""bytes for the wire: bytes and str as they are, anything else as JSON (with its
	Content-Type unless the caller set one)."""
	if body is not None and not isinstance(body, (bytes, str)):
		body = json.dumps(body)
		headers.setdefault("Content-Type", "application/json")
	if isinstance(body, str):
		body = body.encode()
	return body


def split_url(url):
	"""(host, port, path with query) of an http:// URL."""
	u = urllib.parse.urlsplit(url)
	if u.scheme != "http" or not u.hostname or not u.port:
		raise ValueError("unsupported url %s (http://HOST:PORT/... only)" % url)
	path = u.path or "/"
	if u.query:
		path += "?" + u.query
	return u.hostname, u.port, path


_observers = []


def observe(fn):
	"""Calls fn(method, url, response) after every request made here, whoever makes it; what fn
	raises goes to the caller. Returns a function that stops it. Tools register none."""
	_observers.append(fn)
	return lambda: _observers.remove(fn)


def exchange(conn, method, path, body, headers):
	conn.request(method, path, body=body, headers=headers)
	resp = conn.getresponse()
	header_list = resp.getheaders()
	r = Response(resp.status, {k.lower(): v for k, v in header_list}, resp.read(), header_list)
	for fn in list(_observers):
		fn(method, "http://%s:%d%s" % (conn.host, conn.port, path), r)
	return r


def request(method, url, body=None, headers=None, timeout=10.0):
	"""One HTTP request on a fresh connection. body: bytes, str, or a JSON-able object."""
	host, port, path = split_url(url)
	headers = dict(headers or {})
	body = encode_body(body, headers)
	conn = http.client.HTTPConnection(host, port, timeout=timeout)
	try:
		return exchange(conn, method, path, body, headers)
	finally:
		conn.close()


def probe(url, timeout=2.0):
	"""(status, body bytes) of a GET, or (None, error text). Never raises for network errors."""
	try:
		r = request("GET", url, timeout=timeout)
	except (OSError, http.client.HTTPException) as e:
		return None, str(e)
	return r.status, r.body


def metrics(url, timeout=5.0):
	"""{series: value} from a node's Prometheus text (series with its labels, as printed);
	{} if it does not answer."""
	status, body = probe(url + "/metrics", timeout=timeout)
	if status != 200:
		return {}
	out = {}
	for line in body.decode("utf-8", "replace").splitlines():
		if not line or line.startswith("#"):
			continue
		series, _, value = line.rpartition(" ")
		try:
			out[series] = float(value)
		except ValueError:
			pass
	return out


def metric_total(samples, name):
	"""Sum of the samples of one metric over all its label sets (None when absent)."""
	values = [v for series, v in samples.items() if series.split("{")[0] == name]
	return sum(values) if values else None


class Client:
	"""The REST API of one base URL (a node or the gateway).

	keep_alive=False opens a fresh connection per request (what tests want: no state carried
	between requests). keep_alive=True keeps one connection; with reconnect=True a request that
	fails on a connection the server closed while it was idle is sent once more on a new one
	(for load tools: a test must see such a failure). token is the default bearer token."""

	def __init__(self, base, token=None, timeout=30.0, keep_alive=False, reconnect=False):
		self.base = base.rstrip("/")
		self.host, self.port, _ = split_url(self.base + "/")
		self.token = token
		self.timeout = timeout
		self.keep_alive = keep_alive
		self.reconnect = reconnect
		self.conn = None

	def connect(self):
		"""Opens the keep-alive connection now (e.g. before a barrier), not on first use."""
		self.connection().connect()

	def connection(self):
		if self.conn is None:
			self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
		return self.conn

	def close(self):
		if self.conn is not None:
			self.conn.close()
			self.conn = None

	def request(self, method, path, body=None, token=None, headers=None):
		"""A request to base + path (path includes /api/v1 where it applies) -> Response."""
		headers = dict(headers or {})
		token = token or self.token
		if token:
			headers["Authorization"] = "Bearer " + token
		data = encode_body(body, headers)
		if not self.keep_alive:
			conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
			try:
				return exchange(conn, method, path, data, headers)
			finally:
				conn.close()
		for attempt in range(2 if self.reconnect else 1):
			try:
				return exchange(self.connection(), method, path, data, headers)
			except (OSError, http.client.HTTPException):
				self.close()
				if attempt or not self.reconnect:
					raise
		raise AssertionError("unreachable")

	def call(self, method, path, body=None, token=None, expect=(200, 201)):
		"""API_PREFIX + path; returns the parsed JSON, raises ApiError on another status."""
		r = self.request(method, API_PREFIX + path, body, token)
		if r.status not in expect:
			raise ApiError(method, API_PREFIX + path, r)
		return r.json()

	# -- resources ----------------------------------------------------------------------------

	def register(self, email, password, display_name=None):
		body = {"email": email, "password": password}
		if display_name is not None:
			body["display_name"] = display_name
		return self.call("POST", "/auth/register", body, expect=(201,))

	def login(self, email, password):
		"""The token pair; its access_token is what the other calls send."""
		return self.call("POST", "/auth/login", {"email": email, "password": password},
				 expect=(200,))

	def create_workspace(self, name, token=None):
		return self.call("POST", "/workspaces", {"name": name}, token, expect=(201,))

	def add_member(self, workspace_id, email, role, token=None):
		return self.call("POST", "/workspaces/%s/members" % workspace_id,
				 {"email": email, "role": role}, token, expect=(201,))

	def create_canvas(self, workspace_id, name, token=None):
		return self.call("POST", "/workspaces/%s/canvases" % workspace_id, {"name": name}, token,
				 expect=(201,))

	def canvas(self, canvas_id, token=None):
		return self.call("GET", "/canvases/%s" % canvas_id, token=token, expect=(200,))

	def commit(self, canvas_id, op_type, payload, client_op_id, token=None):
		"""POST one op; the committed operation (201)."""
		return self.call("POST", "/canvases/%s/operations" % canvas_id,
				 {"type": op_type, "payload": payload, "client_op_id": client_op_id},
				 token, expect=(201,))

	def operations(self, canvas_id, since=0, page=1000, token=None):
		"""Every operation after `since`, paging through GET /operations."""
		ops = []
		while True:
			batch = self.call("GET", "/canvases/%s/operations?since=%d&limit=%d"
					  % (canvas_id, since, page), token=token, expect=(200,))
			if not batch:
				return ops
			if len(batch) > page:
				raise AssertionError("a page of %d operations, limit %d" % (len(batch), page))
			ops.extend(batch)
			since = batch[-1]["version"]

	def state(self, canvas_id, at=None, token=None):
		path = "/canvases/%s/state" % canvas_id + ("" if at is None else "?at=%d" % at)
		return self.call("GET", path, token=token, expect=(200,))


def loopback_only(url):
	"""url, if it is http://127.0.0.1:PORT; else ValueError (tools never load anything else)."""
	if not re.match(r"http://127\.0\.0\.1:\d+/?$", url):
		raise ValueError("%s: only http://127.0.0.1:PORT URLs are allowed" % url)
	return url
