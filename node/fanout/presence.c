#include "fanout/presence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/strmap.h"
#include "fanout/bus.h"

struct presence {
	char canvas_id[40];
	char key[64];                 /* fs:presence:<canvas> */
	const char *node_id;
	int ttl;
	json_t *remote;               /* other nodes' sessions: session_id → stored entry */
	presence_announce_fn announce;
	void *owner;
};

/* Live objects by canvas id: a Redis answer finds its object here, or learns it is gone. */
static struct strmap *live;

struct presence *presence_new(const char *canvas_id, const char *node_id, int ttl,
			      presence_announce_fn announce, void *owner)
{
	if (!live)
		live = strmap_new();
	struct presence *p = xcalloc(1, sizeof(*p));
	snprintf(p->canvas_id, sizeof(p->canvas_id), "%s", canvas_id);
	snprintf(p->key, sizeof(p->key), "fs:presence:%s", canvas_id);
	p->node_id = node_id;
	p->ttl = ttl;
	p->remote = json_object();
	p->announce = announce;
	p->owner = owner;
	strmap_put(live, p->canvas_id, p);
	return p;
}

void presence_free(struct presence *p)
{
	if (!p)
		return;
	strmap_remove(live, p->canvas_id);
	if (strmap_count(live) == 0) {
		strmap_free(live);
		live = NULL;
	}
	json_decref(p->remote);
	free(p);
}

long long presence_entry_lifetime_ms(int ttl)
{
	return ttl * 1000ll - ttl * 1000ll / 3;
}

/* The client-facing part of a stored entry. */
static json_t *presence_public(const json_t *entry)
{
	json_t *selection = json_object_get(entry, "selection");
	return json_pack("{s:O, s:O, s:O, s:O, s:o}", "user_id", json_object_get(entry, "user_id"),
			 "session_id", json_object_get(entry, "session_id"), "display_name",
			 json_object_get(entry, "display_name"), "color",
			 json_object_get(entry, "color"), "selection",
			 json_is_array(selection) ? json_incref(selection) : json_array());
}

static long long selection_seq_of(const json_t *entry)
{
	return json_integer_value(json_object_get(entry, "selection_seq"));
}

static void presence_announce_selection(struct presence *p, const json_t *entry)
{
	json_t *msg = json_pack("{s:s, s:O, s:O, s:O}", "type", "selection", "user_id",
				json_object_get(entry, "user_id"), "session_id",
				json_object_get(entry, "session_id"), "shape_ids",
				json_object_get(entry, "selection"));
	p->announce(p->owner, msg);
	json_decref(msg);
}

/* Takes a newer selection into the cached entry of sid (a copy: entries may be shared). */
static bool presence_update_selection(struct presence *p, const char *sid, json_t *shape_ids,
				      long long seq)
{
	json_t *known = json_object_get(p->remote, sid);
	if (!known || seq <= selection_seq_of(known))
		return false;
	json_t *updated = json_copy(known);
	json_object_set(updated, "selection", shape_ids);
	json_object_set_new(updated, "selection_seq", json_integer(seq));
	json_object_set_new(p->remote, sid, updated);
	return true;
}

bool presence_remote_selection(struct presence *p, const json_t *msg)
{
	const char *sid = json_string_value(json_object_get(msg, "session_id"));
	json_t *ids = json_object_get(msg, "shape_ids");
	json_t *seq = json_object_get(msg, "seq");
	if (!sid || !json_is_array(ids) || !json_is_integer(seq) ||
	    !json_is_string(json_object_get(msg, "user_id")))
		return false;
	if (!json_object_get(p->remote, sid))
		return true; /* its join is still on the way: announce, the join will carry it */
	return presence_update_selection(p, sid, ids, json_integer_value(seq));
}

static void presence_announce(struct presence *p, const json_t *entry, bool joined)
{
	json_t *msg = joined ? json_pack("{s:s, s:o}", "type", "presence_join", "user",
					 presence_public(entry))
			     : json_pack("{s:s, s:O, s:O}", "type", "presence_leave", "user_id",
					 json_object_get(entry, "user_id"), "session_id",
					 json_object_get(entry, "session_id"));
	p->announce(p->owner, msg);
	json_decref(msg);
}

