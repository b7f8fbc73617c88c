/*
 * Canvas operations and the shape schema they carry: op type names, and validation of
 * untrusted payloads into the one normalized form that is committed, stored and replayed.
 * docs/canvas-model.md is the full specification (fields, bounds, defaults, error codes).
 *
 * Normalization makes equal payloads byte-equal: every number becomes a JSON real (1 and 1.0
 * are the same, -0 becomes 0), hex colours are lower-cased, and a create_shape payload gets
 * every omitted optional field filled with its default. Validating a normalized payload
 * returns an equal payload (normalization is idempotent).
 *
 * Ownership: validation never keeps or modifies its input. It returns a new reference that
 * the caller owns (json_decref), built from fresh values that share nothing with the input,
 * or NULL with *err filled in. err may be NULL when the caller only needs yes or no.
 */
#ifndef FLOWSTATE_OP_H
#define FLOWSTATE_OP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum op_type {
	OP_CREATE_SHAPE,
	OP_MOVE_SHAPE,
	OP_RESIZE_SHAPE,
	OP_UPDATE_SHAPE,
	OP_DELETE_SHAPE,
};
#define OP_TYPE_COUNT 5

/* Bounds of the schema (inclusive). */
#define OP_ID_MAX_BYTES 64
#define OP_TEXT_MAX_BYTES 10000
#define OP_POINTS_MAX 10000
#define OP_COORD_MAX 1e9
#define OP_STROKE_WIDTH_MAX 1000.0

/*
 * A rejection: code is a stable identifier for clients (unknown_op_type, invalid_field,
 * missing_field, unknown_field, too_large), detail names the offending field by its path
 * ("payload.style.opacity: must be a number between 0 and 1").
 */
struct op_error {
	char code[32];
	char detail[256];
};

/* Sets *err (when err is not NULL): a code and a printf-formatted detail. */
void op_error_set(struct op_error *err, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Maps "create_shape" ... "delete_shape" to the enum; false (and *out untouched) otherwise. */
bool op_type_parse(const char *name, enum op_type *out) __attribute__((warn_unused_result));
/* The wire name of a type; "unknown" for a value outside the enum. */
const char *op_type_name(enum op_type type);

/*
 * Validates the payload of an op of the given type and returns its normalized form, or NULL
 * with *err set. A create_shape payload comes back as a complete shape (with shape_id for id).
 */
json_t *op_validate(enum op_type type, const json_t *payload, struct op_error *err)
	__attribute__((warn_unused_result));

/*
 * Validates one stored shape (as in a snapshot: {"id", "kind", ...}) and returns its complete
 * normalized form, or NULL with *err set. path prefixes the field names in err->detail.
 */
json_t *op_validate_shape(const json_t *shape, const char *path, struct op_error *err)
	__attribute__((warn_unused_result));

/* True if s (len bytes) is a well-formed shape id: 1..64 bytes of [A-Za-z0-9_.:-]. */
bool op_shape_id_valid(const char *s, size_t len);

/* The shape_id of a payload (borrowed), or NULL if it has none. */
const char *op_payload_shape_id(const json_t *payload);

/*
 * Reads an op object {"type": name, "payload": {...}} (other members, such as client_op_id,
 * are the caller's business). *payload is borrowed from op and NOT validated yet.
 */
bool op_unpack(const json_t *op, enum op_type *type, const json_t **payload,
	       struct op_error *err) __attribute__((warn_unused_result));

/* Builds {"type": name, "payload": payload}, taking ownership of payload. */
json_t *op_make(enum op_type type, json_t *payload);

#endif
