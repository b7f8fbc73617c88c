"""Workspaces, members and canvases over real HTTP: creation, listing order, the access policy
(non-members and malformed ids get 404, too-low roles get 403) and validation.

A module-scoped team (owner, editor, viewer, outsider in one workspace) serves the read-only
policy checks; tests that change membership or create things make their own users/workspaces.
"""

import re
import uuid

import pytest

from helpers import (add_member, api, assert_error, create_canvas, create_workspace, make_team,
		     new_user)

RFC3339_MS_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


# ---------------------------------------------------------------------------------------------
# Fixtures.

@pytest.fixture(scope="module")
def team(cluster):
	"""One workspace with an owner, an editor and a viewer, one canvas, and an outsider."""
	t = make_team({"editor": "editor", "viewer": "viewer", "outsider": None}, name="Team space")
	t.canvas = create_canvas(t.owner, t.workspace_id, "Team board")
	return t


# ---------------------------------------------------------------------------------------------
# Workspaces.

def test_create_workspace_returns_201_with_owner_role(cluster):
	user = new_user()
	status, body = api("POST", "/api/v1/workspaces", {"name": "Design"}, token=user.token)
	assert status == 201, body
	assert set(body) == {"id", "name", "created_by", "created_at", "role"}, body
	uuid.UUID(body["id"])
	assert body["name"] == "Design"
	assert body["created_by"] == user.id
	assert body["role"] == "owner"
	assert RFC3339_MS_UTC.match(body["created_at"]), body


def test_workspace_name_keeps_unicode_and_may_be_100_bytes(cluster):
	user = new_user()
	for name in ("Entw\u00fcrfe \U0001F3A8", "n" * 100, "\u00e9" * 50):
		ws = create_workspace(user, name)
		assert ws["name"] == name
		status, body = api("GET", "/api/v1/workspaces/%s" % ws["id"], token=user.token)
		assert status == 200 and body["name"] == name, body


@pytest.mark.parametrize("body,code", [
	({"name": ""}, "invalid_field"),
	({"name": "   "}, "invalid_field"),
	({"name": "n" * 101}, "invalid_field"),
	({"name": "\u00e9" * 51}, "invalid_field"),
	({"name": "tab\there"}, "invalid_field"),
	({"name": "bidi\u202eoverride"}, "invalid_field"),
	({"name": 42}, "invalid_field"),
	({"name": None}, "missing_field"),
	({}, "missing_field"),
	({"name": "ok", "owner": "someone"}, "unknown_field"),
], ids=["empty", "blank", "101_bytes", "51_two_byte_chars", "control_char", "bidi_override",
	"number", "null", "missing", "unknown_field"])
def test_create_workspace_rejects_invalid_name_with_422(cluster, body, code):
	user = new_user()
	status, data = api("POST", "/api/v1/workspaces", body, token=user.token)
	assert_error(status, data, 422, code)
	status, data = api("GET", "/api/v1/workspaces", token=user.token)
	assert status == 200 and data == [], data


def test_create_workspace_malformed_json_is_400(cluster):
	user = new_user()
	status, body = api("POST", "/api/v1/workspaces", '{"name": "x"', token=user.token)
	assert_error(status, body, 400, "malformed_json")


def test_list_workspaces_returns_only_mine_oldest_first_with_my_role(cluster):
	me = new_user()
	other = new_user()
	theirs = create_workspace(other, "theirs")
	mine = [create_workspace(me, "mine %d" % i) for i in range(4)]
	add_member(other, theirs["id"], me, "viewer")
	status, body = api("GET", "/api/v1/workspaces", token=me.token)
	assert status == 200, body
	# Oldest first by creation time: "theirs" was created before all of mine.
	assert [w["id"] for w in body] == [theirs["id"]] + [w["id"] for w in mine], body
	roles = {w["id"]: w["role"] for w in body}
	assert roles[theirs["id"]] == "viewer"
	assert all(roles[w["id"]] == "owner" for w in mine)
	for w in body:
		assert set(w) == {"id", "name", "created_by", "created_at", "role"}, w
	status, body = api("GET", "/api/v1/workspaces", token=other.token)
	assert status == 200
	assert [w["id"] for w in body] == [theirs["id"]], body


