/*
 * Workspace invites (schema/021). An owner creates an invite for a role, optionally bound to an
 * email address, with an expiry and a number of uses; the answer carries the token once (only
 * its SHA-256 is stored) and a link to share. Anyone signed in who holds the token can read
 * what it is for and accept it; acceptance is one plpgsql function that locks the invite row,
 * so concurrent accepts of a single-use invite admit exactly one account.
 *
 * Errors for a token: unknown or revoked 404, bound to another email 403, expired or used up
 * 410 (in that order of precedence). Tokens travel in the path: the gateway's access log masks
 * /invites/<token> (gateway/nginx.conf.tmpl) and the node logs route patterns only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app/access.h"
#include "auth/token.h"
#include "base/alloc.h"
#include "base/validate.h"

#define INVITE_EXPIRES_MIN 60
#define INVITE_EXPIRES_DEFAULT (7 * 86400)
#define INVITE_EXPIRES_MAX (30 * 86400)
#define INVITE_MAX_USES_MAX 10000

/* The caller ($2)'s role in the live workspace $1. */
#define MY_LIVE_ROLE                                                                       \
	"SELECT m.role FROM workspace_members m JOIN workspaces w "                         \
	"ON w.id = m.workspace_id AND w.deleted_at IS NULL "                                \
	"WHERE m.workspace_id = $1 AND m.user_id = $2"

/* Path parameter i as a workspace or invite UUID; answers 404 for anything else. */
static bool path_uuid(struct http_request *req, size_t i, char out[64], const char *what)
{
	if (http_param(req, i, out, 64) && validate_uuid(out))
		return true;
	http_respond_errorf(req, 404, "not_found", "%s not found", what);
	return false;
}

/* Path parameter 0 as an invite token, hashed; answers 404 for anything that is not one. */
static bool path_token_hash(struct http_request *req, char hash[TOKEN_SHA256_HEX_SIZE])
{
	char token[TOKEN_RANDOM_SIZE + 1];
	unsigned char raw[TOKEN_RANDOM_BYTES + 1];
	size_t raw_len;
	if (!http_param(req, 0, token, sizeof(token)) || strlen(token) != TOKEN_RANDOM_LEN ||
	    !token_base64url_decode(token, TOKEN_RANDOM_LEN, raw, sizeof(raw), &raw_len) ||
	    raw_len != TOKEN_RANDOM_BYTES) {
		http_respond_error(req, 404, "not_found", "invite not found");
		return false;
	}
	token_sha256_hex(token, TOKEN_RANDOM_LEN, hash);
	return true;
}

/* Answers a (my role, JSON) row: no role 404, not an owner 403, else the JSON. */
static void respond_owner_row(struct http_request *req, const struct db_result *r, int status,
			      const char *missing)
{
	if (!r->ok) {
		api_respond_db_error(req, r);
	} else if (db_rows(r) == 0 || db_is_null(r, 0, 0)) {
		http_respond_error(req, 404, "not_found", "workspace not found");
	} else if (!role_at_least(api_role(db_value(r, 0, 0)), ROLE_OWNER)) {
		http_respond_errorf(req, 403, "forbidden", "your role (%s) does not allow this",
				    db_value(r, 0, 0));
	} else if (db_is_null(r, 0, 1)) {
		http_respond_error(req, 404, "not_found", missing);
	} else {
		http_respond_json_text(req, status, db_value(r, 0, 1), (size_t)db_length(r, 0, 1));
	}
}

/* ---- POST /workspaces/{id}/invites ---------------------------------------------------------- */

struct invite_create_ctx {
	struct http_request *req;
	char token[TOKEN_RANDOM_SIZE];
};

static void invite_created(const struct db_result *r, void *arg)
{
	struct invite_create_ctx *c = arg;
	struct http_request *req = c->req;
	if (r->ok && db_rows(r) == 1 && !db_is_null(r, 0, 1)) {
		/* The token is shown here, once: add it and the link to the stored invite. */
		json_t *invite = json_loads(db_value(r, 0, 1), 0, NULL);
		const char *base = api_env()->cfg->public_url;
		size_t base_len = strlen(base);
		while (base_len && base[base_len - 1] == '/')
			base_len--;
		char *url = xasprintf("%.*s/#/invite/%s", (int)base_len, base, c->token);
		json_object_set_new(invite, "token", json_string(c->token));
		json_object_set_new(invite, "url", json_string(url));
		free(url);
		http_respond_json(req, 201, invite);
	} else {
		respond_owner_row(req, r, 201, "workspace not found");
	}
	explicit_bzero(c->token, sizeof(c->token));
	free(c);
}

