/*
 * The operation log over REST: commit one op (through the one write path, node/commit.c),
 * page through the log, read the state at any version, and manage snapshots.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "base/alloc.h"
#include "api/api.h"
#include "store/commit.h"
#include "model/op.h"
#include "codec/query.h"
#include "core/ratelimit.h"
#include "store/snapshot.h"
#include "store/state.h"
#include "base/validate.h"

/* Reads path parameter 0 as a canvas UUID, lower-cased (rooms, bus channels and access changes
 * name a canvas by its canonical id); answers 404 otherwise. */
bool api_canvas_param(struct http_request *req, char out[64])
{
	if (http_param(req, 0, out, 64) && validate_uuid(out)) {
		for (char *p = out; *p; p++)
			if (*p >= 'A' && *p <= 'F')
				*p = (char)(*p - 'A' + 'a');
		return true;
	}
	http_respond_error(req, 404, "not_found", "canvas not found");
	return false;
}

/* Reads an optional integer query parameter in [min, max]; answers 422 when malformed. */
bool api_query_int(struct http_request *req, const char *key, long long min, long long max,
		   long long *out, bool *present)
{
	if (query_get_int64(req->head.query, key, min, max, out, present))
		return true;
	http_respond_errorf(req, 422, "invalid_query", "%s: must be an integer from %lld to %lld",
			    key, min, max);
	return false;
}

bool api_query_bool(struct http_request *req, const char *key, bool *out, bool *present)
{
	char value[8];
	if (query_get(req->head.query, key, value, sizeof(value))) {
		*present = true;
		if (!strcmp(value, "true") || !strcmp(value, "false")) {
			*out = value[0] == 't';
			return true;
		}
	} else {
		/* Absent, or present but malformed or too long: the integer reader tells which. */
		long long ignored = 0;
		*present = false;
		(void)!query_get_int64(req->head.query, key, 0, 0, &ignored, present);
		if (!*present)
			return true;
	}
	http_respond_errorf(req, 422, "invalid_query", "%s: must be true or false", key);
	return false;
}

void api_respond_commit_failure(struct http_request *req, const struct commit_outcome *out,
				const struct commit_op_result *res, const char *client_op_id)
{
	switch (res->status) {
	case COMMIT_FORBIDDEN:
		http_respond_error(req, 403, "forbidden", "your role does not allow editing");
		return;
	case COMMIT_NOT_FOUND:
		http_respond_error(req, 404, "not_found", "canvas not found");
		return;
	case COMMIT_CONFLICT:
		http_respond_error(req, 409, "conflict", "the canvas changed concurrently, retry");
		return;
	case COMMIT_ID_CONFLICT:
		http_respond_error(req, 409, "client_op_id_conflict",
				   "client_op_id is already used by another user's operation on "
				   "this canvas: generate a new one");
		return;
	case COMMIT_CANVAS_FULL:
		http_respond_error(req, 422, "canvas_full", commit_full_detail());
		return;
	default:
		break;
	}
	json_t *body = json_pack("{s:s, s:s, s:b}", "detail",
				 out->retryable ? "commit failed, retry with the same client_op_id"
						: "commit failed",
				 "code", out->retryable ? "unavailable" : "internal", "retryable",
				 out->retryable);
	if (client_op_id)
		json_object_set_new(body, "client_op_id", json_string(client_op_id));
	http_respond_json(req, out->retryable ? 503 : 500, body);
}

/*
 * Query callback for canvas reads built as one JSON row joined with the caller's membership:
 * no row means no canvas or not a member (404), else the row is the answer.
 */
void api_canvas_rows_ready(const struct db_result *r, void *arg)
{
	struct http_request *req = arg;
	if (!r->ok)
		api_respond_db_error(req, r);
	else if (db_rows(r) == 0)
		http_respond_error(req, 404, "not_found", "canvas not found");
	else
		api_respond_row_json(req, 200, r);
}

/* Answers 404/422/503 for a state load that did not succeed. */
void api_respond_state_failure(struct http_request *req, const struct state_result *r)
{
	if (r->status == STATE_NOT_FOUND)
		http_respond_error(req, 404, "not_found", "canvas not found");
	else if (r->status == STATE_BAD_VERSION)
		http_respond_errorf(req, 422, "invalid_version",
				    "version is beyond the canvas's current version (%lld)", r->head);
	else
		api_respond_db_error(req, r->db);
}

