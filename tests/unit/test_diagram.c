/*
 * Diagrams as code, the model half (common/model/diagram.h) with the codec: the graph of a
 * canvas, the layered layout, and the round trip canvas → Mermaid → canvas as a property over
 * random canvases: importing an export yields the same labelled graph, and exporting that
 * import gives back the same text.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/mermaid.h"
#include "model/canvas.h"
#include "model/diagram.h"
#include "model/op.h"
#include "model/svg.h"

struct rng {
	uint64_t s;
};

static unsigned rng_below(struct rng *r, unsigned n)
{
	/* xorshift64*: deterministic per seed. */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return (unsigned)((r->s * 0x2545F4914F6CDD1DULL) % n);
}

static void create(struct canvas_state *s, json_t *payload)
{
	json_t *op = json_pack("{s:s, s:o}", "type", "create_shape", "payload", payload);
	cr_assert(canvas_apply_op(s, op), "create refused: %s", json_dumps(op, 0));
	json_decref(op);
}

static struct diagram parse(const char *text)
{
	struct diagram d;
	struct mermaid_error err;
	cr_assert(mermaid_parse(text, strlen(text), &d, &err), "line %d col %d: %s\n%s", err.line,
		  err.column, err.message, text);
	return d;
}

/* Applies a layout's ops to a state (they must all be valid creates). */
static void apply_all(struct canvas_state *s, const json_t *ops)
{
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op) {
		cr_assert_str_eq(json_string_value(json_object_get(op, "type")), "create_shape");
		struct op_error err;
		json_t *again = op_validate(OP_CREATE_SHAPE, json_object_get(op, "payload"), &err);
		cr_assert(again, "invalid op %zu: %s", i, err.detail);
		cr_assert(json_equal(again, json_object_get(op, "payload")), "op %zu not normalized", i);
		json_decref(again);
		cr_assert(canvas_apply_op(s, op));
	}
}

static const json_t *shape(const struct canvas_state *s, const json_t *ids, const char *name)
{
	const char *id = json_string_value(json_object_get(ids, name));
	cr_assert(id, "no shape for node %s", name);
	const json_t *sh = canvas_shape_get(s, id);
	cr_assert(sh, "shape %s missing", id);
	return sh;
}

