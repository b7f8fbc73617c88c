/*
 * libFuzzer target for the canvas model: the input is JSON, either one op {"type",
 * "payload"}, an array of ops, or (any other object) a snapshot {id: shape}. Ops are
 * validated and applied to a small canvas; besides crashes and leaks, the model's own
 * invariants are checked and a violation traps:
 *   - normalization is idempotent, and a rejected op leaves the state untouched;
 *   - undo of each op restores the state before it, and redo (undo of the undo) the state
 *     after it;
 *   - the canonical form reloads to the same bytes, and diff ops reproduce the final state.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/canvas.h"
#include "model/history.h"

#define MAX_OPS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static void apply_all(struct canvas_state *state, const json_t *ops)
{
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op)
		check(canvas_apply_op(state, op));
}

static void check_undo_and_redo(const struct canvas_state *before, const json_t *op,
				const struct canvas_state *after)
{
	json_t *group = json_array();
	json_array_append(group, (json_t *)op);
	struct history_undo undo, redo;
	enum history_status st = history_undo_ops(before, group, after, &undo);
	check(st == (canvas_state_equal(before, after) ? HISTORY_NOOP : HISTORY_APPLIED));
	struct canvas_state *undone = canvas_state_clone(after);
	apply_all(undone, undo.ops);
	check(canvas_state_equal(undone, before));
	history_undo_ops(after, undo.ops, undone, &redo);
	struct canvas_state *redone = canvas_state_clone(undone);
	apply_all(redone, redo.ops);
	check(canvas_state_equal(redone, after));
	history_undo_release(&undo);
	history_undo_release(&redo);
	canvas_state_free(undone);
	canvas_state_free(redone);
	json_decref(group);
}

static void run_op(struct canvas_state *state, const json_t *op)
{
	enum op_type type;
	const json_t *payload;
	struct op_error err;
	struct canvas_state *before = canvas_state_clone(state);
	if (!op_unpack(op, &type, &payload, &err)) {
		check(!canvas_apply_op(state, op));
		check(canvas_state_equal(state, before));
		canvas_state_free(before);
		return;
	}
	json_t *normalized = op_validate(type, payload, &err);
	if (!normalized) {
		check(err.code[0] != '\0' && err.detail[0] != '\0');
		check(!canvas_apply(state, type, payload));
		check(canvas_state_equal(state, before));
		canvas_state_free(before);
		return;
	}
	json_t *again = op_validate(type, normalized, &err);
	check(again && json_equal(again, normalized));
	json_decref(again);

	canvas_apply(state, type, payload);
	struct canvas_state *via_normalized = canvas_state_clone(before);
	canvas_apply(via_normalized, type, normalized);
	check(canvas_state_equal(state, via_normalized));
	canvas_state_free(via_normalized);

	json_t *normalized_op = op_make(type, normalized);
	check_undo_and_redo(before, normalized_op, state);
	json_decref(normalized_op);
	canvas_state_free(before);
}

static void check_state_round_trips(const struct canvas_state *initial,
				    const struct canvas_state *state)
{
	size_t len;
	char *text = canvas_state_serialize(state, &len);
	json_t *shapes = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	check(shapes != NULL);
	struct canvas_state *reloaded = canvas_state_from_json(shapes, NULL);
	check(reloaded != NULL);
	char *again = canvas_state_serialize(reloaded, NULL);
	check(strcmp(text, again) == 0);
	char hash[CANVAS_HASH_HEX_LEN + 1];
	canvas_state_hash(state, hash);

	json_t *ops = canvas_diff_ops(initial, state);
	struct canvas_state *rebuilt = canvas_state_clone(initial);
	apply_all(rebuilt, ops);
	check(canvas_state_equal(rebuilt, state));
	json_t *diff = canvas_diff(initial, state);

	json_decref(diff);
	canvas_state_free(rebuilt);
	json_decref(ops);
	free(again);
	canvas_state_free(reloaded);
	json_decref(shapes);
	free(text);
}

static struct canvas_state *initial_state(void)
{
	/* A few shapes so that ops on ids like "a" hit something. */
	static const char *const setup =
		"[{\"type\":\"create_shape\",\"payload\":{\"shape_id\":\"a\",\"kind\":\"rect\","
		"\"x\":1,\"y\":2,\"w\":3,\"h\":4}},"
		"{\"type\":\"create_shape\",\"payload\":{\"shape_id\":\"b\",\"kind\":\"path\","
		"\"x\":0,\"y\":0,\"points\":[[0,0],[5,5]],\"text\":\"b\"}},"
		"{\"type\":\"create_shape\",\"payload\":{\"shape_id\":\"c\",\"kind\":\"connector\","
		"\"x\":0,\"y\":0,\"from\":\"a\",\"to\":\"b\"}}]";
	json_t *ops = json_loads(setup, 0, NULL);
	struct canvas_state *state = canvas_state_new();
	apply_all(state, ops);
	json_decref(ops);
	return state;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* jansson caps nesting at JSON_PARSER_MAX_DEPTH (2048), so parsing and freeing stay
	 * within the stack; duplicate keys are refused as the node refuses them. */
	json_t *input = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!input)
		return 0;
	struct canvas_state *initial = initial_state();
	struct canvas_state *state = canvas_state_clone(initial);
	if (json_is_array(input)) {
		size_t i;
		json_t *op;
		json_array_foreach(input, i, op) {
			if (i >= MAX_OPS)
				break;
			run_op(state, op);
		}
	} else if (json_object_get(input, "type")) {
		run_op(state, input);
	} else {
		struct canvas_state *loaded = canvas_state_from_json(input, NULL);
		if (loaded) {
			canvas_state_free(state);
			state = loaded;
		}
	}
	check_state_round_trips(initial, state);
	canvas_state_free(state);
	canvas_state_free(initial);
	json_decref(input);
	return 0;
}
