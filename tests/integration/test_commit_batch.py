"""Node-wide group commit (issue 14; docs/architecture.md "The write path", schema/050): one
transaction per batch for any number of canvases, with every per-canvas invariant of DESIGN §2
kept; client op ids that belong to their author; per-canvas size limits (canvas_full).

The session cluster (three sanitized nodes) carries the concurrency tests; private clusters
with small limits carry the limit tests; the duplicate-probe plan is checked on a cold table of
a private cluster.
"""

import json
import random
import subprocess
import threading
import time
import uuid

import pytest

import harness
from flowstate.cluster import Cluster
from flowstate.cluster.postgres import PG_BIN
from helpers import (RestWriter, api, assert_error, create_canvas, db_rows, get_state,
		     list_ops, make_team, post_op, rect)
from wsclient import close_all, connect, run


def gap_free(cluster, canvas_id, expected_count):
	rows = db_rows(cluster, canvas_id)
	versions = [v for v, _ in rows]
	assert versions == list(range(1, len(versions) + 1)), versions[:20]
	assert len(versions) == expected_count, (len(versions), expected_count)
	ids = [cid for _, cid in rows]
	assert len(set(ids)) == len(ids), "a client op id committed twice"


# ---------------------------------------------------------------------------------------------
# Concurrency over many canvases, on every node.

def test_versions_stay_gap_free_with_writers_on_three_nodes_over_200_canvases(cluster):
	t = make_team({"a": "editor", "b": "editor", "c": "editor"})
	writers_of = [t.a, t.b, t.c]
	canvases = [create_canvas(t.owner, t.workspace_id)["id"] for _ in range(200)]
	acked = {c: 0 for c in canvases}
	lock = threading.Lock()
	errors = []

	def write(node_url, user, seed):
		rng = random.Random(seed)
		w = RestWriter(node_url, user.token)
		try:
			for i in range(60):
				canvas = rng.choice(canvases)
				w.commit(canvas, "create_shape", rect("s%d-%d" % (seed, i), i, seed))
				with lock:
					acked[canvas] += 1
		except Exception as e:  # collected: every thread must finish
			errors.append(repr(e))
		finally:
			w.close()

	threads = [threading.Thread(target=write, args=(url, writers_of[k % 3], 100 * n + k))
		   for n, url in enumerate(cluster.node_urls) for k in range(4)]
	for th in threads:
		th.start()
	for th in threads:
		th.join(timeout=300)
	assert not errors, errors[:5]
	assert sum(acked.values()) == 3 * 4 * 60
	for canvas in canvases:
		gap_free(cluster, canvas, acked[canvas])


def test_no_deadlock_with_three_nodes_writing_overlapping_canvases_in_opposite_orders(cluster):
	t = make_team({"w": "editor"})
	canvases = [create_canvas(t.owner, t.workspace_id)["id"] for _ in range(24)]
	orders = [canvases, list(reversed(canvases)), canvases[12:] + canvases[:12]]
	answers = []
	lock = threading.Lock()

	def write(node_url, order, tag):
		w = RestWriter(node_url, t.w.token)
		try:
			for rnd in range(3):
				for i, canvas in enumerate(order):
					status = w.client.request(
						"POST", "/api/v1/canvases/%s/operations" % canvas,
						{"type": "create_shape", "payload": rect("%s-%d-%d" % (tag, rnd, i)),
						 "client_op_id": str(uuid.uuid4())})
					with lock:
						answers.append((status.status, status.json_or_none()))
		finally:
			w.close()

	threads = [threading.Thread(target=write, args=(url, orders[n], "n%dt%d" % (n, k)))
		   for n, url in enumerate(cluster.node_urls) for k in range(3)]
	for th in threads:
		th.start()
	for th in threads:
		th.join(timeout=300)
	assert len(answers) == 3 * 3 * 3 * 24, len(answers)
	bad = [a for a in answers if a[0] != 201]
	assert not bad, bad[:5]
	for canvas in canvases:
		gap_free(cluster, canvas, 3 * 3 * 3)
	for log in cluster.node_logs:
		text = open(log).read()
		assert "40P01" not in text and "deadlock" not in text, log


