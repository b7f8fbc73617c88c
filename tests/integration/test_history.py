"""History over real HTTP: named checkpoints, diff between versions, restore (including restore
racing writers on other nodes, which must stay atomic and keep versions gap-free), per-user
activity with its privacy rule, and the SVG export (well-formed XML, text escaped).

Every test creates its own users, workspace and canvas, so tests never depend on each other.
"""

import datetime
import threading
import time
import uuid
import xml.etree.ElementTree as ET

import pytest

from flowstate.api import request
from helpers import (add_member, api, assert_error, commit, create_canvas, create_workspace,
		     get_state, list_ops, new_user, rect)
from model import replay

SVG_NS = "{http://www.w3.org/2000/svg}"


# ---------------------------------------------------------------------------------------------
# Helpers.

def canvas(owner, ws=None):
	"""A new canvas of owner's, in ws or in a new workspace of its own; its id."""
	ws = ws or create_workspace(owner, "history")["id"]
	return create_canvas(owner, ws, "board")["id"]


@pytest.fixture
def design_scenario(cluster):
	"""DESIGN.md's scenario: create A (v1), create B (v2), move A (v3), delete B (v4)."""
	owner = new_user("hist")
	cid = canvas(owner)
	commit(cid, owner, "create_shape", rect("A", 0, 0))
	commit(cid, owner, "create_shape", {"shape_id": "B", "kind": "ellipse", "x": 100, "y": 0,
					    "w": 20, "h": 20})
	commit(cid, owner, "move_shape", {"shape_id": "A", "x": 50, "y": 60})
	commit(cid, owner, "delete_shape", {"shape_id": "B"})
	return owner, cid


# ---------------------------------------------------------------------------------------------
# Restore.

def test_restore_reaches_exactly_the_old_state_with_minimal_forward_ops(design_scenario):
	owner, cid = design_scenario
	at2 = get_state(cid, owner, at=2)
	status, body = owner.call("POST", "/canvases/%s/restore" % cid, {"version": 2})
	assert status == 200, (status, body)
	assert body["canvas_id"] == cid and body["restored_to"] == 2
	assert body["version"] == 6
	ops = body["operations"]
	assert sorted((o["type"], o["payload"]["shape_id"]) for o in ops) == [
		("create_shape", "B"), ("move_shape", "A")]
	assert [o["version"] for o in ops] == [5, 6]
	for o in ops:
		assert o["kind"] == "restore" and o["created_by"] == owner.id
		assert o["canvas_id"] == cid
		uuid.UUID(o["client_op_id"])
	now = get_state(cid, owner)
	assert now["version"] == 6
	assert now["shapes"] == at2["shapes"]
	# the log is what the response said: append-only, gap-free
	log = list_ops(cid, owner, page=100)
	assert [o["version"] for o in log] == [1, 2, 3, 4, 5, 6]
	assert log[4:] == ops
	assert replay(log) == now["shapes"]


def test_restore_to_the_current_state_commits_nothing(design_scenario):
	owner, cid = design_scenario
	status, body = owner.call("POST", "/canvases/%s/restore" % cid, {"version": 4})
	assert status == 200, (status, body)
	assert body == {"canvas_id": cid, "restored_to": 4, "version": 4, "operations": [],
			"operations_applied": 0}
	assert get_state(cid, owner)["version"] == 4


def test_restore_to_version_zero_empties_the_canvas(design_scenario):
	owner, cid = design_scenario
	status, body = owner.call("POST", "/canvases/%s/restore" % cid, {"version": 0})
	assert status == 200, (status, body)
	assert [(o["type"], o["payload"]["shape_id"]) for o in body["operations"]] == [
		("delete_shape", "A")]
	assert get_state(cid, owner)["shapes"] == {}


