"""Selection sync over the WebSocket (issue 11) on the 3-node session cluster: a session's
selected shapes reach the other sessions of the canvas on every node, coalesced like cursors;
presence entries carry the current selection so a joiner sees it; a session that leaves takes
its selection with it."""

import wsclient
from test_team import Team


def selection_from(c, session_id):
	"""The last selection message c received from session_id, or None."""
	found = None
	for m in c.messages:
		if m.get("type") == "selection" and m.get("session_id") == session_id:
			found = m
	return found


def presence_entry(sync, session_id):
	for entry in sync["presence"]:
		if entry["session_id"] == session_id:
			return entry
	return None


def test_a_selection_reaches_every_other_session_on_every_node_and_not_its_sender(cluster):
	t = Team()
	urls = cluster.node_urls

	async def scenario():
		a = await wsclient.connect(urls[0], t.canvas_id, t.viewer, label="a")
		b = await wsclient.connect(urls[1], t.canvas_id, t.editor, label="b")
		c = await wsclient.connect(urls[2], t.canvas_id, t.commenter, label="c")
		d = await wsclient.connect(urls[0], t.canvas_id, t.owner, label="d")
		try:
			assert a.sync["you"]["session_id"]
			for entry in a.sync["presence"]:
				assert entry["selection"] == [], entry
			sid = a.sync["you"]["session_id"]
			await a.send({"type": "selection", "shape_ids": ["s1", "s2"]})
			for other in (b, c, d):
				m = await other.wait_type("selection", lambda m: m["session_id"] == sid)
				assert m == {"type": "selection", "user_id": t.viewer.id, "session_id": sid,
					     "shape_ids": ["s1", "s2"]}, m
			await a.send({"type": "ping"})
			await a.wait_type("pong")
			assert a.find("selection") is None
		finally:
			await wsclient.close_all(a, b, c, d)
	wsclient.run(scenario())


def test_selections_are_coalesced_and_the_latest_one_wins_everywhere(cluster):
	t = Team()
	urls = cluster.node_urls

	async def scenario():
		a = await wsclient.connect(urls[0], t.canvas_id, t.editor, label="a")
		watchers = [await wsclient.connect(u, t.canvas_id, t.viewer, label="w%d" % i)
			    for i, u in enumerate(urls)]
		try:
			sid = a.sync["you"]["session_id"]
			for i in range(60):
				await a.send({"type": "selection", "shape_ids": ["s%d" % i]})
			final = ["s59"]
			for w in watchers:
				await w.wait(lambda: (selection_from(w, sid) or {}).get("shape_ids") == final,
					     what="the final selection")
				got = [m for m in w.of_type("selection") if m["session_id"] == sid]
				assert len(got) < 60, len(got)
				# In the order they were made: the numbers only go up.
				numbers = [int(m["shape_ids"][0][1:]) for m in got]
				assert numbers == sorted(numbers), numbers
		finally:
			await wsclient.close_all(a, *watchers)
	wsclient.run(scenario())


