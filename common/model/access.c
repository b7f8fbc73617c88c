#include "model/access.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/validate.h"

static const char *const kind_names[] = { "role", "removed", "canvas_deleted",
					  "workspace_deleted" };

const char *access_kind_name(enum access_kind kind)
{
	return kind >= ACCESS_ROLE && kind <= ACCESS_WORKSPACE_DELETED ? kind_names[kind] : "";
}

bool access_kind_parse(const char *name, enum access_kind *out)
{
	for (int k = ACCESS_ROLE; name && k <= ACCESS_WORKSPACE_DELETED; k++) {
		if (!strcmp(name, kind_names[k])) {
			*out = (enum access_kind)k;
			return true;
		}
	}
	return false;
}

/* Copies a present id (a UUID, lower-cased) or checks that an absent one is absent. */
static bool take_id(char out[ACCESS_ID_SIZE], const char *id, bool wanted)
{
	bool present = id && *id;
	if (present != wanted)
		return false;
	if (!present)
		return true;
	if (!validate_uuid(id))
		return false;
	size_t i;
	for (i = 0; id[i]; i++)
		out[i] = (char)tolower((unsigned char)id[i]);
	out[i] = '\0';
	return true;
}

bool access_change_make(struct access_change *out, const char *kind, const char *workspace_id,
			const char *canvas_id, const char *user_id)
{
	memset(out, 0, sizeof(*out));
	enum access_kind k;
	if (!access_kind_parse(kind, &k))
		goto fail;
	out->kind = k;
	bool member = k == ACCESS_ROLE || k == ACCESS_REMOVED;
	if (!take_id(out->workspace_id, workspace_id, true) ||
	    !take_id(out->canvas_id, canvas_id, k == ACCESS_CANVAS_DELETED) ||
	    !take_id(out->user_id, user_id, member))
		goto fail;
	return true;
fail:
	memset(out, 0, sizeof(*out));
	return false;
}

json_t *access_change_to_json(const struct access_change *c)
{
	json_t *o = json_pack("{s:s, s:s}", "kind", access_kind_name(c->kind), "workspace_id",
			      c->workspace_id);
	if (c->canvas_id[0])
		json_object_set_new(o, "canvas_id", json_string(c->canvas_id));
	if (c->user_id[0])
		json_object_set_new(o, "user_id", json_string(c->user_id));
	return o;
}

bool access_change_from_json(const json_t *obj, struct access_change *out)
{
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return false;
	const char *key;
	json_t *value;
	json_object_foreach((json_t *)obj, key, value) {
		if (!json_is_string(value) ||
		    (strcmp(key, "kind") && strcmp(key, "workspace_id") && strcmp(key, "canvas_id") &&
		     strcmp(key, "user_id")))
			return false;
	}
	return access_change_make(out, json_string_value(json_object_get(obj, "kind")),
				  json_string_value(json_object_get(obj, "workspace_id")),
				  json_string_value(json_object_get(obj, "canvas_id")),
				  json_string_value(json_object_get(obj, "user_id")));
}

bool access_change_affects(const struct access_change *c, const char *workspace_id,
			   const char *canvas_id, const char *user_id)
{
	switch (c->kind) {
	case ACCESS_ROLE:
	case ACCESS_REMOVED:
		return !strcasecmp(c->workspace_id, workspace_id) && !strcasecmp(c->user_id, user_id);
	case ACCESS_CANVAS_DELETED:
		return !strcasecmp(c->canvas_id, canvas_id);
	case ACCESS_WORKSPACE_DELETED:
		return !strcasecmp(c->workspace_id, workspace_id);
	}
	return false;
}
