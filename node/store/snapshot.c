#include "store/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/strmap.h"
#include "core/metrics.h"
#include "store/state.h"

#define SNAPSHOT_TIMEOUT_FACTOR 4
/* Canvases watched for going quiet at once, and how often the watch list is swept. */
#define QUIET_MAX_CANVASES 4096
#define QUIET_SWEEP_MS 250

static struct {
	struct db_pool *db;
	long long every;
	int quiet_ms;
	struct strmap *building;     /* canvas id -> struct snapshot_ctx in flight */
	struct strmap *quiet;        /* canvas id -> struct quiet_canvas */
	struct event *quiet_timer;
} snap;

struct quiet_canvas {
	long long version;           /* the latest version this node committed */
	long long last_ms;           /* when (monotonic) */
	long long loaded_version;    /* the version committed when its head text was last asked for */
	long long loaded_ms;         /* when (0: never) */
};

/* A canvas's head text is asked for at most this often: for the largest canvases a build
 * takes a worker ~2 s. */
#define QUIET_MIN_INTERVAL_MS 15000

static void quiet_sweep_cb(evutil_socket_t fd, short events, void *arg);

void snapshot_init(struct event_base *base, struct db_pool *db, long long every, int quiet_ms)
{
	snap.db = db;
	snap.every = every;
	snap.quiet_ms = quiet_ms;
	snap.building = strmap_new();
	if (quiet_ms > 0 && base) {
		snap.quiet = strmap_new();
		snap.quiet_timer = evtimer_new(base, quiet_sweep_cb, NULL);
	}
}

static void quiet_free_entry(const char *key, void *value, void *arg)
{
	(void)key;
	(void)arg;
	free(value);
}

void snapshot_shutdown(void)
{
	if (snap.quiet_timer)
		event_free(snap.quiet_timer);
	snap.quiet_timer = NULL;
	if (snap.quiet) {
		strmap_foreach(snap.quiet, quiet_free_entry, NULL);
		strmap_free(snap.quiet);
	}
	snap.quiet = NULL;
	if (snap.building)
		strmap_free(snap.building); /* the contexts are their queries' */
	snap.building = NULL;
}

void snapshot_prepare(const struct canvas_state *state, struct snapshot_text *out)
{
	out->text = canvas_state_serialize(state, &out->len);
	out->shapes = canvas_shape_count(state);
}

void snapshot_text_release(struct snapshot_text *t)
{
	free(t->text);
	t->text = NULL;
}

bool snapshot_store_text(const char *canvas_id, long long version, const struct snapshot_text *t,
			 db_callback cb, void *arg)
{
	char version_text[32], shapes[32], bytes[32], format[16];
	snprintf(version_text, sizeof(version_text), "%lld", version);
	snprintf(shapes, sizeof(shapes), "%zu", t->shapes);
	snprintf(bytes, sizeof(bytes), "%zu", t->len);
	snprintf(format, sizeof(format), "%d", CANVAS_STATE_FORMAT);
	const char *params[] = { canvas_id, version_text, t->text, shapes, bytes, format };
	/* A whole canvas state, parsed into jsonb and written to the WAL: for the largest ones
	 * that takes seconds. It is off the request path (or an explicit POST /snapshots), so it
	 * gets four times the usual deadline. */
	return db_query_timeout(snap.db, SNAPSHOT_TIMEOUT_FACTOR * db_pool_query_timeout(snap.db),
				"SELECT snapshot, inserted FROM fs_store_snapshot($1, $2, $3::text, "
				"$4, $5, $6)",
				6, params, cb, arg);
}

bool snapshot_store(const char *canvas_id, long long version, const struct canvas_state *state,
		    db_callback cb, void *arg)
{
	struct snapshot_text t;
	snapshot_prepare(state, &t);
	bool queued = snapshot_store_text(canvas_id, version, &t, cb, arg);
	snapshot_text_release(&t);
	return queued;
}

struct snapshot_ctx {
	char canvas_id[40];
	long long at;
	struct snapshot_text text;   /* prepared on the worker */
	bool already;                /* the state came from a snapshot at this very version */
};

/* One snapshot considered or built per canvas at a time. Under a burst of commits every
 * crossing of the spacing saw the same latest snapshot until the first build was stored, and
 * built its own: a 5,000-shape canvas seeded by 8 writers got ten snapshots 50 versions apart. */
