/*
 * History over REST: named checkpoints, diff between two versions, restore, per-user activity
 * and SVG export (docs/protocol.md, "History").
 *
 * Restore is the one write here and goes through the one write path (node/commit.h): the
 * forward ops are computed from the state at a head h and committed on the condition that the
 * canvas is still at h, so a concurrent writer can never interleave with them; if one got in
 * first, the ops are recomputed from the new head and submitted again (a few times, then 409).
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "api/api.h"
#include "auth/token.h"
#include "store/commit.h"
#include "base/log.h"
#include "model/op.h"
#include "store/state.h"
#include "model/svg.h"
#include "base/validate.h"
#include "codec/query.h"

#define VERSION_MAX (1ll << 53)
#define RESTORE_MAX_RETRIES 5
#define CHECKPOINT_NAME_MAX 100
/* The reference API's label: 1..120 characters (schema/040 widened the column's check). */
#define CHECKPOINT_LABEL_MAX_CHARS 120

/* A checkpoint carries its name twice: as `name` and as the reference API's `label`. */
#define CHECKPOINT_JSON                                                                    \
	"json_build_object('id', k.id, 'canvas_id', k.canvas_id, 'name', k.name, "         \
	"'label', k.name, 'version', k.version, 'created_by', k.created_by, "              \
	"'created_at', fs_ts(k.created_at))"

/* Code points in a valid UTF-8 string. */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/*
 * Two spellings of one field (the reference API's and ours): either may be given, or both
 * when they agree. *out gets the value (NULL when neither). false after answering 422.
 */
static bool one_of_two_strings(struct http_request *req, const char *a_name, const char *a,
			       const char *b_name, const char *b, const char **out)
{
	if (a && b && strcmp(a, b) != 0) {
		http_respond_errorf(req, 422, "invalid_field",
				    "%s, %s: two names for one field, give one of them", a_name,
				    b_name);
		return false;
	}
	*out = a ? a : b;
	return true;
}

/* Reads a required integer query parameter; answers 422 when absent or malformed. */
static bool required_query_int(struct http_request *req, const char *key, long long min,
			       long long max, long long *out)
{
	bool present = false;
	if (!api_query_int(req, key, min, max, out, &present))
		return false;
	if (present)
		return true;
	http_respond_errorf(req, 422, "invalid_query", "%s: required", key);
	return false;
}

/* ---- named checkpoints: POST/GET /canvases/{id}/versions ---------------------------------- */

static void checkpoint_created(const struct db_result *r, void *arg)
{
	struct http_request *req = arg;
	if (!r->ok) {
		api_respond_db_error(req, r);
		return;
	}
	/* Columns: my role, head, requested version within the head, the inserted checkpoint. */
	if (db_is_null(r, 0, 0)) {
		http_respond_error(req, 404, "not_found", "canvas not found");
	} else if (!role_at_least(api_role(db_value(r, 0, 0)), ROLE_EDITOR)) {
		http_respond_error(req, 403, "forbidden", "your role does not allow this");
	} else if (strcmp(db_value(r, 0, 2), "t") != 0) {
		http_respond_errorf(req, 422, "invalid_version",
				    "version is beyond the canvas's current version (%s)",
				    db_value(r, 0, 1));
	} else if (db_is_null(r, 0, 3)) {
		http_respond_error(req, 409, "checkpoint_exists",
				   "this canvas already has a checkpoint with that name");
	} else {
		http_respond_json_text(req, 201, db_value(r, 0, 3),
				       (size_t)db_length(r, 0, 3));
	}
}

