#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/canvas.h"

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

static void apply_text(struct canvas_state *state, enum op_type type, const char *payload,
		       bool expect_applied)
{
	json_t *p = parse(payload);
	cr_assert_eq(canvas_apply(state, type, p), expect_applied, "%s %s", op_type_name(type),
		     payload);
	json_decref(p);
}

static void expect_state(const struct canvas_state *state, const char *expected)
{
	char *got = canvas_state_serialize(state, NULL);
	cr_assert_str_eq(got, expected);
	free(got);
}

static void expect_shape_field(const struct canvas_state *state, const char *id,
			       const char *path, const char *expected)
{
	const json_t *shape = canvas_shape_get(state, id);
	cr_assert_not_null(shape, "shape %s exists", id);
	char *got = canon(canvas_shape_property(shape, path));
	cr_assert_str_eq(got, expected, "%s.%s", id, path);
	free(got);
}

/* ---- a seeded generator of random valid ops over a small id pool ---- */

#include "canvas_gen.h"
}

static void apply_all(struct canvas_state *state, const json_t *ops, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		canvas_apply_op(state, json_array_get(ops, i));
}

static struct canvas_state *reload(const struct canvas_state *state)
{
	char *text = canvas_state_serialize(state, NULL);
	json_t *shapes = parse(text);
	struct op_error err;
	struct canvas_state *copy = canvas_state_from_json(shapes, &err);
	cr_assert_not_null(copy, "reloading %s: %s %s", text, err.code, err.detail);
	json_decref(shapes);
	free(text);
	return copy;
}

static void expect_equal_states(const struct canvas_state *a, const struct canvas_state *b,
				const char *what)
{
	char *sa = canvas_state_serialize(a, NULL), *sb = canvas_state_serialize(b, NULL);
	cr_assert_str_eq(sa, sb, "%s", what);
	cr_assert(canvas_state_equal(a, b), "%s", what);
	char ha[CANVAS_HASH_HEX_LEN + 1], hb[CANVAS_HASH_HEX_LEN + 1];
	canvas_state_hash(a, ha);
	canvas_state_hash(b, hb);
	cr_assert_str_eq(ha, hb, "%s", what);
	free(sa);
	free(sb);
}

/* ---- reducer semantics ---- */

#define RECT_A                                                                                 \
	"{\"shape_id\":\"a\",\"kind\":\"rect\",\"x\":1,\"y\":2,\"w\":3,\"h\":4,\"text\":\"t\"," \
	"\"style\":{\"fill\":\"#fff\"}}"

Test(canvas, create_stores_the_complete_canonical_shape)
{
	struct canvas_state *s = canvas_state_new();
	expect_state(s, "{}");
	apply_text(s, OP_CREATE_SHAPE, RECT_A, true);
	cr_assert_eq(canvas_shape_count(s), 1);
	expect_state(s, "{\"a\":{\"from\":null,\"h\":4.0,\"id\":\"a\",\"kind\":\"rect\","
			"\"points\":[],\"rotation\":0.0,\"style\":{\"fill\":\"#fff\","
			"\"opacity\":1.0,\"stroke\":\"#000000\",\"width\":1.0},\"text\":\"t\","
			"\"to\":null,\"w\":3.0,\"x\":1.0,\"y\":2.0,\"z\":0.0}}");
	canvas_state_free(s);
}

Test(canvas, ops_on_a_missing_shape_are_no_ops)
{
	struct canvas_state *s = canvas_state_new();
	apply_text(s, OP_CREATE_SHAPE, RECT_A, true);
	char *before = canvas_state_serialize(s, NULL);
	apply_text(s, OP_MOVE_SHAPE, "{\"shape_id\":\"zz\",\"x\":1,\"y\":1}", false);
	apply_text(s, OP_RESIZE_SHAPE, "{\"shape_id\":\"zz\",\"x\":1,\"y\":1,\"w\":1,\"h\":1}",
		   false);
	apply_text(s, OP_UPDATE_SHAPE, "{\"shape_id\":\"zz\",\"text\":\"x\"}", false);
	apply_text(s, OP_DELETE_SHAPE, "{\"shape_id\":\"zz\"}", false);
	expect_state(s, before);
	free(before);
	canvas_state_free(s);
}

