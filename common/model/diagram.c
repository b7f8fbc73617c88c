#include "model/diagram.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "model/op.h"
#include "model/svg.h"

/* Layout metrics in canvas units; text metrics follow the SVG export (16-unit sans-serif,
 * 1.25em line pitch), with an average advance that fits most Latin text. */
#define LAYOUT_CHAR_WIDTH 9.0
#define LAYOUT_LINE_HEIGHT 20.0
#define LAYOUT_FONT_SIZE 16.0
#define LAYOUT_PAD_X 32.0
#define LAYOUT_PAD_Y 24.0
#define LAYOUT_MIN_W 120.0
#define LAYOUT_MIN_H 48.0
#define LAYOUT_MAX_SIDE 4000.0
#define LAYOUT_RANK_GAP 80.0
#define LAYOUT_NODE_GAP 40.0
#define LAYOUT_BESIDE_GAP 100.0
#define LAYOUT_SWEEPS 4
#define COORD_MAX 1e9

#define NODE_STROKE "#333333"
#define NODE_FILL "#ffffff"
#define EDGE_STROKE "#555555"
#define DOTTED_OPACITY 0.5
#define THICK_WIDTH 3.0

void diagram_init(struct diagram *d)
{
	memset(d, 0, sizeof(*d));
}

void diagram_free(struct diagram *d)
{
	for (size_t i = 0; i < d->node_count; i++) {
		free(d->nodes[i].id);
		free(d->nodes[i].label);
	}
	for (size_t i = 0; i < d->edge_count; i++)
		free(d->edges[i].label);
	free(d->nodes);
	free(d->edges);
	memset(d, 0, sizeof(*d));
}

long diagram_find_node(const struct diagram *d, const char *id, size_t id_len)
{
	for (size_t i = 0; i < d->node_count; i++)
		if (strlen(d->nodes[i].id) == id_len && !memcmp(d->nodes[i].id, id, id_len))
			return (long)i;
	return -1;
}

size_t diagram_add_node(struct diagram *d, const char *id, size_t id_len, const char *label,
			size_t label_len, enum diagram_shape shape)
{
	if (d->node_count == d->node_cap) {
		d->node_cap = d->node_cap ? 2 * d->node_cap : 16;
		d->nodes = xrealloc(d->nodes, d->node_cap * sizeof(*d->nodes));
	}
	struct diagram_node *n = &d->nodes[d->node_count];
	n->id = xstrndup(id, id_len);
	n->label = xstrndup(label, label_len);
	n->shape = shape;
	return d->node_count++;
}

void diagram_set_node(struct diagram *d, size_t index, const char *label, size_t label_len,
		      enum diagram_shape shape)
{
	struct diagram_node *n = &d->nodes[index];
	free(n->label);
	n->label = xstrndup(label, label_len);
	n->shape = shape;
}

void diagram_add_edge(struct diagram *d, size_t from, size_t to, const char *label,
		      size_t label_len, enum diagram_edge_style style)
{
	if (d->edge_count == d->edge_cap) {
		d->edge_cap = d->edge_cap ? 2 * d->edge_cap : 16;
		d->edges = xrealloc(d->edges, d->edge_cap * sizeof(*d->edges));
	}
	struct diagram_edge *e = &d->edges[d->edge_count++];
	e->from = from;
	e->to = to;
	e->label = label && label_len ? xstrndup(label, label_len) : NULL; /* "" is none */
	e->style = style;
}

/* ---- canvas → graph ------------------------------------------------------------------------ */

static double num(const json_t *obj, const char *key)
{
	double v = json_number_value(json_object_get(obj, key));
	return isfinite(v) ? v : 0;
}

static const char *str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

static bool is_connector(const json_t *shape)
{
	return !strcmp(str(shape, "kind"), "connector");
}

