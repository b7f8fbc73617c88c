/*
 * REST handlers (one file per resource: api_auth.c, api_workspaces.c, api_system.c) and the
 * helpers they share: strict JSON body parsing, database error mapping, role checks.
 *
 * Every handler ends in exactly one http_respond*() call, on every path (see http.h).
 */
#ifndef FLOWSTATE_API_API_H
#define FLOWSTATE_API_API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/config.h"
#include "model/role.h"
#include "net/http.h"
#include "store/db.h"

struct workers;

/* What the handlers need from the process, given once by the composition root. */
struct api_env {
	const struct config *cfg;
	struct db_pool *db;
	struct workers *workers;          /* password hashing */
	struct workers *export_workers;   /* PNG rendering and other exports */
	const unsigned char *jwt_secret;
	size_t jwt_secret_len;
	bool (*draining)(void);           /* the node is stopping (readiness, new sockets) */
};

void api_init(const struct api_env *env);
/* Frees what api_init set up (process exit). */
void api_shutdown(void);
const struct api_env *api_env(void);

enum api_field_type { API_STRING, API_INTEGER, API_ANY };

/* A body field: strings are checked for presence, type and byte length. */
struct api_field {
	const char *name;
	enum api_field_type type;
	bool required;
	size_t max_len;
	const char **str_out;      /* API_STRING: points into the returned root */
	long long *int_out;        /* API_INTEGER */
	json_t **json_out;         /* API_ANY: borrowed from the returned root */
};

/*
 * Parses the request body as a JSON object holding only the given fields. On failure answers
 * 400 (malformed JSON) or 422 (not an object, unknown, missing, wrong type, too long) and
 * returns NULL. On success returns the root, which the caller releases with json_decref().
 */
json_t *api_parse_body(struct http_request *req, const struct api_field *fields, size_t count)
	__attribute__((warn_unused_result));

/*
 * Queues a query whose callback will answer the request. When the pool's queue is full it
 * answers 503 itself and returns false: the caller then frees its context (if any) and must
 * not touch the request again.
 */
bool api_query(struct http_request *req, const char *sql, int nparams, const char *const *params,
	       db_callback cb, void *arg);

/*
 * Answers a failed query: retryable failures (Postgres unreachable, restarting, serialization)
 * get 503 with code "unavailable", anything else 500. Always responds.
 */
void api_respond_db_error(struct http_request *req, const struct db_result *r);

/*
 * Answers with the first column of the first row, which the query built as JSON text
 * (json_build_object / json_agg), avoiding a decode-encode round trip in the node.
 */
void api_respond_row_json(struct http_request *req, int status, const struct db_result *r);

long long api_now(void);

/* The role a query returned (role text, NULL or "" = not a member). */
static inline enum role api_role(const char *text)
{
	return role_parse(text);
}

/* Handlers, bound in router.c. */
void api_healthz(struct http_request *req);
void api_health(struct http_request *req);
void api_health_db(struct http_request *req);
void api_readyz(struct http_request *req);
void api_metrics(struct http_request *req);
void api_openapi(struct http_request *req);

void api_auth_register(struct http_request *req);
void api_auth_login(struct http_request *req);
void api_auth_refresh(struct http_request *req);
void api_auth_logout(struct http_request *req);
void api_auth_me(struct http_request *req);

void api_workspaces_create(struct http_request *req);
void api_workspaces_list(struct http_request *req);
void api_workspaces_get(struct http_request *req);
void api_workspaces_update(struct http_request *req);
void api_workspaces_delete(struct http_request *req);
void api_workspaces_undelete(struct http_request *req);
void api_members_list(struct http_request *req);
void api_members_add(struct http_request *req);
void api_members_update(struct http_request *req);
void api_members_remove(struct http_request *req);
void api_canvases_create(struct http_request *req);
void api_canvases_list(struct http_request *req);
void api_canvases_get(struct http_request *req);
void api_canvases_update(struct http_request *req);
void api_canvases_delete(struct http_request *req);
void api_canvases_undelete(struct http_request *req);

/* Comments (comments.c). */
void api_comments_create(struct http_request *req);
void api_comments_list(struct http_request *req);
void api_comments_get(struct http_request *req);
void api_comments_update(struct http_request *req);
void api_comments_delete(struct http_request *req);

/* Invites (invites.c). */
void api_invites_create(struct http_request *req);
void api_invites_list(struct http_request *req);
void api_invites_revoke(struct http_request *req);
void api_invites_get(struct http_request *req);
void api_invites_accept(struct http_request *req);

void api_operations_create(struct http_request *req);
void api_operations_list(struct http_request *req);
void api_state_get(struct http_request *req);
void api_snapshots_create(struct http_request *req);
void api_snapshots_list(struct http_request *req);
void api_undo(struct http_request *req);
void api_ws_upgrade(struct http_request *req);
void api_redo(struct http_request *req);

/* History (api_history.c). */
void api_versions_create(struct http_request *req);
void api_versions_list(struct http_request *req);
void api_diff_get(struct http_request *req);
void api_restore(struct http_request *req);
void api_activity_me(struct http_request *req);
void api_activity_user(struct http_request *req);
void api_export_svg(struct http_request *req);

/* Exports and imports (api/export.c); the exports authenticate by header or ?token=. */
void api_export_svg_link(struct http_request *req);
void api_export_png(struct http_request *req);
void api_export_mmd(struct http_request *req);
void api_import_mermaid(struct http_request *req);

/* Shared by the canvas handlers (api_operations.c). */
struct commit_outcome;
struct commit_op_result;
struct state_result;
bool api_canvas_param(struct http_request *req, char out[64]);
bool api_query_int(struct http_request *req, const char *key, long long min, long long max,
		   long long *out, bool *present);
/* Reads an optional ?key=true|false; answers 422 invalid_query for any other value. */
bool api_query_bool(struct http_request *req, const char *key, bool *out, bool *present);
void api_respond_commit_failure(struct http_request *req, const struct commit_outcome *out,
				const struct commit_op_result *res, const char *client_op_id);
void api_respond_state_failure(struct http_request *req, const struct state_result *r);
void api_canvas_rows_ready(const struct db_result *r, void *arg);

/* Verifies the bearer token of a request; fills req->user_id. */
bool api_authenticate(struct http_request *req);
/* The same, or, without an Authorization header, the ?token= query parameter: exports are
 * plain links a browser opens without headers (the gateway logs no query strings). */
bool api_authenticate_header_or_query(struct http_request *req);
/* Verifies an access token however it came (header or ?token=); answers 401 on failure. */
bool api_verify_access_token(struct http_request *req, const char *token);

#endif
