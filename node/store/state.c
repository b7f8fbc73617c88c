#include "store/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "core/metrics.h"
#include "core/workers.h"
#include "model/op.h"

/* A state whose snapshot and ops texts are at most this many bytes is built on the loop:
 * parsing and replaying it takes well under a millisecond. Larger ones go to the workers. */
#define STATE_INLINE_BYTES (64 * 1024)

static struct db_pool *state_db;
static struct workers *state_workers;

void state_init(struct db_pool *db, struct workers *workers)
{
	state_db = db;
	state_workers = workers;
}

struct state_ctx {
	state_callback cb;
	state_work_fn work;
	void *arg;
	long long at;
	char *canvas_id;
	struct state_result res;
	struct db_result *rows;   /* taken from the pool (or fetched), read and freed on the worker */
	struct db_result *failure; /* a failed fetch: res.db points here until the callback ran */
	bool has_snapshot;
	bool big;                 /* rows has no texts: the worker fetches them (fetch_sql) */
	bool snapshot_invalid;
	bool want_text;           /* state_load_text */
	char source;              /* 'h' head text, 's' snapshot text (both answered as they are),
				   * 'b' build (state_sql's column 7) */
	bool snapshot_text;       /* the snapshot has its text in the current form */
	bool background;          /* state_refresh_head_text: nobody is answered */
	struct db_result *kept;   /* the write of a built head text (head_text_write) */
};

static void state_ctx_free(struct state_ctx *ctx)
{
	canvas_state_free(ctx->res.state);
	free(ctx->res.text);
	db_result_free(ctx->rows);
	db_result_free(ctx->failure);
	db_result_free(ctx->kept);
	free(ctx->canvas_id);
	free(ctx);
}

/* Snapshot and ops whose stored size (pg_column_size: after compression) exceeds this are not
 * read on the loop at all: the worker fetches them on a connection of its own (db_fetch).
 * Receiving the largest canvas's 9 MB state through libpq took the loop 30-75 ms per read;
 * this much stays in the low milliseconds. */
#define STATE_LOOP_FETCH_STORED_BYTES (128 * 1024)

/*
 * Columns: 0 role, 1 head, 2 at, 3 snapshot version, 4 the text to answer with or to parse,
 * 5 the ops after the snapshot up to at (a JSON array of {type, payload}; '[]' for a head
 * text), 6 "big": that text and those ops take more than $4 stored bytes, and 4 and 5 are
 * NULL (the worker reads them with fetch_sql), 7 the source: 'h' the canvas's head text
 * (canvas_heads) is at `at`, 's' the snapshot is at `at` and has its text, both in form $5
 * and only when $6 (state_load_text); 'b' otherwise (build: parse column 4, replay column 5),
 * 8 whether the snapshot has its text in form $5 (parsed instead of the printed jsonb).
 * With $2 NULL the membership join is skipped.
 */
static const char state_sql[] =
	"WITH c AS (SELECT c.id, c.version AS head, m.role FROM canvases c "
	"           LEFT JOIN workspace_members m "
	"             ON m.workspace_id = c.workspace_id AND m.user_id = $2::uuid "
	"           WHERE c.id = $1 AND c.deleted_at IS NULL "
	"             AND ($2 IS NULL OR m.role IS NOT NULL)), "
	"t AS (SELECT coalesce($3::bigint, c.head) AS at FROM c), "
	"h AS (SELECT pg_column_size(h.state_text) AS bytes FROM canvas_heads h, t "
	"      WHERE $6::boolean AND h.canvas_id = $1 AND h.version = t.at "
	"        AND h.format = $5::int), "
	"s AS (SELECT s.version, s.state, s.state_text IS NOT NULL AND s.format = $5::int "
	"             AS has_text FROM snapshots s, t "
	"      WHERE s.canvas_id = $1 AND s.version <= t.at ORDER BY s.version DESC LIMIT 1), "
	"o AS (SELECT o.version, o.type, o.payload FROM operations o, t WHERE o.canvas_id = $1 "
	"      AND o.version > coalesce((SELECT version FROM s), 0) AND o.version <= t.at), "
	"x AS (SELECT CASE WHEN EXISTS (SELECT 1 FROM h) THEN 'h' "
	"                  WHEN $6::boolean AND (SELECT has_text AND version = t.at FROM s) "
	"                  THEN 's' ELSE 'b' END AS source FROM t), "
	"b AS (SELECT x.source, CASE WHEN x.source = 'h' THEN (SELECT bytes FROM h) "
	"        ELSE coalesce((SELECT pg_column_size(state) FROM s), 0) "
	"           + coalesce((SELECT sum(pg_column_size(payload)) FROM o), 0) END "
	"        > $4::bigint AS big FROM x) "
	"SELECT c.role, c.head, t.at, (SELECT version FROM s), "
	"  CASE WHEN b.big THEN NULL "
	"       WHEN b.source = 'h' THEN (SELECT state_text FROM canvas_heads WHERE canvas_id = $1) "
	"       ELSE (SELECT CASE WHEN has_text THEN (SELECT n.state_text FROM snapshots n "
	"                 WHERE n.canvas_id = $1 AND n.version = s.version) "
	"                 ELSE state::text END FROM s) END, "
	"  CASE WHEN b.big THEN NULL WHEN b.source = 'h' THEN '[]' "
	"       ELSE (SELECT coalesce(json_agg(json_build_object("
	"    'type', o.type, 'payload', o.payload) ORDER BY o.version), '[]')::text FROM o) END, "
	"  b.big, b.source, coalesce((SELECT has_text FROM s), false) "
	"FROM c, t, b";

