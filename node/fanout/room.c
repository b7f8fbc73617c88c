#include "fanout/room.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "base/alloc.h"
#include "base/config.h"
#include "base/log.h"
#include "base/strmap.h"
#include "codec/bus_message.h"
#include "core/metrics.h"
#include "fanout/bus.h"
#include "fanout/presence.h"
#include "fanout/reorder.h"
#include "store/db.h"

/* Ops held while waiting for a gap to fill; beyond this the buffer is dropped and the room
 * refetches from Postgres (which it would have to do anyway). */
#define ROOM_REORDER_MAX 4096
/* Ops per catch-up query; a longer gap takes several. */
#define ROOM_FETCH_BATCH 1000
/* Rooms per head-check statement; more rooms take several. */
#define ROOM_HEAD_CHECK_BATCH 1000
/* The ring of recently delivered ops (their JSON text), from which a member that fell behind
 * catches up without a query: bounded in count and in bytes per room. */
#define ROOM_RING_OPS 512
#define ROOM_RING_BYTES (256 * 1024)

struct room_ring_entry {
	long long version;
	char *text;                   /* the operation object, compact JSON */
	size_t len;
};

struct room {
	char canvas_id[40];
	struct room_member *members;
	size_t member_count;
	long long delivered;          /* -1 until the first head check answers */
	struct reorder pending;       /* ops above delivered, waiting for their turn */
	long long comments_delivered; /* the comment stream's: -1 until known */
	struct reorder comment_pending;
	long long head_seen;          /* canvases.version at the last head check */
	long long comment_head_seen;  /* the comment head then */
	struct event *gap_timer, *grace_timer, *presence_timer;
	struct presence *presence;    /* other nodes' sessions */
	bool gap_armed;
	bool fetching, fetch_again, release_after_fetch;
	struct room_ring_entry ring[ROOM_RING_OPS];
	size_t ring_head, ring_count, ring_bytes;   /* oldest entry, entries, bytes of text */
};

static struct room_env env;
static struct strmap *rooms;
static struct event *head_timer; /* one for the node: see rooms_head_check */
static bool draining;

static void room_fetch(struct room *r);
static void rooms_head_check(evutil_socket_t fd, short events, void *arg);

void rooms_init(const struct room_env *e)
{
	env = *e;
	rooms = strmap_new();
	head_timer = event_new(env.base, -1, EV_PERSIST, rooms_head_check, NULL);
	struct timeval every = { env.cfg->head_check_ms / 1000,
				 (env.cfg->head_check_ms % 1000) * 1000 };
	event_add(head_timer, &every);
}

static void room_count_max(const char *key, void *value, void *arg)
{
	const struct room *r = value;
	size_t *max = arg;
	if (r->member_count > *max)
		*max = r->member_count;
}

void rooms_write_metrics(struct evbuffer *out, void *arg)
{
	size_t max = 0;
	if (rooms)
		strmap_foreach(rooms, room_count_max, &max);
	evbuffer_add_printf(out,
			    "# HELP flowstate_room_clients_max Clients of the fullest canvas room "
			    "on this node\n# TYPE flowstate_room_clients_max gauge\n"
			    "flowstate_room_clients_max %zu\n",
			    max);
}

void rooms_drain(void)
{
	draining = true;
}

bool room_has_members(const char *canvas_id)
{
	struct room *r = rooms ? strmap_get(rooms, canvas_id) : NULL;
	return r && r->member_count > 0;
}

long long room_delivered(const struct room *r)
{
	return r->delivered;
}

long long room_comments_delivered(const struct room *r)
{
	return r->comments_delivered;
}

static void room_ring_pop(struct room *r)
{
	struct room_ring_entry *e = &r->ring[r->ring_head];
	r->ring_bytes -= e->len;
	free(e->text);
	e->text = NULL;
	r->ring_head = (r->ring_head + 1) % ROOM_RING_OPS;
	r->ring_count--;
}

/* Keeps the op's text (owned from now on) as the newest entry, forgetting the oldest ones
 * beyond the ring's bounds. Versions in the ring are consecutive: deliveries are in order. */
