"""Workspace invites over real HTTP on the 3-node session cluster (issue 11): creation and the
role matrix of every invite endpoint, the lifecycle (email-bound, expiry, max uses, revoke),
concurrent accepts of a single-use invite on different nodes (exactly one wins), and accepting
as an existing member (never lowers a role, and raises it live on open sockets)."""

import re
import threading
import time
import uuid

import pytest

import wsclient
from helpers import rect
from test_team import Team, assert_error, call, expect, members_of, new_user

TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def invite(owner, workspace_id, **body):
	body.setdefault("role", "editor")
	status, data = call(owner, "POST", "/workspaces/%s/invites" % workspace_id, body)
	assert status == 201, (status, data)
	return data


def accept(user, token, base=None):
	return call(user, "POST", "/invites/%s/accept" % token, base=base)


# ---------------------------------------------------------------------------------------------
# Creation, listing, revoking: the role matrix.

@pytest.mark.parametrize("actor, expected", [
	("owner", 201),
	("editor", (403, "forbidden")),
	("commenter", (403, "forbidden")),
	("viewer", (403, "forbidden")),
	("outsider", (404, "not_found")),
])
def test_role_matrix_of_creating_an_invite(cluster, actor, expected):
	t = Team()
	status, body = call(t.who(actor), "POST", "/workspaces/%s/invites" % t.workspace_id,
			    {"role": "commenter"})
	expect(status, body, expected)
	if expected == 201:
		assert TOKEN.match(body["token"]), body
		assert body["url"] == "/#/invite/" + body["token"], body
		assert body["role"] == "commenter" and body["workspace_id"] == t.workspace_id, body
		assert body["email"] is None and body["max_uses"] is None and body["uses"] == 0, body
		assert body["status"] == "active" and body["revoked_at"] is None, body
		assert body["created_by"] == t.owner.id and body["expires_at"] > body["created_at"]


@pytest.mark.parametrize("actor, expected", [
	("owner", 200),
	("editor", (403, "forbidden")),
	("commenter", (403, "forbidden")),
	("viewer", (403, "forbidden")),
	("outsider", (404, "not_found")),
])
def test_role_matrix_of_listing_invites(cluster, actor, expected):
	t = Team()
	first = invite(t.owner, t.workspace_id)
	second = invite(t.owner2, t.workspace_id, role="viewer", email="Someone@Example.com")
	status, body = call(t.who(actor), "GET", "/workspaces/%s/invites" % t.workspace_id)
	expect(status, body, expected)
	if expected == 200:
		assert [i["id"] for i in body] == [second["id"], first["id"]], body
		for entry in body:
			assert "token" not in entry and "url" not in entry, entry
		assert body[0]["email"] == "someone@example.com" and body[0]["max_uses"] == 1, body


@pytest.mark.parametrize("actor, expected", [
	("owner", 200),
	("editor", (403, "forbidden")),
	("commenter", (403, "forbidden")),
	("viewer", (403, "forbidden")),
	("outsider", (404, "not_found")),
])
def test_role_matrix_of_revoking_an_invite(cluster, actor, expected):
	t = Team()
	inv = invite(t.owner, t.workspace_id)
	status, body = call(t.who(actor), "DELETE", "/workspaces/%s/invites/%s"
			    % (t.workspace_id, inv["id"]))
	expect(status, body, expected)
	joiner = new_user("joiner")
	if expected == 200:
		assert body["status"] == "revoked" and body["revoked_at"], body
		assert_error(*call(joiner, "GET", "/invites/%s" % inv["token"]), 404, "not_found")
		assert_error(*accept(joiner, inv["token"]), 404, "not_found")
		# Revoking again answers it as it is.
		status, again = call(t.owner, "DELETE", "/workspaces/%s/invites/%s"
				     % (t.workspace_id, inv["id"]))
		assert status == 200 and again["revoked_at"] == body["revoked_at"], again
	else:
		assert accept(joiner, inv["token"])[0] == 200


@pytest.mark.parametrize("body, field", [
	({}, "role"), ({"role": "admin"}, "role"), ({"role": "viewer", "email": "nope"}, "email"),
	({"role": "viewer", "expires_in": 59}, "expires_in"),
	({"role": "viewer", "expires_in": 30 * 86400 + 1}, "expires_in"),
	({"role": "viewer", "expires_in": "60"}, "expires_in"),
	({"role": "viewer", "max_uses": 0}, "max_uses"),
	({"role": "viewer", "max_uses": 10001}, "max_uses"),
	({"role": "viewer", "max_uses": 1.5}, "max_uses"),
	({"role": "viewer", "uses": 3}, "uses"),
])
def test_invite_creation_validates_its_body(cluster, body, field):
	t = Team()
	status, data = call(t.owner, "POST", "/workspaces/%s/invites" % t.workspace_id, body)
	assert status == 422, (status, data)
	assert field in data["detail"], data


