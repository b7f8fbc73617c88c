#include "store/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "core/metrics.h"
#include "store/state.h"

#define SNAPSHOT_TIMEOUT_FACTOR 4

static struct {
	struct db_pool *db;
	long long every;
} snap;

void snapshot_init(struct db_pool *db, long long every)
{
	snap.db = db;
	snap.every = every;
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
	char version_text[32], shapes[32], bytes[32];
	snprintf(version_text, sizeof(version_text), "%lld", version);
	snprintf(shapes, sizeof(shapes), "%zu", t->shapes);
	snprintf(bytes, sizeof(bytes), "%zu", t->len);
	const char *params[] = { canvas_id, version_text, t->text, shapes, bytes };
	/* A whole canvas state, parsed into jsonb and written to the WAL: for the largest ones
	 * that takes seconds. It is off the request path (or an explicit POST /snapshots), so it
	 * gets four times the usual deadline. */
	return db_query_timeout(snap.db, SNAPSHOT_TIMEOUT_FACTOR * db_pool_query_timeout(snap.db),
				"SELECT snapshot, inserted FROM fs_store_snapshot($1, $2, $3::jsonb, "
				"$4, $5)",
				5, params, cb, arg);
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

static void snapshot_stored(const struct db_result *r, void *arg)
{
	struct snapshot_ctx *ctx = arg;
	if (!r->ok)
		log_warn("snapshot_store_failed", "canvas=%s sqlstate=%s", ctx->canvas_id,
			 r->sqlstate);
	else if (db_rows(r) > 0 && !strcmp(db_value(r, 0, 1), "t"))
		metrics_counter_inc(METRIC_SNAPSHOTS_WRITTEN);
	free(ctx);
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
	free(ctx);
}

/* Builds the snapshot only when the ops since the last one outnumber its shapes (and the
 * configured minimum): below that, replaying is cheaper than snapshotting. */
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
		free(ctx);
		return;
	}
	if (!state_load_with(ctx->canvas_id, NULL, ctx->at, snapshot_serialize,
			     snapshot_state_loaded, ctx)) {
		log_warn("snapshot_skipped", "canvas=%s reason=db_queue_full", ctx->canvas_id);
		free(ctx);
	}
}

void snapshot_schedule(const char *canvas_id, long long at)
{
	struct snapshot_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->at = at;
	snprintf(ctx->canvas_id, sizeof(ctx->canvas_id), "%s", canvas_id);
	const char *params[] = { canvas_id };
	if (!db_query(snap.db,
		      "SELECT version, shape_count FROM snapshots WHERE canvas_id = $1 "
		      "ORDER BY version DESC LIMIT 1",
		      1, params, snapshot_spacing_checked, ctx))
		free(ctx);
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
