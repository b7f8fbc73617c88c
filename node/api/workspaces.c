/*
 * Workspaces, members and canvases. Authorization is part of each statement: the caller's
 * membership row is read in the same query that does the work, so a role change or removal can
 * never race between a check and the action. Non-members (and malformed ids) get 404, members
 * without the needed role 403, so the API never confirms that a resource exists to outsiders.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "api/api.h"
#include "base/validate.h"

#define WORKSPACE_JSON                                                                     \
	"json_build_object('id', w.id, 'name', w.name, 'created_by', w.created_by, "       \
	"'created_at', fs_ts(w.created_at), 'role', m.role)"
#define CANVAS_JSON                                                                        \
	"json_build_object('id', c.id, 'workspace_id', c.workspace_id, 'name', c.name, "   \
	"'version', c.version, 'created_by', c.created_by, 'created_at', fs_ts(c.created_at))"

/* Reads path parameter 0 as a UUID; answers 404 for anything else. */
static bool path_uuid(struct http_request *req, char out[64], const char *what)
{
	if (http_param(req, 0, out, 64) && validate_uuid(out))
		return true;
	http_respond_errorf(req, 404, "not_found", "%s not found", what);
	return false;
}

/* Parses {"name": ...} with the shared name rules; NULL after answering 4xx. */
static json_t *parse_name_body(struct http_request *req, const char **name)
{
	const struct api_field fields[] = { { "name", API_STRING, true, 400, name, NULL, NULL } };
	json_t *body = api_parse_body(req, fields, 1);
	const char *why;
	if (body && !validate_name(*name, 100, &why)) {
		http_respond_errorf(req, 422, "invalid_field", "name: %s", why);
		json_decref(body);
		return NULL;
	}
	return body;
}

/* Answers a row (role, json) from a statement that reports the caller's role alongside the
 * result: no role → 404, a role below min_role → 403, else the JSON with status. */
static void respond_role_checked(struct http_request *req, const struct db_result *r,
				 enum role min_role, int status, const char *what)
{
	if (!r->ok) {
		api_respond_db_error(req, r);
		return;
	}
	const char *role = db_rows(r) ? db_value(r, 0, 0) : NULL;
	if (db_rows(r) == 0 || db_is_null(r, 0, 0)) {
		http_respond_errorf(req, 404, "not_found", "%s not found", what);
		return;
	}
	if (!role_at_least(api_role(role), min_role)) {
		http_respond_errorf(req, 403, "forbidden", "your role (%s) does not allow this",
				    role);
		return;
	}
	http_respond_json_text(req, status, db_value(r, 0, 1),
			       (size_t)db_length(r, 0, 1));
}

/* ---- workspaces -------------------------------------------------------------------------- */

static void workspace_created(const struct db_result *r, void *arg)
{
	struct http_request *req = arg;
	if (!r->ok)
		api_respond_db_error(req, r);
	else
		api_respond_row_json(req, 201, r);
}

void api_workspaces_create(struct http_request *req)
{
	const char *name = NULL;
	json_t *body = parse_name_body(req, &name);
	if (!body)
		return;
	const char *params[] = { name, req->user_id };
	api_query(req,
		      "WITH w AS (INSERT INTO workspaces (name, created_by) VALUES ($1, $2) "
		      "           RETURNING *), "
		      "m AS (INSERT INTO workspace_members (workspace_id, user_id, role) "
		      "      SELECT id, $2, 'owner' FROM w RETURNING role) "
		      "SELECT " WORKSPACE_JSON "::text FROM w, m",
		      2, params, workspace_created, req);
	json_decref(body);
}

static void respond_found_or_404(const struct db_result *r, struct http_request *req,
				 const char *what)
{
	if (!r->ok)
		api_respond_db_error(req, r);
	else if (db_rows(r) == 0 || db_is_null(r, 0, 0))
		http_respond_errorf(req, 404, "not_found", "%s not found", what);
	else
		api_respond_row_json(req, 200, r);
}

static void workspaces_listed(const struct db_result *r, void *arg)
{
	struct http_request *req = arg;
	if (!r->ok)
		api_respond_db_error(req, r);
	else
		api_respond_row_json(req, 200, r);
}

void api_workspaces_list(struct http_request *req)
{
	const char *params[] = { req->user_id };
	api_query(req,
		       "SELECT coalesce(json_agg(" WORKSPACE_JSON " ORDER BY w.created_at, w.id), "
		       "'[]')::text FROM workspaces w JOIN workspace_members m "
		       "ON m.workspace_id = w.id AND m.user_id = $1",
		       1, params, workspaces_listed, req);
}

static void workspace_loaded(const struct db_result *r, void *arg)
{
	respond_found_or_404(r, arg, "workspace");
}

void api_workspaces_get(struct http_request *req)
{
	char id[64];
	if (!path_uuid(req, id, "workspace"))
		return;
	const char *params[] = { id, req->user_id };
	api_query(req,
		       "SELECT " WORKSPACE_JSON "::text FROM workspaces w JOIN workspace_members m "
		       "ON m.workspace_id = w.id AND m.user_id = $2 WHERE w.id = $1",
		       2, params, workspace_loaded, req);
}

/* ---- members ----------------------------------------------------------------------------- */

static void members_listed(const struct db_result *r, void *arg)
{
	respond_role_checked(arg, r, ROLE_VIEWER, 200, "workspace");
}