static void room_ring_push(struct room *r, long long version, char *text, size_t len)
{
	while (r->ring_count > 0 &&
	       (r->ring_count == ROOM_RING_OPS || r->ring_bytes + len > ROOM_RING_BYTES))
		room_ring_pop(r);
	if (len > ROOM_RING_BYTES) {
		free(text); /* larger than the ring itself: members fetch it from Postgres */
		return;
	}
	struct room_ring_entry *e = &r->ring[(r->ring_head + r->ring_count) % ROOM_RING_OPS];
	*e = (struct room_ring_entry){ version, text, len };
	r->ring_count++;
	r->ring_bytes += len;
}

struct ws_frame *room_recent_ops_frame(const struct room *r, long long after, size_t max_bytes,
				       long long *last)
{
	if (r->ring_count == 0)
		return NULL;
	long long first = r->ring[r->ring_head].version;
	long long newest = first + (long long)r->ring_count - 1;
	if (after + 1 < first || after + 1 > newest)
		return NULL;
	static const char head[] = "{\"type\":\"operations\",\"operations\":[";
	size_t n = 0, bytes = 0;
	size_t start = (r->ring_head + (size_t)(after + 1 - first)) % ROOM_RING_OPS;
	size_t avail = (size_t)(newest - after);
	while (n < avail) {
		const struct room_ring_entry *e = &r->ring[(start + n) % ROOM_RING_OPS];
		if (n > 0 && bytes + e->len + 1 > max_bytes)
			break;
		bytes += e->len + 1;
		n++;
	}
	const char **parts = xcalloc(2 * n + 1, sizeof(*parts));
	size_t *lens = xcalloc(2 * n + 1, sizeof(*lens));
	parts[0] = head;
	lens[0] = sizeof(head) - 1;
	for (size_t i = 0; i < n; i++) {
		const struct room_ring_entry *e = &r->ring[(start + i) % ROOM_RING_OPS];
		parts[1 + 2 * i] = e->text;
		lens[1 + 2 * i] = e->len;
		parts[2 + 2 * i] = i + 1 < n ? "," : "]}";
		lens[2 + 2 * i] = i + 1 < n ? 1 : 2;
	}
	struct ws_frame *f = ws_frame_text_parts(parts, lens, 2 * n + 1);
	free(parts);
	free(lens);
	*last = after + (long long)n;
	return f;
}

static void room_free(struct room *r)
{
	while (r->ring_count)
		room_ring_pop(r);
	bus_unsubscribe(r->canvas_id);
	strmap_remove(rooms, r->canvas_id);
	reorder_clear(&r->pending);
	reorder_clear(&r->comment_pending);
	event_free(r->gap_timer);
	event_free(r->grace_timer);
	event_free(r->presence_timer);
	presence_free(r->presence);
	metrics_gauge_add(METRIC_ROOMS, -1);
	log_debug("room_closed", "canvas=%s", r->canvas_id);
	free(r);
}

static void room_release_if_unused(struct room *r)
{
	if (r->member_count > 0)
		return;
	if (r->fetching)
		r->release_after_fetch = true; /* the fetch callback frees it */
	else
		room_free(r);
}

/* Sends op `version` to every member: the frame is encoded once and shared, and the op's
 * text stays in the ring for members that fell behind. */
static void room_deliver(json_t *op, long long version, void *arg)
{
	struct room *r = arg;
	char *text = json_dumps(op, JSON_COMPACT);
	if (!text)
		abort(); /* only on out-of-memory (ops were validated): alloc.h's policy */
	size_t len = strlen(text);
	static const char head[] = "{\"type\":\"operation\",\"operation\":";
	const char *parts[] = { head, text, "}" };
	const size_t lens[] = { sizeof(head) - 1, len, 1 };
	struct ws_frame *f = ws_frame_text_parts(parts, lens, 3);
	room_ring_push(r, version, text, len);
	/* Delivered before the members hear of it: a member that reads room_delivered() from
	 * inside its callback must see this version. */
	r->delivered = version;
	struct room_member *m = r->members;
	while (m) {
		struct room_member *next = m->next;
		m->ops->deliver_op(m, version, f);
		m = next;
	}
	ws_frame_release(f);
	r->delivered = version;
	metrics_counter_inc(METRIC_OPS_DELIVERED);
}

