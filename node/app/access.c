#include "app/access.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "base/alloc.h"
#include "base/config.h"
#include "base/log.h"
#include "codec/bus_message.h"
#include "fanout/bus.h"
#include "store/db.h"

/* Rows per read of the feed; a longer backlog takes several reads in a row. */
#define ACCESS_POLL_BATCH 500
#define ACCESS_PRUNE_EVERY_S 3600

static struct {
	struct event_base *base;
	struct db_pool *db;
	const struct config *cfg;
	access_changed_fn changed;
	struct event *poll_timer, *prune_timer;
	/* Position in the feed: rows after (xid, id) in (xid, id) order; unknown until the
	 * first read, which starts at the oldest running transaction (see schema/020). */
	bool cursor_known;
	char cursor_xid[32];
	long long cursor_id;
	bool running;
	unsigned long long generation;
	unsigned long long pushes_received;   /* for the bus-drop test hook */
} access;

static void access_schedule_poll(int ms)
{
	if (!access.running)
		return;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(access.poll_timer, &tv);
}

static void access_apply(const struct access_change *changes, size_t count)
{
	if (count == 0)
		return;
	access.generation++;
	access.changed(changes, count);
}

unsigned long long access_generation(void)
{
	return access.generation;
}

/* Columns: xmin (the first read) or xid, id, kind, workspace_id, canvas_id, user_id. */
static void access_polled(const struct db_result *r, void *arg)
{
	if (!r->ok) {
		if (access.running)
			log_warn("access_poll_failed", "sqlstate=%s", r->sqlstate);
		access_schedule_poll(access.cfg->access_poll_ms);
		return;
	}
	if (!access.cursor_known) {
		snprintf(access.cursor_xid, sizeof(access.cursor_xid), "%s", db_value(r, 0, 0));
		access.cursor_id = 0;
		access.cursor_known = true;
		access_schedule_poll(access.cfg->access_poll_ms);
		return;
	}
	int rows = db_rows(r);
	struct access_change *changes = xcalloc(rows ? (size_t)rows : 1, sizeof(*changes));
	size_t n = 0;
	for (int i = 0; i < rows; i++) {
		snprintf(access.cursor_xid, sizeof(access.cursor_xid), "%s", db_value(r, i, 0));
		access.cursor_id = db_int(r, i, 1);
		if (access_change_make(&changes[n], db_value(r, i, 2), db_value(r, i, 3),
				       db_value(r, i, 4), db_value(r, i, 5)))
			n++;
		else
			log_warn("access_event_invalid", "id=%lld kind=%s", db_int(r, i, 1),
				 db_value(r, i, 2));
	}
	if (n)
		log_debug("access_polled", "changes=%zu", n);
	access_apply(changes, n);
	free(changes);
	/* A full batch: there may be more right behind it. */
	access_schedule_poll(rows == ACCESS_POLL_BATCH ? 0 : access.cfg->access_poll_ms);
}

static void access_poll_cb(evutil_socket_t fd, short events, void *arg)
{
	bool queued;
	if (!access.cursor_known) {
		queued = db_query(access.db, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text", 0,
				  NULL, access_polled, NULL);
	} else {
		char id[32], limit[16];
		snprintf(id, sizeof(id), "%lld", access.cursor_id);
		snprintf(limit, sizeof(limit), "%d", ACCESS_POLL_BATCH);
		const char *params[] = { access.cursor_xid, id, limit };
		/* Only rows of transactions older than every running one: nothing can appear
		 * below that horizon later, so the cursor never passes over a row. */
		queued = db_query(access.db,
				  "SELECT e.xid::text, e.id, e.kind, e.workspace_id, e.canvas_id, "
				  "  e.user_id FROM access_events e "
				  "WHERE (e.xid, e.id) > ($1::xid8, $2::bigint) "
				  "  AND e.xid < pg_snapshot_xmin(pg_current_snapshot()) "
				  "ORDER BY e.xid, e.id LIMIT $3",
				  3, params, access_polled, NULL);
	}
	if (!queued)
		access_schedule_poll(access.cfg->access_poll_ms); /* queue full: next period */
}

static void access_pruned(const struct db_result *r, void *arg)
{
	if (!r->ok && access.running)
		log_warn("access_prune_failed", "sqlstate=%s", r->sqlstate);
}

/* The feed is read within seconds; a day of it is kept for diagnosis, then dropped. */
static void access_prune_cb(evutil_socket_t fd, short events, void *arg)
{
	if (!db_query(access.db,
		      "DELETE FROM access_events WHERE created_at < now() - interval '1 day'", 0,
		      NULL, access_pruned, NULL))
		log_warn("access_prune_failed", "reason=queue_full");
}

void access_init(const struct access_env *env)
{
	memset(&access, 0, sizeof(access));
	access.base = env->base;
	access.db = env->db;
	access.cfg = env->cfg;
	access.changed = env->changed;
	access.running = true;
	access.poll_timer = evtimer_new(env->base, access_poll_cb, NULL);
	access.prune_timer = event_new(env->base, -1, EV_PERSIST, access_prune_cb, NULL);
	struct timeval hourly = { ACCESS_PRUNE_EVERY_S, 0 };
	event_add(access.prune_timer, &hourly);
	access_schedule_poll(0);
}

void access_shutdown(void)
{
	access.running = false;
	if (access.poll_timer)
		event_free(access.poll_timer);
	if (access.prune_timer)
		event_free(access.prune_timer);
	access.poll_timer = access.prune_timer = NULL;
}

void access_publish(const struct access_change *changes, size_t count)
{
	access_apply(changes, count);
	size_t len;
	char *text = bus_message_encode_access(access.cfg->node_id, changes, count, &len);
	if (text)
		bus_publish_all(text, len);
	free(text);
}

void access_on_bus_message(const char *data, size_t len)
{
	struct bus_message m;
	if (!bus_message_decode(data, len, &m)) {
		log_warn("bus_message_invalid", "channel=all bytes=%zu", len);
		return;
	}
	/* Our own changes were applied when we published them. */
	if (m.type == BUS_MESSAGE_ACCESS && strcmp(m.node, access.cfg->node_id) != 0) {
		int drop_every = access.cfg->fault_bus_drop_every;
		if (drop_every > 0 && ++access.pushes_received % (unsigned long long)drop_every == 0)
			log_info("fault_bus_drop", "channel=all"); /* test hook: lost */
		else
			access_apply(m.access, m.access_count);
	}
	bus_message_free(&m);
}