void api_versions_create(struct http_request *req)
{
	char canvas_id[64];
	if (!api_canvas_param(req, canvas_id))
		return;
	const char *name = NULL, *label = NULL;
	long long version = -1;
	const struct api_field fields[] = {
		{ "name", API_STRING, false, 4 * CHECKPOINT_NAME_MAX, &name, NULL, NULL },
		{ "label", API_STRING, false, 4 * CHECKPOINT_LABEL_MAX_CHARS, &label, NULL, NULL },
		{ "version", API_INTEGER, false, 0, NULL, &version, NULL },
	};
	json_t *body = api_parse_body(req, fields, 3);
	if (!body)
		return;
	const char *why;
	char version_text[32];
	bool has_version = json_object_get(body, "version") &&
			   !json_is_null(json_object_get(body, "version"));
	/* name: 1..100 bytes (our rule); label: 1..120 characters (the reference API's). */
	if (!name && !label) {
		http_respond_error(req, 422, "missing_field", "name: required (or label)");
	} else if (name && !validate_name(name, CHECKPOINT_NAME_MAX, &why)) {
		http_respond_errorf(req, 422, "invalid_field", "name: %s", why);
	} else if (label && !validate_name(label, 4 * CHECKPOINT_LABEL_MAX_CHARS, &why)) {
		http_respond_errorf(req, 422, "invalid_field", "label: %s", why);
	} else if (label && utf8_chars(label) > CHECKPOINT_LABEL_MAX_CHARS) {
		http_respond_errorf(req, 422, "invalid_field", "label: at most %d characters",
				    CHECKPOINT_LABEL_MAX_CHARS);
	} else if (!one_of_two_strings(req, "name", name, "label", label, &name)) {
		/* answered */
	} else if (has_version && (version < 0 || version > VERSION_MAX)) {
		http_respond_error(req, 422, "invalid_field",
				   "version: must be an integer from 0 to the canvas's version");
	} else {
		snprintf(version_text, sizeof(version_text), "%lld", version);
		const char *params[] = { canvas_id, req->user_id, name,
					 has_version ? version_text : NULL };
		/* One statement: the membership row, the head and the insert, which happens only
		 * for editors and owners and only for a version the canvas has reached. */
		api_query(req,
			  "WITH me AS (SELECT m.role, c.version AS head FROM canvases c "
			  "            JOIN workspace_members m "
			  "              ON m.workspace_id = c.workspace_id AND m.user_id = $2 "
			  "            WHERE c.id = $1 AND c.deleted_at IS NULL), "
			  "ins AS (INSERT INTO checkpoints (canvas_id, name, version, created_by) "
			  "        SELECT $1, $3, coalesce($4::bigint, me.head), $2 FROM me "
			  "        WHERE me.role IN ('editor', 'owner') "
			  "          AND coalesce($4::bigint, me.head) <= me.head "
			  "        ON CONFLICT ON CONSTRAINT checkpoints_canvas_name_unique "
			  "        DO NOTHING "
			  "        RETURNING *) "
			  "SELECT (SELECT role FROM me), (SELECT head FROM me), "
			  "  (SELECT coalesce($4::bigint, head) <= head FROM me), "
			  "  (SELECT " CHECKPOINT_JSON "::text FROM ins k)",
			  4, params, checkpoint_created, req);
	}
	json_decref(body);
}

void api_versions_list(struct http_request *req)
{
	char canvas_id[64];
	if (!api_canvas_param(req, canvas_id))
		return;
	const char *params[] = { canvas_id, req->user_id };
	api_query(req,
		  "SELECT coalesce((SELECT json_agg(" CHECKPOINT_JSON
		  "  ORDER BY k.version, k.created_at, k.id) "
		  "  FROM checkpoints k WHERE k.canvas_id = $1), '[]')::text "
		  "FROM canvases c JOIN workspace_members m "
		  "  ON m.workspace_id = c.workspace_id AND m.user_id = $2 "
		  "WHERE c.id = $1 AND c.deleted_at IS NULL",
		  2, params, api_canvas_rows_ready, req);
}

/* ---- GET /canvases/{id}/diff?from=&to= ---------------------------------------------------- */

struct diff_ctx {
	struct http_request *req;
	char canvas_id[64];
	long long from, to;
	struct canvas_state *before;
	char *body;                     /* built on the worker */
};

static void diff_ctx_free(struct diff_ctx *c)
{
	canvas_state_free(c->before);
	free(c->body);
	free(c);
}

/* Worker: the diff is as large as the canvas. */
static void diff_compute(struct state_result *r, void *arg)
{
	struct diff_ctx *c = arg;
	json_t *body = json_pack("{s:s, s:I, s:I}", "canvas_id", c->canvas_id, "from",
				 (json_int_t)c->from, "to", (json_int_t)c->to);
	json_t *diff = canvas_diff(c->before, r->state);
	json_object_update(body, diff);
	json_decref(diff);
	c->body = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	canvas_state_free(c->before);
	c->before = NULL;
}