/* The worker's read of a big state, as state_sql's columns 4 and 5, by $4: 'h' the head text
 * at $3 (NULL if it has been overwritten since), 't' the snapshot at $2 by its text, 'j' by
 * its printed jsonb; with the ops after the snapshot up to $3 (snapshots and committed ops
 * are immutable). A snapshot that is gone went with its canvas. */
static const char fetch_sql[] =
	"SELECT CASE $4 WHEN 'h' THEN (SELECT state_text FROM canvas_heads "
	"                              WHERE canvas_id = $1 AND version = $3::bigint) "
	"               WHEN 't' THEN (SELECT state_text FROM snapshots "
	"                              WHERE canvas_id = $1 AND version = $2::bigint) "
	"               ELSE (SELECT state::text FROM snapshots "
	"                     WHERE canvas_id = $1 AND version = $2::bigint) END, "
	"  CASE WHEN $4 = 'h' THEN '[]' ELSE "
	"  (SELECT coalesce(json_agg(json_build_object('type', o.type, 'payload', o.payload) "
	"                            ORDER BY o.version), '[]')::text "
	"   FROM operations o WHERE o.canvas_id = $1 "
	"   AND o.version > coalesce($2::bigint, 0) AND o.version <= $3::bigint) END";

/* A built head text at least this long is kept in canvas_heads for the next reader: below
 * it the state is built on the loop in well under a millisecond (STATE_INLINE_BYTES). */
#define HEAD_TEXT_MIN_BYTES STATE_INLINE_BYTES

/* Replays ops (already validated when committed) onto state. canvas_apply validates each
 * again, which keeps the replay total even for rows written by an older or buggy writer: an
 * invalid op is skipped. */
static void replay_ops(struct canvas_state *state, const char *ops_text)
{
	json_t *ops = json_loads(ops_text, 0, NULL);
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op) {
		enum op_type type;
		if (op_type_parse(json_string_value(json_object_get(op, "type")), &type))
			canvas_apply(state, type, json_object_get(op, "payload"));
	}
	json_decref(ops);
}

static struct db_result *state_fetch_mode(struct state_ctx *ctx, const char *mode)
{
	char snapshot[32], at[32];
	snprintf(snapshot, sizeof(snapshot), "%lld", ctx->res.snapshot_version);
	snprintf(at, sizeof(at), "%lld", ctx->res.at);
	const char *params[] = { ctx->canvas_id, ctx->has_snapshot ? snapshot : NULL, at, mode };
	return db_fetch(state_db, fetch_sql, 4, params);
}

/* Worker thread: reads the texts of a big state on a connection of its own (db_fetch), in
 * place of the loop's result, which carried only the versions. A head text overwritten since
 * the loop's query is built from the snapshot instead. false: res says why. */
static bool state_fetch(struct state_ctx *ctx)
{
	struct state_result *res = &ctx->res;
	db_result_free(ctx->rows);
	ctx->rows = NULL;
	struct db_result *r = NULL;
	if (ctx->source == 'h') {
		r = state_fetch_mode(ctx, "h");
		if (r->ok && db_is_null(r, 0, 0)) {
			db_result_free(r);
			r = NULL;
			ctx->source = 'b';
		}
	}
	if (!r)
		r = state_fetch_mode(ctx, ctx->snapshot_text ? "t" : "j");
	if (!r->ok) {
		ctx->failure = r;
		res->status = STATE_DB_ERROR;
		res->db = r;
		return false;
	}
	if (ctx->source != 'h' && ctx->has_snapshot && db_is_null(r, 0, 0)) {
		db_result_free(r);
		res->status = STATE_NOT_FOUND; /* deleted since the first read */
		return false;
	}
	ctx->rows = r;
	return true;
}

