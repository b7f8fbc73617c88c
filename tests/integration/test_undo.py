"""Per-user undo and redo over real HTTP against three sanitized nodes (DESIGN §5,
docs/canvas-model.md §6, node/app/undo.c): undo appends forward ops that revert only what the
user's step changed and is still as the step left it, never another user's later edit; a step
that cannot be undone is passed over, so the stack never gets stuck; stacks are per user and
rebuilt from the log, so any node serves any request.

Two editors A and B share each canvas (a fresh canvas per test); an owner, a viewer and an
outsider complete the team.
"""

import json
import threading
import time
import uuid

import pytest

from helpers import (api, canvas_version, commit, create_canvas, get_state_raw, make_team,
		     rect)

ANSWER_FIELDS = {"applied", "status", "operation", "operations", "kept", "skipped", "version"}


# ---------------------------------------------------------------------------------------------
# Helpers.

@pytest.fixture(scope="module")
def team(cluster):
	"""Editors a and b, who undo; an owner, a viewer and an outsider."""
	return make_team({"a": "editor", "b": "editor", "viewer": "viewer", "outsider": None})


@pytest.fixture
def canvas(team):
	return create_canvas(team.owner, team.workspace_id, "undo")["id"]


def create(canvas_id, user, shape_id, base=None, **fields):
	return commit(canvas_id, user, "create_shape", rect(shape_id, **fields), base=base)


def move(canvas_id, user, shape_id, x, y, base=None):
	return commit(canvas_id, user, "move_shape", {"shape_id": shape_id, "x": x, "y": y},
		      base=base)


def history(canvas_id, user, what, base=None, body=None):
	"""POST /undo or /redo; returns (status, answer)."""
	return api("POST", "/api/v1/canvases/%s/%s" % (canvas_id, what), body, token=user.token,
		   base=base)


def undo(canvas_id, user, base=None):
	status, answer = history(canvas_id, user, "undo", base=base)
	assert status == 200, (status, answer)
	return answer


def redo(canvas_id, user, base=None):
	status, answer = history(canvas_id, user, "redo", base=base)
	assert status == 200, (status, answer)
	return answer


def state_raw(canvas_id, user, base=None, at=None):
	"""(version, the shapes exactly as sent) of GET /state."""
	body, raw = get_state_raw(canvas_id, user, at=at, base=base)
	return body["version"], raw


def shapes(canvas_id, user, base=None):
	return json.loads(state_raw(canvas_id, user, base=base)[1])


def assert_applied(answer, user, undo_of, kind="undo", status="applied"):
	"""An answer that committed ops: each op is an undo/redo of `undo_of` by `user`, at
	consecutive versions ending at answer.version."""
	assert answer["applied"] is True, answer
	assert answer["status"] == status, answer
	ops = answer["operations"]
	assert ops and answer["operation"] == ops[0], answer
	first = ops[0]["version"]
	assert [o["version"] for o in ops] == list(range(first, first + len(ops))), answer
	assert answer["version"] == ops[-1]["version"], answer
	for o in ops:
		assert o["kind"] == kind and o["undo_of"] == undo_of, o
		assert o["created_by"] == user.id, o
	return ops


def assert_nothing_done(answer, status, version):
	assert answer["applied"] is False, answer
	assert answer["status"] == status, answer
	assert answer["operation"] is None and answer["operations"] == [], answer
	assert answer["version"] == version, answer


# ---------------------------------------------------------------------------------------------
# Undo and redo of one user's own steps.

def test_undo_of_move_restores_previous_position_and_redo_reapplies_it(team, canvas):
	a = team.a
	create(canvas, a, "s", x=10, y=20)
	moved = move(canvas, a, "s", 100, 200)
	answer = undo(canvas, a)
	ops = assert_applied(answer, a, undo_of=moved["version"])
	assert answer["kept"] == {} and answer["skipped"] == [], answer
	assert [(o["type"], o["payload"]["x"], o["payload"]["y"]) for o in ops] == \
		[("move_shape", 10, 20)], ops
	assert answer["version"] == 3
	s = shapes(canvas, a)["s"]
	assert (s["x"], s["y"]) == (10, 20)

	answer = redo(canvas, a)
	ops = assert_applied(answer, a, undo_of=3, kind="redo")
	assert [(o["type"], o["payload"]["x"], o["payload"]["y"]) for o in ops] == \
		[("move_shape", 100, 200)], ops
	s = shapes(canvas, a)["s"]
	assert (s["x"], s["y"]) == (100, 200)
	assert canvas_version(canvas, a) == 4