void api_members_list(struct http_request *req)
{
	char id[64];
	if (!path_uuid(req, id, "workspace"))
		return;
	const char *params[] = { id, req->user_id };
	api_query(req,
		       "SELECT (SELECT role FROM workspace_members "
		       "        WHERE workspace_id = $1 AND user_id = $2), "
		       "coalesce((SELECT json_agg(json_build_object('user_id', u.id, 'email', u.email, "
		       "  'display_name', u.display_name, 'role', m.role, "
		       "  'joined_at', fs_ts(m.created_at)) ORDER BY m.created_at, u.id) "
		       "  FROM workspace_members m JOIN users u ON u.id = m.user_id "
		       "  WHERE m.workspace_id = $1), '[]')::text",
		       2, params, members_listed, req);
}

static void member_added(const struct db_result *r, void *arg)
{
	struct http_request *req = arg;
	if (!r->ok) {
		api_respond_db_error(req, r);
		return;
	}
	/* Columns: my_role, target_id, inserted member json (NULL if already a member). */
	if (db_is_null(r, 0, 0)) {
		http_respond_error(req, 404, "not_found", "workspace not found");
	} else if (!role_at_least(api_role(db_value(r, 0, 0)), ROLE_OWNER)) {
		http_respond_error(req, 403, "forbidden", "only owners can add members");
	} else if (db_is_null(r, 0, 1)) {
		http_respond_error(req, 404, "user_not_found", "no user with that email");
	} else if (db_is_null(r, 0, 2)) {
		http_respond_error(req, 409, "already_member", "user is already a member");
	} else {
		http_respond_json_text(req, 201, db_value(r, 0, 2),
				       (size_t)db_length(r, 0, 2));
	}
}

void api_members_add(struct http_request *req)
{
	char id[64];
	if (!path_uuid(req, id, "workspace"))
		return;
	const char *email = NULL, *role = NULL;
	const struct api_field fields[] = {
		{ "email", API_STRING, true, 320, &email, NULL, NULL },
		{ "role", API_STRING, true, 16, &role, NULL, NULL },
	};
	json_t *body = api_parse_body(req, fields, 2);
	if (!body)
		return;
	char normalized[256];
	const char *why;
	if (!validate_email_normalize(email, normalized, sizeof(normalized), &why)) {
		http_respond_errorf(req, 422, "invalid_field", "email: %s", why);
	} else if (api_role(role) == ROLE_NONE) {
		http_respond_error(req, 422, "invalid_field",
				   "role: must be viewer, editor or owner");
	} else {
		/* The insert happens only when the caller is an owner; the outer SELECT reports
		 * which condition failed otherwise. ON CONFLICT: already a member. */
		const char *params[] = { id, req->user_id, normalized, role };
		api_query(req,
			      "WITH me AS (SELECT role FROM workspace_members "
			      "            WHERE workspace_id = $1 AND user_id = $2), "
			      "target AS (SELECT id, email, display_name FROM users WHERE email = $3), "
			      "ins AS (INSERT INTO workspace_members (workspace_id, user_id, role) "
			      "        SELECT $1, t.id, $4 FROM target t, me WHERE me.role = 'owner' "
			      "        ON CONFLICT DO NOTHING RETURNING user_id, role, created_at) "
			      "SELECT (SELECT role FROM me), (SELECT id FROM target), "
			      "(SELECT json_build_object('user_id', t.id, 'email', t.email, "
			      "   'display_name', t.display_name, 'role', i.role, "
			      "   'joined_at', fs_ts(i.created_at))::text FROM ins i, target t)",
			      4, params, member_added, req);
	}
	json_decref(body);
}

/* ---- canvases ---------------------------------------------------------------------------- */

static void canvas_created(const struct db_result *r, void *arg)
{
	respond_role_checked(arg, r, ROLE_EDITOR, 201, "workspace");
}

void api_canvases_create(struct http_request *req)
{
	char id[64];
	if (!path_uuid(req, id, "workspace"))
		return;
	const char *name = NULL;
	json_t *body = parse_name_body(req, &name);
	if (!body)
		return;
	const char *params[] = { id, req->user_id, name };
	api_query(req,
		      "WITH me AS (SELECT role FROM workspace_members "
		      "            WHERE workspace_id = $1 AND user_id = $2), "
		      "c AS (INSERT INTO canvases (workspace_id, name, created_by) "
		      "      SELECT $1, $3, $2 FROM me WHERE me.role IN ('editor', 'owner') "
		      "      RETURNING *) "
		  "SELECT (SELECT role FROM me), (SELECT " CANVAS_JSON "::text FROM c)",
		  3, params, canvas_created, req);
	json_decref(body);
}

static void canvases_listed(const struct db_result *r, void *arg)
{
	respond_role_checked(arg, r, ROLE_VIEWER, 200, "workspace");
}

void api_canvases_list(struct http_request *req)
{
	char id[64];
	if (!path_uuid(req, id, "workspace"))
		return;
	const char *params[] = { id, req->user_id };
	api_query(req,
		       "SELECT (SELECT role FROM workspace_members "
		       "        WHERE workspace_id = $1 AND user_id = $2), "
		       "coalesce((SELECT json_agg(" CANVAS_JSON " ORDER BY c.created_at, c.id) "
		       "  FROM canvases c WHERE c.workspace_id = $1), '[]')::text",
		       2, params, canvases_listed, req);
}

static void canvas_loaded(const struct db_result *r, void *arg)
{
	respond_found_or_404(r, arg, "canvas");
}

void api_canvases_get(struct http_request *req)
{
	char id[64];
	if (!path_uuid(req, id, "canvas"))
		return;
	const char *params[] = { id, req->user_id };
	api_query(req,
		       "SELECT (" CANVAS_JSON "::jsonb || jsonb_build_object('role', m.role))::text "
		       "FROM canvases c JOIN workspace_members m "
		       "ON m.workspace_id = c.workspace_id AND m.user_id = $2 WHERE c.id = $1",
		       2, params, canvas_loaded, req);
}
