/*
 * GET /api/v1/canvases/{id}/ws?token=&since= — the WebSocket upgrade. Everything that can be
 * refused is refused as a plain HTTP answer before the upgrade (RFC 6455 checks 400/426, Origin
 * 403, token 401, membership 404), so a client never gets a socket it cannot use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "api/api.h"
#include "auth/access_token.h"
#include "core/metrics.h"
#include "codec/query.h"
#include "base/validate.h"
#include "base/config.h"
#include "app/access.h"
#include "realtime/session.h"
#include "codec/ws_codec.h"

struct ws_upgrade_ctx {
	struct http_request *req;
	struct session_join join;
	char accept[29];
};

static bool origin_allowed(const struct http_slice *origin)
{
	const char *list = api_env()->cfg->ws_origins;
	if (!*list || !origin)
		return true; /* no allow-list, or a non-browser client (browsers always send Origin) */
	const char *p = list;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		while (n && *p == ' ') {
			p++;
			n--;
		}
		while (n && p[n - 1] == ' ')
			n--;
		if (n == origin->len && !strncasecmp(p, origin->ptr, n))
			return true;
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

static void ws_member_loaded(const struct db_result *r, void *arg)
{
	struct ws_upgrade_ctx *c = arg;
	struct http_request *req = c->req;
	if (!r->ok) {
		api_respond_db_error(req, r);
	} else if (db_rows(r) == 0) {
		http_respond_error(req, 404, "not_found", "canvas not found");
	} else if (api_env()->draining()) {
		http_respond_error(req, 503, "draining", "node is shutting down, reconnect");
	} else {
		snprintf(c->join.role, sizeof(c->join.role), "%s", db_value(r, 0, 0));
		c->join.head = db_int(r, 0, 1);
		snprintf(c->join.display_name, sizeof(c->join.display_name), "%s",
			 db_value(r, 0, 2));
		snprintf(c->join.workspace_id, sizeof(c->join.workspace_id), "%s",
			 db_value(r, 0, 3));
		struct stream *stream = http_upgrade(req, c->accept);
		if (stream)
			session_start(stream, &c->join);
	}
	free(c);
}

void api_ws_upgrade(struct http_request *req)
{
	char canvas_id[64];
	if (!api_canvas_param(req, canvas_id))
		return;
	const struct http_slice *version = http_header_get(&req->head, "Sec-WebSocket-Version");
	const struct http_slice *key = http_header_get(&req->head, "Sec-WebSocket-Key");
	if (!req->head.upgrade_websocket) {
		http_respond_error(req, 426, "upgrade_required",
				   "this endpoint speaks WebSocket: send Upgrade: websocket");
		return;
	}
	/* Each may appear once (RFC 6455 11.3.1, 11.3.5): a second one is a malformed request,
	 * not a choice between two keys. */
	if (http_header_count(&req->head, "Sec-WebSocket-Key") > 1 ||
	    http_header_count(&req->head, "Sec-WebSocket-Version") > 1) {
		http_respond_error(req, 400, "bad_request",
				   "Sec-WebSocket-Key and Sec-WebSocket-Version may appear only once");
		return;
	}
	if (!version || version->len != 2 || memcmp(version->ptr, "13", 2) != 0) {
		http_respond_error(req, 426, "upgrade_required", "Sec-WebSocket-Version must be 13");
		return;
	}
	if (!key || !ws_handshake_key_valid(key->ptr, key->len)) {
		http_respond_error(req, 400, "bad_request", "invalid Sec-WebSocket-Key");
		return;
	}
	if (!origin_allowed(http_header_get(&req->head, "Origin"))) {
		http_respond_error(req, 403, "origin_not_allowed", "Origin is not allowed");
		return;
	}
	char token[4097];
	if (!query_get(req->head.query, "token", token, sizeof(token))) {
		metrics_counter_inc(METRIC_AUTH_FAILURES);
		http_respond_error(req, 401, "unauthorized", "missing ?token=");
		return;
	}
	if (!api_verify_access_token(req, token))
		return;
	long long since = -1, comment_since = -1;
	bool has_since, has_comment_since;
	if (!api_query_int(req, "since", 0, (1ll << 53), &since, &has_since) ||
	    !api_query_int(req, "comment_since", 0, (1ll << 53), &comment_since, &has_comment_since))
		return;
	if (api_env()->draining()) {
		http_respond_error(req, 503, "draining", "node is shutting down, reconnect");
		return;
	}
	struct ws_upgrade_ctx *c = xcalloc(1, sizeof(*c));
	c->req = req;
	snprintf(c->join.canvas_id, sizeof(c->join.canvas_id), "%s", canvas_id);
	snprintf(c->join.user_id, sizeof(c->join.user_id), "%s", req->user_id);
	c->join.since = has_since ? since : -1;
	c->join.comment_since = has_comment_since ? comment_since : -1;
	c->join.access_generation = access_generation();
	ws_handshake_accept(key->ptr, key->len, c->accept);
	const char *params[] = { canvas_id, req->user_id };
	if (!api_query(req,
		       "SELECT m.role, c.version, u.display_name, c.workspace_id FROM canvases c "
		       "JOIN workspace_members m ON m.workspace_id = c.workspace_id AND m.user_id = $2 "
		       "JOIN users u ON u.id = $2 WHERE c.id = $1 AND c.deleted_at IS NULL",
		       2, params, ws_member_loaded, c))
		free(c);
}
