/*
 * The canvas model: a set of shapes keyed by id, the deterministic reducer that applies ops
 * to it, its canonical serialization and hash, and diffs between two states (as data and as
 * the ops that turn one state into the other). docs/canvas-model.md specifies the semantics.
 *
 * The reducer is total: canvas_apply accepts any op sequence. An op on a missing shape, or
 * one whose payload does not validate, is a no-op; a second create of an id replaces the
 * shape; update_shape merges only the properties it carries (style key by key). So
 * state(v) = reduce(snapshot(s), ops s+1..v) = reduce(empty, ops 1..v).
 *
 * Ownership: a canvas_state owns its shapes. Shapes inside a state are never modified in
 * place (an op builds a new shape), which lets clones share them; so everything a function
 * here returns as `const json_t *` is a read-only view, valid until the state is next
 * modified or freed. Functions returning `json_t *` return new references the caller owns,
 * deep copies that share nothing with any state. Strings returned as `char *` are freed with
 * free(). A clone may be read on another thread while the original keeps changing: they share
 * only immutable shapes, and jansson's reference counts are atomic.
 */
#ifndef FLOWSTATE_CANVAS_H
#define FLOWSTATE_CANVAS_H

#include "model/op.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct canvas_state;

struct canvas_state *canvas_state_new(void);
void canvas_state_free(struct canvas_state *state);
/* O(number of shapes): the shapes themselves are shared, see above. */
struct canvas_state *canvas_state_clone(const struct canvas_state *state);

/*
 * Loads a state from its JSON form {id: shape} (a snapshot, or canvas_state_to_json output),
 * validating and normalizing every shape; each key must equal its shape's id. NULL with *err
 * set if anything is invalid.
 */
struct canvas_state *canvas_state_from_json(const json_t *shapes, struct op_error *err)
	__attribute__((warn_unused_result));
/* The state as {id: shape}; a deep copy the caller owns. */
json_t *canvas_state_to_json(const struct canvas_state *state);
/* The same, borrowed and read-only (no copy). */
const json_t *canvas_state_shapes(const struct canvas_state *state);

/*
 * Canonical form: compact JSON, keys sorted bytewise, numbers as jansson prints a double
 * (%.17g, always with a '.' or an exponent), UTF-8 unescaped. Two states are equal iff their
 * serializations are byte-equal. *len (if not NULL) gets the length without the NUL.
 */
char *canvas_state_serialize(const struct canvas_state *state, size_t *len);

/*
 * The form canvas_state_serialize writes, as snapshots record it (snapshots.format): a stored
 * snapshot of this form may be sent as the state it is, without being parsed and rebuilt.
 * Bump it whenever the form changes in a way a reader of a state would see.
 */
#define CANVAS_STATE_FORMAT 1

#define CANVAS_HASH_HEX_LEN 64
/* Lower-case hex SHA-256 of the canonical form. */
void canvas_state_hash(const struct canvas_state *state, char out[CANVAS_HASH_HEX_LEN + 1]);

bool canvas_state_equal(const struct canvas_state *a, const struct canvas_state *b);

size_t canvas_shape_count(const struct canvas_state *state);
/* The shape with this id (read-only view), or NULL. */
const json_t *canvas_shape_get(const struct canvas_state *state, const char *id);

/*
 * The reducer. Validates the payload itself (so any input is safe) and applies it. Returns
 * true if a shape was created, replaced, changed or deleted; false for a no-op (missing shape
 * or invalid payload). "Changed" includes setting a property to the value it already had.
 */
bool canvas_apply(struct canvas_state *state, enum op_type type, const json_t *payload);
/* canvas_apply for an op object {"type", "payload"}. */
bool canvas_apply_op(struct canvas_state *state, const json_t *op);

/*
 * The reducer on one shape: shape is what the state holds under the payload's shape_id (NULL
 * if nothing). Returns the shape after the op (NULL if none), as a new reference that may
 * share values with shape; treat both as read-only. An invalid payload leaves shape as is.
 */
json_t *canvas_shape_apply(const json_t *shape, enum op_type type, const json_t *payload);

/*
 * The properties of a shape as diff and undo see them: each one is set and compared as a
 * unit. Style is split per key ("style.fill") because update_shape merges it per key.
 */
#define CANVAS_PROPERTY_COUNT 14
extern const char *const canvas_properties[CANVAS_PROPERTY_COUNT];
/* The value of property path ("x", "style.fill", and also "kind" and "id"), or NULL. */
const json_t *canvas_shape_property(const json_t *shape, const char *path);

/*
 * {"added": {id: shape}, "removed": {id: shape}, "modified": {id: {"before", "after"}}}:
 * what changed from a to b.
 */
json_t *canvas_diff(const struct canvas_state *a, const struct canvas_state *b);

/*
 * An array of ops {"type", "payload"} (normalized, valid) that turns a into b when applied
 * in order, ids in ascending order: delete_shape for a removed shape, create_shape for an
 * added one or one whose kind changed (a create replaces), and for any other modified shape
 * at most one geometry op (resize_shape if w or h changed, else move_shape if x or y did)
 * plus at most one update_shape carrying exactly the changed properties.
 */
json_t *canvas_diff_ops(const struct canvas_state *a, const struct canvas_state *b);
/* The same for one shape (from/to may be NULL for absent); appends to the ops array. */
void canvas_shape_diff_ops(const json_t *from, const json_t *to, json_t *ops);

#endif
