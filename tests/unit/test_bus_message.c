/* The Redis bus message format (common/codec/bus_message.h): one encoder, one decoder. */
#include <criterion/criterion.h>
#include <string.h>

#include "codec/bus_message.h"

Test(bus_message, an_ops_batch_round_trips)
{
	json_t *ops = json_pack("[{s:I, s:s}, {s:I, s:s}]", "version", (json_int_t)7, "type",
				"create_shape", "version", (json_int_t)8, "type", "move_shape");
	size_t len;
	char *text = bus_message_encode_ops("node-a", 1234567, ops, &len);
	cr_assert_eq(len, strlen(text));
	struct bus_message m;
	cr_assert(bus_message_decode(text, len, &m));
	cr_assert_eq(m.type, BUS_MESSAGE_OPS);
	cr_assert_str_eq(m.node, "node-a");
	cr_assert_eq(m.ts_us, 1234567);
	cr_assert(json_equal(m.ops, ops));
	bus_message_free(&m);
	free(text);
	json_decref(ops);
}

Test(bus_message, a_relay_round_trips)
{
	json_t *msg = json_pack("{s:s, s:f, s:f}", "type", "cursor", "x", 1.5, "y", -2.0);
	size_t len;
	char *text = bus_message_encode_relay("n2", msg, &len);
	struct bus_message m;
	cr_assert(bus_message_decode(text, len, &m));
	cr_assert_eq(m.type, BUS_MESSAGE_RELAY);
	cr_assert_str_eq(m.node, "n2");
	cr_assert(json_equal(m.relay, msg));
	bus_message_free(&m);
	free(text);
	json_decref(msg);
}

Test(bus_message, malformed_or_unknown_messages_are_refused)
{
	const char *bad[] = {
		"", "not json", "[]", "{}", "{\"t\":\"ops\"}",
		"{\"t\":\"ops\",\"n\":\"a\"}",                  /* no ops */
		"{\"t\":\"ops\",\"n\":\"a\",\"ops\":{}}",       /* ops not an array */
		"{\"t\":\"ops\",\"n\":\"\",\"ops\":[]}",        /* empty node */
		"{\"t\":\"relay\",\"n\":\"a\",\"m\":[1]}",      /* relay not an object */
		"{\"t\":\"gossip\",\"n\":\"a\"}",               /* unknown type */
		"{\"t\":\"ops\",\"t\":\"relay\",\"n\":\"a\",\"ops\":[]}", /* duplicate key */
		"{\"t\":7,\"n\":\"a\",\"ops\":[]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bus_message m;
		cr_assert_not(bus_message_decode(bad[i], strlen(bad[i]), &m), "accepted: %s",
			      bad[i]);
		cr_assert_null(m.root);
	}
}

Test(bus_message, a_missing_timestamp_is_reported_as_unknown)
{
	const char *text = "{\"t\":\"ops\",\"n\":\"a\",\"ops\":[]}";
	struct bus_message m;
	cr_assert(bus_message_decode(text, strlen(text), &m));
	cr_assert_eq(m.ts_us, -1);
	bus_message_free(&m);
}

Test(bus_message, ops_encoded_from_their_texts_decode_like_ops_encoded_whole)
{
	const char *texts[] = { "{\"version\":7,\"type\":\"create_shape\",\"payload\":{\"x\":1.5}}",
				"{\"version\":8,\"type\":\"move_shape\",\"payload\":{}}" };
	size_t len;
	char *text = bus_message_encode_op_texts("n\"1", 42, texts, 2, &len);
	cr_assert_eq(len, strlen(text));
	struct bus_message m;
	cr_assert(bus_message_decode(text, len, &m), "%s", text);
	cr_assert_eq(m.type, BUS_MESSAGE_OPS);
	cr_assert_str_eq(m.node, "n\"1", "the node id is escaped");
	cr_assert_eq(m.ts_us, 42);
	json_t *expected = json_pack("[{s:i, s:s, s:{s:f}}, {s:i, s:s, s:{}}]", "version", 7,
				     "type", "create_shape", "payload", "x", 1.5, "version", 8, "type",
				     "move_shape", "payload");
	cr_assert(json_equal(m.ops, expected));
	json_decref(expected);
	bus_message_free(&m);
	free(text);
	char *empty = bus_message_encode_op_texts("n", 1, NULL, 0, &len);
	cr_assert(bus_message_decode(empty, len, &m));
	cr_assert_eq(json_array_size(m.ops), 0);
	bus_message_free(&m);
	free(empty);
}