/* ---- POST /canvases/{id}/operations ------------------------------------------------------ */

struct op_post_ctx {
	struct http_request *req;
	char client_op_id[40];
};

static void op_committed(const struct commit_outcome *out, void *arg)
{
	struct op_post_ctx *c = arg;
	const struct commit_op_result *res = &out->results[0];
	if ((res->status == COMMIT_OK || res->status == COMMIT_DUPLICATE) && res->op_text)
		http_respond_json_text(c->req, res->status == COMMIT_OK ? 201 : 200, res->op_text,
				       strlen(res->op_text));
	else
		api_respond_commit_failure(c->req, out, res, c->client_op_id);
	free(c);
}

/* Validates {type, payload, client_op_id} (op_validate, as WebSocket ops are) and commits it
 * through the one write path; 201 new, 200 duplicate. */
void api_operations_create(struct http_request *req)
{
	char canvas_id[64];
	if (!api_canvas_param(req, canvas_id))
		return;
	const char *type_name = NULL, *client_op_id = NULL;
	json_t *payload = NULL;
	const struct api_field fields[] = {
		{ "type", API_STRING, true, 32, &type_name, NULL, NULL },
		{ "payload", API_ANY, true, 0, NULL, NULL, &payload },
		{ "client_op_id", API_STRING, true, 64, &client_op_id, NULL, NULL },
	};
	json_t *body = api_parse_body(req, fields, 3);
	if (!body)
		return;
	enum op_type type;
	struct op_error err;
	json_t *normalized = NULL;
	if (!validate_uuid(client_op_id)) {
		http_respond_error(req, 422, "invalid_field", "client_op_id: must be a UUID");
	} else if (!op_type_parse(type_name, &type)) {
		http_respond_errorf(req, 422, "unknown_op_type",
				    "type: must be one of create_shape, move_shape, resize_shape, "
				    "update_shape, delete_shape");
	} else if (!(normalized = op_validate(type, payload, &err))) {
		http_respond_error(req, 422, err.code, err.detail);
	} else if (!ratelimit_take_user(req->user_id, 1.0)) {
		json_decref(normalized);
		http_respond_errorf(req, 429, "rate_limited",
				    "rate limit: at most %d operations per second per user (burst %d)",
				    api_env()->cfg->user_ops_per_second,
				    api_env()->cfg->user_ops_burst);
	} else {
		struct op_post_ctx *c = xcalloc(1, sizeof(*c));
		c->req = req;
		snprintf(c->client_op_id, sizeof(c->client_op_id), "%s", client_op_id);
		struct commit_job *job = commit_job_new(canvas_id, req->user_id, op_committed, c);
		commit_job_add_op(job, client_op_id, type, normalized, "do", 0);
		commit_submit(job);
	}
	json_decref(body);
}

/* ---- GET /canvases/{id}/operations?since=&limit= ---------------------------------------- */

void api_operations_list(struct http_request *req)
{
	char canvas_id[64];
	if (!api_canvas_param(req, canvas_id))
		return;
	long long since = 0, limit = 0;
	bool has_since, has_limit;
	int page_max = api_env()->cfg->ops_page_max;
	if (!api_query_int(req, "since", 0, (1ll << 53), &since, &has_since) ||
	    !api_query_int(req, "limit", 1, page_max, &limit, &has_limit))
		return;
	if (!has_limit)
		limit = page_max < 100 ? page_max : 100;
	char since_text[32], limit_text[32];
	snprintf(since_text, sizeof(since_text), "%lld", since);
	snprintf(limit_text, sizeof(limit_text), "%lld", limit);
	const char *params[] = { canvas_id, req->user_id, since_text, limit_text };
	api_query(req,
		  "SELECT coalesce((SELECT json_agg(fs_op_json(o) ORDER BY o.version) FROM "
		  "  (SELECT * FROM operations WHERE canvas_id = $1 AND version > $3 "
		  "   ORDER BY version LIMIT $4) o), '[]')::text "
		  "FROM canvases c JOIN workspace_members m "
		  "  ON m.workspace_id = c.workspace_id AND m.user_id = $2 "
		  "WHERE c.id = $1 AND c.deleted_at IS NULL",
		  4, params, api_canvas_rows_ready, req);
}

/* ---- GET /canvases/{id}/state?at= -------------------------------------------------------- */

