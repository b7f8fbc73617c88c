/*
 * Shared by the canvas-model unit tests (test_canvas.c, test_history.c): a seeded generator of
 * random valid ops over a small id pool, so property tests hit existing and missing shapes.
 * Header-only (static functions), included by test files only.
 */
#ifndef FLOWSTATE_TEST_CANVAS_GEN_H
#define FLOWSTATE_TEST_CANVAS_GEN_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/canvas.h"

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	/* xorshift64*: deterministic per seed, good enough to explore op sequences. */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1DULL;
}

static unsigned rng_below(struct rng *r, unsigned n)
{
	return (unsigned)(rng_next(r) % n);
}

static const char *const id_pool[] = { "a", "b", "c", "d", "e", "f", "g:1", "h-2" };
static const char *const kinds[] = { "rect", "ellipse", "line", "arrow",
				     "text", "sticky",	"path", "connector" };
static const char *const colours[] = { "#abc", "#A1B2C3", "#00000080", "none", "transparent",
				       "#FFF" };
static const char *const texts[] = { "", "hello", "h\xc3\xa9llo", "\xe6\x97\xa5\xe6\x9c\xac",
				     "emoji \xf0\x9f\x98\x80", "quote \" back \\ nl \n" };

static json_t *rng_number(struct rng *r, double lo, double hi)
{
	switch (rng_below(r, 6)) {
	case 0: {
		/* Small integers within [lo, hi]: JSON integers must normalize like reals. */
		json_int_t ilo = lo < -100 ? -100 : (json_int_t)lo;
		json_int_t ihi = hi > 100 ? 100 : (json_int_t)hi;
		return json_integer(ilo + (json_int_t)rng_below(r, (unsigned)(ihi - ilo + 1)));
	}
	case 1:
		return json_real(rng_below(r, 2) ? lo : hi);
	case 2:
		return json_real(-0.0);
	case 3:
		/* Few distinct values, so that ops often set what is already there. */
		return json_real((double)rng_below(r, 4) * (hi > 1 ? 1.5 : 0.25));
	default:
		return json_real(lo + (hi - lo) * ((double)(rng_next(r) >> 11) / 9007199254740992.0));
	}
}

static json_t *rng_coord(struct rng *r)
{
	return rng_number(r, -1e9, 1e9);
}

static json_t *rng_style(struct rng *r, bool partial)
{
	json_t *style = json_object();
	do {
		if (rng_below(r, 2))
			json_object_set_new(style, "stroke", json_string(colours[rng_below(r, 6)]));
		if (rng_below(r, 2))
			json_object_set_new(style, "fill", json_string(colours[rng_below(r, 6)]));
		if (rng_below(r, 2))
			json_object_set_new(style, "width", rng_number(r, 0, 1000));
		if (rng_below(r, 2))
			json_object_set_new(style, "opacity", rng_number(r, 0, 1));
	} while (partial && json_object_size(style) == 0);
	return style;
}

static json_t *rng_points(struct rng *r)
{
	json_t *points = json_array();
	unsigned n = rng_below(r, 5);
	for (unsigned i = 0; i < n; i++) {
		json_t *p = json_array();
		json_array_append_new(p, rng_coord(r));
		json_array_append_new(p, rng_coord(r));
		json_array_append_new(points, p);
	}
	return points;
}

static json_t *rng_ref(struct rng *r)
{
	return rng_below(r, 3) == 0 ? json_null() : json_string(id_pool[rng_below(r, 8)]);
}

static void rng_update_props(struct rng *r, json_t *p, bool at_least_one)
{
	do {
		if (rng_below(r, 3) == 0)
			json_object_set_new(p, "rotation", rng_number(r, -360, 360));
		if (rng_below(r, 3) == 0)
			json_object_set_new(p, "z", rng_coord(r));
		if (rng_below(r, 3) == 0)
			json_object_set_new(p, "style", rng_style(r, true));
		if (rng_below(r, 3) == 0)
			json_object_set_new(p, "text", json_string(texts[rng_below(r, 6)]));
		if (rng_below(r, 4) == 0)
			json_object_set_new(p, "points", rng_points(r));
		if (rng_below(r, 4) == 0)
			json_object_set_new(p, "from", rng_ref(r));
		if (rng_below(r, 4) == 0)
			json_object_set_new(p, "to", rng_ref(r));
	} while (at_least_one && json_object_size(p) < 2);
}

/* A random valid op {"type", "payload"} with a raw (not normalized) payload. */
static json_t *rng_op(struct rng *r)
{
	json_t *p = json_object();
	json_object_set_new(p, "shape_id", json_string(id_pool[rng_below(r, 8)]));
	enum op_type type;
	unsigned pick = rng_below(r, 20);
	if (pick < 6) {
		type = OP_CREATE_SHAPE;
		json_object_set_new(p, "kind", json_string(kinds[rng_below(r, 8)]));
		json_object_set_new(p, "x", rng_coord(r));
		json_object_set_new(p, "y", rng_coord(r));
		if (rng_below(r, 2))
			json_object_set_new(p, "w", rng_number(r, 0, 1e9));
		if (rng_below(r, 2))
			json_object_set_new(p, "h", rng_number(r, 0, 1e9));
		if (rng_below(r, 2))
			json_object_set_new(p, "style", rng_style(r, false));
		rng_update_props(r, p, false);
	} else if (pick < 10) {
		type = OP_MOVE_SHAPE;
		json_object_set_new(p, "x", rng_coord(r));
		json_object_set_new(p, "y", rng_coord(r));
	} else if (pick < 13) {
		type = OP_RESIZE_SHAPE;
		json_object_set_new(p, "x", rng_coord(r));
		json_object_set_new(p, "y", rng_coord(r));
		json_object_set_new(p, "w", rng_number(r, 0, 1e9));
		json_object_set_new(p, "h", rng_number(r, 0, 1e9));
	} else if (pick < 18) {
		type = OP_UPDATE_SHAPE;
		rng_update_props(r, p, true);
	} else {
		type = OP_DELETE_SHAPE;
	}
	return op_make(type, p);
}

/* n random ops, validated: returns the normalized ops and (if raw) the raw ones. */
static json_t *rng_ops(uint64_t seed, size_t n, json_t **raw)
{
	struct rng r = { seed * 0x9E3779B97F4A7C15ULL + 1 };
	json_t *ops = json_array();
	if (raw)
		*raw = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *op = rng_op(&r);
		enum op_type type;
		const json_t *payload;
		struct op_error err;
		cr_assert(op_unpack(op, &type, &payload, &err));
		json_t *normalized = op_validate(type, payload, &err);
		if (!normalized) {
			char *s = canon(op);
			cr_assert_fail("generated op rejected: %s: %s %s", s, err.code, err.detail);
		}
		json_array_append_new(ops, op_make(type, normalized));
		if (raw)
			json_array_append(*raw, op);
		json_decref(op);
	}
	return ops;

#endif