static void diff_to_loaded(struct state_result *r, void *arg)
{
	struct diff_ctx *c = arg;
	if (r->status != STATE_OK)
		api_respond_state_failure(c->req, r);
	else if (!c->body)
		http_respond_error(c->req, 500, "internal", "internal error");
	else
		http_respond_json_text(c->req, 200, c->body, strlen(c->body));
	diff_ctx_free(c);
}

static void diff_from_loaded(struct state_result *r, void *arg)
{
	struct diff_ctx *c = arg;
	if (r->status != STATE_OK) {
		api_respond_state_failure(c->req, r);
		diff_ctx_free(c);
		return;
	}
	c->before = state_result_take_state(r);
	if (!state_load_with(c->canvas_id, c->req->user_id, c->to, diff_compute, diff_to_loaded,
			     c)) {
		http_respond_error(c->req, 503, "overloaded", "too many queued database requests");
		diff_ctx_free(c);
	}
}

void api_diff_get(struct http_request *req)
{
	char canvas_id[64];
	if (!api_canvas_param(req, canvas_id))
		return;
	long long from = 0, to = 0;
	if (!required_query_int(req, "from", 0, VERSION_MAX, &from) ||
	    !required_query_int(req, "to", 0, VERSION_MAX, &to))
		return;
	struct diff_ctx *c = xcalloc(1, sizeof(*c));
	c->req = req;
	snprintf(c->canvas_id, sizeof(c->canvas_id), "%s", canvas_id);
	c->from = from;
	c->to = to;
	if (!state_load(canvas_id, req->user_id, from, diff_from_loaded, c)) {
		http_respond_error(req, 503, "overloaded", "too many queued database requests");
		diff_ctx_free(c);
	}
}

/* ---- POST /canvases/{id}/restore ---------------------------------------------------------- */

struct restore_ctx {
	struct http_request *req;
	char canvas_id[64];
	long long version;              /* restore to this */
	struct canvas_state *target;    /* state at version: immutable, loaded once */
	long long head;                 /* the head the pending ops were computed from */
	int retries;
	json_t *diff_ops;               /* head → target, computed on the worker */
};

static void restore_ctx_free(struct restore_ctx *c)
{
	canvas_state_free(c->target);
	json_decref(c->diff_ops);
	free(c);
}

static void restore_load_head(struct restore_ctx *c);

static void restore_respond(struct restore_ctx *c, long long version, json_t *ops)
{
	/* operations_applied: the reference API's count of the operations appended. */
	json_t *body = json_pack("{s:s, s:I, s:I, s:I, s:o}", "canvas_id", c->canvas_id,
				 "restored_to", (json_int_t)c->version, "version",
				 (json_int_t)version, "operations_applied",
				 (json_int_t)json_array_size(ops), "operations", ops);
	http_respond_json(c->req, 200, body);
}

static void restore_committed(const struct commit_outcome *out, void *arg)
{
	struct restore_ctx *c = arg;
	const struct commit_op_result *first = &out->results[0];
	if (out->failed) {
		/* Possibly committed (a lost connection): a second restore to the same version
		 * is harmless, it computes its ops from whatever the head is then. */
		if (out->retryable)
			http_respond_error(c->req, 503, "unavailable",
					   "the restore may not have been applied, retry");
		else
			http_respond_error(c->req, 500, "internal", "internal error");
		restore_ctx_free(c);
		return;
	}
	if (first->status == COMMIT_CONFLICT) {
		/* Someone committed between our read of the head and our commit: nothing of ours
		 * was written, so recompute from the new head. */
		if (c->retries++ < RESTORE_MAX_RETRIES) {
			log_info("restore_retry", "canvas=%s head=%lld now=%lld retry=%d",
				 c->canvas_id, c->head, out->head, c->retries);
			restore_load_head(c);
			return;
		}
		http_respond_error(c->req, 409, "conflict",
				   "the canvas kept changing during the restore, retry");
		restore_ctx_free(c);
		return;
	}
	json_t *ops = json_array();
	long long version = c->head;
	for (size_t i = 0; i < out->count; i++) {
		const struct commit_op_result *res = &out->results[i];
		if (res->status != COMMIT_OK || !res->op) {
			json_decref(ops);
			api_respond_commit_failure(c->req, out, res, NULL);
			restore_ctx_free(c);
			return;
		}
		json_array_append(ops, res->op);
		version = res->version;
	}
	restore_respond(c, version, ops);
	restore_ctx_free(c);
}