def test_restore_errors(design_scenario):
	owner, cid = design_scenario
	viewer, stranger = new_user("hist"), new_user("hist")
	status, c = owner.call("GET", "/canvases/%s" % cid)
	add_member(owner, c["workspace_id"], viewer, "viewer")
	path = "/canvases/%s/restore" % cid
	assert_error(*viewer.call("POST", path, {"version": 2}), 403, "forbidden")
	assert_error(*viewer.call("POST", path, {"version": 99}), 403, "forbidden")
	assert_error(*stranger.call("POST", path, {"version": 2}), 404, "not_found")
	assert_error(*owner.call("POST", "/canvases/not-a-uuid/restore", {"version": 2}), 404)
	assert_error(*owner.call("POST", "/canvases/%s/restore" % uuid.uuid4(), {"version": 0}),
		     404)
	assert_error(*owner.call("POST", path, {"version": 5}), 422, "invalid_version")
	assert_error(*owner.call("POST", path, {"version": -1}), 422, "invalid_field")
	assert_error(*owner.call("POST", path, {"version": "2"}), 422, "invalid_field")
	assert_error(*owner.call("POST", path, {}), 422, "missing_field")
	assert_error(*owner.call("POST", path, {"version": 2, "force": True}), 422, "unknown_field")
	assert_error(*owner.call("POST", path, "[1"), 400, "malformed_json")
	# nothing was committed by any of these
	assert get_state(cid, owner)["version"] == 4


def test_restore_stays_atomic_and_versions_gap_free_under_concurrent_writers(cluster):
	"""Writers on every node (the restore's own node, as with the gateway's sticky routing, and
	the others) commit while restores run. Every restore either lands as one block of ops right
	on the head it was computed from, or gives up with 409 after its retries; the log stays
	gap-free and GET /state equals an independent replay of it."""
	owner = new_user("hist")
	cid = canvas(owner)
	for i in range(4):
		commit(cid, owner, "create_shape", rect("s%d" % i, i * 20, 0))
	target = 4
	target_shapes = get_state(cid, owner, at=target)["shapes"]
	restore_url = cluster.node_urls[0]
	stop = threading.Event()
	started = threading.Barrier(4)
	errors = []

	def writer(n):
		base = cluster.node_urls[n % len(cluster.node_urls)]
		i = 0
		try:
			while not stop.is_set() and i < 300:
				sid = "w%d-%d" % (n, i % 5)
				if i % 3 == 0:
					commit(cid, owner, "create_shape", rect(sid, i, n * 30), base=base)
				elif i % 3 == 1:
					commit(cid, owner, "move_shape", {"shape_id": "s%d" % (i % 4),
									  "x": i, "y": n}, base=base)
				else:
					commit(cid, owner, "delete_shape", {"shape_id": sid}, base=base)
				if i == 0:
					started.wait(10)
				i += 1
				stop.wait(0.01)
		except Exception as e:  # surfaced by the main thread
			errors.append(e)
			started.abort()

	threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
	for t in threads:
		t.start()
	results = []
	try:
		try:
			started.wait(10)  # every writer has committed: the restores overlap them
		except threading.BrokenBarrierError:
			pass  # a writer failed: reported below
		for _ in range(12):
			results.append(owner.call("POST", "/canvases/%s/restore" % cid,
						  {"version": target}, base=restore_url))
			time.sleep(0.015)  # spread over the writers' run
	finally:
		stop.set()
		for t in threads:
			t.join(30)
	assert not errors, errors

	for status, body in results:
		assert status in (200, 409), (status, body)
		if status == 409:
			assert body["code"] == "conflict", body
	restored = [body for status, body in results if status == 200]
	assert restored, results

	log = list_ops(cid, owner, page=100)
	head = get_state(cid, owner)
	assert [o["version"] for o in log] == list(range(1, head["version"] + 1))
	assert head["shapes"] == replay(log)
	by_version = {o["version"]: o for o in log}
	for body in restored:
		ops = body["operations"]
		# One block at the head it was computed from: right after its last op, the canvas is
		# exactly the target state, whatever the writers did before.
		if ops:
			versions = [o["version"] for o in ops]
			assert versions == list(range(versions[0], versions[0] + len(ops))), versions
			assert versions[-1] == body["version"]
			assert all(by_version[o["version"]] == o for o in ops)
			assert all(o["kind"] == "restore" for o in ops)
		assert get_state(cid, owner, at=body["version"])["shapes"] == target_shapes
		assert replay(log[:body["version"]]) == target_shapes
	# the writers really interleaved with the restores
	first, last = restored[0]["version"], restored[-1]["version"]
	assert any(o["kind"] == "do" for o in log[first:last]) or len(restored) == 1, \
		"no writer op between the restores"


# ---------------------------------------------------------------------------------------------
# Diff.

