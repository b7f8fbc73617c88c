"""Compatibility with the FlowState reference API (issue 12 §1), over real HTTP through the
gateway: the reference's health paths, restore with {target_version} answering
operations_applied, checkpoints with {label}, and activity with the reference's field names and
?from_date=&to_date=. Also the node's WebSocket metrics (issue 12 §4): connection duration,
reconnects, messages by type in both directions, and the fullest room.

Our own names keep working: every test here checks both spellings where there are two.
"""

import datetime
import json
import re
import time
import uuid
from pathlib import Path

from flowstate.api import request
from helpers import api, new_user
import wsclient

REPO = Path(__file__).resolve().parents[2]


def call(user, method, path, body=None, base=None):
	return api(method, "/api/v1" + path, body, token=user.token, base=base)


def workspace_and_canvas(owner):
	status, ws = call(owner, "POST", "/workspaces", {"name": "compat"})
	assert status == 201, (status, ws)
	status, c = call(owner, "POST", "/workspaces/%s/canvases" % ws["id"], {"name": "board"})
	assert status == 201, (status, c)
	return ws["id"], c["id"]


def commit(user, cid, op_type, payload):
	status, op = call(user, "POST", "/canvases/%s/operations" % cid,
			  {"type": op_type, "payload": payload, "client_op_id": str(uuid.uuid4())})
	assert status == 201, (status, op)
	return op


def rect(sid, x, y):
	return {"shape_id": sid, "kind": "rect", "x": x, "y": y, "w": 10, "h": 10}


def assert_error(status, body, expected_status, code):
	assert status == expected_status, (status, body)
	assert body["code"] == code, body
	assert body["detail"], body


def wait_for(pred, what, timeout=30.0):
	"""Polls until pred() is true: a wait for something that must happen, not a timing
	assertion (the deadline only keeps a broken build from hanging the suite)."""
	deadline = time.monotonic() + timeout
	while True:
		value = pred()
		if value:
			return value
		assert time.monotonic() < deadline, "no %s within %.0fs" % (what, timeout)
		time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Health.

def test_health_paths_of_the_reference_answer_through_the_gateway(cluster):
	status, body = api("GET", "/api/v1/health")
	assert (status, body) == (200, {"status": "ok"})
	status, body = api("GET", "/api/v1/health/db")
	assert status == 200, body
	assert body["status"] == "ok" and body["database"] == "ok", body
	assert 1 <= body["connections"] <= body["pool_size"], body
	# Our own names are still there.
	assert api("GET", "/api/v1/healthz")[0] == 200


def test_health_db_says_503_while_postgres_is_down_and_200_when_it_is_back(cluster):
	node = cluster.node_urls[0]
	cluster.stop_postgres()
	try:
		# The pool sees the server close its connections; the answer comes from that state
		# and never waits on the database.
		body = wait_for(lambda: (lambda r: r[1] if r[0] == 503 else None)(
			api("GET", "/api/v1/health/db", base=node, timeout=5)), "503 from /health/db")
		assert body["status"] == "unavailable" and body["database"] == "unreachable", body
		assert body["code"] == "unavailable" and body["detail"], body
		assert body["connections"] == 0, body
		# Liveness does not depend on the database.
		assert api("GET", "/api/v1/health", base=node, timeout=5) == (200, {"status": "ok"})
	finally:
		cluster.start_postgres()
	wait_for(lambda: api("GET", "/api/v1/health/db", base=node, timeout=5)[0] == 200,
		 "200 from /health/db after Postgres came back")
	for base in cluster.node_urls:
		wait_for(lambda: api("GET", "/readyz", base=base, timeout=5)[0] == 200,
			 "every node ready again")


# ---------------------------------------------------------------------------------------------
# Restore and checkpoints.

