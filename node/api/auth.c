/*
 * Accounts: register, login, refresh (rotating, with reuse detection), logout, me.
 *
 * Password hashing and verification run on the worker threads (scrypt is slow on purpose) and
 * every other step is one parameterized statement on the async pool. Refresh tokens are opaque
 * 256-bit random values; only their SHA-256 is stored. Each login starts a token family; a
 * refresh marks the presented token used and issues the next one of the same family in one
 * statement, so of two concurrent refreshes with the same token exactly one wins. Presenting a
 * token that was already used means it leaked (or a client raced itself): the whole family is
 * revoked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "api/api.h"
#include "auth/access_token.h"
#include "base/log.h"
#include "core/metrics.h"
#include "auth/password.h"
#include "auth/token.h"
#include "base/validate.h"
#include "core/workers.h"

#define USER_JSON                                                                          \
	"json_build_object('id', u.id, 'email', u.email, 'display_name', u.display_name, " \
	"'created_at', fs_ts(u.created_at))::text"

static struct password_params auth_password_params(void)
{
	struct password_params p = { .n = 1ull << api_env()->cfg->scrypt_log2n, .r = 8, .p = 1 };
	return p;
}

/* ---- register ---------------------------------------------------------------------------- */

struct register_ctx {
	struct http_request *req;
	char email[256];
	char *display_name;
	char *password;
	struct password_params params;
	char *hash;
};

static void register_ctx_free(struct register_ctx *c)
{
	if (c->password) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	free(c->display_name);
	free(c->hash);
	free(c);
}

static void register_inserted(const struct db_result *r, void *arg)
{
	struct register_ctx *c = arg;
	struct http_request *req = c->req;
	if (!r->ok)
		api_respond_db_error(req, r);
	else if (db_rows(r) == 0)
		http_respond_error(req, 409, "email_taken", "an account with this email exists");
	else
		api_respond_row_json(req, 201, r);
	register_ctx_free(c);
}

static void register_hash_work(void *arg)
{
	struct register_ctx *c = arg;
	if (!password_hash(c->password, &c->params, &c->hash))
		c->hash = NULL;
}

static void register_hash_done(void *arg)
{
	struct register_ctx *c = arg;
	metrics_counter_inc(METRIC_KDF_JOBS);
	if (!c->hash) {
		http_respond_error(c->req, 500, "internal", "password hashing failed");
		register_ctx_free(c);
		return;
	}
	/* ON CONFLICT DO NOTHING: of concurrent registrations of one email exactly one inserts. */
	const char *params[] = { c->email, c->display_name, c->hash };
	if (!api_query(c->req,
		       "INSERT INTO users AS u (email, display_name, password_hash) "
		       "VALUES ($1, $2, $3) ON CONFLICT (email) DO NOTHING RETURNING " USER_JSON,
		       3, params, register_inserted, c))
		register_ctx_free(c);
}

void api_auth_register(struct http_request *req)
{
	const char *email = NULL, *password = NULL, *display_name = NULL;
	const struct api_field fields[] = {
		{ "email", API_STRING, true, 320, &email, NULL, NULL },
		{ "password", API_STRING, true, 1024, &password, NULL, NULL },
		{ "display_name", API_STRING, false, 400, &display_name, NULL, NULL },
	};
	json_t *body = api_parse_body(req, fields, 3);
	if (!body)
		return;
	struct register_ctx *c = xcalloc(1, sizeof(*c));
	c->req = req;
	const char *why = NULL;
	if (!validate_email_normalize(email, c->email, sizeof(c->email), &why)) {
		http_respond_errorf(req, 422, "invalid_field", "email: %s", why);
		goto fail;
	}
	if (!validate_password(password, &why)) {
		http_respond_errorf(req, 422, "invalid_field", "password: %s", why);
		goto fail;
	}
	if (display_name) {
		if (!validate_display_name(display_name, &why)) {
			http_respond_errorf(req, 422, "invalid_field", "display_name: %s", why);
			goto fail;
		}
		/* Validation judged the trimmed name; store exactly that. */
		size_t len;
		const char *trimmed = validate_trim(display_name, &len);
		c->display_name = xstrndup(trimmed, len);
	} else {
		/* Default to the local part of the address, which is already validated. */
		c->display_name = xstrndup(c->email, strcspn(c->email, "@"));
	}
	c->password = xstrdup(password);
	c->params = auth_password_params();
	json_decref(body);
	workers_submit(api_env()->workers, register_hash_work, register_hash_done, c);
	return;
fail:
	json_decref(body);
	register_ctx_free(c);
}