/* The snapshot in ctx->rows (if any) parsed and the ops after it replayed into res->state. */
static void state_replay(struct state_ctx *ctx, int snapshot_col, int ops_col)
{
	struct state_result *res = &ctx->res;
	struct op_error err;
	if (ctx->has_snapshot) {
		json_t *shapes = json_loads(db_value(ctx->rows, 0, snapshot_col), 0, NULL);
		res->state = shapes ? canvas_state_from_json(shapes, &err) : NULL;
		json_decref(shapes);
		/* Derived data that does not load is rebuilt from the log (logged on the loop). */
		ctx->snapshot_invalid = !res->state;
	}
	if (!res->state) {
		res->snapshot_version = 0;
		res->state = canvas_state_new();
	}
	replay_ops(res->state, db_value(ctx->rows, 0, ops_col));
}

/* Worker thread (or the loop, for a small state): take the stored text, or parse the snapshot
 * and replay the ops; run the caller's hook. Touches only the context (and the result it
 * owns). */
static void state_build(void *arg)
{
	struct state_ctx *ctx = arg;
	struct state_result *res = &ctx->res;
	if (ctx->big && !state_fetch(ctx))
		return;
	/* The texts' columns: the loop's result (state_sql) or the worker's (fetch_sql). */
	int snapshot_col = ctx->big ? 0 : 4, ops_col = ctx->big ? 1 : 5;
	if (ctx->source != 'b') {
		res->text_len = db_length(ctx->rows, 0, snapshot_col);
		res->text = xstrndup(db_value(ctx->rows, 0, snapshot_col), res->text_len);
		res->text_stored = true;
	} else {
		state_replay(ctx, snapshot_col, ops_col);
	}
	db_result_free(ctx->rows);
	ctx->rows = NULL;
	if (ctx->want_text && res->state) {
		res->text = canvas_state_serialize(res->state, &res->text_len);
		canvas_state_free(res->state);
		res->state = NULL;
	}
	if (ctx->work) {
		ctx->work(res, ctx->arg);
		/* Freed here, off the loop, unless the hook took it. */
		canvas_state_free(res->state);
		res->state = NULL;
	}
}

static const char head_text_sql[] =
	"INSERT INTO canvas_heads AS h (canvas_id, version, format, state_text) "
	"VALUES ($1, $2, $3, $4) ON CONFLICT (canvas_id) DO UPDATE "
	"SET version = excluded.version, format = excluded.format, "
	"    state_text = excluded.state_text, written_at = now() "
	"WHERE h.version < excluded.version OR h.format <> excluded.format";

/* Worker thread, after the answer went out: keeps the head text it built for the next reader,
 * on a connection of its own (db_fetch): a text of megabytes neither passes through the loop
 * nor holds one of the pool's connections while Postgres compresses and writes it. A newer
 * one already there wins. */
static void head_text_write(void *arg)
{
	struct state_ctx *ctx = arg;
	char version[32], format[16];
	snprintf(version, sizeof(version), "%lld", ctx->res.at);
	snprintf(format, sizeof(format), "%d", CANVAS_STATE_FORMAT);
	const char *params[] = { ctx->canvas_id, version, format, ctx->res.text };
	ctx->kept = db_fetch(state_db, head_text_sql, 4, params);
}

/* Loop: the head text is kept, or why not (derived data: logged, nothing else). */
static void head_text_written(void *arg)
{
	struct state_ctx *ctx = arg;
	if (ctx->kept->ok)
		metrics_counter_inc(METRIC_STATE_HEAD_TEXTS_WRITTEN);
	else
		log_warn("head_text_failed", "retryable=%d message=\"%s\"", ctx->kept->retryable,
			 ctx->kept->message);
	state_ctx_free(ctx);
}

/* Loop: the state is built (and the hook has run), or its fetch failed: answer the caller. */
static void state_built(void *arg)
{
	struct state_ctx *ctx = arg;
	if (ctx->snapshot_invalid)
		log_warn("snapshot_invalid", "version=%lld", ctx->res.snapshot_version);
	if (ctx->big)
		metrics_counter_inc(METRIC_STATE_WORKER_FETCHES);
	if (ctx->res.text_stored && !ctx->background)
		metrics_counter_inc(METRIC_STATE_STORED_TEXTS);
	if (ctx->failure)
		log_warn("state_fetch_failed", "retryable=%d message=\"%s\"",
			 ctx->failure->retryable, ctx->failure->message);
	/* A head text built here (not read) is worth keeping when it is not a small one. */
	bool keep = ctx->res.text && !ctx->res.text_stored && ctx->res.at == ctx->res.head &&
		    ctx->res.text_len >= HEAD_TEXT_MIN_BYTES && state_workers;
	ctx->cb(&ctx->res, ctx->arg);
	if (!keep) {
		state_ctx_free(ctx);
		return;
	}
	workers_submit(state_workers, head_text_write, head_text_written, ctx);
}

