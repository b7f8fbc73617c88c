/*
 * WebSocket sessions (see ws.h for the state machine and ownership rules).
 *
 * Output is bounded like redis's client output buffers: above the soft limit a client stops
 * receiving transient messages (cursors, strokes, presence), above the hard limit it is closed
 * with 1013 (try again later); it then reconnects with ?since= and loses no operation, because
 * operations are only ever dropped together with the connection, never silently.
 */
#include "ws.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "alloc.h"
#include "api.h"
#include "commit.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "op.h"
#include "ratelimit.h"
#include "room.h"
#include "server.h"
#include "state.h"
#include "token.h"
#include "undo.h"
#include "validate.h"
#include "ws_codec.h"
#include "ws_message.h"

#define WS_CLOSING_TIMEOUT_SEC 5
#define WS_UNDO_QUEUE_MAX 16
/* Cursor relays a session may bunch up: a client sending at the full rate with ordinary
 * jitter is then never delayed, while the average stays at FLOWSTATE_WS_CURSOR_HZ. */
#define WS_CURSOR_BURST 3.0

enum ws_state { WS_SYNCING, WS_CATCHING, WS_OPEN, WS_CLOSING, WS_CLOSED };

static const char *const ws_state_names[] = { "syncing", "catching", "open", "closing",
					      "closed" };

struct ws_frame {
	int refs;
	size_t len;
	uint8_t data[];
};

struct ws_session {
	struct server *srv;
	struct bufferevent *bev;
	struct ws_decoder *decoder;
	enum ws_state state;
	int refs;
	uint64_t id;
	char session_id[40];
	char color[8];
	struct ws_join join;
	struct room *room;
	struct ws_session *room_next;
	struct ws_session *prev, *next;      /* all sessions */
	long long cursor;                    /* last op version sent */
	bool catch_up_in_flight;
	bool write_shut;                     /* CLOSING: our side of the TCP stream is shut */
	bool waiting_for_room;
	/* rate limit (token bucket over ops and strokes) */
	double tokens;
	double last_refill;
	/* cursor coalescing */
	double cursor_tokens;                /* relay budget: ws_cursor_hz/s, burst WS_CURSOR_BURST */
	double cursor_refill;
	bool cursor_pending;
	double cursor_x, cursor_y;
	struct event *cursor_timer;
	/* undo/redo wait for this connection's earlier ops to commit, and for each other */
	int commits_in_flight;
	bool undo_running;
	bool undo_queue[WS_UNDO_QUEUE_MAX];   /* true = redo */
	size_t undo_queued;
	/* liveness */
	double last_rx;
	double last_ping;
	struct event *tick;
};

static struct ws_session *sessions_head;
static struct ws_session *reap_head;   /* unreferenced, freed by the reaper event */
static struct event *reaper;
static size_t sessions_open;
static uint64_t next_session_id = 1;

static void ws_session_close(struct ws_session *s, uint16_t code, const char *reason);
static void ws_session_teardown(struct ws_session *s);
static void ws_catch_up(struct ws_session *s);
static void ws_run_queued_undo(struct ws_session *s);

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- shared frames ----------------------------------------------------------------------- */

struct ws_frame *ws_frame_text(const char *text, size_t len)
{
	uint8_t header[10];
	size_t hl = ws_frame_header(header, WS_OP_TEXT, true, len);
	struct ws_frame *f = xmalloc(sizeof(*f) + hl + len);
	f->refs = 1;
	f->len = hl + len;
	memcpy(f->data, header, hl);
	memcpy(f->data + hl, text, len);
	return f;
}

struct ws_frame *ws_frame_json(json_t *message)
{
	/* json_pack returns NULL for invalid UTF-8: never let that become a crash. */
	static const char fallback[] = "{\"type\":\"error\",\"code\":\"internal\","
				       "\"detail\":\"unencodable message\"}";
	char *text = message ? json_dumps(message, JSON_COMPACT) : NULL;
	if (!text)
		return ws_frame_text(fallback, sizeof(fallback) - 1);
	struct ws_frame *f = ws_frame_text(text, strlen(text));
	free(text);
	return f;
}

void ws_frame_release(struct ws_frame *f)
{
	if (f && --f->refs == 0)
		free(f);
}

