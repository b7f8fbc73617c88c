"""Accounts and resources for every integration suite: users, workspaces, members, canvases,
ops and reads, over the REST API of the session cluster's gateway (or of the base URL given).

Each helper asserts the status a correct server answers and returns what the API answered, so
a test reads as its scenario; a test about the endpoint itself calls api() and checks the
status on its own. The transport is flowstate.api (scripts/flowstate/api.py).
"""

import json
import re
import uuid

from flowstate.api import Client, request

PASSWORD = "correct horse battery"

_session = {"base": None}


def use_base(url):
	"""Sets (or, with None, clears) the base URL of api() and of every helper without base=:
	the session cluster's gateway, set by the cluster fixture."""
	_session["base"] = url


def base_or_default(base):
	base = base or _session["base"]
	if base is None:
		raise RuntimeError("no base URL given and no session cluster started")
	return base


def api(method, path, body=None, token=None, base=None, headers=None, timeout=10.0):
	"""One request to the REST API on a fresh connection; returns (status, parsed JSON or
	None). path includes /api/v1; body: bytes, str, or a JSON-able object."""
	headers = dict(headers or {})
	if token:
		headers["Authorization"] = "Bearer " + token
	r = request(method, base_or_default(base) + path, body=body, headers=headers, timeout=timeout)
	return r.status, r.json_or_none()


def get(url, token=None, timeout=10.0):
	"""GET of a full URL with a bearer token -> flowstate.api.Response."""
	headers = {"Authorization": "Bearer " + token} if token else None
	return request("GET", url, headers=headers, timeout=timeout)


def assert_error(status, body, expected_status, code=None, field=None):
	"""The error contract of docs/protocol.md: a JSON object with string detail and code.
	code: one code or a tuple of acceptable ones; field: must be named in the detail."""
	assert status == expected_status, (status, body)
	assert isinstance(body, dict), body
	assert isinstance(body.get("detail"), str) and body["detail"], body
	assert isinstance(body.get("code"), str) and body["code"], body
	if code is not None:
		codes = code if isinstance(code, tuple) else (code,)
		assert body["code"] in codes, body
	if field is not None:
		assert field in body["detail"], body


# ---------------------------------------------------------------------------------------------
# Accounts.

class User:
	def __init__(self, email, id, token, display_name):
		self.email = email
		self.id = id
		self.token = token
		self.display_name = display_name

	def call(self, method, path, body=None, base=None):
		"""api() with this user's token, path under /api/v1: (status, JSON)."""
		return api(method, "/api/v1" + path, body, token=self.token, base=base)

	def __repr__(self):
		return "<User %s>" % self.email


def unique_email(tag="it"):
	return "%s-%s@example.com" % (tag, uuid.uuid4().hex[:16])


def new_user(tag="it", base=None):
	"""Registers and logs in a fresh user (email and display name made from tag)."""
	email = unique_email(tag)
	display_name = "%s %s" % (tag.capitalize(), uuid.uuid4().hex[:4])
	status, body = api("POST", "/api/v1/auth/register",
			   {"email": email, "password": PASSWORD, "display_name": display_name}, base=base)
	assert status == 201, (status, body)
	user_id = body["id"]
	status, body = api("POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD},
			   base=base)
	assert status == 200, (status, body)
	return User(email, user_id, body["access_token"], display_name)


# ---------------------------------------------------------------------------------------------
# Workspaces, members, canvases.

def create_workspace(owner, name=None, base=None):
	"""The workspace as the API answered (201)."""
	status, body = api("POST", "/api/v1/workspaces", {"name": name or "ws " + uuid.uuid4().hex[:8]},
			   token=owner.token, base=base)
	assert status == 201, (status, body)
	return body


def add_member(owner, workspace_id, user, role, base=None):
	"""The membership as the API answered (201)."""
	status, body = api("POST", "/api/v1/workspaces/%s/members" % workspace_id,
			   {"email": user.email, "role": role}, token=owner.token, base=base)
	assert status == 201, (status, body)
	return body


def create_canvas(user, workspace_id, name=None, base=None):
	"""The canvas as the API answered (201): a new canvas is at version 0."""
	status, body = api("POST", "/api/v1/workspaces/%s/canvases" % workspace_id,
			   {"name": name or "canvas " + uuid.uuid4().hex[:8]}, token=user.token, base=base)
	assert status == 201, (status, body)
	assert body["version"] == 0, body
	return body


class Team:
	"""An owner, the members of its workspace and outsiders, as attributes (make_team)."""