/* ---- login and token issuing ------------------------------------------------------------- */

struct login_ctx {
	struct http_request *req;
	char email[256];
	char *password;
	char user_id[64];
	char *stored_hash;     /* NULL: unknown email, verify against the dummy hash */
	struct password_params params;
	bool verified;
	char refresh_token[64];
	char *access_token;
};

static void login_ctx_free(struct login_ctx *c)
{
	if (c->password) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	explicit_bzero(c->refresh_token, sizeof(c->refresh_token));
	free(c->stored_hash);
	free(c->access_token);
	free(c);
}

static void login_tokens_stored(const struct db_result *r, void *arg)
{
	struct login_ctx *c = arg;
	struct http_request *req = c->req;
	if (!r->ok) {
		api_respond_db_error(req, r);
	} else {
		const struct api_env *env = api_env();
		http_respond_json(req, 200,
				  json_pack("{s:s, s:s, s:s, s:i}", "access_token", c->access_token,
					    "refresh_token", c->refresh_token, "token_type", "bearer",
					    "expires_in", env->cfg->access_token_ttl));
	}
	login_ctx_free(c);
}

/*
 * Issues an access token for c->user_id and stores a new refresh token, in a new family
 * (family_id NULL) or continuing one. Always responds.
 */
static void issue_tokens(struct login_ctx *c)
{
	const struct api_env *env = api_env();
	char hash[65], ttl[32];
	if (!access_token_issue(env->jwt_secret, env->jwt_secret_len, c->user_id, "access", api_now(),
		       env->cfg->access_token_ttl, &c->access_token) ||
	    !token_random(c->refresh_token, sizeof(c->refresh_token))) {
		http_respond_error(c->req, 500, "internal", "token issuing failed");
		login_ctx_free(c);
		return;
	}
	token_sha256_hex(c->refresh_token, strlen(c->refresh_token), hash);
	snprintf(ttl, sizeof(ttl), "%d", env->cfg->refresh_token_ttl);
	const char *params[] = { c->user_id, hash, ttl };
	if (!api_query(c->req,
		       "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) "
		       "VALUES ($1, gen_random_uuid(), $2, now() + make_interval(secs => $3::int))",
		       3, params, login_tokens_stored, c))
		login_ctx_free(c);
}

static void login_verify_work(void *arg)
{
	struct login_ctx *c = arg;
	/* An unknown email costs the same scrypt run as a wrong password. */
	const char *hash = c->stored_hash ? c->stored_hash : password_dummy_hash(&c->params);
	bool ok = password_verify(c->password, hash);
	c->verified = ok && c->stored_hash != NULL;
}

static void login_verify_done(void *arg)
{
	struct login_ctx *c = arg;
	metrics_counter_inc(METRIC_KDF_JOBS);
	if (!c->verified) {
		metrics_counter_inc(METRIC_AUTH_FAILURES);
		http_respond_error(c->req, 401, "invalid_credentials", "invalid email or password");
		login_ctx_free(c);
		return;
	}
	issue_tokens(c);
}