def test_a_forbidden_or_conflicting_canvas_does_not_fail_the_others_of_its_batch(cluster):
	"""fs_commit_batch itself, with one batch over four canvases: one commits, one refuses a
	viewer, one misses its expected version, one does not exist."""
	t = make_team({"ed": "editor", "vw": "viewer"})
	ok, ro, cond = (create_canvas(t.owner, t.workspace_id)["id"] for _ in range(3))
	post_op(cond, t.ed, "create_shape", rect("pre"))
	missing = str(uuid.uuid4())
	ids = [str(uuid.uuid4()) for _ in range(5)]
	payload = json.dumps(rect("x"))
	sql = ("SELECT idx, status, version FROM fs_commit_batch("
	       "ARRAY['%s','%s','%s','%s']::uuid[], ARRAY[NULL,NULL,0,NULL]::bigint[], NULL, "
	       "'{}'::uuid[], ARRAY[1,1,2,3,4], ARRAY['%s','%s','%s','%s','%s']::uuid[], "
	       "ARRAY['%s','%s','%s','%s','%s']::uuid[], "
	       "ARRAY['create_shape','create_shape','create_shape','create_shape','create_shape'], "
	       "ARRAY['do','do','do','do','do'], ARRAY[NULL,NULL,NULL,NULL,NULL]::bigint[], "
	       "ARRAY[50,50,50,50,50], ARRAY[1,2,3,4,5], '[%s,%s,%s,%s,%s]'::jsonb, 100000, 100000000)"
	       % (ok, ro, cond, missing, *ids, t.ed.id, t.ed.id, t.vw.id, t.ed.id, t.ed.id,
		  *([payload] * 5)))
	rows = [line.split("|") for line in cluster.psql(sql).splitlines()]
	assert rows == [["0", "committed", "1"], ["1", "committed", "2"], ["2", "forbidden", ""],
			["3", "conflict", "1"], ["4", "not_found", ""]], rows
	assert [v for v, _ in db_rows(cluster, ok)] == [1, 2]
	assert db_rows(cluster, ro) == []
	assert [v for v, _ in db_rows(cluster, cond)] == [1]


def test_a_canvas_another_transaction_holds_is_skipped_not_waited_for(cluster):
	"""A batch takes the canvases it does not wait for only where free (FOR UPDATE SKIP
	LOCKED): one held by another transaction answers busy (nothing done, the node sends it
	again) and the others commit at once; asked to wait, the batch waits and then commits it."""
	t = make_team({"ed": "editor"})
	held, free = (create_canvas(t.owner, t.workspace_id)["id"] for _ in range(2))
	holder = subprocess.Popen(
		[str(PG_BIN / "psql"), "-X", "-q", "-h", cluster.postgres.address.host, "-p",
		 str(cluster.pg_port), "-U", "postgres", "-d", "flowstate", "-c",
		 "BEGIN; SELECT 1 FROM canvases WHERE id = '%s' FOR UPDATE; "
		 "SELECT pg_sleep(120); COMMIT;" % held],
		stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
	holder_pid = "SELECT pid FROM pg_stat_activity WHERE query LIKE '%%pg_sleep(120)%%' " \
		     "AND pid <> pg_backend_pid()"
	try:
		deadline = time.monotonic() + 30
		while not cluster.psql(holder_pid, user="postgres"):
			assert time.monotonic() < deadline, "the holder never started"
			time.sleep(0.05)

		def batch(wait):
			ids = [str(uuid.uuid4()) for _ in range(2)]
			payload = json.dumps(rect("x"))
			return [line.split("|") for line in cluster.psql(
				"SELECT idx, status, version FROM fs_commit_batch("
				"ARRAY['%s','%s']::uuid[], ARRAY[NULL,NULL]::bigint[], NULL, %s, "
				"ARRAY[1,2], ARRAY['%s','%s']::uuid[], ARRAY['%s','%s']::uuid[], "
				"ARRAY['create_shape','create_shape'], ARRAY['do','do'], "
				"ARRAY[NULL,NULL]::bigint[], ARRAY[50,50], ARRAY[1,2], '[%s,%s]'::jsonb, "
				"100000, 100000000)"
				% (held, free, "ARRAY['%s']::uuid[]" % held if wait else "'{}'::uuid[]",
				   ids[0], ids[1], t.ed.id, t.ed.id, payload, payload)).splitlines()]

		# Held: busy, and nothing done there; the free canvas commits all the same.
		assert batch(wait=False) == [["0", "busy", ""], ["1", "committed", "1"]]
		assert db_rows(cluster, held) == []
		# Waiting for it: the batch blocks until the holder lets go, then commits it.
		waited = []
		waiter = threading.Thread(target=lambda: waited.append(batch(wait=True)))
		waiter.start()
		deadline = time.monotonic() + 30
		while cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
				   "'Lock' AND query LIKE '%%fs_commit_batch%%'", user="postgres") == "0":
			assert time.monotonic() < deadline, "the waiting batch never waited"
			assert not waited, waited
			time.sleep(0.05)
		cluster.psql("SELECT pg_cancel_backend(pid) FROM (%s) h" % holder_pid, user="postgres")
		waiter.join(timeout=60)
		assert waited == [[["0", "committed", "1"], ["1", "committed", "2"]]], waited
	finally:
		if holder.poll() is None:
			holder.kill()
		holder.wait()