void presence_remote_join(struct presence *p, json_t *entry)
{
	const char *sid = json_string_value(json_object_get(entry, "session_id"));
	if (!sid || json_object_get(p->remote, sid))
		return;
	json_object_set(p->remote, sid, entry);
	presence_announce(p, entry, true);
}

void presence_remote_leave(struct presence *p, const char *session_id)
{
	json_t *known = json_object_get(p->remote, session_id);
	if (!known)
		return;
	json_incref(known);
	json_object_del(p->remote, session_id);
	presence_announce(p, known, false);
	json_decref(known);
}

json_t *presence_remote_entries(const struct presence *p)
{
	json_t *list = json_array();
	const char *sid;
	json_t *entry;
	json_object_foreach(p->remote, sid, entry)
		json_array_append_new(list, presence_public(entry));
	return list;
}

void presence_store(struct presence *p, json_t *entries)
{
	size_t n = json_array_size(entries);
	if (n == 0)
		return;
	const char **names = xcalloc(n, sizeof(*names));
	char **values = xcalloc(n, sizeof(*values));
	/* Entries live two thirds of the TTL: every node reconciles once per third (the room's
	 * presence timer), so a killed node's last entry expires at most 2/3 TTL after its death
	 * and is seen gone within one more third: everyone hears presence_leave within the TTL.
	 * A live node refreshes every third, a third before its entries would expire. */
	long long expires = clock_wall_ms() + presence_entry_lifetime_ms(p->ttl);
	for (size_t i = 0; i < n; i++) {
		json_t *entry = json_deep_copy(json_array_get(entries, i));
		json_object_set_new(entry, "node", json_string(p->node_id));
		json_object_set_new(entry, "expires", json_integer(expires));
		names[i] = json_string_value(json_object_get(json_array_get(entries, i),
							     "session_id"));
		values[i] = json_dumps(entry, JSON_COMPACT);
		json_decref(entry);
	}
	bus_hash_set(p->key, names, (const char *const *)values, n);
	for (size_t i = 0; i < n; i++)
		free(values[i]);
	free(values);
	free(names);
}

void presence_remove(struct presence *p, const char *session_id)
{
	bus_hash_del(p->key, session_id); /* while Redis is down the entry expires by itself */
}

static void presence_loaded(const char *canvas_id, const struct bus_field *fields, size_t count)
{
	struct presence *p = live ? strmap_get(live, canvas_id) : NULL;
	if (!p || !fields)
		return;
	long long now = clock_wall_ms();
	json_t *seen = json_object();
	for (size_t i = 0; i < count; i++) {
		json_t *entry = json_loadb(fields[i].value, fields[i].value_len, 0, NULL);
		const char *node = json_string_value(json_object_get(entry, "node"));
		long long expires = json_integer_value(json_object_get(entry, "expires"));
		char sid[80];
		snprintf(sid, sizeof(sid), "%.*s", (int)fields[i].name_len, fields[i].name);
		if (!entry || !node || !json_is_string(json_object_get(entry, "user_id"))) {
			json_decref(entry);
			continue;
		}
		if (expires < now) {
			/* Its node stopped refreshing (killed): whoever sees it first cleans up. */
			bus_hash_del(p->key, sid);
		} else if (strcmp(node, p->node_id) != 0) {
			json_object_set_new(seen, sid, json_true());
			json_object_set_new(entry, "session_id", json_string(sid));
			json_t *selection = json_object_get(entry, "selection");
			if (!json_object_get(p->remote, sid))
				presence_remote_join(p, entry);
			else if (json_is_array(selection) &&
				 presence_update_selection(p, sid, selection,
							   selection_seq_of(entry)))
				presence_announce_selection(p, json_object_get(p->remote, sid));
		}
		json_decref(entry);
	}
	/* Known remote sessions that are gone or expired. */
	const char *sid;
	json_t *entry, *tmp;
	json_object_foreach_safe(p->remote, tmp, sid, entry) {
		if (!json_object_get(seen, sid))
			presence_remote_leave(p, sid);
	}
	json_decref(seen);
}

void presence_reconcile(struct presence *p)
{
	/* An abandoned canvas's hash goes away by itself. */
	bus_expire(p->key, p->ttl * 2);
	bus_hash_getall(p->key, presence_loaded, p->canvas_id);
}
