#include "model/history.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

/* One op of the group being undone, with the shape it found and the shape it left. */
struct undo_step {
	enum op_type type;
	json_t *payload; /* normalized; NULL if the op was invalid (a no-op) */
	json_t *before;	 /* NULL: absent */
	json_t *after;	 /* NULL: absent */
};

struct undo_tally {
	size_t reverted;
	size_t kept;
};

static bool same_value(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return a == b;
	return json_equal(a, b);
}

static json_t *share(const json_t *shape)
{
	return shape ? json_incref((json_t *)shape) : NULL;
}

/*
 * Shapes as changed so far by the ops being walked, over a base state that stays untouched.
 * A JSON null in the overlay means "absent".
 */
static const json_t *overlay_get(const json_t *overlay, const struct canvas_state *base,
				 const char *id)
{
	const json_t *v = json_object_get(overlay, id);
	if (v)
		return json_is_null(v) ? NULL : v;
	return canvas_shape_get(base, id);
}

static void overlay_set(json_t *overlay, const char *id, json_t *shape)
{
	json_object_set_new(overlay, id, shape ? shape : json_null());
}

static void keep(json_t *kept, const char *id, const char *path, struct undo_tally *tally)
{
	json_t *paths = json_object_get(kept, id);
	if (!paths) {
		paths = json_array();
		json_object_set_new(kept, id, paths);
	}
	size_t i;
	json_t *p;
	json_array_foreach(paths, i, p) {
		if (strcmp(json_string_value(p), path) == 0)
			return;
	}
	json_array_append_new(paths, json_string(path));
	tally->kept++;
}

/* Reports every property in which the current shape no longer is what the op left. */
static void keep_differences(json_t *kept, const char *id, const json_t *current,
			     const json_t *after, struct undo_tally *tally)
{
	if (!same_value(json_object_get(current, "kind"), json_object_get(after, "kind")))
		keep(kept, id, "kind", tally);
	for (size_t i = 0; i < CANVAS_PROPERTY_COUNT; i++) {
		const char *path = canvas_properties[i];
		if (!same_value(canvas_shape_property(current, path),
				canvas_shape_property(after, path)))
			keep(kept, id, path, tally);
	}
}

static void set_property(json_t *shape, const char *path, const json_t *value)
{
	if (strncmp(path, "style.", 6) == 0)
		json_object_set(json_object_get(shape, "style"), path + 6, (json_t *)value);
	else
		json_object_set(shape, path, (json_t *)value);
}

/*
 * The target of a per-property undo: the current shape with each property the op changed
 * and nobody changed since set back to its value before the op. NULL if there is none.
 */
static json_t *revert_properties(const char *id, const json_t *before, const json_t *after,
				 const json_t *current, json_t *kept, struct undo_tally *tally)
{
	json_t *target = json_copy((json_t *)current);
	json_object_set_new(target, "style", json_copy(json_object_get(current, "style")));
	size_t reverted = 0;
	for (size_t i = 0; i < CANVAS_PROPERTY_COUNT; i++) {
		const char *path = canvas_properties[i];
		const json_t *b = canvas_shape_property(before, path);
		const json_t *a = canvas_shape_property(after, path);
		const json_t *c = canvas_shape_property(current, path);
		if (same_value(b, a) || same_value(c, b))
			continue; /* not changed by the op, or already back */
		if (same_value(c, a)) {
			set_property(target, path, b);
			reverted++;
		} else {
			keep(kept, id, path, tally);
		}
	}
	if (reverted == 0) {
		json_decref(target);
		return NULL;
	}
	tally->reverted += reverted;
	return target;
}

/*
 * Undoes one op (before -> after) against the current shape: appends the ops to out_ops and
 * returns the current shape as those ops leave it (new reference, NULL if absent).
 */