def test_revoking_an_unknown_or_foreign_invite_is_404(cluster):
	t, other = Team(), Team()
	foreign = invite(other.owner, other.workspace_id)
	for invite_id in (foreign["id"], str(uuid.uuid4()), "nope"):
		assert_error(*call(t.owner, "DELETE", "/workspaces/%s/invites/%s"
				   % (t.workspace_id, invite_id)), 404, "not_found")
	assert accept(new_user("j"), foreign["token"])[0] == 200


# ---------------------------------------------------------------------------------------------
# Reading and accepting.

def test_anyone_signed_in_with_the_token_sees_what_it_is_for_and_joins(cluster):
	t = Team()
	status, renamed = call(t.owner, "PATCH", "/workspaces/%s" % t.workspace_id,
			       {"name": "Design team"})
	assert status == 200
	inv = invite(t.owner, t.workspace_id, role="commenter")
	joiner = new_user("joiner")
	for url in cluster.node_urls:
		status, body = call(joiner, "GET", "/invites/%s" % inv["token"], base=url)
		assert status == 200, body
		assert body == {"workspace": {"id": t.workspace_id, "name": "Design team"},
				"role": "commenter", "email": None,
				"invited_by": {"user_id": t.owner.id,
					       "display_name": t.owner.display_name},
				"expires_at": inv["expires_at"], "your_role": None}, body
	assert_error(*call(None, "GET", "/invites/%s" % inv["token"]), 401, "unauthorized")
	assert_error(*call(None, "POST", "/invites/%s/accept" % inv["token"]), 401, "unauthorized")
	status, body = accept(joiner, inv["token"])
	assert status == 200 and body == {"workspace_id": t.workspace_id, "role": "commenter"}, body
	assert members_of(t.owner, t.workspace_id)[joiner.id] == "commenter"
	status, body = call(joiner, "GET", "/invites/%s" % inv["token"])
	assert status == 200 and body["your_role"] == "commenter", body
	# A link invite has no use limit: more people can join with it.
	assert accept(new_user("second"), inv["token"]) == (200, {"workspace_id": t.workspace_id,
								    "role": "commenter"})
	status, listed = call(t.owner, "GET", "/workspaces/%s/invites" % t.workspace_id)
	assert listed[0]["uses"] == 2 and listed[0]["status"] == "active", listed


@pytest.mark.parametrize("token", ["nope", "A" * 43, "A" * 42 + "=", "A" * 44, "%2e%2e"])
def test_unknown_or_malformed_tokens_are_404(cluster, token):
	user = new_user("u")
	assert_error(*call(user, "GET", "/invites/%s" % token), 404, "not_found")
	assert_error(*accept(user, token), 404, "not_found")


def test_an_email_bound_invite_is_only_for_that_account(cluster):
	t = Team()
	invitee = new_user("invitee")
	inv = invite(t.owner, t.workspace_id, role="viewer", email=invitee.email.upper())
	assert inv["email"] == invitee.email and inv["max_uses"] == 1, inv
	stranger = new_user("stranger")
	assert_error(*call(stranger, "GET", "/invites/%s" % inv["token"]), 403, "forbidden")
	assert_error(*accept(stranger, inv["token"]), 403, "forbidden")
	assert stranger.id not in members_of(t.owner, t.workspace_id)
	status, body = call(invitee, "GET", "/invites/%s" % inv["token"])
	assert status == 200 and body["email"] == invitee.email, body
	assert accept(invitee, inv["token"])[0] == 200
	assert members_of(t.owner, t.workspace_id)[invitee.id] == "viewer"
	# Used: its one use is gone (for its own account too, which is a member now anyway).
	assert_error(*call(invitee, "GET", "/invites/%s" % inv["token"]), 410, "invite_used_up")


def test_max_uses_counts_accepts_and_then_the_invite_is_410(cluster):
	t = Team()
	inv = invite(t.owner, t.workspace_id, role="viewer", max_uses=2)
	users = [new_user("u%d" % i) for i in range(3)]
	assert accept(users[0], inv["token"])[0] == 200
	assert accept(users[1], inv["token"])[0] == 200
	assert_error(*accept(users[2], inv["token"]), 410, "invite_used_up")
	assert_error(*call(users[2], "GET", "/invites/%s" % inv["token"]), 410, "invite_used_up")
	assert users[2].id not in members_of(t.owner, t.workspace_id)
	status, listed = call(t.owner, "GET", "/workspaces/%s/invites" % t.workspace_id)
	assert listed[0]["uses"] == 2 and listed[0]["status"] == "used_up", listed