def test_undo_of_create_deletes_and_redo_recreates_the_same_shape(team, canvas):
	a = team.a
	created = create(canvas, a, "s", kind="sticky", x=1.5, y=-2, text="note \u2713",
			 style={"fill": "#FFCC00", "opacity": 0.5}, rotation=30, z=3)
	_, original = state_raw(canvas, a)
	answer = undo(canvas, a)
	ops = assert_applied(answer, a, undo_of=created["version"])
	assert [o["type"] for o in ops] == ["delete_shape"] and ops[0]["payload"] == {"shape_id": "s"}
	assert shapes(canvas, a) == {}
	answer = redo(canvas, a)
	ops = assert_applied(answer, a, undo_of=2, kind="redo")
	assert [o["type"] for o in ops] == ["create_shape"], ops
	_, now = state_raw(canvas, a)
	assert now == original  # byte for byte: the complete shape came back


def test_undo_redo_chain_walks_back_and_forth_through_the_users_steps(team, canvas):
	a = team.a
	create(canvas, a, "s", x=0, y=0)                       # v1
	move(canvas, a, "s", 50, 50)                           # v2
	assert_applied(undo(canvas, a), a, undo_of=2)          # v3: back to 0,0
	assert_applied(redo(canvas, a), a, 3, kind="redo")     # v4: 50,50
	assert_applied(undo(canvas, a), a, undo_of=4)          # v5: undo of the redo: 0,0
	assert shapes(canvas, a)["s"]["x"] == 0
	assert_applied(undo(canvas, a), a, undo_of=1)          # v6: the create: deleted
	assert shapes(canvas, a) == {}
	assert_nothing_done(undo(canvas, a), "empty", 6)
	assert_applied(redo(canvas, a), a, 6, kind="redo")     # v7: re-created at 0,0
	assert shapes(canvas, a)["s"]["x"] == 0
	assert_applied(redo(canvas, a), a, 5, kind="redo")     # v8: moved again
	assert shapes(canvas, a)["s"]["x"] == 50
	assert_nothing_done(redo(canvas, a), "empty", 8)
	assert canvas_version(canvas, a) == 8


def test_undo_passes_over_a_step_that_changed_nothing(team, canvas):
	a = team.a
	create(canvas, a, "t")                                 # v1
	move(canvas, a, "ghost", 5, 5)                         # v2: a no-op, missing shape
	answer = undo(canvas, a)
	assert_applied(answer, a, undo_of=1)
	assert answer["skipped"] == [2], answer
	assert shapes(canvas, a) == {}


# ---------------------------------------------------------------------------------------------
# Undo never overwrites another user's later edit.

def test_undo_never_overwrites_a_later_move_by_another_user(team, canvas):
	a, b = team.a, team.b
	create(canvas, b, "s", x=0, y=0)                       # v1 by B
	move(canvas, a, "s", 100, 100)                         # v2 by A
	move(canvas, b, "s", 200, 200)                         # v3 by B
	answer = undo(canvas, a)
	assert answer["applied"] is False, answer
	assert answer["status"] == "conflict", answer
	assert answer["operations"] == [] and answer["version"] == 3, answer
	assert answer["skipped"] == [2], answer
	assert canvas_version(canvas, a) == 3
	s = shapes(canvas, a)["s"]
	assert (s["x"], s["y"]) == (200, 200)


def test_undo_reverts_only_the_users_property_and_keeps_the_others_edit(team, canvas):
	a, b = team.a, team.b
	create(canvas, b, "s", kind="sticky")                  # v1 by B: fill none, text ""
	commit(canvas, a, "update_shape", {"shape_id": "s", "style": {"fill": "#ff0000"}})  # v2
	commit(canvas, b, "update_shape", {"shape_id": "s", "text": "hello"})               # v3
	answer = undo(canvas, a)
	ops = assert_applied(answer, a, undo_of=2, status="applied")
	assert answer["kept"] == {} and answer["skipped"] == [], answer
	assert [(o["type"], o["payload"]) for o in ops] == \
		[("update_shape", {"shape_id": "s", "style": {"fill": "none"}})], ops
	s = shapes(canvas, a)["s"]
	assert s["style"]["fill"] == "none"
	assert s["text"] == "hello"


def test_undo_is_partial_when_another_user_changed_part_of_the_step(team, canvas):
	a, b = team.a, team.b
	create(canvas, b, "s", x=0, y=0, w=10, h=10)           # v1 by B
	commit(canvas, a, "resize_shape", {"shape_id": "s", "x": 5, "y": 5, "w": 50, "h": 60})  # v2
	move(canvas, b, "s", 300, 400)                         # v3 by B: x, y are B's now
	answer = undo(canvas, a)
	assert_applied(answer, a, undo_of=2, status="partial")
	assert {k: sorted(v) for k, v in answer["kept"].items()} == {"s": ["x", "y"]}, answer
	s = shapes(canvas, a)["s"]
	assert (s["x"], s["y"], s["w"], s["h"]) == (300, 400, 10, 10)