Test(canvas, invalid_payloads_are_no_ops)
{
	struct canvas_state *s = canvas_state_new();
	apply_text(s, OP_CREATE_SHAPE, RECT_A, true);
	char *before = canvas_state_serialize(s, NULL);
	apply_text(s, OP_MOVE_SHAPE, "{\"shape_id\":\"a\",\"x\":\"far\",\"y\":1}", false);
	apply_text(s, OP_UPDATE_SHAPE, "{\"shape_id\":\"a\",\"x\":5}", false);
	apply_text(s, OP_DELETE_SHAPE, "[]", false);
	cr_assert_not(canvas_apply(s, OP_DELETE_SHAPE, NULL));
	cr_assert_not(canvas_apply(s, (enum op_type)77, NULL));
	json_t *op = parse("{\"type\":\"explode\",\"payload\":{\"shape_id\":\"a\"}}");
	cr_assert_not(canvas_apply_op(s, op));
	json_decref(op);
	expect_state(s, before);
	free(before);
	canvas_state_free(s);
}

Test(canvas, a_second_create_replaces_the_whole_shape)
{
	struct canvas_state *s = canvas_state_new();
	apply_text(s, OP_CREATE_SHAPE, RECT_A, true);
	apply_text(s, OP_CREATE_SHAPE, "{\"shape_id\":\"a\",\"kind\":\"ellipse\",\"x\":9,\"y\":9}",
		   true);
	cr_assert_eq(canvas_shape_count(s), 1);
	expect_shape_field(s, "a", "kind", "\"ellipse\"");
	expect_shape_field(s, "a", "text", "\"\"");
	expect_shape_field(s, "a", "style.fill", "\"none\"");
	expect_shape_field(s, "a", "w", "0.0");
	canvas_state_free(s);
}

Test(canvas, move_and_resize_set_only_geometry)
{
	struct canvas_state *s = canvas_state_new();
	apply_text(s, OP_CREATE_SHAPE, RECT_A, true);
	apply_text(s, OP_MOVE_SHAPE, "{\"shape_id\":\"a\",\"x\":10,\"y\":-20}", true);
	expect_shape_field(s, "a", "x", "10.0");
	expect_shape_field(s, "a", "y", "-20.0");
	expect_shape_field(s, "a", "w", "3.0");
	apply_text(s, OP_RESIZE_SHAPE, "{\"shape_id\":\"a\",\"x\":0,\"y\":0,\"w\":7,\"h\":8}", true);
	expect_shape_field(s, "a", "x", "0.0");
	expect_shape_field(s, "a", "h", "8.0");
	expect_shape_field(s, "a", "text", "\"t\"");
	expect_shape_field(s, "a", "style.fill", "\"#fff\"");
	canvas_state_free(s);
}

Test(canvas, update_merges_only_the_given_properties_and_style_per_key)
{
	struct canvas_state *s = canvas_state_new();
	apply_text(s, OP_CREATE_SHAPE, RECT_A, true);
	/* Two users edit different properties of the same shape: both edits survive. */
	apply_text(s, OP_UPDATE_SHAPE, "{\"shape_id\":\"a\",\"style\":{\"stroke\":\"#f00\"}}", true);
	apply_text(s, OP_UPDATE_SHAPE, "{\"shape_id\":\"a\",\"style\":{\"opacity\":0.5},"
				       "\"text\":\"u\"}", true);
	expect_shape_field(s, "a", "style",
			   "{\"fill\":\"#fff\",\"opacity\":0.5,\"stroke\":\"#f00\",\"width\":1.0}");
	expect_shape_field(s, "a", "text", "\"u\"");
	expect_shape_field(s, "a", "x", "1.0");
	/* The same property: the later op (higher version) wins. */
	apply_text(s, OP_UPDATE_SHAPE, "{\"shape_id\":\"a\",\"style\":{\"stroke\":\"#0f0\"}}", true);
	apply_text(s, OP_UPDATE_SHAPE, "{\"shape_id\":\"a\",\"style\":{\"stroke\":\"#00f\"}}", true);
	expect_shape_field(s, "a", "style.stroke", "\"#00f\"");
	apply_text(s, OP_UPDATE_SHAPE, "{\"shape_id\":\"a\",\"points\":[[1,1]],\"from\":\"b\","
				       "\"to\":null,\"rotation\":90,\"z\":3}", true);
	expect_shape_field(s, "a", "points", "[[1.0,1.0]]");
	expect_shape_field(s, "a", "from", "\"b\"");
	expect_shape_field(s, "a", "rotation", "90.0");
	expect_shape_field(s, "a", "z", "3.0");
	canvas_state_free(s);
}

