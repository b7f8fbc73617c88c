#include "model/op.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const type_names[OP_TYPE_COUNT] = {
	[OP_CREATE_SHAPE] = "create_shape",
	[OP_MOVE_SHAPE] = "move_shape",
	[OP_RESIZE_SHAPE] = "resize_shape",
	[OP_UPDATE_SHAPE] = "update_shape",
	[OP_DELETE_SHAPE] = "delete_shape",
};

static const char *const kind_names[] = {
	"rect", "ellipse", "line", "arrow", "text", "sticky", "path", "connector",
};

/*
 * Every shape field except the id, in the order they are checked (so the first error
 * reported for a payload does not depend on the order of its keys, except among unknown
 * keys).
 */
enum field_id {
	F_KIND,
	F_X,
	F_Y,
	F_W,
	F_H,
	F_ROTATION,
	F_Z,
	F_STYLE,
	F_TEXT,
	F_POINTS,
	F_FROM,
	F_TO,
	F_COUNT
};

enum field_kind { FK_KIND, FK_COORD, FK_SIZE, FK_STYLE, FK_TEXT, FK_POINTS, FK_REF };

struct field {
	const char *name;
	enum field_kind kind;
};

static const struct field fields[F_COUNT] = {
	[F_KIND] = { "kind", FK_KIND },
	[F_X] = { "x", FK_COORD },
	[F_Y] = { "y", FK_COORD },
	[F_W] = { "w", FK_SIZE },
	[F_H] = { "h", FK_SIZE },
	[F_ROTATION] = { "rotation", FK_COORD },
	[F_Z] = { "z", FK_COORD },
	[F_STYLE] = { "style", FK_STYLE },
	[F_TEXT] = { "text", FK_TEXT },
	[F_POINTS] = { "points", FK_POINTS },
	[F_FROM] = { "from", FK_REF },
	[F_TO] = { "to", FK_REF },
};

#define BIT(f) (1u << (f))
#define ALL_FIELDS ((1u << F_COUNT) - 1)
#define GEOMETRY_FIELDS (BIT(F_X) | BIT(F_Y) | BIT(F_W) | BIT(F_H))
#define UPDATE_FIELDS                                                                  \
	(BIT(F_ROTATION) | BIT(F_Z) | BIT(F_STYLE) | BIT(F_TEXT) | BIT(F_POINTS) |     \
	 BIT(F_FROM) | BIT(F_TO))

/* Which fields each op takes; shape_id is always required and is not in the masks. */
struct op_rule {
	unsigned allowed;
	unsigned required;
	bool complete; /* fill omitted fields with defaults */
};

static const struct op_rule rules[OP_TYPE_COUNT] = {
	[OP_CREATE_SHAPE] = { ALL_FIELDS, BIT(F_KIND) | BIT(F_X) | BIT(F_Y), true },
	[OP_MOVE_SHAPE] = { BIT(F_X) | BIT(F_Y), BIT(F_X) | BIT(F_Y), false },
	[OP_RESIZE_SHAPE] = { GEOMETRY_FIELDS, GEOMETRY_FIELDS, false },
	[OP_UPDATE_SHAPE] = { UPDATE_FIELDS, 0, false },
	[OP_DELETE_SHAPE] = { 0, 0, false },
};

enum style_id { S_STROKE, S_FILL, S_WIDTH, S_OPACITY, S_COUNT };

static const char *const style_names[S_COUNT] = { "stroke", "fill", "width", "opacity" };

/* A closed numeric range and how error messages spell it. */
struct range {
	double lo;
	double hi;
	const char *text;
};

static const struct range coord_range = { -OP_COORD_MAX, OP_COORD_MAX, "between -1e9 and 1e9" };
static const struct range size_range = { 0, OP_COORD_MAX, "between 0 and 1e9" };
static const struct range width_range = { 0, OP_STROKE_WIDTH_MAX, "between 0 and 1000" };
static const struct range opacity_range = { 0, 1, "between 0 and 1" };

