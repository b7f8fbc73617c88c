"""Comments (issue 11) over real HTTP and WebSocket: the role matrix of every comment endpoint,
validation, threads, and the realtime stream: every client of the canvas on every node gets
each comment change exactly once and in seq order, also when pub/sub drops messages
(FLOWSTATE_FAULT_BUS_DROP_EVERY, a private cluster) and across a reconnect with
?comment_since=.

A comment event on the WebSocket is {type: comment, seq, action, comment_id, comment}; seq is
gap-free per canvas (the cursor), `comment` the comment after the change (null for a deletion,
and once the comment has been deleted)."""

import asyncio
import urllib.parse
import uuid

import pytest
import websockets

import wsclient
from helpers import (RestWriter, add_member, api, canvas_version, create_canvas, list_ops,
		     make_team, rect)
from test_multinode import make_cluster  # noqa: F401  (fixture)
from test_team import Team, assert_error, call, expect, new_user


def post_comment(user, canvas_id, base=None, **body):
	body.setdefault("body", "hello " + uuid.uuid4().hex[:6])
	status, data = call(user, "POST", "/canvases/%s/comments" % canvas_id, body, base=base)
	assert status == 201, (status, data)
	return data


def threads(user, canvas_id, query=""):
	status, body = call(user, "GET", "/canvases/%s/comments%s" % (canvas_id, query))
	assert status == 200, (status, body)
	return body


def comment_events(c):
	return [m for m in c.messages if m.get("type") == "comment"]


def assert_stream(c, first, last):
	"""c received exactly the events first..last, once each, in order."""
	seqs = [m["seq"] for m in comment_events(c)]
	assert seqs == list(range(first, last + 1)), (c.label, seqs)


# ---------------------------------------------------------------------------------------------
# The role matrix.

@pytest.mark.parametrize("actor, expected", [
	("viewer", (403, "forbidden")),
	("commenter", 201),
	("editor", 201),
	("owner", 201),
	("outsider", (404, "not_found")),
])
def test_role_matrix_of_creating_a_comment(cluster, actor, expected):
	t = Team()
	user = t.who(actor)
	status, body = call(user, "POST", "/canvases/%s/comments" % t.canvas_id,
			    {"body": "Looks **good**", "shape_id": "s1", "x": 10.5, "y": -3})
	expect(status, body, expected)
	if expected == 201:
		assert body["body"] == "Looks **good**" and body["canvas_id"] == t.canvas_id, body
		assert body["author"] == {"user_id": user.id, "display_name": user.display_name}
		assert (body["shape_id"], body["x"], body["y"]) == ("s1", 10.5, -3), body
		assert body["parent_id"] is None and body["resolved"] is False, body
		assert body["created_at"] == body["updated_at"], body
		assert threads(t.owner, t.canvas_id)["seq"] == 1
	else:
		assert threads(t.owner, t.canvas_id) == {"canvas_id": t.canvas_id, "seq": 0,
							 "threads": []}


@pytest.mark.parametrize("actor, expected", [
	("viewer", 200), ("commenter", 200), ("editor", 200), ("owner", 200),
	("outsider", (404, "not_found")),
])
def test_role_matrix_of_reading_comments(cluster, actor, expected):
	t = Team()
	c = post_comment(t.commenter, t.canvas_id)
	status, body = call(t.who(actor), "GET", "/canvases/%s/comments" % t.canvas_id)
	expect(status, body, expected)
	status2, one = call(t.who(actor), "GET", "/comments/%s" % c["id"])
	expect(status2, one, expected)
	if expected == 200:
		assert body["threads"][0]["id"] == c["id"] and body["seq"] == 1, body
		assert one["id"] == c["id"] and one["replies"] == [], one