/* Sends comment event `seq` to every member: the frame is encoded once and shared. */
static void room_deliver_comment(json_t *event, long long seq, void *arg)
{
	struct room *r = arg;
	json_t *msg = json_copy(event);
	json_object_set_new(msg, "type", json_string("comment"));
	struct ws_frame *f = ws_frame_json(msg);
	json_decref(msg);
	r->comments_delivered = seq;
	struct room_member *m = r->members;
	while (m) {
		struct room_member *next = m->next;
		m->ops->deliver_comment(m, seq, f);
		m = next;
	}
	ws_frame_release(f);
}

/* Something is known to be missing: ops or events held behind a gap, or a head check that
 * saw a version or seq the room has not delivered. */
static bool room_behind(const struct room *r)
{
	return (r->delivered >= 0 && (r->pending.count || r->delivered < r->head_seen)) ||
	       (r->comments_delivered >= 0 &&
		(r->comment_pending.count || r->comments_delivered < r->comment_head_seen));
}

/* Delivers every op and comment event that directly follows what was delivered, then watches
 * the gaps (one timer for both streams): what is still missing when the timer fires is read
 * from Postgres. */
static void room_pump(struct room *r)
{
	if (r->delivered >= 0)
		r->delivered = reorder_release(&r->pending, r->delivered, room_deliver, r);
	if (r->comments_delivered >= 0)
		r->comments_delivered = reorder_release(&r->comment_pending, r->comments_delivered,
							room_deliver_comment, r);
	bool waiting = room_behind(r);
	if (waiting && !r->gap_armed) {
		struct timeval tv = { env.cfg->gap_timeout_ms / 1000,
				      (env.cfg->gap_timeout_ms % 1000) * 1000 };
		evtimer_add(r->gap_timer, &tv);
		r->gap_armed = true;
	} else if (!waiting && r->gap_armed) {
		evtimer_del(r->gap_timer);
		r->gap_armed = false;
	}
}

/* Holds a comment event for ordered delivery. */
static void room_buffer_comment(struct room *r, json_t *event)
{
	switch (reorder_offer(&r->comment_pending, event, r->comments_delivered)) {
	case REORDER_HELD:
	case REORDER_DUPLICATE:
		break;
	case REORDER_OVERFLOW:
		log_warn("room_reorder_overflow", "canvas=%s stream=comments delivered=%lld",
			 r->canvas_id, r->comments_delivered);
		room_fetch(r);
		break;
	}
}

void room_receive_comment_events(const char *canvas_id, json_t *events)
{
	struct room *r = rooms ? strmap_get(rooms, canvas_id) : NULL;
	if (!r)
		return;
	size_t i;
	json_t *event;
	json_array_foreach(events, i, event)
		room_buffer_comment(r, event);
	room_pump(r);
}

/* Holds an op for ordered delivery. */
static void room_buffer(struct room *r, json_t *op)
{
	switch (reorder_offer(&r->pending, op, r->delivered)) {
	case REORDER_HELD:
		break;
	case REORDER_DUPLICATE:
		metrics_counter_inc(METRIC_DUPLICATES_DROPPED);
		break;
	case REORDER_OVERFLOW:
		/* Too far behind to buffer: forget and refetch everything from Postgres. */
		log_warn("room_reorder_overflow", "canvas=%s delivered=%lld", r->canvas_id,
			 r->delivered);
		room_fetch(r);
		break;
	}
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
	if (r->release_after_fetch && r->member_count == 0) {
		room_free(r);
		return;
	}
	r->release_after_fetch = false;
	if (!res->ok || db_rows(res) != 1) {
		/* Postgres unavailable: the head timer tries again. */
		log_warn("room_fetch_failed", "canvas=%s sqlstate=%s", r->canvas_id, res->sqlstate);
		return;
	}
	long long head = db_int(res, 0, 0);
	long long comment_head = db_int(res, 0, 2);
	json_t *ops = json_loads(db_value(res, 0, 1), 0, NULL);
	json_t *events = json_loads(db_value(res, 0, 3), 0, NULL);
	bool became_known = false;
	if (r->delivered < 0) {
		r->delivered = head;
		r->comments_delivered = comment_head;
		became_known = true;
	} else if (json_array_size(ops)) {
		metrics_counter_add(METRIC_OPS_FETCHED, json_array_size(ops));
	}
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op)
		room_buffer(r, op);
	json_decref(ops);
	json_array_foreach(events, i, op)
		room_buffer_comment(r, op);
	json_decref(events);
	room_pump(r);
	if (became_known) {
		struct room_member *m = r->members;
		while (m) {
			struct room_member *next = m->next;
			m->ops->room_ready(m);
			m = next;
		}
	}
	/* Versions and seqs are gap-free, so while one stream is behind its head another read
	 * makes progress. */
	bool again = r->fetch_again;
	r->fetch_again = false;
	if (r->delivered < head || r->comments_delivered < comment_head || again)
		room_fetch(r);
}

