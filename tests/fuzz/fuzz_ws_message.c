/*
 * libFuzzer target for WebSocket client messages: arbitrary bytes go through
 * ws_message_parse() and the result is freed. Besides crashes and leaks, a violation of these
 * traps:
 *   - a refusal has a code and a detail, both valid UTF-8 (so the node's error reply can always
 *     be built), names only a valid UUID, and leaves nothing allocated;
 *   - an accepted message is within its limits, and every batch entry is either an op or an
 *     error;
 *   - normalization is idempotent: the ops re-serialized as an "operations" batch parse back
 *     to the same ids, types and payloads with no errors, and strokes, cursors and selections
 *     re-serialize to themselves;
 *   - a selection holds at most max_selection distinct valid shape ids.
 * Small limits make the bounds (too_many_ops, the stroke point count) cheap to reach.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/validate.h"
#include "codec/ws_message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct ws_message_limits limits = { 8, 16, WS_MESSAGE_COORD_MAX, 4 };

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static bool utf8(const char *s)
{
	return validate_utf8(s, strlen(s));
}

static void check_error(const struct ws_msg_error *err)
{
	check(err->code[0] != '\0' && utf8(err->code));
	check(err->detail[0] != '\0' && utf8(err->detail));
	check(err->client_op_id[0] == '\0' || validate_uuid(err->client_op_id));
	/* What the node does with it: this must never fail. */
	json_t *reply = json_pack("{s:s, s:s, s:s}", "type", "error", "code", err->code, "detail",
				  err->detail);
	check(reply != NULL);
	json_decref(reply);
}

static bool reparse(json_t *msg, struct ws_message *out)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	check(text != NULL);
	struct ws_msg_error err;
	bool ok = ws_message_parse(text, strlen(text), &limits, out, &err);
	free(text);
	return ok;
}

static void check_ops_round_trip(const struct ws_message *m)
{
	json_t *ops = json_array();
	for (size_t i = 0; i < m->op_count; i++)
		json_array_append_new(ops, json_pack("{s:s, s:O, s:s}", "op_type",
						     op_type_name(m->ops[i].type), "payload",
						     m->ops[i].payload, "client_op_id",
						     m->ops[i].client_op_id));
	struct ws_message again;
	check(reparse(json_pack("{s:s, s:o}", "type", "operations", "ops", ops), &again));
	check(again.type == WS_MSG_OPERATIONS && again.batch);
	check(again.op_count == m->op_count && again.op_error_count == 0);
	for (size_t i = 0; i < m->op_count; i++) {
		check(!strcmp(again.ops[i].client_op_id, m->ops[i].client_op_id));
		check(again.ops[i].type == m->ops[i].type);
		check(json_equal(again.ops[i].payload, m->ops[i].payload));
	}
	ws_message_free(&again);
}

static void check_accepted(const struct ws_message *m, const struct ws_msg_error *err)
{
	check(err->code[0] == '\0' && err->detail[0] == '\0' && err->client_op_id[0] == '\0');
	switch (m->type) {
	case WS_MSG_OPERATIONS:
		check(m->op_count + m->op_error_count >= 1);
		check(m->op_count + m->op_error_count <= (m->batch ? limits.max_ops : 1));
		check(m->batch || m->op_error_count == 0);
		for (size_t i = 0; i < m->op_count; i++) {
			check(validate_uuid(m->ops[i].client_op_id));
			check(m->ops[i].payload != NULL);
		}
		for (size_t i = 0; i < m->op_error_count; i++)
			check_error(&m->op_errors[i]);
		if (m->op_count > 0)
			check_ops_round_trip(m);
		break;
	case WS_MSG_CURSOR: {
		struct ws_message again;
		check(reparse(json_pack("{s:s, s:f, s:f}", "type", "cursor", "x", m->x, "y", m->y),
			      &again));
		check(again.type == WS_MSG_CURSOR && again.x == m->x && again.y == m->y);
		ws_message_free(&again);
		break;
	}
	case WS_MSG_STROKE: {
		check(json_array_size(m->points) <= limits.max_stroke_points);
		check(op_shape_id_valid(m->stroke_id, strlen(m->stroke_id)));
		struct ws_message again;
		check(reparse(json_pack("{s:s, s:s, s:O, s:b}", "type", "stroke", "stroke_id",
					m->stroke_id, "points", m->points, "done", m->done),
			      &again));
		check(again.type == WS_MSG_STROKE && !strcmp(again.stroke_id, m->stroke_id));
		check(json_equal(again.points, m->points) && again.done == m->done);
		ws_message_free(&again);
		break;
	}
	case WS_MSG_SELECTION: {
		size_t n = json_array_size(m->shape_ids);
		check(json_is_array(m->shape_ids) && n <= limits.max_selection);
		for (size_t i = 0; i < n; i++) {
			const char *id = json_string_value(json_array_get(m->shape_ids, i));
			check(id && op_shape_id_valid(id, strlen(id)));
			for (size_t j = 0; j < i; j++)
				check(strcmp(id, json_string_value(json_array_get(m->shape_ids, j))));
		}
		struct ws_message again;
		check(reparse(json_pack("{s:s, s:O}", "type", "selection", "shape_ids", m->shape_ids),
			      &again));
		check(again.type == WS_MSG_SELECTION && json_equal(again.shape_ids, m->shape_ids));
		ws_message_free(&again);
		check(m->ops == NULL && m->points == NULL);
		break;
	}
	case WS_MSG_UNDO:
	case WS_MSG_REDO:
	case WS_MSG_PING:
		check(m->ops == NULL && m->points == NULL && m->shape_ids == NULL);
		break;
	case WS_MSG_INVALID:
	case WS_MSG_UNKNOWN:
		check(false);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_message m;
	struct ws_msg_error err;
	if (ws_message_parse((const char *)data, size, &limits, &m, &err)) {
		check_accepted(&m, &err);
	} else {
		check_error(&err);
		check(m.ops == NULL && m.op_errors == NULL && m.points == NULL && m.shape_ids == NULL);
		check(m.type <= WS_MSG_SELECTION);
	}
	ws_message_free(&m);
	return 0;
}