void api_invites_create(struct http_request *req)
{
	char id[64];
	if (!path_uuid(req, 0, id, "workspace"))
		return;
	const char *role = NULL, *email = NULL;
	long long expires_in = INVITE_EXPIRES_DEFAULT, max_uses = 0;
	json_t *max_uses_json = NULL, *expires_json = NULL;
	const struct api_field fields[] = {
		{ "role", API_STRING, true, 16, &role, NULL, NULL },
		{ "email", API_STRING, false, 320, &email, NULL, NULL },
		{ "expires_in", API_ANY, false, 0, NULL, NULL, &expires_json },
		{ "max_uses", API_ANY, false, 0, NULL, NULL, &max_uses_json },
	};
	json_t *body = api_parse_body(req, fields, 4);
	if (!body)
		return;
	char normalized[256] = "";
	const char *why;
	if (api_role(role) == ROLE_NONE) {
		http_respond_error(req, 422, "invalid_field",
				   "role: must be viewer, commenter, editor or owner");
		goto done;
	}
	if (email && !validate_email_normalize(email, normalized, sizeof(normalized), &why)) {
		http_respond_errorf(req, 422, "invalid_field", "email: %s", why);
		goto done;
	}
	if (expires_json) {
		expires_in = json_is_integer(expires_json) ? json_integer_value(expires_json) : -1;
		if (expires_in < INVITE_EXPIRES_MIN || expires_in > INVITE_EXPIRES_MAX) {
			http_respond_errorf(req, 422, "invalid_field",
					    "expires_in: seconds, an integer from %d to %d",
					    INVITE_EXPIRES_MIN, INVITE_EXPIRES_MAX);
			goto done;
		}
	}
	/* Default: one use for an invite bound to an email, unlimited for a shared link. */
	if (max_uses_json) {
		max_uses = json_is_integer(max_uses_json) ? json_integer_value(max_uses_json) : -1;
		if (max_uses < 1 || max_uses > INVITE_MAX_USES_MAX) {
			http_respond_errorf(req, 422, "invalid_field",
					    "max_uses: an integer from 1 to %d", INVITE_MAX_USES_MAX);
			goto done;
		}
	} else if (email) {
		max_uses = 1;
	}
	struct invite_create_ctx *c = xcalloc(1, sizeof(*c));
	c->req = req;
	if (!token_random(c->token, sizeof(c->token))) {
		free(c);
		http_respond_error(req, 500, "internal", "no randomness available");
		goto done;
	}
	char hash[TOKEN_SHA256_HEX_SIZE], uses_text[16], expires_text[16];
	token_sha256_hex(c->token, strlen(c->token), hash);
	snprintf(uses_text, sizeof(uses_text), "%lld", max_uses);
	snprintf(expires_text, sizeof(expires_text), "%lld", expires_in);
	const char *params[] = { id, req->user_id, hash, role, email ? normalized : NULL,
				 max_uses ? uses_text : NULL, expires_text };
	if (!api_query(req,
		       "WITH me AS (" MY_LIVE_ROLE "), "
		       "ins AS (INSERT INTO invites (workspace_id, token_hash, role, email, max_uses, "
		       "                             created_by, expires_at) "
		       "        SELECT $1, $3, $4, $5, $6::int, $2, "
		       "               now() + make_interval(secs => $7::int) "
		       "        FROM me WHERE me.role = 'owner' RETURNING *) "
		       "SELECT (SELECT role FROM me), (SELECT fs_invite_json(ins)::text FROM ins)",
		       7, params, invite_created, c))
		free(c);
done:
	json_decref(body);
}

/* ---- GET /workspaces/{id}/invites, DELETE /workspaces/{id}/invites/{invite_id} --------------- */

static void invites_listed(const struct db_result *r, void *arg)
{
	respond_owner_row(arg, r, 200, "workspace not found");
}

/* Every invite of the workspace, newest first, with its status (owners). */
void api_invites_list(struct http_request *req)
{
	char id[64];
	if (!path_uuid(req, 0, id, "workspace"))
		return;
	const char *params[] = { id, req->user_id };
	api_query(req,
		  "SELECT (" MY_LIVE_ROLE "), coalesce((SELECT json_agg(fs_invite_json(i) "
		  "  ORDER BY i.created_at DESC, i.id) FROM invites i WHERE i.workspace_id = $1), "
		  "  '[]')::text",
		  2, params, invites_listed, req);
}

static void invite_revoked(const struct db_result *r, void *arg)
{
	respond_owner_row(arg, r, 200, "invite not found");
}

/* Revokes (owners); revoking a revoked invite answers it as it is. */
void api_invites_revoke(struct http_request *req)
{
	char id[64], invite[64];
	if (!path_uuid(req, 0, id, "workspace") || !path_uuid(req, 1, invite, "invite"))
		return;
	const char *params[] = { id, req->user_id, invite };
	api_query(req,
		  "WITH me AS (" MY_LIVE_ROLE "), "
		  "u AS (UPDATE invites i SET revoked_at = coalesce(i.revoked_at, now()) FROM me "
		  "      WHERE i.id = $3 AND i.workspace_id = $1 AND me.role = 'owner' "
		  "      RETURNING i.*) "
		  "SELECT (SELECT role FROM me), (SELECT fs_invite_json(u::invites)::text FROM u)",
		  3, params, invite_revoked, req);
}