/* Commits the ops that turn the head state into the target (c->diff_ops), conditionally on
 * that head. */
static void restore_commit(struct restore_ctx *c)
{
	json_t *diff_ops = c->diff_ops;
	c->diff_ops = NULL;
	size_t n = json_array_size(diff_ops);
	if (n == 0) {
		json_decref(diff_ops);
		restore_respond(c, c->head, json_array());
		restore_ctx_free(c);
		return;
	}
	enum op_type *types = xcalloc(n, sizeof(*types));
	char (*ids)[40] = xcalloc(n, sizeof(*ids));
	for (size_t i = 0; i < n; i++) {
		const json_t *op = json_array_get(diff_ops, i);
		/* canvas_diff_ops yields valid ops; a failure here is a bug, not a client error. */
		if (!op_type_parse(json_string_value(json_object_get(op, "type")), &types[i]) ||
		    !token_uuid_v4(ids[i])) {
			log_error("restore_op_invalid", "canvas=%s index=%zu", c->canvas_id, i);
			http_respond_error(c->req, 500, "internal", "internal error");
			restore_ctx_free(c);
			goto out;
		}
	}
	struct commit_job *job =
		commit_job_new(c->canvas_id, c->req->user_id, restore_committed, c);
	commit_job_want_ops(job);
	for (size_t i = 0; i < n; i++) {
		json_t *payload = json_object_get(json_array_get(diff_ops, i), "payload");
		commit_job_add_op(job, ids[i], types[i], json_incref(payload), "restore", 0);
	}
	commit_job_expect_version(job, c->head);
	commit_submit(job);
out:
	free(types);
	free(ids);
	json_decref(diff_ops);
}

static void restore_head_loaded(struct state_result *r, void *arg);

static void restore_target_loaded(struct state_result *r, void *arg)
{
	struct restore_ctx *c = arg;
	bool has_role = r->status == STATE_OK || r->status == STATE_BAD_VERSION;
	if (has_role && !role_at_least(api_role(r->role), ROLE_EDITOR)) {
		http_respond_error(c->req, 403, "forbidden", "your role does not allow editing");
	} else if (r->status != STATE_OK) {
		api_respond_state_failure(c->req, r);
	} else {
		c->target = state_result_take_state(r);
		restore_load_head(c);
		return;
	}
	restore_ctx_free(c);
}

static void restore_head_loaded(struct state_result *r, void *arg)
{
	struct restore_ctx *c = arg;
	if (r->status != STATE_OK) {
		api_respond_state_failure(c->req, r);
	} else if (!role_at_least(api_role(r->role), ROLE_EDITOR)) {
		http_respond_error(c->req, 403, "forbidden", "your role does not allow editing");
	} else if (c->version > r->head) {
		http_respond_errorf(c->req, 422, "invalid_version",
				    "version is beyond the canvas's current version (%lld)",
				    r->head);
	} else {
		c->head = r->at;
		restore_commit(c);
		return;
	}
	restore_ctx_free(c);
}

/* Worker: the ops from the head state to the target (as large as the canvas). */
static void restore_compute_ops(struct state_result *r, void *arg)
{
	struct restore_ctx *c = arg;
	json_decref(c->diff_ops);
	c->diff_ops = canvas_diff_ops(r->state, c->target);
}

static void restore_load_head(struct restore_ctx *c)
{
	if (!state_load_with(c->canvas_id, c->req->user_id, -1, restore_compute_ops,
			     restore_head_loaded, c)) {
		http_respond_error(c->req, 503, "overloaded", "too many queued database requests");
		restore_ctx_free(c);
	}
}

