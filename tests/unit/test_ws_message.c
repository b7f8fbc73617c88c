#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/validate.h"
#include "codec/ws_message.h"

#define ID1 "0b6a3c1e-52f4-4c47-9d3e-2f1a7e5b9c01"
#define ID2 "0b6a3c1e-52f4-4c47-9d3e-2f1a7e5b9c02"
#define ID3 "0B6A3C1E-52F4-4C47-9D3E-2F1A7E5B9C03"
#define MOVE "{\"shape_id\":\"s\",\"x\":1,\"y\":2}"
#define MOVE_NORMALIZED "{\"shape_id\":\"s\",\"x\":1.0,\"y\":2.0}"

static const struct ws_message_limits limits = { WS_MESSAGE_MAX_OPS_DEFAULT,
						 WS_MESSAGE_MAX_STROKE_POINTS,
						 WS_MESSAGE_COORD_MAX, WS_MESSAGE_MAX_SELECTION };

static char *canon(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	cr_assert_not_null(s);
	return s;
}

static void expect_json(const json_t *v, const char *expected)
{
	char *got = canon(v);
	cr_assert_str_eq(got, expected);
	free(got);
}

static void parse_with(const struct ws_message_limits *lim, const char *text,
		       struct ws_message *m)
{
	struct ws_msg_error err;
	bool ok = ws_message_parse(text, strlen(text), lim, m, &err);
	cr_assert(ok, "refused %s: %s %s", text, err.code, err.detail);
	cr_assert_str_eq(err.code, "", "success clears the error");
	cr_assert_str_eq(err.detail, "");
	cr_assert_str_eq(err.client_op_id, "");
}

static void parse(const char *text, struct ws_message *m)
{
	parse_with(&limits, text, m);
}

static void expect_refused_with(const struct ws_message_limits *lim, const char *text,
				enum ws_msg_type claimed, const char *code, const char *detail,
				const char *client_op_id)
{
	struct ws_message m;
	struct ws_msg_error err;
	bool ok = ws_message_parse(text, strlen(text), lim, &m, &err);
	cr_assert(!ok, "accepted %s", text);
	cr_assert_eq(m.type, claimed, "claimed type of %s", text);
	cr_assert_str_eq(err.code, code, "code for %s (detail %s)", text, err.detail);
	if (detail)
		cr_assert_str_eq(err.detail, detail, "detail for %s", text);
	cr_assert_str_eq(err.client_op_id, client_op_id, "client_op_id for %s", text);
	cr_assert(validate_utf8(err.detail, strlen(err.detail)), "detail is UTF-8: %s", text);
	cr_assert_null(m.ops);
	cr_assert_null(m.op_errors);
	cr_assert_null(m.points);
	cr_assert_eq(m.op_count, 0);
	ws_message_free(&m); /* harmless after a failure */
}

static void expect_refused(const char *text, enum ws_msg_type claimed, const char *code,
			   const char *detail, const char *client_op_id)
{
	expect_refused_with(&limits, text, claimed, code, detail, client_op_id);
}

/* ---- accepted messages ---- */

Test(ws_message, single_operation_is_validated_and_normalized)
{
	struct ws_message m;
	parse("{\"type\":\"operation\",\"op_type\":\"move_shape\",\"payload\":" MOVE
	      ",\"client_op_id\":\"" ID1 "\"}",
	      &m);
	cr_assert_eq(m.type, WS_MSG_OPERATIONS);
	cr_assert(!m.batch);
	cr_assert_eq(m.op_count, 1);
	cr_assert_eq(m.op_error_count, 0);
	cr_assert_str_eq(m.ops[0].client_op_id, ID1);
	cr_assert_eq(m.ops[0].type, OP_MOVE_SHAPE);
	expect_json(m.ops[0].payload, MOVE_NORMALIZED);
	ws_message_free(&m);
}

Test(ws_message, create_shape_payload_comes_back_complete_as_op_validate_makes_it)
{
	static const char payload[] = "{\"shape_id\":\"r\",\"kind\":\"rect\",\"x\":1,\"y\":2,"
				      "\"w\":3,\"h\":4}";
	char *text = xasprintf("{\"type\":\"operation\",\"op_type\":\"create_shape\","
			       "\"client_op_id\":\"%s\",\"payload\":%s}",
			       ID1, payload);
	struct ws_message m;
	parse(text, &m);
	json_t *raw = json_loads(payload, 0, NULL);
	json_t *expected = op_validate(OP_CREATE_SHAPE, raw, NULL);
	cr_assert_not_null(expected);
	cr_assert(json_equal(m.ops[0].payload, expected));
	json_decref(expected);
	json_decref(raw);
	ws_message_free(&m);
	free(text);
}

