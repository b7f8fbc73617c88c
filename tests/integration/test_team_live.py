"""Live permissions (issue 11): role changes, removals and deletions reach open WebSockets on
every node, without the client reconnecting.

Sockets are opened directly on each of the three nodes of the session cluster while the change
is made through another node: the node that makes a change applies it to its own sockets and
pushes it over Redis; the others apply the push. A private cluster that drops every push
(FLOWSTATE_FAULT_BUS_DROP_EVERY=1) shows the second path: each node's read of the access feed in
Postgres (FLOWSTATE_ACCESS_POLL_MS) applies the same changes when pub/sub lost them.

Close codes: 4403 (removed from the workspace), 4404 (canvas or workspace deleted).
"""

import asyncio

import wsclient
from helpers import RestWriter, api, create_canvas, list_ops, make_team, rect
from test_multinode import make_cluster  # noqa: F401  (fixture)
from test_team import Team, call

REVOKED, DELETED = 4403, 4404


async def connect_everywhere(urls, canvas_id, user, label):
	clients = []
	for i, url in enumerate(urls):
		clients.append(await wsclient.connect(url, canvas_id, user, label="%s-%d" % (label, i)))
	return clients


async def assert_closed_with(clients, code):
	for c in clients:
		got = await c.wait_closed(timeout=15)
		assert got == code, (c.label, got, c.close_reason)


def test_a_removed_members_sockets_on_every_node_close_with_4403_and_others_stay(cluster):
	t = Team()
	urls = cluster.node_urls

	async def scenario():
		removed = await connect_everywhere(urls, t.canvas_id, t.editor, "removed")
		stays = await connect_everywhere(urls, t.canvas_id, t.viewer, "stays")
		try:
			status, body = call(t.owner, "DELETE", "/workspaces/%s/members/%s"
					    % (t.workspace_id, t.editor.id), base=urls[0])
			assert status == 200, body
			await assert_closed_with(removed, REVOKED)
			for c in removed:
				assert c.close_reason == "access revoked", c.close_reason
			# The others keep receiving: an op committed now reaches all of them.
			writer = RestWriter(urls[1], t.owner.token)
			committed = writer.commit(t.canvas_id, "create_shape", rect("after"))
			writer.close()
			for c in stays:
				await c.wait_version(committed["version"])
				assert not c.finished
			# The removed member cannot come back.
			status, _ = api("GET", "/api/v1/canvases/%s" % t.canvas_id, token=t.editor.token)
			assert status == 404
		finally:
			await wsclient.close_all(*removed, *stays)
	wsclient.run(scenario())


def test_a_demoted_members_next_write_is_refused_without_reconnecting_and_a_promotion_lets_it_write(
		cluster):
	t = Team()
	urls = cluster.node_urls
	member = "/workspaces/%s/members/%s" % (t.workspace_id, t.editor.id)

	async def scenario():
		clients = await connect_everywhere(urls, t.canvas_id, t.editor, "editor")
		try:
			for c in clients:
				await c.commit("create_shape", rect("before-" + c.label))
			status, body = call(t.owner, "PATCH", member, {"role": "viewer"}, base=urls[0])
			assert status == 200, body
			for c in clients:
				# Refused at once, whether or not the session heard of the change yet:
				# the commit reads the role it authorizes against.
				cid = await c.send_op("create_shape", rect("after-" + c.label))
				reply = await c.wait_reply(cid)
				assert reply["type"] == "error" and reply["code"] == "forbidden", reply
				m = await c.wait_type("role_changed")
				assert m == {"type": "role_changed", "role": "viewer"}, m
				start = len(c.messages)
				await c.send({"type": "undo"})
				m = await c.wait_type("error", start=start)
				assert m["code"] == "forbidden", m
			status, body = call(t.owner, "PATCH", member, {"role": "editor"}, base=urls[2])
			assert status == 200, body
			for c in clients:
				await c.wait_type("role_changed", lambda m: m["role"] == "editor")
				await c.commit("create_shape", rect("again-" + c.label))
				assert not c.finished
		finally:
			await wsclient.close_all(*clients)
	wsclient.run(scenario())
	ops = list_ops(t.canvas_id, t.owner)
	ids = sorted(o["payload"]["shape_id"] for o in ops)
	assert ids == sorted(["before-editor-%d" % i for i in range(3)]
			     + ["again-editor-%d" % i for i in range(3)]), ids


def test_a_member_who_leaves_has_their_sockets_closed(cluster):
	t = Team()

	async def scenario():
		clients = await connect_everywhere(cluster.node_urls, t.canvas_id, t.commenter, "c")
		try:
			status, body = call(t.commenter, "DELETE", "/workspaces/%s/members/%s"
					    % (t.workspace_id, t.commenter.id), base=cluster.node_urls[1])
			assert status == 200, body
			await assert_closed_with(clients, REVOKED)
		finally:
			await wsclient.close_all(*clients)
	wsclient.run(scenario())


