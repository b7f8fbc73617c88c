#include "model/canvas.h"

#include "base/alloc.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct canvas_state {
	/* id -> shape. Shapes are immutable once stored, so clones share them. */
	json_t *shapes;
};

const char *const canvas_properties[CANVAS_PROPERTY_COUNT] = {
	"x", "y", "w", "h", "rotation", "z",
	"style.stroke", "style.fill", "style.width", "style.opacity",
	"text", "points", "from", "to",
};

/* The properties update_shape sets as a whole (style is merged per key, separately). */
static const char *const update_properties[] = { "rotation", "z", "text", "points", "from", "to" };
static const char *const style_keys[] = { "stroke", "fill", "width", "opacity" };

#define CANONICAL_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)

struct canvas_state *canvas_state_new(void)
{
	struct canvas_state *state = xmalloc(sizeof(*state));
	state->shapes = json_object();
	return state;
}

void canvas_state_free(struct canvas_state *state)
{
	if (!state)
		return;
	json_decref(state->shapes);
	free(state);
}

struct canvas_state *canvas_state_clone(const struct canvas_state *state)
{
	struct canvas_state *copy = xmalloc(sizeof(*copy));
	/* json_copy of an object is shallow: the new object references the same shapes. */
	copy->shapes = json_copy(state->shapes);
	return copy;
}

struct canvas_state *canvas_state_from_json(const json_t *shapes, struct op_error *err)
{
	if (!json_is_object(shapes)) {
		op_error_set(err, "invalid_field", "shapes: must be an object {id: shape}");
		return NULL;
	}
	struct canvas_state *state = canvas_state_new();
	const char *key;
	size_t key_len;
	json_t *value;
	json_object_keylen_foreach((json_t *)shapes, key, key_len, value) {
		if (!op_shape_id_valid(key, key_len)) {
			op_error_set(err, "invalid_field", "shapes: a key is not a valid shape id");
			goto fail;
		}
		char path[16 + OP_ID_MAX_BYTES];
		snprintf(path, sizeof(path), "shapes.%s", key);
		json_t *shape = op_validate_shape(value, path, err);
		if (!shape)
			goto fail;
		if (strcmp(json_string_value(json_object_get(shape, "id")), key) != 0) {
			op_error_set(err, "invalid_field", "%s.id: must equal the shape's key", path);
			json_decref(shape);
			goto fail;
		}
		json_object_set_new_nocheck(state->shapes, key, shape);
	}
	return state;
fail:
	canvas_state_free(state);
	return NULL;
}

json_t *canvas_state_to_json(const struct canvas_state *state)
{
	return json_deep_copy(state->shapes);
}

const json_t *canvas_state_shapes(const struct canvas_state *state)
{
	return state->shapes;
}

struct growing_buffer {
	char *data;
	size_t len;
	size_t cap;
};

static int append_to_buffer(const char *bytes, size_t size, void *data)
{
	struct growing_buffer *buf = data;
	if (buf->len + size + 1 > buf->cap) {
		size_t cap = buf->cap ? buf->cap : 256;
		while (buf->len + size + 1 > cap)
			cap *= 2;
		buf->data = xrealloc(buf->data, cap);
		buf->cap = cap;
	}
	memcpy(buf->data + buf->len, bytes, size);
	buf->len += size;
	return 0;
}

char *canvas_state_serialize(const struct canvas_state *state, size_t *len)
{
	struct growing_buffer buf = { 0 };
	/* Only fails if jansson cannot allocate: treat as out of memory, as everywhere. */
	if (json_dump_callback(state->shapes, append_to_buffer, &buf, CANONICAL_FLAGS) != 0)
		abort();
	if (!buf.data)
		buf.data = xmalloc(1);
	buf.data[buf.len] = '\0';
	if (len)
		*len = buf.len;
	return buf.data;
}

/* jansson emits a token at a time; batching them makes hashing as cheap as serializing. */
struct digest_sink {
	EVP_MD_CTX *ctx;
	size_t len;
	char buf[8192];
};

static bool flush_digest(struct digest_sink *sink)
{
	bool ok = EVP_DigestUpdate(sink->ctx, sink->buf, sink->len) == 1;
	sink->len = 0;
	return ok;
}

static int append_to_digest(const char *bytes, size_t size, void *data)
{
	struct digest_sink *sink = data;
	if (sink->len + size > sizeof(sink->buf) && !flush_digest(sink))
		return -1;
	if (size > sizeof(sink->buf))
		return EVP_DigestUpdate(sink->ctx, bytes, size) == 1 ? 0 : -1;
	memcpy(sink->buf + sink->len, bytes, size);
	sink->len += size;
	return 0;
}

