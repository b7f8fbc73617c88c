#include "model/svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

/* Space around the drawing, in canvas units, on top of the widest stroke. */
#define SVG_MARGIN 10.0
#define SVG_FONT_SIZE 16.0
#define SVG_STICKY_PADDING 8.0
#define SVG_STICKY_FILL "#fff59d"

/* ---- output buffer ------------------------------------------------------------------------ */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		sb_add(b, small, (size_t)n);
		return;
	}
	char *big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb_add(b, big, (size_t)n);
	free(big);
}

/* Numbers as SVG accepts them; 15 significant digits keep every coordinate of the schema
 * (|v| <= 1e9) to a micro-unit without printing binary noise. */
static void sb_num(struct sbuf *b, double v)
{
	if (!isfinite(v) || v == 0)
		v = 0;
	sb_printf(b, "%.15g", v);
}

/*
 * Decodes one UTF-8 character at s (n bytes available). Returns its length and stores the
 * code point, or returns 0 for an invalid or truncated sequence.
 */
static size_t utf8_decode(const unsigned char *s, size_t n, unsigned *cp)
{
	unsigned c = s[0];
	size_t len;
	unsigned v, min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		len = 2, v = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, v = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

/* The Char production of XML 1.0: anything else makes the document ill-formed even when
 * written as a character reference. */
static bool xml_char(unsigned cp)
{
	return cp == 0x9 || cp == 0xa || cp == 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
	       (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

static void sb_escape(struct sbuf *b, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		unsigned cp;
		size_t n = utf8_decode(u + i, len - i, &cp);
		if (n == 0) {
			i++; /* an invalid byte is dropped, not passed on */
			continue;
		}
		switch (cp) {
		case '&': sb_puts(b, "&amp;"); break;
		case '<': sb_puts(b, "&lt;"); break;
		case '>': sb_puts(b, "&gt;"); break;
		case '"': sb_puts(b, "&quot;"); break;
		case '\'': sb_puts(b, "&apos;"); break;
		default:
			if (xml_char(cp))
				sb_add(b, s + i, n);
			break;
		}
		i += n;
	}
}

char *svg_xml_escape(const char *s, size_t len)
{
	struct sbuf b = { 0 };
	sb_add(&b, "", 0);
	sb_escape(&b, s, len);
	return b.p;
}

/* ---- reading shapes ----------------------------------------------------------------------- */

static double num(const json_t *shape, const char *key)
{
	double v = json_number_value(json_object_get(shape, key));
	return isfinite(v) ? v : 0;
}

static const char *str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

static const char *shape_kind(const json_t *shape)
{
	return str(shape, "kind");
}

static const char *shape_id(const json_t *shape)
{
	return str(shape, "id");
}

struct point {
	double x, y;
};

struct box {
	double x0, y0, x1, y1;
	bool any;
};

static void box_add(struct box *b, double x, double y)
{
	if (!b->any) {
		b->x0 = b->x1 = x;
		b->y0 = b->y1 = y;
		b->any = true;
		return;
	}
	b->x0 = fmin(b->x0, x);
	b->y0 = fmin(b->y0, y);
	b->x1 = fmax(b->x1, x);
	b->y1 = fmax(b->y1, y);
}

/* Where an SVG rotate(deg cx cy) sends p (y grows downwards, so positive is clockwise). */
static struct point rotate_point(struct point p, double deg, struct point c)
{
	double r = deg * M_PI / 180.0, cs = cos(r), sn = sin(r);
	double dx = p.x - c.x, dy = p.y - c.y;
	return (struct point){ c.x + dx * cs - dy * sn, c.y + dx * sn + dy * cs };
}

static struct point centre(const json_t *shape)
{
	return (struct point){ num(shape, "x") + num(shape, "w") / 2,
			       num(shape, "y") + num(shape, "h") / 2 };
}

static bool is_connector(const json_t *shape)
{
	return !strcmp(shape_kind(shape), "connector");
}

static bool uses_points(const json_t *shape)
{
	const char *k = shape_kind(shape);
	if (!strcmp(k, "path"))
		return true;
	return (!strcmp(k, "line") || !strcmp(k, "arrow")) &&
	       json_array_size(json_object_get(shape, "points")) >= 2;
}

/* The ends of a connector: the centres of its from/to shapes, or its own box corners. */
static void connector_ends(const json_t *shape, const json_t *shapes, struct point ends[2])
{
	const json_t *from = json_object_get(shapes, str(shape, "from"));
	const json_t *to = json_object_get(shapes, str(shape, "to"));
	double x = num(shape, "x"), y = num(shape, "y");
	ends[0] = from ? centre(from) : (struct point){ x, y };
	ends[1] = to ? centre(to) : (struct point){ x + num(shape, "w"), y + num(shape, "h") };
}

/* The i-th vertex of a points-based shape in canvas coordinates (before rotation). */
static struct point vertex(const json_t *shape, size_t i)
{
	const json_t *p = json_array_get(json_object_get(shape, "points"), i);
	double px = json_number_value(json_array_get(p, 0));
	double py = json_number_value(json_array_get(p, 1));
	return (struct point){ num(shape, "x") + (isfinite(px) ? px : 0),
			       num(shape, "y") + (isfinite(py) ? py : 0) };
}

/* Grows b by everything the shape paints (ignoring stroke width, added as a margin). */
static void shape_extent(const json_t *shape, const json_t *shapes, struct box *b)
{
	if (is_connector(shape)) {
		struct point ends[2];
		connector_ends(shape, shapes, ends);
		box_add(b, ends[0].x, ends[0].y);
		box_add(b, ends[1].x, ends[1].y);
		return;
	}
	double rot = num(shape, "rotation");
	struct point c = centre(shape);
	if (uses_points(shape)) {
		size_t n = json_array_size(json_object_get(shape, "points"));
		for (size_t i = 0; i < n; i++) {
			struct point p = rotate_point(vertex(shape, i), rot, c);
			box_add(b, p.x, p.y);
		}
		return;
	}
	double x = num(shape, "x"), y = num(shape, "y"), w = num(shape, "w"), h = num(shape, "h");
	const struct point corners[4] = { { x, y }, { x + w, y }, { x, y + h }, { x + w, y + h } };
	for (size_t i = 0; i < 4; i++) {
		struct point p = rotate_point(corners[i], rot, c);
		box_add(b, p.x, p.y);
	}
}

/* ---- painting ----------------------------------------------------------------------------- */

/* A colour as SVG 1.1 takes it: "#rrggbbaa" splits into "#rrggbb" and an alpha. */
struct paint {
	char colour[16];
	double alpha;
};

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static struct paint paint_of(const json_t *style, const char *key, const char *fallback)
{
	struct paint p = { .alpha = 1.0 };
	const char *s = json_string_value(json_object_get(style, key));
	if (!s || strlen(s) >= sizeof(p.colour))
		s = fallback;
	if (!strcmp(s, "transparent"))
		s = "none";
	snprintf(p.colour, sizeof(p.colour), "%s", s);
	if (strlen(s) == 9 && s[0] == '#' && hex_digit(s[7]) >= 0 && hex_digit(s[8]) >= 0) {
		p.alpha = (hex_digit(s[7]) * 16 + hex_digit(s[8])) / 255.0;
		p.colour[7] = '\0';
	}
	return p;
}

static void put_attr_str(struct sbuf *b, const char *name, const char *value)
{
	sb_printf(b, " %s=\"", name);
	sb_escape(b, value, strlen(value));
	sb_puts(b, "\"");
}

static void put_attr_num(struct sbuf *b, const char *name, double v)
{
	sb_printf(b, " %s=\"", name);
	sb_num(b, v);
	sb_puts(b, "\"");
}

static void put_paint(struct sbuf *b, const char *attr, const struct paint *p)
{
	put_attr_str(b, attr, p->colour);
	if (p->alpha < 1.0 && strcmp(p->colour, "none") != 0) {
		char name[32];
		snprintf(name, sizeof(name), "%s-opacity", attr);
		put_attr_num(b, name, p->alpha);
	}
}

/* stroke, stroke-width and fill ("none" for open shapes, fill_override for stickies). */
static void put_style(struct sbuf *b, const json_t *shape, bool closed, const char *fill_override)
{
	const json_t *style = json_object_get(shape, "style");
	struct paint stroke = paint_of(style, "stroke", "#000000");
	put_paint(b, "stroke", &stroke);
	put_attr_num(b, "stroke-width", num(style, "width"));
	if (!closed) {
		put_attr_str(b, "fill", "none");
		return;
	}
	struct paint fill = paint_of(style, "fill", "none");
	if (fill_override && !strcmp(fill.colour, "none"))
		fill = paint_of(NULL, "", fill_override);
	put_paint(b, "fill", &fill);
}

static void put_point_list(struct sbuf *b, const json_t *shape)
{
	size_t n = json_array_size(json_object_get(shape, "points"));
	sb_puts(b, " points=\"");
	for (size_t i = 0; i < n; i++) {
		struct point p = vertex(shape, i);
		if (i)
			sb_puts(b, " ");
		sb_num(b, p.x);
		sb_puts(b, ",");
		sb_num(b, p.y);
	}
	sb_puts(b, "\"");
}

/* Text lines as tspans, the first one's top at (x, y). */
static void put_text(struct sbuf *b, const json_t *shape, double x, double y)
{
	const json_t *style = json_object_get(shape, "style");
	const json_t *text = json_object_get(shape, "text");
	const char *s = json_string_value(text);
	size_t len = json_string_length(text);
	struct paint ink = paint_of(style, "stroke", "#000000");
	if (!strcmp(ink.colour, "none"))
		ink = paint_of(style, "fill", "#000000");
	sb_puts(b, "<text");
	put_attr_num(b, "x", x);
	put_attr_num(b, "y", y);
	put_attr_str(b, "font-family", "sans-serif");
	put_attr_num(b, "font-size", SVG_FONT_SIZE);
	put_paint(b, "fill", &ink);
	sb_puts(b, ">");
	size_t start = 0;
	for (size_t i = 0; s && i <= len; i++) {
		if (i < len && s[i] != '\n')
			continue;
		sb_puts(b, "<tspan");
		put_attr_num(b, "x", x);
		put_attr_str(b, "dy", start == 0 ? "1em" : "1.25em");
		sb_puts(b, ">");
		sb_escape(b, s + start, i - start);
		sb_puts(b, "</tspan>");
		start = i + 1;
	}
	sb_puts(b, "</text>");
}

/* Text lines centred on (cx, cy): a label inside a box or on a connector. */
static void put_centred_text(struct sbuf *b, const json_t *shape, double cx, double cy)
{
	const json_t *text = json_object_get(shape, "text");
	const char *s = json_string_value(text);
	size_t len = json_string_length(text);
	if (!s || !len)
		return;
	size_t lines = 1;
	for (size_t i = 0; i < len; i++)
		lines += s[i] == '\n';
	/* First line's top: half the block (one em plus 1.25 em per further line) above cy. */
	double block = SVG_FONT_SIZE * (1.0 + 1.25 * (double)(lines - 1));
	const json_t *style = json_object_get(shape, "style");
	struct paint ink = paint_of(style, "stroke", "#000000");
	if (!strcmp(ink.colour, "none"))
		ink = paint_of(style, "fill", "#000000");
	if (!strcmp(ink.colour, "none"))
		ink = paint_of(NULL, "", "#000000");
	sb_puts(b, "<text");
	put_attr_num(b, "x", cx);
	put_attr_num(b, "y", cy - block / 2);
	put_attr_str(b, "font-family", "sans-serif");
	put_attr_num(b, "font-size", SVG_FONT_SIZE);
	put_attr_str(b, "text-anchor", "middle");
	put_paint(b, "fill", &ink);
	sb_puts(b, ">");
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '\n')
			continue;
		sb_puts(b, "<tspan");
		put_attr_num(b, "x", cx);
		put_attr_str(b, "dy", start == 0 ? "1em" : "1.25em");
		sb_puts(b, ">");
		sb_escape(b, s + start, i - start);
		sb_puts(b, "</tspan>");
		start = i + 1;
	}
	sb_puts(b, "</text>");
}

