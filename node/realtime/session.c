/*
 * WebSocket sessions (see session.h for the state machine and ownership rules).
 *
 * Output bounds are the connection's (net/ws_conn.h): a client over its soft limit loses only
 * transient messages; one that would pass the hard limit is closed with 1013 and reconnects
 * with ?since=, missing nothing, because operations are only ever dropped together with the
 * connection, never silently.
 */
#include "realtime/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "app/access.h"
#include "app/undo.h"
#include "auth/token.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/list.h"
#include "base/log.h"
#include "base/strmap.h"
#include "base/tbucket.h"
#include "codec/ws_codec.h"
#include "codec/ws_message.h"
#include "core/metrics.h"
#include "core/ratelimit.h"
#include "fanout/room.h"
#include "model/role.h"
#include "net/reaper.h"
#include "net/ws_conn.h"
#include "store/commit.h"
#include "store/db.h"
#include "store/state.h"

#define SESSION_UNDO_QUEUE_MAX 16
/* A joining client missing at most this many comment events gets them in its sync; otherwise
 * the canvas's comment threads as they are. */
#define SESSION_SYNC_MAX_COMMENT_EVENTS 256
/* Cursor relays a session may bunch up: a client sending at the full rate with ordinary
 * jitter is then never delayed, while the average stays at FLOWSTATE_WS_CURSOR_HZ. */
#define SESSION_CURSOR_BURST 3.0

enum session_state { SESSION_SYNCING, SESSION_CATCHING, SESSION_OPEN, SESSION_LAGGING,
		     SESSION_CLOSING, SESSION_CLOSED };

static const char *const session_state_names[] = { "syncing", "catching", "open", "lagging",
						   "closing", "closed" };

struct session {
	struct list_link link;               /* all sessions, then the reaper */
	struct room_member member;           /* the room's view of this session */
	struct ws_conn *conn;                /* NULL once the socket is gone */
	enum session_state state;
	int refs;
	uint64_t id;
	double opened_at;                    /* monotonic seconds */
	char session_id[40];
	char color[8];
	struct session_join join;
	struct room *room;
	long long cursor;                    /* last op version sent */
	bool catch_up_in_flight;
	long long comment_cursor;            /* last comment event seq sent (schema/022) */
	bool comment_catch_up_in_flight, comment_catch_up_again;
	char *sync_comments;                 /* the sync's "comments" member, until it is sent */
	bool waiting_for_room;
	struct tbucket ops_bucket;           /* ops and strokes */
	/* cursor coalescing: relays at FLOWSTATE_WS_CURSOR_HZ, the latest position wins */
	struct tbucket cursor_bucket;
	bool cursor_pending;
	double cursor_x, cursor_y;
	struct event *cursor_timer;
	/* selection, coalesced like the cursor: the latest wins */
	json_t *selection;                   /* [shape id, ...], owned; [] when nothing */
	long long selection_seq;             /* selections relayed so far */
	struct tbucket selection_bucket;
	bool selection_pending;
	struct event *selection_timer;
	/* undo/redo wait for this connection's earlier ops to commit, and for each other */
	int commits_in_flight;
	bool undo_running;
	bool undo_queue[SESSION_UNDO_QUEUE_MAX];   /* true = redo */
	size_t undo_queued;
};

static struct session_env env;
static struct ws_conn_limits conn_limits;
static struct list sessions;           /* live (referenced) */
static struct reaper *reaper;          /* unreferenced, freed after the current callback */
static size_t open_count;              /* sessions whose socket is still there */
static uint64_t next_session_id = 1;

static void session_close(struct session *s, uint16_t code, const char *reason);
static void session_catch_up(struct session *s);
static void session_run_queued_undo(struct session *s);
static const struct room_member_ops session_member_ops;
static const struct ws_conn_handler session_conn_handler;

static struct session *session_of(const struct room_member *m)
{
	return LIST_ITEM(m, struct session, member);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void session_free(struct list_link *link)
{
	struct session *s = LIST_ITEM(link, struct session, link);
	json_decref(s->selection);
	free(s->sync_comments);
	free(s);
}

static void session_ref(struct session *s)
{
	s->refs++;
}

/* The last reference queues the session for the reaper: it is freed after the callback that
 * dropped it has returned, never inside it. */
static void session_unref(struct session *s)
{
	if (--s->refs > 0)
		return;
	list_remove(&sessions, &s->link);
	reaper_add(reaper, &s->link);
}

static json_t *session_presence(const struct session *s)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:O}", "user_id", s->join.user_id, "session_id",
			 s->session_id, "display_name", s->join.display_name, "color", s->color,
			 "selection", s->selection);
}

/* The only function that changes a session's state. */
static void session_change_state(struct session *s, enum session_state state)
{
	if (s->state >= SESSION_CLOSING && state < s->state)
		return; /* closing is final: late callbacks must not revive a session */
	if (state == s->state)
		return;
	log_debug("ws_state", "session=%llu canvas=%s from=%s to=%s",
		  (unsigned long long)s->id, s->join.canvas_id, session_state_names[s->state],
		  session_state_names[state]);
	enum session_state old = s->state;
	s->state = state;
	if (state == SESSION_OPEN && old < SESSION_OPEN && s->room) {
		/* Now visible to others. */
		json_t *msg = json_pack("{s:s, s:o}", "type", "presence_join", "user",
					session_presence(s));
		room_relay(s->room, msg, &s->member);
		json_decref(msg);
		room_member_opened(s->room, &s->member);
	}
	if (state >= SESSION_CLOSING && (old == SESSION_OPEN || old == SESSION_LAGGING) && s->room) {
		room_member_closed(s->room, &s->member);
		json_t *msg = json_pack("{s:s, s:s, s:s}", "type", "presence_leave", "user_id",
					s->join.user_id, "session_id", s->session_id);
		room_relay(s->room, msg, &s->member);
		json_decref(msg);
	}
	if (state == SESSION_CLOSED) {
		if (s->room)
			room_leave(s->room, &s->member);
		s->room = NULL;
		event_free(s->cursor_timer);
		s->cursor_timer = NULL;
		event_free(s->selection_timer);
		s->selection_timer = NULL;
		open_count--;
		metrics_gauge_add(METRIC_WS_CONNECTIONS, -1);
		metrics_histogram_observe(METRIC_HIST_WS_CONNECTION_SECONDS,
					  clock_mono_seconds() - s->opened_at);
	}
}