Test(ws_message, operation_keeps_the_client_op_id_as_spelled)
{
	struct ws_message m;
	parse("{\"type\":\"operation\",\"op_type\":\"delete_shape\",\"payload\":{\"shape_id\":"
	      "\"s\"},\"client_op_id\":\"" ID3 "\"}",
	      &m);
	cr_assert_str_eq(m.ops[0].client_op_id, ID3);
	ws_message_free(&m);
}

Test(ws_message, operations_batch_keeps_message_order)
{
	struct ws_message m;
	parse("{\"type\":\"operations\",\"ops\":["
	      "{\"op_type\":\"move_shape\",\"payload\":" MOVE ",\"client_op_id\":\"" ID1 "\"},"
	      "{\"op_type\":\"delete_shape\",\"payload\":{\"shape_id\":\"t\"},\"client_op_id\":"
	      "\"" ID2 "\",\"type\":\"whatever\"}]}",
	      &m);
	cr_assert_eq(m.type, WS_MSG_OPERATIONS);
	cr_assert(m.batch);
	cr_assert_eq(m.op_count, 2);
	cr_assert_eq(m.op_error_count, 0);
	cr_assert_null(m.op_errors);
	cr_assert_str_eq(m.ops[0].client_op_id, ID1);
	cr_assert_eq(m.ops[0].type, OP_MOVE_SHAPE);
	expect_json(m.ops[0].payload, MOVE_NORMALIZED);
	cr_assert_str_eq(m.ops[1].client_op_id, ID2);
	cr_assert_eq(m.ops[1].type, OP_DELETE_SHAPE);
	expect_json(m.ops[1].payload, "{\"shape_id\":\"t\"}");
	ws_message_free(&m);
}

Test(ws_message, undo_redo_and_ping_carry_nothing_but_their_type)
{
	static const struct {
		const char *text;
		enum ws_msg_type type;
	} cases[] = {
		{ "{\"type\":\"undo\"}", WS_MSG_UNDO },
		{ "{\"type\":\"redo\"}", WS_MSG_REDO },
		{ "{\"type\":\"ping\"}", WS_MSG_PING },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ws_message m;
		parse(cases[i].text, &m);
		cr_assert_eq(m.type, cases[i].type, "%s", cases[i].text);
		cr_assert_eq(m.op_count, 0);
		cr_assert_null(m.ops);
		ws_message_free(&m);
	}
}

Test(ws_message, cursor_reads_finite_coordinates_up_to_the_bound)
{
	struct ws_message m;
	parse("{\"type\":\"cursor\",\"x\":12,\"y\":-3.5}", &m);
	cr_assert_eq(m.type, WS_MSG_CURSOR);
	cr_assert_float_eq(m.x, 12.0, 0);
	cr_assert_float_eq(m.y, -3.5, 0);
	ws_message_free(&m);
	parse("{\"y\":1e9,\"type\":\"cursor\",\"x\":-1000000000}", &m);
	cr_assert_float_eq(m.x, -1e9, 0);
	cr_assert_float_eq(m.y, 1e9, 0);
	ws_message_free(&m);
}

Test(ws_message, stroke_copies_its_points_and_reads_done)
{
	struct ws_message m;
	parse("{\"type\":\"stroke\",\"stroke_id\":\"st-1\",\"points\":[[0,0],[1.5,-2]],"
	      "\"done\":true}",
	      &m);
	cr_assert_eq(m.type, WS_MSG_STROKE);
	cr_assert_str_eq(m.stroke_id, "st-1");
	cr_assert(m.done);
	expect_json(m.points, "[[0,0],[1.5,-2]]");
	cr_assert_eq(m.points->refcount, 1, "the points belong to the message alone");
	ws_message_free(&m);

	parse("{\"type\":\"stroke\",\"stroke_id\":\"s\",\"points\":[]}", &m);
	cr_assert(!m.done, "done is optional and defaults to false");
	expect_json(m.points, "[]");
	ws_message_free(&m);

	parse("{\"type\":\"stroke\",\"stroke_id\":\"s\",\"points\":[],\"done\":false}", &m);
	cr_assert(!m.done);
	ws_message_free(&m);
}

Test(ws_message, stroke_accepts_exactly_max_points_and_a_64_byte_id)
{
	char *points = xstrdup("");
	for (size_t i = 0; i < WS_MESSAGE_MAX_STROKE_POINTS; i++) {
		char *next = xasprintf("%s%s[%zu,1]", points, i ? "," : "", i);
		free(points);
		points = next;
	}
	char id[65];
	memset(id, 'a', 64);
	id[64] = '\0';
	char *text = xasprintf("{\"type\":\"stroke\",\"stroke_id\":\"%s\",\"points\":[%s]}", id,
			       points);
	struct ws_message m;
	parse(text, &m);
	cr_assert_eq(json_array_size(m.points), WS_MESSAGE_MAX_STROKE_POINTS);
	cr_assert_str_eq(m.stroke_id, id);
	ws_message_free(&m);
	free(text);
	free(points);
}

