#include "room.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/time.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "alloc.h"
#include "bus.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "strmap.h"
#include "ws.h"

/* Ops held while waiting for a gap to fill; beyond this the buffer is dropped and the room
 * refetches from Postgres (which it would have to do anyway). */
#define ROOM_REORDER_MAX 4096
/* Ops per catch-up query; a longer gap takes several. */
#define ROOM_FETCH_BATCH 1000

struct room {
	char canvas_id[40];
	struct server *srv;
	struct ws_session *sessions;
	size_t session_count;
	long long delivered;          /* -1 until the first head check answers */
	json_t **pending;             /* reorder buffer, sorted by version, all > delivered */
	size_t pending_count;
	struct event *gap_timer, *head_timer, *grace_timer, *presence_timer;
	json_t *remote;               /* presence of sessions on other nodes: session_id → entry */
	bool gap_armed;
	bool fetching, fetch_again, release_after_fetch;
};

static struct server *rooms_server;
static struct strmap *rooms;

static void room_fetch(struct room *r);

void rooms_init(struct server *srv)
{
	rooms_server = srv;
	rooms = strmap_new();
}

size_t rooms_count(void)
{
	return rooms ? strmap_count(rooms) : 0;
}

const char *room_canvas_id(const struct room *r)
{
	return r->canvas_id;
}

long long room_delivered(const struct room *r)
{
	return r->delivered;
}

static long long op_version(const json_t *op)
{
	return json_integer_value(json_object_get(op, "version"));
}

static void room_free(struct room *r)
{
	bus_unsubscribe(r->canvas_id);
	strmap_remove(rooms, r->canvas_id);
	for (size_t i = 0; i < r->pending_count; i++)
		json_decref(r->pending[i]);
	free(r->pending);
	event_free(r->gap_timer);
	event_free(r->head_timer);
	event_free(r->grace_timer);
	event_free(r->presence_timer);
	json_decref(r->remote);
	metrics_gauge_add(METRIC_ROOMS, -1);
	log_debug("room_closed", "canvas=%s", r->canvas_id);
	free(r);
}

static void room_release_if_unused(struct room *r)
{
	if (r->session_count > 0)
		return;
	if (r->fetching)
		r->release_after_fetch = true; /* the fetch callback frees it */
	else
		room_free(r);
}

/* Delivers every op that directly follows the delivered version, then watches the gap. */
static void room_pump(struct room *r)
{
	if (r->delivered < 0)
		return;
	size_t i = 0;
	while (i < r->pending_count && op_version(r->pending[i]) <= r->delivered + 1) {
		json_t *op = r->pending[i++];
		long long v = op_version(op);
		if (v == r->delivered + 1) {
			json_t *msg = json_pack("{s:s, s:O}", "type", "operation", "operation", op);
			struct ws_frame *f = ws_frame_json(msg);
			json_decref(msg);
			struct ws_session *s = r->sessions;
			while (s) {
				struct ws_session *next = *ws_session_room_next(s);
				ws_session_deliver_op(s, v, f);
				s = next;
			}
			ws_frame_release(f);
			r->delivered = v;
			metrics_counter_inc(METRIC_OPS_DELIVERED);
		}
		json_decref(op);
	}
	if (i > 0) {
		memmove(r->pending, r->pending + i, (r->pending_count - i) * sizeof(*r->pending));
		r->pending_count -= i;
	}
	if (r->pending_count && !r->gap_armed) {
		struct timeval tv = { r->srv->cfg.gap_timeout_ms / 1000,
				      (r->srv->cfg.gap_timeout_ms % 1000) * 1000 };
		evtimer_add(r->gap_timer, &tv);
		r->gap_armed = true;
	} else if (!r->pending_count && r->gap_armed) {
		evtimer_del(r->gap_timer);
		r->gap_armed = false;
	}
}

