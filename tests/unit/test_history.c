#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/history.h"

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	cr_assert_not_null(v, "test JSON does not parse: %s: %s", jerr.text, text);
	return v;
}

static char *canon(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	cr_assert_not_null(s);
	return s;
}

/* ---- a seeded generator of random valid ops over a small id pool ---- */

#include "canvas_gen.h"
}


/* history_undo_ops on a group of one op object. */
static enum history_status undo_op(const struct canvas_state *before, json_t *op,
				   const struct canvas_state *current, struct history_undo *out)
{
	json_t *group = json_array();
	json_array_append(group, op);
	enum history_status st = history_undo_ops(before, group, current, out);
	json_decref(group);
	return st;
}

static void apply_ops(struct canvas_state *state, const json_t *ops)
{
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op)
		canvas_apply_op(state, op);
}

static void expect_equal_states(const struct canvas_state *a, const struct canvas_state *b,
				const char *what)
{
	char *sa = canvas_state_serialize(a, NULL), *sb = canvas_state_serialize(b, NULL);
	cr_assert_str_eq(sa, sb, "%s", what);
	free(sa);
	free(sb);
}

/* A state built from a JSON array of ops. */
static struct canvas_state *state_of(const char *ops_text)
{
	struct canvas_state *s = canvas_state_new();
	json_t *ops = parse(ops_text);
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op)
		cr_assert(canvas_apply_op(s, op), "setup op %zu applies", i);
	json_decref(ops);
	return s;
}

/*
 * A user's op on `before`, then others' ops, then the undo: checks the status, the undo ops
 * and the kept report against the expected canonical JSON texts.
 */
static void expect_undo(const char *setup, const char *op_text, const char *others,
			enum history_status status, const char *ops, const char *kept)
{
	struct canvas_state *before = state_of(setup);
	struct canvas_state *current = canvas_state_clone(before);
	json_t *op = parse(op_text);
	canvas_apply_op(current, op);
	json_t *other_ops = parse(others);
	apply_ops(current, other_ops);
	enum op_type type;
	const json_t *payload;
	cr_assert(op_unpack(op, &type, &payload, NULL));
	struct history_undo undo;
	enum history_status got = history_undo(before, type, payload, current, &undo);
	cr_assert_eq(got, undo.status);
	char *got_ops = canon(undo.ops), *got_kept = canon(undo.kept);
	cr_assert_eq(got, status, "status %s, expected %s; ops %s kept %s",
		     history_status_name(got), history_status_name(status), got_ops, got_kept);
	cr_assert_str_eq(got_ops, ops);
	cr_assert_str_eq(got_kept, kept);
	free(got_ops);
	free(got_kept);
	history_undo_release(&undo);
	json_decref(other_ops);
	json_decref(op);
	canvas_state_free(before);
	canvas_state_free(current);
}

#define CREATE_A                                                                               \
	"{\"type\":\"create_shape\",\"payload\":{\"shape_id\":\"a\",\"kind\":\"rect\",\"x\":0," \
	"\"y\":0,\"w\":10,\"h\":10,\"style\":{\"fill\":\"#fff\",\"stroke\":\"#000\"}}}"
#define WITH_A "[" CREATE_A "]"
#define A_SHAPE_PAYLOAD                                                                        \
	"{\"from\":null,\"h\":10.0,\"kind\":\"rect\",\"points\":[],\"rotation\":0.0,"          \
	"\"shape_id\":\"a\",\"style\":{\"fill\":\"#fff\",\"opacity\":1.0,\"stroke\":\"#000\","  \
	"\"width\":1.0},\"text\":\"\",\"to\":null,\"w\":10.0,\"x\":0.0,\"y\":0.0,\"z\":0.0}"
#define MOVE_A(x, y)                                                                           \
	"{\"type\":\"move_shape\",\"payload\":{\"shape_id\":\"a\",\"x\":" #x ",\"y\":" #y "}}"
#define UPDATE_A(props) "{\"type\":\"update_shape\",\"payload\":{\"shape_id\":\"a\"," props "}}"
#define DELETE_A "{\"type\":\"delete_shape\",\"payload\":{\"shape_id\":\"a\"}}"

Test(history, undo_of_create_deletes_the_shape_it_created)
{
	expect_undo("[]", CREATE_A, "[]", HISTORY_APPLIED,
		    "[{\"payload\":{\"shape_id\":\"a\"},\"type\":\"delete_shape\"}]", "{}");
}