@pytest.mark.parametrize("actor, expected", [
	("author", 200),
	("other_commenter", (403, "forbidden")),
	("editor", (403, "forbidden")),
	("owner", (403, "forbidden")),
	("viewer", (403, "forbidden")),
	("outsider", (404, "not_found")),
])
def test_role_matrix_of_editing_a_comments_body(cluster, actor, expected):
	t = Team()
	author = new_user("author")
	add_member(t.owner, t.workspace_id, author, "commenter")
	other = new_user("other")
	add_member(t.owner, t.workspace_id, other, "commenter")
	c = post_comment(author, t.canvas_id, body="first")
	user = {"author": author, "other_commenter": other}.get(actor) or t.who(actor)
	status, body = call(user, "PATCH", "/comments/%s" % c["id"], {"body": "second"})
	expect(status, body, expected)
	now = call(t.owner, "GET", "/comments/%s" % c["id"])[1]
	if expected == 200:
		assert body["body"] == "second" and body["updated_at"] >= c["updated_at"], body
		assert now["body"] == "second"
	else:
		assert now["body"] == "first"


@pytest.mark.parametrize("actor, expected", [
	("author", 200),
	("other_commenter", (403, "forbidden")),
	("editor", 200),
	("owner", 200),
	("viewer", (403, "forbidden")),
	("outsider", (404, "not_found")),
])
def test_role_matrix_of_resolving_a_thread(cluster, actor, expected):
	t = Team()
	author = new_user("author")
	add_member(t.owner, t.workspace_id, author, "commenter")
	other = new_user("other")
	add_member(t.owner, t.workspace_id, other, "commenter")
	c = post_comment(author, t.canvas_id)
	user = {"author": author, "other_commenter": other}.get(actor) or t.who(actor)
	status, body = call(user, "PATCH", "/comments/%s" % c["id"], {"resolved": True})
	expect(status, body, expected)
	now = call(t.owner, "GET", "/comments/%s" % c["id"])[1]
	if expected == 200:
		assert body["resolved"] is True and body["resolved_by"] == user.id, body
		assert body["resolved_at"], body
		status, body = call(user, "PATCH", "/comments/%s" % c["id"], {"resolved": False})
		assert status == 200 and body["resolved"] is False and body["resolved_by"] is None
	else:
		assert now["resolved"] is False


@pytest.mark.parametrize("actor, expected", [
	("author", 200),
	("other_commenter", (403, "forbidden")),
	("editor", (403, "forbidden")),
	("owner", 200),
	("viewer", (403, "forbidden")),
	("outsider", (404, "not_found")),
])
def test_role_matrix_of_deleting_a_comment(cluster, actor, expected):
	t = Team()
	author = new_user("author")
	add_member(t.owner, t.workspace_id, author, "commenter")
	other = new_user("other")
	add_member(t.owner, t.workspace_id, other, "commenter")
	c = post_comment(author, t.canvas_id)
	user = {"author": author, "other_commenter": other}.get(actor) or t.who(actor)
	status, body = call(user, "DELETE", "/comments/%s" % c["id"])
	expect(status, body, expected)
	status_after = call(t.owner, "GET", "/comments/%s" % c["id"])[0]
	if expected == 200:
		assert body == {"id": c["id"], "canvas_id": t.canvas_id, "deleted": True,
				"replies_deleted": 0}, body
		assert status_after == 404
	else:
		assert status_after == 200


def test_a_demoted_author_can_no_longer_edit_or_delete_their_comment(cluster):
	t = Team()
	c = post_comment(t.commenter, t.canvas_id)
	call(t.owner, "PATCH", "/workspaces/%s/members/%s" % (t.workspace_id, t.commenter.id),
	     {"role": "viewer"})
	assert_error(*call(t.commenter, "PATCH", "/comments/%s" % c["id"], {"body": "x"}), 403,
		     "forbidden")
	assert_error(*call(t.commenter, "DELETE", "/comments/%s" % c["id"]), 403, "forbidden")
	assert_error(*call(t.commenter, "POST", "/canvases/%s/comments" % t.canvas_id,
			   {"body": "x"}), 403, "forbidden")