def test_writes_from_several_users_to_many_canvases_at_once_get_their_own_answers(cluster):
	"""Over HTTP, concurrently: a viewer's writes are refused while editors' writes to the same
	and other canvases commit, whichever batches they share."""
	t = make_team({"ed": "editor", "vw": "viewer"})
	canvases = [create_canvas(t.owner, t.workspace_id)["id"] for _ in range(8)]
	results = []
	lock = threading.Lock()

	def write(user, node_url):
		w = RestWriter(node_url, user.token)
		try:
			for i, canvas in enumerate(canvases * 3):
				r = w.client.request("POST", "/api/v1/canvases/%s/operations" % canvas,
						     {"type": "create_shape", "payload": rect("s%d" % i),
						      "client_op_id": str(uuid.uuid4())})
				with lock:
					results.append((user.id, r.status))
		finally:
			w.close()

	node = cluster.node_urls[0]
	threads = [threading.Thread(target=write, args=(u, node)) for u in (t.ed, t.vw, t.ed, t.vw)]
	for th in threads:
		th.start()
	for th in threads:
		th.join(timeout=120)
	assert sorted(set((u == t.ed.id, s) for u, s in results)) == [(False, 403), (True, 201)]
	for canvas in canvases:
		gap_free(cluster, canvas, 2 * 3)


# ---------------------------------------------------------------------------------------------
# A client op id belongs to its author.

def test_client_op_id_used_by_another_user_answers_409_and_keeps_the_first(cluster):
	t = make_team({"a": "editor", "b": "editor"})
	canvas = create_canvas(t.owner, t.workspace_id)["id"]
	cid = str(uuid.uuid4())
	status, first = post_op(canvas, t.a, "create_shape", rect("mine"), client_op_id=cid)
	assert status == 201, first
	status, body = post_op(canvas, t.b, "create_shape", rect("theirs"), client_op_id=cid)
	assert_error(status, body, 409, "client_op_id_conflict")
	# Its author still gets the original back; the canvas holds only the first op.
	status, again = post_op(canvas, t.a, "create_shape", rect("mine"), client_op_id=cid)
	assert status == 200 and again["version"] == first["version"], again
	assert [o["payload"]["shape_id"] for o in list_ops(canvas, t.a)] == ["mine"]
	# The same id on another canvas is another op.
	other = create_canvas(t.owner, t.workspace_id)["id"]
	status, body = post_op(other, t.b, "create_shape", rect("theirs"), client_op_id=cid)
	assert status == 201, body


def test_client_op_id_used_by_another_user_is_an_error_over_the_websocket(cluster):
	t = make_team({"a": "editor", "b": "editor"})
	canvas = create_canvas(t.owner, t.workspace_id)["id"]
	cid = str(uuid.uuid4())
	status, _ = post_op(canvas, t.a, "create_shape", rect("mine"), client_op_id=cid)
	assert status == 201

	async def scenario():
		b = await connect(cluster.gateway_url, canvas, t.b)
		try:
			await b.send_op("create_shape", rect("theirs"), cid)
			reply = await b.wait_reply(cid)
			assert reply["type"] == "error" and reply["code"] == "client_op_id_conflict", reply
		finally:
			await close_all(b)

	run(scenario())
	assert len(db_rows(cluster, canvas)) == 1


def test_the_same_client_op_id_from_two_users_in_one_batch_commits_the_first_only(cluster):
	"""Two users racing with one id: exactly one 201, the other 409, never a 500."""
	t = make_team({"a": "editor", "b": "editor"})
	canvas = create_canvas(t.owner, t.workspace_id)["id"]
	for _ in range(10):
		cid = str(uuid.uuid4())
		answers = []

		def send(user):
			answers.append(post_op(canvas, user, "create_shape", rect("r"), client_op_id=cid,
					       base=cluster.node_urls[0])[0])

		threads = [threading.Thread(target=send, args=(u,)) for u in (t.a, t.b)]
		for th in threads:
			th.start()
		for th in threads:
			th.join(timeout=60)
		assert sorted(answers) == [201, 409], answers


# ---------------------------------------------------------------------------------------------
# Size limits.