struct state_get_ctx {
	struct http_request *req;
	char canvas_id[64];
	char *body;                  /* built on the worker */
	size_t len;
};

/* Worker: the answer around the canonical text (sorted keys: equal states are equal bytes),
 * built or read from a snapshot at that version (state_load_text). */
static void state_wrap(struct state_result *r, void *arg)
{
	struct state_get_ctx *c = arg;
	c->body = xasprintf("{\"canvas_id\":\"%s\",\"version\":%lld,\"shapes\":%s}", c->canvas_id,
			    r->at, r->text);
	c->len = strlen(c->body);
}

static void state_ready(struct state_result *r, void *arg)
{
	struct state_get_ctx *c = arg;
	if (r->status != STATE_OK) {
		api_respond_state_failure(c->req, r);
		free(c->body);
	} else {
		http_respond_take(c->req, 200, "application/json", c->body, c->len); /* no copy */
	}
	free(c);
}

void api_state_get(struct http_request *req)
{
	char canvas_id[64];
	if (!api_canvas_param(req, canvas_id))
		return;
	long long at = -1;
	bool has_at;
	if (!api_query_int(req, "at", 0, (1ll << 53), &at, &has_at))
		return;
	struct state_get_ctx *c = xcalloc(1, sizeof(*c));
	c->req = req;
	snprintf(c->canvas_id, sizeof(c->canvas_id), "%s", canvas_id);
	if (!state_load_text(canvas_id, req->user_id, has_at ? at : -1, state_wrap, state_ready,
			     c)) {
		http_respond_error(req, 503, "overloaded", "too many queued database requests");
		free(c);
	}
}

/* ---- snapshots --------------------------------------------------------------------------- */

static void snapshot_created(const struct db_result *r, void *arg)
{
	struct http_request *req = arg;
	if (!r->ok)
		api_respond_db_error(req, r);
	else
		api_respond_row_json(req, 201, r);
}

struct snapshot_create_ctx {
	struct http_request *req;
	struct snapshot_text text;   /* serialized on the worker */
};

static void snapshot_create_serialize(struct state_result *r, void *arg)
{
	struct snapshot_create_ctx *c = arg;
	snapshot_prepare(r->state, &c->text);
}

static void snapshot_state_ready(struct state_result *r, void *arg)
{
	struct snapshot_create_ctx *c = arg;
	struct http_request *req = c->req;
	if (r->status != STATE_OK) {
		api_respond_state_failure(req, r);
	} else if (!role_at_least(api_role(r->role), ROLE_EDITOR)) {
		http_respond_error(req, 403, "forbidden", "your role does not allow this");
	} else {
		char canvas_id[64];
		http_param(req, 0, canvas_id, sizeof(canvas_id));
		if (!snapshot_store_text(canvas_id, r->at, &c->text, snapshot_created, req))
			http_respond_error(req, 503, "overloaded",
					   "too many queued database requests");
	}
	snapshot_text_release(&c->text);
	free(c);
}

void api_snapshots_create(struct http_request *req)
{
	char canvas_id[64];
	if (!api_canvas_param(req, canvas_id))
		return;
	struct snapshot_create_ctx *c = xcalloc(1, sizeof(*c));
	c->req = req;
	if (!state_load_with(canvas_id, req->user_id, -1, snapshot_create_serialize,
			     snapshot_state_ready, c)) {
		http_respond_error(req, 503, "overloaded", "too many queued database requests");
		free(c);
	}
}

void api_snapshots_list(struct http_request *req)
{
	char canvas_id[64];
	if (!api_canvas_param(req, canvas_id))
		return;
	const char *params[] = { canvas_id, req->user_id };
	api_query(req,
		  "SELECT coalesce((SELECT json_agg(json_build_object('canvas_id', s.canvas_id, "
		  "  'version', s.version, 'created_at', fs_ts(s.created_at), 'shape_count', "
		  "  (SELECT count(*) FROM jsonb_object_keys(s.state))) ORDER BY s.version) "
		  "  FROM snapshots s WHERE s.canvas_id = $1), '[]')::text "
		  "FROM canvases c JOIN workspace_members m "
		  "  ON m.workspace_id = c.workspace_id AND m.user_id = $2 "
		  "WHERE c.id = $1 AND c.deleted_at IS NULL",
		  2, params, api_canvas_rows_ready, req);
}
