#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "model/op.h"

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	cr_assert_not_null(v, "test JSON does not parse: %s: %s", jerr.text, text);
	return v;
}

/* Canonical text of a JSON value, for exact comparisons. */
static char *canon(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	cr_assert_not_null(s);
	return s;
}

static void expect_normalized(enum op_type type, const char *in, const char *expected)
{
	json_t *payload = parse(in);
	struct op_error err = { { 0 }, { 0 } };
	json_t *out = op_validate(type, payload, &err);
	cr_assert_not_null(out, "%s rejected %s: %s %s", op_type_name(type), in, err.code,
			   err.detail);
	char *got = canon(out);
	cr_assert_str_eq(got, expected, "normalizing %s", in);
	free(got);
	json_decref(out);
	json_decref(payload);
}

static void expect_rejected_value(enum op_type type, const json_t *payload, const char *code,
				  const char *detail)
{
	struct op_error err = { { 0 }, { 0 } };
	json_t *out = op_validate(type, payload, &err);
	if (out) {
		char *s = canon(payload);
		cr_assert_fail("%s accepted %s", op_type_name(type), s);
	}
	cr_assert_str_eq(err.code, code, "payload %s: detail %s", detail, err.detail);
	cr_assert_str_eq(err.detail, detail);
}

static void expect_rejected(enum op_type type, const char *in, const char *code,
			    const char *detail)
{
	json_t *payload = parse(in);
	expect_rejected_value(type, payload, code, detail);
	json_decref(payload);
}

#define DEFAULTS_AFTER_KIND                                                                    \
	"\"points\":[],\"rotation\":0.0,\"shape_id\":\"s1\",\"style\":{\"fill\":\"none\","    \
	"\"opacity\":1.0,\"stroke\":\"#000000\",\"width\":1.0},\"text\":\"\",\"to\":null,"     \
	"\"w\":0.0,\"x\":1.0,\"y\":2.5,\"z\":0.0}"

Test(op, type_names_round_trip)
{
	for (int i = 0; i < OP_TYPE_COUNT; i++) {
		enum op_type t;
		cr_assert(op_type_parse(op_type_name((enum op_type)i), &t));
		cr_assert_eq(t, (enum op_type)i);
	}
	enum op_type t = OP_MOVE_SHAPE;
	cr_assert_not(op_type_parse("Create_shape", &t));
	cr_assert_not(op_type_parse("", &t));
	cr_assert_not(op_type_parse(NULL, &t));
	cr_assert_eq(t, OP_MOVE_SHAPE, "a failed parse leaves the output alone");
	cr_assert_str_eq(op_type_name((enum op_type)42), "unknown");
}

Test(op, create_fills_every_omitted_field_with_its_default)
{
	expect_normalized(OP_CREATE_SHAPE, "{\"shape_id\":\"s1\",\"kind\":\"rect\",\"x\":1,\"y\":2.5}",
			  "{\"from\":null,\"h\":0.0,\"kind\":\"rect\"," DEFAULTS_AFTER_KIND);
}

Test(op, create_keeps_every_given_field)
{
	expect_normalized(
		OP_CREATE_SHAPE,
		"{\"shape_id\":\"c-1\",\"kind\":\"connector\",\"x\":-3,\"y\":4,\"w\":10,\"h\":20,"
		"\"rotation\":45.5,\"z\":-2,\"style\":{\"stroke\":\"#ABC\",\"fill\":\"#00ff00AA\","
		"\"width\":0,\"opacity\":0.25},\"text\":\"h\\u00e9\",\"points\":[[1,2],[3.5,-4]],"
		"\"from\":\"a\",\"to\":\"b:2\"}",
		"{\"from\":\"a\",\"h\":20.0,\"kind\":\"connector\",\"points\":[[1.0,2.0],[3.5,-4.0]],"
		"\"rotation\":45.5,\"shape_id\":\"c-1\",\"style\":{\"fill\":\"#00ff00aa\","
		"\"opacity\":0.25,\"stroke\":\"#abc\",\"width\":0.0},\"text\":\"h\xc3\xa9\","
		"\"to\":\"b:2\",\"w\":10.0,\"x\":-3.0,\"y\":4.0,\"z\":-2.0}");
}