LIMIT_ENV = {
	**harness.NODE_ENV,
	"FLOWSTATE_MAX_SHAPES": "12",
	"FLOWSTATE_MAX_STATE_BYTES": "65536",
	"FLOWSTATE_MAX_PATH_POINTS": "10",
	"FLOWSTATE_SNAPSHOT_EVERY": "100000",   # only the commit path tightens the bounds
}


@pytest.fixture(scope="module")
def limited():
	c = Cluster(harness.new_cluster_dir(), nodes=1, sanitized_build=True, env_overrides=LIMIT_ENV)
	failed = True
	try:
		c.start()
		c.wait_ready(timeout=30)
		yield c
		failed = False
	finally:
		problems = harness.stop_and_check(c)
		harness.dispose(c.root, failed or problems, "limits cluster directory")
		if problems:
			pytest.fail("\n\n".join(problems), pytrace=False)


def limited_canvas(c):
	t = make_team({"ed": "editor"}, base=c.node_urls[0])
	return t, create_canvas(t.owner, t.workspace_id, base=c.node_urls[0])["id"]


def test_a_canvas_holds_at_most_max_shapes_and_frees_room_when_shapes_go(limited):
	base = limited.node_urls[0]
	t, canvas = limited_canvas(limited)
	for i in range(12):
		status, body = post_op(canvas, t.ed, "create_shape", rect("s%d" % i), base=base)
		assert status == 201, body
	status, body = post_op(canvas, t.ed, "create_shape", rect("s12"), base=base)
	assert_error(status, body, 422, "canvas_full")
	# A delete leaves the bound where it was; the next create finds the canvas "full" by its
	# bound, the node tightens it to the exact count, and the create commits.
	assert post_op(canvas, t.ed, "delete_shape", {"shape_id": "s0"}, base=base)[0] == 201
	status, body = post_op(canvas, t.ed, "create_shape", rect("s12"), base=base)
	assert status == 201, body
	assert len(get_state(canvas, t.ed, base=base)["shapes"]) == 12
	status, body = post_op(canvas, t.ed, "create_shape", rect("s13"), base=base)
	assert_error(status, body, 422, "canvas_full")
	# At the limit shapes still change (docs/canvas-model.md: a create_shape counts as a new
	# shape even when it replaces one, so that one is refused; updates are not).
	status, body = post_op(canvas, t.ed, "create_shape", rect("s12", 5), base=base)
	assert_error(status, body, 422, "canvas_full")
	for op_type, payload in (("update_shape", {"shape_id": "s12", "text": "still editable"}),
				 ("move_shape", {"shape_id": "s12", "x": 7, "y": 7}),
				 ("resize_shape", {"shape_id": "s12", "x": 7, "y": 7, "w": 3, "h": 3})):
		status, body = post_op(canvas, t.ed, op_type, payload, base=base)
		assert status == 201, (op_type, body)


def test_a_path_has_at_most_max_path_points(limited):
	base = limited.node_urls[0]
	t, canvas = limited_canvas(limited)
	path = lambda n: {"shape_id": "p", "kind": "path", "x": 0, "y": 0,
			  "points": [[i, i] for i in range(n)]}
	status, body = post_op(canvas, t.ed, "create_shape", path(11), base=base)
	assert_error(status, body, 422, "canvas_full")
	assert post_op(canvas, t.ed, "create_shape", path(10), base=base)[0] == 201
	status, body = post_op(canvas, t.ed, "update_shape",
			       {"shape_id": "p", "points": [[0, 0]] * 11}, base=base)
	assert_error(status, body, 422, "canvas_full")


def test_state_bytes_are_bounded_and_moves_never_fill_a_canvas(limited):
	base = limited.node_urls[0]
	t, canvas = limited_canvas(limited)
	# Ten shapes of about 6 KB: the 11th would pass 64 KiB.
	for i in range(10):
		status, body = post_op(canvas, t.ed, "create_shape", rect("t%d" % i, text="x" * 6000),
				       base=base)
		assert status == 201, (i, body)
	status, body = post_op(canvas, t.ed, "create_shape", rect("t10", text="x" * 6000),
			       base=base)
	assert_error(status, body, 422, "canvas_full")
	state_bytes = len(json.dumps(get_state(canvas, t.ed, base=base)["shapes"],
				     separators=(",", ":")))
	assert state_bytes <= 65536, state_bytes
	# Hundreds of moves add to the bound (an op may grow the state by its size) but not to the
	# state: each time the bound says full, the node tightens it and the move commits.
	w = RestWriter(base, t.ed.token)
	try:
		for i in range(400):
			w.commit(canvas, "move_shape", {"shape_id": "t%d" % (i % 10), "x": i, "y": i})
	finally:
		w.close()