#define ID_RULE "a string of 1 to 64 characters from A-Z a-z 0-9 _ . : -"

void op_error_set(struct op_error *err, const char *code, const char *fmt, ...)
{
	if (!err)
		return;
	snprintf(err->code, sizeof(err->code), "%s", code);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
}

/* Renders an untrusted key or name for an error detail: printable ASCII only, bounded. */
static const char *sanitize(char *buf, size_t size, const char *s, size_t len)
{
	size_t max = size - 4, n = 0;
	for (size_t i = 0; i < len && n < max; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[n++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
	}
	if (len > max) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

bool op_type_parse(const char *name, enum op_type *out)
{
	if (!name)
		return false;
	for (int i = 0; i < OP_TYPE_COUNT; i++) {
		if (strcmp(name, type_names[i]) == 0) {
			*out = (enum op_type)i;
			return true;
		}
	}
	return false;
}

const char *op_type_name(enum op_type type)
{
	if ((unsigned)type >= OP_TYPE_COUNT)
		return "unknown";
	return type_names[type];
}

bool op_shape_id_valid(const char *s, size_t len)
{
	if (!s || len < 1 || len > OP_ID_MAX_BYTES)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '_' || c == '.' || c == ':' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

const char *op_payload_shape_id(const json_t *payload)
{
	return json_string_value(json_object_get(payload, "shape_id"));
}

/*
 * Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF) without NUL:
 * Postgres jsonb cannot store \u0000, and strings built with jansson's *_nocheck calls are
 * not checked by jansson itself.
 */
static bool utf8_valid_without_nul(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		unsigned cp;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			unsigned b = s[i + k];
			if ((b & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (b & 0x3f);
		}
		if (n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
			return false;
		if (n == 3 && (cp < 0x10000 || cp > 0x10ffff))
			return false;
		i += n + 1;
	}
	return true;
}

/* Reads an integer or real within r; -0 becomes 0 so that equal values serialize equally. */
static bool number_in(const json_t *v, const struct range *r, double *out)
{
	double d;
	if (json_is_integer(v))
		d = (double)json_integer_value(v);
	else if (json_is_real(v))
		d = json_real_value(v);
	else
		return false;
	if (!isfinite(d) || d < r->lo || d > r->hi)
		return false;
	*out = d == 0 ? 0.0 : d;
	return true;
}

static json_t *read_number(const json_t *v, const struct range *r, const char *path,
			   const char *name, struct op_error *err)
{
	double d;
	if (!number_in(v, r, &d)) {
		op_error_set(err, "invalid_field", "%s.%s: must be a number %s", path, name, r->text);
		return NULL;
	}
	return json_real(d);
}

static json_t *read_id(const json_t *v, const char *path, const char *name, struct op_error *err)
{
	if (!json_is_string(v) || !op_shape_id_valid(json_string_value(v), json_string_length(v))) {
		op_error_set(err, "invalid_field", "%s.%s: must be " ID_RULE, path, name);
		return NULL;
	}
	return json_stringn_nocheck(json_string_value(v), json_string_length(v));
}

static json_t *read_ref(const json_t *v, const char *path, const char *name, struct op_error *err)
{
	if (json_is_null(v))
		return json_null();
	if (!json_is_string(v) || !op_shape_id_valid(json_string_value(v), json_string_length(v))) {
		op_error_set(err, "invalid_field", "%s.%s: must be null or a shape id (" ID_RULE ")", path,
		     name);
		return NULL;
	}
	return json_stringn_nocheck(json_string_value(v), json_string_length(v));
}

static json_t *read_kind(const json_t *v, const char *path, struct op_error *err)
{
	const char *s = json_string_value(v);
	if (s && strlen(s) == json_string_length(v)) {
		for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
			if (strcmp(s, kind_names[i]) == 0)
				return json_string_nocheck(kind_names[i]);
		}
	}
	op_error_set(err, "invalid_field",
	     "%s.kind: must be one of rect, ellipse, line, arrow, text, sticky, path, connector",
	     path);
	return NULL;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Hex colours are lower-cased so that "#FFF" and "#fff" are one value. */
static json_t *read_colour(const json_t *v, const char *path, const char *name,
			   struct op_error *err)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (s && (len == 4 || len == 7 || len == 9) && s[0] == '#') {
		char buf[10];
		bool ok = true;
		for (size_t i = 1; i < len && ok; i++) {
			ok = is_hex(s[i]);
			buf[i] = (s[i] >= 'A' && s[i] <= 'F') ? (char)(s[i] - 'A' + 'a') : s[i];
		}
		if (ok) {
			buf[0] = '#';
			buf[len] = '\0';
			return json_string_nocheck(buf);
		}
	}
	if (s && strlen(s) == len && (strcmp(s, "none") == 0 || strcmp(s, "transparent") == 0))
		return json_string_nocheck(s);
	op_error_set(err, "invalid_field",
	     "%s.style.%s: must be a colour: #rgb, #rrggbb, #rrggbbaa, \"none\" or \"transparent\"",
	     path, name);
	return NULL;
}

static json_t *read_text(const json_t *v, const char *path, struct op_error *err)
{
	if (!json_is_string(v)) {
		op_error_set(err, "invalid_field", "%s.text: must be a string", path);
		return NULL;
	}
	size_t len = json_string_length(v);
	if (len > OP_TEXT_MAX_BYTES) {
		op_error_set(err, "too_large", "%s.text: longer than 10000 bytes", path);
		return NULL;
	}
	const char *s = json_string_value(v);
	if (!utf8_valid_without_nul((const unsigned char *)s, len)) {
		op_error_set(err, "invalid_field", "%s.text: must be valid UTF-8 without NUL characters",
		     path);
		return NULL;
	}
	return json_stringn_nocheck(s, len);
}

static json_t *read_points(const json_t *v, const char *path, struct op_error *err)
{
	if (!json_is_array(v)) {
		op_error_set(err, "invalid_field", "%s.points: must be an array of [x, y] pairs", path);
		return NULL;
	}
	size_t n = json_array_size(v);
	if (n > OP_POINTS_MAX) {
		op_error_set(err, "too_large", "%s.points: more than 10000 points", path);
		return NULL;
	}
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++) {
		const json_t *p = json_array_get(v, i);
		if (!json_is_array(p) || json_array_size(p) != 2) {
			op_error_set(err, "invalid_field", "%s.points[%zu]: must be an [x, y] pair", path, i);
			goto fail;
		}
		double xy[2];
		for (size_t k = 0; k < 2; k++) {
			if (!number_in(json_array_get(p, k), &coord_range, &xy[k])) {
				op_error_set(err, "invalid_field", "%s.points[%zu][%zu]: must be a number %s",
				     path, i, k, coord_range.text);
				goto fail;
			}
		}
		json_t *pair = json_array();
		json_array_append_new(pair, json_real(xy[0]));
		json_array_append_new(pair, json_real(xy[1]));
		json_array_append_new(out, pair);
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

static json_t *default_style_value(enum style_id s)
{
	switch (s) {
	case S_STROKE:
		return json_string_nocheck("#000000");
	case S_FILL:
		return json_string_nocheck("none");
	case S_WIDTH:
	case S_OPACITY:
	default:
		return json_real(1.0);
	}
}

/*
 * A style object: complete (create, stored shapes: omitted keys get defaults) or partial
 * (update_shape: only the given keys, at least one, merged key by key by the reducer).
 */
static json_t *read_style(const json_t *v, const char *path, bool complete, struct op_error *err)
{
	char keybuf[48];
	if (!json_is_object(v)) {
		op_error_set(err, "invalid_field", "%s.style: must be an object", path);
		return NULL;
	}
	const char *key;
	size_t key_len;
	json_t *value;
	json_object_keylen_foreach((json_t *)v, key, key_len, value) {
		bool known = false;
		for (int s = 0; s < S_COUNT && !known; s++)
			known = strlen(key) == key_len && strcmp(key, style_names[s]) == 0;
		if (!known) {
			op_error_set(err, "unknown_field", "%s.style.%s: unknown field", path,
			     sanitize(keybuf, sizeof(keybuf), key, key_len));
			return NULL;
		}
	}
	if (!complete && json_object_size(v) == 0) {
		op_error_set(err, "missing_field",
		     "%s.style: must set at least one of stroke, fill, width, opacity", path);
		return NULL;
	}
	json_t *out = json_object();
	for (int s = 0; s < S_COUNT; s++) {
		const json_t *in = json_object_get(v, style_names[s]);
		json_t *norm;
		if (!in) {
			if (!complete)
				continue;
			norm = default_style_value((enum style_id)s);
		} else if (s == S_WIDTH) {
			norm = read_number(in, &width_range, path, "style.width", err);
		} else if (s == S_OPACITY) {
			norm = read_number(in, &opacity_range, path, "style.opacity", err);
		} else {
			norm = read_colour(in, path, style_names[s], err);
		}
		if (!norm) {
			json_decref(out);
			return NULL;
		}
		json_object_set_new_nocheck(out, style_names[s], norm);
	}
	return out;
}

static json_t *default_value(enum field_id f)
{
	switch (fields[f].kind) {
	case FK_STYLE: {
		json_t *style = json_object();
		for (int s = 0; s < S_COUNT; s++)
			json_object_set_new_nocheck(style, style_names[s],
						    default_style_value((enum style_id)s));
		return style;
	}
	case FK_TEXT:
		return json_string_nocheck("");
	case FK_POINTS:
		return json_array();
	case FK_REF:
		return json_null();
	case FK_COORD:
	case FK_SIZE:
	case FK_KIND:
	default:
		return json_real(0.0);
	}
}

static json_t *read_field(enum field_id f, const json_t *v, const char *path, bool complete,
			  struct op_error *err)
{
	switch (fields[f].kind) {
	case FK_KIND:
		return read_kind(v, path, err);
	case FK_COORD:
		return read_number(v, &coord_range, path, fields[f].name, err);
	case FK_SIZE:
		return read_number(v, &size_range, path, fields[f].name, err);
	case FK_STYLE:
		return read_style(v, path, complete, err);
	case FK_TEXT:
		return read_text(v, path, err);
	case FK_POINTS:
		return read_points(v, path, err);
	case FK_REF:
		return read_ref(v, path, fields[f].name, err);
	}
	return NULL;
}

static int field_index(const char *key, size_t key_len)
{
	if (strlen(key) != key_len)
		return -1;
	for (int f = 0; f < F_COUNT; f++) {
		if (strcmp(key, fields[f].name) == 0)
			return f;
	}
	return -1;
}

static void describe_allowed(char *buf, size_t size, const char *id_key, unsigned allowed)
{
	size_t n = (size_t)snprintf(buf, size, "%s", id_key);
	for (int f = 0; f < F_COUNT && n < size; f++) {
		if (allowed & BIT(f))
			n += (size_t)snprintf(buf + n, size - n, ", %s", fields[f].name);
	}
}

/*
 * The one validator behind op payloads and stored shapes. Checks, in this order: object,
 * unknown keys, the id, then each field in table order (missing required, then its value).
 */
static json_t *validate_fields(const json_t *in, const char *path, const char *id_key,
			       const struct op_rule *rule, const char *what,
			       struct op_error *err)
{
	char keybuf[48];
	if (!json_is_object(in)) {
		op_error_set(err, "invalid_field", "%s: must be an object", path);
		return NULL;
	}
	const char *key;
	size_t key_len;
	json_t *value;
	json_object_keylen_foreach((json_t *)in, key, key_len, value) {
		if (strlen(key) == key_len && strcmp(key, id_key) == 0)
			continue;
		int f = field_index(key, key_len);
		if (f >= 0 && (rule->allowed & BIT(f)))
			continue;
		if (f >= 0) {
			char allowed[128];
			describe_allowed(allowed, sizeof(allowed), id_key, rule->allowed);
			op_error_set(err, "unknown_field", "%s.%s: not allowed in %s (it takes %s)", path,
			     fields[f].name, what, allowed);
		} else {
			op_error_set(err, "unknown_field", "%s.%s: unknown field", path,
			     sanitize(keybuf, sizeof(keybuf), key, key_len));
		}
		return NULL;
	}
	const json_t *id = json_object_get(in, id_key);
	if (!id) {
		op_error_set(err, "missing_field", "%s.%s: required", path, id_key);
		return NULL;
	}
	json_t *out = json_object();
	json_t *norm_id = read_id(id, path, id_key, err);
	if (!norm_id)
		goto fail;
	json_object_set_new_nocheck(out, id_key, norm_id);
	for (int f = 0; f < F_COUNT; f++) {
		if (!(rule->allowed & BIT(f)))
			continue;
		const json_t *v = json_object_get(in, fields[f].name);
		json_t *norm;
		if (!v) {
			if (rule->required & BIT(f)) {
				op_error_set(err, "missing_field", "%s.%s: required", path, fields[f].name);
				goto fail;
			}
			if (!rule->complete)
				continue;
			norm = default_value((enum field_id)f);
		} else {
			norm = read_field((enum field_id)f, v, path, rule->complete, err);
			if (!norm)
				goto fail;
		}
		json_object_set_new_nocheck(out, fields[f].name, norm);
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

json_t *op_validate(enum op_type type, const json_t *payload, struct op_error *err)
{
	if ((unsigned)type >= OP_TYPE_COUNT) {
		op_error_set(err, "unknown_op_type", "type: unknown operation type");
		return NULL;
	}
	json_t *out = validate_fields(payload, "payload", "shape_id", &rules[type],
				      type_names[type], err);
	if (out && type == OP_UPDATE_SHAPE && json_object_size(out) < 2) {
		op_error_set(err, "missing_field",
		     "payload: update_shape must set at least one of rotation, z, style, text, "
		     "points, from, to");
		json_decref(out);
		return NULL;
	}
	return out;
}

json_t *op_validate_shape(const json_t *shape, const char *path, struct op_error *err)
{
	static const struct op_rule shape_rule = { ALL_FIELDS, BIT(F_KIND) | BIT(F_X) | BIT(F_Y),
						   true };
	return validate_fields(shape, path, "id", &shape_rule, "a shape", err);
}

bool op_unpack(const json_t *op, enum op_type *type, const json_t **payload,
	       struct op_error *err)
{
	char namebuf[48];
	if (!json_is_object(op)) {
		op_error_set(err, "invalid_field", "op: must be an object with type and payload");
		return false;
	}
	const json_t *t = json_object_get(op, "type");
	if (!t) {
		op_error_set(err, "missing_field", "type: required");
		return false;
	}
	if (!json_is_string(t)) {
		op_error_set(err, "invalid_field", "type: must be a string");
		return false;
	}
	const char *name = json_string_value(t);
	if (strlen(name) != json_string_length(t) || !op_type_parse(name, type)) {
		op_error_set(err, "unknown_op_type", "type: unknown operation type \"%s\"",
		     sanitize(namebuf, sizeof(namebuf), name, json_string_length(t)));
		return false;
	}
	const json_t *p = json_object_get(op, "payload");
	if (!p) {
		op_error_set(err, "missing_field", "payload: required");
		return false;
	}
	*payload = p;
	return true;
}

json_t *op_make(enum op_type type, json_t *payload)
{
	json_t *op = json_object();
	json_object_set_new_nocheck(op, "type", json_string_nocheck(op_type_name(type)));
	json_object_set_new_nocheck(op, "payload", payload);
	return op;
}
