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

/* GET /api/v1/health: the reference API's name for liveness. */
void api_health(struct http_request *req)
{
	http_respond_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

/*
 * GET /api/v1/health/db: is the database reachable, answered like /readyz from what the pool
 * knows now (a connection up and an answer from Postgres within the last 3 s: db_pool_ready),
 * without a query. A probe query would make a flood of health checks a flood of queries, and
 * it would wait behind the pool's queue, or on a silent link, exactly when Postgres is in
 * trouble; the pool probes an idle server itself, so the answer is immediate.
 */
void api_health_db(struct http_request *req)
{
	struct db_pool_stats st;
	db_pool_get_stats(api_env()->db, &st);
	if (!db_pool_ready(api_env()->db)) {
		http_respond_json(req, 503,
				  json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "status", "unavailable",
					    "database", "unreachable", "code", "unavailable",
					    "detail", "Postgres has not answered within 3 s", "connections",
					    st.connected, "pool_size", st.size));
		return;
	}
	http_respond_json(req, 200,
			  json_pack("{s:s, s:s, s:i, s:i, s:i}", "status", "ok", "database", "ok",
				    "connections", st.connected, "pool_size", st.size, "busy",
				    st.busy));
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