/* Inserts an op into the reorder buffer (sorted, no duplicates). */
static void room_buffer(struct room *r, json_t *op)
{
	long long v = op_version(op);
	if (v <= 0 || (r->delivered >= 0 && v <= r->delivered)) {
		metrics_counter_inc(METRIC_DUPLICATES_DROPPED);
		return;
	}
	size_t lo = 0, hi = r->pending_count;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (op_version(r->pending[mid]) < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < r->pending_count && op_version(r->pending[lo]) == v) {
		metrics_counter_inc(METRIC_DUPLICATES_DROPPED);
		return;
	}
	if (r->pending_count == ROOM_REORDER_MAX) {
		/* Too far behind to buffer: forget and refetch everything from Postgres. */
		log_warn("room_reorder_overflow", "canvas=%s delivered=%lld", r->canvas_id,
			 r->delivered);
		for (size_t i = 0; i < r->pending_count; i++)
			json_decref(r->pending[i]);
		r->pending_count = 0;
		room_fetch(r);
		return;
	}
	r->pending = xrealloc(r->pending, (r->pending_count + 1) * sizeof(*r->pending));
	memmove(r->pending + lo + 1, r->pending + lo, (r->pending_count - lo) * sizeof(*r->pending));
	r->pending[lo] = json_incref(op);
	r->pending_count++;
}

void room_receive_ops(const char *canvas_id, json_t *ops)
{
	struct room *r = rooms ? strmap_get(rooms, canvas_id) : NULL;
	if (!r)
		return;
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op)
		room_buffer(r, op);
	room_pump(r);
}

/* ---- catch-up from Postgres ---------------------------------------------------------------- */

static void room_fetched(const struct db_result *res, void *arg)
{
	struct room *r = arg;
	r->fetching = false;
	if (r->release_after_fetch && r->session_count == 0) {
		room_free(r);
		return;
	}
	r->release_after_fetch = false;
	if (!res->ok || PQntuples(res->res) != 1) {
		/* Postgres unavailable: the head timer tries again. */
		log_warn("room_fetch_failed", "canvas=%s sqlstate=%s", r->canvas_id, res->sqlstate);
		return;
	}
	long long head = strtoll(PQgetvalue(res->res, 0, 0), NULL, 10);
	json_t *ops = json_loads(PQgetvalue(res->res, 0, 1), 0, NULL);
	bool became_known = false;
	if (r->delivered < 0) {
		r->delivered = head;
		became_known = true;
	} else if (json_array_size(ops)) {
		metrics_counter_add(METRIC_OPS_FETCHED, json_array_size(ops));
	}
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op)
		room_buffer(r, op);
	json_decref(ops);
	room_pump(r);
	if (became_known) {
		struct ws_session *s = r->sessions;
		while (s) {
			struct ws_session *next = *ws_session_room_next(s);
			ws_session_room_ready(s);
			s = next;
		}
	}
	/* Versions are gap-free, so while delivered < head another read makes progress. */
	bool again = r->fetch_again;
	r->fetch_again = false;
	if (r->delivered < head || again)
		room_fetch(r);
}

/* Reads the head and the ops after the delivered version (none while the head is unknown). */
static void room_fetch(struct room *r)
{
	if (r->fetching) {
		r->fetch_again = true;
		return;
	}
	char after[32];
	snprintf(after, sizeof(after), "%lld", r->delivered);
	char limit[16];
	snprintf(limit, sizeof(limit), "%d", ROOM_FETCH_BATCH);
	const char *params[] = { r->canvas_id, r->delivered >= 0 ? after : NULL, limit };
	if (db_query(r->srv->db,
		     "SELECT c.version, coalesce((SELECT json_agg(fs_op_json(o) ORDER BY o.version) "
		     "  FROM (SELECT * FROM operations WHERE canvas_id = $1 AND version > $2 "
		     "        ORDER BY version LIMIT $3) o), '[]')::text "
		     "FROM canvases c WHERE c.id = $1",
		     3, params, room_fetched, r))
		r->fetching = true;
}

static void room_gap_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct room *r = arg;
	r->gap_armed = false;
	if (r->pending_count) {
		metrics_counter_inc(METRIC_GAP_FETCHES);
		log_debug("room_gap_fetch", "canvas=%s delivered=%lld next=%lld", r->canvas_id,
			  r->delivered, op_version(r->pending[0]));
		room_fetch(r);
	}
}

static void room_head_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct room *r = arg;
	if (r->session_count > 0) {
		metrics_counter_inc(METRIC_HEAD_CHECKS);
		room_fetch(r);
	}
}

static void room_grace_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	room_release_if_unused(arg);
}