static void frame_cleanup(const void *data, size_t len, void *arg)
{
	ws_frame_release(arg);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void ws_session_ref(struct ws_session *s)
{
	s->refs++;
}

static void ws_reap(evutil_socket_t fd, short events, void *arg)
{
	while (reap_head) {
		struct ws_session *s = reap_head;
		reap_head = s->next;
		ws_decoder_free(s->decoder);
		free(s);
	}
}

/* The last reference queues the session for the reaper: it is freed after the callback
 * that dropped it has returned, never inside it. */
static void ws_session_unref(struct ws_session *s)
{
	if (--s->refs > 0)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		sessions_head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = NULL;
	s->next = reap_head;
	reap_head = s;
	event_active(reaper, 0, 0);
}

/* The only function that changes a session's state. */
static void ws_change_state(struct ws_session *s, enum ws_state state)
{
	if (s->state >= WS_CLOSING && state < s->state)
		return; /* closing is final: late callbacks must not revive a session */
	log_debug("ws_state", "session=%llu canvas=%s from=%s to=%s",
		  (unsigned long long)s->id, s->join.canvas_id, ws_state_names[s->state],
		  ws_state_names[state]);
	enum ws_state old = s->state;
	s->state = state;
	if (state == WS_OPEN && old < WS_OPEN && s->room) {
		/* Now visible to others. */
		json_t *msg = json_pack("{s:s, s:o}", "type", "presence_join", "user",
					ws_session_presence(s));
		room_relay(s->room, msg, s);
		json_decref(msg);
		room_session_opened(s->room, s);
	}
	if (state >= WS_CLOSING && old == WS_OPEN && s->room) {
		room_session_closed(s->room, s);
		json_t *msg = json_pack("{s:s, s:s, s:s}", "type", "presence_leave", "user_id",
					s->join.user_id, "session_id", s->session_id);
		room_relay(s->room, msg, s);
		json_decref(msg);
	}
}

bool ws_session_is_open(const struct ws_session *s)
{
	return s->state == WS_OPEN;
}

bool ws_session_synced(const struct ws_session *s)
{
	return s->state == WS_CATCHING || s->state == WS_OPEN;
}

struct ws_session **ws_session_room_next(struct ws_session *s)
{
	return &s->room_next;
}

size_t ws_sessions_open(void)
{
	return sessions_open;
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

json_t *ws_session_presence(const struct ws_session *s)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "user_id", s->join.user_id, "session_id",
			 s->session_id, "display_name", s->join.display_name, "color", s->color);
}

/* ---- output --------------------------------------------------------------------------------- */

static size_t ws_output_len(const struct ws_session *s)
{
	return evbuffer_get_length(bufferevent_get_output(s->bev));
}

/*
 * Queues a frame by reference. Transient frames are dropped above the soft limit; anything
 * that would pass the hard limit closes the client instead (1013: it will reconnect with since
 * and miss nothing).
 */
void ws_session_send_frame(struct ws_session *s, struct ws_frame *f, bool transient)
{
	if (s->state >= WS_CLOSING)
		return;
	size_t queued = ws_output_len(s);
	if (transient && queued > (size_t)s->srv->cfg.ws_soft_limit) {
		metrics_counter_inc(METRIC_WS_TRANSIENT_DROPPED);
		return;
	}
	/* The limit bounds what piles up behind a client, so a single frame larger than it (a
	 * big sync) still goes out when nothing is queued. */
	if (queued > 0 && queued + f->len > (size_t)s->srv->cfg.ws_hard_limit) {
		metrics_counter_inc(METRIC_WS_SLOW_CLIENTS_CLOSED);
		log_info("ws_slow_client", "session=%llu canvas=%s queued=%zu",
			 (unsigned long long)s->id, s->join.canvas_id, queued);
		ws_session_close(s, WS_CLOSE_TRY_AGAIN_LATER, "slow consumer: reconnect with since");
		return;
	}
	f->refs++;
	evbuffer_add_reference(bufferevent_get_output(s->bev), f->data, f->len, frame_cleanup, f);
}

static void ws_send_json(struct ws_session *s, json_t *msg, bool transient)
{
	struct ws_frame *f = ws_frame_json(msg);
	json_decref(msg); /* NULL-safe */
	ws_session_send_frame(s, f, transient);
	ws_frame_release(f);
}

static void ws_send_error(struct ws_session *s, const char *code, const char *detail,
			  const char *client_op_id)
{
	json_t *msg = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "detail", detail);
	if (client_op_id)
		json_object_set_new(msg, "client_op_id", json_string(client_op_id));
	ws_send_json(s, msg, false);
}

static void ws_send_control(struct ws_session *s, enum ws_opcode op, const uint8_t *payload,
			    size_t len)
{
	uint8_t header[10];
	size_t hl = ws_frame_header(header, op, true, len);
	struct evbuffer *out = bufferevent_get_output(s->bev);
	evbuffer_add(out, header, hl);
	if (len)
		evbuffer_add(out, payload, len);
}