def test_an_expired_invite_is_410(cluster):
	t = Team()
	inv = invite(t.owner, t.workspace_id, role="viewer", expires_in=60)
	# Move its expiry into the past in the database: tests do not wait a minute.
	cluster.psql("UPDATE invites SET expires_at = now() - interval '1 second' WHERE id = '%s'"
		     % inv["id"])
	user = new_user("late")
	assert_error(*call(user, "GET", "/invites/%s" % inv["token"]), 410, "invite_expired")
	assert_error(*accept(user, inv["token"]), 410, "invite_expired")
	status, listed = call(t.owner, "GET", "/workspaces/%s/invites" % t.workspace_id)
	assert listed[0]["status"] == "expired", listed
	assert user.id not in members_of(t.owner, t.workspace_id)


def test_invites_of_a_deleted_workspace_are_404(cluster):
	t = Team()
	inv = invite(t.owner, t.workspace_id)
	assert call(t.owner, "DELETE", "/workspaces/%s" % t.workspace_id)[0] == 200
	user = new_user("u")
	assert_error(*call(user, "GET", "/invites/%s" % inv["token"]), 404, "not_found")
	assert_error(*accept(user, inv["token"]), 404, "not_found")
	assert_error(*call(t.owner, "POST", "/workspaces/%s/invites" % t.workspace_id,
			   {"role": "viewer"}), 404, "not_found")


def test_accepting_as_an_existing_member_never_lowers_the_role_nor_counts_a_use(cluster):
	t = Team()
	inv = invite(t.owner, t.workspace_id, role="commenter", max_uses=1)
	for user, role in ((t.owner, "owner"), (t.editor, "editor"), (t.commenter, "commenter")):
		status, body = accept(user, inv["token"])
		assert status == 200 and body == {"workspace_id": t.workspace_id, "role": role}, body
	assert members_of(t.owner, t.workspace_id)[t.editor.id] == "editor"
	status, listed = call(t.owner, "GET", "/workspaces/%s/invites" % t.workspace_id)
	assert listed[0]["uses"] == 0 and listed[0]["status"] == "active", listed
	# A viewer is raised by it, and that counts.
	status, body = accept(t.viewer, inv["token"])
	assert body == {"workspace_id": t.workspace_id, "role": "commenter"}, body
	assert_error(*accept(new_user("x"), inv["token"]), 410, "invite_used_up")


def test_concurrent_accepts_of_a_single_use_invite_on_every_node_admit_exactly_one(cluster):
	for attempt in range(3):
		t = Team()
		inv = invite(t.owner, t.workspace_id, role="editor", max_uses=1)
		users = [new_user("racer%d" % i) for i in range(6)]
		results = [None] * len(users)
		barrier = threading.Barrier(len(users))

		def run(i):
			barrier.wait()
			results[i] = accept(users[i], inv["token"],
					    base=cluster.node_urls[i % len(cluster.node_urls)])

		threads = [threading.Thread(target=run, args=(i,)) for i in range(len(users))]
		for th in threads:
			th.start()
		for th in threads:
			th.join(60)
		winners = [i for i, r in enumerate(results) if r[0] == 200]
		assert len(winners) == 1, (attempt, results)
		for i, (status, body) in enumerate(results):
			if i not in winners:
				assert_error(status, body, 410, "invite_used_up")
		members = members_of(t.owner, t.workspace_id)
		joined = [u for u in users if u.id in members]
		assert [u.id for u in joined] == [users[winners[0]].id], (attempt, members)
		status, listed = call(t.owner, "GET", "/workspaces/%s/invites" % t.workspace_id)
		assert listed[0]["uses"] == 1, listed


def test_accepting_an_invite_raises_the_role_live_on_open_sockets_of_other_nodes(cluster):
	t = Team()
	inv = invite(t.owner, t.workspace_id, role="editor")

	async def scenario():
		clients = [await wsclient.connect(url, t.canvas_id, t.viewer, label="v%d" % i)
			   for i, url in enumerate(cluster.node_urls)]
		try:
			status, body = accept(t.viewer, inv["token"], base=cluster.node_urls[0])
			assert status == 200 and body["role"] == "editor", body
			for c in clients:
				await c.wait_type("role_changed", lambda m: m["role"] == "editor")
				await c.commit("create_shape", rect("by-" + c.label))
		finally:
			await wsclient.close_all(*clients)
	wsclient.run(scenario())


def test_the_gateway_log_never_shows_an_invite_token(cluster):
	t = Team()
	inv = invite(t.owner, t.workspace_id)
	user = new_user("u")
	assert call(user, "GET", "/invites/%s" % inv["token"])[0] == 200
	assert accept(user, inv["token"])[0] == 200
	deadline = time.monotonic() + 10
	logs = [cluster.gateway_access_log, cluster.gateway_error_log] + [
		cluster.logs_dir / ("node%d.log" % (i + 1)) for i in range(len(cluster.node_urls))]
	while True:
		text = "".join(p.read_text(errors="replace") for p in logs if p.exists())
		if "/api/v1/invites/<token>/accept" in text:
			break
		assert time.monotonic() < deadline, "no masked invite line in the gateway log"
		time.sleep(0.1)
	assert inv["token"] not in text
