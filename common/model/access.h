/*
 * Access changes: what happened to a membership or a canvas that open WebSockets must react
 * to (docs/architecture.md, "Live permissions"). Written by Postgres triggers into
 * access_events (schema/020), read back by every node and also pushed between nodes on the bus
 * (codec/bus_message.h) for speed. Pure: parsing, printing and the matching rule.
 *
 * Ids are canonical lower-case UUIDs ("" when the kind has none).
 */
#ifndef FLOWSTATE_MODEL_ACCESS_H
#define FLOWSTATE_MODEL_ACCESS_H

#include <stdbool.h>

#include <jansson.h>

#define ACCESS_ID_SIZE 40

enum access_kind {
	ACCESS_ROLE,              /* a member's role changed: workspace_id, user_id */
	ACCESS_REMOVED,           /* a member left or was removed: workspace_id, user_id */
	ACCESS_CANVAS_DELETED,    /* workspace_id, canvas_id */
	ACCESS_WORKSPACE_DELETED, /* workspace_id (its canvases with it) */
};

struct access_change {
	enum access_kind kind;
	char workspace_id[ACCESS_ID_SIZE];
	char canvas_id[ACCESS_ID_SIZE];
	char user_id[ACCESS_ID_SIZE];
};

/* "role", "removed", "canvas_deleted", "workspace_deleted" (the access_events.kind values). */
const char *access_kind_name(enum access_kind kind);
bool access_kind_parse(const char *name, enum access_kind *out);

/*
 * Fills out from kind and ids (NULL or "" for an id the kind does not use), checking that the
 * kind needs exactly the ids given and that each is a UUID; ids are lower-cased. false for
 * anything else (out is then zeroed).
 */
bool access_change_make(struct access_change *out, const char *kind, const char *workspace_id,
			const char *canvas_id, const char *user_id)
	__attribute__((warn_unused_result));

/* {kind, workspace_id, canvas_id?, user_id?} ↔ struct (the bus form); from_json is
 * access_change_make over the object's members, refusing any other member. */
json_t *access_change_to_json(const struct access_change *c);
bool access_change_from_json(const json_t *obj, struct access_change *out)
	__attribute__((warn_unused_result));

/* Whether a session of user_id on canvas_id (in workspace_id) is concerned by the change, and
 * must have its access read again. Ids compare case-insensitively. */
bool access_change_affects(const struct access_change *c, const char *workspace_id,
			   const char *canvas_id, const char *user_id);

#endif
