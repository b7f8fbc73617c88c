#include "codec/ws_message.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/validate.h"

#define OP_TYPES_RULE                                                                          \
	"op_type: must be one of create_shape, move_shape, resize_shape, update_shape, "      \
	"delete_shape"

/*
 * Replaces every byte that does not start a valid UTF-8 character with '?'. Details quote
 * client bytes (jansson's "near '...'" context) and an invalid detail would make json_pack()
 * of the error reply fail; this is the safety net under the careful truncation below.
 */
static void utf8_repair(char *s)
{
	size_t len = strlen(s);
	if (validate_utf8(s, len))
		return;
	size_t i = 0;
	while (i < len) {
		size_t k;
		for (k = 1; k <= 4 && i + k <= len; k++)
			if (validate_utf8(s + i, k))
				break;
		if (k <= 4 && i + k <= len) {
			i += k;
		} else {
			s[i] = '?';
			i++;
		}
	}
}

/* Length of the longest prefix of valid UTF-8 s of at most max bytes that ends on a character
 * boundary: "%.*s" with it never splits a character. */
static int utf8_prefix(const char *s, size_t max)
{
	size_t len = strnlen(s, max);
	if (len == max)
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	return (int)len;
}

__attribute__((format(printf, 4, 5))) static void set_error(struct ws_msg_error *err,
							    const char *client_op_id,
							    const char *code, const char *fmt, ...)
{
	snprintf(err->client_op_id, sizeof(err->client_op_id), "%s",
		 client_op_id ? client_op_id : "");
	snprintf(err->code, sizeof(err->code), "%s", code);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
	utf8_repair(err->detail);
}

static bool coord_valid(const json_t *v, double coord_max, double *out)
{
	if (!json_is_number(v))
		return false;
	double d = json_number_value(v);
	if (!isfinite(d) || fabs(d) > coord_max)
		return false;
	*out = d;
	return true;
}

/*
 * Refuses a member that is not in `allowed` (NULL-terminated): every message type has a fixed
 * set of members, and a misspelt or invented one is the client's bug to hear about, not to be
 * ignored. The detail names the field (bounded, whole UTF-8 characters).
 */
static bool only_fields(const json_t *obj, const char *const *allowed, const char *client_op_id,
			struct ws_msg_error *err)
{
	const char *key;
	json_t *value;
	json_object_foreach((json_t *)obj, key, value) {
		size_t i;
		for (i = 0; allowed[i] && strcmp(key, allowed[i]); i++)
			;
		if (!allowed[i]) {
			set_error(err, client_op_id, "unknown_field", "%.*s: unknown field",
				  utf8_prefix(key, 64), key);
			return false;
		}
	}
	return true;
}

/*
 * One op object, as the top level of an "operation" message or an entry of "operations".
 * The checks run in this order because clients see which one failed first: the id (an error
 * can only name a valid id), unknown fields, the type, then the payload.
 */
static bool parse_op(const json_t *op, struct ws_msg_op *out, struct ws_msg_error *err)
{
	const char *id = json_string_value(json_object_get(op, "client_op_id"));
	const char *type_name = json_string_value(json_object_get(op, "op_type"));
	const json_t *payload = json_object_get(op, "payload");
	if (!id || !validate_uuid(id)) {
		set_error(err, NULL, "invalid_field", "client_op_id: must be a UUID");
		return false;
	}
	static const char *const fields[] = { "type", "op_type", "payload", "client_op_id", NULL };
	if (!only_fields(op, fields, id, err))
		return false;
	if (!type_name || !op_type_parse(type_name, &out->type)) {
		set_error(err, id, "unknown_op_type", OP_TYPES_RULE);
		return false;
	}
	if (!payload) {
		set_error(err, id, "missing_field", "payload: required");
		return false;
	}
	struct op_error oerr = { { 0 }, { 0 } };
	out->payload = op_validate(out->type, payload, &oerr);
	if (!out->payload) {
		set_error(err, id, oerr.code, "%s", oerr.detail);
		return false;
	}
	snprintf(out->client_op_id, sizeof(out->client_op_id), "%s", id);
	return true;
}

static bool parse_single_op(const json_t *msg, struct ws_message *out, struct ws_msg_error *err)
{
	struct ws_msg_op op = { { 0 }, OP_CREATE_SHAPE, NULL };
	if (!parse_op(msg, &op, err))
		return false;
	out->ops = xmalloc(sizeof(*out->ops));
	out->ops[0] = op;
	out->op_count = 1;
	return true;
}