/* Starts the closing handshake: close frame queued, no more input processed. */
static void ws_session_close(struct ws_session *s, uint16_t code, const char *reason)
{
	if (s->state >= WS_CLOSING)
		return;
	uint8_t payload[125];
	size_t len = ws_close_payload(payload, code, reason);
	ws_send_control(s, WS_OP_CLOSE, payload, len);
	ws_change_state(s, WS_CLOSING);
	/* Keep reading (and discarding) until the peer closes: closing a socket with unread
	 * input makes the kernel send a RST, which can destroy the close frame and anything
	 * still queued before it. Bounded by the timeout. */
	struct timeval limit = { WS_CLOSING_TIMEOUT_SEC, 0 };
	bufferevent_set_timeouts(s->bev, &limit, &limit);
	bufferevent_enable(s->bev, EV_READ);
	log_info("ws_close", "session=%llu canvas=%s code=%u", (unsigned long long)s->id,
		 s->join.canvas_id, code);
}

/* Releases the socket and the room membership; the object goes with its last reference. */
static void ws_session_teardown(struct ws_session *s)
{
	if (s->state == WS_CLOSED)
		return;
	if (s->state == WS_OPEN)
		ws_change_state(s, WS_CLOSING); /* presence_leave */
	ws_change_state(s, WS_CLOSED);
	if (s->room)
		room_leave(s->room, s);
	s->room = NULL;
	event_free(s->tick);
	event_free(s->cursor_timer);
	s->tick = s->cursor_timer = NULL;
	bufferevent_free(s->bev);
	s->bev = NULL;
	sessions_open--;
	metrics_gauge_add(METRIC_WS_CONNECTIONS, -1);
	ws_session_unref(s);
}

/* ---- delivery ------------------------------------------------------------------------------- */

void ws_session_deliver_op(struct ws_session *s, long long version, struct ws_frame *f)
{
	if (s->state != WS_OPEN || version <= s->cursor)
		return; /* syncing/catching sessions fetch what they miss; older ones they have */
	if (version != s->cursor + 1) {
		/* Cannot happen while the room delivers in order; recover rather than skip. */
		log_warn("ws_cursor_gap", "session=%llu cursor=%lld version=%lld",
			 (unsigned long long)s->id, s->cursor, version);
		ws_change_state(s, WS_CATCHING);
		ws_catch_up(s);
		return;
	}
	ws_session_send_frame(s, f, false);
	s->cursor = version;
}

/* Decides, after the sync or a catch-up, whether the session is level with its room. */
static void ws_after_sync(struct ws_session *s)
{
	if (s->state >= WS_CLOSING)
		return;
	long long delivered = room_delivered(s->room);
	if (delivered < 0) {
		s->waiting_for_room = true; /* ws_session_room_ready resumes */
		return;
	}
	if (delivered > s->cursor) {
		ws_catch_up(s);
		return;
	}
	ws_change_state(s, WS_OPEN);
}

void ws_session_room_ready(struct ws_session *s)
{
	if (s->waiting_for_room) {
		s->waiting_for_room = false;
		ws_after_sync(s);
	}
}

static void ws_caught_up(const struct db_result *r, void *arg)
{
	struct ws_session *s = arg;
	s->catch_up_in_flight = false;
	if (s->state >= WS_CLOSING) {
		ws_session_unref(s);
		return;
	}
	if (!r->ok) {
		ws_session_close(s, WS_CLOSE_TRY_AGAIN_LATER, "database unavailable");
		ws_session_unref(s);
		return;
	}
	json_t *ops = json_loads(PQgetvalue(r->res, 0, 0), 0, NULL);
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op) {
		long long v = json_integer_value(json_object_get(op, "version"));
		if (v != s->cursor + 1)
			continue;
		ws_send_json(s, json_pack("{s:s, s:O}", "type", "operation", "operation", op), false);
		s->cursor = v;
	}
	json_decref(ops);
	ws_after_sync(s);
	ws_session_unref(s);
}

/* Fetches the ops between the session's cursor and the room's delivered version. */
static void ws_catch_up(struct ws_session *s)
{
	if (s->catch_up_in_flight)
		return;
	if (s->state < WS_CATCHING)
		ws_change_state(s, WS_CATCHING);
	char after[32], upto[32];
	snprintf(after, sizeof(after), "%lld", s->cursor);
	snprintf(upto, sizeof(upto), "%lld", room_delivered(s->room));
	const char *params[] = { s->join.canvas_id, after, upto };
	ws_session_ref(s);
	if (!db_query(s->srv->db,
		      "SELECT coalesce(json_agg(fs_op_json(o) ORDER BY o.version), '[]')::text "
		      "FROM operations o WHERE o.canvas_id = $1 AND o.version > $2 "
		      "AND o.version <= $3",
		      3, params, ws_caught_up, s)) {
		ws_session_unref(s);
		ws_session_close(s, WS_CLOSE_TRY_AGAIN_LATER, "server busy");
		return;
	}
	s->catch_up_in_flight = true;
}

