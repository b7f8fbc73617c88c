/*
 * Workspaces, members and canvases. Authorization is part of each statement: the caller's
 * membership row is read in the same query that does the work, so a role change or removal can
 * never race between a check and the action. Non-members (and malformed ids) get 404, members
 * without the needed role 403, so the API never confirms that a resource exists to outsiders.
 *
 * Deletion is a flag (schema/020): a deleted workspace or canvas answers 404 like one that never
 * existed, except to its owners' list-deleted and undelete requests, for 30 days. Membership
 * changes and deletions reach open WebSockets through the access feed (app/access.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "api/api.h"
#include "app/access.h"
#include "base/validate.h"

#define WORKSPACE_JSON                                                                     \
	"json_build_object('id', w.id, 'name', w.name, 'created_by', w.created_by, "       \
	"'created_at', fs_ts(w.created_at), 'role', m.role)"
/* The caller ($2)'s role in the live workspace $1 (no row: not a member, or deleted). */
#define MY_LIVE_ROLE                                                                       \
	"SELECT m.role FROM workspace_members m JOIN workspaces w "                         \
	"ON w.id = m.workspace_id AND w.deleted_at IS NULL "                                \
	"WHERE m.workspace_id = $1 AND m.user_id = $2"
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

/* Columns: the caller's role, whether the target is live ("t"/"f"), the undeleted JSON. No row
 * or no role: not a member, or no such resource within the undelete window. */
static void respond_undeleted(struct http_request *req, const struct db_result *r,
			      const char *what)
{
	if (!r->ok) {
		api_respond_db_error(req, r);
	} else if (db_rows(r) == 0 || db_is_null(r, 0, 0)) {
		http_respond_errorf(req, 404, "not_found", "%s not found", what);
	} else if (!role_at_least(api_role(db_value(r, 0, 0)), ROLE_OWNER)) {
		http_respond_errorf(req, 403, "forbidden", "your role (%s) does not allow this",
				    db_value(r, 0, 0));
	} else if (!strcmp(db_value(r, 0, 1), "t")) {
		http_respond_errorf(req, 409, "not_deleted", "the %s is not deleted", what);
	} else if (db_is_null(r, 0, 2)) {
		http_respond_errorf(req, 404, "not_found", "%s not found", what); /* raced */
	} else {
		http_respond_json_text(req, 200, db_value(r, 0, 2), (size_t)db_length(r, 0, 2));
	}
}

/* Tells open sockets on every node about a change that just committed (app/access.h). */
static void publish_access(const char *kind, const char *workspace_id, const char *canvas_id,
			   const char *user_id)
{
	struct access_change change;
	if (access_change_make(&change, kind, workspace_id, canvas_id, user_id))
		access_publish(&change, 1);
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

/* GET /workspaces: the live ones the caller is a member of; ?deleted=true: the deleted ones
 * the caller owns that can still be undeleted, most recently deleted first. */
void api_workspaces_list(struct http_request *req)
{
	bool deleted = false, present;
	if (!api_query_bool(req, "deleted", &deleted, &present))
		return;
	const char *params[] = { req->user_id };
	if (deleted)
		api_query(req,
			  "SELECT coalesce(json_agg(fs_deleted_workspace_json(w) "
			  "  ORDER BY w.deleted_at DESC, w.id), '[]')::text "
			  "FROM workspaces w JOIN workspace_members m "
			  "  ON m.workspace_id = w.id AND m.user_id = $1 AND m.role = 'owner' "
			  "WHERE w.deleted_at > now() - fs_undelete_window()",
			  1, params, workspaces_listed, req);
	else
		api_query(req,
			  "SELECT coalesce(json_agg(" WORKSPACE_JSON " ORDER BY w.created_at, w.id), "
			  "'[]')::text FROM workspaces w JOIN workspace_members m "
			  "ON m.workspace_id = w.id AND m.user_id = $1 WHERE w.deleted_at IS NULL",
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
		       "ON m.workspace_id = w.id AND m.user_id = $2 "
		       "WHERE w.id = $1 AND w.deleted_at IS NULL",
		       2, params, workspace_loaded, req);
}

/* PATCH /workspaces/{id} {name} (owner): renames; the workspace with the caller's role. */
static void workspace_renamed(const struct db_result *r, void *arg)
{
	respond_role_checked(arg, r, ROLE_OWNER, 200, "workspace");
}

void api_workspaces_update(struct http_request *req)
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
		  "WITH me AS (" MY_LIVE_ROLE "), "
		  "u AS (UPDATE workspaces w SET name = $3 FROM me "
		  "      WHERE w.id = $1 AND w.deleted_at IS NULL AND me.role = 'owner' "
		  "      RETURNING w.*) "
		  "SELECT (SELECT role FROM me), (SELECT json_build_object('id', w.id, 'name', w.name, "
		  "  'created_by', w.created_by, 'created_at', fs_ts(w.created_at), "
		  "  'role', 'owner')::text FROM u w)",
		  3, params, workspace_renamed, req);
	json_decref(body);
}

