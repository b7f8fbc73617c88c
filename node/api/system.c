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

static void readyz_checked(const struct db_result *r, void *arg)
{
	struct http_request *req = arg;
	bool draining = api_env()->draining();
	bool ready = r->ok && !draining;
	bool redis = bus_healthy();
	/* Without Redis the node still commits and serves its own clients (the gateway keeps a
	 * canvas on one node), so it stays in rotation, reported as degraded. */
	const char *status = !ready ? "not_ready" : redis ? "ready" : "degraded";
	http_respond_json(req, ready ? 200 : 503,
			  json_pack("{s:s, s:s, s:s, s:b}", "status", status, "postgres",
				    r->ok ? "ok" : "unreachable", "redis",
				    redis ? "ok" : "unreachable", "draining", draining));
}

/* Ready means: not draining and Postgres answers a query through the pool right now. */
void api_readyz(struct http_request *req)
{
	const struct api_env *env = api_env();
	if (env->draining()) {
		http_respond_json(req, 503, json_pack("{s:s, s:b}", "status", "not_ready",
						      "draining", 1));
		return;
	}
	if (!db_pool_ready(env->db)) {
		/* No connection is up: answer now rather than after the pool's queue timeout. */
		http_respond_json(req, 503, json_pack("{s:s, s:s, s:s, s:b}", "status", "not_ready",
						      "postgres", "unreachable", "redis",
						      bus_healthy() ? "ok" : "unreachable",
						      "draining", 0));
		return;
	}
	api_query(req, "SELECT 1", 0, NULL, readyz_checked, req);
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