def test_list_workspaces_of_a_new_user_is_empty(cluster):
	status, body = api("GET", "/api/v1/workspaces", token=new_user().token)
	assert status == 200 and body == [], body


@pytest.mark.parametrize("who,role", [("owner", "owner"), ("editor", "editor"),
				      ("viewer", "viewer")])
def test_get_workspace_returns_it_with_the_callers_role(team, who, role):
	user = getattr(team, who)
	status, body = api("GET", "/api/v1/workspaces/%s" % team.workspace["id"], token=user.token)
	assert status == 200, body
	assert body["id"] == team.workspace["id"]
	assert body["name"] == "Team space"
	assert body["created_by"] == team.owner.id
	assert body["created_at"] == team.workspace["created_at"]
	assert body["role"] == role


# ---------------------------------------------------------------------------------------------
# Access policy: 404 for non-members and malformed ids, never 403.

def _outsider_requests(team):
	ws = team.workspace["id"]
	return [
		("GET", "/api/v1/workspaces/%s" % ws, None),
		("GET", "/api/v1/workspaces/%s/members" % ws, None),
		("POST", "/api/v1/workspaces/%s/members" % ws, {"email": team.outsider.email,
								  "role": "owner"}),
		("GET", "/api/v1/workspaces/%s/canvases" % ws, None),
		("POST", "/api/v1/workspaces/%s/canvases" % ws, {"name": "sneaky"}),
		("GET", "/api/v1/canvases/%s" % team.canvas["id"], None),
	]


@pytest.mark.parametrize("i", range(6), ids=["workspace_get", "members_list", "members_add",
					      "canvases_list", "canvases_create", "canvas_get"])
def test_non_member_gets_404_not_403(team, i):
	method, path, body = _outsider_requests(team)[i]
	status, data = api(method, path, body, token=team.outsider.token)
	assert_error(status, data, 404, "not_found")


def test_non_member_requests_change_nothing(team):
	for method, path, body in _outsider_requests(team):
		api(method, path, body, token=team.outsider.token)
	status, members = api("GET", "/api/v1/workspaces/%s/members" % team.workspace["id"],
			      token=team.owner.token)
	assert status == 200
	assert team.outsider.id not in [m["user_id"] for m in members]
	status, canvases = api("GET", "/api/v1/workspaces/%s/canvases" % team.workspace["id"],
			       token=team.owner.token)
	assert "sneaky" not in [c["name"] for c in canvases]
	status, body = api("GET", "/api/v1/workspaces", token=team.outsider.token)
	assert status == 200 and body == [], body


def test_unknown_but_well_formed_ids_are_404_like_foreign_ones(team):
	ghost = str(uuid.uuid4())
	for method, path, body in [
		("GET", "/api/v1/workspaces/%s" % ghost, None),
		("GET", "/api/v1/workspaces/%s/members" % ghost, None),
		("POST", "/api/v1/workspaces/%s/members" % ghost, {"email": team.viewer.email,
								     "role": "viewer"}),
		("GET", "/api/v1/workspaces/%s/canvases" % ghost, None),
		("POST", "/api/v1/workspaces/%s/canvases" % ghost, {"name": "x"}),
		("GET", "/api/v1/canvases/%s" % ghost, None),
	]:
		status, data = api(method, path, body, token=team.owner.token)
		assert_error(status, data, 404, "not_found")


MALFORMED_IDS = [
	"not-a-uuid",
	"1234",
	"00000000000000000000000000000000",
	"%s" % ("0" * 8 + "-" + "0" * 4 + "-" + "0" * 4 + "-" + "0" * 4 + "-" + "0" * 11),
	"{id}",
	"%27%20OR%201%3D1--",
	"%00",
	"zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
	"x" * 300,
]


@pytest.mark.parametrize("bad_id", MALFORMED_IDS,
			 ids=["word", "number", "no_dashes", "too_short", "braces", "sql",
			      "nul", "non_hex", "very_long"])