void api_restore(struct http_request *req)
{
	char canvas_id[64];
	if (!api_canvas_param(req, canvas_id))
		return;
	/* {version} or the reference API's {target_version}: one of them, or both alike. */
	long long version = -1, target_version = -1;
	const struct api_field fields[] = {
		{ "version", API_INTEGER, false, 0, NULL, &version, NULL },
		{ "target_version", API_INTEGER, false, 0, NULL, &target_version, NULL },
	};
	json_t *body = api_parse_body(req, fields, 2);
	if (!body)
		return;
	bool has_version = json_object_get(body, "version") &&
			   !json_is_null(json_object_get(body, "version"));
	bool has_target = json_object_get(body, "target_version") &&
			  !json_is_null(json_object_get(body, "target_version"));
	json_decref(body);
	const char *field = has_version ? "version" : "target_version";
	if (!has_version && !has_target) {
		http_respond_error(req, 422, "missing_field", "version: required (or target_version)");
		return;
	}
	if (has_version && has_target && version != target_version) {
		http_respond_error(req, 422, "invalid_field",
				   "version, target_version: two names for one field, give one of "
				   "them");
		return;
	}
	if (!has_version)
		version = target_version;
	if (version < 0 || version > VERSION_MAX) {
		http_respond_errorf(req, 422, "invalid_field",
				    "%s: must be an integer from 0 to the canvas's version", field);
		return;
	}
	struct restore_ctx *c = xcalloc(1, sizeof(*c));
	c->req = req;
	snprintf(c->canvas_id, sizeof(c->canvas_id), "%s", canvas_id);
	c->version = version;
	/* The target first: it never changes, so conflict retries only reload the head. Its
	 * load also answers 404 and 422 (beyond the head) before anything else happens. */
	if (!state_load(canvas_id, req->user_id, version, restore_target_loaded,
			c)) {
		http_respond_error(req, 503, "overloaded", "too many queued database requests");
		restore_ctx_free(c);
	}
}

/* ---- activity: GET /me/activity, GET /users/{id}/activity --------------------------------- */

/*
 * $1 the user whose activity this is, $2 the caller, $3..$4 the dates counted (inclusive),
 * $5 the year asked for (NULL for a date range). Counted: ops by $1 on canvases of workspaces
 * that $2 is a member of (for /me the two are the same), by UTC day. No row when $1 is neither
 * the caller nor someone sharing a workspace with them.
 * Streaks are over every day with an op, not only the range asked for: a streak running over
 * New Year's Day is one streak. Gaps-and-islands: consecutive dates minus their rank are equal.
 * The answer carries our names (year, total, days) and the reference API's (from_date,
 * to_date, total_contributions, active_days, daily) for the same numbers.
 */
static const char activity_sql[] =
	"WITH target AS (SELECT u.id FROM users u WHERE u.id = $1 AND (u.id = $2 OR EXISTS ("
	"    SELECT 1 FROM workspace_members a JOIN workspace_members b "
	"      ON b.workspace_id = a.workspace_id AND b.user_id = u.id WHERE a.user_id = $2))), "
	"days AS (SELECT (o.created_at AT TIME ZONE 'UTC')::date AS d, count(*) AS n "
	"    FROM operations o JOIN canvases c ON c.id = o.canvas_id "
	"    JOIN workspace_members m ON m.workspace_id = c.workspace_id AND m.user_id = $2 "
	"    WHERE o.user_id = (SELECT id FROM target) GROUP BY 1), "
	"islands AS (SELECT max(d) AS last, count(*) AS len FROM "
	"    (SELECT d, d - (row_number() OVER (ORDER BY d))::int AS grp FROM days) x "
	"    GROUP BY grp), "
	"span AS (SELECT coalesce(sum(n), 0) AS total, count(*) AS active, "
	"    coalesce(json_agg(json_build_object('date', to_char(d, 'YYYY-MM-DD'), 'count', n) "
	"                      ORDER BY d), '[]') AS list "
	"    FROM days WHERE d >= $3::date AND d <= $4::date) "
	"SELECT json_build_object('user_id', t.id, 'year', $5::int, "
	"  'from_date', $3::text, 'to_date', $4::text, "
	"  'total', s.total, 'total_contributions', s.total, 'active_days', s.active, "
	"  'days', s.list, 'daily', s.list, "
	"  'current_streak', coalesce((SELECT max(len) FROM islands "
	"      WHERE last >= (now() AT TIME ZONE 'UTC')::date - 1), 0), "
	"  'longest_streak', (SELECT coalesce(max(len), 0) FROM islands))::text "
	"FROM target t, span s";

static void activity_loaded(const struct db_result *r, void *arg)
{
	struct http_request *req = arg;
	if (!r->ok)
		api_respond_db_error(req, r);
	else if (db_rows(r) == 0)
		http_respond_error(req, 404, "not_found", "user not found");
	else
		api_respond_row_json(req, 200, r);
}

