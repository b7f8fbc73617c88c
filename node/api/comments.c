/*
 * Comments on a canvas (schema/022): durable, outside the shape log. Each change is one
 * plpgsql function that authorizes, writes, and appends the change to the canvas's comment
 * stream (a gap-free seq, like operations' versions) in one transaction; the events it returns
 * go to delivery (app/delivery.h), which hands them to the local room's ordered delivery and,
 * in one message, to the other nodes. Rooms repair anything pub/sub loses from Postgres, so
 * every client on every node gets each change exactly once, in seq order.
 *
 * Roles: viewers read; commenters and up comment, and edit, resolve and delete their own
 * comments; editors and up also resolve anyone's; owners also delete anyone's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app/delivery.h"
#include "base/validate.h"
#include "model/op.h"

#define COMMENT_BODY_MAX 4000
#define COMMENT_COORD_MAX 1e9
/* Live comments (replies included) per canvas: bounds what a sync carries. */
#define COMMENTS_PER_CANVAS_MAX 1000

/* Path parameter 0 as a comment UUID; answers 404 otherwise. */
static bool comment_param(struct http_request *req, char out[64])
{
	if (http_param(req, 0, out, 64) && validate_uuid(out))
		return true;
	http_respond_error(req, 404, "not_found", "comment not found");
	return false;
}

/* A body: 1..COMMENT_BODY_MAX bytes of UTF-8, not only whitespace, no control characters but
 * tab and line breaks (Markdown is stored as written, never rendered by the server). */