/* The connection started closing (for any reason): no more messages are handled. */
static void session_on_closing(void *owner)
{
	session_change_state(owner, SESSION_CLOSING);
}

/* The socket is gone: leave the room; the object goes with its last reference. */
static void session_on_gone(void *owner)
{
	struct session *s = owner;
	s->conn = NULL;
	session_change_state(s, SESSION_CLOSING); /* presence_leave, if it was open */
	session_change_state(s, SESSION_CLOSED);
	session_unref(s); /* the socket's reference */
}

/* A stable colour per user, so every client draws a collaborator the same way. */
static void user_color(const char *user_id, char out[8])
{
	static const char *const palette[] = { "#e6194b", "#3cb44b", "#4363d8", "#f58231",
					       "#911eb4", "#42d4f4", "#f032e6", "#469990",
					       "#9a6324", "#800000", "#808000", "#000075" };
	unsigned h = 2166136261u;
	for (const char *p = user_id; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(out, 8, "%s", palette[h % (sizeof(palette) / sizeof(palette[0]))]);
}

size_t sessions_open(void)
{
	return open_count;
}

/* ---- output --------------------------------------------------------------------------------- */

/* Every message to a client goes through here, and is counted by type once it is queued. */
static void session_send_frame(struct session *s, struct ws_frame *f, bool transient)
{
	if (s->state < SESSION_CLOSING && s->conn && ws_conn_send(s->conn, f, transient))
		metrics_labeled_inc(METRIC_L_WS_MESSAGES_SENT, ws_frame_type(f));
}

static void session_send_json(struct session *s, json_t *msg, bool transient)
{
	struct ws_frame *f = ws_frame_json(msg);
	json_decref(msg); /* NULL-safe */
	session_send_frame(s, f, transient);
	ws_frame_release(f);
}

static void session_send_error(struct session *s, const char *code, const char *detail,
			       const char *client_op_id)
{
	json_t *msg = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "detail", detail);
	if (client_op_id)
		json_object_set_new(msg, "client_op_id", json_string(client_op_id));
	session_send_json(s, msg, false);
}

/* Starts the closing handshake (the connection reports back through on_closing). */
static void session_close(struct session *s, uint16_t code, const char *reason)
{
	if (s->conn)
		ws_conn_close(s->conn, code, reason);
}

/* ---- the room's member interface ------------------------------------------------------------- */

/*
 * An op for a live session goes out as its own frame, unless the client is behind: its
 * queued output is past the soft limit (or a version is missing, which the room's ordering
 * makes impossible). Then the session stops taking frames per op and is LAGGING: it keeps its
 * cursor and catches up in batches as its socket drains (session_catch_up), so a slow reader
 * costs at most about the soft limit of memory and is never closed for being slow.
 */
static void member_deliver_op(struct room_member *m, long long version, struct ws_frame *f)
{
	struct session *s = session_of(m);
	if (s->state != SESSION_OPEN || version <= s->cursor)
		return; /* catching up or lagging: they fetch what they miss; older ones they have */
	bool gap = version != s->cursor + 1;
	if (gap || ws_conn_output_len(s->conn) > (size_t)env.cfg->ws_soft_limit) {
		if (gap)
			log_warn("ws_cursor_gap", "session=%llu cursor=%lld version=%lld",
				 (unsigned long long)s->id, s->cursor, version);
		metrics_counter_inc(METRIC_WS_LAGGING);
		session_change_state(s, SESSION_LAGGING);
		/* Never from here: the room is in the middle of a delivery. */
		ws_conn_want_drain(s->conn);
		return;
	}
	session_send_frame(s, f, false);
	s->cursor = version;
}

static void session_comment_catch_up(struct session *s);

/* Comment events, like ops, reach a client exactly once and in seq order from its sync on:
 * anything but the next one (a gap, or events arriving during a catch-up) is read from
 * Postgres instead. */
static void member_deliver_comment(struct room_member *m, long long seq, struct ws_frame *f)
{
	struct session *s = session_of(m);
	if ((s->state != SESSION_CATCHING && s->state != SESSION_OPEN &&
	     s->state != SESSION_LAGGING) ||
	    seq <= s->comment_cursor)
		return; /* before the sync, or sent already (a lagging client lags in ops only) */
	if (seq != s->comment_cursor + 1 || s->comment_catch_up_in_flight) {
		session_comment_catch_up(s);
		return;
	}
	session_send_frame(s, f, false);
	s->comment_cursor = seq;
}

static void member_send(struct room_member *m, struct ws_frame *f, bool transient)
{
	session_send_frame(session_of(m), f, transient);
}

static json_t *member_presence(const struct room_member *m)
{
	return session_presence(session_of(m));
}

static long long member_selection_seq(const struct room_member *m)
{
	return session_of(m)->selection_seq;
}

static bool member_visible(const struct room_member *m)
{
	enum session_state st = session_of(m)->state;
	return st == SESSION_OPEN || st == SESSION_LAGGING;
}

static bool member_synced(const struct room_member *m)
{
	enum session_state st = session_of(m)->state;
	return st == SESSION_CATCHING || st == SESSION_OPEN || st == SESSION_LAGGING;
}

static void session_after_sync(struct session *s);

static void member_room_ready(struct room_member *m)
{
	struct session *s = session_of(m);
	if (s->waiting_for_room) {
		s->waiting_for_room = false;
		session_after_sync(s);
	}
}

static const struct room_member_ops session_member_ops = {
	.deliver_op = member_deliver_op,
	.deliver_comment = member_deliver_comment,
	.send = member_send,
	.presence = member_presence,
	.selection_seq = member_selection_seq,
	.visible = member_visible,
	.synced = member_synced,
	.room_ready = member_room_ready,
};

/* ---- sync and catch-up ------------------------------------------------------------------------ */

/* After the sync: catch up with the room, once it knows its head. */
static void session_after_sync(struct session *s)
{
	if (s->state >= SESSION_CLOSING)
		return;
	if (room_delivered(s->room) < 0) {
		s->waiting_for_room = true; /* member_room_ready resumes */
		return;
	}
	if (room_comments_delivered(s->room) > s->comment_cursor)
		session_comment_catch_up(s);
	session_catch_up(s);
}