# ---------------------------------------------------------------------------------------------
# Threads and validation.

def test_threads_hold_their_replies_and_filter_by_resolved(cluster):
	t = Team()
	a = post_comment(t.commenter, t.canvas_id, body="thread a", shape_id="s1")
	b = post_comment(t.editor, t.canvas_id, body="thread b", x=1, y=2)
	r1 = post_comment(t.owner, t.canvas_id, body="reply 1", parent_id=a["id"])
	r2 = post_comment(t.commenter, t.canvas_id, body="reply 2", parent_id=a["id"])
	assert r1["parent_id"] == a["id"] and r1["shape_id"] is None
	call(t.editor, "PATCH", "/comments/%s" % b["id"], {"resolved": True})
	all_ = threads(t.viewer, t.canvas_id)
	assert all_["seq"] == 5, all_
	assert [x["id"] for x in all_["threads"]] == [a["id"], b["id"]]
	assert [x["id"] for x in all_["threads"][0]["replies"]] == [r1["id"], r2["id"]]
	assert all_["threads"][1]["replies"] == []
	assert [x["id"] for x in threads(t.viewer, t.canvas_id, "?resolved=true")["threads"]] == [
		b["id"]]
	assert [x["id"] for x in threads(t.viewer, t.canvas_id, "?resolved=false")["threads"]] == [
		a["id"]]
	assert_error(*call(t.viewer, "GET", "/canvases/%s/comments?resolved=yes" % t.canvas_id), 422,
		     "invalid_query")
	status, one = call(t.viewer, "GET", "/comments/%s" % r1["id"])
	assert status == 200 and "replies" not in one, one
	# Replies are not threads: no replies to them, no resolving them.
	assert_error(*call(t.owner, "POST", "/canvases/%s/comments" % t.canvas_id,
			   {"body": "deep", "parent_id": r1["id"]}), 422, "invalid_field")
	assert_error(*call(t.owner, "PATCH", "/comments/%s" % r1["id"], {"resolved": True}), 422,
		     "invalid_field")
	# Deleting a thread deletes its replies.
	status, body = call(t.owner, "DELETE", "/comments/%s" % a["id"])
	assert status == 200 and body["replies_deleted"] == 2, body
	for gone in (a, r1, r2):
		assert call(t.owner, "GET", "/comments/%s" % gone["id"])[0] == 404
	assert [x["id"] for x in threads(t.viewer, t.canvas_id)["threads"]] == [b["id"]]


@pytest.mark.parametrize("body, code", [
	({}, "missing_field"),
	({"body": ""}, "invalid_field"),
	({"body": " \n\t "}, "invalid_field"),
	({"body": "x" * 4001}, "invalid_field"),
	({"body": "bell\u0007"}, "invalid_field"),
	({"body": 5}, "invalid_field"),
	({"body": "ok", "shape_id": "has space"}, "invalid_field"),
	({"body": "ok", "x": 1}, "invalid_field"),
	({"body": "ok", "x": 1, "y": "2"}, "invalid_field"),
	({"body": "ok", "x": 1e10, "y": 0}, "invalid_field"),
	({"body": "ok", "parent_id": "nope"}, "invalid_field"),
	({"body": "ok", "parent_id": str(uuid.uuid4())}, "invalid_field"),
	({"body": "ok", "mention": "x"}, "unknown_field"),
])
def test_comment_bodies_and_anchors_are_validated(cluster, body, code):
	t = Team()
	assert_error(*call(t.commenter, "POST", "/canvases/%s/comments" % t.canvas_id, body), 422,
		     code)
	assert threads(t.owner, t.canvas_id)["seq"] == 0