Test(op, integer_and_real_spellings_normalize_to_the_same_payload)
{
	json_t *a = parse("{\"shape_id\":\"s\",\"x\":1,\"y\":-0.0}");
	json_t *b = parse("{\"shape_id\":\"s\",\"x\":1.0,\"y\":0}");
	json_t *na = op_validate(OP_MOVE_SHAPE, a, NULL);
	json_t *nb = op_validate(OP_MOVE_SHAPE, b, NULL);
	char *sa = canon(na), *sb = canon(nb);
	cr_assert_str_eq(sa, sb);
	cr_assert_str_eq(sa, "{\"shape_id\":\"s\",\"x\":1.0,\"y\":0.0}", "-0 becomes 0");
	free(sa);
	free(sb);
	json_decref(na);
	json_decref(nb);
	json_decref(a);
	json_decref(b);
}

Test(op, accepts_every_kind)
{
	static const char *const kinds[] = { "rect", "ellipse", "line",	 "arrow",
					     "text", "sticky",	"path", "connector" };
	for (size_t i = 0; i < 8; i++) {
		json_t *p = json_pack("{s:s, s:s, s:i, s:i}", "shape_id", "k", "kind", kinds[i],
				      "x", 0, "y", 0);
		json_t *out = op_validate(OP_CREATE_SHAPE, p, NULL);
		cr_assert_not_null(out, "kind %s", kinds[i]);
		cr_assert_str_eq(json_string_value(json_object_get(out, "kind")), kinds[i]);
		json_decref(out);
		json_decref(p);
	}
}

Test(op, accepts_the_bounds_of_every_range)
{
	expect_normalized(OP_RESIZE_SHAPE,
			  "{\"shape_id\":\"s\",\"x\":-1e9,\"y\":1000000000,\"w\":1e9,\"h\":0}",
			  "{\"h\":0.0,\"shape_id\":\"s\",\"w\":1000000000.0,\"x\":-1000000000.0,"
			  "\"y\":1000000000.0}");
	expect_normalized(OP_UPDATE_SHAPE,
			  "{\"shape_id\":\"s\",\"style\":{\"width\":1000,\"opacity\":0}}",
			  "{\"shape_id\":\"s\",\"style\":{\"opacity\":0.0,\"width\":1000.0}}");
	expect_normalized(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"style\":{\"opacity\":1}}",
			  "{\"shape_id\":\"s\",\"style\":{\"opacity\":1.0}}");
}

Test(op, move_resize_update_delete_keep_only_their_fields)
{
	expect_normalized(OP_MOVE_SHAPE, "{\"y\":2,\"shape_id\":\"s\",\"x\":1}",
			  "{\"shape_id\":\"s\",\"x\":1.0,\"y\":2.0}");
	expect_normalized(OP_RESIZE_SHAPE, "{\"shape_id\":\"s\",\"x\":1,\"y\":2,\"w\":3,\"h\":4}",
			  "{\"h\":4.0,\"shape_id\":\"s\",\"w\":3.0,\"x\":1.0,\"y\":2.0}");
	expect_normalized(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"style\":{\"fill\":\"#FFF\"}}",
			  "{\"shape_id\":\"s\",\"style\":{\"fill\":\"#fff\"}}");
	expect_normalized(OP_UPDATE_SHAPE,
			  "{\"shape_id\":\"s\",\"rotation\":1,\"z\":2,\"text\":\"t\",\"points\":[],"
			  "\"from\":null,\"to\":\"x\"}",
			  "{\"from\":null,\"points\":[],\"rotation\":1.0,\"shape_id\":\"s\","
			  "\"text\":\"t\",\"to\":\"x\",\"z\":2.0}");
	expect_normalized(OP_DELETE_SHAPE, "{\"shape_id\":\"A.b:c_d-9\"}",
			  "{\"shape_id\":\"A.b:c_d-9\"}");
}