Test(history, undo_of_create_conflicts_if_someone_changed_the_shape_since)
{
	expect_undo("[]", CREATE_A,
		    "[" MOVE_A(5, 0) "," UPDATE_A("\"style\":{\"fill\":\"#f00\"}") "]",
		    HISTORY_CONFLICT, "[]", "{\"a\":[\"x\",\"style.fill\"]}");
}

Test(history, undo_of_create_is_a_noop_once_the_shape_is_gone)
{
	expect_undo("[]", CREATE_A, "[" DELETE_A "]", HISTORY_NOOP, "[]", "{}");
}

Test(history, undo_of_delete_creates_the_shape_as_it_was)
{
	expect_undo(WITH_A, DELETE_A, "[]", HISTORY_APPLIED,
		    "[{\"payload\":" A_SHAPE_PAYLOAD ",\"type\":\"create_shape\"}]", "{}");
}

Test(history, undo_of_delete_conflicts_if_the_id_was_created_again)
{
	expect_undo(WITH_A, DELETE_A,
		    "[{\"type\":\"create_shape\",\"payload\":{\"shape_id\":\"a\",\"kind\":\"text\","
		    "\"x\":1,\"y\":1}}]",
		    HISTORY_CONFLICT, "[]", "{\"a\":[\"shape\"]}");
}

Test(history, undo_of_move_moves_back)
{
	expect_undo(WITH_A, MOVE_A(5, 6), "[]", HISTORY_APPLIED,
		    "[{\"payload\":{\"shape_id\":\"a\",\"x\":0.0,\"y\":0.0},"
		    "\"type\":\"move_shape\"}]",
		    "{}");
}

Test(history, undo_of_move_ignores_later_edits_of_other_properties)
{
	expect_undo(WITH_A, MOVE_A(5, 6),
		    "[" UPDATE_A("\"style\":{\"fill\":\"#f00\"},\"text\":\"hi\"") "]",
		    HISTORY_APPLIED,
		    "[{\"payload\":{\"shape_id\":\"a\",\"x\":0.0,\"y\":0.0},"
		    "\"type\":\"move_shape\"}]",
		    "{}");
}

Test(history, undo_of_move_keeps_a_coordinate_someone_else_changed_since)
{
	/* Someone else set x afterwards: only y goes back, x stays as they left it. */
	expect_undo(WITH_A, MOVE_A(5, 6), "[" MOVE_A(7, 6) "]", HISTORY_PARTIAL,
		    "[{\"payload\":{\"shape_id\":\"a\",\"x\":7.0,\"y\":0.0},"
		    "\"type\":\"move_shape\"}]",
		    "{\"a\":[\"x\"]}");
	expect_undo(WITH_A, MOVE_A(5, 6), "[" MOVE_A(7, 8) "]", HISTORY_CONFLICT, "[]",
		    "{\"a\":[\"x\",\"y\"]}");
}

Test(history, undo_of_resize_keeps_the_position_someone_else_changed_since)
{
	expect_undo(WITH_A,
		    "{\"type\":\"resize_shape\",\"payload\":{\"shape_id\":\"a\",\"x\":1,\"y\":2,"
		    "\"w\":30,\"h\":10}}",
		    "[" MOVE_A(3, 4) "]", HISTORY_PARTIAL,
		    "[{\"payload\":{\"h\":10.0,\"shape_id\":\"a\",\"w\":10.0,\"x\":3.0,\"y\":4.0},"
		    "\"type\":\"resize_shape\"}]",
		    "{\"a\":[\"x\",\"y\"]}");
}

Test(history, undo_of_update_reverts_style_key_by_key)
{
	expect_undo(WITH_A, UPDATE_A("\"style\":{\"fill\":\"#111\",\"stroke\":\"#222\"},\"z\":3"),
		    "[" UPDATE_A("\"style\":{\"fill\":\"#f00\"}") "]", HISTORY_PARTIAL,
		    "[{\"payload\":{\"shape_id\":\"a\",\"style\":{\"stroke\":\"#000\"},\"z\":0.0},"
		    "\"type\":\"update_shape\"}]",
		    "{\"a\":[\"style.fill\"]}");
}