Test(bus_message, access_changes_round_trip_and_are_validated)
{
	struct access_change changes[3];
	cr_assert(access_change_make(&changes[0], "role", "7B1D2C3E-0000-4000-8000-00000000000A",
				     NULL, "7b1d2c3e-0000-4000-8000-00000000000b"));
	cr_assert(access_change_make(&changes[1], "canvas_deleted",
				     "7b1d2c3e-0000-4000-8000-00000000000a",
				     "7b1d2c3e-0000-4000-8000-00000000000c", ""));
	cr_assert(access_change_make(&changes[2], "workspace_deleted",
				     "7b1d2c3e-0000-4000-8000-00000000000a", NULL, NULL));
	size_t len;
	char *text = bus_message_encode_access("n3", changes, 3, &len);
	struct bus_message m;
	cr_assert(bus_message_decode(text, len, &m));
	cr_assert_eq(m.type, BUS_MESSAGE_ACCESS);
	cr_assert_eq(m.access_count, 3);
	cr_assert_eq(memcmp(m.access, changes, sizeof(changes)), 0);
	cr_assert_str_eq(m.access[0].workspace_id, "7b1d2c3e-0000-4000-8000-00000000000a");
	bus_message_free(&m);
	free(text);
	cr_assert_null(bus_message_encode_access("n3", changes, 0, &len));
}

Test(bus_message, malformed_access_messages_are_refused)
{
	const char *bad[] = {
		"{\"t\":\"access\",\"n\":\"a\"}",
		"{\"t\":\"access\",\"n\":\"a\",\"a\":[]}",
		"{\"t\":\"access\",\"n\":\"a\",\"a\":[{\"kind\":\"role\"}]}",
		"{\"t\":\"access\",\"n\":\"a\",\"a\":[{\"kind\":\"role\",\"workspace_id\":"
		"\"7b1d2c3e-0000-4000-8000-00000000000a\"}]}", /* no user */
		"{\"t\":\"access\",\"n\":\"a\",\"a\":[{\"kind\":\"root\",\"workspace_id\":"
		"\"7b1d2c3e-0000-4000-8000-00000000000a\"}]}",
		"{\"t\":\"access\",\"n\":\"a\",\"a\":[{\"kind\":\"workspace_deleted\","
		"\"workspace_id\":\"nope\"}]}",
		"{\"t\":\"access\",\"n\":\"a\",\"a\":[{\"kind\":\"workspace_deleted\","
		"\"workspace_id\":\"7b1d2c3e-0000-4000-8000-00000000000a\",\"x\":\"y\"}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bus_message m;
		cr_assert_not(bus_message_decode(bad[i], strlen(bad[i]), &m), "accepted: %s",
			      bad[i]);
		cr_assert_null(m.root);
		cr_assert_null(m.access);
	}
}

Test(bus_message, comment_events_round_trip)
{
	json_t *events = json_pack("[{s:I, s:s}, {s:I, s:s}]", "seq", (json_int_t)4, "action",
				   "created", "seq", (json_int_t)5, "action", "deleted");
	size_t len;
	char *text = bus_message_encode_comments("n1", 42, events, &len);
	struct bus_message m;
	cr_assert(bus_message_decode(text, len, &m));
	cr_assert_eq(m.type, BUS_MESSAGE_COMMENTS);
	cr_assert_eq(m.ts_us, 42);
	cr_assert(json_equal(m.events, events));
	bus_message_free(&m);
	free(text);
	json_decref(events);
	const char *bad = "{\"t\":\"comments\",\"n\":\"a\",\"ev\":{}}";
	cr_assert_not(bus_message_decode(bad, strlen(bad), &m));
}