static void put_arrow_marker(struct sbuf *b, const json_t *shape, size_t index)
{
	struct paint stroke = paint_of(json_object_get(shape, "style"), "stroke", "#000000");
	sb_printf(b, "<defs><marker id=\"fs-arrow-%zu\" viewBox=\"0 0 10 10\" refX=\"9\" "
		     "refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" markerUnits=\"strokeWidth\" "
		     "orient=\"auto\"><path d=\"M0,0L10,5L0,10z\"",
		  index);
	put_paint(b, "fill", &stroke);
	sb_puts(b, "/></marker></defs>");
}

static void render_shape(struct sbuf *b, const json_t *shape, const json_t *shapes, size_t index)
{
	const char *kind = shape_kind(shape);
	double x = num(shape, "x"), y = num(shape, "y"), w = num(shape, "w"), h = num(shape, "h");
	double rot = num(shape, "rotation");
	double opacity = num(json_object_get(shape, "style"), "opacity");
	bool arrow = !strcmp(kind, "arrow");

	sb_puts(b, "<g");
	put_attr_str(b, "data-shape-id", shape_id(shape));
	put_attr_str(b, "data-kind", kind);
	if (rot != 0 && !is_connector(shape)) {
		struct point c = centre(shape);
		sb_puts(b, " transform=\"rotate(");
		sb_num(b, rot);
		sb_puts(b, " ");
		sb_num(b, c.x);
		sb_puts(b, " ");
		sb_num(b, c.y);
		sb_puts(b, ")\"");
	}
	if (opacity < 1.0)
		put_attr_num(b, "opacity", opacity < 0 ? 0 : opacity);
	sb_puts(b, ">");
	if (arrow)
		put_arrow_marker(b, shape, index);

	if (!strcmp(kind, "rect") || !strcmp(kind, "sticky")) {
		bool sticky = !strcmp(kind, "sticky");
		sb_puts(b, "<rect");
		put_attr_num(b, "x", x);
		put_attr_num(b, "y", y);
		put_attr_num(b, "width", w);
		put_attr_num(b, "height", h);
		put_style(b, shape, true, sticky ? SVG_STICKY_FILL : NULL);
		sb_puts(b, "/>");
		if (sticky)
			put_text(b, shape, x + SVG_STICKY_PADDING, y + SVG_STICKY_PADDING);
		else
			put_centred_text(b, shape, x + w / 2, y + h / 2);
	} else if (!strcmp(kind, "ellipse")) {
		sb_puts(b, "<ellipse");
		put_attr_num(b, "cx", x + w / 2);
		put_attr_num(b, "cy", y + h / 2);
		put_attr_num(b, "rx", w / 2);
		put_attr_num(b, "ry", h / 2);
		put_style(b, shape, true, NULL);
		sb_puts(b, "/>");
		put_centred_text(b, shape, x + w / 2, y + h / 2);
	} else if (!strcmp(kind, "text")) {
		put_text(b, shape, x, y);
	} else if (uses_points(shape)) {
		bool path = !strcmp(kind, "path");
		sb_puts(b, "<polyline");
		put_point_list(b, shape);
		put_style(b, shape, path, NULL);
		if (arrow)
			sb_printf(b, " marker-end=\"url(#fs-arrow-%zu)\"", index);
		sb_puts(b, "/>");
		if (path)
			put_centred_text(b, shape, x + w / 2, y + h / 2);
	} else {
		/* line, arrow without points, connector: one segment */
		struct point ends[2] = { { x, y }, { x + w, y + h } };
		if (is_connector(shape))
			connector_ends(shape, shapes, ends);
		sb_puts(b, "<line");
		put_attr_num(b, "x1", ends[0].x);
		put_attr_num(b, "y1", ends[0].y);
		put_attr_num(b, "x2", ends[1].x);
		put_attr_num(b, "y2", ends[1].y);
		put_style(b, shape, false, NULL);
		if (arrow)
			sb_printf(b, " marker-end=\"url(#fs-arrow-%zu)\"", index);
		sb_puts(b, "/>");
		if (is_connector(shape))
			put_centred_text(b, shape, (ends[0].x + ends[1].x) / 2,
					 (ends[0].y + ends[1].y) / 2);
	}
	sb_puts(b, "</g>\n");
}