/* Columns of the fs_workspace_delete / fs_member_change functions: status, JSON. */
static void respond_function_status(struct http_request *req, const struct db_result *r,
				    const char *what)
{
	if (!r->ok) {
		api_respond_db_error(req, r);
		return;
	}
	const char *status = db_rows(r) == 1 ? db_value(r, 0, 0) : "not_found";
	if (!strcmp(status, "ok"))
		http_respond_json_text(req, 200, db_value(r, 0, 1), (size_t)db_length(r, 0, 1));
	else if (!strcmp(status, "forbidden"))
		http_respond_errorf(req, 403, "forbidden", "your role (%s) does not allow this",
				    db_value(r, 0, 1));
	else if (!strcmp(status, "member_not_found"))
		http_respond_error(req, 404, "member_not_found", "no such member in this workspace");
	else if (!strcmp(status, "last_owner"))
		http_respond_error(req, 409, "last_owner",
				   "a workspace keeps at least one owner: promote another member "
				   "first");
	else
		http_respond_errorf(req, 404, "not_found", "%s not found", what);
}

/* DELETE /workspaces/{id} (owner): flags it and its live canvases deleted (schema/020,
 * fs_workspace_delete); answers the workspace as GET /workspaces?deleted=true lists it. */
static void workspace_deleted(const struct db_result *r, void *arg)
{
	struct http_request *req = arg;
	char id[64];
	if (r->ok && db_rows(r) == 1 && !strcmp(db_value(r, 0, 0), "ok") &&
	    http_param(req, 0, id, sizeof(id)))
		publish_access("workspace_deleted", id, NULL, NULL);
	respond_function_status(req, r, "workspace");
}

void api_workspaces_delete(struct http_request *req)
{
	char id[64];
	if (!path_uuid(req, id, "workspace"))
		return;
	const char *params[] = { id, req->user_id };
	api_query(req, "SELECT status, workspace FROM fs_workspace_delete($1, $2)", 2, params,
		  workspace_deleted, req);
}

/* POST /workspaces/{id}/undelete (owner): within 30 days of the deletion; brings back the
 * canvases deleted with it (not those deleted on their own before). */
static void workspace_undeleted(const struct db_result *r, void *arg)
{
	respond_undeleted(arg, r, "workspace");
}