static double num(const json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

Test(diagram, import_maps_shapes_labels_and_links_to_canvas_shapes)
{
	struct diagram d = parse("graph TD\n"
				 "a[Rect] --> b(Round)\n"
				 "b -->|yes| c{Diamond}\n"
				 "c -.-> d((Circle))\n"
				 "d ==> e([Stadium])\n"
				 "e --- a\n");
	json_t *ids = NULL;
	json_t *ops = diagram_layout_ops(&d, NULL, "t", &ids);
	cr_assert_eq(json_array_size(ops), 10);
	struct canvas_state *s = canvas_state_new();
	apply_all(s, ops);
	cr_assert_str_eq(json_string_value(json_object_get(ids, "a")), "t-n0001");
	cr_assert_str_eq(json_string_value(json_object_get(shape(s, ids, "a"), "kind")), "rect");
	cr_assert_str_eq(json_string_value(json_object_get(shape(s, ids, "b"), "kind")), "rect");
	const json_t *c = shape(s, ids, "c");
	cr_assert_str_eq(json_string_value(json_object_get(c, "kind")), "path");
	cr_assert_eq(json_array_size(json_object_get(c, "points")), 5);
	const json_t *circle = shape(s, ids, "d"), *stadium = shape(s, ids, "e");
	cr_assert_str_eq(json_string_value(json_object_get(circle, "kind")), "ellipse");
	cr_assert_eq(num(circle, "w"), num(circle, "h"));
	cr_assert_gt(num(stadium, "w"), num(stadium, "h"));
	cr_assert_str_eq(json_string_value(json_object_get(c, "text")), "Diamond");
	/* Links: connectors attached to the node shapes, label as text, style by kind. */
	const json_t *e2 = canvas_shape_get(s, "t-e0002");
	cr_assert_str_eq(json_string_value(json_object_get(e2, "kind")), "connector");
	cr_assert_str_eq(json_string_value(json_object_get(e2, "from")), "t-n0002");
	cr_assert_str_eq(json_string_value(json_object_get(e2, "to")), "t-n0003");
	cr_assert_str_eq(json_string_value(json_object_get(e2, "text")), "yes");
	cr_assert_lt(num(json_object_get(canvas_shape_get(s, "t-e0003"), "style"), "opacity"), 1);
	cr_assert_geq(num(json_object_get(canvas_shape_get(s, "t-e0004"), "style"), "width"), 3);
	/* Connectors under the nodes, so lines run behind the labelled boxes. */
	cr_assert_lt(num(e2, "z"), num(c, "z"));
	json_decref(ids);
	json_decref(ops);
	canvas_state_free(s);
	diagram_free(&d);
}

/* Node boxes of a laid-out canvas never overlap. */
static void assert_no_overlap(const struct canvas_state *s, const json_t *ids)
{
	const char *k1, *k2;
	json_t *v1, *v2;
	json_object_foreach((json_t *)ids, k1, v1) {
		const json_t *a = canvas_shape_get(s, json_string_value(v1));
		json_object_foreach((json_t *)ids, k2, v2) {
			if (strcmp(k1, k2) >= 0)
				continue;
			const json_t *b = canvas_shape_get(s, json_string_value(v2));
			bool apart = num(a, "x") + num(a, "w") <= num(b, "x") ||
				     num(b, "x") + num(b, "w") <= num(a, "x") ||
				     num(a, "y") + num(a, "h") <= num(b, "y") ||
				     num(b, "y") + num(b, "h") <= num(a, "y");
			cr_assert(apart, "nodes %s and %s overlap", k1, k2);
		}
	}
}

static void centre(const json_t *sh, double *x, double *y)
{
	*x = num(sh, "x") + num(sh, "w") / 2;
	*y = num(sh, "y") + num(sh, "h") / 2;
}

Test(diagram, layout_puts_ranks_along_the_direction_and_nothing_overlaps)
{
	static const char *const dirs[] = { "TD", "BT", "LR", "RL" };
	for (size_t k = 0; k < 4; k++) {
		char text[200];
		snprintf(text, sizeof(text),
			 "graph %s\nA-->B\nA-->C\nB-->D\nC-->D\nD-->E[\"a much longer label "
			 "here\"]\nA-->E",
			 dirs[k]);
		struct diagram d = parse(text);
		json_t *ids = NULL;
		json_t *ops = diagram_layout_ops(&d, NULL, "p", &ids);
		struct canvas_state *s = canvas_state_new();
		apply_all(s, ops);
		assert_no_overlap(s, ids);
		/* Every link runs forward along the direction (this graph has no cycle). */
		for (size_t i = 0; i < d.edge_count; i++) {
			double x1, y1, x2, y2;
			centre(shape(s, ids, d.nodes[d.edges[i].from].id), &x1, &y1);
			centre(shape(s, ids, d.nodes[d.edges[i].to].id), &x2, &y2);
			double forward = k == 0 ? y2 - y1 : k == 1 ? y1 - y2 : k == 2 ? x2 - x1 : x1 - x2;
			cr_assert_gt(forward, 0, "%s: edge %zu runs backwards", dirs[k], i);
		}
		/* And the export reads the direction back. */
		struct diagram back;
		diagram_from_canvas(s, &back);
		cr_assert_eq(back.direction, d.direction, "%s read back as %d", dirs[k],
			     back.direction);
		cr_assert(diagram_equal(&d, &back, true));
		diagram_free(&back);
		json_decref(ids);
		json_decref(ops);
		canvas_state_free(s);
		diagram_free(&d);
	}
}

Test(diagram, layout_of_a_cycle_and_self_loop_terminates_and_keeps_every_link)
{
	struct diagram d = parse("graph LR\nA-->B-->C-->A\nB-->B\nC-->B");
	json_t *ids = NULL;
	json_t *ops = diagram_layout_ops(&d, NULL, "c", &ids);
	struct canvas_state *s = canvas_state_new();
	apply_all(s, ops);
	assert_no_overlap(s, ids);
	struct diagram back;
	diagram_from_canvas(s, &back);
	cr_assert(diagram_equal(&d, &back, false));
	diagram_free(&back);
	json_decref(ids);
	json_decref(ops);
	canvas_state_free(s);
	diagram_free(&d);
}

Test(diagram, import_goes_beside_and_in_front_of_existing_content)
{
	struct canvas_state *s = canvas_state_new();
	create(s, json_pack("{s:s, s:s, s:f, s:f, s:f, s:f, s:f}", "shape_id", "old", "kind", "rect",
			    "x", -50.0, "y", 30.0, "w", 200.0, "h", 100.0, "z", 7.5));
	create(s, json_pack("{s:s, s:s, s:f, s:f, s:[[f,f],[f,f]]}", "shape_id", "pen", "kind",
			    "path", "x", 0.0, "y", 0.0, "points", 0.0, 0.0, 400.0, -20.0));
	struct diagram d = parse("graph TD\nA-->B");
	json_t *ops = diagram_layout_ops(&d, s, "b", NULL);
	double bounds[4];
	cr_assert(svg_drawing_bounds(s, bounds));
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op) {
		const json_t *p = json_object_get(op, "payload");
		cr_assert_geq(num(p, "x"), bounds[2] + 100, "op %zu at x %g", i, num(p, "x"));
		cr_assert_geq(num(p, "y"), bounds[1]);
		cr_assert_gt(num(p, "z"), 7.5);
	}
	json_decref(ops);
	canvas_state_free(s);
	diagram_free(&d);
}