/* Reads both heads, the ops after the delivered version and the comment events after the
 * delivered seq (none while the heads are unknown), in one statement: one snapshot. */
static void room_fetch(struct room *r)
{
	if (r->fetching) {
		r->fetch_again = true;
		return;
	}
	char after[32], comments_after[32];
	snprintf(after, sizeof(after), "%lld", r->delivered);
	snprintf(comments_after, sizeof(comments_after), "%lld", r->comments_delivered);
	char limit[16];
	snprintf(limit, sizeof(limit), "%d", ROOM_FETCH_BATCH);
	const char *params[] = { r->canvas_id, r->delivered >= 0 ? after : NULL, limit,
				 r->comments_delivered >= 0 ? comments_after : NULL };
	if (db_query(env.db,
		     "SELECT c.version, coalesce((SELECT json_agg(fs_op_json(o) ORDER BY o.version) "
		     "  FROM (SELECT * FROM operations WHERE canvas_id = $1 AND version > $2 "
		     "        ORDER BY version LIMIT $3) o), '[]')::text, "
		     "  coalesce((SELECT h.seq FROM comment_heads h WHERE h.canvas_id = $1), 0), "
		     "  coalesce((SELECT json_agg(fs_comment_event_json(e) ORDER BY e.seq) "
		     "  FROM (SELECT * FROM comment_events WHERE canvas_id = $1 AND seq > $4 "
		     "        ORDER BY seq LIMIT $3) e), '[]')::text "
		     "FROM canvases c WHERE c.id = $1",
		     4, params, room_fetched, r))
		r->fetching = true;
}

static void room_gap_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct room *r = arg;
	r->gap_armed = false;
	if (room_behind(r)) {
		metrics_counter_inc(METRIC_GAP_FETCHES);
		log_debug("room_gap_fetch", "canvas=%s delivered=%lld next=%lld", r->canvas_id,
			  r->delivered, reorder_first(&r->pending));
		room_fetch(r);
	}
}

/* ---- the head check ----------------------------------------------------------------------------
 *
 * A lost *last* op leaves no gap to see, so every FLOWSTATE_HEAD_CHECK_MS the node reads the
 * heads (canvases.version and the comment head) of all its rooms with members, in one statement
 * per ROOM_HEAD_CHECK_BATCH rooms: a few queries a tick whatever the number of rooms, where one
 * query per room made idle rooms the largest load on Postgres (1,000 rooms: 500 queries/s per
 * node). A room found behind is not fetched at once: what it misses may still be on its way
 * over Redis, so it waits FLOWSTATE_GAP_TIMEOUT_MS like any gap, and is fetched if still behind.
 */

struct head_check {
	size_t count;
	char (*ids)[40];
};

static void rooms_head_checked(const struct db_result *res, void *arg)
{
	struct head_check *hc = arg;
	if (!res->ok) {
		/* Postgres unavailable or slow: the next tick asks again. */
		log_warn("room_head_check_failed", "rooms=%zu sqlstate=%s", hc->count, res->sqlstate);
	} else {
		for (int i = 0; i < db_rows(res); i++) {
			struct room *r = rooms ? strmap_get(rooms, db_value(res, i, 0)) : NULL;
			if (!r || r->delivered < 0)
				continue;
			long long head = db_int(res, i, 1), comment_head = db_int(res, i, 2);
			if (head > r->head_seen)
				r->head_seen = head;
			if (comment_head > r->comment_head_seen)
				r->comment_head_seen = comment_head;
			room_pump(r);
		}
	}
	free(hc->ids);
	free(hc);
}