/* Entries are judged one by one: a refused entry does not refuse its batch. */
static bool parse_batch(const json_t *msg, const struct ws_message_limits *limits,
			struct ws_message *out, struct ws_msg_error *err)
{
	static const char *const fields[] = { "type", "ops", NULL };
	if (!only_fields(msg, fields, NULL, err))
		return false;
	const json_t *list = json_object_get(msg, "ops");
	size_t n = json_array_size(list);
	if (!json_is_array(list) || n == 0) {
		set_error(err, NULL, "invalid_field", "ops: must be a non-empty array");
		return false;
	}
	if (n > limits->max_ops) {
		set_error(err, NULL, "too_many_ops", "ops: at most %zu operations per message",
			  limits->max_ops);
		return false;
	}
	out->ops = xcalloc(n, sizeof(*out->ops));
	size_t i;
	const json_t *entry;
	json_array_foreach(list, i, entry) {
		struct ws_msg_error entry_err;
		bool ok;
		if (json_is_object(entry)) {
			ok = parse_op(entry, &out->ops[out->op_count], &entry_err);
		} else {
			set_error(&entry_err, NULL, "invalid_field",
				  "ops: each entry must be an object");
			ok = false;
		}
		if (ok) {
			out->op_count++;
			continue;
		}
		if (!out->op_errors)
			out->op_errors = xcalloc(n, sizeof(*out->op_errors));
		out->op_errors[out->op_error_count++] = entry_err;
	}
	return true;
}

static bool parse_cursor(const json_t *msg, const struct ws_message_limits *limits,
			 struct ws_message *out, struct ws_msg_error *err)
{
	static const char *const fields[] = { "type", "x", "y", NULL };
	if (!only_fields(msg, fields, NULL, err))
		return false;
	if (!coord_valid(json_object_get(msg, "x"), limits->coord_max, &out->x) ||
	    !coord_valid(json_object_get(msg, "y"), limits->coord_max, &out->y)) {
		set_error(err, NULL, "invalid_field", "cursor: {type, x, y} with finite numbers");
		return false;
	}
	return true;
}

static bool parse_stroke(const json_t *msg, const struct ws_message_limits *limits,
			 struct ws_message *out, struct ws_msg_error *err)
{
	const char *stroke_id = json_string_value(json_object_get(msg, "stroke_id"));
	const json_t *points = json_object_get(msg, "points");
	const json_t *done = json_object_get(msg, "done");
	static const char *const fields[] = { "type", "stroke_id", "points", "done", NULL };
	if (!only_fields(msg, fields, NULL, err))
		return false;
	if (!stroke_id || !op_shape_id_valid(stroke_id, strlen(stroke_id)) ||
	    !json_is_array(points) || json_array_size(points) > limits->max_stroke_points ||
	    (done && !json_is_boolean(done))) {
		set_error(err, NULL, "invalid_field",
			  "stroke: {stroke_id, points: [[x, y], ...] (at most %zu), done?}",
			  limits->max_stroke_points);
		return false;
	}
	size_t i;
	const json_t *p;
	json_array_foreach(points, i, p) {
		double x, y;
		if (!json_is_array(p) || json_array_size(p) != 2 ||
		    !coord_valid(json_array_get(p, 0), limits->coord_max, &x) ||
		    !coord_valid(json_array_get(p, 1), limits->coord_max, &y)) {
			set_error(err, NULL, "invalid_field",
				  "stroke.points: pairs of finite numbers");
			return false;
		}
	}
	snprintf(out->stroke_id, sizeof(out->stroke_id), "%s", stroke_id);
	out->points = json_deep_copy(points);
	if (!out->points)
		abort(); /* only on out-of-memory: the allocation policy of alloc.h */
	out->done = done && json_is_true(done);
	return true;
}

/* Exactly {type, shape_ids}: distinct valid shape ids, at most max_selection of them. */
static bool parse_selection(const json_t *msg, const struct ws_message_limits *limits,
			    struct ws_message *out, struct ws_msg_error *err)
{
	static const char *const fields[] = { "type", "shape_ids", NULL };
	if (!only_fields(msg, fields, NULL, err))
		return false;
	const json_t *ids = json_object_get(msg, "shape_ids");
	size_t n = json_array_size(ids);
	if (!json_is_array(ids) || json_object_size(msg) != 2 || n > limits->max_selection) {
		set_error(err, NULL, "invalid_field",
			  "selection: {type, shape_ids: [shape id, ...] (at most %zu)}",
			  limits->max_selection);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		const char *id = json_string_value(json_array_get(ids, i));
		if (!id || !op_shape_id_valid(id, json_string_length(json_array_get(ids, i)))) {
			set_error(err, NULL, "invalid_field", "selection.shape_ids: shape ids");
			return false;
		}
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(id, json_string_value(json_array_get(ids, j)))) {
				set_error(err, NULL, "invalid_field",
					  "selection.shape_ids: each id at most once");
				return false;
			}
		}
	}
	out->shape_ids = json_deep_copy(ids);
	if (!out->shape_ids)
		abort(); /* only on out-of-memory: the allocation policy of alloc.h */
	return true;
}