/* ---- sync ---------------------------------------------------------------------------------- */

static json_t *ws_you(const struct ws_session *s)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", s->join.user_id, "session_id",
			 s->session_id, "display_name", s->join.display_name, "color", s->color,
			 "role", s->join.role);
}

/* Sends {type: sync, ..., mode, operations|state, presence, you} and sets the cursor. */
static void ws_send_sync(struct ws_session *s, long long version, const char *mode,
			 const char *payload_key, const char *payload_json)
{
	json_t *presence = room_presence(s->room);
	json_array_append_new(presence, ws_session_presence(s));
	json_t *you = ws_you(s);
	char *presence_text = json_dumps(presence, JSON_COMPACT);
	char *you_text = json_dumps(you, JSON_COMPACT);
	char *text = xasprintf("{\"type\":\"sync\",\"canvas_id\":\"%s\",\"current_version\":%lld,"
			       "\"mode\":\"%s\",\"%s\":%s,\"presence\":%s,\"you\":%s}",
			       s->join.canvas_id, version, mode, payload_key, payload_json,
			       presence_text, you_text);
	struct ws_frame *f = ws_frame_text(text, strlen(text));
	ws_session_send_frame(s, f, false);
	ws_frame_release(f);
	free(text);
	free(presence_text);
	free(you_text);
	json_decref(presence);
	json_decref(you);
	s->cursor = version;
}

static void ws_synced_state(struct state_result *r, void *arg)
{
	struct ws_session *s = arg;
	if (s->state >= WS_CLOSING) {
		ws_session_unref(s);
		return;
	}
	if (r->status != STATE_OK) {
		ws_session_close(s, r->status == STATE_NOT_FOUND ? WS_CLOSE_POLICY
								 : WS_CLOSE_TRY_AGAIN_LATER,
				 "sync failed");
		ws_session_unref(s);
		return;
	}
	size_t len;
	char *shapes = canvas_state_serialize(r->state, &len);
	char *state = xasprintf("{\"shapes\":%s}", shapes);
	ws_send_sync(s, r->at, "state", "state", state);
	ws_change_state(s, WS_CATCHING); /* no-op if sending it closed the session */
	free(state);
	free(shapes);
	ws_after_sync(s);
	ws_session_unref(s);
}

static void ws_synced_ops(const struct db_result *r, void *arg)
{
	struct ws_session *s = arg;
	if (s->state >= WS_CLOSING) {
		ws_session_unref(s);
		return;
	}
	if (!r->ok || PQntuples(r->res) != 1) {
		ws_session_close(s, WS_CLOSE_TRY_AGAIN_LATER, "sync failed");
		ws_session_unref(s);
		return;
	}
	long long head = strtoll(PQgetvalue(r->res, 0, 0), NULL, 10);
	ws_send_sync(s, head, "operations", "operations", PQgetvalue(r->res, 0, 1));
	ws_change_state(s, WS_CATCHING); /* no-op if sending it closed the session */
	ws_after_sync(s);
	ws_session_unref(s);
}

static void ws_start_sync(struct ws_session *s, long long head_at_join)
{
	long long since = s->join.since;
	bool ops_mode = since >= 0 && since <= head_at_join &&
			head_at_join - since <= s->srv->cfg.sync_max_ops;
	ws_session_ref(s);
	bool queued;
	if (ops_mode) {
		/* Head and ops in one snapshot: the ops are exactly since+1 .. head. */
		char after[32];
		snprintf(after, sizeof(after), "%lld", since);
		const char *params[] = { s->join.canvas_id, after };
		queued = db_query(s->srv->db,
				  "SELECT c.version, coalesce((SELECT json_agg(fs_op_json(o) "
				  "  ORDER BY o.version) FROM operations o WHERE o.canvas_id = $1 "
				  "  AND o.version > $2 AND o.version <= c.version), '[]')::text "
				  "FROM canvases c WHERE c.id = $1",
				  2, params, ws_synced_ops, s);
	} else {
		queued = state_load(s->srv, s->join.canvas_id, NULL, -1, ws_synced_state, s);
	}
	if (!queued) {
		ws_session_unref(s);
		ws_session_close(s, WS_CLOSE_TRY_AGAIN_LATER, "server busy");
	}
}

/* ---- client messages ------------------------------------------------------------------------ */