static void snapshot_ctx_done(struct snapshot_ctx *ctx)
{
	if (snap.building && strmap_get(snap.building, ctx->canvas_id) == ctx)
		strmap_remove(snap.building, ctx->canvas_id);
	free(ctx);
}

static void snapshot_stored(const struct db_result *r, void *arg)
{
	struct snapshot_ctx *ctx = arg;
	if (!r->ok)
		log_warn("snapshot_store_failed", "canvas=%s sqlstate=%s", ctx->canvas_id,
			 r->sqlstate);
	else if (db_rows(r) > 0 && !strcmp(db_value(r, 0, 1), "t"))
		metrics_counter_inc(METRIC_SNAPSHOTS_WRITTEN);
	snapshot_ctx_done(ctx);
}

/* Worker: serialize the state (the expensive part of a snapshot). */
static void snapshot_serialize(struct state_result *r, void *arg)
{
	struct snapshot_ctx *ctx = arg;
	ctx->already = r->snapshot_version == r->at;
	if (!ctx->already)
		snapshot_prepare(r->state, &ctx->text);
}

static void snapshot_state_loaded(struct state_result *r, void *arg)
{
	struct snapshot_ctx *ctx = arg;
	if (r->status != STATE_OK) {
		log_warn("snapshot_load_failed", "canvas=%s status=%d", ctx->canvas_id, r->status);
	} else if (!ctx->already &&
		   !snapshot_store_text(ctx->canvas_id, r->at, &ctx->text, snapshot_stored, ctx)) {
		log_warn("snapshot_skipped", "canvas=%s reason=db_queue_full", ctx->canvas_id);
	} else if (!ctx->already) {
		snapshot_text_release(&ctx->text); /* the query copied it */
		return;                            /* snapshot_stored frees ctx */
	}
	snapshot_text_release(&ctx->text);
	snapshot_ctx_done(ctx);
}

/* Builds the snapshot only when the ops since the last one outnumber its shapes and the
 * configured minimum: below that, replaying is cheaper than snapshotting. */
static void snapshot_spacing_checked(const struct db_result *r, void *arg)
{
	struct snapshot_ctx *ctx = arg;
	long long last = 0, shapes = 0;
	if (r->ok && db_rows(r) == 1) {
		last = db_int(r, 0, 0);
		if (!db_is_null(r, 0, 1))
			shapes = db_int(r, 0, 1);
	}
	long long spacing = shapes > snap.every ? shapes : snap.every;
	if (!r->ok || ctx->at - last < spacing) {
		snapshot_ctx_done(ctx);
		return;
	}
	if (!state_load_with(ctx->canvas_id, NULL, ctx->at, snapshot_serialize,
			     snapshot_state_loaded, ctx)) {
		log_warn("snapshot_skipped", "canvas=%s reason=db_queue_full", ctx->canvas_id);
		snapshot_ctx_done(ctx);
	}
}

void snapshot_schedule(const char *canvas_id, long long at)
{
	if (snap.building && strmap_get(snap.building, canvas_id))
		return;
	struct snapshot_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->at = at;
	snprintf(ctx->canvas_id, sizeof(ctx->canvas_id), "%s", canvas_id);
	if (snap.building)
		strmap_put(snap.building, canvas_id, ctx);
	const char *params[] = { canvas_id };
	if (!db_query(snap.db,
		      "SELECT version, shape_count FROM snapshots WHERE canvas_id = $1 "
		      "ORDER BY version DESC LIMIT 1",
		      1, params, snapshot_spacing_checked, ctx))
		snapshot_ctx_done(ctx);
}

void snapshot_note_commit(const char *canvas_id, long long version)
{
	if (!snap.quiet)
		return;
	struct quiet_canvas *q = strmap_get(snap.quiet, canvas_id);
	if (!q) {
		if (strmap_count(snap.quiet) >= QUIET_MAX_CANVASES)
			return;
		q = xcalloc(1, sizeof(*q));
		strmap_put(snap.quiet, canvas_id, q);
	}
	if (version > q->version)
		q->version = version;
	q->last_ms = clock_mono_ms();
	if (!evtimer_pending(snap.quiet_timer, NULL)) {
		struct timeval tv = { 0, QUIET_SWEEP_MS * 1000 };
		evtimer_add(snap.quiet_timer, &tv);
	}
}