/* ---- presence across nodes ------------------------------------------------------------------ */
/*
 * Each canvas has a Redis hash fs:presence:<canvas> of session_id → entry (the session's
 * presence plus its node and an expiry time). Every node refreshes its own sessions' entries
 * every FLOWSTATE_PRESENCE_TTL/3 seconds and reads the hash back: entries of other nodes it did
 * not know are announced (presence_join) to its sessions, known ones that vanished or expired
 * are announced as left (presence_leave). A killed node stops refreshing, so its sessions
 * disappear from everyone's presence within the TTL. Relayed join/leave messages make the
 * common case immediate; this reconciliation makes it correct.
 */

static long long wall_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void presence_key(char *out, size_t size, const char *canvas_id)
{
	snprintf(out, size, "fs:presence:%s", canvas_id);
}

/* The client-facing part of a stored entry. */
static json_t *presence_public(const json_t *entry)
{
	return json_pack("{s:O, s:O, s:O, s:O}", "user_id", json_object_get(entry, "user_id"),
			 "session_id", json_object_get(entry, "session_id"), "display_name",
			 json_object_get(entry, "display_name"), "color",
			 json_object_get(entry, "color"));
}

static void presence_announce(struct room *r, const json_t *entry, bool joined)
{
	json_t *msg = joined ? json_pack("{s:s, s:o}", "type", "presence_join", "user",
					 presence_public(entry))
			     : json_pack("{s:s, s:O, s:O}", "type", "presence_leave", "user_id",
					 json_object_get(entry, "user_id"), "session_id",
					 json_object_get(entry, "session_id"));
	struct ws_frame *f = ws_frame_json(msg);
	json_decref(msg);
	room_broadcast(r, f, NULL, true);
	ws_frame_release(f);
}

/* A remote session appeared (true) or left: update the cache, tell local sessions once. */
static void presence_remote_update(struct room *r, const char *session_id, json_t *entry,
				   bool joined)
{
	json_t *known = json_object_get(r->remote, session_id);
	if (joined && !known) {
		json_object_set(r->remote, session_id, entry);
		presence_announce(r, entry, true);
	} else if (!joined && known) {
		json_incref(known);
		json_object_del(r->remote, session_id);
		presence_announce(r, known, false);
		json_decref(known);
	}
}

static void presence_loaded(redisAsyncContext *ac, void *r_, void *privdata)
{
	redisReply *reply = r_;
	char *canvas_id = privdata;
	struct room *r = rooms ? strmap_get(rooms, canvas_id) : NULL;
	if (!reply || !r || reply->type != REDIS_REPLY_ARRAY) {
		free(canvas_id);
		return;
	}
	char key[128];
	presence_key(key, sizeof(key), canvas_id);
	long long now = wall_ms();
	json_t *seen = json_object();
	for (size_t i = 0; i + 1 < reply->elements; i += 2) {
		redisReply *field = reply->element[i], *value = reply->element[i + 1];
		if (field->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING)
			continue;
		json_t *entry = json_loadb(value->str, value->len, 0, NULL);
		const char *node = json_string_value(json_object_get(entry, "node"));
		long long expires = json_integer_value(json_object_get(entry, "expires"));
		if (!entry || !node || !json_is_string(json_object_get(entry, "user_id"))) {
			json_decref(entry);
			continue;
		}
		if (expires < now) {
			/* Its node stopped refreshing (killed): whoever sees it first cleans up. */
			redisAsyncCommand(ac, NULL, NULL, "HDEL %s %s", key, field->str);
		} else if (strcmp(node, r->srv->cfg.node_id) != 0) {
			json_object_set_new(seen, field->str, json_true());
			presence_remote_update(r, field->str, entry, true);
		}
		json_decref(entry);
	}
	/* Known remote sessions that are gone or expired. */
	const char *sid;
	json_t *entry, *tmp;
	json_object_foreach_safe(r->remote, tmp, sid, entry) {
		if (!json_object_get(seen, sid))
			presence_remote_update(r, sid, NULL, false);
	}
	json_decref(seen);
	free(canvas_id);
}

static json_t *presence_entry(const struct room *r, const struct ws_session *s)
{
	json_t *entry = ws_session_presence(s);
	json_object_set_new(entry, "node", json_string(r->srv->cfg.node_id));
	json_object_set_new(entry, "expires",
			    json_integer(wall_ms() + r->srv->cfg.presence_ttl * 1000ll));
	return entry;
}