/* Sends {type: operations, operations: <ops_json>} and moves the cursor to last. */
static void session_send_batch(struct session *s, const char *ops_json, size_t len,
			       long long last)
{
	static const char head[] = "{\"type\":\"operations\",\"operations\":";
	const char *parts[] = { head, ops_json, "}" };
	const size_t lens[] = { sizeof(head) - 1, len, 1 };
	struct ws_frame *f = ws_frame_text_parts(parts, lens, 3);
	session_send_frame(s, f, false);
	ws_frame_release(f);
	s->cursor = last;
}

static void session_caught_up(const struct db_result *r, void *arg)
{
	struct session *s = arg;
	s->catch_up_in_flight = false;
	if (s->state >= SESSION_CLOSING) {
		session_unref(s);
		return;
	}
	long long last = r->ok ? db_int(r, 0, 1) : -1;
	if (!r->ok || last <= s->cursor) {
		session_close(s, WS_CLOSE_TRY_AGAIN_LATER,
			      r->ok ? "catch-up failed" : "database unavailable");
		session_unref(s);
		return;
	}
	session_send_batch(s, db_value(r, 0, 0), db_length(r, 0, 0), last);
	session_catch_up(s);
	session_unref(s);
}

/*
 * Sends the next batch of what the session is missing (cursor+1 .. the room's delivered
 * version) as one `operations` frame of at most half the soft limit of op text, when its
 * queued output is down to a quarter of the soft limit: from the room's ring of recent ops, or
 * from Postgres when the ring no longer holds them. Level with the room, the session is live
 * (OPEN) again and takes the next op as its own frame. Used after the sync (CATCHING) and by a
 * client that fell behind (LAGGING); ws_conn's on_drain calls it again.
 */
static void session_catch_up(struct session *s)
{
	if (s->catch_up_in_flight || s->state >= SESSION_CLOSING || !s->conn)
		return;
	long long delivered = room_delivered(s->room);
	if (s->cursor >= delivered) {
		session_change_state(s, SESSION_OPEN);
		return;
	}
	size_t soft = (size_t)env.cfg->ws_soft_limit;
	if (ws_conn_output_len(s->conn) > soft / 4) {
		ws_conn_want_drain(s->conn);
		return;
	}
	long long last;
	struct ws_frame *f = room_recent_ops_frame(s->room, s->cursor, soft / 2, &last);
	if (f) {
		session_send_frame(s, f, false);
		ws_frame_release(f);
		s->cursor = last;
		ws_conn_want_drain(s->conn); /* the next batch, or live, from the loop */
		return;
	}
	/* Older than the ring: from Postgres, at most ~soft/2 bytes of payload (and 1000 ops),
	 * the first op whatever its size. */
	char after[32], upto[32], budget[32];
	snprintf(after, sizeof(after), "%lld", s->cursor);
	snprintf(upto, sizeof(upto), "%lld", delivered);
	snprintf(budget, sizeof(budget), "%zu", soft / 2);
	const char *params[] = { s->join.canvas_id, after, upto, budget };
	session_ref(s);
	if (!db_query(env.db,
		      "SELECT coalesce(json_agg(x.j ORDER BY x.version), '[]')::text, "
		      "  coalesce(max(x.version), -1) FROM ("
		      "  SELECT o.version, fs_op_json(o) AS j, sum(octet_length(o.payload::text) + 256) "
		      "    OVER (ORDER BY o.version) AS upto_bytes "
		      "  FROM (SELECT * FROM operations WHERE canvas_id = $1 AND version > $2 "
		      "        AND version <= $3 ORDER BY version LIMIT 1000) o) x "
		      "WHERE x.upto_bytes <= $4 OR x.version = $2::bigint + 1",
		      4, params, session_caught_up, s)) {
		session_unref(s);
		session_close(s, WS_CLOSE_TRY_AGAIN_LATER, "server busy");
		return;
	}
	s->catch_up_in_flight = true;
}

static void session_comments_caught_up(const struct db_result *r, void *arg)
{
	struct session *s = arg;
	s->comment_catch_up_in_flight = false;
	if (s->state >= SESSION_CLOSING) {
		session_unref(s);
		return;
	}
	if (!r->ok) {
		session_close(s, WS_CLOSE_TRY_AGAIN_LATER, "database unavailable");
		session_unref(s);
		return;
	}
	json_t *events = json_loads(db_value(r, 0, 0), 0, NULL);
	size_t i;
	json_t *event;
	json_array_foreach(events, i, event) {
		long long seq = json_integer_value(json_object_get(event, "seq"));
		if (seq != s->comment_cursor + 1)
			continue;
		json_object_set_new(event, "type", json_string("comment"));
		session_send_json(s, json_incref(event), false);
		s->comment_cursor = seq;
	}
	json_decref(events);
	if (s->comment_catch_up_again || room_comments_delivered(s->room) > s->comment_cursor)
		session_comment_catch_up(s);
	session_unref(s);
}

/* Reads the comment events between the session's comment cursor and what its room delivered. */
static void session_comment_catch_up(struct session *s)
{
	if (s->comment_catch_up_in_flight) {
		s->comment_catch_up_again = true;
		return;
	}
	s->comment_catch_up_again = false;
	long long upto = room_comments_delivered(s->room);
	if (upto <= s->comment_cursor || s->state >= SESSION_CLOSING)
		return;
	char after[32], until[32];
	snprintf(after, sizeof(after), "%lld", s->comment_cursor);
	snprintf(until, sizeof(until), "%lld", upto);
	const char *params[] = { s->join.canvas_id, after, until };
	session_ref(s);
	if (!db_query(env.db,
		      "SELECT coalesce(json_agg(fs_comment_event_json(e) ORDER BY e.seq), '[]')::text "
		      "FROM comment_events e WHERE e.canvas_id = $1 AND e.seq > $2 AND e.seq <= $3",
		      3, params, session_comments_caught_up, s)) {
		session_unref(s);
		session_close(s, WS_CLOSE_TRY_AGAIN_LATER, "server busy");
		return;
	}
	s->comment_catch_up_in_flight = true;
}

/* The socket drained (ws_conn_want_drain): the next batch for a session behind its room. */
static void session_on_drain(void *owner)
{
	struct session *s = owner;
	if (s->state == SESSION_CATCHING || s->state == SESSION_LAGGING)
		session_catch_up(s);
}

static json_t *session_you(const struct session *s)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", s->join.user_id, "session_id",
			 s->session_id, "display_name", s->join.display_name, "color", s->color,
			 "role", s->join.role);
}