def test_diff_lists_added_removed_and_modified_with_before_and_after(design_scenario):
	owner, cid = design_scenario
	status, body = owner.call("GET", "/canvases/%s/diff?from=2&to=4" % cid)
	assert status == 200, (status, body)
	assert body["canvas_id"] == cid and body["from"] == 2 and body["to"] == 4
	assert body["added"] == {}
	assert list(body["removed"]) == ["B"]
	assert body["removed"]["B"]["kind"] == "ellipse"
	assert list(body["modified"]) == ["A"]
	change = body["modified"]["A"]
	assert (change["before"]["x"], change["before"]["y"]) == (0, 0)
	assert (change["after"]["x"], change["after"]["y"]) == (50, 60)
	# and backwards
	status, back = owner.call("GET", "/canvases/%s/diff?from=4&to=2" % cid)
	assert status == 200
	assert list(back["added"]) == ["B"] and back["removed"] == {}
	assert back["modified"]["A"] == {"before": change["after"], "after": change["before"]}
	status, same = owner.call("GET", "/canvases/%s/diff?from=3&to=3" % cid)
	assert status == 200
	assert (same["added"], same["removed"], same["modified"]) == ({}, {}, {})


def test_diff_errors(design_scenario):
	owner, cid = design_scenario
	viewer, stranger = new_user("hist"), new_user("hist")
	status, c = owner.call("GET", "/canvases/%s" % cid)
	add_member(owner, c["workspace_id"], viewer, "viewer")
	assert viewer.call("GET", "/canvases/%s/diff?from=0&to=4" % cid)[0] == 200
	assert_error(*stranger.call("GET", "/canvases/%s/diff?from=0&to=4" % cid), 404)
	assert_error(*owner.call("GET", "/canvases/nope/diff?from=0&to=1"), 404)
	for query in ("from=1", "to=1", "", "from=a&to=1", "from=1&to=-1", "from=1&to=1.5",
		      "from=&to=1"):
		assert_error(*owner.call("GET", "/canvases/%s/diff?%s" % (cid, query)), 422,
			     "invalid_query")
	assert_error(*owner.call("GET", "/canvases/%s/diff?from=0&to=5" % cid), 422,
		     "invalid_version")
	assert_error(*owner.call("GET", "/canvases/%s/diff?from=5&to=0" % cid), 422,
		     "invalid_version")


# ---------------------------------------------------------------------------------------------
# Named checkpoints.

def test_checkpoints_create_list_duplicate_and_roles(design_scenario):
	owner, cid = design_scenario
	editor, viewer, stranger = new_user("hist"), new_user("hist"), new_user("hist")
	status, c = owner.call("GET", "/canvases/%s" % cid)
	add_member(owner, c["workspace_id"], editor, "editor")
	add_member(owner, c["workspace_id"], viewer, "viewer")
	path = "/canvases/%s/versions" % cid

	status, first = owner.call("POST", path, {"name": "two shapes", "version": 2})
	assert status == 201, (status, first)
	assert first["name"] == "two shapes" and first["version"] == 2
	assert first["canvas_id"] == cid and first["created_by"] == owner.id
	uuid.UUID(first["id"])
	assert first["created_at"].endswith("Z")
	status, head = editor.call("POST", path, {"name": "latest"})
	assert status == 201, (status, head)
	assert head["version"] == 4 and head["created_by"] == editor.id
	status, zero = owner.call("POST", path, {"name": "empty", "version": 0, })
	assert status == 201 and zero["version"] == 0

	assert_error(*editor.call("POST", path, {"name": "two shapes", "version": 3}), 409,
		     "checkpoint_exists")
	assert_error(*viewer.call("POST", path, {"name": "mine"}), 403, "forbidden")
	assert_error(*stranger.call("POST", path, {"name": "x"}), 404, "not_found")
	assert_error(*stranger.call("GET", path), 404, "not_found")
	assert_error(*owner.call("POST", path, {"name": "future", "version": 5}), 422,
		     "invalid_version")
	assert_error(*owner.call("POST", path, {"name": "neg", "version": -1}), 422,
		     "invalid_field")
	assert_error(*owner.call("POST", path, {"name": ""}), 422, "invalid_field")
	assert_error(*owner.call("POST", path, {"name": "   "}), 422, "invalid_field")
	assert_error(*owner.call("POST", path, {"name": "a\u0007b"}), 422, "invalid_field")
	assert_error(*owner.call("POST", path, {"name": "x" * 101}), 422, "invalid_field")
	assert_error(*owner.call("POST", path, {"version": 1}), 422, "missing_field")
	assert_error(*owner.call("POST", path, {"name": "n", "at": 1}), 422, "unknown_field")
	assert_error(*owner.call("POST", "/canvases/%s/versions" % uuid.uuid4(), {"name": "x"}),
		     404)

	status, listed = viewer.call("GET", path)
	assert status == 200, (status, listed)
	assert [(k["name"], k["version"]) for k in listed] == [
		("empty", 0), ("two shapes", 2), ("latest", 4)]
	assert listed[1] == first


