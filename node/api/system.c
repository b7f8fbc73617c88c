/* Liveness, readiness and metrics endpoints (for load balancers and Prometheus), and the
 * API's own OpenAPI document. */
#include <stdlib.h>

#include "api/api.h"
#include "api/openapi_doc.h"
#include "fanout/bus.h"
#include "store/db.h"
#include "core/metrics.h"

void api_healthz(struct http_request *req)
{
	http_respond_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

/*
 * Ready: not draining and Postgres reachable. Answered at once from what the node already
 * knows (the pool's view of the server, the bus's heartbeat), never by a query that a silent
 * link could hold: a readiness probe must not hang exactly when something is wrong.
 * Without Redis the node still commits and serves its own clients (the gateway keeps a canvas
 * on one node), so it stays in rotation, reported as degraded.
 */
void api_readyz(struct http_request *req)
{
	const struct api_env *env = api_env();
	bool draining = env->draining();
	bool postgres = db_pool_ready(env->db);
	bool redis = bus_healthy();
	bool ready = postgres && !draining;
	const char *status = !ready ? "not_ready" : redis ? "ready" : "degraded";
	http_respond_json(req, ready ? 200 : 503,
			  json_pack("{s:s, s:s, s:s, s:b}", "status", status, "postgres",
				    postgres ? "ok" : "unreachable", "redis",
				    redis ? "ok" : "unreachable", "draining", draining));
}

void api_metrics(struct http_request *req)
{
	size_t len;
	char *text = metrics_render(&len);
	http_respond(req, 200, "text/plain; version=0.0.4", text, len);
	free(text);
}

/* The document is served byte for byte as built, so the repository's file is what clients get. */
void api_openapi(struct http_request *req)
{
	http_respond(req, 200, "application/json", openapi_document, openapi_document_len);
}