Test(history, undo_leaves_alone_what_someone_else_already_set_back)
{
	expect_undo(WITH_A, UPDATE_A("\"text\":\"x\""), "[" UPDATE_A("\"text\":\"\"") "]",
		    HISTORY_NOOP, "[]", "{}");
	expect_undo(WITH_A, UPDATE_A("\"text\":\"x\",\"z\":1"), "[" UPDATE_A("\"text\":\"\"") "]",
		    HISTORY_APPLIED,
		    "[{\"payload\":{\"shape_id\":\"a\",\"z\":0.0},\"type\":\"update_shape\"}]",
		    "{}");
}

Test(history, undo_of_an_op_that_changed_nothing_is_a_noop)
{
	expect_undo(WITH_A, MOVE_A(0, 0), "[]", HISTORY_NOOP, "[]", "{}");
	expect_undo("[]", MOVE_A(1, 1), "[]", HISTORY_NOOP, "[]", "{}");
	expect_undo(WITH_A, DELETE_A "", "[" CREATE_A "]", HISTORY_NOOP, "[]", "{}");
	expect_undo(WITH_A, "{\"type\":\"move_shape\",\"payload\":{\"shape_id\":\"a\"}}", "[]",
		    HISTORY_NOOP, "[]", "{}");
}

Test(history, undo_of_an_edit_conflicts_if_the_shape_was_deleted_since)
{
	expect_undo(WITH_A, MOVE_A(5, 5), "[" DELETE_A "]", HISTORY_CONFLICT, "[]",
		    "{\"a\":[\"shape\"]}");
}

Test(history, undo_of_a_create_that_replaced_a_shape_brings_the_old_one_back)
{
	/* Another kind: the old shape comes back whole. */
	expect_undo(WITH_A,
		    "{\"type\":\"create_shape\",\"payload\":{\"shape_id\":\"a\",\"kind\":\"text\","
		    "\"x\":0,\"y\":0}}",
		    "[]", HISTORY_APPLIED,
		    "[{\"payload\":" A_SHAPE_PAYLOAD ",\"type\":\"create_shape\"}]", "{}");
	/* The same kind: property by property, like an update. */
	expect_undo(WITH_A,
		    "{\"type\":\"create_shape\",\"payload\":{\"shape_id\":\"a\",\"kind\":\"rect\","
		    "\"x\":0,\"y\":0,\"w\":10,\"h\":10,\"text\":\"t\",\"style\":{\"fill\":\"#fff\","
		    "\"stroke\":\"#000\"}}}",
		    "[]", HISTORY_APPLIED,
		    "[{\"payload\":{\"shape_id\":\"a\",\"text\":\"\"},\"type\":\"update_shape\"}]",
		    "{}");
	/* Another kind, then edited by someone else: not reverted. */
	expect_undo(WITH_A,
		    "{\"type\":\"create_shape\",\"payload\":{\"shape_id\":\"a\",\"kind\":\"text\","
		    "\"x\":0,\"y\":0}}",
		    "[" MOVE_A(0, 1) "]", HISTORY_CONFLICT, "[]", "{\"a\":[\"y\"]}");
}

Test(history, redo_is_the_undo_of_the_undo)
{
	struct canvas_state *v0 = state_of(WITH_A);
	struct canvas_state *v1 = canvas_state_clone(v0);
	json_t *op = parse(UPDATE_A("\"style\":{\"fill\":\"#123\"}"));
	canvas_apply_op(v1, op);
	/* Someone else edits in between; neither undo nor redo touches their edit. */
	json_t *other = parse(MOVE_A(9, 9));
	canvas_apply_op(v1, other);

	struct history_undo undo;
	cr_assert_eq(undo_op(v0, op, v1, &undo), HISTORY_APPLIED);
	struct canvas_state *v2 = canvas_state_clone(v1);
	apply_ops(v2, undo.ops);
	cr_assert_str_eq(json_string_value(canvas_shape_property(canvas_shape_get(v2, "a"),
								 "style.fill")),
			 "#fff");

	struct history_undo redo;
	cr_assert_eq(history_undo_ops(v1, undo.ops, v2, &redo), HISTORY_APPLIED);
	struct canvas_state *v3 = canvas_state_clone(v2);
	apply_ops(v3, redo.ops);
	expect_equal_states(v3, v1, "redo restores the state the undo reverted");

	history_undo_release(&undo);
	history_undo_release(&redo);
	json_decref(op);
	json_decref(other);
	canvas_state_free(v0);
	canvas_state_free(v1);
	canvas_state_free(v2);
	canvas_state_free(v3);
}