Test(ws_message, reads_only_len_bytes_of_the_text)
{
	static const char text[] = "{\"type\":\"ping\"} and then garbage";
	struct ws_message m;
	struct ws_msg_error err;
	cr_assert(ws_message_parse(text, 15, &limits, &m, &err));
	cr_assert_eq(m.type, WS_MSG_PING);
	ws_message_free(&m);
}

/* ---- rejected messages ---- */

Test(ws_message, rejects_text_that_is_not_json)
{
	expect_refused("", WS_MSG_INVALID, "malformed_json", NULL, "");
	expect_refused("{\"type\":\"ping\"", WS_MSG_INVALID, "malformed_json", NULL, "");
	expect_refused("{\"type\":\"ping\"} x", WS_MSG_INVALID, "malformed_json", NULL, "");
	expect_refused("{type:\"ping\"}", WS_MSG_INVALID, "malformed_json", NULL, "");
	expect_refused("\"ping\"", WS_MSG_INVALID, "malformed_json",
		       "message is not valid JSON: '[' or '{' expected near '\"ping\"'", "");
}

Test(ws_message, rejects_duplicate_keys)
{
	expect_refused("{\"type\":\"cursor\",\"x\":1,\"x\":2}", WS_MSG_INVALID, "malformed_json",
		       "message is not valid JSON: duplicate object key near '\"x\"'", "");
}

Test(ws_message, rejects_numbers_that_overflow_and_nul_in_strings)
{
	expect_refused("{\"type\":\"cursor\",\"x\":1e999,\"y\":0}", WS_MSG_INVALID,
		       "malformed_json",
		       "message is not valid JSON: real number overflow near '1e999'",
		       "");
	expect_refused("{\"type\":\"cursor\",\"x\":99999999999999999999,\"y\":0}", WS_MSG_INVALID,
		       "malformed_json", NULL, "");
	expect_refused("{\"type\":\"ping\\u0000\"}", WS_MSG_INVALID, "malformed_json", NULL, "");
}

static char *nested(const char *prefix, size_t depth, const char *suffix)
{
	size_t plen = strlen(prefix), slen = strlen(suffix);
	char *s = xmalloc(plen + 2 * depth + slen + 1);
	memcpy(s, prefix, plen);
	memset(s + plen, '[', depth);
	memset(s + plen + depth, ']', depth);
	memcpy(s + plen + 2 * depth, suffix, slen + 1);
	return s;
}

Test(ws_message, bounds_nesting_at_jansson_parser_max_depth)
{
	cr_assert_eq(JSON_PARSER_MAX_DEPTH, 2048);
	/* The object is one level, so 2047 arrays inside it is exactly the limit. */
	char *deepest = nested("{\"type\":\"stroke\",\"stroke_id\":\"s\",\"points\":[", 2046,
			       "]}");
	expect_refused(deepest, WS_MSG_STROKE, "invalid_field",
		       "stroke.points: pairs of finite numbers", "");
	free(deepest);
	char *too_deep = nested("{\"type\":\"stroke\",\"stroke_id\":\"s\",\"points\":[", 2047,
				"]}");
	expect_refused(too_deep, WS_MSG_INVALID, "malformed_json",
		       "message is not valid JSON: maximum parsing depth reached near '['", "");
	free(too_deep);
}

Test(ws_message, malformed_json_detail_is_valid_utf8_even_when_it_quotes_bad_bytes)
{
	/* jansson quotes the lead byte of the "é" alone; before this module such a detail made
	 * the node's json_pack() of the error reply return NULL. */
	expect_refused("{\"a\":\"\\\xc3\xa9\"}", WS_MSG_INVALID, "malformed_json",
		       "message is not valid JSON: invalid escape near '\"\\?'", "");
	static const char *const texts[] = { "{\"a\xff\":1}", "{\"type\":\xc3}", "\xe2\x82",
					     "{\"type\":tru\xf0\x9f\x98" };
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		expect_refused(texts[i], WS_MSG_INVALID, "malformed_json", NULL, "");
}

Test(ws_message, rejects_messages_that_are_not_objects_with_a_string_type)
{
	static const char *const texts[] = { "[]", "[{\"type\":\"ping\"}]", "{}",
					     "{\"type\":null}", "{\"type\":1}",
					     "{\"Type\":\"ping\"}" };
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		expect_refused(texts[i], WS_MSG_INVALID, "invalid_message",
			       "a message is an object with a string type", "");
}

Test(ws_message, rejects_unknown_types_naming_them)
{
	expect_refused("{\"type\":\"PING\"}", WS_MSG_UNKNOWN, "unknown_type",
		       "unknown message type 'PING'", "");
	expect_refused("{\"type\":\"\"}", WS_MSG_UNKNOWN, "unknown_type",
		       "unknown message type ''", "");
	expect_refused("{\"type\":\"0123456789abcdef0123456789abcdefXYZ\"}", WS_MSG_UNKNOWN,
		       "unknown_type", "unknown message type '0123456789abcdef0123456789abcdef'",
		       "");
}