@pytest.mark.parametrize("via", ["gateway", "node"])
def test_malformed_ids_are_404(cluster, team, bad_id, via):
	if via == "gateway" and bad_id == "%00":
		pytest.skip("nginx itself refuses an encoded NUL in the path (400) before any node")
	base = cluster.gateway_url if via == "gateway" else cluster.node_urls[0]
	for method, path, body in [
		("GET", "/api/v1/workspaces/%s" % bad_id, None),
		("GET", "/api/v1/workspaces/%s/members" % bad_id, None),
		("POST", "/api/v1/workspaces/%s/members" % bad_id, {"email": team.viewer.email,
								      "role": "viewer"}),
		("GET", "/api/v1/workspaces/%s/canvases" % bad_id, None),
		("POST", "/api/v1/workspaces/%s/canvases" % bad_id, {"name": "x"}),
		("GET", "/api/v1/canvases/%s" % bad_id, None),
	]:
		status, data = api(method, path, body, token=team.owner.token, base=base)
		assert_error(status, data, 404, "not_found")


def test_upper_case_uuid_names_the_same_workspace(team):
	ws = team.workspace["id"]
	status, body = api("GET", "/api/v1/workspaces/%s" % ws.upper(), token=team.owner.token)
	# Either accepted as the same id or refused as not found, never an error or another row.
	assert status in (200, 404), body
	if status == 200:
		assert body["id"] == ws


@pytest.mark.parametrize("method,path", [
	("GET", "/api/v1/workspaces"),
	("POST", "/api/v1/workspaces"),
	("GET", "/api/v1/workspaces/{ws}"),
	("GET", "/api/v1/workspaces/{ws}/members"),
	("POST", "/api/v1/workspaces/{ws}/members"),
	("GET", "/api/v1/workspaces/{ws}/canvases"),
	("POST", "/api/v1/workspaces/{ws}/canvases"),
	("GET", "/api/v1/canvases/{canvas}"),
])
def test_every_workspace_endpoint_requires_a_token(team, method, path):
	path = path.format(ws=team.workspace["id"], canvas=team.canvas["id"])
	body = {"name": "x"} if method == "POST" else None
	assert_error(*api(method, path, body), 401, "unauthorized")
	assert_error(*api(method, path, body, token="garbage"), 401, "unauthorized")


# ---------------------------------------------------------------------------------------------
# Members.

def test_owner_adds_member_by_email_with_role(cluster):
	owner = new_user("owner")
	member = new_user("member")
	ws = create_workspace(owner)
	status, body = api("POST", "/api/v1/workspaces/%s/members" % ws["id"],
			   {"email": "  " + member.email.upper(), "role": "editor"}, token=owner.token)
	assert status == 201, body
	assert set(body) == {"user_id", "email", "display_name", "role", "joined_at"}, body
	assert body["user_id"] == member.id
	assert body["email"] == member.email
	assert body["role"] == "editor"
	assert RFC3339_MS_UTC.match(body["joined_at"]), body
	# The new member now sees the workspace with that role.
	status, got = api("GET", "/api/v1/workspaces/%s" % ws["id"], token=member.token)
	assert status == 200 and got["role"] == "editor", got
	status, listed = api("GET", "/api/v1/workspaces", token=member.token)
	assert [w["id"] for w in listed] == [ws["id"]], listed


def test_add_member_with_unknown_email_is_404_user_not_found(cluster):
	owner = new_user("owner")
	ws = create_workspace(owner)
	status, body = api("POST", "/api/v1/workspaces/%s/members" % ws["id"],
			   {"email": "ghost-%s@example.com" % uuid.uuid4().hex, "role": "viewer"},
			   token=owner.token)
	assert_error(status, body, 404, "user_not_found")


def test_add_existing_member_is_409_already_member_and_keeps_the_role(cluster):
	owner = new_user("owner")
	member = new_user("member")
	ws = create_workspace(owner)
	add_member(owner, ws["id"], member, "viewer")
	status, body = api("POST", "/api/v1/workspaces/%s/members" % ws["id"],
			   {"email": member.email, "role": "owner"}, token=owner.token)
	assert_error(status, body, 409, "already_member")
	# The owner adding themselves is the same conflict.
	status, body = api("POST", "/api/v1/workspaces/%s/members" % ws["id"],
			   {"email": owner.email, "role": "viewer"}, token=owner.token)
	assert_error(status, body, 409, "already_member")
	status, got = api("GET", "/api/v1/workspaces/%s" % ws["id"], token=member.token)
	assert got["role"] == "viewer", got
	status, got = api("GET", "/api/v1/workspaces/%s" % ws["id"], token=owner.token)
	assert got["role"] == "owner", got