/* Paint order: z ascending, then id, so equal states give equal documents. */
static int compare_z_then_id(const void *pa, const void *pb)
{
	const json_t *a = *(const json_t *const *)pa, *b = *(const json_t *const *)pb;
	double za = num(a, "z"), zb = num(b, "z");
	if (za != zb)
		return za < zb ? -1 : 1;
	return strcmp(shape_id(a), shape_id(b));
}

/* The shapes in paint order (z ascending, then id); caller frees the array. */
static const json_t **paint_order(const struct canvas_state *state, size_t *count)
{
	const json_t *shapes = canvas_state_shapes(state);
	size_t n = json_object_size(shapes);
	const json_t **order = xcalloc(n ? n : 1, sizeof(*order));
	*count = 0;
	const char *key;
	json_t *shape;
	json_object_foreach((json_t *)shapes, key, shape)
		order[(*count)++] = shape;
	qsort(order, *count, sizeof(*order), compare_z_then_id);
	return order;
}

bool svg_drawing_bounds(const struct canvas_state *state, double box[4])
{
	const json_t *shapes = canvas_state_shapes(state);
	struct box bbox = { 0 };
	const char *key;
	json_t *shape;
	json_object_foreach((json_t *)shapes, key, shape)
		shape_extent(shape, shapes, &bbox);
	box[0] = bbox.x0;
	box[1] = bbox.y0;
	box[2] = bbox.x1;
	box[3] = bbox.y1;
	return bbox.any;
}