def test_a_websocket_batch_is_refused_whole_when_it_does_not_fit(limited):
	base = limited.node_urls[0]
	t, canvas = limited_canvas(limited)
	for i in range(10):
		assert post_op(canvas, t.ed, "create_shape", rect("s%d" % i), base=base)[0] == 201

	async def scenario():
		ws = await connect(base, canvas, t.ed)
		try:
			ops = [{"op_type": "create_shape", "payload": rect("b%d" % i),
				"client_op_id": str(uuid.uuid4())} for i in range(3)]
			await ws.send({"type": "operations", "ops": ops})
			for op in ops:
				reply = await ws.wait_reply(op["client_op_id"])
				assert reply["type"] == "error" and reply["code"] == "canvas_full", reply
			ack = await ws.commit("create_shape", rect("b0"))
			assert ack["version"] == 11, ack
		finally:
			await close_all(ws)

	run(scenario())
	assert sorted(get_state(canvas, t.ed, base=base)["shapes"]) == sorted(
		["s%d" % i for i in range(10)] + ["b0"])


# ---------------------------------------------------------------------------------------------
# Plans on a cold table.

def test_the_duplicate_probe_stays_an_index_probe_on_a_cold_table(tmp_path):
	"""schema/008's trap: a session's cached plan scanning the whole canvas for duplicates.
	On a fresh database (no statistics) with a large canvas, every plan fs_commit_batch runs,
	including the generic plan a session switches to after five calls, must probe indexes."""
	c = Cluster(harness.new_cluster_dir(), nodes=1, sanitized_build=True,
		    env_overrides=harness.NODE_ENV)
	failed = True
	try:
		c.start()
		c.wait_ready(timeout=30)
		base = c.node_urls[0]
		t = make_team({"ed": "editor"}, base=base)
		canvas = create_canvas(t.owner, t.workspace_id, base=base)["id"]
		assert post_op(canvas, t.ed, "create_shape", rect("s"), base=base)[0] == 201
		c.psql("ALTER TABLE operations SET (autovacuum_enabled = off); "
		       "INSERT INTO operations (canvas_id, version, client_op_id, user_id, type, payload) "
		       "SELECT '%s', g, gen_random_uuid(), '%s', 'move_shape', "
		       "'{\"shape_id\": \"s\", \"x\": 1, \"y\": 2}' FROM generate_series(2, 20001) g; "
		       "UPDATE canvases SET version = 20001 WHERE id = '%s';"
		       % (canvas, t.ed.id, canvas), user="postgres")
		dup = c.psql("SELECT client_op_id FROM operations WHERE canvas_id = '%s' AND version = 777"
			     % canvas, user="postgres")
		calls = []
		for i in range(8):
			fresh = str(uuid.uuid4())
			calls.append("SELECT count(*) FROM fs_commit_batch(ARRAY['%s']::uuid[], "
				     "ARRAY[NULL]::bigint[], NULL, '{}'::uuid[], ARRAY[1,1], "
				     "ARRAY['%s','%s']::uuid[], "
				     "ARRAY['%s','%s']::uuid[], ARRAY['move_shape','move_shape'], "
				     "ARRAY['do','do'], ARRAY[NULL,NULL]::bigint[], ARRAY[40,40], ARRAY[1,2], "
				     "'[{\"shape_id\":\"s\",\"x\":3,\"y\":4},{\"shape_id\":\"s\",\"x\":5,\"y\":6}]', "
				     "100000, 100000000);" % (canvas, dup, fresh, t.ed.id, t.ed.id))
		script = ("LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; "
			  "SET auto_explain.log_nested_statements = on; "
			  "SET auto_explain.log_level = 'notice'; SET client_min_messages = 'notice';\n"
			  + "\n".join(calls))
		res = subprocess.run([str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
				      "-h", c.postgres.address.host, "-p", str(c.pg_port), "-U", "postgres",
				      "-d", "flowstate", "-f", "-"],
				     input=script, capture_output=True, text=True, timeout=120)
		assert res.returncode == 0, res.stderr
		plans = res.stderr
		assert plans.count("Query Text:") >= 8, plans[:2000]
		assert "Seq Scan on operations" not in plans, plans
		assert "operations_client_op_id_unique" in plans, plans
		# No plan reads the canvas's ops in version order to filter them by id.
		assert "Filter: (client_op_id" not in plans, plans
		failed = False
	finally:
		problems = harness.stop_and_check(c)
		harness.dispose(c.root, failed or problems, "cold-table cluster directory")
		if problems:
			pytest.fail("\n\n".join(problems), pytrace=False)
