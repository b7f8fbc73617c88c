/*
 * WebSocket sessions: the canvas half of a client connection after the upgrade on
 * GET /api/v1/canvases/{id}/ws (the transport half is net/ws_conn.h). A session is an explicit
 * state machine changed by one function:
 *
 *   SYNCING   joined the room, the `sync` message is being prepared; ops are not sent yet
 *   CATCHING  sync sent, fetching the ops the room delivered meanwhile
 *   OPEN      receives every op in version order, exactly once, from its cursor on
 *   CLOSING   the connection is closing (a close frame is queued); nothing more is handled
 *   CLOSED    the socket is gone; the object lives until its last async reference drops
 *
 * A session is a member of its canvas's room (fanout/room.h) and implements the room's
 * member interface; it handles client messages (common/codec/ws_message.h): ops go through the
 * one write path (store/commit.h), undo/redo through the engine (app/undo.h), cursors and
 * strokes are relayed.
 *
 * Ownership: async work (database queries, commits) holds a reference and checks the state
 * when it completes; a session is never freed inside its own callback, only by a reaper after
 * its last reference drops.
 */
#ifndef FLOWSTATE_REALTIME_SESSION_H
#define FLOWSTATE_REALTIME_SESSION_H

#include <stddef.h>

#include "model/access.h"

/* Application close codes (docs/protocol.md): the client must not reconnect. */
#define SESSION_CLOSE_ACCESS_REVOKED 4403   /* removed from the canvas's workspace */
#define SESSION_CLOSE_CANVAS_DELETED 4404   /* the canvas or its workspace was deleted */

struct config;
struct db_pool;
struct event_base;
struct stream;

struct session_join {
	char canvas_id[64];
	char workspace_id[64];
	char user_id[64];
	char display_name[128];
	char role[16];
	long long since;      /* -1: no since */
	long long comment_since; /* -1: no comment_since */
	long long head;       /* canvas version when the upgrade was authorized */
	/* access_generation() before the authorization query (app/access.h) */
	unsigned long long access_generation;
};

struct session_env {
	struct event_base *base;
	struct db_pool *db;
	const struct config *cfg;
};

void sessions_init(const struct session_env *env);

/* Takes over an upgraded connection (the 101 response is already queued on the stream). */
void session_start(struct stream *stream, const struct session_join *join);

/* Closes every session with 1001 (going away). */
void sessions_drain(void);
/* Drops every socket now (process exit); objects go when pending async work fails. */
void sessions_close_all(void);
/* Frees what is left once no async work can reference a session (after the db pool). */
void sessions_release(void);
size_t sessions_open(void);

/*
 * Access changes (app/access.h's callback): every open session they concern reads its access
 * again from Postgres, in one query for all of them; then a session whose canvas is gone
 * closes with 4404, one whose user is no longer a member with 4403, and one whose role
 * changed gets {type: role_changed, role} and is held to the new role from its next message.
 */
void sessions_on_access_changes(const struct access_change *changes, size_t count);

#endif