@pytest.mark.parametrize("body,code,field", [
	({"role": "admin"}, "invalid_field", "role"),
	({"role": "Owner"}, "invalid_field", "role"),
	({"role": ""}, "invalid_field", "role"),
	({"role": 3}, "invalid_field", "role"),
	({"role": None}, "missing_field", "role"),
	({"role": "viewer", "email": "not an email"}, "invalid_field", "email"),
	({"role": "viewer", "email": None}, "missing_field", "email"),
	({"role": "viewer", "permissions": "all"}, "unknown_field", "permissions"),
], ids=["admin", "capitalized", "empty", "number", "null", "bad_email", "no_email",
	"unknown_field"])
def test_add_member_with_invalid_body_is_422(cluster, body, code, field):
	owner = new_user("owner")
	member = new_user("member")
	ws = create_workspace(owner)
	payload = {"email": member.email}
	payload.update(body)  # a None value is sent as JSON null, which counts as absent
	status, data = api("POST", "/api/v1/workspaces/%s/members" % ws["id"], payload,
			   token=owner.token)
	assert_error(status, data, 422, code, field)
	status, members = api("GET", "/api/v1/workspaces/%s/members" % ws["id"], token=owner.token)
	assert [m["user_id"] for m in members] == [owner.id], members


@pytest.mark.parametrize("who", ["editor", "viewer"])
def test_non_owner_member_cannot_add_members_403(team, who):
	newcomer = new_user("newcomer")
	status, body = api("POST", "/api/v1/workspaces/%s/members" % team.workspace["id"],
			   {"email": newcomer.email, "role": "viewer"}, token=getattr(team, who).token)
	assert_error(status, body, 403, "forbidden")
	status, body = api("GET", "/api/v1/workspaces/%s" % team.workspace["id"],
			   token=newcomer.token)
	assert_error(status, body, 404, "not_found")


def test_member_added_as_owner_can_add_members(cluster):
	owner = new_user("owner")
	co_owner = new_user("coowner")
	third = new_user("third")
	ws = create_workspace(owner)
	add_member(owner, ws["id"], co_owner, "owner")
	body = add_member(co_owner, ws["id"], third, "viewer")
	assert body["role"] == "viewer"


@pytest.mark.parametrize("who", ["owner", "editor", "viewer"])
def test_members_list_shows_every_member_to_any_member_oldest_first(team, who):
	status, body = api("GET", "/api/v1/workspaces/%s/members" % team.workspace["id"],
			   token=getattr(team, who).token)
	assert status == 200, body
	assert [(m["user_id"], m["role"]) for m in body] == [
		(team.owner.id, "owner"), (team.editor.id, "editor"), (team.viewer.id, "viewer")], body
	for m in body:
		assert set(m) == {"user_id", "email", "display_name", "role", "joined_at"}, m
		assert RFC3339_MS_UTC.match(m["joined_at"]), m
	assert [m["email"] for m in body] == [team.owner.email, team.editor.email, team.viewer.email]


# ---------------------------------------------------------------------------------------------
# Canvases.

def test_editor_can_create_canvas_with_version_0(team):
	status, body = api("POST", "/api/v1/workspaces/%s/canvases" % team.workspace["id"],
			   {"name": "Editor's board"}, token=team.editor.token)
	assert status == 201, body
	assert set(body) == {"id", "workspace_id", "name", "version", "created_by", "created_at"}, body
	uuid.UUID(body["id"])
	assert body["workspace_id"] == team.workspace["id"]
	assert body["name"] == "Editor's board"
	assert body["version"] == 0
	assert body["created_by"] == team.editor.id
	assert RFC3339_MS_UTC.match(body["created_at"]), body


def test_owner_created_canvas_has_version_0(team):
	assert team.canvas["version"] == 0
	assert team.canvas["created_by"] == team.owner.id