Test(ws_message, unknown_type_detail_never_splits_a_utf8_character)
{
	/* "a" then 20 x "é" (2 bytes): a cut at 32 bytes would fall inside a character. */
	char type[64] = "a";
	for (int i = 0; i < 20; i++)
		strcat(type, "\xc3\xa9");
	char *text = xasprintf("{\"type\":\"%s\"}", type);
	char *detail = xasprintf("unknown message type '%.31s'", type);
	expect_refused(text, WS_MSG_UNKNOWN, "unknown_type", detail, "");
	free(detail);
	free(text);
}

Test(ws_message, operation_requires_a_uuid_client_op_id_and_cannot_name_a_bad_one)
{
	static const char *const ids[] = { "", ",\"client_op_id\":\"\"", ",\"client_op_id\":7",
					   ",\"client_op_id\":\"not-a-uuid\"",
					   ",\"client_op_id\":\"{" ID1 "}\"",
					   ",\"client_op_id\":\"" ID1 "0\"" };
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		char *text = xasprintf("{\"type\":\"operation\",\"op_type\":\"move_shape\","
				       "\"payload\":" MOVE "%s}",
				       ids[i]);
		expect_refused(text, WS_MSG_OPERATIONS, "invalid_field",
			       "client_op_id: must be a UUID", "");
		free(text);
	}
}

Test(ws_message, operation_rejects_unknown_fields_naming_the_first)
{
	expect_refused("{\"type\":\"operation\",\"client_op_id\":\"" ID1
		       "\",\"op_type\":\"move_shape\",\"payload\":" MOVE ",\"extra\":1,\"b\":2}",
		       WS_MSG_OPERATIONS, "unknown_field", "extra: unknown field", ID1);
	/* Checked before the op type: the client learns about the stray field first. */
	expect_refused("{\"type\":\"operation\",\"client_op_id\":\"" ID1
		       "\",\"opType\":\"move_shape\",\"payload\":" MOVE "}",
		       WS_MSG_OPERATIONS, "unknown_field", "opType: unknown field", ID1);
}

Test(ws_message, unknown_field_detail_is_bounded_and_keeps_utf8_whole)
{
	char key[128] = "a";
	for (int i = 0; i < 40; i++)
		strcat(key, "\xc3\xa9");
	char *text = xasprintf("{\"type\":\"operation\",\"client_op_id\":\"" ID1
			       "\",\"op_type\":\"move_shape\",\"payload\":" MOVE ",\"%s\":1}",
			       key);
	char *detail = xasprintf("%.63s: unknown field", key);
	expect_refused(text, WS_MSG_OPERATIONS, "unknown_field", detail, ID1);
	free(detail);
	free(text);
}

Test(ws_message, operation_rejects_missing_or_unknown_op_types)
{
	static const char *const types[] = { "", ",\"op_type\":\"explode\"", ",\"op_type\":1",
					     ",\"op_type\":\"Move_shape\"" };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		char *text = xasprintf("{\"type\":\"operation\",\"client_op_id\":\"" ID1
				       "\",\"payload\":" MOVE "%s}",
				       types[i]);
		expect_refused(text, WS_MSG_OPERATIONS, "unknown_op_type",
			       "op_type: must be one of create_shape, move_shape, resize_shape, "
			       "update_shape, delete_shape",
			       ID1);
		free(text);
	}
}

Test(ws_message, operation_requires_a_payload)
{
	expect_refused("{\"type\":\"operation\",\"client_op_id\":\"" ID1
		       "\",\"op_type\":\"move_shape\"}",
		       WS_MSG_OPERATIONS, "missing_field", "payload: required", ID1);
}

Test(ws_message, operation_reports_op_validate_codes_for_bad_payloads)
{
	expect_refused("{\"type\":\"operation\",\"client_op_id\":\"" ID1
		       "\",\"op_type\":\"delete_shape\",\"payload\":null}",
		       WS_MSG_OPERATIONS, "invalid_field", "payload: must be an object", ID1);
	expect_refused("{\"type\":\"operation\",\"client_op_id\":\"" ID1
		       "\",\"op_type\":\"delete_shape\",\"payload\":{}}",
		       WS_MSG_OPERATIONS, "missing_field", "payload.shape_id: required", ID1);
	/* Whatever op_validate says, word for word. */
	json_t *payload = json_pack("{s:s, s:f, s:s}", "shape_id", "s", "x", 1.0, "y", "2");
	struct op_error oerr;
	cr_assert_null(op_validate(OP_MOVE_SHAPE, payload, &oerr));
	json_decref(payload);
	expect_refused("{\"type\":\"operation\",\"client_op_id\":\"" ID1
		       "\",\"op_type\":\"move_shape\",\"payload\":{\"shape_id\":\"s\",\"x\":1,"
		       "\"y\":\"2\"}}",
		       WS_MSG_OPERATIONS, oerr.code, oerr.detail, ID1);
}

