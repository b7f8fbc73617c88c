/*
 * Rooms: one per canvas per node while it has WebSocket clients (plus a grace period). A room
 * is a cache, never a source of truth: it holds its members (the sessions), the last version
 * delivered to them, and a bounded reorder buffer.
 *
 * In-order, exactly-once delivery (DESIGN §2, invariant 5): ops reach a room from local commits
 * and (with several nodes) from Redis, possibly out of order, duplicated or not at all. The
 * room delivers version v only after v-1; duplicates (v <= delivered) are dropped; a gap that
 * stays open longer than FLOWSTATE_GAP_TIMEOUT_MS is filled from Postgres; and a periodic head
 * check (FLOWSTATE_HEAD_CHECK_MS; one statement for all of the node's rooms) against
 * canvases.version catches a lost *last* op, which leaves no gap to see.
 *
 * Comment events (schema/022) are a second stream with the same guarantees: each has a seq,
 * gap-free per canvas; the room delivers seq n only after n-1, drops duplicates, refills gaps
 * from Postgres, and its head check reads the comment head too (one query for both streams).
 *
 * Members: the room reaches its sessions only through the member interface below (the
 * realtime layer implements it), so this layer never calls up into sessions.
 *
 * Ownership: rooms are owned by this module; members are borrowed (a member leaves before it
 * is freed). Every broadcast frame is encoded once and shared by reference.
 */
#ifndef FLOWSTATE_FANOUT_ROOM_H
#define FLOWSTATE_FANOUT_ROOM_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "net/ws_conn.h"

struct config;
struct db_pool;
struct event_base;
struct room;
struct room_member;

struct room_member_ops {
	/* Op `version`, in order; f is the shared {type: operation} frame. */
	void (*deliver_op)(struct room_member *m, long long version, struct ws_frame *f);
	/* Comment event `seq`, in order; f is the shared {type: comment} frame. */
	void (*deliver_comment)(struct room_member *m, long long seq, struct ws_frame *f);
	/* Any other frame (presence, cursor, stroke); transient ones may be dropped. */
	void (*send)(struct room_member *m, struct ws_frame *f, bool transient);
	/* {user_id, session_id, display_name, color, selection} (new reference). */
	json_t *(*presence)(const struct room_member *m);
	/* How many selection changes the member relayed (orders them in presence caches). */
	long long (*selection_seq)(const struct room_member *m);
	/* Visible to others (in presence). */
	bool (*visible)(const struct room_member *m);
	/* Has its sync: broadcasts may follow it. */
	bool (*synced)(const struct room_member *m);
	/* The room learned its head (members waiting for it may proceed). */
	void (*room_ready)(struct room_member *m);
};

/* Embedded in the member's own struct. */
struct room_member {
	const struct room_member_ops *ops;
	struct room_member *next;    /* the room's list */
};

struct room_env {
	struct event_base *base;
	struct db_pool *db;
	const struct config *cfg;    /* gap timeout, head check, presence TTL, grace, node id */
};

void rooms_init(const struct room_env *env);
/* The node is stopping: rooms left empty go at once, without the grace period. */
void rooms_drain(void);
/* Frees every room (members must be gone). */
void rooms_shutdown(void);

/* Adds a member to the canvas's room, creating the room if needed. */
struct room *room_join(const char *canvas_id, struct room_member *m);
void room_leave(struct room *r, struct room_member *m);

/* This node has a room with members for the canvas. */
bool room_has_members(const char *canvas_id);

/* The last version delivered to the room's members; -1 until the room knows the head. */
long long room_delivered(const struct room *r);

/*
 * A member that fell behind catches up from the room's ring of recent ops (the last 512 ops
 * and at most 256 KiB of them): one {type: operations, operations: [...]} frame with the ops
 * after version `after`, in order, up to max_bytes of op text (at least one op), and *last =
 * the last version in it. NULL when the ring does not hold after + 1 (fetch from Postgres).
 */
struct ws_frame *room_recent_ops_frame(const struct room *r, long long after, size_t max_bytes,
				       long long *last);

/* Hands committed ops (operation objects with "version") to the canvas's room, if this node
 * has one; they are delivered in version order. ops is borrowed. */
void room_receive_ops(const char *canvas_id, json_t *ops);

/* The last comment seq delivered to the room's members; -1 until the room knows the head. */
long long room_comments_delivered(const struct room *r);
/* Hands committed comment events ({seq, action, comment_id, comment}) to the canvas's room, if
 * this node has one; they are delivered in seq order. events is borrowed. */
void room_receive_comment_events(const char *canvas_id, json_t *events);

/* Sends a frame to every synced member of the room but `except` (NULL: all). Transient frames
 * (cursor, stroke, presence) are dropped for clients above their soft output limit. */
void room_broadcast(struct room *r, struct ws_frame *f, const struct room_member *except,
		    bool transient);

/* Sends a transient message (cursor, stroke, presence) to the room's members here but
 * `except`, and to the canvas's rooms on every other node through the bus. msg is borrowed. */
void room_relay(struct room *r, json_t *msg, const struct room_member *except);
/* A relayed message from another node: to every synced member of the room here. */
void room_receive_relay(const char *canvas_id, json_t *msg);
/* The bus (re)subscribed the canvas's channel: catch up from Postgres. */
void room_on_subscribed(const char *canvas_id);

/* A member's new selection (shape_ids borrowed, seq = its selection_seq): to the room's
 * other members here, to the other nodes' rooms, and into the presence hash, so that joiners
 * see it. Callers coalesce (at most FLOWSTATE_WS_CURSOR_HZ per second per member). */
void room_member_selected(struct room *r, struct room_member *m, json_t *shape_ids,
			  long long seq);

/* A member became visible (open) / left: stored in the canvas's Redis presence hash. */
void room_member_opened(struct room *r, struct room_member *m);
void room_member_closed(struct room *r, struct room_member *m);

/* A metrics collector (core/metrics.h): flowstate_room_clients_max, the most clients one
 * room on this node has right now (computed per scrape: O(rooms)). */
struct evbuffer;
void rooms_write_metrics(struct evbuffer *out, void *arg);

/* Presence entries of the room's members here and on other nodes (JSON array, new ref). */
json_t *room_presence(const struct room *r);

#endif