/* Sends {type: sync, ..., mode, operations|state, presence, you} and sets the cursor. The
 * payload (ops or a whole state: open + payload + close) is copied once, straight into the
 * frame. */
static void session_send_sync(struct session *s, long long version, const char *mode,
			      const char *payload_key, const char *open, const char *payload,
			      size_t payload_len, const char *close)
{
	json_t *presence = room_presence(s->room);
	json_array_append_new(presence, session_presence(s));
	json_t *you = session_you(s);
	char *presence_text = json_dumps(presence, JSON_COMPACT);
	char *you_text = json_dumps(you, JSON_COMPACT);
	char *head = xasprintf("{\"type\":\"sync\",\"canvas_id\":\"%s\",\"current_version\":%lld,"
			       "\"mode\":\"%s\",\"%s\":%s",
			       s->join.canvas_id, version, mode, payload_key, open);
	char *tail = xasprintf("%s,\"comments\":%s,\"presence\":%s,\"you\":%s}", close,
			       s->sync_comments, presence_text, you_text);
	const char *parts[] = { head, payload, tail };
	const size_t lens[] = { strlen(head), payload_len, strlen(tail) };
	struct ws_frame *f = ws_frame_text_parts(parts, lens, 3);
	session_send_frame(s, f, false);
	ws_frame_release(f);
	free(head);
	free(tail);
	free(presence_text);
	free(you_text);
	free(s->sync_comments);
	s->sync_comments = NULL;
	json_decref(presence);
	json_decref(you);
	s->cursor = version;
}

/* A state sync: the state's text, stored or built on a worker (store/state.h). */
static void session_synced_state(struct state_result *r, void *arg)
{
	struct session *s = arg;
	if (s->state >= SESSION_CLOSING) {
		/* nothing to send */
	} else if (r->status != STATE_OK) {
		session_close(s, r->status == STATE_NOT_FOUND ? WS_CLOSE_POLICY
							      : WS_CLOSE_TRY_AGAIN_LATER,
			      "sync failed");
	} else {
		session_send_sync(s, r->at, "state", "state", "{\"shapes\":", r->text, r->text_len,
				  "}");
		session_change_state(s, SESSION_CATCHING); /* no-op if sending it closed it */
		session_after_sync(s);
	}
	session_unref(s);
}

/* A sync query answered: false (and the session's reference dropped) when the session is
 * closing or the answer is not the one row expected, which closes it with 1013. */
static bool session_sync_answer_usable(struct session *s, const struct db_result *r)
{
	if (s->state >= SESSION_CLOSING) {
		session_unref(s);
		return false;
	}
	if (!r->ok || db_rows(r) != 1) {
		session_close(s, WS_CLOSE_TRY_AGAIN_LATER, "sync failed");
		session_unref(s);
		return false;
	}
	return true;
}

static void session_synced_ops(const struct db_result *r, void *arg)
{
	struct session *s = arg;
	if (!session_sync_answer_usable(s, r))
		return;
	long long head = db_int(r, 0, 0);
	session_send_sync(s, head, "operations", "operations", "", db_value(r, 0, 1),
			  db_length(r, 0, 1), "");
	session_change_state(s, SESSION_CATCHING); /* no-op if sending it closed the session */
	session_after_sync(s);
	session_unref(s);
}

static void session_start_ops_sync(struct session *s)
{
	long long head_at_join = s->join.head;
	long long since = s->join.since;
	bool ops_mode = since >= 0 && since <= head_at_join &&
			head_at_join - since <= env.cfg->sync_max_ops;
	session_ref(s);
	bool queued;
	if (ops_mode) {
		/* Head and ops in one snapshot: the ops are exactly since+1 .. head. */
		char after[32];
		snprintf(after, sizeof(after), "%lld", since);
		const char *params[] = { s->join.canvas_id, after };
		queued = db_query(env.db,
				  "SELECT c.version, coalesce((SELECT json_agg(fs_op_json(o) "
				  "  ORDER BY o.version) FROM operations o WHERE o.canvas_id = $1 "
				  "  AND o.version > $2 AND o.version <= c.version), '[]')::text "
				  "FROM canvases c WHERE c.id = $1",
				  2, params, session_synced_ops, s);
	} else {
		queued = state_load_text(s->join.canvas_id, NULL, -1, NULL, session_synced_state, s);
	}
	if (!queued) {
		session_unref(s);
		session_close(s, WS_CLOSE_TRY_AGAIN_LATER, "server busy");
	}
}

/* Columns: the comment head, the mode (events | state), the events or the threads. */
static void session_synced_comments(const struct db_result *r, void *arg)
{
	struct session *s = arg;
	if (!session_sync_answer_usable(s, r))
		return;
	bool events = !strcmp(db_value(r, 0, 1), "events");
	s->comment_cursor = db_int(r, 0, 0);
	s->sync_comments = xasprintf("{\"seq\":%lld,\"mode\":\"%s\",\"%s\":%s}", s->comment_cursor,
				     events ? "events" : "state", events ? "events" : "threads",
				     db_value(r, 0, 2));
	session_start_ops_sync(s);
	session_unref(s);
}

/* The sync: first the comments (the events after ?comment_since= when few are missing, else
 * the threads, with the head seq: one snapshot), then the ops or the state. */
static void session_start_sync(struct session *s)
{
	char since[32], max[16];
	snprintf(since, sizeof(since), "%lld", s->join.comment_since);
	snprintf(max, sizeof(max), "%d", SESSION_SYNC_MAX_COMMENT_EVENTS);
	const char *params[] = { s->join.canvas_id, s->join.comment_since >= 0 ? since : NULL, max };
	session_ref(s);
	if (!db_query(env.db,
		      "WITH h AS (SELECT coalesce((SELECT seq FROM comment_heads "
		      "                            WHERE canvas_id = $1), 0) AS seq), "
		      "m AS (SELECT h.seq, $2::bigint IS NOT NULL AND $2::bigint <= h.seq "
		      "             AND h.seq - $2::bigint <= $3::int AS events FROM h) "
		      "SELECT m.seq, CASE WHEN m.events THEN 'events' ELSE 'state' END, "
		      "  CASE WHEN m.events THEN (SELECT coalesce(json_agg(fs_comment_event_json(e) "
		      "                                ORDER BY e.seq), '[]') FROM comment_events e "
		      "                           WHERE e.canvas_id = $1 AND e.seq > $2::bigint)::text "
		      "       ELSE fs_comment_threads($1, NULL)::text END "
		      "FROM m",
		      3, params, session_synced_comments, s)) {
		session_unref(s);
		session_close(s, WS_CLOSE_TRY_AGAIN_LATER, "server busy");
	}
}