static bool type_from_name(const char *name, enum ws_msg_type *type, bool *batch)
{
	static const struct {
		const char *name;
		enum ws_msg_type type;
		bool batch;
	} names[] = {
		{ "operation", WS_MSG_OPERATIONS, false },
		{ "operations", WS_MSG_OPERATIONS, true },
		{ "undo", WS_MSG_UNDO, false },
		{ "redo", WS_MSG_REDO, false },
		{ "cursor", WS_MSG_CURSOR, false },
		{ "stroke", WS_MSG_STROKE, false },
		{ "ping", WS_MSG_PING, false },
		{ "selection", WS_MSG_SELECTION, false },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(name, names[i].name)) {
			*type = names[i].type;
			*batch = names[i].batch;
			return true;
		}
	}
	return false;
}

bool ws_message_parse(const char *text, size_t len, const struct ws_message_limits *limits,
		      struct ws_message *out, struct ws_msg_error *err)
{
	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	bool ok = false;
	json_error_t jerr;
	/* No JSON_DECODE_ANY: the top level must be an object or array. jansson refuses
	 * nesting deeper than JSON_PARSER_MAX_DEPTH, numbers that overflow a double or a
	 * json_int_t, and \u0000 in strings. */
	json_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!msg) {
		set_error(err, NULL, "malformed_json", "message is not valid JSON: %s", jerr.text);
		return false;
	}
	const char *type = json_string_value(json_object_get(msg, "type"));
	if (!json_is_object(msg) || !type) {
		set_error(err, NULL, "invalid_message",
			  "a message is an object with a string type");
		goto finish;
	}
	if (!type_from_name(type, &out->type, &out->batch)) {
		out->type = WS_MSG_UNKNOWN;
		set_error(err, NULL, "unknown_type", "unknown message type '%.*s'",
			  utf8_prefix(type, 32), type);
		goto finish;
	}
	switch (out->type) {
	case WS_MSG_OPERATIONS:
		ok = out->batch ? parse_batch(msg, limits, out, err)
				: parse_single_op(msg, out, err);
		break;
	case WS_MSG_CURSOR:
		ok = parse_cursor(msg, limits, out, err);
		break;
	case WS_MSG_STROKE:
		ok = parse_stroke(msg, limits, out, err);
		break;
	case WS_MSG_SELECTION:
		ok = parse_selection(msg, limits, out, err);
		break;
	default: {
		/* undo, redo and ping carry nothing but their type. */
		static const char *const fields[] = { "type", NULL };
		ok = only_fields(msg, fields, NULL, err);
		break;
	}
	}
finish:
	json_decref(msg);
	if (ok) {
		memset(err, 0, sizeof(*err));
	} else {
		enum ws_msg_type claimed = out->type;
		bool batch = out->batch;
		ws_message_free(out);
		out->type = claimed;
		out->batch = batch;
	}
	return ok;
}

void ws_message_free(struct ws_message *m)
{
	for (size_t i = 0; i < m->op_count; i++)
		json_decref(m->ops[i].payload);
	free(m->ops);
	free(m->op_errors);
	json_decref(m->points);
	json_decref(m->shape_ids);
	memset(m, 0, sizeof(*m));
}

const char *ws_message_type_name(enum ws_msg_type type, bool batch)
{
	switch (type) {
	case WS_MSG_OPERATIONS:
		return batch ? "operations" : "operation";
	case WS_MSG_UNDO:
		return "undo";
	case WS_MSG_REDO:
		return "redo";
	case WS_MSG_CURSOR:
		return "cursor";
	case WS_MSG_STROKE:
		return "stroke";
	case WS_MSG_PING:
		return "ping";
	case WS_MSG_SELECTION:
		return "selection";
	case WS_MSG_UNKNOWN:
		return "unknown";
	case WS_MSG_INVALID:
		break;
	}
	return "invalid";
}

static const char *const type_names[] = { "operation", "operations", "undo", "redo", "cursor",
					  "stroke", "ping", "selection", "unknown", "invalid" };

const char *const *ws_message_type_names(size_t *n)
{
	*n = sizeof(type_names) / sizeof(type_names[0]);
	return type_names;
}