Test(ws_message, operation_rejects_payload_nesting_without_exhausting_the_stack)
{
	char *text = nested("{\"type\":\"operation\",\"client_op_id\":\"" ID1
			    "\",\"op_type\":\"update_shape\",\"payload\":{\"shape_id\":\"s\","
			    "\"points\":",
			    2045, "}}");
	struct ws_message m;
	struct ws_msg_error err;
	cr_assert(!ws_message_parse(text, strlen(text), &limits, &m, &err));
	cr_assert_str_eq(err.code, "invalid_field", "%s", err.detail);
	cr_assert_str_eq(err.client_op_id, ID1);
	free(text);
}

Test(ws_message, operations_requires_a_non_empty_ops_array)
{
	static const char *const texts[] = {
		"{\"type\":\"operations\"}",
		"{\"type\":\"operations\",\"ops\":[]}",
		"{\"type\":\"operations\",\"ops\":{}}",
		"{\"type\":\"operations\",\"ops\":null}",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct ws_message m;
		struct ws_msg_error err;
		cr_assert(!ws_message_parse(texts[i], strlen(texts[i]), &limits, &m, &err));
		cr_assert_eq(m.type, WS_MSG_OPERATIONS);
		cr_assert(m.batch, "a refused batch still says it was one");
		cr_assert_str_eq(err.code, "invalid_field");
		cr_assert_str_eq(err.detail, "ops: must be a non-empty array");
		cr_assert_str_eq(err.client_op_id, "");
	}
}

static char *batch_of(size_t n)
{
	char *ops = xstrdup("");
	for (size_t i = 0; i < n; i++) {
		char *next = xasprintf("%s%s{\"op_type\":\"delete_shape\",\"payload\":"
				       "{\"shape_id\":\"s%zu\"},"
				       "\"client_op_id\":\"0b6a3c1e-52f4-4c47-9d3e-%012zx\"}",
				       ops, i ? "," : "", i, i);
		free(ops);
		ops = next;
	}
	char *text = xasprintf("{\"type\":\"operations\",\"ops\":[%s]}", ops);
	free(ops);
	return text;
}

Test(ws_message, operations_accepts_max_ops_and_refuses_one_more)
{
	struct ws_message_limits three = { 3, WS_MESSAGE_MAX_STROKE_POINTS, WS_MESSAGE_COORD_MAX,
					   WS_MESSAGE_MAX_SELECTION };
	char *ok = batch_of(3);
	struct ws_message m;
	parse_with(&three, ok, &m);
	cr_assert_eq(m.op_count, 3);
	cr_assert_str_eq(m.ops[2].client_op_id, "0b6a3c1e-52f4-4c47-9d3e-000000000002");
	expect_json(m.ops[2].payload, "{\"shape_id\":\"s2\"}");
	ws_message_free(&m);
	free(ok);

	char *over = batch_of(4);
	expect_refused_with(&three, over, WS_MSG_OPERATIONS, "too_many_ops",
			    "ops: at most 3 operations per message", "");
	free(over);

	char *default_over = batch_of(WS_MESSAGE_MAX_OPS_DEFAULT + 1);
	expect_refused(default_over, WS_MSG_OPERATIONS, "too_many_ops",
		       "ops: at most 64 operations per message", "");
	free(default_over);
}

Test(ws_message, batch_with_invalid_entries_keeps_the_valid_ones_and_lists_the_others)
{
	struct ws_message m;
	parse("{\"type\":\"operations\",\"ops\":["
	      "{\"op_type\":\"move_shape\",\"payload\":" MOVE ",\"client_op_id\":\"" ID1 "\"},"
	      "7,"
	      "{\"op_type\":\"move_shape\",\"payload\":" MOVE ",\"client_op_id\":\"nope\"},"
	      "{\"op_type\":\"spin\",\"payload\":" MOVE ",\"client_op_id\":\"" ID2 "\"},"
	      "{\"op_type\":\"delete_shape\",\"payload\":{\"shape_id\":\"t\"},\"client_op_id\":"
	      "\"" ID3 "\"},"
	      "{\"op_type\":\"delete_shape\",\"payload\":{},\"client_op_id\":\"" ID2 "\"},"
	      "{\"op_type\":\"delete_shape\",\"client_op_id\":\"" ID2 "\",\"x\":1}"
	      "]}",
	      &m);
	cr_assert(m.batch);
	cr_assert_eq(m.op_count, 2);
	cr_assert_str_eq(m.ops[0].client_op_id, ID1);
	expect_json(m.ops[0].payload, MOVE_NORMALIZED);
	cr_assert_str_eq(m.ops[1].client_op_id, ID3);
	cr_assert_eq(m.ops[1].type, OP_DELETE_SHAPE);

	static const struct ws_msg_error expected[] = {
		{ "", "invalid_field", "ops: each entry must be an object" },
		{ "", "invalid_field", "client_op_id: must be a UUID" },
		{ ID2, "unknown_op_type",
		  "op_type: must be one of create_shape, move_shape, resize_shape, update_shape, "
		  "delete_shape" },
		{ ID2, "missing_field", "payload.shape_id: required" },
		{ ID2, "unknown_field", "x: unknown field" },
	};
	cr_assert_eq(m.op_error_count, sizeof(expected) / sizeof(expected[0]));
	for (size_t i = 0; i < m.op_error_count; i++) {
		cr_assert_str_eq(m.op_errors[i].client_op_id, expected[i].client_op_id, "#%zu", i);
		cr_assert_str_eq(m.op_errors[i].code, expected[i].code, "#%zu", i);
		cr_assert_str_eq(m.op_errors[i].detail, expected[i].detail, "#%zu", i);
	}
	ws_message_free(&m);
}

