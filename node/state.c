#include "state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "metrics.h"
#include "op.h"
#include "server.h"

struct state_ctx {
	state_callback cb;
	void *arg;
	long long at;
};

/*
 * Columns: role, head, at, snapshot version, snapshot state, ops after the snapshot up to at
 * (as a JSON array of {type, payload}). With $2 NULL the membership join is skipped.
 */
static const char state_sql[] =
	"WITH c AS (SELECT c.id, c.version AS head, m.role FROM canvases c "
	"           LEFT JOIN workspace_members m "
	"             ON m.workspace_id = c.workspace_id AND m.user_id = $2::uuid "
	"           WHERE c.id = $1 AND ($2 IS NULL OR m.role IS NOT NULL)), "
	"t AS (SELECT coalesce($3::bigint, c.head) AS at FROM c), "
	"s AS (SELECT s.version, s.state FROM snapshots s, t "
	"      WHERE s.canvas_id = $1 AND s.version <= t.at ORDER BY s.version DESC LIMIT 1) "
	"SELECT c.role, c.head, t.at, (SELECT version FROM s), (SELECT state::text FROM s), "
	"  (SELECT coalesce(json_agg(json_build_object('type', o.type, 'payload', o.payload) "
	"                            ORDER BY o.version), '[]')::text "
	"   FROM operations o WHERE o.canvas_id = $1 "
	"   AND o.version > coalesce((SELECT version FROM s), 0) AND o.version <= t.at) "
	"FROM c, t";

/* Replays ops (already validated when committed) onto state. Re-validation keeps the replay
 * total even for rows written by an older or buggy writer: an invalid op is skipped. */
static void replay_ops(struct canvas_state *state, const char *ops_text)
{
	json_t *ops = json_loads(ops_text, 0, NULL);
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op) {
		enum op_type type;
		struct op_error err;
		if (!op_type_parse(json_string_value(json_object_get(op, "type")), &type))
			continue;
		json_t *payload = op_validate(type, json_object_get(op, "payload"), &err);
		if (!payload)
			continue;
		canvas_apply(state, type, payload);
		json_decref(payload);
	}
	json_decref(ops);
}

static void state_loaded(const struct db_result *r, void *arg)
{
	struct state_ctx *ctx = arg;
	struct state_result res;
	memset(&res, 0, sizeof(res));
	res.db = r;
	if (!r->ok) {
		res.status = STATE_DB_ERROR;
	} else if (PQntuples(r->res) == 0) {
		res.status = STATE_NOT_FOUND;
	} else {
		snprintf(res.role, sizeof(res.role), "%s", PQgetvalue(r->res, 0, 0));
		res.head = strtoll(PQgetvalue(r->res, 0, 1), NULL, 10);
		res.at = strtoll(PQgetvalue(r->res, 0, 2), NULL, 10);
		if (ctx->at > res.head) {
			res.status = STATE_BAD_VERSION;
		} else {
			struct op_error err;
			if (!PQgetisnull(r->res, 0, 3)) {
				res.snapshot_version = strtoll(PQgetvalue(r->res, 0, 3), NULL, 10);
				json_t *shapes = json_loads(PQgetvalue(r->res, 0, 4), 0, NULL);
				res.state = shapes ? canvas_state_from_json(shapes, &err) : NULL;
				json_decref(shapes);
				if (!res.state) {
					/* Derived data that does not load is rebuilt from the log. */
					log_warn("snapshot_invalid", "version=%lld", res.snapshot_version);
				}
			}
			if (!res.state) {
				res.snapshot_version = 0;
				res.state = canvas_state_new();
			}
			replay_ops(res.state, PQgetvalue(r->res, 0, 5));
			res.status = STATE_OK;
		}
	}
	ctx->cb(&res, ctx->arg);
	canvas_state_free(res.state);
	free(ctx);
}

bool state_load(struct server *srv, const char *canvas_id, const char *user_id, long long at,
		state_callback cb, void *arg)
{
	struct state_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->cb = cb;
	ctx->arg = arg;
	ctx->at = at;
	char at_text[32];
	snprintf(at_text, sizeof(at_text), "%lld", at);
	const char *params[] = { canvas_id, user_id, at >= 0 ? at_text : NULL };
	if (!db_query(srv->db, state_sql, 3, params, state_loaded, ctx)) {
		free(ctx);
		return false;
	}
	return true;
}

