#include "api/router.h"

#include <string.h>

#include "api/api.h"
#include "codec/query.h"

/*
 * The API surface. Order matters only for readability: patterns are matched by exact segment
 * count, so no two patterns overlap.
 */
static const struct route routes[] = {
	{ HTTP_GET, "/healthz", api_healthz, false, "GET /healthz" },
	{ HTTP_GET, "/readyz", api_readyz, false, "GET /readyz" },
	{ HTTP_GET, "/metrics", api_metrics, false, "GET /metrics" },
	{ HTTP_GET, "/api/v1/healthz", api_healthz, false, "GET /api/v1/healthz" },
	{ HTTP_GET, "/api/v1/openapi.json", api_openapi, false, "GET /openapi.json" },
	/* The reference API's names (docs/protocol.md, "Compatibility"). */
	{ HTTP_GET, "/api/v1/health", api_health, false, "GET /api/v1/health" },
	{ HTTP_GET, "/api/v1/health/db", api_health_db, false, "GET /api/v1/health/db" },

	{ HTTP_POST, "/api/v1/auth/register", api_auth_register, false, "POST /auth/register" },
	{ HTTP_POST, "/api/v1/auth/login", api_auth_login, false, "POST /auth/login" },
	{ HTTP_POST, "/api/v1/auth/refresh", api_auth_refresh, false, "POST /auth/refresh" },
	{ HTTP_POST, "/api/v1/auth/logout", api_auth_logout, true, "POST /auth/logout" },
	{ HTTP_GET, "/api/v1/auth/me", api_auth_me, true, "GET /auth/me" },

	{ HTTP_POST, "/api/v1/workspaces", api_workspaces_create, true, "POST /workspaces" },
	{ HTTP_GET, "/api/v1/workspaces", api_workspaces_list, true, "GET /workspaces" },
	{ HTTP_GET, "/api/v1/workspaces/{}", api_workspaces_get, true, "GET /workspaces/{id}" },
	{ HTTP_PATCH, "/api/v1/workspaces/{}", api_workspaces_update, true,
	  "PATCH /workspaces/{id}" },
	{ HTTP_DELETE, "/api/v1/workspaces/{}", api_workspaces_delete, true,
	  "DELETE /workspaces/{id}" },
	{ HTTP_POST, "/api/v1/workspaces/{}/undelete", api_workspaces_undelete, true,
	  "POST /workspaces/{id}/undelete" },
	{ HTTP_GET, "/api/v1/workspaces/{}/members", api_members_list, true,
	  "GET /workspaces/{id}/members" },
	{ HTTP_POST, "/api/v1/workspaces/{}/members", api_members_add, true,
	  "POST /workspaces/{id}/members" },
	{ HTTP_PATCH, "/api/v1/workspaces/{}/members/{}", api_members_update, true,
	  "PATCH /workspaces/{id}/members/{user_id}" },
	{ HTTP_DELETE, "/api/v1/workspaces/{}/members/{}", api_members_remove, true,
	  "DELETE /workspaces/{id}/members/{user_id}" },
	{ HTTP_POST, "/api/v1/workspaces/{}/invites", api_invites_create, true,
	  "POST /workspaces/{id}/invites" },
	{ HTTP_GET, "/api/v1/workspaces/{}/invites", api_invites_list, true,
	  "GET /workspaces/{id}/invites" },
	{ HTTP_DELETE, "/api/v1/workspaces/{}/invites/{}", api_invites_revoke, true,
	  "DELETE /workspaces/{id}/invites/{invite_id}" },
	{ HTTP_GET, "/api/v1/invites/{}", api_invites_get, true, "GET /invites/{token}" },
	{ HTTP_POST, "/api/v1/invites/{}/accept", api_invites_accept, true,
	  "POST /invites/{token}/accept" },
	{ HTTP_POST, "/api/v1/workspaces/{}/canvases", api_canvases_create, true,
	  "POST /workspaces/{id}/canvases" },
	{ HTTP_GET, "/api/v1/workspaces/{}/canvases", api_canvases_list, true,
	  "GET /workspaces/{id}/canvases" },
	{ HTTP_GET, "/api/v1/canvases/{}", api_canvases_get, true, "GET /canvases/{id}" },
	{ HTTP_PATCH, "/api/v1/canvases/{}", api_canvases_update, true, "PATCH /canvases/{id}" },
	{ HTTP_DELETE, "/api/v1/canvases/{}", api_canvases_delete, true, "DELETE /canvases/{id}" },
	{ HTTP_POST, "/api/v1/canvases/{}/undelete", api_canvases_undelete, true,
	  "POST /canvases/{id}/undelete" },
	{ HTTP_POST, "/api/v1/canvases/{}/operations", api_operations_create, true,
	  "POST /canvases/{id}/operations" },
	{ HTTP_GET, "/api/v1/canvases/{}/operations", api_operations_list, true,
	  "GET /canvases/{id}/operations" },
	{ HTTP_GET, "/api/v1/canvases/{}/state", api_state_get, true, "GET /canvases/{id}/state" },
	{ HTTP_POST, "/api/v1/canvases/{}/snapshots", api_snapshots_create, true,
	  "POST /canvases/{id}/snapshots" },
	{ HTTP_GET, "/api/v1/canvases/{}/snapshots", api_snapshots_list, true,
	  "GET /canvases/{id}/snapshots" },
	/* Authenticated by ?token= before the upgrade (browsers cannot set headers on it). */
	{ HTTP_GET, "/api/v1/canvases/{}/ws", api_ws_upgrade, false, "GET /canvases/{id}/ws" },
	{ HTTP_POST, "/api/v1/canvases/{}/undo", api_undo, true, "POST /canvases/{id}/undo" },
	{ HTTP_POST, "/api/v1/canvases/{}/comments", api_comments_create, true,
	  "POST /canvases/{id}/comments" },
	{ HTTP_GET, "/api/v1/canvases/{}/comments", api_comments_list, true,
	  "GET /canvases/{id}/comments" },
	{ HTTP_GET, "/api/v1/comments/{}", api_comments_get, true, "GET /comments/{id}" },
	{ HTTP_PATCH, "/api/v1/comments/{}", api_comments_update, true, "PATCH /comments/{id}" },
	{ HTTP_DELETE, "/api/v1/comments/{}", api_comments_delete, true, "DELETE /comments/{id}" },
	{ HTTP_POST, "/api/v1/canvases/{}/redo", api_redo, true, "POST /canvases/{id}/redo" },

	/* History (api_history.c). */
	{ HTTP_POST, "/api/v1/canvases/{}/versions", api_versions_create, true,
	  "POST /canvases/{id}/versions" },
	{ HTTP_GET, "/api/v1/canvases/{}/versions", api_versions_list, true,
	  "GET /canvases/{id}/versions" },
	{ HTTP_GET, "/api/v1/canvases/{}/diff", api_diff_get, true, "GET /canvases/{id}/diff" },
	{ HTTP_POST, "/api/v1/canvases/{}/restore", api_restore, true,
	  "POST /canvases/{id}/restore" },
	{ HTTP_GET, "/api/v1/me/activity", api_activity_me, true, "GET /me/activity" },
	{ HTTP_GET, "/api/v1/users/{}/activity", api_activity_user, true,
	  "GET /users/{id}/activity" },
	/* Exports are download links too: their handlers authenticate by the Authorization
	 * header or ?token= (api/export.c). */
	{ HTTP_GET, "/api/v1/canvases/{}/export.svg", api_export_svg_link, false,
	  "GET /canvases/{id}/export.svg" },
	{ HTTP_GET, "/api/v1/canvases/{}/export.png", api_export_png, false,
	  "GET /canvases/{id}/export.png" },
	{ HTTP_GET, "/api/v1/canvases/{}/export.mmd", api_export_mmd, false,
	  "GET /canvases/{id}/export.mmd" },
	{ HTTP_POST, "/api/v1/canvases/{}/import/mermaid", api_import_mermaid, true,
	  "POST /canvases/{id}/import/mermaid" },
};