static void rooms_head_check_send(struct head_check *hc)
{
	size_t len = 3 + hc->count * 41;
	char *array = xmalloc(len), *p = array;
	*p++ = '{';
	for (size_t i = 0; i < hc->count; i++) {
		size_t n = strlen(hc->ids[i]);
		if (i)
			*p++ = ',';
		memcpy(p, hc->ids[i], n);
		p += n;
	}
	*p++ = '}';
	*p = '\0';
	const char *params[] = { array };
	metrics_counter_add(METRIC_HEAD_CHECKS, hc->count);
	bool sent = db_query(env.db,
			     "SELECT c.id::text, c.version, coalesce(h.seq, 0) FROM canvases c "
			     "LEFT JOIN comment_heads h ON h.canvas_id = c.id "
			     "WHERE c.id = ANY($1::uuid[])",
			     1, params, rooms_head_checked, hc);
	free(array);
	if (!sent) {
		free(hc->ids);
		free(hc);
	}
}

struct head_check_walk {
	struct head_check *batch;
};

static void rooms_head_check_one(const char *key, void *value, void *arg)
{
	(void)key;
	struct room *r = value;
	struct head_check_walk *w = arg;
	if (r->member_count == 0)
		return;
	if (r->delivered < 0) {
		room_fetch(r); /* its first read failed: it needs everything, not just the head */
		return;
	}
	if (!w->batch) {
		w->batch = xcalloc(1, sizeof(*w->batch));
		w->batch->ids = xcalloc(ROOM_HEAD_CHECK_BATCH, sizeof(*w->batch->ids));
	}
	snprintf(w->batch->ids[w->batch->count++], sizeof(w->batch->ids[0]), "%s", r->canvas_id);
	if (w->batch->count == ROOM_HEAD_CHECK_BATCH) {
		rooms_head_check_send(w->batch);
		w->batch = NULL;
	}
}

static void rooms_head_check(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	struct head_check_walk w = { NULL };
	strmap_foreach(rooms, rooms_head_check_one, &w);
	if (w.batch)
		rooms_head_check_send(w.batch);
}

static void room_grace_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	room_release_if_unused(arg);
}

/* ---- presence ----------------------------------------------------------------------------- */

static void room_presence_announce(void *owner, json_t *msg)
{
	struct ws_frame *f = ws_frame_json(msg);
	room_broadcast(owner, f, NULL, true);
	ws_frame_release(f);
}

/* What the hash holds for a member: its presence and the sequence of its selection. */
static json_t *room_member_entry(const struct room_member *m)
{
	json_t *entry = m->ops->presence(m);
	json_object_set_new(entry, "selection_seq", json_integer(m->ops->selection_seq(m)));
	return entry;
}

/* Refreshes this node's visible members in the canvas's hash and reconciles with the others. */
static void room_presence_sync(struct room *r)
{
	json_t *entries = json_array();
	for (struct room_member *m = r->members; m; m = m->next)
		if (m->ops->visible(m))
			json_array_append_new(entries, room_member_entry(m));
	presence_store(r->presence, entries);
	json_decref(entries);
	presence_reconcile(r->presence);
}

static void room_presence_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	room_presence_sync(arg);
}

/* Only the new entry: refreshing everyone on every join would cost O(members²). */
void room_member_opened(struct room *r, struct room_member *m)
{
	json_t *entries = json_array();
	json_array_append_new(entries, room_member_entry(m));
	presence_store(r->presence, entries);
	json_decref(entries);
}

void room_member_closed(struct room *r, struct room_member *m)
{
	json_t *p = m->ops->presence(m);
	presence_remove(r->presence, json_string_value(json_object_get(p, "session_id")));
	json_decref(p);
}

/* ---- membership ------------------------------------------------------------------------------ */

struct room *room_join(const char *canvas_id, struct room_member *m)
{
	struct room *r = strmap_get(rooms, canvas_id);
	if (!r) {
		r = xcalloc(1, sizeof(*r));
		snprintf(r->canvas_id, sizeof(r->canvas_id), "%s", canvas_id);
		r->delivered = -1;
		r->comments_delivered = -1;
		reorder_init(&r->pending, ROOM_REORDER_MAX);
		reorder_init_keyed(&r->comment_pending, ROOM_REORDER_MAX, "seq");
		r->gap_timer = evtimer_new(env.base, room_gap_timer_cb, r);
		r->grace_timer = evtimer_new(env.base, room_grace_timer_cb, r);
		r->presence = presence_new(r->canvas_id, env.cfg->node_id, env.cfg->presence_ttl,
					   room_presence_announce, r);
		r->presence_timer = event_new(env.base, -1, EV_PERSIST, room_presence_timer_cb, r);
		int third = env.cfg->presence_ttl * 1000 / 3;
		struct timeval presence_every = { third / 1000, (third % 1000) * 1000 };
		event_add(r->presence_timer, &presence_every);
		strmap_put(rooms, r->canvas_id, r);
		metrics_gauge_add(METRIC_ROOMS, 1);
		/* Subscribe first; the catch-up after the subscription is confirmed
		 * (room_on_subscribed) closes the window between our read and the channel. */
		bus_subscribe(r->canvas_id);
		presence_reconcile(r->presence); /* seed it before the first sync needs it */
		log_debug("room_opened", "canvas=%s", canvas_id);
	}
	evtimer_del(r->grace_timer);
	m->next = r->members;
	r->members = m;
	r->member_count++;
	/* Learn (or refresh) the head now rather than at the next tick. */
	room_fetch(r);
	return r;
}