/* Token bucket: false (and an error to the client) when the connection is over its rate. */
static bool ws_take_token(struct ws_session *s, double cost, const char *client_op_id)
{
	double now = now_seconds();
	double rate = s->srv->cfg.ws_ops_per_second, burst = s->srv->cfg.ws_ops_burst;
	s->tokens += (now - s->last_refill) * rate;
	if (s->tokens > burst)
		s->tokens = burst;
	s->last_refill = now;
	if (s->tokens < cost) {
		metrics_counter_inc(METRIC_WS_RATE_LIMITED);
		char detail[128];
		snprintf(detail, sizeof(detail),
			 "rate limit: at most %d operations per second (burst %d)",
			 s->srv->cfg.ws_ops_per_second, s->srv->cfg.ws_ops_burst);
		ws_send_error(s, "rate_limited", detail, client_op_id);
		return false;
	}
	if (!ratelimit_take_user(s->join.user_id, cost)) {
		metrics_counter_inc(METRIC_WS_RATE_LIMITED);
		char detail[128];
		snprintf(detail, sizeof(detail),
			 "rate limit: at most %d operations per second per user (burst %d)",
			 s->srv->cfg.user_ops_per_second, s->srv->cfg.user_ops_burst);
		ws_send_error(s, "rate_limited", detail, client_op_id);
		return false;
	}
	s->tokens -= cost;
	return true;
}

struct ws_commit_ctx {
	struct ws_session *s;
	size_t count;
	char (*client_op_ids)[40];
};

static void ws_committed(const struct commit_outcome *out, void *arg)
{
	struct ws_commit_ctx *c = arg;
	struct ws_session *s = c->s;
	for (size_t i = 0; i < out->count && s->state < WS_CLOSING; i++) {
		const struct commit_op_result *res = &out->results[i];
		const char *id = c->client_op_ids[i];
		switch (res->status) {
		case COMMIT_OK:
		case COMMIT_DUPLICATE:
			ws_send_json(s,
				     json_pack("{s:s, s:s, s:I, s:b}", "type", "ack", "client_op_id", id,
					       "version", (json_int_t)res->version, "duplicate",
					       res->status == COMMIT_DUPLICATE),
				     false);
			break;
		case COMMIT_FORBIDDEN:
			ws_send_error(s, "forbidden", "your role does not allow editing", id);
			break;
		case COMMIT_NOT_FOUND:
			ws_send_error(s, "not_found", "canvas not found", id);
			break;
		default: {
			json_t *msg = json_pack("{s:s, s:s, s:s, s:s, s:b}", "type", "error", "code",
						out->retryable ? "unavailable" : "commit_failed",
						"detail",
						out->retryable ? "commit failed, retry with the same "
								 "client_op_id"
							       : "commit failed",
						"client_op_id", id, "retryable", out->retryable);
			ws_send_json(s, msg, false);
			break;
		}
		}
	}
	free(c->client_op_ids);
	free(c);
	s->commits_in_flight--;
	ws_run_queued_undo(s);
	ws_session_unref(s);
}

/* operation / operations, already parsed and validated (common/ws_message.c): one commit job
 * for the valid ops, an error for each refused entry of a batch. */
static void ws_handle_ops(struct ws_session *s, struct ws_message *m)
{
	const char *single_id = !m->batch && m->op_count ? m->ops[0].client_op_id : NULL;
	if (api_role_rank(s->join.role) < 2) {
		ws_send_error(s, "forbidden", "your role does not allow editing", single_id);
		return;
	}
	if (!ws_take_token(s, (double)(m->op_count + m->op_error_count), single_id))
		return;
	for (size_t i = 0; i < m->op_error_count; i++) {
		const struct ws_msg_error *e = &m->op_errors[i];
		ws_send_error(s, e->code, e->detail, e->client_op_id[0] ? e->client_op_id : NULL);
	}
	if (m->op_count == 0)
		return;
	struct ws_commit_ctx *c = xcalloc(1, sizeof(*c));
	c->s = s;
	c->client_op_ids = xcalloc(m->op_count, sizeof(*c->client_op_ids));
	struct commit_job *job = commit_job_new(s->join.canvas_id, s->join.user_id, ws_committed, c);
	for (size_t i = 0; i < m->op_count; i++) {
		snprintf(c->client_op_ids[c->count++], 40, "%s", m->ops[i].client_op_id);
		commit_job_add_op(job, m->ops[i].client_op_id, m->ops[i].type, m->ops[i].payload,
				  "do", 0);
		m->ops[i].payload = NULL; /* the job owns it now */
	}
	ws_session_ref(s);
	s->commits_in_flight++;
	commit_submit(s->srv, job);
}