/* ---- GET /invites/{token}, POST /invites/{token}/accept ---------------------------------------- */

/* Columns: status, invite JSON for the invitee. */
static void invite_loaded(const struct db_result *r, void *arg)
{
	struct http_request *req = arg;
	if (!r->ok) {
		api_respond_db_error(req, r);
		return;
	}
	const char *status = db_rows(r) == 1 ? db_value(r, 0, 0) : "not_found";
	if (!strcmp(status, "active"))
		http_respond_json_text(req, 200, db_value(r, 0, 1), (size_t)db_length(r, 0, 1));
	else if (!strcmp(status, "forbidden"))
		http_respond_error(req, 403, "forbidden",
				   "this invite is for another email address");
	else if (!strcmp(status, "expired"))
		http_respond_error(req, 410, "invite_expired", "this invite has expired");
	else if (!strcmp(status, "used_up"))
		http_respond_error(req, 410, "invite_used_up", "this invite has been used up");
	else
		http_respond_error(req, 404, "not_found", "invite not found");
}

/* What the invite is for: {workspace: {id, name}, role, invited_by: {user_id, display_name},
 * email, expires_at, your_role} (your_role: the caller's current role there, or null). */
void api_invites_get(struct http_request *req)
{
	char hash[TOKEN_SHA256_HEX_SIZE];
	if (!path_token_hash(req, hash))
		return;
	const char *params[] = { hash, req->user_id };
	api_query(req,
		  "SELECT CASE WHEN i.email IS NOT NULL AND i.email <> me.email THEN 'forbidden' "
		  "            ELSE fs_invite_status(i) END, "
		  "  json_build_object('workspace', json_build_object('id', w.id, 'name', w.name), "
		  "    'role', i.role, 'invited_by', json_build_object('user_id', u.id, "
		  "    'display_name', u.display_name), 'email', i.email, "
		  "    'expires_at', fs_ts(i.expires_at), 'your_role', "
		  "    (SELECT m.role FROM workspace_members m "
		  "     WHERE m.workspace_id = w.id AND m.user_id = me.id))::text "
		  "FROM invites i JOIN workspaces w ON w.id = i.workspace_id AND w.deleted_at IS NULL "
		  "JOIN users u ON u.id = i.created_by, users me "
		  "WHERE i.token_hash = $1 AND i.revoked_at IS NULL AND me.id = $2",
		  2, params, invite_loaded, req);
}

/* Columns of fs_invite_accept: status, workspace_id, role, changed. */
static void invite_accepted(const struct db_result *r, void *arg)
{
	struct http_request *req = arg;
	if (!r->ok || db_rows(r) != 1 || strcmp(db_value(r, 0, 0), "ok") != 0) {
		if (r->ok && db_rows(r) == 1 && !strcmp(db_value(r, 0, 0), "expired"))
			http_respond_error(req, 410, "invite_expired", "this invite has expired");
		else if (r->ok && db_rows(r) == 1 && !strcmp(db_value(r, 0, 0), "used_up"))
			http_respond_error(req, 410, "invite_used_up", "this invite has been used up");
		else if (r->ok && db_rows(r) == 1 && !strcmp(db_value(r, 0, 0), "forbidden"))
			http_respond_error(req, 403, "forbidden",
					   "this invite is for another email address");
		else if (r->ok)
			http_respond_error(req, 404, "not_found", "invite not found");
		else
			api_respond_db_error(req, r);
		return;
	}
	const char *workspace_id = db_value(r, 0, 1), *role = db_value(r, 0, 2);
	/* A member whose role was raised: their open sockets learn it (app/access.h). */
	struct access_change change;
	if (!strcmp(db_value(r, 0, 3), "t") &&
	    access_change_make(&change, "role", workspace_id, NULL, req->user_id))
		access_publish(&change, 1);
	http_respond_json(req, 200, json_pack("{s:s, s:s}", "workspace_id", workspace_id, "role",
					      role));
}

/* Joins the workspace (or raises the caller's role there, never lowers it): {workspace_id,
 * role} with the caller's role now. */
void api_invites_accept(struct http_request *req)
{
	char hash[TOKEN_SHA256_HEX_SIZE];
	if (!path_token_hash(req, hash))
		return;
	const char *params[] = { hash, req->user_id };
	api_query(req,
		  "SELECT status, workspace_id, role, changed FROM fs_invite_accept($1, $2)", 2,
		  params, invite_accepted, req);
}