Test(op, colours_accept_every_documented_form_and_lower_case_hex)
{
	static const char *const ok[][2] = {
		{ "#abc", "#abc" },	      { "#ABCDEF", "#abcdef" }, { "#0a0B0c0D", "#0a0b0c0d" },
		{ "none", "none" },	      { "transparent", "transparent" },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		json_t *p = json_pack("{s:s, s:{s:s}}", "shape_id", "s", "style", "stroke", ok[i][0]);
		json_t *out = op_validate(OP_UPDATE_SHAPE, p, NULL);
		cr_assert_not_null(out, "%s", ok[i][0]);
		cr_assert_str_eq(json_string_value(json_object_get(json_object_get(out, "style"),
								   "stroke")),
				 ok[i][1]);
		json_decref(out);
		json_decref(p);
	}
	static const char *const bad[] = { "#ab", "#abcd", "#abcde", "#abcdefg", "#abcdefabc",
					   "#ggg", "abc",  "red",   "NONE",    "",
					   "#",	   " #abc" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *p = json_pack("{s:s, s:{s:s}}", "shape_id", "s", "style", "fill", bad[i]);
		expect_rejected_value(OP_UPDATE_SHAPE, p, "invalid_field",
				      "payload.style.fill: must be a colour: #rgb, #rrggbb, "
				      "#rrggbbaa, \"none\" or \"transparent\"");
		json_decref(p);
	}
}

Test(op, rejects_payloads_that_are_not_objects)
{
	expect_rejected(OP_MOVE_SHAPE, "[]", "invalid_field", "payload: must be an object");
	expect_rejected(OP_MOVE_SHAPE, "null", "invalid_field", "payload: must be an object");
	expect_rejected_value(OP_DELETE_SHAPE, NULL, "invalid_field", "payload: must be an object");
}

Test(op, rejects_an_unknown_op_type)
{
	json_t *p = parse("{\"shape_id\":\"s\"}");
	expect_rejected_value((enum op_type)99, p, "unknown_op_type",
			      "type: unknown operation type");
	json_decref(p);
}

Test(op, rejects_missing_and_malformed_shape_ids)
{
	expect_rejected(OP_DELETE_SHAPE, "{}", "missing_field", "payload.shape_id: required");
	static const char *const bad[] = {
		"{\"shape_id\":\"\"}",
		"{\"shape_id\":\"a b\"}",
		"{\"shape_id\":\"a/b\"}",
		"{\"shape_id\":\"\\u00e9\"}",
		"{\"shape_id\":\"a\\u0000b\"}",
		"{\"shape_id\":7}",
		"{\"shape_id\":null}",
		"{\"shape_id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_error_t jerr;
		json_t *p = json_loads(bad[i], JSON_ALLOW_NUL, &jerr);
		cr_assert_not_null(p, "%s", bad[i]);
		expect_rejected_value(OP_DELETE_SHAPE, p, "invalid_field",
				      "payload.shape_id: must be a string of 1 to 64 characters "
				      "from A-Z a-z 0-9 _ . : -");
		json_decref(p);
	}
	/* 64 bytes is the longest id. */
	expect_normalized(
		OP_DELETE_SHAPE,
		"{\"shape_id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
		"{\"shape_id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}");
}

Test(op, rejects_unknown_fields_and_fields_of_other_ops)
{
	expect_rejected(OP_CREATE_SHAPE,
			"{\"shape_id\":\"s\",\"kind\":\"rect\",\"x\":0,\"y\":0,\"colour\":1}",
			"unknown_field", "payload.colour: unknown field");
	expect_rejected(OP_CREATE_SHAPE, "{\"shape_id\":\"s\",\"id\":\"s\"}", "unknown_field",
			"payload.id: unknown field");
	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"x\":1}", "unknown_field",
			"payload.x: not allowed in update_shape (it takes shape_id, rotation, z, "
			"style, text, points, from, to)");
	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"kind\":\"rect\"}", "unknown_field",
			"payload.kind: not allowed in update_shape (it takes shape_id, rotation, z, "
			"style, text, points, from, to)");
	expect_rejected(OP_MOVE_SHAPE, "{\"shape_id\":\"s\",\"x\":1,\"y\":1,\"w\":1}",
			"unknown_field",
			"payload.w: not allowed in move_shape (it takes shape_id, x, y)");
	expect_rejected(OP_DELETE_SHAPE, "{\"shape_id\":\"s\",\"text\":\"\"}", "unknown_field",
			"payload.text: not allowed in delete_shape (it takes shape_id)");
	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"style\":{\"colour\":\"#fff\"}}",
			"unknown_field", "payload.style.colour: unknown field");
	/* Untrusted keys are echoed only as bounded printable ASCII. */
	expect_rejected(OP_MOVE_SHAPE, "{\"shape_id\":\"s\",\"\\n\\\"\\u00e9\":1}", "unknown_field",
			"payload.????: unknown field");
	expect_rejected(OP_MOVE_SHAPE,
			"{\"shape_id\":\"s\",\"0123456789012345678901234567890123456789012345\":1}",
			"unknown_field",
			"payload.01234567890123456789012345678901234567890123...: unknown field");
}