void room_leave(struct room *r, struct room_member *m)
{
	struct room_member **link = &r->members;
	while (*link && *link != m)
		link = &(*link)->next;
	if (!*link)
		return;
	*link = m->next;
	m->next = NULL;
	r->member_count--;
	if (r->member_count == 0) {
		if (env.cfg->room_grace == 0 || draining) {
			room_release_if_unused(r);
		} else {
			struct timeval grace = { env.cfg->room_grace, 0 };
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

void room_relay(struct room *r, json_t *msg, const struct room_member *except)
{
	struct ws_frame *f = ws_frame_json(msg);
	room_broadcast(r, f, except, true);
	ws_frame_release(f);
	size_t len;
	char *text = bus_message_encode_relay(env.cfg->node_id, msg, &len);
	if (text)
		bus_publish(r->canvas_id, text, len);
	free(text);
}

void room_member_selected(struct room *r, struct room_member *m, json_t *shape_ids,
			  long long seq)
{
	json_t *p = m->ops->presence(m);
	json_t *msg = json_pack("{s:s, s:O, s:O, s:O}", "type", "selection", "user_id",
				json_object_get(p, "user_id"), "session_id",
				json_object_get(p, "session_id"), "shape_ids", shape_ids);
	json_decref(p);
	struct ws_frame *f = ws_frame_json(msg);
	room_broadcast(r, f, m, true);
	ws_frame_release(f);
	/* Other nodes order relays and hash entries by seq (fanout/presence.h). */
	json_object_set_new(msg, "seq", json_integer(seq));
	size_t len;
	char *text = bus_message_encode_relay(env.cfg->node_id, msg, &len);
	if (text)
		bus_publish(r->canvas_id, text, len);
	free(text);
	json_decref(msg);
	json_t *entries = json_array();
	json_array_append_new(entries, room_member_entry(m));
	presence_store(r->presence, entries);
	json_decref(entries);
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
		if (json_is_object(user))
			presence_remote_join(r->presence, user);
		return;
	}
	if (type && !strcmp(type, "presence_leave")) {
		const char *sid = json_string_value(json_object_get(msg, "session_id"));
		if (sid)
			presence_remote_leave(r->presence, sid);
		return;
	}
	if (type && !strcmp(type, "selection")) {
		if (presence_remote_selection(r->presence, msg)) {
			json_t *public = json_copy(msg);
			json_object_del(public, "seq");
			struct ws_frame *f = ws_frame_json(public);
			room_broadcast(r, f, NULL, true);
			ws_frame_release(f);
			json_decref(public);
		}
		return;
	}
	struct ws_frame *f = ws_frame_json(msg);
	room_broadcast(r, f, NULL, true);
	ws_frame_release(f);
}

void room_broadcast(struct room *r, struct ws_frame *f, const struct room_member *except,
		    bool transient)
{
	struct room_member *m = r->members;
	while (m) {
		struct room_member *next = m->next;
		if (m != except && m->ops->synced(m))
			m->ops->send(m, f, transient);
		m = next;
	}
}

json_t *room_presence(const struct room *r)
{
	json_t *list = json_array();
	for (struct room_member *m = r->members; m; m = m->next)
		if (m->ops->visible(m))
			json_array_append_new(list, m->ops->presence(m));
	json_t *remote = presence_remote_entries(r->presence);
	json_array_extend(list, remote);
	json_decref(remote);
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
	if (head_timer)
		event_free(head_timer);
	head_timer = NULL;
}
