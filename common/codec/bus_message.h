/*
 * The Redis bus message format: one encoder and one decoder for everything nodes tell each
 * other on a canvas channel (fs:canvas:<id>). JSON objects:
 *
 *   {"t":"ops",   "n":<node id>, "ts":<publish time, Unix µs>, "ops":[<operation>, ...]}
 *   {"t":"relay", "n":<node id>, "m":<client message: cursor, stroke, presence_join, ...>}
 *   {"t":"comments", "n":<node id>, "ts":<µs>, "ev":[<comment event>, ...]}
 *   {"t":"access","n":<node id>, "a":[<access change>, ...]}   on the all-nodes channel
 *
 * An access change is {kind, workspace_id, canvas_id?, user_id?} (model/access.h); a message
 * carries 1..BUS_MESSAGE_ACCESS_MAX of them, each validated by the decoder.
 * "n" lets a node skip its own messages (it delivered them already); "ts" measures delivery
 * lag on the receiving node. Pure, and fuzzed: bytes from Redis are untrusted like any input.
 *
 * Ownership: encoders return a fresh NUL-terminated string (free()). A decoded message holds a
 * reference to the parsed document; its pointers borrow from it until bus_message_free().
 */
#ifndef FLOWSTATE_CODEC_BUS_MESSAGE_H
#define FLOWSTATE_CODEC_BUS_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "model/access.h"

#define BUS_MESSAGE_ACCESS_MAX 64

enum bus_message_type {
	BUS_MESSAGE_OPS,     /* a committed batch */
	BUS_MESSAGE_RELAY,   /* a transient client message for the canvas's sessions */
	BUS_MESSAGE_ACCESS,  /* access changes (all-nodes channel) */
	BUS_MESSAGE_COMMENTS, /* committed comment events ({seq, ...}, schema/022) */
};

struct bus_message {
	enum bus_message_type type;
	const char *node;        /* sender's node id */
	long long ts_us;         /* ops, comments: publish time (-1 when absent) */
	json_t *ops;             /* ops: array of operation objects (borrowed) */
	json_t *events;          /* comments: array of event objects (borrowed) */
	json_t *relay;           /* relay: the message object (borrowed) */
	struct access_change *access;   /* access: the changes (owned) */
	size_t access_count;
	json_t *root;            /* owned */
};

/* ops is borrowed. *len gets the length. */
char *bus_message_encode_ops(const char *node, long long ts_us, json_t *ops, size_t *len);
/* The same message from operations already serialized (each one a JSON object): the write
 * path has every committed op as text once, and encodes none twice. */
char *bus_message_encode_op_texts(const char *node, long long ts_us, const char *const *ops,
				  size_t count, size_t *len);
/* events is borrowed. */
char *bus_message_encode_comments(const char *node, long long ts_us, json_t *events, size_t *len);
/* msg is borrowed. */
char *bus_message_encode_relay(const char *node, json_t *msg, size_t *len);

/* 1..BUS_MESSAGE_ACCESS_MAX changes (NULL when count is out of range). */
char *bus_message_encode_access(const char *node, const struct access_change *changes,
				size_t count, size_t *len);

/* false (out->root NULL) for anything but a well-formed message of a known type. */
bool bus_message_decode(const char *data, size_t len, struct bus_message *out)
	__attribute__((warn_unused_result));
void bus_message_free(struct bus_message *m);

#endif