def test_restore_accepts_target_version_and_answers_operations_applied(cluster):
	owner = new_user("compat")
	_, cid = workspace_and_canvas(owner)
	commit(owner, cid, "create_shape", rect("a", 0, 0))
	commit(owner, cid, "create_shape", rect("b", 5, 5))
	commit(owner, cid, "move_shape", {"shape_id": "a", "x": 50, "y": 60})
	status, body = call(owner, "POST", "/canvases/%s/restore" % cid, {"target_version": 1})
	assert status == 200, body
	# b deleted, a moved back.
	assert body["operations_applied"] == 2 == len(body["operations"]), body
	assert body["version"] == 5 and body["canvas_id"] == cid and body["restored_to"] == 1
	status, state = call(owner, "GET", "/canvases/%s/state" % cid)
	assert set(state["shapes"]) == {"a"} and state["shapes"]["a"]["x"] == 0.0
	# Nothing to do: zero applied. Both names at once are fine when they agree.
	status, body = call(owner, "POST", "/canvases/%s/restore" % cid,
			    {"version": 1, "target_version": 1})
	assert status == 200 and body["operations_applied"] == 0 and body["version"] == 5, body
	# Our own name still works.
	status, body = call(owner, "POST", "/canvases/%s/restore" % cid, {"version": 0})
	assert status == 200 and body["operations_applied"] == 1, body


def test_restore_body_errors(cluster):
	owner = new_user("compat")
	_, cid = workspace_and_canvas(owner)
	commit(owner, cid, "create_shape", rect("a", 0, 0))
	path = "/canvases/%s/restore" % cid
	assert_error(*call(owner, "POST", path, {}), 422, "missing_field")
	assert_error(*call(owner, "POST", path, {"version": 0, "target_version": 1}), 422,
		     "invalid_field")
	assert_error(*call(owner, "POST", path, {"target_version": -1}), 422, "invalid_field")
	assert_error(*call(owner, "POST", path, {"target_version": "1"}), 422, "invalid_field")
	assert_error(*call(owner, "POST", path, {"target_version": 9}), 422, "invalid_version")
	assert_error(*call(owner, "POST", path, {"target": 0}), 422, "unknown_field")


def test_checkpoints_take_a_label_of_up_to_120_characters_and_carry_it(cluster):
	owner = new_user("compat")
	_, cid = workspace_and_canvas(owner)
	commit(owner, cid, "create_shape", rect("a", 0, 0))
	path = "/canvases/%s/versions" % cid
	label = "é" * 120  # 120 characters, 240 bytes: past our name rule, within the reference's
	status, cp = call(owner, "POST", path, {"label": label})
	assert status == 201, cp
	assert cp["label"] == label == cp["name"] and cp["version"] == 1, cp
	status, cp2 = call(owner, "POST", path, {"name": "by name", "version": 0})
	assert status == 201 and cp2["label"] == "by name" == cp2["name"], cp2
	status, listed = call(owner, "GET", path)
	assert status == 200
	assert [(c["name"], c["label"]) for c in listed] == [("by name", "by name"), (label, label)]
	status, same = call(owner, "POST", path, {"name": "twice", "label": "twice"})
	assert status == 201 and same["label"] == "twice", same
	# The label shares the names' uniqueness and content rules.
	assert_error(*call(owner, "POST", path, {"label": label}), 409, "checkpoint_exists")
	assert_error(*call(owner, "POST", path, {"label": "x" * 121}), 422, "invalid_field")
	assert_error(*call(owner, "POST", path, {"label": ""}), 422, "invalid_field")
	assert_error(*call(owner, "POST", path, {"label": "   "}), 422, "invalid_field")
	assert_error(*call(owner, "POST", path, {"label": "a\u202eb"}), 422, "invalid_field")
	assert_error(*call(owner, "POST", path, {"name": "a", "label": "b"}), 422, "invalid_field")
	assert_error(*call(owner, "POST", path, {}), 422, "missing_field")
	# Our name rule is unchanged: at most 100 bytes.
	assert_error(*call(owner, "POST", path, {"name": "é" * 51}), 422, "invalid_field")


# ---------------------------------------------------------------------------------------------
# Activity.

def append_backdated_ops(cluster, user, cid, days):
	"""One op per day (UTC noon) straight into the log of a fresh canvas, its version counter
	kept in step: the API can only write 'now', and the log is append-only."""
	uuid.UUID(cid), uuid.UUID(user.id)
	for day in days:
		datetime.date.fromisoformat(day)
	values = ", ".join("(date '%s' + time '12:00')" % d for d in days)
	cluster.psql("""
		WITH d(ts) AS (VALUES %s),
		n AS (SELECT ts, row_number() OVER (ORDER BY ts) AS v FROM d)
		INSERT INTO operations (canvas_id, version, client_op_id, user_id, type, payload,
		                        created_at)
		SELECT '%s', v, gen_random_uuid(), '%s', 'delete_shape', '{"shape_id": "x"}',
		       ts AT TIME ZONE 'UTC' FROM n;
		UPDATE canvases SET version = %d WHERE id = '%s';
	""" % (values, cid, user.id, len(days), cid))