struct ws_undo_ctx {
	struct ws_session *s;
	bool redo;
};

static void ws_undo_done(void *arg, int status, json_t *body)
{
	struct ws_undo_ctx *c = arg;
	struct ws_session *s = c->s;
	if (s->state < WS_CLOSING) {
		if (status == 200) {
			json_object_set_new(body, "type", json_string(c->redo ? "redo" : "undo"));
			ws_send_json(s, json_incref(body), false);
		} else {
			ws_send_error(s, json_string_value(json_object_get(body, "code")),
				      json_string_value(json_object_get(body, "detail")), NULL);
		}
	}
	json_decref(body);
	free(c);
	s->undo_running = false;
	ws_run_queued_undo(s);
	ws_session_unref(s);
}

/*
 * Runs the next queued undo/redo once this connection has no commit in flight and no other
 * undo running: an undo sent after an op must see that op committed, or it would undo the
 * step before it.
 */
static void ws_run_queued_undo(struct ws_session *s)
{
	if (s->undo_running || s->commits_in_flight > 0 || s->undo_queued == 0 ||
	    s->state >= WS_CLOSING)
		return;
	bool redo = s->undo_queue[0];
	memmove(s->undo_queue, s->undo_queue + 1, (s->undo_queued - 1) * sizeof(s->undo_queue[0]));
	s->undo_queued--;
	struct ws_undo_ctx *c = xcalloc(1, sizeof(*c));
	c->s = s;
	c->redo = redo;
	s->undo_running = true;
	ws_session_ref(s);
	undo_run(s->srv, s->join.canvas_id, s->join.user_id, redo, ws_undo_done, c);
}

static void ws_handle_undo(struct ws_session *s, bool redo)
{
	if (api_role_rank(s->join.role) < 2) {
		ws_send_error(s, "forbidden", "your role does not allow editing", NULL);
		return;
	}
	if (s->undo_queued == WS_UNDO_QUEUE_MAX) {
		ws_send_error(s, "rate_limited", "too many undo/redo requests waiting", NULL);
		return;
	}
	if (!ws_take_token(s, 1.0, NULL))
		return;
	s->undo_queue[s->undo_queued++] = redo;
	ws_run_queued_undo(s);
}

static void ws_relay_cursor(struct ws_session *s)
{
	s->cursor_pending = false;
	s->cursor_tokens -= 1.0;
	json_t *msg = json_pack("{s:s, s:s, s:s, s:f, s:f}", "type", "cursor", "user_id",
				s->join.user_id, "session_id", s->session_id, "x", s->cursor_x, "y",
				s->cursor_y);
	room_relay(s->room, msg, s);
	json_decref(msg);
}

static void ws_cursor_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct ws_session *s = arg;
	if (!s->cursor_pending || s->state != WS_OPEN)
		return;
	double now = now_seconds();
	s->cursor_tokens += (now - s->cursor_refill) * s->srv->cfg.ws_cursor_hz;
	if (s->cursor_tokens > WS_CURSOR_BURST)
		s->cursor_tokens = WS_CURSOR_BURST;
	s->cursor_refill = now;
	if (s->cursor_tokens < 1.0)
		s->cursor_tokens = 1.0; /* the timer was set for when a token is due */
	ws_relay_cursor(s);
}

/* Cursors are coalesced: on average at most ws_cursor_hz relays per second (a token bucket
 * with a small burst), and a held update is replaced by later ones: the latest position wins. */
static void ws_handle_cursor(struct ws_session *s, const struct ws_message *m)
{
	s->cursor_x = m->x;
	s->cursor_y = m->y;
	double now = now_seconds(), rate = s->srv->cfg.ws_cursor_hz;
	s->cursor_tokens += (now - s->cursor_refill) * rate;
	if (s->cursor_tokens > WS_CURSOR_BURST)
		s->cursor_tokens = WS_CURSOR_BURST;
	s->cursor_refill = now;
	double wait = (1.0 - s->cursor_tokens) / rate;
	if (s->cursor_tokens >= 1.0) {
		ws_relay_cursor(s);
	} else if (!s->cursor_pending) {
		s->cursor_pending = true;
		struct timeval tv = { (time_t)wait, (suseconds_t)((wait - (time_t)wait) * 1e6) };
		evtimer_add(s->cursor_timer, &tv);
	}
}

/* In-progress freehand points: relayed to the room, never stored. */
static void ws_handle_stroke(struct ws_session *s, const struct ws_message *m)
{
	if (!ws_take_token(s, 1.0, NULL))
		return;
	json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:O, s:b}", "type", "stroke", "user_id",
				s->join.user_id, "session_id", s->session_id, "stroke_id",
				m->stroke_id, "points", m->points, "done", m->done);
	room_relay(s->room, out, s);
	json_decref(out);
}

