/*
 * WebSocket sessions: one per client connection after the upgrade on
 * GET /api/v1/canvases/{id}/ws. A session is an explicit state machine changed by one function:
 *
 *   SYNCING   joined the room, the `sync` message is being prepared; ops are not sent yet
 *   CATCHING  sync sent, fetching the ops the room delivered meanwhile
 *   OPEN      receives every op in version order, exactly once, from its cursor on
 *   CLOSING   a close frame is queued; waiting for it to flush (bounded)
 *   CLOSED    the socket is gone; the object lives until its last async reference drops
 *
 * Ownership: async work (database queries, commits) holds a reference (ws_session_ref /
 * ws_session_unref) and checks the state when it completes; a session is never freed inside
 * its own callback, only when the last reference drops.
 */
#ifndef FLOWSTATE_WS_H
#define FLOWSTATE_WS_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/bufferevent.h>
#include <jansson.h>

struct server;
struct ws_session;

/* An encoded server frame shared by every receiver of a broadcast. */
struct ws_frame;
struct ws_frame *ws_frame_text(const char *text, size_t len);
struct ws_frame *ws_frame_json(json_t *message);   /* serializes; does not steal */
void ws_frame_release(struct ws_frame *f);

struct ws_join {
	char canvas_id[64];
	char user_id[64];
	char display_name[128];
	char role[16];
	long long since;      /* -1: no since */
	long long head;       /* canvas version when the upgrade was authorized */
};

/* Takes over an upgraded connection (the 101 response is already queued on bev). */
void ws_session_start(struct server *srv, struct bufferevent *bev, const struct ws_join *join);

/* Called by the room for op `version` (in order). */
void ws_session_deliver_op(struct ws_session *s, long long version, struct ws_frame *f);
/* Queues a shared frame; transient frames are dropped above the soft limit. */
void ws_session_send_frame(struct ws_session *s, struct ws_frame *f, bool transient);
bool ws_session_is_open(const struct ws_session *s);
/* The sync message was sent (catching up or open): transient messages may follow it. */
bool ws_session_synced(const struct ws_session *s);
/* Presence entry {user_id, session_id, display_name, color} (new reference). */
json_t *ws_session_presence(const struct ws_session *s);
/* Room membership links (used by room.c only). */
struct ws_session **ws_session_room_next(struct ws_session *s);

/* The room learned its head: sessions waiting for it may proceed. */
void ws_session_room_ready(struct ws_session *s);

void ws_sessions_drain(void);   /* close every session with 1001 */
/* Drops every socket now (process exit); objects go when pending async work fails. */
void ws_sessions_close_all(void);
/* Frees what is left once no async work can reference a session (after the db pool). */
void ws_sessions_release(void);
size_t ws_sessions_open(void);

#endif