static bool body_valid(const char *body, const char **why)
{
	size_t len = strlen(body);
	if (len == 0 || len > COMMENT_BODY_MAX) {
		*why = "body: 1 to 4000 bytes";
		return false;
	}
	if (!validate_utf8(body, len)) {
		*why = "body: must be valid UTF-8";
		return false;
	}
	bool blank = true;
	for (const unsigned char *p = (const unsigned char *)body; *p; p++) {
		if ((*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') || *p == 0x7f) {
			*why = "body: no control characters (tab and line breaks are fine)";
			return false;
		}
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			blank = false;
	}
	if (blank) {
		*why = "body: must not be only whitespace";
		return false;
	}
	return true;
}

/* Optional finite coordinate; false (after answering 422) when present and not one. */
static bool coord_field(struct http_request *req, const json_t *v, const char *name, char out[40],
			bool *present)
{
	*present = v && !json_is_null(v);
	if (!*present)
		return true;
	double d = json_is_number(v) ? json_number_value(v) : NAN;
	if (!isfinite(d) || fabs(d) > COMMENT_COORD_MAX) {
		http_respond_errorf(req, 422, "invalid_field",
				    "%s: a finite number, at most 1e9 in magnitude", name);
		return false;
	}
	snprintf(out, 40, "%.17g", d);
	return true;
}

/*
 * Columns of fs_comment_create/update/delete: status, canvas_id, comment (or the caller's role
 * for forbidden), events. Delivers the events, then answers.
 */
static void respond_comment_change(struct http_request *req, const struct db_result *r,
				   int ok_status)
{
	if (!r->ok) {
		api_respond_db_error(req, r);
		return;
	}
	const char *status = db_rows(r) == 1 ? db_value(r, 0, 0) : "not_found";
	if (!strcmp(status, "ok")) {
		json_t *events = json_loads(db_value(r, 0, 3), 0, NULL);
		delivery_on_comment_events(db_value(r, 0, 1), events);
		json_decref(events);
		http_respond_json_text(req, ok_status, db_value(r, 0, 2), (size_t)db_length(r, 0, 2));
	} else if (!strcmp(status, "forbidden")) {
		http_respond_errorf(req, 403, "forbidden", "your role (%s) does not allow this",
				    db_value(r, 0, 2));
	} else if (!strcmp(status, "invalid_parent")) {
		http_respond_error(req, 422, "invalid_field",
				   "parent_id: must be a top-level comment of this canvas");
	} else if (!strcmp(status, "not_a_thread")) {
		http_respond_error(req, 422, "invalid_field",
				   "resolved: only a top-level comment (a thread) is resolved");
	} else if (!strcmp(status, "too_many_comments")) {
		http_respond_errorf(req, 422, "too_many_comments",
				    "a canvas holds at most %d comments", COMMENTS_PER_CANVAS_MAX);
	} else {
		http_respond_error(req, 404, "not_found", "comment not found");
	}
}

/* ---- POST /canvases/{id}/comments ------------------------------------------------------------ */

static void comment_created(const struct db_result *r, void *arg)
{
	struct http_request *req = arg;
	if (r->ok && db_rows(r) == 1 && !strcmp(db_value(r, 0, 0), "not_found"))
		http_respond_error(req, 404, "not_found", "canvas not found");
	else
		respond_comment_change(req, r, 201);
}

void api_comments_create(struct http_request *req)
{
	char canvas_id[64];
	if (!api_canvas_param(req, canvas_id))
		return;
	const char *body_text = NULL, *shape_id = NULL, *parent_id = NULL;
	json_t *x = NULL, *y = NULL;
	const struct api_field fields[] = {
		{ "body", API_STRING, true, COMMENT_BODY_MAX, &body_text, NULL, NULL },
		{ "shape_id", API_STRING, false, 64, &shape_id, NULL, NULL },
		{ "x", API_ANY, false, 0, NULL, NULL, &x },
		{ "y", API_ANY, false, 0, NULL, NULL, &y },
		{ "parent_id", API_STRING, false, 64, &parent_id, NULL, NULL },
	};
	json_t *body = api_parse_body(req, fields, 5);
	if (!body)
		return;
	const char *why;
	char x_text[40], y_text[40];
	bool has_x, has_y;
	if (!body_valid(body_text, &why)) {
		http_respond_error(req, 422, "invalid_field", why);
	} else if (shape_id && !op_shape_id_valid(shape_id, strlen(shape_id))) {
		http_respond_error(req, 422, "invalid_field", "shape_id: a shape id");
	} else if (parent_id && !validate_uuid(parent_id)) {
		http_respond_error(req, 422, "invalid_field",
				   "parent_id: must be a top-level comment of this canvas");
	} else if (!coord_field(req, x, "x", x_text, &has_x) ||
		   !coord_field(req, y, "y", y_text, &has_y)) {
		/* answered */
	} else if (has_x != has_y) {
		http_respond_error(req, 422, "invalid_field", "x, y: both or neither");
	} else if (parent_id && (shape_id || has_x)) {
		http_respond_error(req, 422, "invalid_field",
				   "parent_id: a reply is anchored where its thread is (no shape_id, "
				   "x or y)");
	} else {
		char max[16];
		snprintf(max, sizeof(max), "%d", COMMENTS_PER_CANVAS_MAX);
		const char *params[] = { canvas_id, req->user_id, body_text, shape_id,
					 has_x ? x_text : NULL, has_y ? y_text : NULL, parent_id,
					 max };
		api_query(req,
			  "SELECT status, canvas_id, comment, events FROM fs_comment_create("
			  "$1, $2, $3, $4, $5::float8, $6::float8, $7::uuid, $8::int)",
			  8, params, comment_created, req);
	}
	json_decref(body);
}

/* ---- GET /canvases/{id}/comments?resolved= ---------------------------------------------------- */

/* {canvas_id, seq, threads}: seq is the comment stream's head at this read (the cursor a client
 * continues from with ?comment_since=); threads are the top-level comments, oldest first, with
 * their replies; ?resolved=true|false keeps the threads so resolved. Any member. */
void api_comments_list(struct http_request *req)
{
	char canvas_id[64];
	if (!api_canvas_param(req, canvas_id))
		return;
	bool resolved = false, has_resolved;
	if (!api_query_bool(req, "resolved", &resolved, &has_resolved))
		return;
	const char *params[] = { canvas_id, req->user_id,
				 has_resolved ? (resolved ? "true" : "false") : NULL };
	api_query(req,
		  "SELECT json_build_object('canvas_id', c.id, 'seq', "
		  "  coalesce((SELECT h.seq FROM comment_heads h WHERE h.canvas_id = c.id), 0), "
		  "  'threads', fs_comment_threads(c.id, $3::boolean))::text "
		  "FROM canvases c JOIN workspace_members m "
		  "  ON m.workspace_id = c.workspace_id AND m.user_id = $2 "
		  "WHERE c.id = $1 AND c.deleted_at IS NULL",
		  3, params, api_canvas_rows_ready, req);
}

/* ---- GET, PATCH, DELETE /comments/{id} --------------------------------------------------------- */

static void comment_loaded(const struct db_result *r, void *arg)
{
	struct http_request *req = arg;
	if (!r->ok)
		api_respond_db_error(req, r);
	else if (db_rows(r) == 0)
		http_respond_error(req, 404, "not_found", "comment not found");
	else
		api_respond_row_json(req, 200, r);
}

/* The comment (with its replies when it is a thread). Any member. */
void api_comments_get(struct http_request *req)
{
	char id[64];
	if (!comment_param(req, id))
		return;
	const char *params[] = { id, req->user_id };
	api_query(req,
		  "SELECT (fs_comment_json(k) || CASE WHEN k.parent_id IS NOT NULL THEN '{}'::jsonb "
		  "  ELSE jsonb_build_object('replies', coalesce((SELECT jsonb_agg(fs_comment_json(r) "
		  "    ORDER BY r.created_at, r.id) FROM comments r WHERE r.parent_id = k.id), "
		  "    '[]'::jsonb)) END)::text "
		  "FROM comments k WHERE k.id = $1 AND fs_canvas_role(k.canvas_id, $2) <> ''",
		  2, params, comment_loaded, req);
}

static void comment_changed(const struct db_result *r, void *arg)
{
	respond_comment_change(arg, r, 200);
}

/* {body} (the author) and/or {resolved} (the author, or an editor or owner; threads only). */
void api_comments_update(struct http_request *req)
{
	char id[64];
	if (!comment_param(req, id))
		return;
	const char *body_text = NULL;
	json_t *resolved = NULL;
	const struct api_field fields[] = {
		{ "body", API_STRING, false, COMMENT_BODY_MAX, &body_text, NULL, NULL },
		{ "resolved", API_ANY, false, 0, NULL, NULL, &resolved },
	};
	json_t *body = api_parse_body(req, fields, 2);
	if (!body)
		return;
	const char *why;
	if (resolved && json_is_null(resolved))
		resolved = NULL;
	if (!body_text && !resolved) {
		http_respond_error(req, 422, "missing_field", "body or resolved: at least one");
	} else if (body_text && !body_valid(body_text, &why)) {
		http_respond_error(req, 422, "invalid_field", why);
	} else if (resolved && !json_is_boolean(resolved)) {
		http_respond_error(req, 422, "invalid_field", "resolved: must be true or false");
	} else {
		const char *params[] = { id, req->user_id, body_text,
					 resolved ? (json_is_true(resolved) ? "true" : "false")
						  : NULL };
		api_query(req,
			  "SELECT status, canvas_id, comment, events FROM fs_comment_update("
			  "$1, $2, $3, $4::boolean)",
			  4, params, comment_changed, req);
	}
	json_decref(body);
}

/* Deletes it with its replies (the author, or an owner): {id, canvas_id, deleted,
 * replies_deleted}. */
void api_comments_delete(struct http_request *req)
{
	char id[64];
	if (!comment_param(req, id))
		return;
	const char *params[] = { id, req->user_id };
	api_query(req, "SELECT status, canvas_id, comment, events FROM fs_comment_delete($1, $2)", 2,
		  params, comment_changed, req);
}