static void login_user_loaded(const struct db_result *r, void *arg)
{
	struct login_ctx *c = arg;
	if (!r->ok) {
		api_respond_db_error(c->req, r);
		login_ctx_free(c);
		return;
	}
	if (db_rows(r) == 1) {
		snprintf(c->user_id, sizeof(c->user_id), "%s", db_value(r, 0, 0));
		c->stored_hash = xstrdup(db_value(r, 0, 1));
	}
	workers_submit(api_env()->workers, login_verify_work, login_verify_done, c);
}

void api_auth_login(struct http_request *req)
{
	const char *email = NULL, *password = NULL;
	const struct api_field fields[] = {
		{ "email", API_STRING, true, 320, &email, NULL, NULL },
		{ "password", API_STRING, true, 1024, &password, NULL, NULL },
	};
	json_t *body = api_parse_body(req, fields, 2);
	if (!body)
		return;
	struct login_ctx *c = xcalloc(1, sizeof(*c));
	c->req = req;
	c->password = xstrdup(password);
	c->params = auth_password_params();
	const char *why;
	bool valid_email = validate_email_normalize(email, c->email, sizeof(c->email), &why);
	json_decref(body);
	if (!valid_email) {
		/* Cannot exist; still pay the KDF so the answer's timing says nothing. */
		workers_submit(api_env()->workers, login_verify_work, login_verify_done, c);
		return;
	}
	const char *params[] = { c->email };
	if (!api_query(req, "SELECT id, password_hash FROM users WHERE email = $1", 1, params,
		       login_user_loaded, c))
		login_ctx_free(c);
}

/* ---- refresh ----------------------------------------------------------------------------- */

struct refresh_ctx {
	struct http_request *req;
	char presented_hash[65];
	char new_token[64];
	char *access_token;
};

static void refresh_ctx_free(struct refresh_ctx *c)
{
	explicit_bzero(c->new_token, sizeof(c->new_token));
	free(c->access_token);
	free(c);
}

static void refresh_reuse_revoked(const struct db_result *r, void *arg)
{
	struct refresh_ctx *c = arg;
	if (!r->ok) {
		api_respond_db_error(c->req, r);
	} else {
		if (db_rows(r) > 0 && strcmp(db_value(r, 0, 0), "0") != 0) {
			metrics_counter_inc(METRIC_REFRESH_REUSE_DETECTED);
			log_warn("refresh_token_reuse", "req=%llu revoked=%s",
				 (unsigned long long)c->req->id, db_value(r, 0, 0));
		}
		metrics_counter_inc(METRIC_AUTH_FAILURES);
		http_respond_error(c->req, 401, "invalid_refresh_token",
				   "refresh token is invalid, expired, used or revoked");
	}
	refresh_ctx_free(c);
}

static void refresh_rotated(const struct db_result *r, void *arg)
{
	struct refresh_ctx *c = arg;
	struct http_request *req = c->req;
	if (!r->ok) {
		api_respond_db_error(req, r);
		refresh_ctx_free(c);
		return;
	}
	if (db_rows(r) == 0) {
		/* Not rotatable. If it was already used, this is a replay: revoke its family. */
		const char *params[] = { c->presented_hash };
		if (!api_query(req,
			       "WITH fam AS (SELECT family_id FROM refresh_tokens "
			       "             WHERE token_hash = $1 AND used_at IS NOT NULL), "
			       "rev AS (UPDATE refresh_tokens SET revoked_at = now() "
			       "        WHERE family_id IN (SELECT family_id FROM fam) "
			       "        AND revoked_at IS NULL RETURNING 1) "
			       "SELECT count(*) FROM rev",
			       1, params, refresh_reuse_revoked, c))
			refresh_ctx_free(c);
		return;
	}
	const struct api_env *env = api_env();
	if (!access_token_issue(env->jwt_secret, env->jwt_secret_len, db_value(r, 0, 0), "access",
		       api_now(), env->cfg->access_token_ttl, &c->access_token)) {
		http_respond_error(req, 500, "internal", "token issuing failed");
	} else {
		http_respond_json(req, 200,
				  json_pack("{s:s, s:s, s:s, s:i}", "access_token", c->access_token,
					    "refresh_token", c->new_token, "token_type", "bearer",
					    "expires_in", env->cfg->access_token_ttl));
	}
	refresh_ctx_free(c);
}

