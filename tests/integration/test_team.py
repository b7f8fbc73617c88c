"""Teams over real HTTP on the 3-node session cluster (issue 11): the commenter role, member role
changes and removals with the last-owner rule, renaming and deleting (a flag, listable and
undeletable for 30 days) workspaces and canvases, and the role matrix of every one of these
endpoints: viewer, commenter, editor, owner and non-member.

Requests go to the gateway and, where it matters that every node agrees, to each node directly.
"""

import threading
import uuid

import pytest

import helpers
import wsclient
from helpers import (RestWriter, add_member, api, assert_error, canvas_version, create_canvas,
		     create_workspace, get_state, list_ops, make_team, new_user, rect)

ROLES = ("viewer", "commenter", "editor", "owner")


# ---------------------------------------------------------------------------------------------
# Helpers shared by the team suites (test_team_*.py import them).

class Team(helpers.Team):
	"""An owner plus one member per role (viewer, commenter, editor, owner2) and an outsider,
	in one fresh workspace with one canvas."""

	def __init__(self):
		make_team({"owner2": "owner", "editor": "editor", "commenter": "commenter",
			   "viewer": "viewer", "outsider": None}, into=self)
		self.canvas_id = create_canvas(self.owner, self.workspace_id)["id"]

	def who(self, name):
		"""The user playing a role in a matrix: viewer, commenter, editor, owner, outsider."""
		return {"viewer": self.viewer, "commenter": self.commenter, "editor": self.editor,
			"owner": self.owner, "outsider": self.outsider}[name]


def call(user, method, path, body=None, base=None):
	return api(method, "/api/v1" + path, body, token=user.token if user else None, base=base)


def expect(status, body, expected):
	"""expected: a success status, or (status, code) for an error."""
	if isinstance(expected, tuple):
		assert_error(status, body, *expected)
	else:
		assert status == expected, (status, body)


def members_of(owner, workspace_id):
	status, body = call(owner, "GET", "/workspaces/%s/members" % workspace_id)
	assert status == 200, (status, body)
	return {m["user_id"]: m["role"] for m in body}


def op(shape_id=None):
	return {"type": "create_shape", "client_op_id": str(uuid.uuid4()),
		"payload": {"shape_id": shape_id or "s-" + uuid.uuid4().hex[:8], "kind": "rect",
			    "x": 1, "y": 2, "w": 3, "h": 4}}


# ---------------------------------------------------------------------------------------------
# The commenter role.

def test_commenter_reads_and_connects_but_cannot_change_shapes_or_create_canvases(cluster):
	t = Team()
	status, body = call(t.commenter, "GET", "/canvases/%s" % t.canvas_id)
	assert status == 200 and body["role"] == "commenter", body
	status, body = call(t.commenter, "GET", "/workspaces/%s" % t.workspace_id)
	assert status == 200 and body["role"] == "commenter", body
	assert call(t.commenter, "GET", "/canvases/%s/state" % t.canvas_id)[0] == 200
	assert_error(*call(t.commenter, "POST", "/canvases/%s/operations" % t.canvas_id, op()),
		     403, "forbidden")
	assert_error(*call(t.commenter, "POST", "/workspaces/%s/canvases" % t.workspace_id,
			   {"name": "nope"}), 403, "forbidden")
	assert_error(*call(t.commenter, "POST", "/canvases/%s/undo" % t.canvas_id), 403, "forbidden")

	async def scenario():
		c = await wsclient.connect(cluster.gateway_url, t.canvas_id, t.commenter)
		try:
			assert c.sync["you"]["role"] == "commenter"
			cid = await c.send_op("create_shape", op()["payload"])
			reply = await c.wait_reply(cid)
			assert reply["type"] == "error" and reply["code"] == "forbidden", reply
		finally:
			await c.close()
	wsclient.run(scenario())
	assert canvas_version(t.canvas_id, t.owner) == 0


def test_members_can_be_added_as_commenters_and_unknown_roles_are_422(cluster):
	owner, user = new_user("owner"), new_user("member")
	ws = create_workspace(owner)["id"]
	status, body = call(owner, "POST", "/workspaces/%s/members" % ws,
			    {"email": user.email, "role": "commenter"})
	assert status == 201 and body["role"] == "commenter", body
	status, body = call(owner, "POST", "/workspaces/%s/members" % ws,
			    {"email": new_user("x").email, "role": "admin"})
	assert_error(status, body, 422, "invalid_field")
	assert "commenter" in body["detail"]