/* ---- client messages ------------------------------------------------------------------------ */

/* The error a client gets for an op over one of its rates. */
static void session_refuse_rate(struct session *s, const char *scope, int rate, int burst,
				const char *client_op_id)
{
	metrics_counter_inc(METRIC_WS_RATE_LIMITED);
	char detail[128];
	snprintf(detail, sizeof(detail), "rate limit: at most %d operations per second%s (burst %d)",
		 rate, scope, burst);
	session_send_error(s, "rate_limited", detail, client_op_id);
}

/* Rate limits: false (and an error to the client) when the connection or the user is over
 * its rate. */
static bool session_take_token(struct session *s, double cost, const char *client_op_id)
{
	const struct config *cfg = env.cfg;
	tbucket_refill(&s->ops_bucket, clock_mono_seconds());
	if (s->ops_bucket.tokens < cost) {
		session_refuse_rate(s, "", cfg->ws_ops_per_second, cfg->ws_ops_burst, client_op_id);
		return false;
	}
	if (!ratelimit_take_user(s->join.user_id, cost)) {
		session_refuse_rate(s, " per user", cfg->user_ops_per_second, cfg->user_ops_burst,
				    client_op_id);
		return false;
	}
	s->ops_bucket.tokens -= cost;
	return true;
}

static bool session_may_edit(const struct session *s)
{
	return role_at_least(role_parse(s->join.role), ROLE_EDITOR);
}

struct session_commit_ctx {
	struct session *s;
	size_t count;
	char (*client_op_ids)[40];
};

static void session_committed(const struct commit_outcome *out, void *arg)
{
	struct session_commit_ctx *c = arg;
	struct session *s = c->s;
	for (size_t i = 0; i < out->count && s->state < SESSION_CLOSING; i++) {
		const struct commit_op_result *res = &out->results[i];
		const char *id = c->client_op_ids[i];
		switch (res->status) {
		case COMMIT_OK:
		case COMMIT_DUPLICATE:
			session_send_json(s,
					  json_pack("{s:s, s:s, s:I, s:b}", "type", "ack",
						    "client_op_id", id, "version",
						    (json_int_t)res->version, "duplicate",
						    res->status == COMMIT_DUPLICATE),
					  false);
			break;
		case COMMIT_FORBIDDEN:
			session_send_error(s, "forbidden", "your role does not allow editing", id);
			break;
		case COMMIT_NOT_FOUND:
			session_send_error(s, "not_found", "canvas not found", id);
			break;
		case COMMIT_ID_CONFLICT:
			session_send_error(s, "client_op_id_conflict",
					   "client_op_id is already used by another user's operation "
					   "on this canvas: generate a new one",
					   id);
			break;
		case COMMIT_CANVAS_FULL:
			session_send_error(s, "canvas_full", commit_full_detail(), id);
			break;
		default: {
			json_t *msg = json_pack("{s:s, s:s, s:s, s:s, s:b}", "type", "error", "code",
						out->retryable ? "unavailable" : "commit_failed",
						"detail",
						out->retryable ? "commit failed, retry with the same "
								 "client_op_id"
							       : "commit failed",
						"client_op_id", id, "retryable", out->retryable);
			session_send_json(s, msg, false);
			break;
		}
		}
	}
	free(c->client_op_ids);
	free(c);
	s->commits_in_flight--;
	session_run_queued_undo(s);
	session_unref(s);
}

/* operation / operations, already parsed and validated (common/codec/ws_message.c): one
 * commit job for the valid ops, an error for each refused entry of a batch. */
static void session_handle_ops(struct session *s, struct ws_message *m)
{
	const char *single_id = !m->batch && m->op_count ? m->ops[0].client_op_id : NULL;
	if (!session_may_edit(s)) {
		session_send_error(s, "forbidden", "your role does not allow editing", single_id);
		return;
	}
	if (!session_take_token(s, (double)(m->op_count + m->op_error_count), single_id))
		return;
	for (size_t i = 0; i < m->op_error_count; i++) {
		const struct ws_msg_error *e = &m->op_errors[i];
		session_send_error(s, e->code, e->detail,
				   e->client_op_id[0] ? e->client_op_id : NULL);
	}
	if (m->op_count == 0)
		return;
	struct session_commit_ctx *c = xcalloc(1, sizeof(*c));
	c->s = s;
	c->client_op_ids = xcalloc(m->op_count, sizeof(*c->client_op_ids));
	struct commit_job *job =
		commit_job_new(s->join.canvas_id, s->join.user_id, session_committed, c);
	for (size_t i = 0; i < m->op_count; i++) {
		snprintf(c->client_op_ids[c->count++], 40, "%s", m->ops[i].client_op_id);
		commit_job_add_op(job, m->ops[i].client_op_id, m->ops[i].type, m->ops[i].payload,
				  "do", 0);
		m->ops[i].payload = NULL; /* the job owns it now */
	}
	session_ref(s);
	s->commits_in_flight++;
	commit_submit(job);
}

struct session_undo_ctx {
	struct session *s;
	bool redo;
};

static void session_undo_done(void *arg, int status, json_t *body)
{
	struct session_undo_ctx *c = arg;
	struct session *s = c->s;
	if (s->state < SESSION_CLOSING) {
		if (status == 200) {
			json_object_set_new(body, "type", json_string(c->redo ? "redo" : "undo"));
			session_send_json(s, json_incref(body), false);
		} else {
			session_send_error(s, json_string_value(json_object_get(body, "code")),
					   json_string_value(json_object_get(body, "detail")), NULL);
		}
	}
	json_decref(body);
	free(c);
	s->undo_running = false;
	session_run_queued_undo(s);
	session_unref(s);
}

/*
 * Runs the next queued undo/redo once this connection has no commit in flight and no other
 * undo running: an undo sent after an op must see that op committed, or it would undo the
 * step before it.
 */
