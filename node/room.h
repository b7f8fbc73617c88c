/*
 * Rooms: one per canvas per node while it has WebSocket clients (plus a grace period). A room
 * is a cache, never a source of truth: it holds the sessions, the last version delivered to
 * them, and a bounded reorder buffer.
 *
 * In-order, exactly-once delivery (DESIGN §2, invariant 5): ops reach a room from local commits
 * and (with several nodes) from Redis, possibly out of order, duplicated or not at all. The
 * room delivers version v only after v-1; duplicates (v <= delivered) are dropped; a gap that
 * stays open longer than FLOWSTATE_GAP_TIMEOUT_MS is filled from Postgres; and a periodic head
 * check (FLOWSTATE_HEAD_CHECK_MS) against canvases.version catches a lost *last* op, which
 * leaves no gap to see.
 *
 * Ownership: rooms are owned by this module; sessions are borrowed (a session leaves before it
 * is freed). Every broadcast frame is encoded once and shared by reference.
 */
#ifndef FLOWSTATE_ROOM_H
#define FLOWSTATE_ROOM_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct server;
struct room;
struct ws_session;
struct ws_frame;

void rooms_init(struct server *srv);
/* Frees every room (sessions must be gone). */
void rooms_shutdown(void);
size_t rooms_count(void);

/* Adds a session to the canvas's room, creating the room if needed. */
struct room *room_join(struct server *srv, const char *canvas_id, struct ws_session *s);
void room_leave(struct room *r, struct ws_session *s);

/* The last version delivered to the room's sessions; -1 until the room knows the head. */
long long room_delivered(const struct room *r);

/* Hands committed ops (operation objects with "version") to the canvas's room, if this node
 * has one; they are delivered in version order. ops is borrowed. */
void room_receive_ops(const char *canvas_id, json_t *ops);

/* Sends a frame to every open session of the room but `except` (NULL: all). Transient frames
 * (cursor, stroke, presence) are dropped for clients above their soft output limit. */
void room_broadcast(struct room *r, struct ws_frame *f, const struct ws_session *except,
		    bool transient);

/* Sends a transient message (cursor, stroke, presence) to the room's open sessions here but
 * `except`, and to the canvas's rooms on every other node through the bus. msg is borrowed. */
void room_relay(struct room *r, json_t *msg, const struct ws_session *except);
/* A relayed message from another node: to every open session of the room here. */
void room_receive_relay(const char *canvas_id, json_t *msg);
/* The bus (re)subscribed the canvas's channel: catch up from Postgres. */
void room_on_subscribed(const char *canvas_id);

/* A session became visible (open) / left: stored in the canvas's Redis presence hash. */
void room_session_opened(struct room *r, struct ws_session *s);
void room_session_closed(struct room *r, struct ws_session *s);

/* Presence entries of the room's sessions here and on other nodes (JSON array, new ref). */
json_t *room_presence(const struct room *r);

const char *room_canvas_id(const struct room *r);

#endif