Test(canvas, delete_removes_the_shape)
{
	struct canvas_state *s = canvas_state_new();
	apply_text(s, OP_CREATE_SHAPE, RECT_A, true);
	apply_text(s, OP_DELETE_SHAPE, "{\"shape_id\":\"a\"}", true);
	cr_assert_eq(canvas_shape_count(s), 0);
	cr_assert_null(canvas_shape_get(s, "a"));
	cr_assert_null(canvas_shape_get(s, NULL));
	canvas_state_free(s);
}

Test(canvas, clones_are_independent)
{
	struct canvas_state *s = canvas_state_new();
	apply_text(s, OP_CREATE_SHAPE, RECT_A, true);
	struct canvas_state *c = canvas_state_clone(s);
	apply_text(c, OP_UPDATE_SHAPE, "{\"shape_id\":\"a\",\"style\":{\"fill\":\"#000\"}}", true);
	apply_text(c, OP_CREATE_SHAPE, "{\"shape_id\":\"b\",\"kind\":\"rect\",\"x\":0,\"y\":0}",
		   true);
	expect_shape_field(s, "a", "style.fill", "\"#fff\"");
	cr_assert_eq(canvas_shape_count(s), 1);
	apply_text(s, OP_DELETE_SHAPE, "{\"shape_id\":\"a\"}", true);
	expect_shape_field(c, "a", "style.fill", "\"#000\"");
	canvas_state_free(s);
	canvas_state_free(c);
}

Test(canvas, the_reducer_does_not_alias_the_callers_payload)
{
	struct canvas_state *s = canvas_state_new();
	json_t *p = parse("{\"shape_id\":\"a\",\"kind\":\"path\",\"x\":0,\"y\":0,"
			  "\"points\":[[1,2]]}");
	cr_assert(canvas_apply(s, OP_CREATE_SHAPE, p));
	json_array_clear(json_object_get(p, "points"));
	json_decref(p);
	expect_shape_field(s, "a", "points", "[[1.0,2.0]]");
	json_t *mine = canvas_state_to_json(s);
	json_object_del(json_object_get(mine, "a"), "points");
	json_decref(mine);
	expect_shape_field(s, "a", "points", "[[1.0,2.0]]");
	canvas_state_free(s);
}