Test(history, undo_of_a_group_reverts_a_restore)
{
	struct canvas_state *target = state_of(
		"[" CREATE_A ",{\"type\":\"create_shape\",\"payload\":{\"shape_id\":\"b\","
		"\"kind\":\"line\",\"x\":0,\"y\":0,\"points\":[[0,0],[1,1]]}}]");
	struct canvas_state *before = state_of(
		"[" CREATE_A "," MOVE_A(4, 4) "," UPDATE_A("\"text\":\"t\"") ","
		"{\"type\":\"create_shape\",\"payload\":{\"shape_id\":\"c\",\"kind\":\"rect\","
		"\"x\":0,\"y\":0}}]");
	json_t *restore = canvas_diff_ops(before, target);
	cr_assert_eq(json_array_size(restore), 4, "move a, update a, create b, delete c");
	struct canvas_state *after = canvas_state_clone(before);
	apply_ops(after, restore);
	expect_equal_states(after, target, "restore reaches the target");

	struct history_undo undo;
	cr_assert_eq(history_undo_ops(before, restore, after, &undo), HISTORY_APPLIED);
	struct canvas_state *undone = canvas_state_clone(after);
	apply_ops(undone, undo.ops);
	expect_equal_states(undone, before, "undoing the restore goes back");
	history_undo_release(&undo);
	json_decref(restore);
	canvas_state_free(target);
	canvas_state_free(before);
	canvas_state_free(after);
	canvas_state_free(undone);
}

Test(history, invalid_ops_in_a_group_are_skipped_like_the_reducer_skips_them)
{
	struct canvas_state *s = state_of(WITH_A);
	json_t *ops = parse("[7, {\"type\":\"nope\"}, {\"type\":\"move_shape\",\"payload\":"
			    "{\"shape_id\":\"a\",\"x\":\"1\",\"y\":1}}]");
	struct history_undo undo;
	cr_assert_eq(history_undo_ops(s, ops, s, &undo), HISTORY_NOOP);
	cr_assert_eq(json_array_size(undo.ops), 0);
	history_undo_release(&undo);
	cr_assert_eq(history_undo_ops(s, NULL, s, &undo), HISTORY_NOOP);
	history_undo_release(&undo);
	cr_assert_eq(history_undo(s, (enum op_type)42, NULL, s, &undo), HISTORY_NOOP);
	history_undo_release(&undo);
	json_decref(ops);
	canvas_state_free(s);
}

Test(history, status_names)
{
	cr_assert_str_eq(history_status_name(HISTORY_APPLIED), "applied");
	cr_assert_str_eq(history_status_name(HISTORY_PARTIAL), "partial");
	cr_assert_str_eq(history_status_name(HISTORY_CONFLICT), "conflict");
	cr_assert_str_eq(history_status_name(HISTORY_NOOP), "noop");
	cr_assert_str_eq(history_status_name((enum history_status)9), "unknown");
}

/* ---- properties over random op sequences ---- */

#define SEEDS 6
#define STEPS 700

static bool same_value(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return a == b;
	return json_equal(a, b);
}

Test(history, undo_of_the_last_op_on_an_untouched_state_restores_it_exactly)
{
	for (uint64_t seed = 1; seed <= SEEDS; seed++) {
		json_t *ops = rng_ops(seed, STEPS, NULL);
		struct canvas_state *before = canvas_state_new();
		size_t applied = 0;
		for (size_t k = 0; k < STEPS; k++) {
			json_t *op = json_array_get(ops, k);
			struct canvas_state *after = canvas_state_clone(before);
			canvas_apply_op(after, op);

			struct history_undo undo;
			enum history_status st = undo_op(before, op, after, &undo);
			bool changed = !canvas_state_equal(before, after);
			cr_assert_eq(st, changed ? HISTORY_APPLIED : HISTORY_NOOP, "seed %llu op %zu",
				     (unsigned long long)seed, k);
			cr_assert_eq(json_object_size(undo.kept), 0);
			struct canvas_state *undone = canvas_state_clone(after);
			apply_ops(undone, undo.ops);
			expect_equal_states(undone, before, "undo restores the previous state");

			/* Redo: the undo of the undo brings the op's effect back. */
			struct history_undo redo;
			st = history_undo_ops(after, undo.ops, undone, &redo);
			cr_assert_eq(st, changed ? HISTORY_APPLIED : HISTORY_NOOP);
			struct canvas_state *redone = canvas_state_clone(undone);
			apply_ops(redone, redo.ops);
			expect_equal_states(redone, after, "redo restores the undone state");
			applied += changed;

			history_undo_release(&undo);
			history_undo_release(&redo);
			canvas_state_free(undone);
			canvas_state_free(redone);
			canvas_state_free(before);
			before = after;
		}
		cr_assert_gt(applied, STEPS / 3);
		canvas_state_free(before);
		json_decref(ops);
	}
}