void api_auth_refresh(struct http_request *req)
{
	const char *token = NULL;
	const struct api_field fields[] = {
		{ "refresh_token", API_STRING, true, 256, &token, NULL, NULL },
	};
	json_t *body = api_parse_body(req, fields, 1);
	if (!body)
		return;
	struct refresh_ctx *c = xcalloc(1, sizeof(*c));
	c->req = req;
	token_sha256_hex(token, strlen(token), c->presented_hash);
	json_decref(body);
	char new_hash[65], ttl[32];
	if (!token_random(c->new_token, sizeof(c->new_token))) {
		http_respond_error(req, 500, "internal", "token issuing failed");
		refresh_ctx_free(c);
		return;
	}
	token_sha256_hex(c->new_token, strlen(c->new_token), new_hash);
	snprintf(ttl, sizeof(ttl), "%d", api_env()->cfg->refresh_token_ttl);
	/* The row lock of the UPDATE serializes concurrent refreshes of one token: the loser
	 * sees used_at set, rotates nothing and is then treated as a reuse. */
	const char *params[] = { c->presented_hash, new_hash, ttl };
	if (!api_query(req,
		       "WITH old AS (UPDATE refresh_tokens SET used_at = now() "
		       "             WHERE token_hash = $1 AND used_at IS NULL "
		       "             AND revoked_at IS NULL AND expires_at > now() "
		       "             RETURNING user_id, family_id) "
		       "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) "
		       "SELECT user_id, family_id, $2, now() + make_interval(secs => $3::int) FROM old "
		       "RETURNING user_id",
		       3, params, refresh_rotated, c))
		refresh_ctx_free(c);
}

/* ---- logout, me -------------------------------------------------------------------------- */

static void logout_done(const struct db_result *r, void *arg)
{
	struct http_request *req = arg;
	if (!r->ok)
		api_respond_db_error(req, r);
	else
		http_respond_json(req, 200, json_pack("{s:b}", "revoked", 1));
}

void api_auth_logout(struct http_request *req)
{
	const char *token = NULL;
	const struct api_field fields[] = {
		{ "refresh_token", API_STRING, false, 256, &token, NULL, NULL },
	};
	json_t *body = req->body_len ? api_parse_body(req, fields, 1) : json_object();
	if (!body)
		return;
	if (token) {
		/* Revokes the session (token family) the refresh token belongs to. */
		char hash[65];
		token_sha256_hex(token, strlen(token), hash);
		const char *params[] = { hash, req->user_id };
		api_query(req,
			       "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id IN "
			       "(SELECT family_id FROM refresh_tokens WHERE token_hash = $1 "
			       " AND user_id = $2) AND revoked_at IS NULL",
			       2, params, logout_done, req);
	} else {
		/* No token given: log out every session of the user. */
		const char *params[] = { req->user_id };
		api_query(req,
			       "UPDATE refresh_tokens SET revoked_at = now() "
			       "WHERE user_id = $1 AND revoked_at IS NULL",
			       1, params, logout_done, req);
	}
	json_decref(body);
}

static void me_loaded(const struct db_result *r, void *arg)
{
	struct http_request *req = arg;
	if (!r->ok)
		api_respond_db_error(req, r);
	else if (db_rows(r) == 0)
		http_respond_error(req, 401, "unauthorized", "user no longer exists");
	else
		api_respond_row_json(req, 200, r);
}

void api_auth_me(struct http_request *req)
{
	const char *params[] = { req->user_id };
	api_query(req, "SELECT " USER_JSON " FROM users u WHERE u.id = $1", 1, params, me_loaded,
		  req);
}
