#include "api/api.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/access_token.h"
#include "auth/token_cache.h"
#include "base/log.h"
#include "base/validate.h"
#include "codec/query.h"
#include "core/metrics.h"
#include "net/http.h"

/* Verified access tokens (auth/token_cache.h): most requests skip the verification. */
#define API_TOKEN_CACHE_SIZE 8192

static struct api_env env;
static struct token_cache *verified;

void api_init(const struct api_env *e)
{
	env = *e;
	token_cache_free(verified);
	verified = token_cache_new(API_TOKEN_CACHE_SIZE);
}

void api_shutdown(void)
{
	token_cache_free(verified);
	verified = NULL;
}

const struct api_env *api_env(void)
{
	return &env;
}

long long api_now(void)
{
	return (long long)time(NULL);
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "unknown";
}

json_t *api_parse_body(struct http_request *req, const struct api_field *fields, size_t count)
{
	json_error_t jerr;
	json_t *root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		http_respond_errorf(req, 400, "malformed_json", "request body is not valid JSON: %s",
				    jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		http_respond_error(req, 422, "invalid_body", "request body must be a JSON object");
		goto fail;
	}
	const char *key;
	json_t *value;
	json_object_foreach(root, key, value) {
		size_t i;
		for (i = 0; i < count && strcmp(fields[i].name, key); i++)
			;
		if (i == count) {
			char name[80];
			snprintf(name, sizeof(name), "%.64s", key);
			http_respond_errorf(req, 422, "unknown_field", "%s: unknown field", name);
			goto fail;
		}
	}
	for (size_t i = 0; i < count; i++) {
		const struct api_field *f = &fields[i];
		json_t *v = json_object_get(root, f->name);
		if (!v || json_is_null(v)) {
			if (f->required) {
				http_respond_errorf(req, 422, "missing_field", "%s: required", f->name);
				goto fail;
			}
			continue;
		}
		switch (f->type) {
		case API_STRING:
			if (!json_is_string(v)) {
				http_respond_errorf(req, 422, "invalid_field",
						    "%s: must be a string, not %s", f->name,
						    json_type_name(v));
				goto fail;
			}
			if (f->max_len && json_string_length(v) > f->max_len) {
				http_respond_errorf(req, 422, "invalid_field",
						    "%s: at most %zu bytes", f->name, f->max_len);
				goto fail;
			}
			if (strlen(json_string_value(v)) != json_string_length(v)) {
				http_respond_errorf(req, 422, "invalid_field",
						    "%s: must not contain NUL characters", f->name);
				goto fail;
			}
			*f->str_out = json_string_value(v);
			break;
		case API_INTEGER:
			if (!json_is_integer(v)) {
				http_respond_errorf(req, 422, "invalid_field",
						    "%s: must be an integer, not %s", f->name,
						    json_type_name(v));
				goto fail;
			}
			*f->int_out = json_integer_value(v);
			break;
		case API_ANY:
			*f->json_out = v;
			break;
		}
	}
	return root;
fail:
	json_decref(root);
	return NULL;
}

bool api_query(struct http_request *req, const char *sql, int nparams, const char *const *params,
	       db_callback cb, void *arg)
{
	if (db_query(env.db, sql, nparams, params, cb, arg))
		return true;
	http_respond_error(req, 503, "overloaded", "too many queued database requests, retry");
	return false;
}

void api_respond_db_error(struct http_request *req, const struct db_result *r)
{
	if (r->retryable) {
		log_warn("db_unavailable", "req=%llu sqlstate=%s", (unsigned long long)req->id,
			 r->sqlstate);
		http_respond_error(req, 503, "unavailable", "database unavailable, retry");
		return;
	}
	char msg[300];
	log_error("db_query_failed", "req=%llu sqlstate=%s message=%s", (unsigned long long)req->id,
		  r->sqlstate, log_quote(msg, sizeof(msg), r->message));
	http_respond_error(req, 500, "internal", "internal error");
}

void api_respond_row_json(struct http_request *req, int status, const struct db_result *r)
{
	const char *text = db_value(r, 0, 0);
	http_respond_json_text(req, status, text, (size_t)db_length(r, 0, 0));
}

bool api_authenticate(struct http_request *req)
{
	const struct http_slice *auth = http_header_get(&req->head, "Authorization");
	static const char prefix[] = "Bearer ";
	if (!auth || auth->len <= sizeof(prefix) - 1 || auth->len > 4096 ||
	    strncasecmp(auth->ptr, prefix, sizeof(prefix) - 1) != 0) {
		metrics_counter_inc(METRIC_AUTH_FAILURES);
		http_respond_error(req, 401, "unauthorized", "missing bearer token");
		return false;
	}
	char token[4100];
	size_t n = auth->len - (sizeof(prefix) - 1);
	memcpy(token, auth->ptr + sizeof(prefix) - 1, n);
	token[n] = '\0';
	return api_verify_access_token(req, token);
}

bool api_authenticate_header_or_query(struct http_request *req)
{
	if (http_header_get(&req->head, "Authorization"))
		return api_authenticate(req);
	char token[4097];
	if (!query_get(req->head.query, "token", token, sizeof(token))) {
		metrics_counter_inc(METRIC_AUTH_FAILURES);
		http_respond_error(req, 401, "unauthorized",
				   "missing bearer token (Authorization header or ?token=)");
		return false;
	}
	return api_verify_access_token(req, token);
}

bool api_verify_access_token(struct http_request *req, const char *token)
{
	long long now = api_now();
	if (verified && token_cache_get(verified, token, now, req->user_id, sizeof(req->user_id)))
		return true;
	enum access_token_status st = access_token_verify_lifetime(
		env.jwt_secret, env.jwt_secret_len, token, "access", now, env.cfg->access_token_ttl,
		req->user_id, sizeof(req->user_id));
	/* Every subject this node issues is a user id: anything else is not ours (and would
	 * reach SQL as a uuid cast that fails). */
	if (st == ACCESS_TOKEN_OK && !validate_uuid(req->user_id))
		st = ACCESS_TOKEN_MALFORMED;
	/* Only what passed every check is remembered. */
	if (st == ACCESS_TOKEN_OK && verified)
		token_cache_put(verified, token, req->user_id, access_token_expires(token));
	if (st != ACCESS_TOKEN_OK) {
		metrics_counter_inc(METRIC_AUTH_FAILURES);
		req->user_id[0] = '\0';
		http_respond_error(req, 401, "unauthorized",
				   st == ACCESS_TOKEN_EXPIRED ? "access token expired" : "invalid access token");
		return false;
	}
	return true;
}
