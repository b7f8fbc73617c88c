/*
 * libFuzzer target for the Redis bus message format: bytes from Redis are untrusted like any
 * other input. Every input is decoded; whatever decodes must re-encode and decode back to an
 * equal message (the encoder and decoder agree), and nothing may crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/bus_message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bus_message m;
	if (!bus_message_decode((const char *)data, size, &m)) {
		check(m.root == NULL);
		return 0;
	}
	check(m.node != NULL && m.node[0] != '\0');
	size_t len;
	char *text = NULL;
	switch (m.type) {
	case BUS_MESSAGE_OPS:
		text = bus_message_encode_ops(m.node, m.ts_us, m.ops, &len);
		break;
	case BUS_MESSAGE_RELAY:
		text = bus_message_encode_relay(m.node, m.relay, &len);
		break;
	case BUS_MESSAGE_COMMENTS:
		text = bus_message_encode_comments(m.node, m.ts_us, m.events, &len);
		break;
	case BUS_MESSAGE_ACCESS:
		check(m.access_count >= 1 && m.access_count <= BUS_MESSAGE_ACCESS_MAX);
		text = bus_message_encode_access(m.node, m.access, m.access_count, &len);
		break;
	}
	check(text != NULL);
	struct bus_message again;
	check(bus_message_decode(text, len, &again));
	check(again.type == m.type && !strcmp(again.node, m.node));
	if (m.type == BUS_MESSAGE_OPS)
		check(json_equal(again.ops, m.ops) && again.ts_us == m.ts_us);
	else if (m.type == BUS_MESSAGE_RELAY)
		check(json_equal(again.relay, m.relay));
	else if (m.type == BUS_MESSAGE_COMMENTS)
		check(json_equal(again.events, m.events) && again.ts_us == m.ts_us);
	else
		check(again.access_count == m.access_count &&
		      !memcmp(again.access, m.access, m.access_count * sizeof(*m.access)));
	bus_message_free(&again);
	free(text);
	bus_message_free(&m);
	return 0;
}
