#include "codec/bus_message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/strbuf.h"

static char *encode(json_t *msg, size_t *len)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	*len = text ? strlen(text) : 0;
	return text;
}

char *bus_message_encode_ops(const char *node, long long ts_us, json_t *ops, size_t *len)
{
	return encode(json_pack("{s:s, s:s, s:I, s:O}", "t", "ops", "n", node, "ts",
				(json_int_t)ts_us, "ops", ops),
		      len);
}

char *bus_message_encode_op_texts(const char *node, long long ts_us, const char *const *ops,
				  size_t count, size_t *len)
{
	json_t *n = json_string(node);
	char *node_text = n ? json_dumps(n, JSON_ENCODE_ANY) : NULL;
	json_decref(n);
	if (!node_text) {
		*len = 0;
		return NULL;
	}
	struct strbuf b = { 0 };
	strbuf_printf(&b, "{\"t\":\"ops\",\"n\":%s,\"ts\":%lld,\"ops\":[", node_text, ts_us);
	for (size_t i = 0; i < count; i++) {
		if (i)
			strbuf_putc(&b, ',');
		strbuf_puts(&b, ops[i]);
	}
	strbuf_puts(&b, "]}");
	free(node_text);
	*len = b.len;
	return b.data;
}

char *bus_message_encode_comments(const char *node, long long ts_us, json_t *events, size_t *len)
{
	return encode(json_pack("{s:s, s:s, s:I, s:O}", "t", "comments", "n", node, "ts",
				(json_int_t)ts_us, "ev", events),
		      len);
}

char *bus_message_encode_relay(const char *node, json_t *msg, size_t *len)
{
	return encode(json_pack("{s:s, s:s, s:O}", "t", "relay", "n", node, "m", msg), len);
}

char *bus_message_encode_access(const char *node, const struct access_change *changes,
				size_t count, size_t *len)
{
	*len = 0;
	if (count == 0 || count > BUS_MESSAGE_ACCESS_MAX)
		return NULL;
	json_t *list = json_array();
	for (size_t i = 0; i < count; i++)
		json_array_append_new(list, access_change_to_json(&changes[i]));
	return encode(json_pack("{s:s, s:s, s:o}", "t", "access", "n", node, "a", list), len);
}

static bool decode_access(json_t *root, struct bus_message *out)
{
	json_t *list = json_object_get(root, "a");
	size_t n = json_array_size(list);
	if (!json_is_array(list) || n == 0 || n > BUS_MESSAGE_ACCESS_MAX)
		return false;
	out->access = xcalloc(n, sizeof(*out->access));
	for (size_t i = 0; i < n; i++)
		if (!access_change_from_json(json_array_get(list, i), &out->access[i]))
			return false;
	out->access_count = n;
	return true;
}

bool bus_message_decode(const char *data, size_t len, struct bus_message *out)
{
	memset(out, 0, sizeof(*out));
	out->ts_us = -1;
	json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
	const char *t = json_string_value(json_object_get(root, "t"));
	const char *n = json_string_value(json_object_get(root, "n"));
	if (!t || !n || !*n)
		goto fail;
	out->node = n;
	if (!strcmp(t, "ops")) {
		out->type = BUS_MESSAGE_OPS;
		out->ops = json_object_get(root, "ops");
		if (!json_is_array(out->ops))
			goto fail;
		json_t *ts = json_object_get(root, "ts");
		if (json_is_integer(ts))
			out->ts_us = (long long)json_integer_value(ts);
	} else if (!strcmp(t, "comments")) {
		out->type = BUS_MESSAGE_COMMENTS;
		out->events = json_object_get(root, "ev");
		if (!json_is_array(out->events))
			goto fail;
		json_t *ts = json_object_get(root, "ts");
		if (json_is_integer(ts))
			out->ts_us = (long long)json_integer_value(ts);
	} else if (!strcmp(t, "access")) {
		out->type = BUS_MESSAGE_ACCESS;
		if (!decode_access(root, out))
			goto fail;
	} else if (!strcmp(t, "relay")) {
		out->type = BUS_MESSAGE_RELAY;
		out->relay = json_object_get(root, "m");
		if (!json_is_object(out->relay))
			goto fail;
	} else {
		goto fail;
	}
	out->root = root;
	return true;
fail:
	json_decref(root);
	free(out->access);
	memset(out, 0, sizeof(*out));
	return false;
}

void bus_message_free(struct bus_message *m)
{
	json_decref(m->root);
	free(m->access);
	memset(m, 0, sizeof(*m));
}