void svg_viewbox(const struct canvas_state *state, double viewbox[4])
{
	double box[4];
	viewbox[0] = viewbox[1] = 0;
	viewbox[2] = viewbox[3] = 100;
	if (!svg_drawing_bounds(state, box))
		return;
	double widest = 0;
	const char *key;
	json_t *shape;
	json_object_foreach((json_t *)canvas_state_shapes(state), key, shape)
		widest = fmax(widest, num(json_object_get(shape, "style"), "width"));
	double margin = SVG_MARGIN + widest;
	viewbox[0] = box[0] - margin;
	viewbox[1] = box[1] - margin;
	viewbox[2] = box[2] - box[0] + 2 * margin;
	viewbox[3] = box[3] - box[1] + 2 * margin;
}

char *svg_render_canvas(const struct canvas_state *state, size_t *len)
{
	const json_t *shapes = canvas_state_shapes(state);
	size_t count;
	const json_t **order = paint_order(state, &count);
	double vb[4];
	svg_viewbox(state, vb);
	double vx = vb[0], vy = vb[1], vw = vb[2], vh = vb[3];

	struct sbuf b = { 0 };
	sb_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		    "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" viewBox=\"");
	sb_num(&b, vx);
	sb_puts(&b, " ");
	sb_num(&b, vy);
	sb_puts(&b, " ");
	sb_num(&b, vw);
	sb_puts(&b, " ");
	sb_num(&b, vh);
	sb_puts(&b, "\"");
	put_attr_num(&b, "width", vw);
	put_attr_num(&b, "height", vh);
	sb_puts(&b, ">\n");
	for (size_t i = 0; i < count; i++)
		render_shape(&b, order[i], shapes, i);
	sb_puts(&b, "</svg>\n");
	free((void *)order);
	if (len)
		*len = b.len;
	return b.p;
}