# ---------------------------------------------------------------------------------------------
# Member role changes and removals.

@pytest.mark.parametrize("actor, expected", [
	("owner", 200),
	("editor", (403, "forbidden")),
	("commenter", (403, "forbidden")),
	("viewer", (403, "forbidden")),
	("outsider", (404, "not_found")),
])
def test_role_matrix_of_changing_a_members_role(cluster, actor, expected):
	t = Team()
	status, body = call(t.who(actor), "PATCH", "/workspaces/%s/members/%s"
			    % (t.workspace_id, t.viewer.id), {"role": "editor"})
	expect(status, body, expected)
	role = members_of(t.owner, t.workspace_id)[t.viewer.id]
	if expected == 200:
		assert body["user_id"] == t.viewer.id and body["role"] == "editor", body
		assert body["email"] == t.viewer.email and body["joined_at"], body
		assert role == "editor"
	else:
		assert role == "viewer"


@pytest.mark.parametrize("actor, expected", [
	("owner", 200),
	("editor", (403, "forbidden")),
	("commenter", (403, "forbidden")),
	("viewer", (403, "forbidden")),
	("outsider", (404, "not_found")),
])
def test_role_matrix_of_removing_another_member(cluster, actor, expected):
	t = Team()
	victim = new_user("victim")
	add_member(t.owner, t.workspace_id, victim, "editor")
	status, body = call(t.who(actor), "DELETE", "/workspaces/%s/members/%s"
			    % (t.workspace_id, victim.id))
	expect(status, body, expected)
	if expected == 200:
		assert body == {"workspace_id": t.workspace_id, "user_id": victim.id,
				"removed": True}, body
		assert victim.id not in members_of(t.owner, t.workspace_id)
		assert_error(*call(victim, "GET", "/workspaces/%s" % t.workspace_id), 404, "not_found")
		assert_error(*call(victim, "GET", "/canvases/%s" % t.canvas_id), 404, "not_found")
	else:
		assert members_of(t.owner, t.workspace_id)[victim.id] == "editor"


@pytest.mark.parametrize("role", ["viewer", "commenter", "editor"])
def test_any_member_may_leave_and_then_sees_nothing(cluster, role):
	t = Team()
	user = t.who(role)
	status, body = call(user, "DELETE", "/workspaces/%s/members/%s" % (t.workspace_id, user.id))
	assert status == 200 and body["removed"] is True, body
	assert_error(*call(user, "GET", "/workspaces/%s" % t.workspace_id), 404, "not_found")
	status, body = call(user, "GET", "/workspaces")
	assert t.workspace_id not in [w["id"] for w in body]


def test_last_owner_can_be_neither_demoted_nor_removed_nor_leave(cluster):
	owner, member = new_user("owner"), new_user("member")
	ws = create_workspace(owner)["id"]
	add_member(owner, ws, member, "editor")
	path = "/workspaces/%s/members/%s" % (ws, owner.id)
	for role in ("editor", "commenter", "viewer"):
		assert_error(*call(owner, "PATCH", path, {"role": role}), 409, "last_owner")
	assert_error(*call(owner, "DELETE", path), 409, "last_owner")
	# Setting the last owner's role to owner changes nothing and is fine.
	status, body = call(owner, "PATCH", path, {"role": "owner"})
	assert status == 200 and body["role"] == "owner", body
	# With a second owner, the first may step down, then leave.
	call(owner, "PATCH", "/workspaces/%s/members/%s" % (ws, member.id), {"role": "owner"})
	status, body = call(owner, "PATCH", path, {"role": "viewer"})
	assert status == 200 and body["role"] == "viewer", body
	assert members_of(member, ws) == {owner.id: "viewer", member.id: "owner"}
	# The remaining owner is the last one now.
	assert_error(*call(member, "PATCH", "/workspaces/%s/members/%s" % (ws, member.id),
			   {"role": "editor"}), 409, "last_owner")
	status, body = call(owner, "DELETE", path)
	assert status == 200, body