/* A ?key=YYYY-MM-DD parameter: false after answering 422; *present says if it was given. */
static bool query_date(struct http_request *req, const char *key, long *days, bool *present)
{
	char text[16];
	*present = query_has(req->head.query, key);
	if (!*present)
		return true;
	if (!query_get(req->head.query, key, text, sizeof(text)) || !validate_date(text, days)) {
		http_respond_errorf(req, 422, "invalid_query",
				    "%s: must be a date YYYY-MM-DD from 1970-01-01 to 9999-12-31",
				    key);
		return false;
	}
	return true;
}

/*
 * The days counted: ?year= (default the current UTC year) or, as the reference API has it,
 * ?from_date=&to_date= (inclusive; from_date alone runs to today, to_date alone covers the
 * 365 days ending on it). Not both ways at once.
 */
static void activity_of(struct http_request *req, const char *user_id)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	long long year = tm.tm_year + 1900;
	bool has_year = false, has_from, has_to;
	long from = 0, to = 0;
	if (!api_query_int(req, "year", 1970, 9999, &year, &has_year) ||
	    !query_date(req, "from_date", &from, &has_from) ||
	    !query_date(req, "to_date", &to, &has_to))
		return;
	char from_text[11], to_text[11], year_text[16];
	if (has_year && (has_from || has_to)) {
		http_respond_error(req, 422, "invalid_query",
				   "year: give either year or from_date/to_date");
		return;
	}
	if (has_from || has_to) {
		long today = (long)(now / 86400);
		if (!has_to)
			to = from > today ? from : today;
		if (!has_from)
			from = to >= 364 ? to - 364 : 0;
		if (from > to) {
			http_respond_error(req, 422, "invalid_query",
					   "from_date: must not be after to_date");
			return;
		}
		validate_date_format(from, from_text);
		validate_date_format(to, to_text);
	} else {
		snprintf(from_text, sizeof(from_text), "%04lld-01-01", year);
		snprintf(to_text, sizeof(to_text), "%04lld-12-31", year);
	}
	snprintf(year_text, sizeof(year_text), "%lld", year);
	const char *params[] = { user_id, req->user_id, from_text, to_text,
				 has_from || has_to ? NULL : year_text };
	api_query(req, activity_sql, 5, params, activity_loaded, req);
}

void api_activity_me(struct http_request *req)
{
	activity_of(req, req->user_id);
}

void api_activity_user(struct http_request *req)
{
	char user_id[64];
	if (!http_param(req, 0, user_id, sizeof(user_id)) || !validate_uuid(user_id)) {
		http_respond_error(req, 404, "not_found", "user not found");
		return;
	}
	activity_of(req, user_id);
}

/* ---- GET /canvases/{id}/export.svg?at= ---------------------------------------------------- */

/*
 * The canvas-sized work (replay, rendering) runs on a worker (store/state.h); only the answer
 * is on the loop. An exporter of another format (PNG) follows the same shape: render in the
 * work hook, respond in the callback.
 */
struct export_ctx {
	struct http_request *req;
	char *body;
	size_t len;
};

static void export_render_svg(struct state_result *r, void *arg)
{
	struct export_ctx *c = arg;
	c->body = svg_render_canvas(r->state, &c->len);
}

static void export_state_loaded(struct state_result *r, void *arg)
{
	struct export_ctx *c = arg;
	if (r->status != STATE_OK) {
		api_respond_state_failure(c->req, r);
		free(c->body);
	} else {
		http_respond_take(c->req, 200, "image/svg+xml", c->body, c->len); /* no copy */
	}
	free(c);
}

void api_export_svg(struct http_request *req)
{
	char canvas_id[64];
	if (!api_canvas_param(req, canvas_id))
		return;
	long long at = -1;
	if (!api_query_int(req, "at", 0, VERSION_MAX, &at, NULL))
		return;
	struct export_ctx *c = xcalloc(1, sizeof(*c));
	c->req = req;
	if (!state_load_with(canvas_id, req->user_id, at, export_render_svg, export_state_loaded,
			     c)) {
		http_respond_error(req, 503, "overloaded", "too many queued database requests");
		free(c);
	}
}
