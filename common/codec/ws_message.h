/*
 * WebSocket client messages, pure (no sockets): parses and validates one text message into a
 * typed struct, so the session code only dispatches and the rules can be unit-tested and
 * fuzzed. docs/protocol.md ("Client → server") is the specification.
 *
 * A message is a JSON object (duplicate keys refused, nesting bounded by jansson's
 * JSON_PARSER_MAX_DEPTH, 2048 in Debian's 2.14) with a string "type":
 *   operation   {type, op_type, payload, client_op_id}             one op
 *   operations  {type, ops: [{op_type, payload, client_op_id}, ...]}  1..max_ops ops
 *   undo, redo, ping                                               {type} only
 *   cursor      exactly {type, x, y}, finite numbers, |v| <= coord_max
 *   stroke      {type, stroke_id, points: [[x, y], ...] (<= max_stroke_points), done?}
 *   selection   exactly {type, shape_ids: [shape id, ...]}: <= max_selection distinct valid
 *               shape ids ([] clears the selection)
 * Every type has a fixed set of members: any other member is refused (unknown_field, naming
 * it), before the values are looked at.
 * Op payloads go through op_validate() and come back normalized. Error codes and details are
 * the ones clients already see (malformed_json, invalid_message, unknown_type, unknown_field,
 * missing_field, invalid_field, too_many_ops, unknown_op_type, and op_validate's own), and
 * every detail is valid UTF-8, so it can always be put in a JSON string.
 *
 * Ownership: ws_message_parse() never keeps the text. Everything a parsed message points to
 * (op payloads, the op and error arrays, stroke points) is owned by the message and shares
 * nothing with the input; ws_message_free() releases all of it. The caller may steal a
 * payload by setting the pointer to NULL before freeing.
 */
#ifndef FLOWSTATE_WS_MESSAGE_H
#define FLOWSTATE_WS_MESSAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "model/op.h"

/* The protocol's default bounds (FLOWSTATE_WS_MAX_OPS_PER_MESSAGE is configurable). */
#define WS_MESSAGE_MAX_OPS_DEFAULT 64
#define WS_MESSAGE_MAX_STROKE_POINTS 512
#define WS_MESSAGE_MAX_SELECTION 256
#define WS_MESSAGE_COORD_MAX 1e9

/* Buffer sizes: a canonical UUID plus NUL (and slack), a stroke id (<= 64 bytes) plus NUL. */
#define WS_MESSAGE_OP_ID_SIZE 40
#define WS_MESSAGE_STROKE_ID_SIZE 72

enum ws_msg_type {
	WS_MSG_INVALID,    /* not JSON, or not an object with a string "type" */
	WS_MSG_UNKNOWN,    /* a string "type" this protocol does not have */
	WS_MSG_OPERATIONS, /* "operation" or "operations" (see batch) */
	WS_MSG_UNDO,
	WS_MSG_REDO,
	WS_MSG_CURSOR,
	WS_MSG_STROKE,
	WS_MSG_PING,
	WS_MSG_SELECTION,
};

struct ws_msg_op {
	char client_op_id[WS_MESSAGE_OP_ID_SIZE]; /* a validated UUID, as the client spelled it */
	enum op_type type;
	json_t *payload; /* normalized by op_validate(), owned */
};

/* A refusal: of a whole message, or of one entry of a batch. */
struct ws_msg_error {
	char client_op_id[WS_MESSAGE_OP_ID_SIZE]; /* "" when unknown or not a UUID */
	char code[32];
	char detail[256];
};

struct ws_message {
	enum ws_msg_type type;
	bool batch; /* "operations" (true) or "operation" */
	/* operation(s): the valid ops in message order, and the refused entries of a batch */
	struct ws_msg_op *ops;
	size_t op_count;
	struct ws_msg_error *op_errors;
	size_t op_error_count;
	/* cursor */
	double x, y;
	/* stroke */
	char stroke_id[WS_MESSAGE_STROKE_ID_SIZE];
	json_t *points; /* a copy of the validated [[x, y], ...], owned */
	bool done;
	/* selection */
	json_t *shape_ids; /* a copy of the validated [id, ...], owned */
};

struct ws_message_limits {
	size_t max_ops;           /* entries of an "operations" message */
	size_t max_stroke_points; /* points of a "stroke" message */
	double coord_max;         /* bound on |x| and |y| of cursors and stroke points */
	size_t max_selection;     /* shape ids of a "selection" message */
};

/*
 * Parses one text message of len bytes (need not be NUL-terminated) into *out.
 *
 * false: the whole message is refused and *err says why (client_op_id set when the refused
 * message is one op with a valid UUID). out->type and out->batch still say what the message
 * claimed to be (WS_MSG_INVALID when that is not known), so the caller can keep its own
 * precedence rules (not_ready before sync, forbidden for viewers); nothing else in *out is set
 * and nothing needs freeing, though ws_message_free() is harmless.
 *
 * true: *out holds the message and err is cleared. A batch with some invalid entries is
 * accepted: each one is in op_errors (in message order) and the valid ones in ops, to be
 * committed; op_count may be 0. Call ws_message_free() when done.
 */
bool ws_message_parse(const char *text, size_t len, const struct ws_message_limits *limits,
		      struct ws_message *out, struct ws_msg_error *err)
	__attribute__((warn_unused_result));

/* Releases everything *m owns and zeroes it; safe on a zeroed or failed message, and twice. */
void ws_message_free(struct ws_message *m);

/* The protocol name of a type ("operation" or "operations" for WS_MSG_OPERATIONS; "unknown"
 * for a type the protocol does not have, "invalid" for no type at all): static strings, never
 * the client's own spelling, so they are safe as metrics labels. */
const char *ws_message_type_name(enum ws_msg_type type, bool batch);
/* Every name ws_message_type_name can return (count in *n). */
const char *const *ws_message_type_names(size_t *n);

#endif