def test_comment_edits_are_validated_and_a_no_change_edit_makes_no_event(cluster):
	t = Team()
	c = post_comment(t.commenter, t.canvas_id, body="same")
	for body, code in (({}, "missing_field"), ({"body": ""}, "invalid_field"),
			   ({"resolved": "yes"}, "invalid_field"), ({"pinned": True}, "unknown_field")):
		assert_error(*call(t.commenter, "PATCH", "/comments/%s" % c["id"], body), 422, code)
	status, body = call(t.commenter, "PATCH", "/comments/%s" % c["id"], {"body": "same"})
	assert status == 200 and body["body"] == "same", body
	assert threads(t.owner, t.canvas_id)["seq"] == 1
	body_with_markdown = "# Title\n\n* item\t`code` — ünïcødé ✓"
	status, body = call(t.commenter, "PATCH", "/comments/%s" % c["id"],
			    {"body": body_with_markdown})
	assert status == 200 and body["body"] == body_with_markdown, body
	assert_error(*call(t.commenter, "PATCH", "/comments/%s" % uuid.uuid4(), {"body": "x"}), 404,
		     "not_found")
	assert_error(*call(t.commenter, "DELETE", "/comments/not-a-uuid"), 404, "not_found")


def test_comments_stay_outside_the_shape_log_and_survive_undo_and_restore(cluster):
	t = Team()
	writer = RestWriter(cluster.gateway_url, t.editor.token)
	writer.commit(t.canvas_id, "create_shape", rect("r1"))
	writer.close()
	c = post_comment(t.editor, t.canvas_id, shape_id="r1")
	assert canvas_version(t.canvas_id, t.owner) == 1
	status, body = call(t.editor, "POST", "/canvases/%s/undo" % t.canvas_id)
	assert status == 200 and body["applied"], body
	status, body = call(t.editor, "POST", "/canvases/%s/restore" % t.canvas_id, {"version": 1})
	assert status == 200, body
	ops = list_ops(t.canvas_id, t.owner)
	assert [o["type"] for o in ops] == ["create_shape", "delete_shape", "create_shape"], ops
	got = threads(t.viewer, t.canvas_id)
	assert [x["id"] for x in got["threads"]] == [c["id"]] and got["seq"] == 1, got


def test_comments_of_a_deleted_canvas_answer_404_and_come_back_with_it(cluster):
	t = Team()
	c = post_comment(t.commenter, t.canvas_id)
	assert call(t.owner, "DELETE", "/canvases/%s" % t.canvas_id)[0] == 200
	for method, path, body in (("GET", "/canvases/%s/comments" % t.canvas_id, None),
				   ("POST", "/canvases/%s/comments" % t.canvas_id, {"body": "x"}),
				   ("GET", "/comments/%s" % c["id"], None),
				   ("PATCH", "/comments/%s" % c["id"], {"body": "x"}),
				   ("DELETE", "/comments/%s" % c["id"], None)):
		assert_error(*call(t.owner, method, path, body), 404, "not_found")
	assert call(t.owner, "POST", "/canvases/%s/undelete" % t.canvas_id)[0] == 200
	assert [x["id"] for x in threads(t.viewer, t.canvas_id)["threads"]] == [c["id"]]


def test_a_canvas_holds_at_most_1000_comments(cluster):
	t = Team()
	post_comment(t.commenter, t.canvas_id)
	cluster.psql("INSERT INTO comments (canvas_id, author_id, body) SELECT '%s', '%s', 'bulk ' "
		     "|| g FROM generate_series(1, 999) g" % (t.canvas_id, t.commenter.id))
	status, body = call(t.commenter, "POST", "/canvases/%s/comments" % t.canvas_id,
			    {"body": "one too many"})
	assert_error(status, body, 422, "too_many_comments")


# ---------------------------------------------------------------------------------------------
# Realtime.