def test_activity_has_the_reference_fields_and_honours_a_date_range(cluster):
	user = new_user("compat")
	_, cid = workspace_and_canvas(user)
	append_backdated_ops(cluster, user, cid, ["2023-12-30", "2023-12-31", "2023-12-31",
						  "2024-01-02", "2024-03-01"])

	status, body = call(user, "GET", "/me/activity?year=2023")
	assert status == 200, body
	assert body["from_date"] == "2023-01-01" and body["to_date"] == "2023-12-31", body
	assert body["year"] == 2023
	assert body["daily"] == [{"date": "2023-12-30", "count": 1},
				 {"date": "2023-12-31", "count": 2}] == body["days"]
	assert body["total_contributions"] == 3 == body["total"] and body["active_days"] == 2
	assert body["longest_streak"] == 2 and body["current_streak"] == 0

	status, body = call(user, "GET", "/me/activity?from_date=2023-12-31&to_date=2024-03-01")
	assert status == 200, body
	assert (body["from_date"], body["to_date"], body["year"]) == ("2023-12-31", "2024-03-01",
								      None)
	assert body["daily"] == [{"date": "2023-12-31", "count": 2},
				 {"date": "2024-01-02", "count": 1},
				 {"date": "2024-03-01", "count": 1}]
	assert body["total_contributions"] == 4 and body["active_days"] == 3

	# One day; to_date alone covers the 365 days ending on it; from_date alone runs to today.
	status, body = call(user, "GET", "/me/activity?from_date=2024-01-02&to_date=2024-01-02")
	assert body["daily"] == [{"date": "2024-01-02", "count": 1}], body
	status, body = call(user, "GET", "/me/activity?to_date=2024-12-30")  # 2024 is a leap year
	assert (body["from_date"], body["to_date"]) == ("2024-01-01", "2024-12-30"), body
	assert body["total_contributions"] == 2
	today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
	status, body = call(user, "GET", "/me/activity?from_date=2024-01-01")
	assert body["to_date"] in (today, (datetime.date.fromisoformat(today) +
					   datetime.timedelta(days=1)).isoformat()), body
	assert body["total_contributions"] == 2

	# Another user's activity has the same fields.
	status, body = call(user, "GET", "/users/%s/activity?from_date=2023-12-30&to_date=2023-12-30"
			    % user.id)
	assert status == 200 and body["daily"] == [{"date": "2023-12-30", "count": 1}], body


def test_activity_date_range_is_validated(cluster):
	user = new_user("compat")
	for q in ("from_date=2024-02-30", "from_date=2024-13-01", "to_date=24-01-01",
		  "from_date=1969-12-31", "from_date=2024-1-01", "from_date=", "to_date=2024-01-01x",
		  "from_date=2024-03-02&to_date=2024-03-01", "year=2024&from_date=2024-01-01"):
		assert_error(*call(user, "GET", "/me/activity?" + q), 422, "invalid_query")
	assert call(user, "GET", "/me/activity?from_date=2024-02-29&to_date=2024-02-29")[0] == 200
	assert call(user, "GET", "/me/activity?from_date=1970-01-01&to_date=9999-12-31")[0] == 200


# ---------------------------------------------------------------------------------------------
# WebSocket metrics of a node.

METRIC_LINE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (\S+)$')


def metrics(base):
	resp = request("GET", base + "/metrics")
	assert resp.status == 200
	values = {}
	for line in resp.text.splitlines():
		m = METRIC_LINE.match(line)
		if m:
			values[m.group(1) + (m.group(2) or "")] = float(m.group(3))
	return values