static json_t *undo_one(const char *id, const json_t *before, const json_t *after,
			const json_t *current, json_t *out_ops, json_t *kept,
			struct undo_tally *tally)
{
	json_t *target = NULL;
	bool owned = false;
	if (same_value(before, after) || same_value(current, before))
		return share(current); /* changed nothing, or already undone */
	if (!before) {
		/* The op created the shape: delete it only if it is exactly as created. */
		if (!same_value(current, after)) {
			keep_differences(kept, id, current, after, tally);
			return share(current);
		}
		target = NULL;
		tally->reverted++;
	} else if (!after) {
		/* The op deleted the shape: bring it back unless the id is in use again. */
		if (current) {
			keep(kept, id, "shape", tally);
			return share(current);
		}
		target = (json_t *)before;
		tally->reverted++;
	} else if (!current) {
		keep(kept, id, "shape", tally); /* deleted by someone else since */
		return NULL;
	} else if (!same_value(json_object_get(before, "kind"), json_object_get(after, "kind")) ||
		   !same_value(json_object_get(current, "kind"), json_object_get(after, "kind"))) {
		/* A kind change is a whole-shape replacement: revert it only as a whole. */
		if (!same_value(current, after)) {
			keep_differences(kept, id, current, after, tally);
			return share(current);
		}
		target = (json_t *)before;
		tally->reverted++;
	} else {
		target = revert_properties(id, before, after, current, kept, tally);
		if (!target)
			return share(current);
		owned = true;
	}
	size_t first = json_array_size(out_ops);
	canvas_shape_diff_ops(current, target, out_ops);
	if (owned)
		json_decref(target);
	/* The next (earlier) op of a group is undone against what these ops leave. */
	json_t *result = share(current);
	for (size_t i = first; i < json_array_size(out_ops); i++) {
		enum op_type type;
		const json_t *payload;
		if (!op_unpack(json_array_get(out_ops, i), &type, &payload, NULL))
			abort(); /* canvas_shape_diff_ops only makes well-formed ops */
		json_t *next = canvas_shape_apply(result, type, payload);
		json_decref(result);
		result = next;
	}
	return result;
}

enum history_status history_undo_ops(const struct canvas_state *before, const json_t *ops,
				     const struct canvas_state *current,
				     struct history_undo *out)
{
	size_t n = json_is_array(ops) ? json_array_size(ops) : 0;
	struct undo_step *steps = xcalloc(n, sizeof(*steps));
	struct undo_tally tally = { 0 };
	out->ops = json_array();
	out->kept = json_object();

	/* Forward: the shape each op found and the one it left, as the log replayed them. */
	json_t *replayed = json_object();
	for (size_t i = 0; i < n; i++) {
		const json_t *payload;
		if (!op_unpack(json_array_get(ops, i), &steps[i].type, &payload, NULL))
			continue;
		steps[i].payload = op_validate(steps[i].type, payload, NULL);
		if (!steps[i].payload)
			continue;
		const char *id = op_payload_shape_id(steps[i].payload);
		const json_t *found = overlay_get(replayed, before, id);
		steps[i].before = share(found);
		steps[i].after = canvas_shape_apply(found, steps[i].type, steps[i].payload);
		overlay_set(replayed, id, share(steps[i].after));
	}

	/* Backward: undo the last op first, each against what the later undos left. */
	json_t *undone = json_object();
	for (size_t i = n; i-- > 0;) {
		if (!steps[i].payload)
			continue;
		const char *id = op_payload_shape_id(steps[i].payload);
		json_t *result = undo_one(id, steps[i].before, steps[i].after,
					  overlay_get(undone, current, id), out->ops, out->kept,
					  &tally);
		overlay_set(undone, id, result);
	}

	for (size_t i = 0; i < n; i++) {
		json_decref(steps[i].payload);
		json_decref(steps[i].before);
		json_decref(steps[i].after);
	}
	free(steps);
	json_decref(replayed);
	json_decref(undone);

	if (tally.reverted > 0)
		out->status = tally.kept > 0 ? HISTORY_PARTIAL : HISTORY_APPLIED;
	else
		out->status = tally.kept > 0 ? HISTORY_CONFLICT : HISTORY_NOOP;
	return out->status;
}

enum history_status history_undo(const struct canvas_state *before, enum op_type type,
				 const json_t *payload, const struct canvas_state *current,
				 struct history_undo *out)
{
	json_t *ops = json_array();
	json_array_append_new(ops, op_make(type, payload ? json_incref((json_t *)payload)
							 : json_null()));
	enum history_status status = history_undo_ops(before, ops, current, out);
	json_decref(ops);
	return status;
}

void history_undo_release(struct history_undo *result)
{
	json_decref(result->ops);
	json_decref(result->kept);
	result->ops = NULL;
	result->kept = NULL;
}

const char *history_status_name(enum history_status status)
{
	switch (status) {
	case HISTORY_APPLIED:
		return "applied";
	case HISTORY_PARTIAL:
		return "partial";
	case HISTORY_CONFLICT:
		return "conflict";
	case HISTORY_NOOP:
		return "noop";
	}
	return "unknown";
}