void api_workspaces_undelete(struct http_request *req)
{
	char id[64];
	if (!path_uuid(req, id, "workspace"))
		return;
	const char *params[] = { id, req->user_id };
	api_query(req,
		  "WITH me AS (SELECT m.role, w.deleted_at IS NULL AS live FROM workspaces w "
		  "            JOIN workspace_members m ON m.workspace_id = w.id AND m.user_id = $2 "
		  "            WHERE w.id = $1 AND (w.deleted_at IS NULL "
		  "                  OR w.deleted_at > now() - fs_undelete_window())), "
		  "u AS (UPDATE workspaces w SET deleted_at = NULL, deleted_by = NULL FROM me "
		  "      WHERE w.id = $1 AND w.deleted_at IS NOT NULL AND me.role = 'owner' "
		  "      RETURNING w.*), "
		  "c AS (UPDATE canvases c SET deleted_at = NULL, deleted_by = NULL, "
		  "             deleted_with_workspace = false FROM u "
		  "      WHERE c.workspace_id = u.id AND c.deleted_with_workspace RETURNING 1) "
		  "SELECT (SELECT role FROM me), (SELECT live FROM me), "
		  "  (SELECT json_build_object('id', w.id, 'name', w.name, 'created_by', w.created_by, "
		  "     'created_at', fs_ts(w.created_at), 'role', 'owner', "
		  "     'canvases_restored', (SELECT count(*) FROM c))::text FROM u w)",
		  2, params, workspace_undeleted, req);
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
		       "SELECT (" MY_LIVE_ROLE "), "
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
				   "role: must be viewer, commenter, editor or owner");
	} else {
		/* The insert happens only when the caller is an owner; the outer SELECT reports
		 * which condition failed otherwise. ON CONFLICT: already a member. */
		const char *params[] = { id, req->user_id, normalized, role };
		api_query(req,
			      "WITH me AS (" MY_LIVE_ROLE "), "
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

/* PATCH /workspaces/{id}/members/{user_id} {role} (owner) and DELETE (owner, or the member
 * leaving): one plpgsql function keeps the last owner (schema/020, fs_member_change). Open
 * sockets learn through the access feed (app/access.h). */
static void member_changed(const struct db_result *r, void *arg)
{
	struct http_request *req = arg;
	char id[64], target[64];
	if (r->ok && db_rows(r) == 1 && !strcmp(db_value(r, 0, 0), "ok") &&
	    http_param(req, 0, id, sizeof(id)) && http_param(req, 1, target, sizeof(target)))
		publish_access(req->head.method == HTTP_DELETE ? "removed" : "role", id, NULL,
			       target);
	respond_function_status(req, r, "workspace");
}

/* Path parameters: the workspace and the member's user id; 404 for a malformed one. */
static bool member_path(struct http_request *req, char id[64], char target[64])
{
	if (!path_uuid(req, id, "workspace"))
		return false;
	if (http_param(req, 1, target, 64) && validate_uuid(target))
		return true;
	http_respond_error(req, 404, "member_not_found", "no such member in this workspace");
	return false;
}

static void member_change(struct http_request *req, const char *id, const char *target,
			  const char *role)
{
	const char *params[] = { id, req->user_id, target, role };
	api_query(req, "SELECT status, member FROM fs_member_change($1, $2, $3, $4)", 4, params,
		  member_changed, req);
}

void api_members_update(struct http_request *req)
{
	char id[64], target[64];
	if (!member_path(req, id, target))
		return;
	const char *role = NULL;
	const struct api_field fields[] = { { "role", API_STRING, true, 16, &role, NULL, NULL } };
	json_t *body = api_parse_body(req, fields, 1);
	if (!body)
		return;
	if (api_role(role) == ROLE_NONE)
		http_respond_error(req, 422, "invalid_field",
				   "role: must be viewer, commenter, editor or owner");
	else
		member_change(req, id, target, role);
	json_decref(body);
}

void api_members_remove(struct http_request *req)
{
	char id[64], target[64];
	if (member_path(req, id, target))
		member_change(req, id, target, NULL);
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
		      /* FOR SHARE: a workspace deletion (fs_workspace_delete) waits for this
		       * insert, or this one sees the deletion and inserts nothing. */
		      "WITH me AS (SELECT m.role FROM workspaces w JOIN workspace_members m "
		      "              ON m.workspace_id = w.id AND m.user_id = $2 "
		      "            WHERE w.id = $1 AND w.deleted_at IS NULL FOR SHARE OF w), "
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

static void deleted_canvases_listed(const struct db_result *r, void *arg)
{
	respond_role_checked(arg, r, ROLE_OWNER, 200, "workspace");
}

/* GET /workspaces/{id}/canvases: the live canvases, oldest first; ?deleted=true (owners): the
 * canvases deleted on their own that can still be undeleted, most recently deleted first. */
void api_canvases_list(struct http_request *req)
{
	char id[64];
	if (!path_uuid(req, id, "workspace"))
		return;
	bool deleted = false, present;
	if (!api_query_bool(req, "deleted", &deleted, &present))
		return;
	const char *params[] = { id, req->user_id };
	if (deleted)
		api_query(req,
			  "SELECT (" MY_LIVE_ROLE "), "
			  "coalesce((SELECT json_agg(fs_deleted_canvas_json(c) "
			  "  ORDER BY c.deleted_at DESC, c.id) FROM canvases c "
			  "  WHERE c.workspace_id = $1 AND NOT c.deleted_with_workspace "
			  "    AND c.deleted_at > now() - fs_undelete_window()), '[]')::text",
			  2, params, deleted_canvases_listed, req);
	else
		api_query(req,
			  "SELECT (" MY_LIVE_ROLE "), "
			  "coalesce((SELECT json_agg(" CANVAS_JSON " ORDER BY c.created_at, c.id) "
			  "  FROM canvases c WHERE c.workspace_id = $1 AND c.deleted_at IS NULL), "
			  "  '[]')::text",
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
		       "ON m.workspace_id = c.workspace_id AND m.user_id = $2 "
		       "WHERE c.id = $1 AND c.deleted_at IS NULL",
		       2, params, canvas_loaded, req);
}

/* PATCH /canvases/{id} {name} (editor or owner): renames; the canvas with the caller's role. */
static void canvas_renamed(const struct db_result *r, void *arg)
{
	respond_role_checked(arg, r, ROLE_EDITOR, 200, "canvas");
}

void api_canvases_update(struct http_request *req)
{
	char id[64];
	if (!path_uuid(req, id, "canvas"))
		return;
	const char *name = NULL;
	json_t *body = parse_name_body(req, &name);
	if (!body)
		return;
	const char *params[] = { id, req->user_id, name };
	api_query(req,
		  "WITH me AS (SELECT m.role FROM canvases c JOIN workspace_members m "
		  "              ON m.workspace_id = c.workspace_id AND m.user_id = $2 "
		  "            WHERE c.id = $1 AND c.deleted_at IS NULL), "
		  "u AS (UPDATE canvases c SET name = $3 FROM me "
		  "      WHERE c.id = $1 AND c.deleted_at IS NULL AND me.role IN ('editor', 'owner') "
		  "      RETURNING c.*) "
		  "SELECT (SELECT role FROM me), (SELECT (" CANVAS_JSON "::jsonb || "
		  "  jsonb_build_object('role', (SELECT role FROM me)))::text FROM u c)",
		  3, params, canvas_renamed, req);
	json_decref(body);
}

/* DELETE /canvases/{id} (owner): flags it deleted; the canvas as GET ?deleted=true lists it.
 * Its sockets on every node close (app/access.h); commits to it answer not_found. */
static void canvas_deleted(const struct db_result *r, void *arg)
{
	struct http_request *req = arg;
	char id[64];
	if (r->ok && db_rows(r) == 1 && !db_is_null(r, 0, 2) && http_param(req, 0, id, sizeof(id)))
		publish_access("canvas_deleted", db_value(r, 0, 2), id, NULL);
	respond_role_checked(req, r, ROLE_OWNER, 200, "canvas");
}

#define DELETED_CANVAS_JSON(c)                                                              \
	"json_build_object('id', " c ".id, 'workspace_id', " c ".workspace_id, 'name', " c     \
	".name, 'version', " c ".version, 'created_by', " c ".created_by, 'created_at', "      \
	"fs_ts(" c ".created_at), 'deleted_at', fs_ts(" c ".deleted_at), 'deleted_by', " c     \
	".deleted_by, 'undelete_until', fs_ts(" c ".deleted_at + fs_undelete_window()))"

void api_canvases_delete(struct http_request *req)
{
	char id[64];
	if (!path_uuid(req, id, "canvas"))
		return;
	const char *params[] = { id, req->user_id };
	api_query(req,
		  "WITH me AS (SELECT m.role FROM canvases c JOIN workspace_members m "
		  "              ON m.workspace_id = c.workspace_id AND m.user_id = $2 "
		  "            WHERE c.id = $1 AND c.deleted_at IS NULL), "
		  "d AS (UPDATE canvases c SET deleted_at = now(), deleted_by = $2 FROM me "
		  "      WHERE c.id = $1 AND c.deleted_at IS NULL AND me.role = 'owner' "
		  "      RETURNING c.*) "
		  "SELECT (SELECT role FROM me), (SELECT " DELETED_CANVAS_JSON("d") "::text FROM d), "
		  "  (SELECT workspace_id FROM d)",
		  2, params, canvas_deleted, req);
}

/* POST /canvases/{id}/undelete (owner): within 30 days of its deletion, while its workspace
 * is live. 409 not_deleted for a live canvas. */
static void canvas_undeleted(const struct db_result *r, void *arg)
{
	respond_undeleted(arg, r, "canvas");
}

void api_canvases_undelete(struct http_request *req)
{
	char id[64];
	if (!path_uuid(req, id, "canvas"))
		return;
	const char *params[] = { id, req->user_id };
	api_query(req,
		  "WITH me AS (SELECT m.role, c.deleted_at IS NULL AS live FROM canvases c "
		  "            JOIN workspaces w ON w.id = c.workspace_id AND w.deleted_at IS NULL "
		  "            JOIN workspace_members m "
		  "              ON m.workspace_id = c.workspace_id AND m.user_id = $2 "
		  "            WHERE c.id = $1 AND (c.deleted_at IS NULL "
		  "                  OR c.deleted_at > now() - fs_undelete_window())), "
		  "u AS (UPDATE canvases c SET deleted_at = NULL, deleted_by = NULL, "
		  "             deleted_with_workspace = false FROM me "
		  "      WHERE c.id = $1 AND c.deleted_at IS NOT NULL AND me.role = 'owner' "
		  "      RETURNING c.*) "
		  "SELECT (SELECT role FROM me), (SELECT live FROM me), "
		  "  (SELECT (" CANVAS_JSON "::jsonb || jsonb_build_object('role', 'owner'))::text "
		  "   FROM u c)",
		  2, params, canvas_undeleted, req);
}