def test_websocket_metrics_count_durations_reconnects_types_and_the_fullest_room(cluster):
	node = cluster.node_urls[1]
	owner = new_user("metrics")
	_, cid = workspace_and_canvas(owner)
	before = metrics(node)
	for name in ("flowstate_ws_connection_duration_seconds_count",
		     'flowstate_ws_messages_received_total{type="cursor"}',
		     'flowstate_ws_messages_sent_total{type="sync"}', "flowstate_ws_reconnects_total",
		     "flowstate_room_clients_max"):
		assert name in before, name
	# Every message type of the protocol (docs/api/asyncapi.json), both ways, has its series
	# from the start, so dashboards and alerts never miss one.
	doc = json.loads((REPO / "docs" / "api" / "asyncapi.json").read_text())
	messages = doc["components"]["messages"]
	for operation, direction in (("sendServerMessages", "sent"),
				     ("receiveClientMessages", "received")):
		for ref in doc["operations"][operation]["messages"]:
			msg = messages[ref["$ref"].rsplit("/", 1)[1]]
			name = 'flowstate_ws_messages_%s_total{type="%s"}' % (
				direction, msg["payload"]["properties"]["type"]["const"])
			assert name in before, name

	async def scenario():
		a = await wsclient.connect(node, cid, owner, label="a")
		b = await wsclient.connect(node, cid, owner, label="b", since=0)
		c = await wsclient.connect(node, cid, owner, label="c", since=0)
		during = metrics(node)
		await a.commit("create_shape", rect("m1", 1, 2))
		await a.send({"type": "cursor", "x": 1, "y": 2})
		await a.send({"type": "ping"})
		await a.send({"type": "no_such_type"})
		await a.wait_type("pong")
		await a.wait_type("error")
		await b.wait_type("cursor")
		await wsclient.close_all(a, b, c)
		return during

	during = wsclient.run(scenario())
	assert during["flowstate_room_clients_max"] >= 3
	delta = lambda after, name: after.get(name, 0) - before.get(name, 0)  # noqa: E731
	after = wait_for(lambda: (lambda m: m if delta(m, "flowstate_ws_connection_duration_seconds"
						       "_count") >= 3 else None)(metrics(node)),
			 "three closed sessions in the duration histogram")
	assert delta(after, "flowstate_ws_reconnects_total") >= 2
	# Each client sent one settle probe ("operations"), a sent op, a cursor, a ping and a
	# message of an unknown type.
	assert delta(after, 'flowstate_ws_messages_received_total{type="operations"}') >= 3
	assert delta(after, 'flowstate_ws_messages_received_total{type="operation"}') >= 1
	assert delta(after, 'flowstate_ws_messages_received_total{type="cursor"}') >= 1
	assert delta(after, 'flowstate_ws_messages_received_total{type="ping"}') >= 1
	assert delta(after, 'flowstate_ws_messages_received_total{type="unknown"}') >= 1
	# Sent: three syncs, one ack, the op to all three, the cursor to b and c, a pong.
	assert delta(after, 'flowstate_ws_messages_sent_total{type="sync"}') >= 3
	assert delta(after, 'flowstate_ws_messages_sent_total{type="ack"}') >= 1
	assert delta(after, 'flowstate_ws_messages_sent_total{type="operation"}') >= 3
	assert delta(after, 'flowstate_ws_messages_sent_total{type="cursor"}') >= 2
	assert delta(after, 'flowstate_ws_messages_sent_total{type="pong"}') >= 1
	assert delta(after, 'flowstate_ws_messages_sent_total{type="error"}') >= 4
	# Histogram buckets are cumulative and end in +Inf = count.
	assert (after['flowstate_ws_connection_duration_seconds_bucket{le="+Inf"}'] ==
		after["flowstate_ws_connection_duration_seconds_count"])
	# The room is empty now.
	wait_for(lambda: metrics(node)["flowstate_room_clients_max"] == 0 or
		 metrics(node)["flowstate_room_clients_max"] < during["flowstate_room_clients_max"],
		 "the room's clients gone from the gauge")


def documented_metrics():
	"""The metric names in docs/operations.md's Metrics table."""
	text = (REPO / "docs" / "operations.md").read_text()
	section = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
	names = set()
	for line in section.splitlines():
		if line.startswith("| `flowstate_"):
			names.update(re.findall(r"`(flowstate_[a-z_]+)", line.split(" | ")[0]))
	return names


def exposed_metric_families(base):
	resp = request("GET", base + "/metrics")
	assert resp.status == 200
	return set(re.findall(r"^# TYPE (flowstate_[a-z_]+) ", resp.text, re.M))


def test_operations_doc_lists_exactly_the_metrics_a_node_exposes(cluster):
	documented = documented_metrics()
	exposed = exposed_metric_families(cluster.node_urls[0])
	assert not exposed - documented, (
		"exposed by the node but missing from docs/operations.md's Metrics table (add them "
		"there: dashboards and alert rules are built from it): %s" % sorted(exposed - documented))
	assert not documented - exposed, (
		"listed in docs/operations.md's Metrics table but not exposed by the node: %s"
		% sorted(documented - exposed))