static int compare_ids(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A closed five-point path: what diagram_layout_ops draws for {}. */
static bool is_diamond(const json_t *shape)
{
	if (strcmp(str(shape, "kind"), "path"))
		return false;
	const json_t *pts = json_object_get(shape, "points");
	if (json_array_size(pts) != 5)
		return false;
	const json_t *a = json_array_get(pts, 0), *b = json_array_get(pts, 4);
	return json_number_value(json_array_get(a, 0)) == json_number_value(json_array_get(b, 0)) &&
	       json_number_value(json_array_get(a, 1)) == json_number_value(json_array_get(b, 1));
}

static enum diagram_shape node_shape_of(const json_t *shape)
{
	const char *kind = str(shape, "kind");
	if (!strcmp(kind, "ellipse"))
		return num(shape, "w") == num(shape, "h") ? DIAGRAM_CIRCLE : DIAGRAM_STADIUM;
	if (is_diamond(shape))
		return DIAGRAM_DIAMOND;
	return DIAGRAM_RECT;
}

static enum diagram_edge_style edge_style_of(const json_t *connector)
{
	const json_t *style = json_object_get(connector, "style");
	if (json_object_get(style, "opacity") && num(style, "opacity") < 1.0)
		return DIAGRAM_DOTTED;
	if (num(style, "width") >= THICK_WIDTH)
		return DIAGRAM_THICK;
	return DIAGRAM_ARROW;
}

/* A connector end that can be a node: an existing shape that is not a connector. */
static const json_t *node_end(const json_t *shapes, const json_t *connector, const char *key)
{
	const char *id = json_string_value(json_object_get(connector, key));
	const json_t *shape = id ? json_object_get(shapes, id) : NULL;
	return shape && !is_connector(shape) ? shape : NULL;
}

/*
 * The direction the edges mostly run in: per axis, edges running forward minus edges running
 * backward; the axis with the larger agreement wins (ties go to the one with the longer total
 * run, then to vertical).
 */
static enum diagram_direction infer_direction(const struct diagram *d, const double *cx,
					      const double *cy)
{
	long vx = 0, vy = 0;
	double sx = 0, sy = 0;
	for (size_t i = 0; i < d->edge_count; i++) {
		const struct diagram_edge *e = &d->edges[i];
		double dx = cx[e->to] - cx[e->from], dy = cy[e->to] - cy[e->from];
		vx += (dx > 0.5) - (dx < -0.5);
		vy += (dy > 0.5) - (dy < -0.5);
		sx += fabs(dx);
		sy += fabs(dy);
	}
	bool vertical = labs(vy) > labs(vx) || (labs(vy) == labs(vx) && sy >= sx);
	if (vertical && vy != 0)
		return vy > 0 ? DIAGRAM_TD : DIAGRAM_BT;
	if (!vertical && vx != 0)
		return vx > 0 ? DIAGRAM_LR : DIAGRAM_RL;
	return DIAGRAM_TD;
}

void diagram_from_canvas(const struct canvas_state *state, struct diagram *out)
{
	diagram_init(out);
	const json_t *shapes = canvas_state_shapes(state);
	size_t n = json_object_size(shapes);
	const char **ids = xcalloc(n ? n : 1, sizeof(*ids));
	size_t count = 0;
	const char *key;
	json_t *shape;
	json_object_foreach((json_t *)shapes, key, shape)
		ids[count++] = key;
	qsort(ids, count, sizeof(*ids), compare_ids);

	/* Which shapes are nodes: text, or both ends of a connector that is an edge. */
	json_t *is_node = json_object();
	for (size_t i = 0; i < count; i++) {
		const json_t *s = json_object_get(shapes, ids[i]);
		if (is_connector(s)) {
			const json_t *from = node_end(shapes, s, "from"), *to = node_end(shapes, s, "to");
			if (from && to) {
				json_object_set_new(is_node, str(from, "id"), json_true());
				json_object_set_new(is_node, str(to, "id"), json_true());
			}
		} else if (*str(s, "text")) {
			json_object_set_new(is_node, ids[i], json_true());
		}
	}
	json_t *index_of = json_object();
	double *cx = xcalloc(n ? n : 1, sizeof(*cx)), *cy = xcalloc(n ? n : 1, sizeof(*cy));
	for (size_t i = 0; i < count; i++) {
		if (!json_object_get(is_node, ids[i]))
			continue;
		const json_t *s = json_object_get(shapes, ids[i]);
		char name[32];
		snprintf(name, sizeof(name), "n%zu", out->node_count + 1);
		const char *text = str(s, "text");
		cx[out->node_count] = num(s, "x") + num(s, "w") / 2;
		cy[out->node_count] = num(s, "y") + num(s, "h") / 2;
		json_object_set_new(index_of, ids[i], json_integer((json_int_t)out->node_count));
		diagram_add_node(out, name, strlen(name), text, strlen(text), node_shape_of(s));
	}
	for (size_t i = 0; i < count; i++) {
		const json_t *s = json_object_get(shapes, ids[i]);
		if (!is_connector(s))
			continue;
		const json_t *from = node_end(shapes, s, "from"), *to = node_end(shapes, s, "to");
		if (!from || !to)
			continue;
		const char *text = str(s, "text");
		diagram_add_edge(out,
				 (size_t)json_integer_value(json_object_get(index_of, str(from, "id"))),
				 (size_t)json_integer_value(json_object_get(index_of, str(to, "id"))),
				 *text ? text : NULL, strlen(text), edge_style_of(s));
	}
	out->direction = infer_direction(out, cx, cy);
	free(cx);
	free(cy);
	json_decref(index_of);
	json_decref(is_node);
	free(ids);
}

/* ---- graph → canvas: layered layout --------------------------------------------------------- */

struct layout_node {
	double w, h;       /* shape box */
	int rank;
	double order;      /* position within the rank (barycentre key while sorting) */
	double cx, cy;     /* centre, before the offset */
};

/* Width and height of a label at the export's font: longest line in characters × lines. */
static void label_extent(const char *label, double *tw, double *th)
{
	size_t lines = 1, chars = 0, widest = 0;
	for (const unsigned char *p = (const unsigned char *)label; *p; p++) {
		if (*p == '\n') {
			lines++;
			chars = 0;
			continue;
		}
		if ((*p & 0xc0) != 0x80 && ++chars > widest)
			widest = chars;
	}
	*tw = (double)widest * LAYOUT_CHAR_WIDTH;
	*th = LAYOUT_FONT_SIZE + (double)(lines - 1) * LAYOUT_LINE_HEIGHT;
}

static void node_box(const struct diagram_node *n, double *w, double *h)
{
	double tw, th;
	label_extent(n->label, &tw, &th);
	switch (n->shape) {
	case DIAGRAM_DIAMOND:
		/* The text box sits inside the rhombus: (tw/w) + (th/h) <= 1. */
		*w = fmax(LAYOUT_MIN_W + 20, 1.5 * (tw + LAYOUT_PAD_X));
		*h = fmax(LAYOUT_MIN_H + 32, 3.0 * (th + LAYOUT_PAD_Y / 2));
		break;
	case DIAGRAM_CIRCLE:
		*w = *h = fmax(LAYOUT_MIN_H + 32, hypot(tw, th) + LAYOUT_PAD_Y);
		break;
	case DIAGRAM_STADIUM:
		*h = fmax(LAYOUT_MIN_H, th + LAYOUT_PAD_Y);
		*w = fmax(LAYOUT_MIN_W, tw + *h + LAYOUT_PAD_X / 2);
		if (*w <= *h)
			*w = *h + 1; /* never a circle: w = h means (()) on the way back */
		break;
	default:
		*w = fmax(LAYOUT_MIN_W, tw + LAYOUT_PAD_X);
		*h = fmax(LAYOUT_MIN_H, th + LAYOUT_PAD_Y);
		break;
	}
	*w = ceil(fmin(*w, LAYOUT_MAX_SIDE));
	*h = ceil(fmin(*h, LAYOUT_MAX_SIDE));
	if (n->shape == DIAGRAM_STADIUM && *w <= *h)
		*w = *h + 1;
}

/* Edges as the layout sees them: self-loops dropped, back edges of a DFS reversed. */
struct dag {
	size_t *from, *to;
	size_t count;
};

static void dag_build(const struct diagram *d, struct dag *g)
{
	size_t n = d->node_count, m = d->edge_count;
	g->from = xcalloc(m ? m : 1, sizeof(size_t));
	g->to = xcalloc(m ? m : 1, sizeof(size_t));
	g->count = 0;
	/* Out-edges per node (CSR), in edge order. */
	size_t *start = xcalloc(n + 1, sizeof(size_t)), *adj = xcalloc(m ? m : 1, sizeof(size_t));
	for (size_t i = 0; i < m; i++)
		start[d->edges[i].from + 1]++;
	for (size_t v = 0; v < n; v++)
		start[v + 1] += start[v];
	size_t *fill = xcalloc(n + 1, sizeof(size_t));
	for (size_t i = 0; i < m; i++) {
		size_t v = d->edges[i].from;
		adj[start[v] + fill[v]++] = i;
	}
	/* Iterative DFS: 0 new, 1 on the stack, 2 done; an edge into the stack is a back edge. */
	unsigned char *mark = xcalloc(n ? n : 1, 1);
	bool *reversed = xcalloc(m ? m : 1, sizeof(bool));
	size_t *stack = xcalloc(n ? n : 1, sizeof(size_t)), *next = xcalloc(n ? n : 1, sizeof(size_t));
	for (size_t root = 0; root < n; root++) {
		if (mark[root])
			continue;
		size_t top = 0;
		stack[top++] = root;
		mark[root] = 1;
		next[root] = start[root];
		while (top) {
			size_t v = stack[top - 1];
			if (next[v] == start[v + 1]) {
				mark[v] = 2;
				top--;
				continue;
			}
			size_t e = adj[next[v]++];
			size_t w = d->edges[e].to;
			if (mark[w] == 1) {
				reversed[e] = true;
			} else if (mark[w] == 0) {
				mark[w] = 1;
				next[w] = start[w];
				stack[top++] = w;
			}
		}
	}
	for (size_t i = 0; i < m; i++) {
		const struct diagram_edge *e = &d->edges[i];
		if (e->from == e->to)
			continue;
		g->from[g->count] = reversed[i] ? e->to : e->from;
		g->to[g->count++] = reversed[i] ? e->from : e->to;
	}
	free(start);
	free(adj);
	free(fill);
	free(mark);
	free(reversed);
	free(stack);
	free(next);
}

/* Longest-path ranks (Kahn's order over the DAG); returns the number of ranks. */
static int assign_ranks(size_t n, const struct dag *g, struct layout_node *ln)
{
	size_t *indeg = xcalloc(n ? n : 1, sizeof(size_t)), *queue = xcalloc(n ? n : 1, sizeof(size_t));
	for (size_t i = 0; i < g->count; i++)
		indeg[g->to[i]]++;
	size_t head = 0, tail = 0;
	for (size_t v = 0; v < n; v++) {
		ln[v].rank = 0;
		if (!indeg[v])
			queue[tail++] = v;
	}
	int ranks = n ? 1 : 0;
	while (head < tail) {
		size_t v = queue[head++];
		/* O(E) per node is fine at DIAGRAM_MAX_NODES x DIAGRAM_MAX_EDGES. */
		for (size_t i = 0; i < g->count; i++) {
			if (g->from[i] != v)
				continue;
			size_t w = g->to[i];
			if (ln[w].rank < ln[v].rank + 1)
				ln[w].rank = ln[v].rank + 1;
			if (ln[w].rank + 1 > ranks)
				ranks = ln[w].rank + 1;
			if (--indeg[w] == 0)
				queue[tail++] = w;
		}
	}
	free(indeg);
	free(queue);
	return ranks;
}

static const struct layout_node *sort_nodes;

static int compare_order(const void *a, const void *b)
{
	const struct layout_node *x = &sort_nodes[*(const size_t *)a];
	const struct layout_node *y = &sort_nodes[*(const size_t *)b];
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/*
 * Orders each rank by the barycentre of its neighbours on the side just placed, sweeping down
 * then up a few times. Positions are normalized to 0..1 per rank, so edges that span several
 * ranks pull too. Deterministic: ties keep node order.
 */
static void order_ranks(size_t n, const struct dag *g, struct layout_node *ln, int ranks,
			size_t **members, size_t *sizes)
{
	double *sum = xcalloc(n ? n : 1, sizeof(double));
	size_t *cnt = xcalloc(n ? n : 1, sizeof(size_t));
	double *norm = xcalloc(n ? n : 1, sizeof(double));
	for (int sweep = 0; sweep < 2 * LAYOUT_SWEEPS; sweep++) {
		bool down = sweep % 2 == 0;
		for (int r = 0; r < ranks; r++)
			for (size_t i = 0; i < sizes[r]; i++)
				norm[members[r][i]] = (i + 0.5) / (double)sizes[r];
		for (int step = 1; step < ranks; step++) {
			int r = down ? step : ranks - 1 - step;
			for (size_t i = 0; i < sizes[r]; i++) {
				sum[members[r][i]] = 0;
				cnt[members[r][i]] = 0;
			}
			for (size_t i = 0; i < g->count; i++) {
				size_t a = g->from[i], b = g->to[i];
				/* down: a rank-r node looks at its predecessors; up: its successors */
				size_t self = down ? b : a, other = down ? a : b;
				if (ln[self].rank != r)
					continue;
				sum[self] += norm[other];
				cnt[self]++;
			}
			for (size_t i = 0; i < sizes[r]; i++) {
				size_t v = members[r][i];
				ln[v].order = cnt[v] ? sum[v] / (double)cnt[v] : norm[v];
			}
			sort_nodes = ln;
			qsort(members[r], sizes[r], sizeof(size_t), compare_order);
			for (size_t i = 0; i < sizes[r]; i++)
				norm[members[r][i]] = (i + 0.5) / (double)sizes[r];
		}
	}
	for (int r = 0; r < ranks; r++)
		for (size_t i = 0; i < sizes[r]; i++)
			ln[members[r][i]].order = (double)i;
	free(sum);
	free(cnt);
	free(norm);
}

/* Centres: ranks along the direction, members side by side across it, each rank centred. */
static void place(const struct diagram *d, struct layout_node *ln, int ranks, size_t **members,
		  size_t *sizes, double *total_w, double *total_h)
{
	bool horizontal = d->direction == DIAGRAM_LR || d->direction == DIAGRAM_RL;
	double *depth = xcalloc((size_t)ranks + 1, sizeof(double));
	double *offset = xcalloc((size_t)ranks + 1, sizeof(double));
	double *across = xcalloc((size_t)ranks + 1, sizeof(double));
	double widest = 0;
	for (int r = 0; r < ranks; r++) {
		for (size_t i = 0; i < sizes[r]; i++) {
			const struct layout_node *v = &ln[members[r][i]];
			depth[r] = fmax(depth[r], horizontal ? v->w : v->h);
			across[r] += (horizontal ? v->h : v->w) + (i ? LAYOUT_NODE_GAP : 0);
		}
		widest = fmax(widest, across[r]);
		offset[r + 1] = offset[r] + depth[r] + LAYOUT_RANK_GAP;
	}
	double length = ranks ? offset[ranks] - LAYOUT_RANK_GAP : 0;
	for (int r = 0; r < ranks; r++) {
		double at = floor((widest - across[r]) / 2);
		for (size_t i = 0; i < sizes[r]; i++) {
			struct layout_node *v = &ln[members[r][i]];
			double cross = horizontal ? v->h : v->w;
			double along = offset[r] + depth[r] / 2;
			if (d->direction == DIAGRAM_BT || d->direction == DIAGRAM_RL)
				along = length - along;
			double c = at + cross / 2;
			v->cx = horizontal ? along : c;
			v->cy = horizontal ? c : along;
			at += cross + LAYOUT_NODE_GAP;
		}
	}
	*total_w = horizontal ? length : widest;
	*total_h = horizontal ? widest : length;
	free(depth);
	free(offset);
	free(across);
}

static double clampd(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static json_t *style_json(const char *stroke, const char *fill, double width, double opacity)
{
	json_t *s = json_pack("{s:s, s:f, s:f}", "stroke", stroke, "width", width, "opacity",
			      opacity);
	if (fill)
		json_object_set_new(s, "fill", json_string(fill));
	return s;
}

static void append_create(json_t *ops, json_t *payload)
{
	struct op_error err;
	json_t *normalized = op_validate(OP_CREATE_SHAPE, payload, &err);
	json_decref(payload);
	if (!normalized)
		abort(); /* the layout builds valid shapes by construction: a bug, found by tests */
	json_array_append_new(ops, op_make(OP_CREATE_SHAPE, normalized));
}

json_t *diagram_layout_ops(const struct diagram *d, const struct canvas_state *existing,
			   const char *prefix, json_t **shape_ids)
{
	size_t n = d->node_count;
	struct layout_node *ln = xcalloc(n ? n : 1, sizeof(*ln));
	for (size_t i = 0; i < n; i++)
		node_box(&d->nodes[i], &ln[i].w, &ln[i].h);
	struct dag g;
	dag_build(d, &g);
	int ranks = assign_ranks(n, &g, ln);
	size_t **members = xcalloc((size_t)ranks + 1, sizeof(size_t *));
	size_t *sizes = xcalloc((size_t)ranks + 1, sizeof(size_t));
	for (size_t v = 0; v < n; v++)
		sizes[ln[v].rank]++;
	for (int r = 0; r < ranks; r++) {
		members[r] = xcalloc(sizes[r] ? sizes[r] : 1, sizeof(size_t));
		sizes[r] = 0;
	}
	for (size_t v = 0; v < n; v++)
		members[ln[v].rank][sizes[ln[v].rank]++] = v;
	order_ranks(n, &g, ln, ranks, members, sizes);
	double total_w, total_h;
	place(d, ln, ranks, members, sizes, &total_w, &total_h);

	/* Beside the existing drawing, in front of it, within the coordinate bounds. */
	double ox = 0, oy = 0, top_z = 0;
	double bounds[4];
	if (existing && svg_drawing_bounds(existing, bounds)) {
		ox = ceil(bounds[2] + LAYOUT_BESIDE_GAP);
		oy = floor(bounds[1]);
	}
	ox = clampd(ox, -COORD_MAX, COORD_MAX - total_w);
	oy = clampd(oy, -COORD_MAX, COORD_MAX - total_h);
	if (existing) {
		const char *key;
		json_t *shape;
		json_object_foreach((json_t *)canvas_state_shapes(existing), key, shape)
			top_z = fmax(top_z, num(shape, "z"));
	}
	double edge_z = clampd(floor(top_z) + 1, -COORD_MAX, COORD_MAX);
	double node_z = clampd(floor(top_z) + 2, -COORD_MAX, COORD_MAX);

	json_t *ops = json_array();
	json_t *ids = json_object();
	char (*node_ids)[DIAGRAM_MAX_ID + 16] = xcalloc(n ? n : 1, sizeof(*node_ids));
	for (size_t v = 0; v < n; v++) {
		const struct diagram_node *node = &d->nodes[v];
		double w = ln[v].w, h = ln[v].h;
		double x = round(ox + ln[v].cx - w / 2), y = round(oy + ln[v].cy - h / 2);
		snprintf(node_ids[v], sizeof(node_ids[v]), "%s-n%04zu", prefix, v + 1);
		const char *kind = node->shape == DIAGRAM_CIRCLE || node->shape == DIAGRAM_STADIUM
					   ? "ellipse"
				   : node->shape == DIAGRAM_DIAMOND ? "path"
								    : "rect";
		json_t *p = json_pack("{s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:s, s:o}", "shape_id",
				      node_ids[v], "kind", kind, "x", x, "y", y, "w", w, "h", h, "z",
				      node_z, "text", node->label, "style",
				      style_json(NODE_STROKE, NODE_FILL, 1.5, 1.0));
		if (node->shape == DIAGRAM_DIAMOND)
			json_object_set_new(p, "points",
					    json_pack("[[f,f],[f,f],[f,f],[f,f],[f,f]]", w / 2, 0.0,
						      w, h / 2, w / 2, h, 0.0, h / 2, w / 2, 0.0));
		append_create(ops, p);
		json_object_set_new(ids, node->id, json_string(node_ids[v]));
	}
	for (size_t i = 0; i < d->edge_count; i++) {
		const struct diagram_edge *e = &d->edges[i];
		char id[DIAGRAM_MAX_ID + 16];
		snprintf(id, sizeof(id), "%s-e%04zu", prefix, i + 1);
		/* The box spans the two centres: what a renderer falls back on for a lost end. */
		double x1 = round(ox + ln[e->from].cx), y1 = round(oy + ln[e->from].cy);
		double x2 = round(ox + ln[e->to].cx), y2 = round(oy + ln[e->to].cy);
		json_t *p = json_pack(
			"{s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:s, s:s, s:o}", "shape_id", id, "kind",
			"connector", "x", fmin(x1, x2), "y", fmin(y1, y2), "w", fabs(x2 - x1), "h",
			fabs(y2 - y1), "z", edge_z, "from", node_ids[e->from], "to", node_ids[e->to],
			"style",
			style_json(EDGE_STROKE, NULL, e->style == DIAGRAM_THICK ? THICK_WIDTH : 1.0,
				   e->style == DIAGRAM_DOTTED ? DOTTED_OPACITY : 1.0));
		if (e->label)
			json_object_set_new(p, "text", json_string(e->label));
		append_create(ops, p);
	}
	if (shape_ids)
		*shape_ids = ids;
	else
		json_decref(ids);
	free(node_ids);
	for (int r = 0; r < ranks; r++)
		free(members[r]);
	free(members);
	free(sizes);
	free(g.from);
	free(g.to);
	free(ln);
	return ops;
}

/* ---- comparison ------------------------------------------------------------------------------ */

static enum diagram_shape canonical_shape(enum diagram_shape s)
{
	return s == DIAGRAM_ROUNDED ? DIAGRAM_RECT : s;
}

static enum diagram_edge_style canonical_style(enum diagram_edge_style s)
{
	return s == DIAGRAM_LINE ? DIAGRAM_ARROW : s;
}

bool diagram_equal(const struct diagram *a, const struct diagram *b, bool check_direction)
{
	if ((check_direction && a->direction != b->direction) || a->node_count != b->node_count ||
	    a->edge_count != b->edge_count)
		return false;
	for (size_t i = 0; i < a->node_count; i++)
		if (strcmp(a->nodes[i].label, b->nodes[i].label) ||
		    canonical_shape(a->nodes[i].shape) != canonical_shape(b->nodes[i].shape))
			return false;
	for (size_t i = 0; i < a->edge_count; i++) {
		const struct diagram_edge *x = &a->edges[i], *y = &b->edges[i];
		if (x->from != y->from || x->to != y->to ||
		    canonical_style(x->style) != canonical_style(y->style) ||
		    !x->label != !y->label || (x->label && strcmp(x->label, y->label)))
			return false;
	}
	return true;
}