/* HSET of one or all of this node's open sessions of the room, in one command. */
static void presence_store(redisAsyncContext *ac, const char *key, struct room *r,
			   struct ws_session *only)
{
	size_t n = 0;
	for (struct ws_session *s = r->sessions; s; s = *ws_session_room_next(s))
		n += (only ? s == only : ws_session_is_open(s));
	if (n == 0)
		return;
	size_t argc = 2 + 2 * n, i = 2;
	const char **argv = xcalloc(argc, sizeof(*argv));
	size_t *lens = xcalloc(argc, sizeof(*lens));
	char **texts = xcalloc(2 * n, sizeof(*texts));
	argv[0] = "HSET";
	argv[1] = key;
	for (struct ws_session *s = r->sessions; s; s = *ws_session_room_next(s)) {
		if (only ? s != only : !ws_session_is_open(s))
			continue;
		json_t *entry = presence_entry(r, s);
		texts[i - 2] = xstrdup(json_string_value(json_object_get(entry, "session_id")));
		texts[i - 1] = json_dumps(entry, JSON_COMPACT);
		json_decref(entry);
		argv[i] = texts[i - 2];
		argv[i + 1] = texts[i - 1];
		i += 2;
	}
	for (size_t k = 0; k < argc; k++)
		lens[k] = strlen(argv[k]);
	redisAsyncCommandArgv(ac, NULL, NULL, (int)argc, argv, lens);
	for (size_t k = 0; k < 2 * n; k++)
		free(texts[k]);
	free(texts);
	free(lens);
	free(argv);
}

/* Refreshes this node's sessions in the canvas's hash and reconciles with the others. */
static void presence_sync(struct room *r)
{
	redisAsyncContext *ac = bus_command_context();
	if (!ac)
		return;
	char key[128];
	presence_key(key, sizeof(key), r->canvas_id);
	presence_store(ac, key, r, NULL);
	/* An abandoned canvas's hash goes away by itself. */
	redisAsyncCommand(ac, NULL, NULL, "EXPIRE %s %d", key, r->srv->cfg.presence_ttl * 2);
	redisAsyncCommand(ac, presence_loaded, xstrdup(r->canvas_id), "HGETALL %s", key);
}

static void room_presence_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	presence_sync(arg);
}

/* Only the new entry: refreshing everyone on every join would cost O(sessions²). */
void room_session_opened(struct room *r, struct ws_session *s)
{
	redisAsyncContext *ac = bus_command_context();
	if (!ac)
		return;
	char key[128];
	presence_key(key, sizeof(key), r->canvas_id);
	presence_store(ac, key, r, s);
}

void room_session_closed(struct room *r, struct ws_session *s)
{
	redisAsyncContext *ac = bus_command_context();
	if (!ac)
		return; /* the entry expires by itself */
	char key[128];
	presence_key(key, sizeof(key), r->canvas_id);
	json_t *p = ws_session_presence(s);
	redisAsyncCommand(ac, NULL, NULL, "HDEL %s %s", key,
			  json_string_value(json_object_get(p, "session_id")));
	json_decref(p);
}

/* ---- membership ------------------------------------------------------------------------------ */

struct room *room_join(struct server *srv, const char *canvas_id, struct ws_session *s)
{
	struct room *r = strmap_get(rooms, canvas_id);
	if (!r) {
		r = xcalloc(1, sizeof(*r));
		snprintf(r->canvas_id, sizeof(r->canvas_id), "%s", canvas_id);
		r->srv = srv;
		r->delivered = -1;
		r->gap_timer = evtimer_new(srv->base, room_gap_timer_cb, r);
		r->grace_timer = evtimer_new(srv->base, room_grace_timer_cb, r);
		r->head_timer = event_new(srv->base, -1, EV_PERSIST, room_head_timer_cb, r);
		r->remote = json_object();
		r->presence_timer = event_new(srv->base, -1, EV_PERSIST, room_presence_timer_cb, r);
		int third = srv->cfg.presence_ttl * 1000 / 3;
		struct timeval presence_every = { third / 1000, (third % 1000) * 1000 };
		event_add(r->presence_timer, &presence_every);
		struct timeval every = { srv->cfg.head_check_ms / 1000,
					 (srv->cfg.head_check_ms % 1000) * 1000 };
		event_add(r->head_timer, &every);
		strmap_put(rooms, r->canvas_id, r);
		metrics_gauge_add(METRIC_ROOMS, 1);
		/* Subscribe first; the catch-up after the subscription is confirmed
		 * (room_on_subscribed) closes the window between our read and the channel. */
		bus_subscribe(r->canvas_id);
		presence_sync(r); /* seed the remote presence before the first sync needs it */
		log_debug("room_opened", "canvas=%s", canvas_id);
	}
	evtimer_del(r->grace_timer);
	*ws_session_room_next(s) = r->sessions;
	r->sessions = s;
	r->session_count++;
	/* Learn (or refresh) the head now rather than at the next tick. */
	room_fetch(r);
	return r;
}