def test_concurrent_checkpoints_with_one_name_create_one(design_scenario):
	owner, cid = design_scenario
	results = []

	def create():
		results.append(owner.call("POST", "/canvases/%s/versions" % cid, {"name": "race"}))

	threads = [threading.Thread(target=create) for _ in range(6)]
	for t in threads:
		t.start()
	for t in threads:
		t.join()
	assert sorted(s for s, _ in results) == [201] + [409] * 5, results


# ---------------------------------------------------------------------------------------------
# Activity.

def today_utc():
	return datetime.datetime.now(datetime.timezone.utc).date()


def test_activity_counts_todays_ops_and_a_streak_of_one(cluster):
	user = new_user("hist")
	cid = canvas(user)
	for i in range(3):
		commit(cid, user, "create_shape", rect("r%d" % i, i, i))
	status, act = user.call("GET", "/me/activity")
	assert status == 200, (status, act)
	today = today_utc()
	if today.isoformat() != act["days"][-1]["date"]:
		pytest.skip("the UTC day changed during the test")
	assert act["user_id"] == user.id and act["year"] == today.year
	assert act["total"] == 3
	assert act["days"] == [{"date": today.isoformat(), "count": 3}]
	assert act["current_streak"] == 1 and act["longest_streak"] == 1

	status, same = user.call("GET", "/me/activity?year=%d" % today.year)
	assert (status, same) == (200, act)
	status, other = user.call("GET", "/me/activity?year=%d" % (today.year - 1))
	assert status == 200
	assert other["total"] == 0 and other["days"] == []
	# streaks are over all time, not the year asked for
	assert other["current_streak"] == 1 and other["longest_streak"] == 1


def backdate_ops(cluster, user, cid, days):
	"""Appends one op per entry of days (SQL date expressions, UTC noon) straight into the log
	of a fresh canvas, keeping its version counter in step: the API can only write 'now'."""
	uuid.UUID(cid), uuid.UUID(user.id)
	values = ", ".join("((%s) + time '12:00')" % d for d in days)
	cluster.psql("""
		WITH d(ts) AS (VALUES %s),
		n AS (SELECT ts, row_number() OVER (ORDER BY ts) AS v FROM d)
		INSERT INTO operations (canvas_id, version, client_op_id, user_id, type, payload,
		                        created_at)
		SELECT '%s', v, gen_random_uuid(), '%s', 'delete_shape', '{"shape_id": "x"}',
		       ts AT TIME ZONE 'UTC' FROM n;
		UPDATE canvases SET version = %d WHERE id = '%s';
	""" % (values, cid, user.id, len(days), cid))


def test_activity_streaks_span_years_and_end_today_or_yesterday(cluster):
	user = new_user("hist")
	cid = canvas(user)
	today = "(now() AT TIME ZONE 'UTC')::date"
	backdate_ops(cluster, user, cid, [
		"date '2020-06-01'",
		"date '2020-12-30'", "date '2020-12-31'", "date '2020-12-31'",
		"date '2021-01-01'", "date '2021-01-02'",
		today + " - 2", today + " - 1", today + " - 1",
	])
	status, y2021 = user.call("GET", "/me/activity?year=2021")
	assert status == 200, (status, y2021)
	assert y2021["days"] == [{"date": "2021-01-01", "count": 1},
				 {"date": "2021-01-02", "count": 1}]
	assert y2021["total"] == 2
	# 2020-12-30 .. 2021-01-02 is one streak of 4; yesterday ends the current one (2 days)
	assert y2021["longest_streak"] == 4 and y2021["current_streak"] == 2
	status, y2020 = user.call("GET", "/me/activity?year=2020")
	assert status == 200
	assert [(d["date"], d["count"]) for d in y2020["days"]] == [
		("2020-06-01", 1), ("2020-12-30", 1), ("2020-12-31", 2)]
	assert y2020["total"] == 4

	# one more op today extends the current streak to 3
	commit(cid, user, "create_shape", rect("r", 0, 0))
	status, now = user.call("GET", "/me/activity")
	assert status == 200
	if now["days"][-1]["date"] != today_utc().isoformat():
		pytest.skip("the UTC day changed during the test")
	assert now["current_streak"] == 3 and now["longest_streak"] == 4