#define ROUTE_COUNT (sizeof(routes) / sizeof(routes[0]))

const char *const *router_metric_names(size_t *count)
{
	static const char *names[ROUTE_COUNT];
	for (size_t i = 0; i < ROUTE_COUNT; i++)
		names[i] = routes[i].name;
	*count = ROUTE_COUNT;
	return names;
}

void router_dispatch(struct http_request *req, void *arg)
{
	/* HEAD is served by the GET route; http_respond omits the body. */
	enum http_method method = req->head.method == HTTP_HEAD ? HTTP_GET : req->head.method;
	bool path_known = false;
	for (size_t i = 0; i < ROUTE_COUNT; i++) {
		const struct route *r = &routes[i];
		size_t n = 0;
		if (!path_match(req->head.path, r->pattern, req->params, HTTP_MAX_PARAMS, &n))
			continue;
		path_known = true;
		if (r->method != method)
			continue;
		req->route_id = (int)i;
		req->route_name = r->pattern;
		req->param_count = n;
		if (r->needs_auth && !api_authenticate(req))
			return;
		r->handler(req);
		return;
	}
	if (path_known)
		http_respond_error(req, 405, "method_not_allowed", "method not allowed for this path");
	else
		http_respond_error(req, 404, "not_found", "no such endpoint");
}