def test_deleting_a_canvas_closes_its_sockets_on_every_node_with_4404_and_leaves_other_canvases(
		cluster):
	t = Team()
	other = create_canvas(t.owner, t.workspace_id)['id']
	urls = cluster.node_urls

	async def scenario():
		on_deleted = []
		for user, tag in ((t.owner, "owner"), (t.editor, "editor"), (t.viewer, "viewer")):
			on_deleted += await connect_everywhere(urls, t.canvas_id, user, tag)
		on_other = await connect_everywhere(urls, other, t.editor, "other")
		try:
			status, body = call(t.owner, "DELETE", "/canvases/%s" % t.canvas_id, base=urls[1])
			assert status == 200, body
			await assert_closed_with(on_deleted, DELETED)
			for c in on_other:
				await c.commit("create_shape", rect("still-" + c.label))
			# A reconnect is refused before the upgrade.
			status, _ = call(t.owner, "GET", "/canvases/%s" % t.canvas_id)
			assert status == 404
		finally:
			await wsclient.close_all(*on_deleted, *on_other)
	wsclient.run(scenario())


def test_deleting_a_workspace_closes_the_sockets_of_all_its_canvases_on_every_node(cluster):
	t = Team()
	second = create_canvas(t.owner, t.workspace_id)['id']
	urls = cluster.node_urls

	async def scenario():
		clients = (await connect_everywhere(urls, t.canvas_id, t.viewer, "a")
			   + await connect_everywhere(urls, second, t.editor, "b"))
		try:
			status, body = call(t.owner, "DELETE", "/workspaces/%s" % t.workspace_id,
					    base=urls[2])
			assert status == 200, body
			await assert_closed_with(clients, DELETED)
		finally:
			await wsclient.close_all(*clients)
	wsclient.run(scenario())


def test_with_every_push_lost_the_access_feed_still_closes_and_demotes_sockets_on_other_nodes(
		make_cluster):  # noqa: F811
	"""FLOWSTATE_FAULT_BUS_DROP_EVERY=1: no access push from another node arrives, so only each
	node's read of access_events in Postgres can apply the changes there."""
	c = make_cluster(FLOWSTATE_FAULT_BUS_DROP_EVERY="1", FLOWSTATE_ACCESS_POLL_MS="200")
	base = c.gateway_url
	t = make_team({"editor": "editor", "viewer": "viewer"}, base=base, name="live")
	owner, editor, viewer, ws = t.owner, t.editor, t.viewer, t.workspace_id
	canvas = create_canvas(owner, ws, base=base)["id"]
	changer, others = c.node_urls[0], c.node_urls[1:]

	async def scenario():
		editors = await connect_everywhere(others, canvas, editor, "editor")
		viewers = await connect_everywhere(others, canvas, viewer, "viewer")
		try:
			status, body = api("PATCH", "/api/v1/workspaces/%s/members/%s" % (ws, editor.id),
					   {"role": "commenter"}, token=owner.token, base=changer)
			assert status == 200, body
			for e in editors:
				await e.wait_type("role_changed", lambda m: m["role"] == "commenter")
			status, body = api("DELETE", "/api/v1/workspaces/%s/members/%s" % (ws, viewer.id),
					   token=owner.token, base=changer)
			assert status == 200, body
			await assert_closed_with(viewers, REVOKED)
			status, body = api("DELETE", "/api/v1/canvases/%s" % canvas, token=owner.token,
					   base=changer)
			assert status == 200, body
			await assert_closed_with(editors, DELETED)
		finally:
			await wsclient.close_all(*editors, *viewers)
	wsclient.run(scenario())
	dropped = sum(path.read_text(errors="replace").count("fault_bus_drop channel=all")
		      for path in c.node_logs)
	assert dropped >= 4, "the drop hook fired only %d times" % dropped


def test_a_session_opened_while_its_member_is_being_removed_does_not_outlive_the_removal(cluster):
	"""Sockets opened concurrently with the removal: whichever way the race goes, none of them
	stays open (a session authorized just before the change reads its access again)."""
	for attempt in range(3):
		t = Team()

		async def scenario():
			async def open_one(i):
				try:
					return await wsclient.connect(cluster.node_urls[i % 3], t.canvas_id,
								      t.editor, label="race%d" % i,
								      settle=False)
				except Exception:
					return None  # refused before the upgrade: removed already
			tasks = [asyncio.ensure_future(open_one(i)) for i in range(6)]
			await asyncio.sleep(0.01)
			status, body = call(t.owner, "DELETE", "/workspaces/%s/members/%s"
					    % (t.workspace_id, t.editor.id))
			assert status == 200, body
			clients = [c for c in await asyncio.gather(*tasks) if c is not None]
			try:
				await assert_closed_with(clients, REVOKED)
			finally:
				await wsclient.close_all(*clients)
		wsclient.run(scenario())