static void session_run_queued_undo(struct session *s)
{
	if (s->undo_running || s->commits_in_flight > 0 || s->undo_queued == 0 ||
	    s->state >= SESSION_CLOSING)
		return;
	bool redo = s->undo_queue[0];
	memmove(s->undo_queue, s->undo_queue + 1, (s->undo_queued - 1) * sizeof(s->undo_queue[0]));
	s->undo_queued--;
	struct session_undo_ctx *c = xcalloc(1, sizeof(*c));
	c->s = s;
	c->redo = redo;
	s->undo_running = true;
	session_ref(s);
	undo_run(s->join.canvas_id, s->join.user_id, redo, session_undo_done, c);
}

static void session_handle_undo(struct session *s, bool redo)
{
	if (!session_may_edit(s)) {
		session_send_error(s, "forbidden", "your role does not allow editing", NULL);
		return;
	}
	if (s->undo_queued == SESSION_UNDO_QUEUE_MAX) {
		session_send_error(s, "rate_limited", "too many undo/redo requests waiting", NULL);
		return;
	}
	if (!session_take_token(s, 1.0, NULL))
		return;
	s->undo_queue[s->undo_queued++] = redo;
	session_run_queued_undo(s);
}

/* Arms `timer` for when `b` holds a whole token again. */
static void session_arm_bucket_timer(struct event *timer, const struct tbucket *b)
{
	double wait = tbucket_wait(b, 1.0);
	struct timeval tv = { (time_t)wait, (suseconds_t)((wait - (time_t)wait) * 1e6) };
	evtimer_add(timer, &tv);
}

static void session_relay_cursor(struct session *s)
{
	s->cursor_pending = false;
	s->cursor_bucket.tokens -= 1.0;
	json_t *msg = json_pack("{s:s, s:s, s:s, s:f, s:f}", "type", "cursor", "user_id",
				s->join.user_id, "session_id", s->session_id, "x", s->cursor_x, "y",
				s->cursor_y);
	room_relay(s->room, msg, &s->member);
	json_decref(msg);
}

static void session_cursor_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct session *s = arg;
	if (!s->cursor_pending || (s->state != SESSION_OPEN && s->state != SESSION_LAGGING))
		return;
	tbucket_refill(&s->cursor_bucket, clock_mono_seconds());
	if (s->cursor_bucket.tokens < 1.0) {
		/* libevent counts a timer from its cached loop time, so it can fire a little before
		 * the token is due: wait for the rest rather than relay above the rate. */
		session_arm_bucket_timer(s->cursor_timer, &s->cursor_bucket);
		return;
	}
	session_relay_cursor(s);
}

/* Cursors are coalesced: on average at most ws_cursor_hz relays per second (a token bucket
 * with a small burst), and a held update is replaced by later ones: the latest position wins. */
static void session_handle_cursor(struct session *s, const struct ws_message *m)
{
	s->cursor_x = m->x;
	s->cursor_y = m->y;
	tbucket_refill(&s->cursor_bucket, clock_mono_seconds());
	if (s->cursor_bucket.tokens >= 1.0) {
		session_relay_cursor(s);
	} else if (!s->cursor_pending) {
		s->cursor_pending = true;
		session_arm_bucket_timer(s->cursor_timer, &s->cursor_bucket);
	}
}

static void session_relay_selection(struct session *s)
{
	s->selection_pending = false;
	s->selection_bucket.tokens -= 1.0;
	s->selection_seq++;
	room_member_selected(s->room, &s->member, s->selection, s->selection_seq);
}

static void session_selection_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct session *s = arg;
	if (!s->selection_pending || (s->state != SESSION_OPEN && s->state != SESSION_LAGGING))
		return;
	tbucket_refill(&s->selection_bucket, clock_mono_seconds());
	if (s->selection_bucket.tokens < 1.0) {
		session_arm_bucket_timer(s->selection_timer, &s->selection_bucket); /* as for cursors */
		return;
	}
	session_relay_selection(s);
}

/* The shapes the client has selected: shown to the others (and in presence, for joiners),
 * coalesced like cursors: at most ws_cursor_hz relays per second, the latest wins. A selection
 * made before the session is open is relayed when it opens (its presence carries it). */
static void session_handle_selection(struct session *s, struct ws_message *m)
{
	json_decref(s->selection);
	s->selection = m->shape_ids;
	m->shape_ids = NULL;
	if (s->state != SESSION_OPEN && s->state != SESSION_LAGGING)
		return;
	tbucket_refill(&s->selection_bucket, clock_mono_seconds());
	if (s->selection_bucket.tokens >= 1.0) {
		session_relay_selection(s);
	} else if (!s->selection_pending) {
		s->selection_pending = true;
		session_arm_bucket_timer(s->selection_timer, &s->selection_bucket);
	}
}

/* In-progress freehand points: relayed to the room, never stored. */
static void session_handle_stroke(struct session *s, const struct ws_message *m)
{
	if (!session_take_token(s, 1.0, NULL))
		return;
	json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:O, s:b}", "type", "stroke", "user_id",
				s->join.user_id, "session_id", s->session_id, "stroke_id",
				m->stroke_id, "points", m->points, "done", m->done);
	room_relay(s->room, out, &s->member);
	json_decref(out);
}