Test(canvas, hash_is_the_sha256_of_the_canonical_form)
{
	struct canvas_state *s = canvas_state_new();
	char hash[CANVAS_HASH_HEX_LEN + 1];
	canvas_state_hash(s, hash);
	/* sha256("{}") */
	cr_assert_str_eq(hash, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
	apply_text(s, OP_CREATE_SHAPE, RECT_A, true);
	char again[CANVAS_HASH_HEX_LEN + 1];
	canvas_state_hash(s, again);
	cr_assert_str_neq(hash, again);
	canvas_state_free(s);
}

Test(canvas, from_json_loads_integer_spellings_to_the_same_canonical_state)
{
	/* jsonb (or any JSON tool) may print 1.0 as 1; the state must not care. */
	json_t *shapes = parse(
		"{\"a\":{\"id\":\"a\",\"kind\":\"rect\",\"x\":1,\"y\":2,\"w\":3,\"h\":4,"
		"\"rotation\":0,\"z\":0,\"style\":{\"stroke\":\"#000000\",\"fill\":\"#fff\","
		"\"width\":1,\"opacity\":1},\"text\":\"t\",\"points\":[],\"from\":null,\"to\":null}}");
	struct op_error err;
	struct canvas_state *loaded = canvas_state_from_json(shapes, &err);
	cr_assert_not_null(loaded, "%s %s", err.code, err.detail);
	struct canvas_state *built = canvas_state_new();
	apply_text(built, OP_CREATE_SHAPE, RECT_A, true);
	expect_equal_states(loaded, built, "loaded vs built");
	json_decref(shapes);
	canvas_state_free(loaded);
	canvas_state_free(built);
}

Test(canvas, from_json_rejects_invalid_snapshots)
{
	static const char *const bad[][3] = {
		{ "[]", "invalid_field", "shapes: must be an object {id: shape}" },
		{ "{\"a b\":{}}", "invalid_field", "shapes: a key is not a valid shape id" },
		{ "{\"a\":{\"id\":\"b\",\"kind\":\"rect\",\"x\":0,\"y\":0}}", "invalid_field",
		  "shapes.a.id: must equal the shape's key" },
		{ "{\"a\":{\"kind\":\"rect\",\"x\":0,\"y\":0}}", "missing_field",
		  "shapes.a.id: required" },
		{ "{\"a\":{\"id\":\"a\",\"kind\":\"rect\",\"x\":0,\"y\":0,\"w\":-1}}", "invalid_field",
		  "shapes.a.w: must be a number between 0 and 1e9" },
		{ "{\"a\":{\"id\":\"a\",\"kind\":\"rect\",\"x\":0,\"y\":0,\"extra\":1}}",
		  "unknown_field", "shapes.a.extra: unknown field" },
		{ "{\"a\":7}", "invalid_field", "shapes.a: must be an object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *shapes = parse(bad[i][0]);
		struct op_error err;
		cr_assert_null(canvas_state_from_json(shapes, &err), "%s", bad[i][0]);
		cr_assert_str_eq(err.code, bad[i][1], "%s", bad[i][0]);
		cr_assert_str_eq(err.detail, bad[i][2]);
		json_decref(shapes);
	}
}

Test(canvas, diff_reports_added_removed_and_modified_shapes)
{
	struct canvas_state *a = canvas_state_new();
	apply_text(a, OP_CREATE_SHAPE, RECT_A, true);
	apply_text(a, OP_CREATE_SHAPE, "{\"shape_id\":\"b\",\"kind\":\"text\",\"x\":0,\"y\":0}", true);
	apply_text(a, OP_CREATE_SHAPE, "{\"shape_id\":\"c\",\"kind\":\"line\",\"x\":0,\"y\":0}", true);
	struct canvas_state *b = canvas_state_clone(a);
	apply_text(b, OP_MOVE_SHAPE, "{\"shape_id\":\"a\",\"x\":5,\"y\":2}", true);
	apply_text(b, OP_DELETE_SHAPE, "{\"shape_id\":\"b\"}", true);
	apply_text(b, OP_CREATE_SHAPE, "{\"shape_id\":\"d\",\"kind\":\"rect\",\"x\":0,\"y\":0}", true);
	json_t *diff = canvas_diff(a, b);
	cr_assert_eq(json_object_size(json_object_get(diff, "added")), 1);
	cr_assert_not_null(json_object_get(json_object_get(diff, "added"), "d"));
	cr_assert_eq(json_object_size(json_object_get(diff, "removed")), 1);
	cr_assert(json_equal(json_object_get(json_object_get(diff, "removed"), "b"),
			     canvas_shape_get(a, "b")));
	json_t *modified = json_object_get(diff, "modified");
	cr_assert_eq(json_object_size(modified), 1);
	json_t *change = json_object_get(modified, "a");
	cr_assert(json_equal(json_object_get(change, "before"), canvas_shape_get(a, "a")));
	cr_assert(json_equal(json_object_get(change, "after"), canvas_shape_get(b, "a")));
	json_decref(diff);

	diff = canvas_diff(a, a);
	char *s = canon(diff);
	cr_assert_str_eq(s, "{\"added\":{},\"modified\":{},\"removed\":{}}");
	free(s);
	json_decref(diff);
	canvas_state_free(a);
	canvas_state_free(b);
}

static void expect_diff_ops(const char *edit_type, const char *edit, const char *expected)
{
	struct canvas_state *a = canvas_state_new();
	apply_text(a, OP_CREATE_SHAPE, RECT_A, true);
	struct canvas_state *b = canvas_state_clone(a);
	json_t *edits = parse(edit);
	size_t i;
	json_t *e;
	enum op_type type;
	cr_assert(op_type_parse(edit_type, &type));
	json_array_foreach(edits, i, e)
		cr_assert(canvas_apply(b, type, e));
	json_t *ops = canvas_diff_ops(a, b);
	char *s = canon(ops);
	cr_assert_str_eq(s, expected);
	free(s);
	json_decref(ops);
	json_decref(edits);
	canvas_state_free(a);
	canvas_state_free(b);
}

Test(canvas, diff_ops_use_the_fewest_per_property_ops)
{
	expect_diff_ops("move_shape", "[{\"shape_id\":\"a\",\"x\":1,\"y\":3}]",
			"[{\"payload\":{\"shape_id\":\"a\",\"x\":1.0,\"y\":3.0},"
			"\"type\":\"move_shape\"}]");
	expect_diff_ops("resize_shape", "[{\"shape_id\":\"a\",\"x\":1,\"y\":2,\"w\":3,\"h\":5}]",
			"[{\"payload\":{\"h\":5.0,\"shape_id\":\"a\",\"w\":3.0,\"x\":1.0,"
			"\"y\":2.0},\"type\":\"resize_shape\"}]");
	expect_diff_ops("update_shape",
			"[{\"shape_id\":\"a\",\"style\":{\"fill\":\"#000\",\"stroke\":\"#000000\"},"
			"\"text\":\"t\",\"z\":1}]",
			"[{\"payload\":{\"shape_id\":\"a\",\"style\":{\"fill\":\"#000\"},\"z\":1.0},"
			"\"type\":\"update_shape\"}]");
	expect_diff_ops("update_shape", "[{\"shape_id\":\"a\",\"text\":\"t\"}]", "[]");
	expect_diff_ops("create_shape",
			"[{\"shape_id\":\"a\",\"kind\":\"rect\",\"x\":0,\"y\":2,\"w\":3,\"h\":4,"
			"\"text\":\"t\",\"style\":{\"fill\":\"#fff\"},\"to\":\"b\"}]",
			"[{\"payload\":{\"shape_id\":\"a\",\"x\":0.0,\"y\":2.0},"
			"\"type\":\"move_shape\"},{\"payload\":{\"shape_id\":\"a\",\"to\":\"b\"},"
			"\"type\":\"update_shape\"}]");
	expect_diff_ops("create_shape",
			"[{\"shape_id\":\"a\",\"kind\":\"text\",\"x\":1,\"y\":2}]",
			"[{\"payload\":{\"from\":null,\"h\":0.0,\"kind\":\"text\",\"points\":[],"
			"\"rotation\":0.0,\"shape_id\":\"a\",\"style\":{\"fill\":\"none\","
			"\"opacity\":1.0,\"stroke\":\"#000000\",\"width\":1.0},\"text\":\"\","
			"\"to\":null,\"w\":0.0,\"x\":1.0,\"y\":2.0,\"z\":0.0},"
			"\"type\":\"create_shape\"}]");
	expect_diff_ops("delete_shape", "[{\"shape_id\":\"a\"}]",
			"[{\"payload\":{\"shape_id\":\"a\"},\"type\":\"delete_shape\"}]");
}

/* ---- properties over random op sequences ---- */

#define SEEDS 6
#define OPS_PER_SEED 1500
#define SNAPSHOT_EVERY 150

Test(canvas, snapshot_at_any_version_plus_replay_equals_full_replay)
{
	for (uint64_t seed = 1; seed <= SEEDS; seed++) {
		json_t *raw;
		json_t *ops = rng_ops(seed, OPS_PER_SEED, &raw);
		struct canvas_state *full = canvas_state_new();
		apply_all(full, ops, 0, OPS_PER_SEED);

		struct canvas_state *prefix = canvas_state_new();
		struct canvas_state *raw_prefix = canvas_state_new();
		size_t applied = 0, noops = 0;
		for (size_t k = 0; k <= OPS_PER_SEED; k++) {
			if (k % SNAPSHOT_EVERY == 0 || k == OPS_PER_SEED || k == 1) {
				struct canvas_state *snap = reload(prefix);
				expect_equal_states(snap, prefix, "a snapshot reloads equal");
				apply_all(snap, ops, k, OPS_PER_SEED);
				char what[64];
				snprintf(what, sizeof(what), "seed %llu snapshot at %zu",
					 (unsigned long long)seed, k);
				expect_equal_states(snap, full, what);
				canvas_state_free(snap);
			}
			if (k == OPS_PER_SEED)
				break;
			if (canvas_apply_op(prefix, json_array_get(ops, k)))
				applied++;
			else
				noops++;
			/* The raw payload (as a client sent it) reduces like its normalized form. */
			canvas_apply_op(raw_prefix, json_array_get(raw, k));
			if (k % 50 == 0)
				expect_equal_states(raw_prefix, prefix, "raw vs normalized replay");
		}
		expect_equal_states(prefix, full, "replay is deterministic");
		cr_assert_gt(applied, OPS_PER_SEED / 3, "the generator hits existing shapes");
		cr_assert_gt(noops, OPS_PER_SEED / 20, "the generator hits missing shapes");
		canvas_state_free(prefix);
		canvas_state_free(raw_prefix);
		canvas_state_free(full);
		json_decref(ops);
		json_decref(raw);
	}
}

Test(canvas, serialize_parse_serialize_is_stable)
{
	for (uint64_t seed = 100; seed < 100 + SEEDS; seed++) {
		json_t *ops = rng_ops(seed, OPS_PER_SEED, NULL);
		struct canvas_state *s = canvas_state_new();
		for (size_t k = 0; k < OPS_PER_SEED; k++) {
			canvas_apply_op(s, json_array_get(ops, k));
			if (k % 25 != 0)
				continue;
			size_t len;
			char *text = canvas_state_serialize(s, &len);
			cr_assert_eq(strlen(text), len);
			struct canvas_state *back = reload(s);
			char *again = canvas_state_serialize(back, NULL);
			cr_assert_str_eq(text, again);
			/* canvas_state_to_json is the same state, by value. */
			json_t *as_json = canvas_state_to_json(s);
			char *viajson = canon(as_json);
			cr_assert_str_eq(text, viajson);
			free(viajson);
			json_decref(as_json);
			free(again);
			free(text);
			canvas_state_free(back);
		}
		canvas_state_free(s);
		json_decref(ops);
	}
}

static void check_ops_are_valid_and_normalized(const json_t *ops)
{
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op) {
		enum op_type type;
		const json_t *payload;
		struct op_error err;
		cr_assert(op_unpack(op, &type, &payload, &err));
		json_t *normalized = op_validate(type, payload, &err);
		cr_assert_not_null(normalized, "diff op invalid: %s %s", err.code, err.detail);
		cr_assert(json_equal(normalized, payload), "diff op not normalized");
		json_decref(normalized);
	}
}

/* Diff ops are minimal: per id, at most one geometry op and one update, or one create or
 * one delete, and nothing at all for an unchanged shape. */
static void check_ops_are_minimal(const json_t *ops, const struct canvas_state *a,
				  const struct canvas_state *b)
{
	json_t *per_id = json_object();
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op) {
		const json_t *payload = json_object_get(op, "payload");
		const char *id = op_payload_shape_id(payload);
		const char *type = json_string_value(json_object_get(op, "type"));
		json_t *seen = json_object_get(per_id, id);
		if (!seen) {
			seen = json_array();
			json_object_set_new(per_id, id, seen);
		}
		json_array_append_new(seen, json_string(type));
		const json_t *sa = canvas_shape_get(a, id), *sb = canvas_shape_get(b, id);
		cr_assert(!(sa && sb && json_equal(sa, sb)), "op for unchanged shape %s", id);
	}
	const char *id;
	json_t *seen;
	json_object_foreach(per_id, id, seen) {
		size_t n = json_array_size(seen);
		const char *first = json_string_value(json_array_get(seen, 0));
		if (strcmp(first, "create_shape") == 0 || strcmp(first, "delete_shape") == 0) {
			cr_assert_eq(n, 1, "%s: a create or delete comes alone", id);
		} else if (n == 2) {
			cr_assert_str_neq(first, "update_shape");
			cr_assert_str_eq(json_string_value(json_array_get(seen, 1)), "update_shape");
		} else {
			cr_assert_eq(n, 1, "%s: at most two ops", id);
		}
	}
	json_decref(per_id);
}