def test_undo_of_a_step_on_a_shape_another_user_deleted_does_not_resurrect_it(team, canvas):
	a, b = team.a, team.b
	create(canvas, b, "s")                                 # v1 by B
	create(canvas, a, "t")                                 # v2 by A
	move(canvas, a, "s", 70, 70)                           # v3 by A
	commit(canvas, b, "delete_shape", {"shape_id": "s"})   # v4 by B
	# The move cannot be undone (re-creating s would undo B's delete): it is passed over and
	# A's earlier step is undone, in this request or the next one.
	answers = [undo(canvas, a)]
	if not answers[0]["applied"]:
		assert answers[0]["status"] == "conflict", answers
		answers.append(undo(canvas, a))
	done = answers[-1]
	assert_applied(done, a, undo_of=2)
	assert [o["type"] for o in done["operations"]] == ["delete_shape"], done
	assert done["operation"]["payload"] == {"shape_id": "t"}, done
	assert 3 in [v for ans in answers for v in ans["skipped"]], answers
	assert shapes(canvas, a) == {}
	version = canvas_version(canvas, a)
	# Nothing left that can be undone: an answer, never a resurrection or an error.
	answer = undo(canvas, a)
	assert answer["applied"] is False and answer["operations"] == [], answer
	assert answer["version"] == version
	assert canvas_version(canvas, a) == version and shapes(canvas, a) == {}


def test_undo_is_not_stuck_behind_many_steps_that_cannot_be_undone(team, canvas):
	"""More unrevertable steps than one request examines must not hide the step below them
	(docs/canvas-model.md §6: such a step is popped, the stack never gets stuck)."""
	a, b = team.a, team.b
	create(canvas, b, "s")                                 # v1 by B
	t = create(canvas, a, "t")                             # v2 by A
	for i in range(25):                                    # v3..v27 by A
		move(canvas, a, "s", i, i)
	commit(canvas, b, "delete_shape", {"shape_id": "s"})   # v28 by B
	answers = []
	for _ in range(30):
		answer = undo(canvas, a)
		answers.append(answer)
		if answer["applied"]:
			break
	assert answers[-1]["applied"], "A's create of t was never undone; last answers: %r" % (
		answers[-2:],)
	assert_applied(answers[-1], a, undo_of=t["version"])
	assert shapes(canvas, a) == {}


def test_a_step_that_could_not_be_undone_stays_popped(team, canvas):
	"""The conflict answer popped the step (docs/canvas-model.md §6): it does not come back to
	life when the shape does, moving the shape long after A was told nothing was undone."""
	a, b = team.a, team.b
	create(canvas, b, "s", x=0, y=0)                       # v1 by B
	move(canvas, a, "s", 5, 5)                             # v2 by A
	commit(canvas, b, "delete_shape", {"shape_id": "s"})   # v3 by B
	answer = undo(canvas, a)
	assert answer["applied"] is False and answer["status"] == "conflict", answer
	assert answer["skipped"] == [2], answer
	assert_applied(undo(canvas, b), b, undo_of=3)          # v4: B brings s back at 5,5
	answer = undo(canvas, a)
	assert answer["applied"] is False and answer["operations"] == [], answer
	s = shapes(canvas, a)["s"]
	assert (s["x"], s["y"]) == (5, 5)


# ---------------------------------------------------------------------------------------------
# Stacks are per user; a new op clears the redo stack.

def test_undo_stacks_are_per_user(team, canvas):
	a, b = team.a, team.b
	create(canvas, a, "s", x=0, y=0)                       # v1 by A
	create(canvas, b, "u")                                 # v2 by B
	move(canvas, a, "s", 9, 9)                             # v3 by A
	answer = undo(canvas, b)
	ops = assert_applied(answer, b, undo_of=2)
	assert ops[0]["payload"] == {"shape_id": "u"}, ops
	now = shapes(canvas, a)
	assert set(now) == {"s"} and now["s"]["x"] == 9        # A's steps untouched
	assert_nothing_done(undo(canvas, b), "empty", 4)
	answer = undo(canvas, a)
	assert_applied(answer, a, undo_of=3)
	assert shapes(canvas, a)["s"]["x"] == 0
	# B's redo brings back B's shape only.
	answer = redo(canvas, b)
	assert_applied(answer, b, undo_of=4, kind="redo")
	now = shapes(canvas, a)
	assert set(now) == {"s", "u"} and now["s"]["x"] == 0