def test_two_owners_demoting_each_other_at_once_on_different_nodes_leave_exactly_one_owner(
		cluster):
	"""The workspace row lock of fs_member_change serializes the two: one wins, the other
	gets 409 last_owner. Repeated, so that the requests really overlap at least sometimes."""
	for attempt in range(6):
		a, b = new_user("a"), new_user("b")
		ws = create_workspace(a)["id"]
		add_member(a, ws, b, "owner")
		results = {}
		barrier = threading.Barrier(2)

		def demote(actor, target, base, key):
			barrier.wait()
			results[key] = call(actor, "PATCH", "/workspaces/%s/members/%s" % (ws, target.id),
					    {"role": "editor"}, base=base)

		threads = [threading.Thread(target=demote, args=(a, b, cluster.node_urls[0], "a")),
			   threading.Thread(target=demote, args=(b, a, cluster.node_urls[1], "b"))]
		for th in threads:
			th.start()
		for th in threads:
			th.join(30)
		statuses = sorted(r[0] for r in results.values())
		assert statuses in ([200, 409], [200, 403]), results
		roles = members_of(a if results["a"][0] == 200 else b, ws)
		assert sorted(roles.values()) == ["editor", "owner"], (attempt, roles, results)


def test_member_changes_validate_role_ids_and_membership(cluster):
	t = Team()
	base = "/workspaces/%s/members/" % t.workspace_id
	assert_error(*call(t.owner, "PATCH", base + t.viewer.id, {"role": "boss"}), 422,
		     "invalid_field")
	assert_error(*call(t.owner, "PATCH", base + t.viewer.id, {}), 422, "missing_field")
	assert_error(*call(t.owner, "PATCH", base + t.viewer.id, {"role": "editor", "x": 1}), 422,
		     "unknown_field")
	assert_error(*call(t.owner, "PATCH", base + t.outsider.id, {"role": "editor"}), 404,
		     "member_not_found")
	assert_error(*call(t.owner, "DELETE", base + t.outsider.id), 404, "member_not_found")
	assert_error(*call(t.owner, "DELETE", base + "not-a-uuid"), 404, "member_not_found")
	assert_error(*call(t.owner, "PATCH", "/workspaces/%s/members/%s" % (uuid.uuid4(), t.viewer.id),
			   {"role": "editor"}), 404, "not_found")
	assert_error(*call(None, "DELETE", base + t.viewer.id), 401, "unauthorized")


def test_a_role_change_is_seen_by_every_node_at_once(cluster):
	t = Team()
	call(t.owner, "PATCH", "/workspaces/%s/members/%s" % (t.workspace_id, t.viewer.id),
	     {"role": "editor"}, base=cluster.node_urls[0])
	for url in cluster.node_urls:
		status, body = call(t.viewer, "POST", "/canvases/%s/operations" % t.canvas_id, op(),
				    base=url)
		assert status == 201, (url, body)
	call(t.owner, "PATCH", "/workspaces/%s/members/%s" % (t.workspace_id, t.viewer.id),
	     {"role": "commenter"}, base=cluster.node_urls[2])
	for url in cluster.node_urls:
		assert_error(*call(t.viewer, "POST", "/canvases/%s/operations" % t.canvas_id, op(),
				   base=url), 403, "forbidden")


# ---------------------------------------------------------------------------------------------
# Renaming.

@pytest.mark.parametrize("actor, expected", [
	("owner", 200),
	("editor", (403, "forbidden")),
	("commenter", (403, "forbidden")),
	("viewer", (403, "forbidden")),
	("outsider", (404, "not_found")),
])
def test_role_matrix_of_renaming_a_workspace(cluster, actor, expected):
	t = Team()
	status, body = call(t.who(actor), "PATCH", "/workspaces/%s" % t.workspace_id,
			    {"name": "Renamed ✓"})
	expect(status, body, expected)
	name = call(t.owner, "GET", "/workspaces/%s" % t.workspace_id)[1]["name"]
	if expected == 200:
		assert body["name"] == "Renamed ✓" and body["role"] == "owner", body
		assert name == "Renamed ✓"
	else:
		assert name != "Renamed ✓"


