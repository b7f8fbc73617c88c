/*
 * Presence across nodes, for one canvas on this node. Each canvas has a Redis hash
 * fs:presence:<canvas> of session_id → entry (the session's public presence plus its node and
 * an expiry time). Every node refreshes its own sessions' entries every TTL/3 seconds and
 * reads the hash back (presence_reconcile): entries of other nodes it did not know are
 * announced as presence_join, known ones that vanished or expired as presence_leave. A killed
 * node stops refreshing, so its sessions leave everyone's presence within the TTL (entries are
 * stored for 2/3 of it and reconciled every third: presence_entry_lifetime_ms). Relayed
 * join/leave messages (presence_remote_*) make the common case immediate; reconciliation
 * makes it correct.
 *
 * The object caches the other nodes' sessions and announces each change once, through the
 * callback its owner (the room) gave it. Redis is reached through the bus only.
 *
 * Selections: an entry carries its session's current selection ("selection": [shape id, ...])
 * and, internally, "selection_seq", which the owning session increments with every change it
 * relays. A relayed selection or a reconciled entry updates the cache only when its sequence is
 * newer, so a hash read answered after a newer relay never brings an old selection back; and
 * reconciliation announces a selection whose relay was lost (as a "selection" message).
 */
#ifndef FLOWSTATE_FANOUT_PRESENCE_H
#define FLOWSTATE_FANOUT_PRESENCE_H

#include <stdbool.h>

#include <jansson.h>

struct presence;

/* msg: a presence_join or presence_leave message for local sessions (borrowed). */
typedef void (*presence_announce_fn)(void *owner, json_t *msg);

/* node_id is borrowed for good; ttl in seconds. */
struct presence *presence_new(const char *canvas_id, const char *node_id, int ttl,
			      presence_announce_fn announce, void *owner);
void presence_free(struct presence *p);

/* Stores entries ({user_id, session_id, display_name, color}, borrowed array) of this
 * node's sessions, stamped with the node and a fresh expiry. */
void presence_store(struct presence *p, json_t *entries);
/* A session of this node left. */
void presence_remove(struct presence *p, const char *session_id);
/* Reads the hash back and announces what changed on other nodes. */
void presence_reconcile(struct presence *p);

/* Relayed from another node: a session joined (entry borrowed) / left. */
void presence_remote_join(struct presence *p, json_t *entry);
void presence_remote_leave(struct presence *p, const char *session_id);
/* Relayed from another node: {type: selection, user_id, session_id, shape_ids, seq} (borrowed).
 * false when it is malformed or older than what the cache holds: not to be announced. */
bool presence_remote_selection(struct presence *p, const json_t *msg);

/* How long a stored entry lives without a refresh: ttl - ttl/3 seconds, in ms. */
long long presence_entry_lifetime_ms(int ttl);

/* Public entries of the other nodes' sessions (new array). */
json_t *presence_remote_entries(const struct presence *p);

#endif