void room_leave(struct room *r, struct ws_session *s)
{
	struct ws_session **link = &r->sessions;
	while (*link && *link != s)
		link = ws_session_room_next(*link);
	if (!*link)
		return;
	*link = *ws_session_room_next(s);
	*ws_session_room_next(s) = NULL;
	r->session_count--;
	if (r->session_count == 0) {
		if (r->srv->cfg.room_grace == 0 || r->srv->state >= SERVER_DRAINING) {
			room_release_if_unused(r);
		} else {
			struct timeval grace = { r->srv->cfg.room_grace, 0 };
			evtimer_add(r->grace_timer, &grace);
		}
	}
}

void room_on_subscribed(const char *canvas_id)
{
	struct room *r = rooms ? strmap_get(rooms, canvas_id) : NULL;
	if (r)
		room_fetch(r);
}

void room_relay(struct room *r, json_t *msg, const struct ws_session *except)
{
	struct ws_frame *f = ws_frame_json(msg);
	room_broadcast(r, f, except, true);
	ws_frame_release(f);
	json_t *envelope = json_pack("{s:s, s:s, s:O}", "t", "relay", "n", r->srv->cfg.node_id, "m",
				     msg);
	char *text = json_dumps(envelope, JSON_COMPACT);
	bus_publish(r->canvas_id, text, strlen(text));
	free(text);
	json_decref(envelope);
}

void room_receive_relay(const char *canvas_id, json_t *msg)
{
	struct room *r = rooms ? strmap_get(rooms, canvas_id) : NULL;
	if (!r)
		return;
	/* Presence goes through the remote cache so each change is announced once. */
	const char *type = json_string_value(json_object_get(msg, "type"));
	if (type && !strcmp(type, "presence_join")) {
		json_t *user = json_object_get(msg, "user");
		const char *sid = json_string_value(json_object_get(user, "session_id"));
		if (sid)
			presence_remote_update(r, sid, user, true);
		return;
	}
	if (type && !strcmp(type, "presence_leave")) {
		const char *sid = json_string_value(json_object_get(msg, "session_id"));
		if (sid)
			presence_remote_update(r, sid, NULL, false);
		return;
	}
	struct ws_frame *f = ws_frame_json(msg);
	room_broadcast(r, f, NULL, true);
	ws_frame_release(f);
}

void room_broadcast(struct room *r, struct ws_frame *f, const struct ws_session *except,
		    bool transient)
{
	for (struct ws_session *s = r->sessions; s; s = *ws_session_room_next(s))
		if (s != except && ws_session_synced(s))
			ws_session_send_frame(s, f, transient);
}

json_t *room_presence(const struct room *r)
{
	json_t *list = json_array();
	for (struct ws_session *s = r->sessions; s; s = *ws_session_room_next(s))
		if (ws_session_is_open(s))
			json_array_append_new(list, ws_session_presence(s));
	const char *sid;
	json_t *entry;
	json_object_foreach(r->remote, sid, entry)
		json_array_append_new(list, presence_public(entry));
	return list;
}

static void room_free_entry(const char *key, void *value, void *arg)
{
	struct room ***cursor = arg;
	*(*cursor)++ = value;
}

void rooms_shutdown(void)
{
	if (!rooms)
		return;
	size_t n = strmap_count(rooms);
	struct room **all = xcalloc(n ? n : 1, sizeof(*all));
	struct room **cursor = all;
	strmap_foreach(rooms, room_free_entry, &cursor);
	for (size_t i = 0; i < n; i++)
		room_free(all[i]);
	free(all);
	strmap_free(rooms);
	rooms = NULL;
}