def make_team(members, base=None, name=None, into=None):
	"""A fresh owner and one fresh user per entry of members ({attribute: role}; role None: an
	outsider, not added), the owner's workspace with the others added in their roles. Returns a
	Team (or fills `into`, e.g. a subclass's self) with .owner, one attribute per member,
	.workspace (as the API answered) and .workspace_id."""
	t = Team() if into is None else into
	t.owner = new_user("owner", base)
	for attribute, role in members.items():
		setattr(t, attribute, new_user(attribute, base))
	t.workspace = create_workspace(t.owner, name, base)
	t.workspace_id = t.workspace["id"]
	for attribute, role in members.items():
		if role is not None:
			add_member(t.owner, t.workspace_id, getattr(t, attribute), role, base)
	return t


# ---------------------------------------------------------------------------------------------
# Ops and reads.

def rect(shape_id, x=0, y=0, **fields):
	"""A create_shape payload: a 10 x 10 rect at (x, y), plus any other fields."""
	return dict({"shape_id": shape_id, "kind": "rect", "x": x, "y": y, "w": 10, "h": 10}, **fields)


def post_op(canvas_id, user, op_type, payload, client_op_id=None, base=None, timeout=10.0):
	"""POST one op; (status, body) for the test to check."""
	return api("POST", "/api/v1/canvases/%s/operations" % canvas_id,
		   {"type": op_type, "payload": payload, "client_op_id": client_op_id or str(uuid.uuid4())},
		   token=user.token, base=base, timeout=timeout)


def commit(canvas_id, user, op_type, payload, base=None):
	"""Commits one op (201); returns the operation."""
	status, op = post_op(canvas_id, user, op_type, payload, base=base)
	assert status == 201, (status, op)
	return op


class RestWriter:
	"""Commits ops over one keep-alive HTTP connection to one node."""

	def __init__(self, base, token, timeout=60.0):
		self.client = Client(base, token, timeout, keep_alive=True)

	def commit(self, canvas_id, op_type, payload, client_op_id=None):
		r = self.client.request("POST", "/api/v1/canvases/%s/operations" % canvas_id,
					{"type": op_type, "payload": payload,
					 "client_op_id": client_op_id or str(uuid.uuid4())})
		assert r.status == 201, (r.status, r.json_or_none())
		return r.json()

	def close(self):
		self.client.close()


def canvas_version(canvas_id, user, base=None):
	status, body = api("GET", "/api/v1/canvases/%s" % canvas_id, token=user.token, base=base)
	assert status == 200, (status, body)
	return body["version"]


def state_path(canvas_id, at=None):
	return "/api/v1/canvases/%s/state" % canvas_id + ("" if at is None else "?at=%d" % at)


def get_state(canvas_id, user, at=None, base=None):
	"""GET /state (200): {canvas_id, version, shapes}."""
	status, body = api("GET", state_path(canvas_id, at), token=user.token, base=base)
	assert status == 200, (status, body)
	return body


def get_state_raw(canvas_id, user, at=None, base=None):
	"""(parsed body, the shapes exactly as sent) of GET /state, whose layout must be canonical:
	{"canvas_id":...,"version":...,"shapes":...} with nothing else."""
	resp = get(base_or_default(base) + state_path(canvas_id, at), user.token)
	assert resp.status == 200, resp
	text = resp.text
	m = re.match(r'^\{"canvas_id":"[0-9a-f-]{36}","version":-?\d+,"shapes":(.*)\}$', text, re.S)
	assert m, "state body is not in canonical layout: %r" % text[:200]
	return json.loads(text), m.group(1)


def list_ops(canvas_id, user, since=0, page=1000, base=None):
	"""Every operation after `since`, paging through GET /operations."""
	ops = []
	while True:
		status, batch = api("GET", "/api/v1/canvases/%s/operations?since=%d&limit=%d"
				    % (canvas_id, since, page), token=user.token, base=base)
		assert status == 200, (status, batch)
		if not batch:
			return ops
		assert len(batch) <= page, (len(batch), page)
		ops.extend(batch)
		since = batch[-1]["version"]


# ---------------------------------------------------------------------------------------------
# Straight from Postgres.

def db_rows(cluster, canvas_id):
	"""[(version, client_op_id)] of the canvas's operation rows, in version order."""
	out = cluster.psql("SELECT version, client_op_id FROM operations WHERE canvas_id = '%s' "
			   "ORDER BY version" % canvas_id)
	return [(int(v), cid) for v, cid in (line.split("|") for line in out.splitlines())]


def db_head(cluster, canvas_id):
	"""canvases.version."""
	return int(cluster.psql("SELECT version FROM canvases WHERE id = '%s'" % canvas_id))