static void session_on_text(void *owner, const uint8_t *data, size_t len)
{
	struct session *s = owner;
	if (s->state >= SESSION_CLOSING)
		return;
	const struct ws_message_limits limits = {
		.max_ops = (size_t)env.cfg->ws_max_ops_per_message,
		.max_stroke_points = WS_MESSAGE_MAX_STROKE_POINTS,
		.coord_max = WS_MESSAGE_COORD_MAX,
		.max_selection = WS_MESSAGE_MAX_SELECTION,
	};
	struct ws_message m;
	struct ws_msg_error err;
	bool ok = ws_message_parse((const char *)data, len, &limits, &m, &err);
	metrics_labeled_inc(METRIC_L_WS_MESSAGES_RECEIVED, ws_message_type_name(m.type, m.batch));
	if (m.type == WS_MSG_INVALID) {
		session_send_error(s, err.code, err.detail,
				   err.client_op_id[0] ? err.client_op_id : NULL);
	} else if (s->state == SESSION_SYNCING && m.type != WS_MSG_PING) {
		/* Until the sync is sent the client has no base to edit on. Once it has it, ops
		 * are accepted while the session catches up; their deliveries follow in order. */
		session_send_error(s, "not_ready", "wait for the sync message",
				   m.op_count ? m.ops[0].client_op_id : NULL);
	} else if (!ok) {
		if (m.type == WS_MSG_OPERATIONS && !session_may_edit(s))
			session_send_error(s, "forbidden", "your role does not allow editing", NULL);
		else if (m.type != WS_MSG_OPERATIONS || m.batch || session_take_token(s, 1.0, NULL))
			session_send_error(s, err.code, err.detail,
					   err.client_op_id[0] ? err.client_op_id : NULL);
	} else {
		switch (m.type) {
		case WS_MSG_OPERATIONS:
			session_handle_ops(s, &m);
			break;
		case WS_MSG_UNDO:
		case WS_MSG_REDO:
			session_handle_undo(s, m.type == WS_MSG_REDO);
			break;
		case WS_MSG_CURSOR:
			session_handle_cursor(s, &m);
			break;
		case WS_MSG_STROKE:
			session_handle_stroke(s, &m);
			break;
		case WS_MSG_SELECTION:
			session_handle_selection(s, &m);
			break;
		case WS_MSG_PING:
			session_send_json(s, json_pack("{s:s}", "type", "pong"), false);
			break;
		default:
			break;
		}
	}
	ws_message_free(&m);
}

static const struct ws_conn_handler session_conn_handler = {
	.on_text = session_on_text,
	.on_closing = session_on_closing,
	.on_gone = session_on_gone,
	.on_drain = session_on_drain,
};

/* ---- live permissions ------------------------------------------------------------------------ */

/* (canvas, user) pairs whose access is read again, as Postgres array literals. */
struct access_check {
	struct list_link link;       /* access_checks */
	char *canvases;
	char *users;
	int attempts;
	struct event *retry_timer;
};

#define SESSION_ACCESS_CHECK_ATTEMPTS 30

/* Checks in flight or waiting to retry, freed at exit if still there. */
static struct list access_checks;

static void session_access_check_run(struct access_check *c);

static void access_check_free(struct access_check *c)
{
	list_remove(&access_checks, &c->link);
	if (c->retry_timer)
		event_free(c->retry_timer);
	free(c->canvases);
	free(c->users);
	free(c);
}

/* What Postgres says now about one (canvas, user) pair. */
struct access_answer {
	bool live;
	char role[16];    /* "" when not a member */
};

/* Applies an answer to one open session. */
static void session_apply_access(struct session *s, const struct access_answer *a)
{
	if (!a->live || !a->role[0]) {
		log_info("ws_access_revoked", "session=%llu canvas=%s user=%s reason=%s",
			 (unsigned long long)s->id, s->join.canvas_id, s->join.user_id,
			 a->live ? "removed" : "canvas_deleted");
		if (a->live)
			session_close(s, SESSION_CLOSE_ACCESS_REVOKED, "access revoked");
		else
			session_close(s, SESSION_CLOSE_CANVAS_DELETED, "canvas deleted");
	} else if (strcmp(s->join.role, a->role) != 0) {
		log_info("ws_role_changed", "session=%llu canvas=%s user=%s from=%s to=%s",
			 (unsigned long long)s->id, s->join.canvas_id, s->join.user_id, s->join.role,
			 a->role);
		snprintf(s->join.role, sizeof(s->join.role), "%s", a->role);
		session_send_json(s, json_pack("{s:s, s:s}", "type", "role_changed", "role", a->role),
				  false);
	}
}

static void access_key(char out[140], const char *canvas_id, const char *user_id)
{
	snprintf(out, 140, "%s/%s", canvas_id, user_id);
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
}

static void session_access_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	session_access_check_run(arg);
}

/* Columns: canvas id, user id, canvas live ("t"/"f"), the user's role (NULL: not a member). */
static void session_access_checked(const struct db_result *r, void *arg)
{
	struct access_check *c = arg;
	if (!r->ok) {
		/* Retry while Postgres is away: the feed will not bring the change again. */
		if (++c->attempts < SESSION_ACCESS_CHECK_ATTEMPTS && r->retryable && sessions.head) {
			log_warn("ws_access_check_failed", "sqlstate=%s attempt=%d", r->sqlstate,
				 c->attempts);
			struct timeval second = { 1, 0 };
			evtimer_add(c->retry_timer, &second);
			return;
		}
		log_warn("ws_access_check_failed", "sqlstate=%s attempt=%d final=true", r->sqlstate,
			 c->attempts);
		access_check_free(c);
		return;
	}
	/* One pass over the sessions whatever the number of answers (a workspace deletion). */
	int rows = db_rows(r);
	struct access_answer *answers = xcalloc(rows ? (size_t)rows : 1, sizeof(*answers));
	struct strmap *by_key = strmap_new();
	for (int i = 0; i < rows; i++) {
		char key[140];
		access_key(key, db_value(r, i, 0), db_value(r, i, 1));
		answers[i].live = !strcmp(db_value(r, i, 2), "t");
		snprintf(answers[i].role, sizeof(answers[i].role), "%s",
			 db_is_null(r, i, 3) ? "" : db_value(r, i, 3));
		strmap_put(by_key, key, &answers[i]);
	}
	struct list_link *next;
	for (struct list_link *l = sessions.head; l; l = next) {
		next = l->next; /* closing never frees here, but stay safe against removal */
		struct session *s = LIST_ITEM(l, struct session, link);
		if (s->state >= SESSION_CLOSING)
			continue;
		char key[140];
		access_key(key, s->join.canvas_id, s->join.user_id);
		const struct access_answer *a = strmap_get(by_key, key);
		if (a)
			session_apply_access(s, a);
	}
	strmap_free(by_key);
	free(answers);
	access_check_free(c);
}

static void session_access_check_run(struct access_check *c)
{
	const char *params[] = { c->canvases, c->users };
	if (!db_query(env.db,
		      "SELECT s.canvas_id, s.user_id, c.id IS NOT NULL, m.role "
		      "FROM unnest($1::uuid[], $2::uuid[]) AS s(canvas_id, user_id) "
		      "LEFT JOIN canvases c ON c.id = s.canvas_id AND c.deleted_at IS NULL "
		      "LEFT JOIN workspace_members m "
		      "  ON m.workspace_id = c.workspace_id AND m.user_id = s.user_id",
		      2, params, session_access_checked, c)) {
		struct timeval second = { 1, 0 };
		if (++c->attempts < SESSION_ACCESS_CHECK_ATTEMPTS)
			evtimer_add(c->retry_timer, &second);
		else
			access_check_free(c);
	}
}