Test(canvas, applying_diff_ops_from_a_to_b_yields_b)
{
	for (uint64_t seed = 200; seed < 200 + SEEDS; seed++) {
		json_t *ops1 = rng_ops(seed, 600, NULL);
		json_t *ops2 = rng_ops(seed + 1000, 600, NULL);
		struct canvas_state *s1 = canvas_state_new(), *s2 = canvas_state_new();
		struct canvas_state *snaps[12];
		size_t n = 0;
		for (size_t k = 0; k < 600; k++) {
			canvas_apply_op(s1, json_array_get(ops1, k));
			canvas_apply_op(s2, json_array_get(ops2, k));
			if (k % 100 == 0) {
				snaps[n++] = canvas_state_clone(s1);
				snaps[n++] = canvas_state_clone(s2);
			}
		}
		/* Pairs from one history (related states) and from two (unrelated). */
		for (size_t i = 0; i < n; i++) {
			for (size_t j = 0; j < n; j++) {
				json_t *diff_ops = canvas_diff_ops(snaps[i], snaps[j]);
				check_ops_are_valid_and_normalized(diff_ops);
				check_ops_are_minimal(diff_ops, snaps[i], snaps[j]);
				struct canvas_state *t = canvas_state_clone(snaps[i]);
				size_t k;
				json_t *op;
				json_array_foreach(diff_ops, k, op)
					cr_assert(canvas_apply_op(t, op), "every diff op applies");
				expect_equal_states(t, snaps[j], "a + diff_ops(a, b) = b");
				if (i == j)
					cr_assert_eq(json_array_size(diff_ops), 0);
				canvas_state_free(t);
				json_decref(diff_ops);

				/* The data diff agrees: a - removed + added + modified.after = b. */
				json_t *diff = canvas_diff(snaps[i], snaps[j]);
				json_t *shapes = canvas_state_to_json(snaps[i]);
				const char *id;
				json_t *v;
				json_object_foreach(json_object_get(diff, "removed"), id, v) {
					cr_assert(json_equal(v, json_object_get(shapes, id)));
					json_object_del(shapes, id);
				}
				json_object_foreach(json_object_get(diff, "added"), id, v) {
					cr_assert_null(json_object_get(shapes, id));
					json_object_set(shapes, id, v);
				}
				json_object_foreach(json_object_get(diff, "modified"), id, v) {
					cr_assert(json_equal(json_object_get(v, "before"),
							     json_object_get(shapes, id)));
					cr_assert_not(json_equal(json_object_get(v, "before"),
								 json_object_get(v, "after")));
					json_object_set(shapes, id, json_object_get(v, "after"));
				}
				cr_assert(json_equal(shapes, canvas_state_shapes(snaps[j])));
				json_decref(shapes);
				json_decref(diff);
			}
		}
		for (size_t i = 0; i < n; i++)
			canvas_state_free(snaps[i]);
		canvas_state_free(s1);
		canvas_state_free(s2);
		json_decref(ops1);
		json_decref(ops2);
	}
}

