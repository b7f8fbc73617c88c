"""Real responses against the API reference: HTTP against docs/api/openapi.json, WebSocket
messages against docs/api/asyncapi.json.

conftest.py has every response that goes through flowstate.api (the tests' shared HTTP
transport: helpers.api(), request(), Client) checked here, and wsclient.WsClient every message
a node sends, so a response the documents do not describe fails the test that got it:

- an API path (/api/...) must be a documented path, or answer 404 with the error body; a
  documented path with an undocumented method may only answer 405. Other paths the document
  does not list are the gateway's own (the web client, /docs) and are not checked;
- the status must be documented for the operation, or be one of the statuses the HTTP layer
  and the gateway may give any request (the document's introduction lists them), answered with
  the error body;
- the headers the response documents as required must be there, the Content-Type must be one
  the response documents, and a JSON body must validate against its schema (JSON Schema
  2020-12, formats included).

- a WebSocket message must have a `type` the AsyncAPI document's send operations list, and
  validate against that message's payload schema.

Requests are not validated: tests send invalid ones on purpose.
"""

import json
import re
import threading
import urllib.parse
from pathlib import Path

import jsonschema

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.json"

# Answered by the HTTP layer or the gateway whatever the route (see the document's info): the
# error body, whatever the operation documents.
TRANSPORT_STATUSES = {400, 405, 411, 413, 431, 503}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


class ResponseMismatch(AssertionError):
	"""A response or message that docs/api/openapi.json or asyncapi.json does not describe."""