Test(diagram, export_takes_shapes_with_text_and_the_shapes_connectors_attach)
{
	struct canvas_state *s = canvas_state_new();
	create(s, json_pack("{s:s, s:s, s:f, s:f, s:f, s:f, s:s}", "shape_id", "b", "kind", "ellipse",
			    "x", 0.0, "y", 200.0, "w", 50.0, "h", 50.0, "text", "round"));
	create(s, json_pack("{s:s, s:s, s:f, s:f, s:f, s:f}", "shape_id", "a", "kind", "rect", "x",
			    0.0, "y", 0.0, "w", 50.0, "h", 20.0));
	create(s, json_pack("{s:s, s:s, s:f, s:f, s:s}", "shape_id", "lonely", "kind", "sticky", "x",
			    500.0, "y", 0.0, "text", "note"));
	create(s, json_pack("{s:s, s:s, s:f, s:f}", "shape_id", "blank", "kind", "rect", "x", 900.0,
			    "y", 0.0));
	create(s, json_pack("{s:s, s:s, s:f, s:f, s:s, s:s, s:s}", "shape_id", "c1", "kind",
			    "connector", "x", 0.0, "y", 0.0, "from", "a", "to", "b", "text", "go"));
	create(s, json_pack("{s:s, s:s, s:f, s:f, s:s, s:s}", "shape_id", "c2", "kind", "connector",
			    "x", 0.0, "y", 0.0, "from", "a", "to", "missing"));
	create(s, json_pack("{s:s, s:s, s:f, s:f, s:s, s:s}", "shape_id", "c3", "kind", "connector",
			    "x", 0.0, "y", 0.0, "from", "c1", "to", "b"));
	struct diagram d;
	diagram_from_canvas(s, &d);
	char *text = mermaid_write(&d, NULL);
	/* Exactly: a (connector end, no text), b, lonely; c1 only. */
	cr_assert_eq(d.node_count, 3, "%s", text);
	cr_assert_eq(d.edge_count, 1, "%s", text);
	cr_assert_str_eq(text, "flowchart TD\n"
			       "    n1[\"\"]\n"
			       "    n2((\"round\"))\n"
			       "    n3[\"note\"]\n"
			       "    n1 -->|\"go\"| n2\n");
	free(text);
	diagram_free(&d);
	canvas_state_free(s);
}

/* ---- the round trip over random canvases ------------------------------------------------------ */

static const char *const label_pool[] = {
	"", "Start", "two\nlines", "quote \" hash # pipe | lt < gt > amp &", "\xe6\x97\xa5\xe6\x9c\xac",
	"<br> literal", "#quot; literal", "tab\there", "  padded  ", "x",
};