void canvas_state_hash(const struct canvas_state *state, char out[CANVAS_HASH_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	/* Streams the canonical form into the digest instead of materializing it. */
	struct digest_sink *sink = xmalloc(sizeof(*sink));
	sink->ctx = EVP_MD_CTX_new();
	sink->len = 0;
	if (!sink->ctx || EVP_DigestInit_ex(sink->ctx, EVP_sha256(), NULL) != 1 ||
	    json_dump_callback(state->shapes, append_to_digest, sink, CANONICAL_FLAGS) != 0 ||
	    !flush_digest(sink) || EVP_DigestFinal_ex(sink->ctx, md, &md_len) != 1 ||
	    md_len != CANVAS_HASH_HEX_LEN / 2)
		abort(); /* only on out-of-memory inside jansson or OpenSSL */
	EVP_MD_CTX_free(sink->ctx);
	free(sink);
	for (unsigned int i = 0; i < md_len; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[CANVAS_HASH_HEX_LEN] = '\0';
}

bool canvas_state_equal(const struct canvas_state *a, const struct canvas_state *b)
{
	return json_equal(a->shapes, b->shapes);
}

size_t canvas_shape_count(const struct canvas_state *state)
{
	return json_object_size(state->shapes);
}

const json_t *canvas_shape_get(const struct canvas_state *state, const char *id)
{
	return id ? json_object_get(state->shapes, id) : NULL;
}

/*
 * The reducer proper, on one shape and a payload already normalized by op_validate (fresh
 * values nobody else holds, so the new shape may take them by reference). Never modifies
 * shape: it returns a new one, sharing the values that did not change.
 */
static void reduce_shape_in_place(json_t *shape, const json_t *payload);

static json_t *reduce_shape(const json_t *shape, enum op_type type, const json_t *payload)
{
	if (type == OP_CREATE_SHAPE) {
		json_t *created = json_copy((json_t *)payload);
		json_object_set(created, "id", json_object_get(payload, "shape_id"));
		json_object_del(created, "shape_id");
		return created;
	}
	if (type == OP_DELETE_SHAPE || !shape)
		return NULL;
	/* A shallow copy shares the style with shape, so the in-place merge copies it. */
	json_t *next = json_copy((json_t *)shape);
	reduce_shape_in_place(next, payload);
	return next;
}

json_t *canvas_shape_apply(const json_t *shape, enum op_type type, const json_t *payload)
{
	json_t *normalized = op_validate(type, payload, NULL);
	if (!normalized)
		return shape ? json_incref((json_t *)shape) : NULL;
	json_t *next = reduce_shape(shape, type, normalized);
	json_decref(normalized);
	return next;
}

/*
 * The changes of a move, resize or update, made to the shape itself: only when nothing but
 * the state holds it (reference count 1; copies of a state share their shapes), which spares
 * replay a copy of every shape an op touches.
 */
static void reduce_shape_in_place(json_t *shape, const json_t *payload)
{
	const char *key;
	json_t *value;
	json_object_foreach((json_t *)payload, key, value) {
		if (strcmp(key, "shape_id") == 0)
			continue;
		if (strcmp(key, "style") == 0) {
			json_t *style = json_object_get(shape, "style");
			if (json_is_object(style) && style->refcount == 1) {
				json_object_update(style, value);
			} else {
				json_t *merged = json_is_object(style) ? json_copy(style) : json_object();
				json_object_update(merged, value);
				json_object_set_new_nocheck(shape, "style", merged);
			}
		} else {
			json_object_set_nocheck(shape, key, value);
		}
	}
}

bool canvas_apply(struct canvas_state *state, enum op_type type, const json_t *payload)
{
	json_t *normalized = op_validate(type, payload, NULL);
	if (!normalized)
		return false;
	const char *id = op_payload_shape_id(normalized);
	json_t *old = json_object_get(state->shapes, id);
	bool applied = false;
	if (old && old->refcount == 1 && type != OP_CREATE_SHAPE && type != OP_DELETE_SHAPE) {
		reduce_shape_in_place(old, normalized);
		applied = true;
	} else if (old || type == OP_CREATE_SHAPE) {
		json_t *next = reduce_shape(old, type, normalized);
		if (next)
			json_object_set_new_nocheck(state->shapes, id, next);
		else
			json_object_del(state->shapes, id);
		applied = true;
	}
	json_decref(normalized);
	return applied;
}

bool canvas_apply_op(struct canvas_state *state, const json_t *op)
{
	enum op_type type;
	const json_t *payload;
	if (!op_unpack(op, &type, &payload, NULL))
		return false;
	return canvas_apply(state, type, payload);
}

const json_t *canvas_shape_property(const json_t *shape, const char *path)
{
	if (strncmp(path, "style.", 6) == 0)
		return json_object_get(json_object_get(shape, "style"), path + 6);
	return json_object_get(shape, path);
}

/* json_equal says two absent values differ; here they are the same. */
static bool same_value(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return a == b;
	return json_equal(a, b);
}

static bool property_differs(const json_t *a, const json_t *b, const char *path)
{
	return !same_value(canvas_shape_property(a, path), canvas_shape_property(b, path));
}

json_t *canvas_diff(const struct canvas_state *a, const struct canvas_state *b)
{
	json_t *added = json_object(), *removed = json_object(), *modified = json_object();
	const char *id;
	json_t *shape;
	json_object_foreach(a->shapes, id, shape) {
		const json_t *after = json_object_get(b->shapes, id);
		if (!after) {
			json_object_set_new_nocheck(removed, id, json_deep_copy(shape));
		} else if (!json_equal(shape, after)) {
			json_t *change = json_object();
			json_object_set_new_nocheck(change, "before", json_deep_copy(shape));
			json_object_set_new_nocheck(change, "after", json_deep_copy(after));
			json_object_set_new_nocheck(modified, id, change);
		}
	}
	json_object_foreach(b->shapes, id, shape) {
		if (!json_object_get(a->shapes, id))
			json_object_set_new_nocheck(added, id, json_deep_copy(shape));
	}
	json_t *diff = json_object();
	json_object_set_new_nocheck(diff, "added", added);
	json_object_set_new_nocheck(diff, "removed", removed);
	json_object_set_new_nocheck(diff, "modified", modified);
	return diff;
}

static json_t *payload_for(const json_t *shape)
{
	json_t *payload = json_object();
	json_object_set_new_nocheck(payload, "shape_id",
				    json_deep_copy(json_object_get(shape, "id")));
	return payload;
}

static void copy_property(json_t *payload, const json_t *shape, const char *key)
{
	json_object_set_new_nocheck(payload, key, json_deep_copy(json_object_get(shape, key)));
}

void canvas_shape_diff_ops(const json_t *from, const json_t *to, json_t *ops)
{
	if (!to) {
		if (from)
			json_array_append_new(ops, op_make(OP_DELETE_SHAPE, payload_for(from)));
		return;
	}
	if (!from || property_differs(from, to, "kind")) {
		/* A create replaces whatever the id holds, so one op covers a kind change. */
		json_t *payload = json_deep_copy(to);
		json_object_set(payload, "shape_id", json_object_get(payload, "id"));
		json_object_del(payload, "id");
		json_array_append_new(ops, op_make(OP_CREATE_SHAPE, payload));
		return;
	}
	if (property_differs(from, to, "w") || property_differs(from, to, "h")) {
		json_t *payload = payload_for(to);
		copy_property(payload, to, "x");
		copy_property(payload, to, "y");
		copy_property(payload, to, "w");
		copy_property(payload, to, "h");
		json_array_append_new(ops, op_make(OP_RESIZE_SHAPE, payload));
	} else if (property_differs(from, to, "x") || property_differs(from, to, "y")) {
		json_t *payload = payload_for(to);
		copy_property(payload, to, "x");
		copy_property(payload, to, "y");
		json_array_append_new(ops, op_make(OP_MOVE_SHAPE, payload));
	}
	json_t *update = payload_for(to);
	for (size_t i = 0; i < sizeof(update_properties) / sizeof(update_properties[0]); i++) {
		if (property_differs(from, to, update_properties[i]))
			copy_property(update, to, update_properties[i]);
	}
	const json_t *from_style = json_object_get(from, "style");
	const json_t *to_style = json_object_get(to, "style");
	json_t *style = json_object();
	for (size_t i = 0; i < sizeof(style_keys) / sizeof(style_keys[0]); i++) {
		if (!same_value(json_object_get(from_style, style_keys[i]),
				json_object_get(to_style, style_keys[i])))
			copy_property(style, to_style, style_keys[i]);
	}
	if (json_object_size(style) > 0)
		json_object_set_new_nocheck(update, "style", style);
	else
		json_decref(style);
	if (json_object_size(update) > 1)
		json_array_append_new(ops, op_make(OP_UPDATE_SHAPE, update));
	else
		json_decref(update);
}

static int compare_ids(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

json_t *canvas_diff_ops(const struct canvas_state *a, const struct canvas_state *b)
{
	size_t n = 0;
	const char **ids = xmalloc((json_object_size(a->shapes) + json_object_size(b->shapes)) *
				   sizeof(*ids));
	const char *id;
	json_t *shape;
	json_object_foreach(a->shapes, id, shape)
		ids[n++] = id;
	json_object_foreach(b->shapes, id, shape) {
		if (!json_object_get(a->shapes, id))
			ids[n++] = id;
	}
	/* Sorted so that every node derives the same op sequence from the same two states. */
	qsort(ids, n, sizeof(*ids), compare_ids);
	json_t *ops = json_array();
	for (size_t i = 0; i < n; i++)
		canvas_shape_diff_ops(json_object_get(a->shapes, ids[i]),
				      json_object_get(b->shapes, ids[i]), ops);
	free(ids);
	return ops;
}