class OpenApiValidator:
	def __init__(self, path=OPENAPI):
		self.doc = json.loads(Path(path).read_text())
		self.resolver = jsonschema.RefResolver.from_schema(self.doc)
		self.format_checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
		self.paths = []
		for template, item in self.doc["paths"].items():
			pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
			# Literal segments first: /a/b wins over /a/{x}.
			self.paths.append((template.count("{"), re.compile(pattern), template, item))
		self.paths.sort(key=lambda p: p[0])
		self._lock = threading.Lock()
		self.seen = set()    # (METHOD, template, status) validated
		self.count = 0
		self._validators = {}

	def _validator(self, schema):
		key = id(schema)
		v = self._validators.get(key)
		if v is None:
			v = self._validators[key] = jsonschema.Draft202012Validator(
				schema, resolver=self.resolver, format_checker=self.format_checker)
		return v

	def operation(self, method, path):
		"""(template, path item, operation or None) for a request path, or (None, None, None)."""
		for _, pattern, template, item in self.paths:
			if pattern.match(path):
				op = item.get("get" if method == "head" else method)
				return template, item, op
		return None, None, None

	def _resolve(self, obj):
		while "$ref" in obj:
			obj = self.resolver.resolve(obj["$ref"])[1]
		return obj

	def _error_response(self):
		return {"content": {"application/json": {
			"schema": {"$ref": "#/components/schemas/Error"}}}}

	def validate(self, method, url, status, headers, body):
		"""Raises ResponseMismatch when the response is not what the document says.
		url: a full URL or a path; headers: lower-cased name -> value; body: bytes."""
		method = method.lower()
		path = urllib.parse.urlsplit(url).path or "/"
		where = "%s %s -> %d" % (method.upper(), path, status)
		template, item, op = self.operation(method, path)
		if template is None and not path.startswith("/api/"):
			return  # the gateway's own: static files of the web client, /docs
		if template is None:
			if status != 404:
				raise ResponseMismatch("%s: the path is not in docs/api/openapi.json "
						       "(document the endpoint)" % where)
			response, key = self._error_response(), "unknown path"
		elif op is None:
			if status != 405:
				raise ResponseMismatch("%s: %s has no %s operation in docs/api/openapi.json "
						       "(document it)" % (where, template, method.upper()))
			response, key = self._error_response(), template
		else:
			key = template
			responses = op["responses"]
			response = responses.get(str(status)) or responses.get("%dXX" % (status // 100))
			if response is None and status in TRANSPORT_STATUSES:
				response = self._error_response()
			if response is None:
				raise ResponseMismatch("%s: status %d is not documented for %s %s (it has %s)"
						       % (where, status, method.upper(), template,
							  ", ".join(sorted(responses))))
			response = self._resolve(response)
		self._check(where, method, status, response, headers, body)
		with self._lock:
			self.seen.add((method.upper(), key, status))
			self.count += 1

	def _check(self, where, method, status, response, headers, body):
		for name, header in (response.get("headers") or {}).items():
			header = self._resolve(header)
			if header.get("required") and name.lower() not in headers:
				raise ResponseMismatch("%s: required header %s is missing" % (where, name))
		content = response.get("content")
		if not content or status in (101, 204, 304):
			return
		if method == "head":
			return
		media = (headers.get("content-type") or "").split(";")[0].strip().lower()
		if media not in content:
			raise ResponseMismatch("%s: Content-Type %r, documented: %s"
					       % (where, headers.get("content-type"), ", ".join(content)))
		schema = content[media].get("schema")
		if schema is None or not (media == "application/json" or media.endswith("+json")):
			return
		try:
			instance = json.loads(body)
		except ValueError as e:
			raise ResponseMismatch("%s: the body is not JSON (%s): %r" % (where, e, body[:200]))
		errors = sorted(self._validator(schema).iter_errors(instance),
				key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
		if errors:
			lines = ["%s: the body does not match docs/api/openapi.json:" % where]
			for e in errors[:5]:
				at = "/".join(str(p) for p in e.absolute_path) or "(root)"
				lines.append("  at %s: %s" % (at, _short(e)))
			lines.append("  body: %s" % _clip(body))
			raise ResponseMismatch("\n".join(lines))


def _short(error):
	"""A validation error's message; for a oneOf/anyOf, also its closest alternative's."""
	message = error.message
	if error.context:
		best = jsonschema.exceptions.best_match(error.context)
		at = "/".join(str(p) for p in best.relative_path)
		message = "%s; closest: %s%s" % (message[:150], at + ": " if at else "", best.message)
	return message if len(message) < 400 else message[:400] + "..."


def _clip(body):
	text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
	return text if len(text) < 400 else text[:400] + "..."




ASYNCAPI = OPENAPI.parent / "asyncapi.json"


class AsyncApiValidator:
	"""The messages a node sends on a canvas WebSocket, against docs/api/asyncapi.json (the
	messages of its `send` operations, told apart by their `type`)."""

	def __init__(self, path=ASYNCAPI, openapi_path=OPENAPI):
		self.doc = json.loads(Path(path).read_text())
		base = Path(path).resolve().as_uri()
		store = {Path(openapi_path).resolve().as_uri(): json.loads(Path(openapi_path).read_text())}
		self.resolver = jsonschema.RefResolver(base, self.doc, store=store)
		self.by_type = {}
		for op in self.doc["operations"].values():
			if op["action"] != "send":
				continue
			for ref in op["messages"]:
				message = self._resolve(ref)
				payload = message["payload"]
				type_name = payload["properties"]["type"]["const"]
				self.by_type[type_name] = jsonschema.Draft202012Validator(
					payload, resolver=self.resolver,
					format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
		self._lock = threading.Lock()
		self.seen = set()
		self.count = 0

	def _resolve(self, obj):
		while "$ref" in obj:
			obj = self.resolver.resolve(obj["$ref"])[1]
		return obj

	def validate(self, message):
		"""Raises ResponseMismatch when a server message is not one asyncapi.json describes."""
		kind = message.get("type") if isinstance(message, dict) else None
		if kind not in self.by_type:
			raise ResponseMismatch("WebSocket message of type %r is not in docs/api/asyncapi.json "
					       "(document it): %s" % (kind, _clip(json.dumps(message))))
		errors = sorted(self.by_type[kind].iter_errors(message),
				key=lambda e: len(e.absolute_path))
		if errors:
			lines = ["WebSocket %s message does not match docs/api/asyncapi.json:" % kind]
			for e in errors[:5]:
				at = "/".join(str(p) for p in e.absolute_path) or "(root)"
				lines.append("  at %s: %s" % (at, _short(e)))
			lines.append("  message: %s" % _clip(json.dumps(message)))
			raise ResponseMismatch("\n".join(lines))
		with self._lock:
			self.seen.add(kind)
			self.count += 1


_validators = {}


def http_validator():
	"""The process's OpenAPI validator (the document is parsed once)."""
	if "http" not in _validators:
		_validators["http"] = OpenApiValidator()
	return _validators["http"]


def ws_validator():
	"""The process's AsyncAPI validator."""
	if "ws" not in _validators:
		_validators["ws"] = AsyncApiValidator()
	return _validators["ws"]


# Every mismatch found, in order: conftest fails the test during which one was added, also when
# the test itself swallowed the exception (or never looked at a WebSocket's messages).
mismatches = []


def check_http(method, url, response):
	"""flowstate.api observer: raises ResponseMismatch (and records it)."""
	try:
		http_validator().validate(method, url, response.status, response.headers,
					  response.body)
	except ResponseMismatch as e:
		mismatches.append(str(e))
		raise


def check_ws(message):
	"""The problem with a message a node sent, recorded, or None."""
	try:
		ws_validator().validate(message)
	except ResponseMismatch as e:
		mismatches.append(str(e))
		return str(e)
	return None


def coverage():
	"""Lines saying how much of the documents the validated traffic covered."""
	lines = []
	if "http" in _validators:
		v = _validators["http"]
		documented = set()
		for template, item in v.doc["paths"].items():
			for method, op in item.items():
				if method in METHODS:
					for status in op["responses"]:
						documented.add((method.upper(), template, status))
		seen = {(m, t, str(s)) for m, t, s in v.seen}
		hit = documented & seen
		ops = {(m, t) for m, t, _ in documented}
		ops_hit = {(m, t) for m, t, _ in hit}
		lines.append("OpenAPI: %d responses validated against %d of %d documented (operation, "
			     "status) answers; %d of %d operations exercised"
			     % (v.count, len(hit), len(documented), len(ops_hit), len(ops)))
		missing = sorted("%s %s" % op for op in ops - ops_hit)
		if missing:
			lines.append("  operations no test called: " + ", ".join(missing[:8]) +
				     (" and %d more" % (len(missing) - 8) if len(missing) > 8 else ""))
	if "ws" in _validators:
		w = _validators["ws"]
		lines.append("AsyncAPI: %d messages validated; message types seen: %d of %d%s"
			     % (w.count, len(w.seen), len(w.by_type),
				"" if w.seen >= set(w.by_type) else " (not seen: %s)"
				% ", ".join(sorted(set(w.by_type) - w.seen))))
	return lines