@pytest.mark.parametrize("actor, expected", [
	("owner", 200),
	("editor", 200),
	("commenter", (403, "forbidden")),
	("viewer", (403, "forbidden")),
	("outsider", (404, "not_found")),
])
def test_role_matrix_of_renaming_a_canvas(cluster, actor, expected):
	t = Team()
	status, body = call(t.who(actor), "PATCH", "/canvases/%s" % t.canvas_id, {"name": "Board 2"})
	expect(status, body, expected)
	name = call(t.owner, "GET", "/canvases/%s" % t.canvas_id)[1]["name"]
	if expected == 200:
		assert body["name"] == "Board 2" and body["role"] == actor and body["version"] == 0, body
		assert name == "Board 2"
	else:
		assert name != "Board 2"


@pytest.mark.parametrize("body, code", [
	({}, "missing_field"), ({"name": ""}, "invalid_field"), ({"name": "x" * 101}, "invalid_field"),
	({"name": "a\u202eb"}, "invalid_field"), ({"name": 3}, "invalid_field"),
	({"name": "ok", "extra": 1}, "unknown_field"),
])
def test_renames_validate_the_name_like_creation(cluster, body, code):
	t = Team()
	assert_error(*call(t.owner, "PATCH", "/workspaces/%s" % t.workspace_id, body), 422, code)
	assert_error(*call(t.owner, "PATCH", "/canvases/%s" % t.canvas_id, body), 422, code)


# ---------------------------------------------------------------------------------------------
# Deleting canvases.

@pytest.mark.parametrize("actor, expected", [
	("owner", 200),
	("editor", (403, "forbidden")),
	("commenter", (403, "forbidden")),
	("viewer", (403, "forbidden")),
	("outsider", (404, "not_found")),
])
def test_role_matrix_of_deleting_a_canvas(cluster, actor, expected):
	t = Team()
	status, body = call(t.who(actor), "DELETE", "/canvases/%s" % t.canvas_id)
	expect(status, body, expected)
	status_after = call(t.owner, "GET", "/canvases/%s" % t.canvas_id)[0]
	if expected == 200:
		assert body["id"] == t.canvas_id and body["deleted_at"] and body["undelete_until"], body
		assert body["deleted_by"] == t.owner.id, body
		assert status_after == 404
	else:
		assert status_after == 200