static void ws_handle_text(struct ws_session *s, const uint8_t *data, size_t len)
{
	metrics_counter_inc(METRIC_WS_MESSAGES_IN);
	const struct ws_message_limits limits = {
		.max_ops = (size_t)s->srv->cfg.ws_max_ops_per_message,
		.max_stroke_points = WS_MESSAGE_MAX_STROKE_POINTS,
		.coord_max = WS_MESSAGE_COORD_MAX,
	};
	struct ws_message m;
	struct ws_msg_error err;
	bool ok = ws_message_parse((const char *)data, len, &limits, &m, &err);
	if (m.type == WS_MSG_INVALID) {
		ws_send_error(s, err.code, err.detail, err.client_op_id[0] ? err.client_op_id : NULL);
	} else if (s->state == WS_SYNCING && m.type != WS_MSG_PING) {
		/* Until the sync is sent the client has no base to edit on. Once it has it, ops
		 * are accepted while the session catches up; their deliveries follow in order. */
		ws_send_error(s, "not_ready", "wait for the sync message",
			      m.op_count ? m.ops[0].client_op_id : NULL);
	} else if (!ok) {
		if (m.type == WS_MSG_OPERATIONS && api_role_rank(s->join.role) < 2)
			ws_send_error(s, "forbidden", "your role does not allow editing", NULL);
		else if (m.type != WS_MSG_OPERATIONS || m.batch || ws_take_token(s, 1.0, NULL))
			ws_send_error(s, err.code, err.detail,
				      err.client_op_id[0] ? err.client_op_id : NULL);
	} else {
		switch (m.type) {
		case WS_MSG_OPERATIONS:
			ws_handle_ops(s, &m);
			break;
		case WS_MSG_UNDO:
		case WS_MSG_REDO:
			ws_handle_undo(s, m.type == WS_MSG_REDO);
			break;
		case WS_MSG_CURSOR:
			ws_handle_cursor(s, &m);
			break;
		case WS_MSG_STROKE:
			ws_handle_stroke(s, &m);
			break;
		case WS_MSG_PING:
			ws_send_json(s, json_pack("{s:s}", "type", "pong"), false);
			break;
		default:
			break;
		}
	}
	ws_message_free(&m);
}

/* ---- socket callbacks ----------------------------------------------------------------------- */

static void ws_read_cb(struct bufferevent *bev, void *arg)
{
	struct ws_session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	if (s->state == WS_CLOSING) {
		evbuffer_drain(in, evbuffer_get_length(in)); /* waiting for the peer to close */
		return;
	}
	ws_session_ref(s);
	while (s->state < WS_CLOSING && evbuffer_get_length(in) > 0) {
		size_t len = evbuffer_get_length(in);
		if (len > 65536)
			len = 65536;
		const uint8_t *data = evbuffer_pullup(in, (ev_ssize_t)len);
		size_t consumed = 0;
		struct ws_event ev;
		uint16_t code = 0;
		const char *why = NULL;
		enum ws_decode_result r = ws_decoder_next(s->decoder, data, len, &consumed, &ev,
							  &code, &why);
		s->last_rx = now_seconds();
		if (r == WS_DECODE_ERROR) {
			evbuffer_drain(in, evbuffer_get_length(in));
			log_info("ws_protocol_error", "session=%llu code=%u reason=%s",
				 (unsigned long long)s->id, code, why);
			ws_session_close(s, code, why);
			break;
		}
		if (r == WS_DECODE_NEED_MORE) {
			evbuffer_drain(in, consumed);
			continue;
		}
		/* The event's bytes live in the decoder (or the pulled-up input): handle before
		 * draining. */
		switch (ev.type) {
		case WS_EVENT_TEXT:
			ws_handle_text(s, ev.data, ev.len);
			break;
		case WS_EVENT_BINARY:
			ws_session_close(s, WS_CLOSE_UNSUPPORTED, "binary messages are not supported");
			break;
		case WS_EVENT_PING:
			/* Pongs are bounded like any output: a client that pings without reading
			 * gets no more pongs past the soft limit (RFC 6455 allows answering only
			 * the latest ping), and is closed past the hard one. */
			if (ws_output_len(s) > (size_t)s->srv->cfg.ws_hard_limit) {
				metrics_counter_inc(METRIC_WS_SLOW_CLIENTS_CLOSED);
				ws_session_close(s, WS_CLOSE_TRY_AGAIN_LATER, "slow consumer");
			} else if (ws_output_len(s) > (size_t)s->srv->cfg.ws_soft_limit) {
				metrics_counter_inc(METRIC_WS_TRANSIENT_DROPPED);
			} else {
				ws_send_control(s, WS_OP_PONG, ev.data, ev.len);
			}
			break;
		case WS_EVENT_PONG:
			break;
		case WS_EVENT_CLOSE:
			/* Echo the code (or 1000), then close when it is flushed. */
			ws_session_close(s, ev.close_code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL
									       : ev.close_code,
					 "");
			break;
		}
		evbuffer_drain(in, consumed);
	}
	ws_session_unref(s);
}