async def exercise(t, urls):
	"""A mix of comment changes made through every node: create, reply, edit, resolve, delete.
	Returns the number of events (the seq of the last)."""
	a = post_comment(t.commenter, t.canvas_id, base=urls[0], body="a", shape_id="s1")
	r = post_comment(t.editor, t.canvas_id, base=urls[1], body="reply", parent_id=a["id"])
	b = post_comment(t.owner, t.canvas_id, base=urls[2], body="b", x=3, y=4)
	assert call(t.commenter, "PATCH", "/comments/%s" % a["id"], {"body": "a2"},
		    base=urls[1])[0] == 200
	assert call(t.editor, "PATCH", "/comments/%s" % b["id"], {"resolved": True},
		    base=urls[0])[0] == 200
	assert call(t.owner, "DELETE", "/comments/%s" % a["id"], base=urls[2])[0] == 200  # a and r
	return 7, a, r, b


def test_comment_events_reach_every_client_on_every_node_once_in_order_with_their_content(
		cluster):
	t = Team()
	urls = cluster.node_urls

	async def scenario():
		clients = [await wsclient.connect(url, t.canvas_id, user, label="%s-%d" % (tag, i))
			   for i, url in enumerate(urls)
			   for user, tag in ((t.viewer, "viewer"), (t.commenter, "commenter"))]
		try:
			for c in clients:
				assert c.sync["comments"] == {"seq": 0, "mode": "state", "threads": []}
			last, a, r, b = await exercise(t, urls)
			for c in clients:
				await c.wait(lambda: len(comment_events(c)) >= last, what="7 comment events")
			await asyncio.sleep(0.3)  # nothing more may come
			for c in clients:
				assert_stream(c, 1, last)
				ev = comment_events(c)
				assert [(e["action"], e["comment_id"]) for e in ev] == [
					("created", a["id"]), ("created", r["id"]), ("created", b["id"]),
					("updated", a["id"]), ("updated", b["id"]), ("deleted", r["id"]),
					("deleted", a["id"])], ev
				assert ev[0]["comment"]["body"] == "a" and ev[3]["comment"]["body"] == "a2"
				assert ev[2]["comment"]["x"] == 3 and ev[4]["comment"]["resolved"] is True
				assert ev[5]["comment"] is None and ev[6]["comment"] is None
		finally:
			await wsclient.close_all(*clients)
	wsclient.run(scenario())


def test_a_reconnect_with_comment_since_gets_exactly_the_missed_events_then_the_live_ones(
		cluster):
	t = Team()
	urls = cluster.node_urls

	async def scenario():
		c = await wsclient.connect(urls[0], t.canvas_id, t.viewer, label="first")
		post_comment(t.commenter, t.canvas_id, base=urls[1], body="one")
		post_comment(t.commenter, t.canvas_id, base=urls[2], body="two")
		await c.wait(lambda: len(comment_events(c)) >= 2, what="2 events")
		seen = comment_events(c)[-1]["seq"]
		await c.close()
		missed = [post_comment(t.editor, t.canvas_id, base=urls[i % 3], body="m%d" % i)
			  for i in range(3)]
		again = await connect_path(urls[1], comments_ws_path(t.canvas_id, t.viewer.token, seen),
					   "again")
		try:
			sync = again.sync["comments"]
			assert sync["mode"] == "events" and sync["seq"] == 5, sync
			assert [e["seq"] for e in sync["events"]] == [3, 4, 5], sync
			assert [e["comment"]["body"] for e in sync["events"]] == ["m0", "m1", "m2"]
			assert [e["comment_id"] for e in sync["events"]] == [m["id"] for m in missed]
			post_comment(t.owner, t.canvas_id, base=urls[2], body="live")
			await again.wait(lambda: comment_events(again), what="the live event")
			await asyncio.sleep(0.2)
			assert [e["seq"] for e in comment_events(again)] == [6]
			# Without comment_since (or too far behind): the threads as they are, and the seq.
			fresh = await wsclient.connect(urls[2], t.canvas_id, t.viewer, label="fresh")
			assert fresh.sync["comments"]["mode"] == "state"
			assert fresh.sync["comments"]["seq"] == 6
			assert [x["body"] for x in fresh.sync["comments"]["threads"]] == [
				"one", "two", "m0", "m1", "m2", "live"]
			await fresh.close()
			ahead = await connect_path(urls[0], comments_ws_path(t.canvas_id, t.viewer.token, 99),
						   "ahead")
			assert ahead.sync["comments"]["mode"] == "state"
			await ahead.close()
		finally:
			await again.close()
	wsclient.run(scenario())