Test(canvas, shape_apply_agrees_with_the_state_reducer)
{
	json_t *ops = rng_ops(7, 1000, NULL);
	struct canvas_state *s = canvas_state_new();
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op) {
		enum op_type type;
		const json_t *payload;
		cr_assert(op_unpack(op, &type, &payload, NULL));
		const char *id = op_payload_shape_id(payload);
		json_t *expected = canvas_shape_apply(canvas_shape_get(s, id), type, payload);
		canvas_apply(s, type, payload);
		const json_t *got = canvas_shape_get(s, id);
		cr_assert((!expected && !got) || json_equal(expected, got));
		json_decref(expected);
	}
	canvas_state_free(s);
	json_decref(ops);
}

Test(canvas, ops_applied_after_a_clone_never_show_in_the_clone)
{
	/* Replay changes a shape in place when only the state holds it; a clone shares shapes,
	 * so then it must copy. Both orders, and the style merge. */
	struct canvas_state *a = canvas_state_new();
	apply_text(a, OP_CREATE_SHAPE,
		   "{\"shape_id\":\"s\",\"kind\":\"rect\",\"x\":1,\"y\":2,\"style\":{\"fill\":\"#ff0000\"}}",
		   true);
	apply_text(a, OP_MOVE_SHAPE, "{\"shape_id\":\"s\",\"x\":5,\"y\":6}", true); /* in place */
	struct canvas_state *b = canvas_state_clone(a);
	char *before = canvas_state_serialize(b, NULL);
	apply_text(a, OP_MOVE_SHAPE, "{\"shape_id\":\"s\",\"x\":7,\"y\":8}", true);
	apply_text(a, OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"style\":{\"stroke\":\"#00ff00\"}}",
		   true);
	expect_state(b, before);
	expect_shape_field(a, "s", "x", "7.0");
	expect_shape_field(a, "s", "style.stroke", "\"#00ff00\"");
	expect_shape_field(a, "s", "style.fill", "\"#ff0000\"");
	apply_text(b, OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"style\":{\"fill\":\"#0000ff\"}}", true);
	expect_shape_field(a, "s", "style.fill", "\"#ff0000\"");
	expect_shape_field(b, "s", "style.fill", "\"#0000ff\"");
	free(before);
	canvas_state_free(a);
	canvas_state_free(b);
}