/*
 * The documented rules (docs/canvas-model.md), written out independently of history.c:
 * what the target shape must be after the undo, given the shape before the op (b), after it
 * (a) and now (c).
 */
static json_t *expected_shape(const json_t *b, const json_t *a, const json_t *c)
{
	json_t *cc = c ? json_deep_copy(c) : NULL;
	if (same_value(b, a) || same_value(c, b))
		return cc;
	if (!b)
		return same_value(c, a) ? (json_decref(cc), NULL) : cc;
	if (!a)
		return c ? cc : json_deep_copy(b);
	if (!c)
		return NULL;
	if (!same_value(json_object_get(b, "kind"), json_object_get(a, "kind")) ||
	    !same_value(json_object_get(c, "kind"), json_object_get(a, "kind"))) {
		if (!same_value(c, a))
			return cc;
		json_decref(cc);
		return json_deep_copy(b);
	}
	for (size_t i = 0; i < CANVAS_PROPERTY_COUNT; i++) {
		const char *p = canvas_properties[i];
		const json_t *pb = canvas_shape_property(b, p);
		const json_t *pa = canvas_shape_property(a, p);
		const json_t *pc = canvas_shape_property(c, p);
		if (!same_value(pb, pa) && same_value(pc, pa)) {
			if (strncmp(p, "style.", 6) == 0)
				json_object_set_new(json_object_get(cc, "style"), p + 6,
						    json_deep_copy(pb));
			else
				json_object_set_new(cc, p, json_deep_copy(pb));
		}
	}
	return cc;
}

Test(history, undo_reverts_only_what_is_still_as_the_op_left_it)
{
	size_t statuses[4] = { 0 };
	for (uint64_t seed = 50; seed < 50 + SEEDS; seed++) {
		struct rng r = { seed * 7919 + 3 };
		json_t *setup = rng_ops(seed, 60, NULL);
		struct canvas_state *before = canvas_state_new();
		apply_ops(before, setup);
		for (size_t k = 0; k < STEPS; k++) {
			json_t *op = rng_op(&r);
			const char *id = op_payload_shape_id(json_object_get(op, "payload"));
			struct canvas_state *after = canvas_state_clone(before);
			canvas_apply_op(after, op);
			/* Others edit, mostly the same shape, often the same properties. */
			struct canvas_state *current = canvas_state_clone(after);
			unsigned n = rng_below(&r, 4);
			for (unsigned i = 0; i < n; i++) {
				json_t *other = rng_op(&r);
				if (rng_below(&r, 4) != 0)
					json_object_set_new(json_object_get(other, "payload"),
							    "shape_id", json_string(id));
				canvas_apply_op(current, other);
				json_decref(other);
			}

			struct history_undo undo;
			enum history_status st = undo_op(before, op, current, &undo);
			statuses[st]++;
			struct canvas_state *result = canvas_state_clone(current);
			apply_ops(result, undo.ops);

			const json_t *b = canvas_shape_get(before, id), *a = canvas_shape_get(after, id);
			const json_t *c = canvas_shape_get(current, id);
			const json_t *got = canvas_shape_get(result, id);
			json_t *want = expected_shape(b, a, c);
			if (!same_value(got, want)) {
				char *sb = b ? canon(b) : NULL, *sa = a ? canon(a) : NULL;
				char *sc = c ? canon(c) : NULL, *sg = got ? canon(got) : NULL;
				char *sw = want ? canon(want) : NULL;
				cr_assert_fail("seed %llu step %zu\nbefore %s\nafter  %s\ncurrent %s\n"
					       "got    %s\nwant   %s",
					       (unsigned long long)seed, k, sb, sa, sc, sg, sw);
			}
			json_decref(want);

			/* Never overwritten: whatever others changed since the op stays. */
			if (a && c && got) {
				for (size_t i = 0; i < CANVAS_PROPERTY_COUNT; i++) {
					const char *p = canvas_properties[i];
					if (!same_value(canvas_shape_property(c, p),
							canvas_shape_property(a, p)))
						cr_assert(same_value(canvas_shape_property(got, p),
								     canvas_shape_property(c, p)),
							  "%s overwritten", p);
				}
			}
			/* Other shapes are never touched. */
			json_t *diff = canvas_diff(current, result);
			size_t touched = json_object_size(json_object_get(diff, "added")) +
					 json_object_size(json_object_get(diff, "removed")) +
					 json_object_size(json_object_get(diff, "modified"));
			cr_assert_leq(touched, 1);
			json_decref(diff);

			/* The status matches what the ops and the report say. */
			size_t nops = json_array_size(undo.ops), nkept = json_object_size(undo.kept);
			switch (st) {
			case HISTORY_APPLIED:
				cr_assert(nops > 0 && nkept == 0);
				break;
			case HISTORY_PARTIAL:
				cr_assert(nops > 0 && nkept > 0);
				break;
			case HISTORY_CONFLICT:
				cr_assert(nops == 0 && nkept > 0);
				break;
			case HISTORY_NOOP:
				cr_assert(nops == 0 && nkept == 0);
				break;
			}
			if (nkept > 0)
				cr_assert_not_null(json_object_get(undo.kept, id));

			history_undo_release(&undo);
			canvas_state_free(result);
			canvas_state_free(current);
			canvas_state_free(before);
			json_decref(op);
			before = after;
		}
		canvas_state_free(before);
		json_decref(setup);
	}
	for (int s = 0; s < 4; s++)
		cr_assert_gt(statuses[s], 20, "status %s is exercised (%zu)",
			     history_status_name((enum history_status)s), statuses[s]);
}