def test_a_new_op_clears_the_redo_stack(team, canvas):
	a = team.a
	create(canvas, a, "s", x=0, y=0)                       # v1
	move(canvas, a, "s", 10, 10)                           # v2
	assert_applied(undo(canvas, a), a, undo_of=2)          # v3
	move(canvas, a, "s", 20, 20)                           # v4: a new step
	answer = redo(canvas, a)
	assert_nothing_done(answer, "empty", 4)
	assert answer["skipped"] == []
	assert canvas_version(canvas, a) == 4 and shapes(canvas, a)["s"]["x"] == 20


def test_another_users_op_does_not_clear_my_redo_stack(team, canvas):
	a, b = team.a, team.b
	create(canvas, a, "s", x=0, y=0)                       # v1 by A
	move(canvas, a, "s", 10, 10)                           # v2 by A
	assert_applied(undo(canvas, a), a, undo_of=2)          # v3 by A
	create(canvas, b, "u")                                 # v4 by B
	assert_applied(redo(canvas, a), a, undo_of=3, kind="redo")
	now = shapes(canvas, a)
	assert now["s"]["x"] == 10 and "u" in now


# ---------------------------------------------------------------------------------------------
# Any node serves any request: stacks are rebuilt from the log.

def _history_script(canvas_id, team, nodes):
	"""Steps by A and B, with undo/redo spread over `nodes` (cycled); returns the states after
	each undo/redo and the answers' statuses."""
	a, b = team.a, team.b
	n = lambda i: nodes[i % len(nodes)]  # noqa: E731
	create(canvas_id, a, "s", base=n(0), x=0, y=0)
	create(canvas_id, b, "u", base=n(1), kind="ellipse")
	move(canvas_id, a, "s", 40, 40, base=n(2))
	commit(canvas_id, a, "update_shape", {"shape_id": "s", "style": {"stroke": "#123"}},
	       base=n(0))
	commit(canvas_id, b, "update_shape", {"shape_id": "s", "text": "B's"}, base=n(1))
	trace = []
	steps = [("undo", a), ("undo", a), ("redo", a), ("undo", b), ("undo", a), ("undo", a),
		 ("redo", a), ("redo", b), ("redo", a), ("redo", a)]
	for i, (what, user) in enumerate(steps):
		status, answer = history(canvas_id, user, what, base=n(i + 1))
		assert status == 200, (i, what, status, answer)
		states = {state_raw(canvas_id, user, base=node) for node in nodes}
		assert len(states) == 1, "nodes disagree after step %d: %r" % (i, states)
		trace.append((answer["applied"], answer["status"], answer["version"],
			      [(o["type"], o["payload"], o["kind"], o["undo_of"])
			       for o in answer["operations"]], states.pop()[1]))
	return trace


def test_undo_and_redo_via_different_nodes_give_the_same_result(cluster, team):
	canvases = [create_canvas(team.owner, team.workspace_id, "nodes")["id"] for _ in range(2)]
	spread = _history_script(canvases[0], team, cluster.node_urls)
	single = _history_script(canvases[1], team, cluster.node_urls[:1])
	assert spread == single
	assert [t[0] for t in spread] == [True] * 10, spread   # every step had something to do
	assert json.loads(spread[-1][4])["s"]["style"]["stroke"] == "#123"


# ---------------------------------------------------------------------------------------------
# Atomic against concurrent writers.