Test(op, rejects_missing_required_fields)
{
	expect_rejected(OP_CREATE_SHAPE, "{\"shape_id\":\"s\",\"x\":0,\"y\":0}", "missing_field",
			"payload.kind: required");
	expect_rejected(OP_CREATE_SHAPE, "{\"shape_id\":\"s\",\"kind\":\"rect\",\"x\":0}",
			"missing_field", "payload.y: required");
	expect_rejected(OP_MOVE_SHAPE, "{\"shape_id\":\"s\",\"y\":0}", "missing_field",
			"payload.x: required");
	expect_rejected(OP_RESIZE_SHAPE, "{\"shape_id\":\"s\",\"x\":0,\"y\":0,\"w\":1}",
			"missing_field", "payload.h: required");
	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\"}", "missing_field",
			"payload: update_shape must set at least one of rotation, z, style, text, "
			"points, from, to");
	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"style\":{}}", "missing_field",
			"payload.style: must set at least one of stroke, fill, width, opacity");
}

Test(op, rejects_wrong_types_and_out_of_range_numbers)
{
	static const char *const coords[] = { "\"1\"", "true", "null", "[1]", "{}",
					      "1000000000.5", "-1e10", "10000000000", "1e300" };
	for (size_t i = 0; i < sizeof(coords) / sizeof(coords[0]); i++) {
		char buf[128];
		snprintf(buf, sizeof(buf), "{\"shape_id\":\"s\",\"x\":%s,\"y\":0}", coords[i]);
		expect_rejected(OP_MOVE_SHAPE, buf, "invalid_field",
				"payload.x: must be a number between -1e9 and 1e9");
	}
	expect_rejected(OP_RESIZE_SHAPE, "{\"shape_id\":\"s\",\"x\":0,\"y\":0,\"w\":-1,\"h\":0}",
			"invalid_field", "payload.w: must be a number between 0 and 1e9");
	expect_rejected(OP_RESIZE_SHAPE, "{\"shape_id\":\"s\",\"x\":0,\"y\":0,\"w\":0,\"h\":-1e-9}",
			"invalid_field", "payload.h: must be a number between 0 and 1e9");
	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"rotation\":\"90deg\"}",
			"invalid_field", "payload.rotation: must be a number between -1e9 and 1e9");
	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"z\":2e9}", "invalid_field",
			"payload.z: must be a number between -1e9 and 1e9");
	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"style\":{\"opacity\":1.5}}",
			"invalid_field", "payload.style.opacity: must be a number between 0 and 1");
	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"style\":{\"opacity\":-0.1}}",
			"invalid_field", "payload.style.opacity: must be a number between 0 and 1");
	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"style\":{\"width\":1001}}",
			"invalid_field", "payload.style.width: must be a number between 0 and 1000");
	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"style\":\"red\"}", "invalid_field",
			"payload.style: must be an object");
	expect_rejected(OP_CREATE_SHAPE, "{\"shape_id\":\"s\",\"kind\":\"circle\",\"x\":0,\"y\":0}",
			"invalid_field",
			"payload.kind: must be one of rect, ellipse, line, arrow, text, sticky, "
			"path, connector");
	expect_rejected(OP_CREATE_SHAPE, "{\"shape_id\":\"s\",\"kind\":1,\"x\":0,\"y\":0}",
			"invalid_field",
			"payload.kind: must be one of rect, ellipse, line, arrow, text, sticky, "
			"path, connector");
	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"text\":5}", "invalid_field",
			"payload.text: must be a string");
	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"from\":\"no way\"}",
			"invalid_field",
			"payload.from: must be null or a shape id (a string of 1 to 64 characters "
			"from A-Z a-z 0-9 _ . : -)");
	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"to\":3}", "invalid_field",
			"payload.to: must be null or a shape id (a string of 1 to 64 characters "
			"from A-Z a-z 0-9 _ . : -)");
}