struct quiet_sweep {
	long long now;
	size_t count;
	char (*ids)[40];             /* canvases to load or to forget */
	bool *forget;
};

static void quiet_collect(const char *key, void *value, void *arg)
{
	struct quiet_sweep *w = arg;
	struct quiet_canvas *q = value;
	long long idle = w->now - q->last_ms;
	bool forget = false;
	if (q->version == q->loaded_version) {
		/* Nothing new since its head text was asked for: forgotten once idle long enough
		 * that a commit now would be another editing session. */
		if (idle < QUIET_MIN_INTERVAL_MS)
			return;
		forget = true;
	} else if (idle < snap.quiet_ms ||
		   (q->loaded_ms && w->now - q->loaded_ms < QUIET_MIN_INTERVAL_MS)) {
		return; /* still being written to, or asked for recently */
	} else {
		q->loaded_version = q->version;
		q->loaded_ms = w->now;
	}
	snprintf(w->ids[w->count], sizeof(w->ids[w->count]), "%s", key);
	w->forget[w->count++] = forget;
}

/* Every QUIET_SWEEP_MS while canvases are watched: the head text of each quiet one is made
 * sure of (store/state.h), and canvases idle since are forgotten. */
static void quiet_sweep_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	size_t n = strmap_count(snap.quiet);
	struct quiet_sweep w = { .now = clock_mono_ms(), .ids = xcalloc(n ? n : 1, 40),
				 .forget = xcalloc(n ? n : 1, sizeof(bool)) };
	strmap_foreach(snap.quiet, quiet_collect, &w);
	for (size_t i = 0; i < w.count; i++) {
		if (w.forget[i])
			free(strmap_remove(snap.quiet, w.ids[i]));
		else if (!state_refresh_head_text(w.ids[i]))
			log_warn("head_text_skipped", "canvas=%s reason=db_queue_full", w.ids[i]);
	}
	free(w.ids);
	free(w.forget);
	if (strmap_count(snap.quiet) > 0) {
		struct timeval tv = { 0, QUIET_SWEEP_MS * 1000 };
		evtimer_add(snap.quiet_timer, &tv);
	}
}

struct tighten_ctx {
	char canvas_id[40];
	struct snapshot_text text;   /* prepared on the worker */
	void (*done)(bool ok, void *arg);
	void *arg;
};

static void tighten_stored(const struct db_result *r, void *arg)
{
	struct tighten_ctx *ctx = arg;
	if (!r->ok)
		log_warn("snapshot_store_failed", "canvas=%s sqlstate=%s", ctx->canvas_id,
			 r->sqlstate);
	else if (db_rows(r) > 0 && !strcmp(db_value(r, 0, 1), "t"))
		metrics_counter_inc(METRIC_SNAPSHOTS_WRITTEN);
	ctx->done(r->ok, ctx->arg);
	free(ctx);
}

/* Worker: serialize the state (stored even when a snapshot of this version exists: storing
 * is what makes the bounds exact). */
static void tighten_serialize(struct state_result *r, void *arg)
{
	struct tighten_ctx *ctx = arg;
	snapshot_prepare(r->state, &ctx->text);
}

static void tighten_state_loaded(struct state_result *r, void *arg)
{
	struct tighten_ctx *ctx = arg;
	bool queued = r->status == STATE_OK &&
		      snapshot_store_text(ctx->canvas_id, r->at, &ctx->text, tighten_stored, ctx);
	snapshot_text_release(&ctx->text); /* the query copied it */
	if (!queued) {
		ctx->done(false, ctx->arg);
		free(ctx);
	}
}

bool snapshot_tighten(const char *canvas_id, void (*done)(bool ok, void *arg), void *arg)
{
	struct tighten_ctx *ctx = xcalloc(1, sizeof(*ctx));
	snprintf(ctx->canvas_id, sizeof(ctx->canvas_id), "%s", canvas_id);
	ctx->done = done;
	ctx->arg = arg;
	if (!state_load_with(canvas_id, NULL, -1, tighten_serialize, tighten_state_loaded, ctx)) {
		free(ctx);
		return false;
	}
	return true;
}