static void state_loaded(const struct db_result *r, void *arg)
{
	struct state_ctx *ctx = arg;
	struct state_result *res = &ctx->res;
	res->db = r;
	if (!r->ok) {
		res->status = STATE_DB_ERROR;
	} else if (db_rows(r) == 0) {
		res->status = STATE_NOT_FOUND;
	} else {
		snprintf(res->role, sizeof(res->role), "%s", db_value(r, 0, 0));
		res->head = db_int(r, 0, 1);
		res->at = db_int(r, 0, 2);
		res->status = ctx->at > res->head ? STATE_BAD_VERSION : STATE_OK;
	}
	if (res->status != STATE_OK) {
		ctx->cb(res, ctx->arg);
		state_ctx_free(ctx);
		return;
	}
	res->db = NULL;
	ctx->has_snapshot = !db_is_null(r, 0, 3);
	res->snapshot_version = ctx->has_snapshot ? db_int(r, 0, 3) : 0;
	ctx->big = db_value(r, 0, 6)[0] == 't';
	ctx->source = db_value(r, 0, 7)[0];
	ctx->snapshot_text = db_value(r, 0, 8)[0] == 't';
	ctx->rows = db_result_take(r);
	size_t bytes = db_length(ctx->rows, 0, 4) + db_length(ctx->rows, 0, 5);
	if (!ctx->big && (ctx->source != 'b' || bytes <= STATE_INLINE_BYTES || !state_workers)) {
		/* Small (or a stored text, only copied): done here in well under a millisecond,
		 * without two thread hand-offs that would widen the window of conditional commits
		 * (restore, undo) built on it. */
		state_build(ctx);
		state_built(ctx);
		return;
	}
	workers_submit(state_workers, state_build, state_built, ctx);
}

static bool state_start(const char *canvas_id, const char *user_id, long long at,
			state_work_fn work, state_callback cb, void *arg, bool want_text,
			bool background)
{
	struct state_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->cb = cb;
	ctx->work = work;
	ctx->arg = arg;
	ctx->want_text = want_text;
	ctx->background = background;
	ctx->canvas_id = xstrdup(canvas_id);
	ctx->at = at;
	char at_text[32];
	snprintf(at_text, sizeof(at_text), "%lld", at);
	char fetch_bytes[32];
	/* Without workers (tests of the loop alone) everything is read here: never "big". */
	snprintf(fetch_bytes, sizeof(fetch_bytes), "%lld",
		 state_workers ? (long long)STATE_LOOP_FETCH_STORED_BYTES : 1LL << 62);
	char format[16];
	snprintf(format, sizeof(format), "%d", CANVAS_STATE_FORMAT);
	const char *params[] = { canvas_id, user_id, at >= 0 ? at_text : NULL, fetch_bytes, format,
				 want_text ? "true" : "false" };
	if (!db_query(state_db, state_sql, 6, params, state_loaded, ctx)) {
		state_ctx_free(ctx);
		return false;
	}
	return true;
}

bool state_load_with(const char *canvas_id, const char *user_id, long long at,
		     state_work_fn work, state_callback cb, void *arg)
{
	return state_start(canvas_id, user_id, at, work, cb, arg, false, false);
}

bool state_load_text(const char *canvas_id, const char *user_id, long long at,
		     state_work_fn work, state_callback cb, void *arg)
{
	return state_start(canvas_id, user_id, at, work, cb, arg, true, false);
}

static void head_text_refreshed(struct state_result *r, void *arg)
{
	(void)arg;
	if (r->status == STATE_DB_ERROR)
		log_warn("head_text_load_failed", "sqlstate=%s", r->db ? r->db->sqlstate : "");
}

bool state_refresh_head_text(const char *canvas_id)
{
	return state_start(canvas_id, NULL, -1, NULL, head_text_refreshed, NULL, true, true);
}

bool state_load(const char *canvas_id, const char *user_id, long long at, state_callback cb,
		void *arg)
{
	return state_load_with(canvas_id, user_id, at, NULL, cb, arg);
}

struct canvas_state *state_result_take_state(struct state_result *r)
{
	struct canvas_state *s = r->state;
	r->state = NULL;
	return s;
}