Test(history, undo_of_a_group_without_interference_restores_the_state_before_it)
{
	for (uint64_t seed = 300; seed < 300 + SEEDS; seed++) {
		struct rng r = { seed };
		json_t *ops = rng_ops(seed, STEPS, NULL);
		struct canvas_state *before = canvas_state_new();
		size_t k = 0;
		while (k < STEPS) {
			/* A group of 1..6 consecutive ops, as one restore or one undo would be. */
			size_t n = 1 + rng_below(&r, 6);
			json_t *group = json_array();
			struct canvas_state *after = canvas_state_clone(before);
			for (size_t i = 0; i < n && k < STEPS; i++, k++) {
				json_array_append(group, json_array_get(ops, k));
				canvas_apply_op(after, json_array_get(ops, k));
			}
			struct history_undo undo;
			enum history_status st = history_undo_ops(before, group, after, &undo);
			cr_assert(st == HISTORY_APPLIED || st == HISTORY_NOOP);
			struct canvas_state *undone = canvas_state_clone(after);
			apply_ops(undone, undo.ops);
			expect_equal_states(undone, before, "group undo restores the state");
			history_undo_release(&undo);
			canvas_state_free(undone);
			json_decref(group);
			canvas_state_free(before);
			before = after;
		}
		canvas_state_free(before);
		json_decref(ops);
	}
}

Test(history, undo_of_a_restore_between_random_states_goes_back)
{
	for (uint64_t seed = 400; seed < 400 + SEEDS; seed++) {
		json_t *ops1 = rng_ops(seed, 300, NULL), *ops2 = rng_ops(seed + 77, 300, NULL);
		struct canvas_state *a = canvas_state_new(), *b = canvas_state_new();
		for (size_t k = 0; k < 300; k++) {
			canvas_apply_op(a, json_array_get(ops1, k));
			canvas_apply_op(b, json_array_get(ops2, k));
			if (k % 30 != 29)
				continue;
			json_t *restore = canvas_diff_ops(a, b);
			struct canvas_state *restored = canvas_state_clone(a);
			apply_ops(restored, restore);
			expect_equal_states(restored, b, "restore");
			struct history_undo undo;
			enum history_status st = history_undo_ops(a, restore, restored, &undo);
			cr_assert_eq(st, canvas_state_equal(a, b) ? HISTORY_NOOP : HISTORY_APPLIED);
			struct canvas_state *back = canvas_state_clone(restored);
			apply_ops(back, undo.ops);
			expect_equal_states(back, a, "undo of restore");
			history_undo_release(&undo);
			canvas_state_free(back);
			canvas_state_free(restored);
			json_decref(restore);
		}
		canvas_state_free(a);
		canvas_state_free(b);
		json_decref(ops1);
		json_decref(ops2);
	}
}