def test_a_deleted_canvas_answers_404_everywhere_on_every_node_and_leaves_the_listing(cluster):
	t = Team()
	writer = RestWriter(cluster.gateway_url, t.editor.token)
	for i in range(3):
		writer.commit(t.canvas_id, "create_shape", rect("r%d" % i, x=i))
	writer.close()
	status, _ = call(t.editor, "POST", "/canvases/%s/versions" % t.canvas_id, {"name": "v3"})
	assert status == 201
	assert call(t.owner, "DELETE", "/canvases/%s" % t.canvas_id)[0] == 200
	c = "/canvases/%s" % t.canvas_id
	reads = [("GET", c), ("GET", c + "/operations"), ("GET", c + "/state"),
		 ("GET", c + "/snapshots"), ("GET", c + "/versions"), ("GET", c + "/diff?from=0&to=1"),
		 ("GET", c + "/export.svg")]
	writes = [("POST", c + "/operations", op()), ("POST", c + "/undo", None),
		  ("POST", c + "/redo", None), ("POST", c + "/restore", {"version": 1}),
		  ("POST", c + "/versions", {"name": "after"}), ("POST", c + "/snapshots", None),
		  ("PATCH", c, {"name": "ghost"}), ("DELETE", c, None)]
	for url in cluster.node_urls:
		for method, path in reads:
			assert_error(*call(t.owner, method, path, base=url), 404, "not_found")
		for method, path, body in writes:
			assert_error(*call(t.editor, method, path, body, base=url), 404, "not_found")
		status, canvases = call(t.viewer, "GET", "/workspaces/%s/canvases" % t.workspace_id,
					base=url)
		assert status == 200 and t.canvas_id not in [x["id"] for x in canvases], canvases
		status, _ = api("GET", wsclient.ws_path(t.canvas_id, t.owner.token), base=url,
				headers={"Upgrade": "websocket", "Connection": "Upgrade",
					 "Sec-WebSocket-Version": "13",
					 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
		assert status == 404, url


def test_deleted_canvases_are_listed_for_owners_and_undeleted_with_their_log_intact(cluster):
	t = Team()
	writer = RestWriter(cluster.gateway_url, t.editor.token)
	for i in range(4):
		writer.commit(t.canvas_id, "create_shape", rect("r%d" % i, x=i))
	writer.close()
	before = list_ops(t.canvas_id, t.owner)
	state_before = get_state(t.canvas_id, t.owner)
	other = create_canvas(t.owner, t.workspace_id)["id"]
	assert call(t.owner, "DELETE", "/canvases/%s" % t.canvas_id)[0] == 200
	listing = "/workspaces/%s/canvases?deleted=true" % t.workspace_id
	status, deleted = call(t.owner, "GET", listing)
	assert status == 200 and [d["id"] for d in deleted] == [t.canvas_id], deleted
	assert deleted[0]["version"] == 4 and deleted[0]["undelete_until"] > deleted[0]["deleted_at"]
	for who, expected in (("owner2", 200), ("editor", 403), ("commenter", 403), ("viewer", 403),
			      ("outsider", 404)):
		user = t.owner2 if who == "owner2" else t.who(who)
		status, body = call(user, "GET", listing)
		assert status == expected, (who, body)
	assert_error(*call(t.owner, "GET", "/workspaces/%s/canvases?deleted=maybe"
			   % t.workspace_id), 422, "invalid_query")
	status, live = call(t.owner, "GET", "/workspaces/%s/canvases?deleted=false" % t.workspace_id)
	assert [x["id"] for x in live] == [other], live

	for who, expected in (("editor", 403), ("commenter", 403), ("viewer", 403),
			      ("outsider", 404)):
		assert call(t.who(who), "POST", "/canvases/%s/undelete" % t.canvas_id)[0] == expected
	status, body = call(t.owner, "POST", "/canvases/%s/undelete" % t.canvas_id)
	assert status == 200 and body["id"] == t.canvas_id and body["version"] == 4, body
	assert_error(*call(t.owner, "POST", "/canvases/%s/undelete" % t.canvas_id), 409,
		     "not_deleted")
	assert call(t.owner, "GET", listing)[1] == []
	# Nothing was rewritten: the same log, the same state, and the canvas takes new ops.
	assert list_ops(t.canvas_id, t.owner) == before
	assert get_state(t.canvas_id, t.owner) == state_before
	status, body = call(t.editor, "POST", "/canvases/%s/operations" % t.canvas_id, op())
	assert status == 201 and body["version"] == 5, body


def test_past_30_days_a_deleted_canvas_or_workspace_can_be_neither_listed_nor_undeleted(cluster):
	t = Team()
	late = create_canvas(t.owner, t.workspace_id)["id"]
	for canvas_id in (t.canvas_id, late):
		assert call(t.owner, "DELETE", "/canvases/%s" % canvas_id)[0] == 200
	# Move one deletion just past the window in the database: tests do not wait 30 days.
	cluster.psql("UPDATE canvases SET deleted_at = now() - interval '30 days 1 second' "
		     "WHERE id = '%s'" % t.canvas_id)
	listing = "/workspaces/%s/canvases?deleted=true" % t.workspace_id
	status, deleted = call(t.owner, "GET", listing)
	assert status == 200 and [d["id"] for d in deleted] == [late], deleted
	assert_error(*call(t.owner, "POST", "/canvases/%s/undelete" % t.canvas_id), 404, "not_found")
	assert_error(*call(t.owner, "GET", "/canvases/%s" % t.canvas_id), 404, "not_found")
	assert call(t.owner, "POST", "/canvases/%s/undelete" % late)[0] == 200

	w = "/workspaces/%s" % t.workspace_id
	assert call(t.owner, "DELETE", w)[0] == 200
	cluster.psql("UPDATE workspaces SET deleted_at = now() - interval '30 days 1 second' "
		     "WHERE id = '%s'" % t.workspace_id)
	status, deleted = call(t.owner, "GET", "/workspaces?deleted=true")
	assert status == 200 and t.workspace_id not in [d["id"] for d in deleted], deleted
	assert_error(*call(t.owner, "POST", w + "/undelete"), 404, "not_found")
	assert_error(*call(t.owner, "GET", w), 404, "not_found")


def test_undelete_of_an_unknown_canvas_is_404(cluster):
	t = Team()
	assert_error(*call(t.owner, "POST", "/canvases/%s/undelete" % uuid.uuid4()), 404, "not_found")
	assert_error(*call(t.owner, "POST", "/canvases/nope/undelete"), 404, "not_found")


# ---------------------------------------------------------------------------------------------
# Deleting workspaces.

@pytest.mark.parametrize("actor, expected", [
	("owner", 200),
	("editor", (403, "forbidden")),
	("commenter", (403, "forbidden")),
	("viewer", (403, "forbidden")),
	("outsider", (404, "not_found")),
])
def test_role_matrix_of_deleting_a_workspace(cluster, actor, expected):
	t = Team()
	status, body = call(t.who(actor), "DELETE", "/workspaces/%s" % t.workspace_id)
	expect(status, body, expected)
	status_after = call(t.owner, "GET", "/workspaces/%s" % t.workspace_id)[0]
	if expected == 200:
		assert body["id"] == t.workspace_id and body["deleted_at"], body
		assert status_after == 404
	else:
		assert status_after == 200


def test_a_deleted_workspace_hides_everything_in_it_and_undelete_brings_back_its_canvases(
		cluster):
	t = Team()
	alone = create_canvas(t.owner, t.workspace_id)["id"]
	assert call(t.owner, "DELETE", "/canvases/%s" % alone)[0] == 200  # deleted on its own first
	writer = RestWriter(cluster.gateway_url, t.editor.token)
	writer.commit(t.canvas_id, "create_shape", rect("kept"))
	writer.close()
	status, body = call(t.owner, "DELETE", "/workspaces/%s" % t.workspace_id)
	assert status == 200, body
	w = "/workspaces/%s" % t.workspace_id
	for url in cluster.node_urls:
		for user in (t.owner, t.editor, t.viewer):
			status, listed = call(user, "GET", "/workspaces", base=url)
			assert t.workspace_id not in [x["id"] for x in listed]
			for method, path, body in (("GET", w, None), ("GET", w + "/members", None),
						   ("GET", w + "/canvases", None),
						   ("GET", "/canvases/%s" % t.canvas_id, None),
						   ("POST", w + "/canvases", {"name": "late"}),
						   ("POST", w + "/members", {"email": t.outsider.email,
									     "role": "viewer"}),
						   ("PATCH", w, {"name": "again"}),
						   ("PATCH", w + "/members/" + t.viewer.id,
						    {"role": "editor"}),
						   ("DELETE", w, None),
						   ("POST", "/canvases/%s/operations" % t.canvas_id, op())):
				assert_error(*call(user, method, path, body, base=url), 404, "not_found")
	status, deleted = call(t.owner, "GET", "/workspaces?deleted=true")
	assert status == 200 and [d["id"] for d in deleted] == [t.workspace_id], deleted
	assert deleted[0]["undelete_until"] and deleted[0]["deleted_by"] == t.owner.id
	for user in (t.editor, t.viewer, t.outsider):
		assert call(user, "GET", "/workspaces?deleted=true")[1] == []
	assert call(t.editor, "POST", w + "/undelete")[0] == 403
	assert call(t.outsider, "POST", w + "/undelete")[0] == 404
	status, body = call(t.owner2, "POST", w + "/undelete")
	assert status == 200 and body["canvases_restored"] == 1, body
	assert_error(*call(t.owner, "POST", w + "/undelete"), 409, "not_deleted")
	status, canvases = call(t.viewer, "GET", w + "/canvases")
	assert [x["id"] for x in canvases] == [t.canvas_id], canvases
	assert canvas_version(t.canvas_id, t.viewer) == 1
	# The canvas deleted on its own before stays deleted, and is listed as such.
	status, deleted = call(t.owner, "GET", w + "/canvases?deleted=true")
	assert [d["id"] for d in deleted] == [alone], deleted