static void ws_write_cb(struct bufferevent *bev, void *arg)
{
	struct ws_session *s = arg;
	/* Callbacks are deferred: this one may have been scheduled by a drain that happened
	 * before the close frame was queued, so look at the buffer, not at the event. */
	if (s->state == WS_CLOSING && !s->write_shut && ws_output_len(s) == 0) {
		/* Close frame flushed: half-close, then wait for the peer's EOF (ws_event_cb). */
		s->write_shut = true;
		shutdown(bufferevent_getfd(bev), SHUT_WR);
	}
}

static void ws_event_cb(struct bufferevent *bev, short events, void *arg)
{
	ws_session_teardown(arg);
}

static void ws_tick_cb(evutil_socket_t fd, short events, void *arg)
{
	struct ws_session *s = arg;
	double now = now_seconds();
	if (s->state >= WS_CLOSING)
		return;
	if (now - s->last_rx > s->srv->cfg.ws_idle_timeout) {
		ws_session_close(s, WS_CLOSE_POLICY, "idle timeout");
		return;
	}
	if (now - s->last_ping >= s->srv->cfg.ws_ping_interval) {
		s->last_ping = now;
		ws_send_control(s, WS_OP_PING, (const uint8_t *)"fs", 2);
	}
}

void ws_session_start(struct server *srv, struct bufferevent *bev, const struct ws_join *join)
{
	if (!reaper)
		reaper = event_new(srv->base, -1, 0, ws_reap, NULL);
	struct ws_session *s = xcalloc(1, sizeof(*s));
	s->srv = srv;
	s->bev = bev;
	s->refs = 1; /* the socket's reference, dropped by teardown */
	s->id = next_session_id++;
	s->join = *join;
	s->state = WS_SYNCING;
	s->decoder = ws_decoder_new((size_t)srv->cfg.ws_max_message);
	s->tokens = srv->cfg.ws_ops_burst;
	s->cursor_tokens = WS_CURSOR_BURST;
	s->last_refill = s->last_rx = s->last_ping = s->cursor_refill = now_seconds();
	if (!token_uuid_v4(s->session_id))
		abort(); /* no randomness: nothing safe to do */
	user_color(join->user_id, s->color);
	s->next = sessions_head;
	if (sessions_head)
		sessions_head->prev = s;
	sessions_head = s;
	sessions_open++;
	metrics_gauge_add(METRIC_WS_CONNECTIONS, 1);

	s->cursor_timer = evtimer_new(srv->base, ws_cursor_timer_cb, s);
	s->tick = event_new(srv->base, -1, EV_PERSIST, ws_tick_cb, s);
	struct timeval one = { 1, 0 };
	event_add(s->tick, &one);
	bufferevent_setcb(bev, ws_read_cb, ws_write_cb, ws_event_cb, s);
	bufferevent_set_timeouts(bev, NULL, NULL);
	bufferevent_enable(bev, EV_READ);
	log_info("ws_open", "session=%llu canvas=%s user=%s since=%lld", (unsigned long long)s->id,
		 join->canvas_id, join->user_id, join->since);

	s->room = room_join(srv, join->canvas_id, s);
	ws_start_sync(s, join->head);
	/* Bytes the client sent right after its handshake are already buffered. */
	if (evbuffer_get_length(bufferevent_get_input(bev)))
		ws_read_cb(bev, s);
}

void ws_sessions_drain(void)
{
	struct ws_session *s = sessions_head;
	while (s) {
		struct ws_session *next = s->next;
		if (s->state < WS_CLOSING)
			ws_session_close(s, WS_CLOSE_GOING_AWAY, "server shutting down");
		s = next;
	}
}

void ws_sessions_close_all(void)
{
	struct ws_session *s = sessions_head;
	while (s) {
		struct ws_session *next = s->next;
		ws_session_teardown(s);
		s = next;
	}
	ws_reap(-1, 0, NULL);
}

void ws_sessions_release(void)
{
	ws_reap(-1, 0, NULL);
	if (reaper)
		event_free(reaper);
	reaper = NULL;
}