struct canvas_state *state_result_take_state(struct state_result *r)
{
	struct canvas_state *s = r->state;
	r->state = NULL;
	return s;
}

/* ---- snapshots ---------------------------------------------------------------------------- */

static void snapshot_build(struct server *srv, const char *canvas_id, long long at);

struct snapshot_ctx {
	struct server *srv;
	char canvas_id[40];
};

static void snapshot_stored(const struct db_result *r, void *arg)
{
	struct snapshot_ctx *ctx = arg;
	if (!r->ok)
		log_warn("snapshot_store_failed", "canvas=%s sqlstate=%s", ctx->canvas_id,
			 r->sqlstate);
	else if (PQntuples(r->res) > 0)
		metrics_counter_inc(METRIC_SNAPSHOTS_WRITTEN);
	free(ctx);
}

static void snapshot_state_loaded(struct state_result *r, void *arg)
{
	struct snapshot_ctx *ctx = arg;
	if (r->status != STATE_OK) {
		log_warn("snapshot_load_failed", "canvas=%s status=%d", ctx->canvas_id, r->status);
		free(ctx);
		return;
	}
	if (r->snapshot_version == r->at) {
		free(ctx); /* already there */
		return;
	}
	size_t len;
	char *text = canvas_state_serialize(r->state, &len);
	char version[32], shapes[32];
	snprintf(version, sizeof(version), "%lld", r->at);
	snprintf(shapes, sizeof(shapes), "%zu", canvas_shape_count(r->state));
	const char *params[] = { ctx->canvas_id, version, text, shapes };
	if (!db_query(ctx->srv->db,
		      "INSERT INTO snapshots (canvas_id, version, state, shape_count) "
		      "VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT DO NOTHING RETURNING version",
		      4, params, snapshot_stored, ctx))
		free(ctx);
	free(text);
}

struct snapshot_check {
	struct server *srv;
	char canvas_id[40];
	long long at;
};

/* Builds the snapshot only when the ops since the last one outnumber its shapes (and the
 * configured minimum): below that, replaying is cheaper than snapshotting. */
static void snapshot_spacing_checked(const struct db_result *r, void *arg)
{
	struct snapshot_check *chk = arg;
	long long every = chk->srv->cfg.snapshot_every;
	long long last = 0, shapes = 0;
	if (r->ok && PQntuples(r->res) == 1) {
		last = strtoll(PQgetvalue(r->res, 0, 0), NULL, 10);
		if (!PQgetisnull(r->res, 0, 1))
			shapes = strtoll(PQgetvalue(r->res, 0, 1), NULL, 10);
	}
	long long spacing = shapes > every ? shapes : every;
	if (r->ok && chk->at - last >= spacing)
		snapshot_build(chk->srv, chk->canvas_id, chk->at);
	free(chk);
}

void snapshot_schedule(struct server *srv, const char *canvas_id, long long at)
{
	struct snapshot_check *chk = xcalloc(1, sizeof(*chk));
	chk->srv = srv;
	chk->at = at;
	snprintf(chk->canvas_id, sizeof(chk->canvas_id), "%s", canvas_id);
	const char *params[] = { canvas_id };
	if (!db_query(srv->db,
		      "SELECT version, shape_count FROM snapshots WHERE canvas_id = $1 "
		      "ORDER BY version DESC LIMIT 1",
		      1, params, snapshot_spacing_checked, chk))
		free(chk);
}

static void snapshot_build(struct server *srv, const char *canvas_id, long long at)
{
	struct snapshot_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->srv = srv;
	snprintf(ctx->canvas_id, sizeof(ctx->canvas_id), "%s", canvas_id);
	if (!state_load(srv, canvas_id, NULL, at, snapshot_state_loaded, ctx)) {
		log_warn("snapshot_skipped", "canvas=%s reason=db_queue_full", canvas_id);
		free(ctx);
	}
}