def test_a_joiner_on_any_node_sees_current_selections_in_presence_and_a_leaver_takes_its_own_away(
		cluster):
	t = Team()
	urls = cluster.node_urls

	async def scenario():
		a = await wsclient.connect(urls[0], t.canvas_id, t.editor, label="a")
		b = await wsclient.connect(urls[1], t.canvas_id, t.viewer, label="b")
		watcher = await wsclient.connect(urls[2], t.canvas_id, t.owner, label="watch")
		joiners = []
		try:
			a_sid = a.sync["you"]["session_id"]
			b_sid = b.sync["you"]["session_id"]
			await a.send({"type": "selection", "shape_ids": ["x", "y"]})
			await b.send({"type": "selection", "shape_ids": ["z"]})
			for sid, ids in ((a_sid, ["x", "y"]), (b_sid, ["z"])):
				await watcher.wait(lambda: (selection_from(watcher, sid) or {}).get(
					"shape_ids") == ids, what="selection of %s" % sid)
			# The watcher's node knows both now; so do a's (a) and b's (b) own nodes.
			for url in urls:
				j = await wsclient.connect(url, t.canvas_id, t.commenter, label="j")
				joiners.append(j)
				assert presence_entry(j.sync, a_sid)["selection"] in (["x", "y"], []), j.sync
			j = joiners[2]  # on the watcher's node: saw both relays
			assert presence_entry(j.sync, a_sid)["selection"] == ["x", "y"], j.sync["presence"]
			assert presence_entry(j.sync, b_sid)["selection"] == ["z"], j.sync["presence"]
			assert presence_entry(joiners[0].sync, a_sid)["selection"] == ["x", "y"]
			assert presence_entry(joiners[1].sync, b_sid)["selection"] == ["z"]
			# A cleared selection is an empty list.
			await b.send({"type": "selection", "shape_ids": []})
			await watcher.wait(lambda: (selection_from(watcher, b_sid) or {}).get(
				"shape_ids") == [], what="cleared selection")
			# Leaving: a presence_leave, and the next joiner no longer lists it.
			await a.close()
			await watcher.wait_type("presence_leave", lambda m: m["session_id"] == a_sid)
			late = await wsclient.connect(urls[2], t.canvas_id, t.commenter, label="late")
			joiners.append(late)
			assert presence_entry(late.sync, a_sid) is None, late.sync["presence"]
			assert presence_entry(late.sync, b_sid)["selection"] == [], late.sync["presence"]
		finally:
			await wsclient.close_all(a, b, watcher, *joiners)
	wsclient.run(scenario())


def test_a_selection_made_while_joining_is_in_presence_once_the_session_is_open(cluster):
	"""A client may select right after its sync, before its session is open: it is then
	announced with its presence_join (or relayed, if the session opened first), and a joiner on
	another node sees it."""
	t = Team()

	async def scenario():
		watcher = await wsclient.connect(cluster.node_urls[1], t.canvas_id, t.owner, label="w")
		a = await wsclient.connect(cluster.node_urls[0], t.canvas_id, t.editor, label="a",
					   settle=False)
		joiner = None
		try:
			await a.send({"type": "selection", "shape_ids": ["early"]})
			sid = a.sync["you"]["session_id"]

			def announced():
				m = selection_from(watcher, sid)
				j = watcher.find("presence_join", lambda m: m["user"]["session_id"] == sid)
				return ((m is not None and m["shape_ids"] == ["early"])
					or (j is not None and j["user"]["selection"] == ["early"]))
			await watcher.wait(announced, what="the early selection")
			joiner = await wsclient.connect(cluster.node_urls[1], t.canvas_id, t.viewer,
							label="j")
			assert presence_entry(joiner.sync, sid)["selection"] == ["early"], joiner.sync
		finally:
			await wsclient.close_all(a, watcher, joiner)
	wsclient.run(scenario())


def test_invalid_selections_get_an_error_and_the_socket_stays_open(cluster):
	t = Team()

	async def scenario():
		a = await wsclient.connect(cluster.gateway_url, t.canvas_id, t.viewer, label="a")
		try:
			bad = [({"type": "selection"}, "invalid_field"),
			       ({"type": "selection", "shape_ids": "s"}, "invalid_field"),
			       ({"type": "selection", "shape_ids": ["a", "a"]}, "invalid_field"),
			       ({"type": "selection", "shape_ids": ["has space"]}, "invalid_field"),
			       ({"type": "selection", "shape_ids": ["s%d" % i for i in range(257)]},
				"invalid_field"),
			       # an unknown member, as on every client message
			       ({"type": "selection", "shape_ids": [], "x": 1}, "unknown_field")]
			for msg, code in bad:
				start = len(a.messages)
				await a.send(msg)
				m = await a.wait_type("error", start=start)
				assert m["code"] == code, (msg, m)
			start = len(a.messages)
			await a.send({"type": "selection", "shape_ids": ["s%d" % i for i in range(256)]})
			await a.send({"type": "ping"})
			await a.wait_type("pong", start=start)
			assert a.find("error", start=start) is None
		finally:
			await a.close()
	wsclient.run(scenario())