Test(op, rejects_the_largest_double_built_in_memory)
{
	/* jansson refuses to build a non-finite real (and to parse one), so the finiteness check
	 * is a second line of defence; the nearest a test can get is the largest finite double. */
	json_t *p = json_pack("{s:s, s:f, s:f}", "shape_id", "s", "x", 1.7976931348623157e308,
			      "y", 0.0);
	expect_rejected_value(OP_MOVE_SHAPE, p, "invalid_field",
			      "payload.x: must be a number between -1e9 and 1e9");
	json_decref(p);
}

Test(op, text_is_bounded_to_10000_bytes_of_valid_utf8)
{
	char *text = malloc(OP_TEXT_MAX_BYTES + 2);
	memset(text, 'a', OP_TEXT_MAX_BYTES + 1);
	text[OP_TEXT_MAX_BYTES + 1] = '\0';
	json_t *p = json_pack("{s:s, s:s}", "shape_id", "s", "text", text);
	expect_rejected_value(OP_UPDATE_SHAPE, p, "too_large",
			      "payload.text: longer than 10000 bytes");
	json_decref(p);
	text[OP_TEXT_MAX_BYTES] = '\0';
	p = json_pack("{s:s, s:s}", "shape_id", "s", "text", text);
	json_t *out = op_validate(OP_UPDATE_SHAPE, p, NULL);
	cr_assert_not_null(out, "exactly 10000 bytes is allowed");
	json_decref(out);
	json_decref(p);
	free(text);

	static const char *const bad[] = { "\xff", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
					   "ab\xe2\x82", "a\0b" };
	static const size_t bad_len[] = { 1, 2, 3, 4, 4, 3 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = json_object();
		json_object_set_new(p, "shape_id", json_string("s"));
		json_object_set_new(p, "text", json_stringn_nocheck(bad[i], bad_len[i]));
		expect_rejected_value(OP_UPDATE_SHAPE, p, "invalid_field",
				      "payload.text: must be valid UTF-8 without NUL characters");
		json_decref(p);
	}
	expect_normalized(OP_UPDATE_SHAPE,
			  "{\"shape_id\":\"s\",\"text\":\"\\u65e5\\ud83d\\ude00 \\\"q\\\"\"}",
			  "{\"shape_id\":\"s\",\"text\":\"\xe6\x97\xa5\xf0\x9f\x98\x80 \\\"q\\\"\"}");
}

Test(op, points_are_bounded_pairs_of_numbers)
{
	json_t *points = json_array();
	for (int i = 0; i < OP_POINTS_MAX; i++)
		json_array_append_new(points, json_pack("[i, f]", i, 0.5));
	json_t *p = json_pack("{s:s, s:O}", "shape_id", "s", "points", points);
	json_t *out = op_validate(OP_UPDATE_SHAPE, p, NULL);
	cr_assert_not_null(out, "exactly 10000 points is allowed");
	cr_assert_eq(json_array_size(json_object_get(out, "points")), OP_POINTS_MAX);
	json_decref(out);
	json_decref(p);
	json_array_append_new(points, json_pack("[i, i]", 1, 1));
	p = json_pack("{s:s, s:O}", "shape_id", "s", "points", points);
	expect_rejected_value(OP_UPDATE_SHAPE, p, "too_large", "payload.points: more than 10000 points");
	json_decref(p);
	json_decref(points);

	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"points\":{}}", "invalid_field",
			"payload.points: must be an array of [x, y] pairs");
	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"points\":[[1,2],[1,2,3]]}",
			"invalid_field", "payload.points[1]: must be an [x, y] pair");
	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"points\":[3]}", "invalid_field",
			"payload.points[0]: must be an [x, y] pair");
	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"points\":[[1,2],[1,\"2\"]]}",
			"invalid_field",
			"payload.points[1][1]: must be a number between -1e9 and 1e9");
	expect_rejected(OP_UPDATE_SHAPE, "{\"shape_id\":\"s\",\"points\":[[-2e9,0]]}",
			"invalid_field",
			"payload.points[0][0]: must be a number between -1e9 and 1e9");
}