def test_viewer_cannot_create_canvas_403(team):
	status, body = api("POST", "/api/v1/workspaces/%s/canvases" % team.workspace["id"],
			   {"name": "Viewer's board"}, token=team.viewer.token)
	assert_error(status, body, 403, "forbidden")
	status, canvases = api("GET", "/api/v1/workspaces/%s/canvases" % team.workspace["id"],
			       token=team.owner.token)
	assert "Viewer's board" not in [c["name"] for c in canvases]


def test_viewer_can_list_and_get_canvases(team):
	status, body = api("GET", "/api/v1/workspaces/%s/canvases" % team.workspace["id"],
			   token=team.viewer.token)
	assert status == 200, body
	assert team.canvas["id"] in [c["id"] for c in body]
	status, body = api("GET", "/api/v1/canvases/%s" % team.canvas["id"], token=team.viewer.token)
	assert status == 200, body
	assert body["id"] == team.canvas["id"]
	assert body["name"] == "Team board"
	assert body["version"] == 0
	assert body["workspace_id"] == team.workspace["id"]
	assert body["role"] == "viewer"


@pytest.mark.parametrize("who", ["owner", "editor", "viewer"])
def test_get_canvas_reports_the_callers_role(team, who):
	status, body = api("GET", "/api/v1/canvases/%s" % team.canvas["id"],
			   token=getattr(team, who).token)
	assert status == 200, body
	assert body["role"] == who
	expected = dict(team.canvas)
	expected["role"] = who
	assert body == expected


def test_canvases_list_is_oldest_first_and_only_of_that_workspace(cluster):
	owner = new_user("owner")
	ws_a = create_workspace(owner, "A")
	ws_b = create_workspace(owner, "B")
	created = []
	for i in range(5):
		created.append(create_canvas(owner, ws_a["id"], "a%d" % i))
		create_canvas(owner, ws_b["id"], "b%d" % i)
	status, body = api("GET", "/api/v1/workspaces/%s/canvases" % ws_a["id"], token=owner.token)
	assert status == 200, body
	assert [c["id"] for c in body] == [c["id"] for c in created], body
	assert body == created
	assert all(c["workspace_id"] == ws_a["id"] for c in body)


def test_canvases_list_of_an_empty_workspace_is_empty(cluster):
	owner = new_user("owner")
	ws = create_workspace(owner)
	status, body = api("GET", "/api/v1/workspaces/%s/canvases" % ws["id"], token=owner.token)
	assert status == 200 and body == [], body


@pytest.mark.parametrize("body,code", [
	({"name": ""}, "invalid_field"),
	({"name": " \t "}, "invalid_field"),
	({"name": "c" * 101}, "invalid_field"),
	({"name": "line\nbreak"}, "invalid_field"),
	({"name": ["x"]}, "invalid_field"),
	({}, "missing_field"),
	({"name": "x", "version": 5}, "unknown_field"),
], ids=["empty", "blank", "101_bytes", "newline", "list", "missing", "unknown_field"])
def test_create_canvas_rejects_invalid_body_with_422(team, body, code):
	status, data = api("POST", "/api/v1/workspaces/%s/canvases" % team.workspace["id"], body,
			   token=team.owner.token)
	assert_error(status, data, 422, code)


def test_viewer_gets_422_for_invalid_body_or_403_but_never_creates(team):
	"""Whatever order the node checks role and body in, a viewer never creates a canvas."""
	status, data = api("POST", "/api/v1/workspaces/%s/canvases" % team.workspace["id"],
			   {"name": ""}, token=team.viewer.token)
	assert status in (403, 422), data


def test_role_change_takes_effect_for_canvas_creation_immediately(cluster):
	"""Membership is read in the statement that acts, so a newly added editor can create at
	once, on any node."""
	owner = new_user("owner")
	editor = new_user("editor")
	ws = create_workspace(owner)
	status, body = api("POST", "/api/v1/workspaces/%s/canvases" % ws["id"], {"name": "early"},
			   token=editor.token)
	assert_error(status, body, 404, "not_found")
	add_member(owner, ws["id"], editor, "editor")
	for url in cluster.node_urls:
		status, body = api("POST", "/api/v1/workspaces/%s/canvases" % ws["id"],
				   {"name": "on " + url}, token=editor.token, base=url)
		assert status == 201, (url, body)