Test(ws_message, batch_of_only_invalid_entries_is_accepted_with_nothing_to_commit)
{
	struct ws_message m;
	parse("{\"type\":\"operations\",\"ops\":[null,[]]}", &m);
	cr_assert_eq(m.op_count, 0);
	cr_assert_eq(m.op_error_count, 2);
	ws_message_free(&m);
}

Test(ws_message, cursor_is_exactly_type_x_and_y)
{
	static const char *const texts[] = {
		"{\"type\":\"cursor\",\"x\":1}",
		"{\"type\":\"cursor\",\"y\":1}",
		"{\"type\":\"cursor\"}",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		expect_refused(texts[i], WS_MSG_CURSOR, "invalid_field",
			       "cursor: {type, x, y} with finite numbers", "");
	expect_refused("{\"type\":\"cursor\",\"x\":1,\"y\":2,\"z\":3}", WS_MSG_CURSOR,
		       "unknown_field", "z: unknown field", "");
	expect_refused("{\"type\":\"cursor\",\"x\":1,\"y\":2,\"session_id\":\"s\"}",
		       WS_MSG_CURSOR, "unknown_field", "session_id: unknown field", "");
}

Test(ws_message, operations_with_the_fields_of_one_op_names_the_first_stray_field)
{
	expect_refused("{\"type\":\"operations\",\"op_type\":\"move_shape\",\"payload\":" MOVE
		       ",\"client_op_id\":\"" ID1 "\"}",
		       WS_MSG_OPERATIONS, "unknown_field", "op_type: unknown field", "");
}

Test(ws_message, every_message_type_refuses_a_member_it_does_not_have)
{
	static const struct {
		const char *text;
		enum ws_msg_type claimed;
		const char *detail;
	} cases[] = {
		{ "{\"type\":\"ping\",\"extra\":1}", WS_MSG_PING, "extra: unknown field" },
		{ "{\"type\":\"ping\",\"t\":12}", WS_MSG_PING, "t: unknown field" },
		{ "{\"steps\":[1],\"type\":\"undo\"}", WS_MSG_UNDO, "steps: unknown field" },
		{ "{\"type\":\"redo\",\"n\":null}", WS_MSG_REDO, "n: unknown field" },
		{ "{\"type\":\"operations\",\"ops\":[],\"atomic\":true}", WS_MSG_OPERATIONS,
		  "atomic: unknown field" },
		{ "{\"type\":\"stroke\",\"stroke_id\":\"s\",\"points\":[],\"w\":1}",
		  WS_MSG_STROKE, "w: unknown field" },
		{ "{\"type\":\"cursor\",\"x\":1,\"y\":2,\"\":0}", WS_MSG_CURSOR,
		  ": unknown field" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_refused(cases[i].text, cases[i].claimed, "unknown_field", cases[i].detail,
			       "");
}

Test(ws_message, cursor_rejects_non_numbers_and_out_of_range_coordinates)
{
	static const char *const texts[] = {
		"{\"type\":\"cursor\",\"x\":\"1\",\"y\":2}",
		"{\"type\":\"cursor\",\"x\":1,\"y\":null}",
		"{\"type\":\"cursor\",\"x\":true,\"y\":2}",
		"{\"type\":\"cursor\",\"x\":[1],\"y\":2}",
		"{\"type\":\"cursor\",\"x\":1000000000.5,\"y\":2}",
		"{\"type\":\"cursor\",\"x\":1,\"y\":-1e10}",
		"{\"type\":\"cursor\",\"x\":9223372036854775807,\"y\":0}",
		"{\"type\":\"cursor\",\"x\":1,\"y\":1.7976931348623157e308}",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		expect_refused(texts[i], WS_MSG_CURSOR, "invalid_field",
			       "cursor: {type, x, y} with finite numbers", "");
}

Test(ws_message, coordinate_bound_comes_from_the_limits)
{
	struct ws_message_limits small = { 64, 512, 100, 256 };
	struct ws_message m;
	parse_with(&small, "{\"type\":\"cursor\",\"x\":100,\"y\":-100}", &m);
	ws_message_free(&m);
	expect_refused_with(&small, "{\"type\":\"cursor\",\"x\":100.01,\"y\":0}", WS_MSG_CURSOR,
			    "invalid_field", "cursor: {type, x, y} with finite numbers", "");
	expect_refused_with(&small,
			    "{\"type\":\"stroke\",\"stroke_id\":\"s\",\"points\":[[0,101]]}",
			    WS_MSG_STROKE, "invalid_field",
			    "stroke.points: pairs of finite numbers", "");
}

Test(ws_message, stroke_rejects_unknown_fields_before_anything_else)
{
	expect_refused("{\"type\":\"stroke\",\"stroke_id\":\"s\",\"points\":[],\"color\":\"red\"}",
		       WS_MSG_STROKE, "unknown_field", "color: unknown field", "");
	expect_refused("{\"type\":\"stroke\",\"user_id\":\"u\"}", WS_MSG_STROKE, "unknown_field",
		       "user_id: unknown field", "");
}

Test(ws_message, stroke_rejects_bad_ids_points_and_done)
{
	char long_id[66];
	memset(long_id, 'a', 65);
	long_id[65] = '\0';
	char *too_long = xasprintf("{\"type\":\"stroke\",\"stroke_id\":\"%s\",\"points\":[]}",
				   long_id);
	const char *texts[] = {
		"{\"type\":\"stroke\",\"points\":[]}",
		"{\"type\":\"stroke\",\"stroke_id\":\"\",\"points\":[]}",
		"{\"type\":\"stroke\",\"stroke_id\":\"a b\",\"points\":[]}",
		"{\"type\":\"stroke\",\"stroke_id\":7,\"points\":[]}",
		too_long,
		"{\"type\":\"stroke\",\"stroke_id\":\"s\"}",
		"{\"type\":\"stroke\",\"stroke_id\":\"s\",\"points\":{}}",
		"{\"type\":\"stroke\",\"stroke_id\":\"s\",\"points\":[],\"done\":null}",
		"{\"type\":\"stroke\",\"stroke_id\":\"s\",\"points\":[],\"done\":1}",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		expect_refused(texts[i], WS_MSG_STROKE, "invalid_field",
			       "stroke: {stroke_id, points: [[x, y], ...] (at most 512), done?}",
			       "");
	free(too_long);
}

Test(ws_message, stroke_refuses_more_points_than_the_limit_naming_it)
{
	struct ws_message_limits two = { 64, 2, 1e9, 256 };
	expect_refused_with(&two,
			    "{\"type\":\"stroke\",\"stroke_id\":\"s\","
			    "\"points\":[[0,0],[1,1],[2,2]]}",
			    WS_MSG_STROKE, "invalid_field",
			    "stroke: {stroke_id, points: [[x, y], ...] (at most 2), done?}", "");
}

Test(ws_message, stroke_points_are_pairs_of_finite_numbers_in_range)
{
	static const char *const points[] = {
		"[1,2]", "[[1]]", "[[1,2,3]]", "[[1,\"2\"]]", "[[null,2]]", "[[0,0],{}]",
		"[[0,0],[1e9,1000000001]]", "[[[1],[2]]]",
	};
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		char *text = xasprintf("{\"type\":\"stroke\",\"stroke_id\":\"s\",\"points\":%s}",
				       points[i]);
		expect_refused(text, WS_MSG_STROKE, "invalid_field",
			       "stroke.points: pairs of finite numbers", "");
		free(text);
	}
}

/* ---- ownership ---- */

Test(ws_message, payloads_can_be_taken_and_free_is_idempotent)
{
	struct ws_message m;
	parse("{\"type\":\"operations\",\"ops\":["
	      "{\"op_type\":\"move_shape\",\"payload\":" MOVE ",\"client_op_id\":\"" ID1 "\"},"
	      "{\"op_type\":\"move_shape\",\"payload\":" MOVE ",\"client_op_id\":\"" ID2 "\"},"
	      "5]}",
	      &m);
	json_t *taken = m.ops[0].payload;
	m.ops[0].payload = NULL;
	ws_message_free(&m);
	cr_assert_eq(m.op_count, 0, "free zeroes the message");
	cr_assert_null(m.ops);
	cr_assert_null(m.op_errors);
	ws_message_free(&m);
	/* The stolen payload outlives the message (ASan would flag a use after free). */
	expect_json(taken, MOVE_NORMALIZED);
	cr_assert_eq(taken->refcount, 1);
	json_decref(taken);

	struct ws_message zero;
	memset(&zero, 0, sizeof(zero));
	ws_message_free(&zero);
}

Test(ws_message, a_message_struct_can_be_reused_after_free)
{
	struct ws_message m;
	parse("{\"type\":\"stroke\",\"stroke_id\":\"s\",\"points\":[[1,2]]}", &m);
	ws_message_free(&m);
	parse("{\"type\":\"cursor\",\"x\":1,\"y\":2}", &m);
	cr_assert_null(m.points);
	ws_message_free(&m);
}

Test(ws_message, type_names_match_the_protocol)
{
	cr_assert_str_eq(ws_message_type_name(WS_MSG_OPERATIONS, false), "operation");
	cr_assert_str_eq(ws_message_type_name(WS_MSG_OPERATIONS, true), "operations");
	cr_assert_str_eq(ws_message_type_name(WS_MSG_UNDO, false), "undo");
	cr_assert_str_eq(ws_message_type_name(WS_MSG_REDO, false), "redo");
	cr_assert_str_eq(ws_message_type_name(WS_MSG_CURSOR, false), "cursor");
	cr_assert_str_eq(ws_message_type_name(WS_MSG_STROKE, false), "stroke");
	cr_assert_str_eq(ws_message_type_name(WS_MSG_PING, false), "ping");
	/* ws_message_type_names (the metrics' declared labels) lists every name it returns. */
	size_t n;
	const char *const *names = ws_message_type_names(&n);
	for (int t = WS_MSG_INVALID; t <= WS_MSG_SELECTION; t++)
		for (int batch = 0; batch < 2; batch++) {
			const char *name = ws_message_type_name((enum ws_msg_type)t, batch);
			bool listed = false;
			for (size_t i = 0; i < n; i++)
				listed = listed || !strcmp(names[i], name);
			cr_assert(listed, "%s is not in ws_message_type_names", name);
		}
}

/* ---- selection ---- */

Test(ws_message, selection_keeps_the_ids_in_order_and_an_empty_one_clears)
{
	struct ws_message m;
	parse("{\"type\":\"selection\",\"shape_ids\":[\"b\",\"a-1\",\"c.2:x\"]}", &m);
	cr_assert_eq(m.type, WS_MSG_SELECTION);
	expect_json(m.shape_ids, "[\"b\",\"a-1\",\"c.2:x\"]");
	ws_message_free(&m);
	cr_assert_null(m.shape_ids);
	parse("{\"shape_ids\":[],\"type\":\"selection\"}", &m);
	expect_json(m.shape_ids, "[]");
	cr_assert_str_eq(ws_message_type_name(m.type, false), "selection");
	ws_message_free(&m);
}

Test(ws_message, selection_is_bounded_distinct_and_exact)
{
	struct ws_message_limits two = limits;
	two.max_selection = 2;
	struct ws_message m;
	parse_with(&two, "{\"type\":\"selection\",\"shape_ids\":[\"a\",\"b\"]}", &m);
	ws_message_free(&m);
	const char *detail2 = "selection: {type, shape_ids: [shape id, ...] (at most 2)}";
	expect_refused_with(&two, "{\"type\":\"selection\",\"shape_ids\":[\"a\",\"b\",\"c\"]}",
			    WS_MSG_SELECTION, "invalid_field", detail2, "");
	expect_refused("{\"type\":\"selection\"}", WS_MSG_SELECTION, "invalid_field", NULL, "");
	expect_refused("{\"type\":\"selection\",\"shape_ids\":\"a\"}", WS_MSG_SELECTION,
		       "invalid_field", NULL, "");
	expect_refused("{\"type\":\"selection\",\"shape_ids\":[],\"x\":1}", WS_MSG_SELECTION,
		       "unknown_field", NULL, "");
	expect_refused("{\"type\":\"selection\",\"shape_ids\":[\"a\",\"a\"]}", WS_MSG_SELECTION,
		       "invalid_field", "selection.shape_ids: each id at most once", "");
	expect_refused("{\"type\":\"selection\",\"shape_ids\":[1]}", WS_MSG_SELECTION,
		       "invalid_field", "selection.shape_ids: shape ids", "");
	expect_refused("{\"type\":\"selection\",\"shape_ids\":[\"bad id\"]}", WS_MSG_SELECTION,
		       "invalid_field", "selection.shape_ids: shape ids", "");
	expect_refused("{\"type\":\"selection\",\"shape_ids\":[\"\"]}", WS_MSG_SELECTION,
		       "invalid_field", "selection.shape_ids: shape ids", "");
	char big[200];
	snprintf(big, sizeof(big), "{\"type\":\"selection\",\"shape_ids\":[\"%065d\"]}", 0);
	expect_refused(big, WS_MSG_SELECTION, "invalid_field", "selection.shape_ids: shape ids", "");
}