Test(op, the_first_problem_is_reported_in_a_fixed_order)
{
	/* Unknown keys first, then the id, then fields in schema order. */
	expect_rejected(OP_CREATE_SHAPE, "{\"x\":\"bad\",\"zz\":1}", "unknown_field",
			"payload.zz: unknown field");
	expect_rejected(OP_CREATE_SHAPE, "{\"x\":\"bad\",\"shape_id\":\"\"}", "invalid_field",
			"payload.shape_id: must be a string of 1 to 64 characters from A-Z a-z "
			"0-9 _ . : -");
	expect_rejected(OP_CREATE_SHAPE, "{\"y\":\"bad\",\"x\":\"bad\",\"shape_id\":\"s\"}",
			"missing_field", "payload.kind: required");
	expect_rejected(OP_CREATE_SHAPE,
			"{\"y\":\"bad\",\"x\":\"bad\",\"shape_id\":\"s\",\"kind\":\"rect\"}",
			"invalid_field", "payload.x: must be a number between -1e9 and 1e9");
}

Test(op, normalization_is_idempotent_and_shares_nothing_with_the_input)
{
	json_t *p = parse("{\"shape_id\":\"s\",\"kind\":\"path\",\"x\":1,\"y\":2,"
			  "\"points\":[[1,2]],\"style\":{\"fill\":\"#ABC\"}}");
	json_t *once = op_validate(OP_CREATE_SHAPE, p, NULL);
	json_t *twice = op_validate(OP_CREATE_SHAPE, once, NULL);
	cr_assert(json_equal(once, twice));
	char *a = canon(once), *b = canon(twice);
	cr_assert_str_eq(a, b);
	free(a);
	free(b);
	json_array_clear(json_object_get(p, "points"));
	json_object_set_new(json_object_get(p, "style"), "fill", json_string("#000"));
	cr_assert_eq(json_array_size(json_object_get(once, "points")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(once, "style"), "fill")),
			 "#abc");
	json_decref(once);
	json_decref(twice);
	json_decref(p);
}

Test(op, validates_stored_shapes_with_id_instead_of_shape_id)
{
	json_t *s = parse("{\"id\":\"s\",\"kind\":\"text\",\"x\":0,\"y\":0,\"text\":\"hi\"}");
	json_t *out = op_validate_shape(s, "shapes.s", NULL);
	cr_assert_not_null(out);
	cr_assert_str_eq(json_string_value(json_object_get(out, "id")), "s");
	cr_assert_null(json_object_get(out, "shape_id"));
	cr_assert_eq(json_object_size(out), 13, "a stored shape is complete");
	json_decref(out);
	json_decref(s);

	struct op_error err;
	s = parse("{\"shape_id\":\"s\",\"kind\":\"text\",\"x\":0,\"y\":0}");
	cr_assert_null(op_validate_shape(s, "shapes.s", &err));
	cr_assert_str_eq(err.code, "unknown_field");
	cr_assert_str_eq(err.detail, "shapes.s.shape_id: unknown field");
	json_decref(s);
}

Test(op, unpacks_op_objects)
{
	enum op_type type;
	const json_t *payload;
	struct op_error err;
	json_t *op = parse("{\"type\":\"move_shape\",\"payload\":{\"shape_id\":\"s\"},"
			   "\"client_op_id\":\"x\"}");
	cr_assert(op_unpack(op, &type, &payload, &err));
	cr_assert_eq(type, OP_MOVE_SHAPE);
	cr_assert_eq(payload, json_object_get(op, "payload"));
	json_decref(op);

	static const char *const bad[][3] = {
		{ "[]", "invalid_field", "op: must be an object with type and payload" },
		{ "{\"payload\":{}}", "missing_field", "type: required" },
		{ "{\"type\":1,\"payload\":{}}", "invalid_field", "type: must be a string" },
		{ "{\"type\":\"rotate\",\"payload\":{}}", "unknown_op_type",
		  "type: unknown operation type \"rotate\"" },
		{ "{\"type\":\"move_shape\"}", "missing_field", "payload: required" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		op = parse(bad[i][0]);
		cr_assert_not(op_unpack(op, &type, &payload, &err), "%s", bad[i][0]);
		cr_assert_str_eq(err.code, bad[i][1]);
		cr_assert_str_eq(err.detail, bad[i][2]);
		json_decref(op);
	}
}

Test(op, make_builds_a_type_and_payload_object)
{
	json_t *op = op_make(OP_DELETE_SHAPE, json_pack("{s:s}", "shape_id", "s"));
	char *s = canon(op);
	cr_assert_str_eq(s, "{\"payload\":{\"shape_id\":\"s\"},\"type\":\"delete_shape\"}");
	free(s);
	json_decref(op);
}