static json_t *random_canvas_op(struct rng *r, size_t i, size_t shapes)
{
	char id[32];
	snprintf(id, sizeof(id), "s%02zu", i);
	const char *label = label_pool[rng_below(r, sizeof(label_pool) / sizeof(label_pool[0]))];
	json_t *p;
	switch (rng_below(r, 7)) {
	case 0:
	case 1: {
		/* A connector between two shapes of the pool (some missing, some connectors). */
		char from[32], to[32];
		snprintf(from, sizeof(from), "s%02u", rng_below(r, (unsigned)shapes + 3));
		snprintf(to, sizeof(to), "s%02u", rng_below(r, (unsigned)shapes + 3));
		p = json_pack("{s:s, s:s, s:f, s:f, s:s, s:s, s:s, s:{s:f, s:f}}", "shape_id", id,
			      "kind", "connector", "x", 0.0, "y", 0.0, "from", from, "to", to, "text",
			      label, "style", "width", rng_below(r, 2) ? 3.0 : 1.0, "opacity",
			      rng_below(r, 3) ? 1.0 : 0.4);
		break;
	}
	case 2:
		p = json_pack("{s:s, s:s, s:f, s:f, s:f, s:f, s:s}", "shape_id", id, "kind", "ellipse",
			      "x", (double)rng_below(r, 1000), "y", (double)rng_below(r, 1000), "w",
			      40.0, "h", rng_below(r, 2) ? 40.0 : 25.0, "text", label);
		break;
	case 3:
		p = json_pack("{s:s, s:s, s:f, s:f, s:f, s:f, s:s, s:[[f,f],[f,f],[f,f],[f,f],[f,f]]}",
			      "shape_id", id, "kind", "path", "x", (double)rng_below(r, 1000), "y",
			      (double)rng_below(r, 1000), "w", 20.0, "h", 20.0, "text", label,
			      "points", 10.0, 0.0, 20.0, 10.0, 10.0, 20.0, 0.0, 10.0, 10.0, 0.0);
		break;
	default: {
		static const char *const kinds[] = { "rect", "sticky", "text", "line" };
		p = json_pack("{s:s, s:s, s:f, s:f, s:f, s:f, s:s}", "shape_id", id, "kind",
			      kinds[rng_below(r, 4)], "x", (double)rng_below(r, 1000), "y",
			      (double)rng_below(r, 1000), "w", 30.0, "h", 20.0, "text", label);
		break;
	}
	}
	return p;
}

Test(diagram, importing_an_export_yields_the_same_labelled_graph_and_the_same_text)
{
	for (uint64_t seed = 1; seed <= 300; seed++) {
		struct rng r = { seed * 0x9E3779B97F4A7C15ULL };
		struct canvas_state *s = canvas_state_new();
		size_t shapes = 1 + rng_below(&r, 40);
		for (size_t i = 0; i < shapes; i++)
			create(s, random_canvas_op(&r, i, shapes));

		struct diagram d0;
		diagram_from_canvas(s, &d0);
		char *text0 = mermaid_write(&d0, NULL);
		if (d0.node_count == 0) {
			/* Nothing to export as a graph: the text has no nodes, which import refuses. */
			struct diagram none;
			struct mermaid_error err;
			cr_assert_not(mermaid_parse(text0, strlen(text0), &none, &err));
			diagram_free(&none);
			goto next;
		}
		struct diagram d1 = parse(text0);
		cr_assert(diagram_equal(&d0, &d1, true), "seed %llu: the text does not read back\n%s",
			  (unsigned long long)seed, text0);

		/* Import it beside the original content, then export the imported shapes only. */
		json_t *ops = diagram_layout_ops(&d1, s, "imp", NULL);
		struct canvas_state *fresh = canvas_state_new();
		apply_all(fresh, ops);
		struct diagram d2;
		diagram_from_canvas(fresh, &d2);
		cr_assert(diagram_equal(&d1, &d2, false), "seed %llu: the import is another graph\n%s",
			  (unsigned long long)seed, text0);
		char *text2 = mermaid_write(&d2, NULL);
		const char *body0 = strchr(text0, '\n'), *body2 = strchr(text2, '\n');
		cr_assert_str_eq(body2, body0, "seed %llu", (unsigned long long)seed);
		free(text2);
		diagram_free(&d2);
		canvas_state_free(fresh);
		json_decref(ops);
		diagram_free(&d1);
	next:
		free(text0);
		diagram_free(&d0);
		canvas_state_free(s);
	}
}