def test_undo_and_redo_stay_exact_while_another_user_writes_concurrently(cluster, team, canvas):
	"""B drags a shape (a move every ~10 ms, through all nodes) while A undoes and redoes a
	step on another shape: every undo/redo lands (a 409 "retry" is allowed, a wrong op is not),
	touches only A's shape, and leaves B's shape where B last put it."""
	a, b = team.a, team.b
	create(canvas, a, "s", x=0, y=0)
	move(canvas, a, "s", 1, 1)
	create(canvas, b, "u", x=0, y=0)
	stop = threading.Event()
	b_moves = []
	errors = []

	def writer():
		i = 0
		try:
			while not stop.is_set():
				i += 1
				move(canvas, b, "u", i, -i, base=cluster.node_urls[i % 3])
				b_moves.append(i)
				stop.wait(0.01)
		except Exception as e:
			errors.append(repr(e))

	th = threading.Thread(target=writer)
	th.start()
	answers = []
	conflicts = 0
	try:
		undone = False
		for step in range(8):
			# Let B commit in between every two of A's steps.
			seen = len(b_moves)
			deadline = time.monotonic() + 10
			while len(b_moves) <= seen and not errors and time.monotonic() < deadline:
				time.sleep(0.002)
			what = "redo" if undone else "undo"
			for attempt in range(10):
				status, answer = history(canvas, a, what,
							 base=cluster.node_urls[(step + attempt) % 3])
				assert status in (200, 409), (status, answer)
				if status == 200:
					break
				assert answer["code"] == "conflict", answer
				conflicts += 1
			assert status == 200, "step %d: %s answered 409 ten times" % (step, what)
			assert answer["applied"] is True, (step, what, answer)
			answers.append((what, answer))
			undone = not undone
	finally:
		stop.set()
		th.join(timeout=60)
	assert not errors, errors
	assert len(b_moves) >= 8, "the concurrent writer hardly ran"
	for what, answer in answers:
		for o in answer["operations"]:
			assert o["payload"]["shape_id"] == "s", answer   # never touches B's shape
	now = shapes(canvas, a)
	assert (now["u"]["x"], now["u"]["y"]) == (b_moves[-1], -b_moves[-1])
	assert (now["s"]["x"], now["s"]["y"]) == (1, 1)         # 4 undos, 4 redos


def test_undo_of_a_restore_reverts_the_whole_restore_and_redo_reapplies_it(team, canvas):
	"""A restore is one step, however many ops it committed."""
	create(canvas, team.a, "r1")
	create(canvas, team.a, "r2")
	checkpoint = canvas_version(canvas, team.a)
	move(canvas, team.a, "r1", 50, 50)
	create(canvas, team.a, "r3")
	commit(canvas, team.a, "delete_shape", {"shape_id": "r2"})
	_, before_restore = state_raw(canvas, team.a)
	status, restored = api("POST", "/api/v1/canvases/%s/restore" % canvas,
			       {"version": checkpoint}, token=team.a.token)
	assert status == 200 and len(restored["operations"]) >= 3, (status, restored)
	_, at_checkpoint = state_raw(canvas, team.a, at=checkpoint)
	assert state_raw(canvas, team.a)[1] == at_checkpoint
	answer = undo(canvas, team.a)
	assert answer["applied"] and len(answer["operations"]) == len(restored["operations"]), answer
	assert state_raw(canvas, team.a)[1] == before_restore
	answer = redo(canvas, team.a)
	assert answer["applied"], answer
	assert state_raw(canvas, team.a)[1] == at_checkpoint


# ---------------------------------------------------------------------------------------------
# Access and edge cases.

def test_undo_and_redo_by_viewer_are_403_and_by_non_member_404(team, canvas):
	create(canvas, team.a, "s")
	for what in ("undo", "redo"):
		status, body = history(canvas, team.viewer, what)
		assert status == 403 and body["code"] == "forbidden", body
		status, body = history(canvas, team.outsider, what)
		assert status == 404 and body["code"] == "not_found", body
		status, body = history(str(uuid.uuid4()), team.a, what)
		assert status == 404 and body["code"] == "not_found", body
		status, body = history("not-a-uuid", team.a, what)
		assert status == 404 and body["code"] == "not_found", body
		status, body = api("POST", "/api/v1/canvases/%s/%s" % (canvas, what))
		assert status == 401, body
		status, body = history(canvas, team.a, what, body={"steps": 2})
		assert status == 422 and body["code"] == "unknown_field", body
	assert canvas_version(canvas, team.a) == 1


def test_empty_stack_answers_200_applied_false_status_empty(team, canvas):
	for what in ("undo", "redo"):
		status, answer = history(canvas, team.a, what)
		assert status == 200, answer
		assert_nothing_done(answer, "empty", 0)
		assert answer["skipped"] == []
	create(canvas, team.b, "s")   # someone else's step is not on A's stack
	assert_nothing_done(undo(canvas, team.a), "empty", 1)
	assert_nothing_done(redo(canvas, team.b), "empty", 1)
	status, answer = history(canvas, team.a, "undo", body={})  # an empty object is fine
	assert status == 200 and answer["status"] == "empty", answer
	assert canvas_version(canvas, team.a) == 1


def test_every_undo_answer_has_the_same_fields(team, canvas):
	"""{applied, status, operation, operations, kept, skipped, version}, whether or not
	anything was undone."""
	create(canvas, team.a, "s")
	applied = undo(canvas, team.a)
	assert set(applied) == ANSWER_FIELDS, applied
	empty = undo(canvas, team.a)
	assert set(empty) == ANSWER_FIELDS, empty
	assert empty["kept"] == {}, empty