def comments_ws_path(canvas_id, token, comment_since):
	return "/api/v1/canvases/%s/ws?%s" % (canvas_id, urllib.parse.urlencode(
		{"token": token, "comment_since": str(comment_since)}))


async def connect_path(base, path, label):
	"""Like wsclient.connect, with a hand-made path (for ?comment_since=)."""
	u = urllib.parse.urlsplit(base)
	ws = await asyncio.wait_for(websockets.connect(
		"ws://%s:%d%s" % (u.hostname, u.port, path), open_timeout=10, close_timeout=5,
		max_size=None, max_queue=None, ping_interval=None, compression=None), 11)
	c = wsclient.WsClient(ws, label)
	await c.wait(lambda: c.messages, 10, "sync message")
	assert c.messages[0]["type"] == "sync", c.messages[0]
	c.sync = c.messages[0]
	return c


def test_a_deleted_comments_earlier_events_lose_its_text_for_clients_catching_up(cluster):
	t = Team()
	c = post_comment(t.commenter, t.canvas_id, body="secret")
	post_comment(t.commenter, t.canvas_id, body="kept")
	assert call(t.commenter, "DELETE", "/comments/%s" % c["id"])[0] == 200

	async def scenario():
		late = await connect_path(cluster.gateway_url,
					  comments_ws_path(t.canvas_id, t.viewer.token, 0), "late")
		try:
			events = late.sync["comments"]["events"]
			assert [(e["seq"], e["action"]) for e in events] == [
				(1, "created"), (2, "created"), (3, "deleted")], events
			assert events[0]["comment"] is None and events[2]["comment"] is None
			assert events[1]["comment"]["body"] == "kept"
			assert "secret" not in str(late.sync)
		finally:
			await late.close()
	wsclient.run(scenario())


def test_with_pubsub_dropping_comment_batches_every_client_still_gets_every_event_once_in_order(
		make_cluster):  # noqa: F811
	"""FLOWSTATE_FAULT_BUS_DROP_EVERY=2: every second comment batch from another node is lost,
	the last one included; rooms refill the gaps from Postgres (gap timeout, head check)."""
	c = make_cluster(FLOWSTATE_FAULT_BUS_DROP_EVERY="2")
	base = c.gateway_url
	t = make_team({"commenter": "commenter"}, base=base, name="drop")
	owner, commenter = t.owner, t.commenter
	canvas = create_canvas(owner, t.workspace_id, base=base)["id"]
	n = 24

	async def scenario():
		clients = [await wsclient.connect(url, canvas, commenter, label="c%d" % i)
			   for i, url in enumerate(c.node_urls)]
		try:
			for i in range(n):
				status, body = api("POST", "/api/v1/canvases/%s/comments" % canvas,
						   {"body": "c%d" % i}, token=commenter.token,
						   base=c.node_urls[i % 3])
				assert status == 201, body
			for cl in clients:
				await cl.wait(lambda: len(comment_events(cl)) >= n, timeout=20,
					      what="%d comment events" % n)
			await asyncio.sleep(0.5)
			for cl in clients:
				assert_stream(cl, 1, n)
				assert [e["comment"]["body"] for e in comment_events(cl)] == [
					"c%d" % i for i in range(n)]
		finally:
			await wsclient.close_all(*clients)
	wsclient.run(scenario())
	dropped = sum(p.read_text(errors="replace").count("stream=comments") for p in c.node_logs)
	assert dropped >= 8, "the drop hook fired only %d times on comment batches" % dropped