def test_activity_current_streak_is_zero_after_a_day_without_ops(cluster):
	user = new_user("hist")
	cid = canvas(user)
	today = "(now() AT TIME ZONE 'UTC')::date"
	backdate_ops(cluster, user, cid, [today + " - 4", today + " - 3", today + " - 2"])
	status, act = user.call("GET", "/me/activity")
	assert status == 200, (status, act)
	assert act["current_streak"] == 0 and act["longest_streak"] == 3


def test_activity_of_a_new_user_is_empty(cluster):
	user = new_user("hist")
	status, act = user.call("GET", "/me/activity?year=2001")
	assert status == 200, (status, act)
	assert act == {"user_id": user.id, "year": 2001, "total": 0, "days": [],
		       "current_streak": 0, "longest_streak": 0, "from_date": "2001-01-01",
		       "to_date": "2001-12-31", "total_contributions": 0, "active_days": 0,
		       "daily": []}
	status, own = user.call("GET", "/users/%s/activity?year=2001" % user.id)
	assert (status, own) == (200, act)


def test_activity_query_is_validated(cluster):
	user = new_user("hist")
	for q in ("year=1969", "year=10000", "year=abc", "year=", "year=2024.0"):
		assert_error(*user.call("GET", "/me/activity?" + q), 422, "invalid_query")
	assert user.call("GET", "/me/activity?year=1970")[0] == 200
	assert user.call("GET", "/me/activity?year=9999")[0] == 200


def test_user_activity_is_visible_only_through_a_shared_workspace(cluster):
	author, colleague, outsider, elsewhere = new_user("hist"), new_user("hist"), new_user("hist"), new_user("hist")
	ws = create_workspace(author, "history")["id"]
	add_member(author, ws, colleague, "viewer")
	cid = canvas(author, ws)
	for i in range(2):
		commit(cid, author, "create_shape", rect("r%d" % i, 0, 0))
	# elsewhere shares a different workspace with the author, where the author did nothing
	other_ws = create_workspace(author, "history")["id"]
	add_member(author, other_ws, elsewhere, "editor")

	path = "/users/%s/activity" % author.id
	status, seen = colleague.call("GET", path)
	assert status == 200, (status, seen)
	assert seen["user_id"] == author.id and seen["total"] == 2
	status, mine = author.call("GET", "/me/activity")
	assert status == 200 and mine["total"] == 2

	status, partial = elsewhere.call("GET", path)
	assert status == 200, (status, partial)
	assert partial["total"] == 0 and partial["days"] == [] and partial["current_streak"] == 0

	assert_error(*outsider.call("GET", path), 404, "not_found")
	assert_error(*outsider.call("GET", "/users/%s/activity" % uuid.uuid4()), 404)
	assert_error(*outsider.call("GET", "/users/not-a-uuid/activity"), 404)
	assert_error(*api("GET", "/api/v1" + path), 401)


# ---------------------------------------------------------------------------------------------
# SVG export.

def export(cluster, user, cid, query=""):
	"""The raw response (headers and bytes), not JSON."""
	return request("GET", "%s/api/v1/canvases/%s/export.svg%s"
		       % (cluster.gateway_url, cid, query),
		       headers={"Authorization": "Bearer " + user.token})


def groups(root):
	return {g.get("data-shape-id"): g for g in root.iter(SVG_NS + "g")}