/* Reads the access of every open session concerned by one of the changes (or of `only`). */
static void session_access_check(const struct access_change *changes, size_t count,
				 const struct session *only)
{
	struct strmap *seen = strmap_new();
	struct evbuffer *canvases = evbuffer_new(), *users = evbuffer_new();
	for (struct list_link *l = sessions.head; l; l = l->next) {
		struct session *s = LIST_ITEM(l, struct session, link);
		if (s->state >= SESSION_CLOSING || (only && s != only))
			continue;
		bool affected = only != NULL;
		for (size_t i = 0; i < count && !affected; i++)
			affected = access_change_affects(&changes[i], s->join.workspace_id,
							 s->join.canvas_id, s->join.user_id);
		char key[140];
		access_key(key, s->join.canvas_id, s->join.user_id);
		if (!affected || strmap_get(seen, key))
			continue;
		strmap_put(seen, key, (void *)1);
		bool first = strmap_count(seen) == 1;
		evbuffer_add_printf(canvases, "%s%s", first ? "{" : ",", s->join.canvas_id);
		evbuffer_add_printf(users, "%s%s", first ? "{" : ",", s->join.user_id);
	}
	if (strmap_count(seen) > 0) {
		evbuffer_add(canvases, "}", 2); /* with the NUL */
		evbuffer_add(users, "}", 2);
		struct access_check *c = xcalloc(1, sizeof(*c));
		size_t n = evbuffer_get_length(canvases);
		c->canvases = xmalloc(n);
		evbuffer_remove(canvases, c->canvases, n);
		n = evbuffer_get_length(users);
		c->users = xmalloc(n);
		evbuffer_remove(users, c->users, n);
		c->retry_timer = evtimer_new(env.base, session_access_retry_cb, c);
		list_push(&access_checks, &c->link);
		session_access_check_run(c);
	}
	evbuffer_free(canvases);
	evbuffer_free(users);
	strmap_free(seen);
}

void sessions_on_access_changes(const struct access_change *changes, size_t count)
{
	session_access_check(changes, count, NULL);
}

/* ---- module ---------------------------------------------------------------------------------- */

void sessions_init(const struct session_env *e)
{
	env = *e;
	conn_limits = (struct ws_conn_limits){
		.max_message = (size_t)env.cfg->ws_max_message,
		.soft_limit = (size_t)env.cfg->ws_soft_limit,
		.hard_limit = (size_t)env.cfg->ws_hard_limit,
		.ping_interval = env.cfg->ws_ping_interval,
		.idle_timeout = env.cfg->ws_idle_timeout,
		.stall_timeout = env.cfg->ws_stall_timeout,
	};
	reaper = reaper_new(env.base, session_free);
	/* Every type at 0 from the start, so dashboards and alerts find the series. */
	size_t n;
	const char *const *received = ws_message_type_names(&n);
	metrics_labeled_declare(METRIC_L_WS_MESSAGES_RECEIVED, received, n);
	static const char *const sent[] = { "sync", "operation", "operations", "ack",
					    "presence_join", "presence_leave", "cursor", "stroke",
					    "undo", "redo", "pong", "error", "comment", "selection",
					    "role_changed" };
	metrics_labeled_declare(METRIC_L_WS_MESSAGES_SENT, sent, sizeof(sent) / sizeof(sent[0]));
}

void session_start(struct stream *stream, const struct session_join *join)
{
	struct session *s = xcalloc(1, sizeof(*s));
	s->member.ops = &session_member_ops;
	s->refs = 1; /* the socket's reference, dropped when it is gone */
	s->id = next_session_id++;
	s->join = *join;
	s->state = SESSION_SYNCING;
	double now = clock_mono_seconds();
	s->opened_at = now;
	if (join->since >= 0)
		metrics_counter_inc(METRIC_WS_RECONNECTS); /* resumes from a version it had */
	tbucket_init(&s->ops_bucket, env.cfg->ws_ops_per_second, env.cfg->ws_ops_burst, now);
	tbucket_init(&s->cursor_bucket, env.cfg->ws_cursor_hz, SESSION_CURSOR_BURST, now);
	tbucket_init(&s->selection_bucket, env.cfg->ws_cursor_hz, SESSION_CURSOR_BURST, now);
	s->selection = json_array();
	if (!token_uuid_v4(s->session_id))
		abort(); /* no randomness: nothing safe to do */
	user_color(join->user_id, s->color);
	list_push(&sessions, &s->link);
	open_count++;
	metrics_gauge_add(METRIC_WS_CONNECTIONS, 1);
	s->cursor_timer = evtimer_new(env.base, session_cursor_timer_cb, s);
	s->selection_timer = evtimer_new(env.base, session_selection_timer_cb, s);
	char label[128];
	snprintf(label, sizeof(label), "session=%llu canvas=%s", (unsigned long long)s->id,
		 join->canvas_id);
	s->conn = ws_conn_new(env.base, stream, &conn_limits, &session_conn_handler, s, label);
	log_info("ws_open", "%s user=%s since=%lld", label, join->user_id, join->since);

	s->room = room_join(join->canvas_id, &s->member);
	session_start_sync(s);
	ws_conn_start(s->conn);
	/* Changes applied between the authorization query and now did not see this session. */
	if (join->access_generation != access_generation() && s->state < SESSION_CLOSING)
		session_access_check(NULL, 0, s);
}

void sessions_drain(void)
{
	for (struct list_link *l = sessions.head; l; l = l->next) {
		struct session *s = LIST_ITEM(l, struct session, link);
		if (s->state < SESSION_CLOSING)
			session_close(s, WS_CLOSE_GOING_AWAY, "server shutting down");
	}
}

void sessions_close_all(void)
{
	struct list_link *next;
	for (struct list_link *l = sessions.head; l; l = next) {
		next = l->next;
		struct session *s = LIST_ITEM(l, struct session, link);
		if (s->conn)
			ws_conn_abort(s->conn);
	}
	if (reaper)
		reaper_run(reaper);
}

void sessions_release(void)
{
	while (access_checks.head)
		access_check_free(LIST_ITEM(access_checks.head, struct access_check, link));
	reaper_free(reaper);
	reaper = NULL;
	ws_conns_release();
}