def test_export_svg_is_well_formed_and_draws_every_shape(cluster):
	owner = new_user("hist")
	cid = canvas(owner)
	nasty = "<b>&amp; \"quoted\" 'single'</b> ]]> <script>alert(1)</script>"
	commit(cid, owner, "create_shape", rect("r", 0, 0, style={"fill": "#ff000080"}))
	commit(cid, owner, "create_shape", {"shape_id": "e", "kind": "ellipse", "x": 40, "y": 0,
					    "w": 20, "h": 10, "rotation": 30})
	commit(cid, owner, "create_shape", {"shape_id": "t", "kind": "text", "x": 0, "y": 50,
					    "text": nasty})
	commit(cid, owner, "create_shape", {"shape_id": "s", "kind": "sticky", "x": 100,
					    "y": 100, "w": 80, "h": 80, "text": "line 1\nline 2"})
	commit(cid, owner, "create_shape", {"shape_id": "a", "kind": "arrow", "x": 0, "y": 0,
					    "w": 30, "h": 30, "z": 5})
	commit(cid, owner, "create_shape", {"shape_id": "l", "kind": "line", "x": 0, "y": 0,
					    "points": [[0, 0], [10, 20], [30, 5]]})
	commit(cid, owner, "create_shape", {"shape_id": "p", "kind": "path", "x": 200, "y": 200,
					    "points": [[0, 0], [5, 5], [10, 0]]})
	commit(cid, owner, "create_shape", {"shape_id": "c", "kind": "connector", "x": 0, "y": 0,
					    "from": "r", "to": "s"})

	r = export(cluster, owner, cid)
	assert r.status == 200, r
	assert r.headers["content-type"] == "image/svg+xml"
	assert b"<script" not in r.body and b"<b>" not in r.body
	root = ET.fromstring(r.body)
	assert root.tag == SVG_NS + "svg"
	vx, vy, vw, vh = (float(v) for v in root.get("viewBox").split())
	assert vx < 0 and vy < 0 and vx + vw > 210 and vy + vh > 200
	g = groups(root)
	assert set(g) == {"r", "e", "t", "s", "a", "l", "p", "c"}
	assert g["r"].find(SVG_NS + "rect").get("fill-opacity") is not None
	assert g["e"].find(SVG_NS + "ellipse") is not None
	assert g["e"].get("transform") == "rotate(30 50 5)"
	text = g["t"].find(SVG_NS + "text")
	assert "".join(text.itertext()) == nasty  # escaped on the wire, intact once parsed
	assert g["s"].find(SVG_NS + "rect") is not None
	assert [t.text for t in g["s"].iter(SVG_NS + "tspan")] == ["line 1", "line 2"]
	assert g["a"].find(SVG_NS + "line").get("marker-end").startswith("url(#fs-arrow-")
	assert g["a"].find(SVG_NS + "defs/" + SVG_NS + "marker") is not None
	assert g["l"].find(SVG_NS + "polyline").get("points") == "0,0 10,20 30,5"
	assert g["p"].find(SVG_NS + "polyline").get("points") == "200,200 205,205 210,200"
	line = g["c"].find(SVG_NS + "line")
	assert [line.get(k) for k in ("x1", "y1", "x2", "y2")] == ["5", "5", "140", "140"]
	# z order: the arrow (z 5) is painted last
	order = [e.get("data-shape-id") for e in root if e.tag == SVG_NS + "g"]
	assert order[-1] == "a" and order[:-1] == sorted(order[:-1])

	# time travel
	r1 = export(cluster, owner, cid, "?at=1")
	assert r1.status == 200
	assert set(groups(ET.fromstring(r1.body))) == {"r"}


def test_export_svg_of_an_empty_canvas_and_errors(cluster):
	owner, stranger = new_user("hist"), new_user("hist")
	cid = canvas(owner)
	r = export(cluster, owner, cid)
	assert r.status == 200, r
	root = ET.fromstring(r.body)
	assert root.get("viewBox") == "0 0 100 100"
	assert groups(root) == {}
	for query, code in (("?at=1", "invalid_version"), ("?at=x", "invalid_query"),
			    ("?at=-1", "invalid_query")):
		r = export(cluster, owner, cid, query)
		assert r.status == 422, r
		assert r.json()["code"] == code
	assert export(cluster, stranger, cid).status == 404
	assert export(cluster, owner, str(uuid.uuid4())).status == 404
	r = request("GET", "%s/api/v1/canvases/%s/export.svg" % (cluster.gateway_url, cid))
	assert r.status == 401
