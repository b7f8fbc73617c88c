#include "base/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"

enum config_type { CT_STRING, CT_INT, CT_BOOL, CT_MODE, CT_LOG_LEVEL };

struct config_entry {
	const char *env;
	enum config_type type;
	size_t offset;
	const char *dev_default;  /* NULL: no default (required) */
	long min, max;            /* for CT_INT */
	bool secret;
	const char *description;
};

#define OFF(field) offsetof(struct config, field)

/*
 * Development defaults are safe local values (loopback services, a fixed dev secret). In
 * production mode the entries marked in config_check_production() must be set explicitly.
 */
static const struct config_entry config_table[] = {
	{ "FLOWSTATE_MODE", CT_MODE, OFF(mode), "development", 0, 0, false,
	  "development (safe local defaults) or production (refuses weak or missing secrets)" },
	{ "FLOWSTATE_HOST", CT_STRING, OFF(host), "127.0.0.1", 0, 0, false,
	  "address to listen on" },
	{ "FLOWSTATE_PORT", CT_INT, OFF(port), "8081", 1, 65535, false,
	  "port for REST and WebSocket" },
	{ "FLOWSTATE_NODE_ID", CT_STRING, OFF(node_id), "", 0, 0, false,
	  "node name in logs and metrics (default: hostname:port)" },
	{ "FLOWSTATE_DATABASE_URL", CT_STRING, OFF(database_url),
	  "postgresql://flowstate@127.0.0.1:5432/flowstate", 0, 0, true,
	  "libpq connection string or URL of the Postgres database (required in production)" },
	{ "FLOWSTATE_REDIS_URL", CT_STRING, OFF(redis_url), "redis://127.0.0.1:6379", 0, 0, false,
	  "Redis URL for pub/sub fan-out (required in production)" },
	{ "FLOWSTATE_JWT_SECRET", CT_STRING, OFF(jwt_secret),
	  "flowstate-development-secret-do-not-use-in-production", 0, 0, true,
	  "HS256 signing secret for access tokens; production requires >= 32 bytes" },
	{ "FLOWSTATE_ACCESS_TOKEN_TTL", CT_INT, OFF(access_token_ttl), "900", 30, 86400, false,
	  "access token lifetime in seconds" },
	{ "FLOWSTATE_REFRESH_TOKEN_TTL", CT_INT, OFF(refresh_token_ttl), "2592000", 60, 31536000,
	  false, "refresh token lifetime in seconds" },
	{ "FLOWSTATE_LOG_LEVEL", CT_LOG_LEVEL, OFF(log_level), "info", 0, 0, false,
	  "debug, info, warn or error" },
	{ "FLOWSTATE_SCRYPT_LOG2N", CT_INT, OFF(scrypt_log2n), "15", 10, 20, false,
	  "scrypt cost for password hashing, log2(N) with r=8 p=1 (production: >= 14)" },
	{ "FLOWSTATE_KDF_THREADS", CT_INT, OFF(kdf_threads), "2", 1, 64, false,
	  "worker threads for password hashing (kept off the event loop)" },
	{ "FLOWSTATE_CANVAS_THREADS", CT_INT, OFF(canvas_threads), "2", 1, 64, false,
	  "worker threads that build, serialize and export canvas states (kept off the event "
	  "loop)" },
	{ "FLOWSTATE_DB_POOL_SIZE", CT_INT, OFF(db_pool_size), "4", 1, 64, false,
	  "Postgres connections per node" },
	{ "FLOWSTATE_DB_QUEUE_MAX", CT_INT, OFF(db_queue_max), "4096", 16, 1000000, false,
	  "queries waiting for a connection before requests get 503" },
	{ "FLOWSTATE_DB_QUERY_TIMEOUT_MS", CT_INT, OFF(db_query_timeout_ms), "5000", 100, 600000,
	  false, "deadline of every Postgres query, queued or running; past it the request fails "
		 "as retryable (503) and a connection still running it is dropped" },
	{ "FLOWSTATE_MAX_BODY_BYTES", CT_INT, OFF(max_body_bytes), "1048576", 1024, 67108864, false,
	  "largest accepted request body (413 above)" },
	{ "FLOWSTATE_MAX_HEADER_BYTES", CT_INT, OFF(max_header_bytes), "16384", 1024, 1048576, false,
	  "largest accepted request head (431 above)" },
	{ "FLOWSTATE_MAX_CONNECTIONS", CT_INT, OFF(max_connections), "20000", 16, 1000000, false,
	  "connections accepted at once; further ones are closed at accept" },
	{ "FLOWSTATE_IDLE_TIMEOUT", CT_INT, OFF(idle_timeout), "60", 1, 3600, false,
	  "seconds an HTTP keep-alive connection may stay idle" },
	{ "FLOWSTATE_HEADER_TIMEOUT", CT_INT, OFF(header_timeout), "10", 1, 3600, false,
	  "seconds a request head may take from its first byte to its end (408 after)" },
	{ "FLOWSTATE_SHUTDOWN_TIMEOUT", CT_INT, OFF(shutdown_timeout), "10", 1, 600, false,
	  "seconds a SIGTERM drain may take before the process exits" },
	{ "FLOWSTATE_MIGRATE_ON_START", CT_BOOL, OFF(migrate_on_start), "true", 0, 0, false,
	  "apply pending schema migrations when the node starts" },
	{ "FLOWSTATE_SNAPSHOT_EVERY", CT_INT, OFF(snapshot_every), "50", 1, 1000000, false,
	  "fewest ops between automatic snapshots (spacing: max(this, the canvas's shapes))" },
	{ "FLOWSTATE_SNAPSHOT_QUIET_MS", CT_INT, OFF(snapshot_quiet_ms), "2000", 0, 600000, false,
	  "a canvas this node committed to and then quiet this long has its state at the head "
	  "built and kept (canvas_heads) for the next client that opens it; 0: off" },
	{ "FLOWSTATE_COMMIT_LINGER_US", CT_INT, OFF(commit_linger_us), "2000", 0, 100000, false,
	  "group commit: the longest an op on a busy canvas waits for companions (0: never)" },
	{ "FLOWSTATE_COMMIT_BATCHES", CT_INT, OFF(commit_batches), "2", 1, 64, false,
	  "group commit: batches in flight at once per node, each one transaction for every "
	  "canvas it holds (keep below FLOWSTATE_DB_POOL_SIZE: reads need connections too)" },
	{ "FLOWSTATE_MAX_SHAPES", CT_INT, OFF(max_shapes), "10000", 1, 10000000, false,
	  "shapes a canvas may hold; a commit past it answers 422 canvas_full" },
	{ "FLOWSTATE_MAX_STATE_BYTES", CT_INT, OFF(max_state_bytes), "10485760", 65536,
	  1073741824, false,
	  "bytes of a canvas's state (as GET /state serializes it); a commit past it answers "
	  "422 canvas_full" },
	{ "FLOWSTATE_MAX_PATH_POINTS", CT_INT, OFF(max_path_points), "5000", 2, 10000, false,
	  "points of one path or line shape; an op with more answers 422 canvas_full" },
	{ "FLOWSTATE_OPS_PAGE_MAX", CT_INT, OFF(ops_page_max), "1000", 1, 100000, false,
	  "largest ?limit= for operation listings" },
	{ "FLOWSTATE_WS_MAX_MESSAGE", CT_INT, OFF(ws_max_message), "65536", 1024, 16777216, false,
	  "largest WebSocket message from a client (close 1009 above)" },
	{ "FLOWSTATE_WS_SOFT_LIMIT", CT_INT, OFF(ws_soft_limit), "262144", 4096, 268435456, false,
	  "queued output bytes above which a client's cursor and stroke updates are dropped" },
	{ "FLOWSTATE_WS_HARD_LIMIT", CT_INT, OFF(ws_hard_limit), "4194304", 8192, 1073741824,
	  false, "queued output bytes above which a slow client is closed (1013)" },
	{ "FLOWSTATE_WS_PING_INTERVAL", CT_INT, OFF(ws_ping_interval), "20", 1, 3600, false,
	  "seconds between server pings on a WebSocket" },
	{ "FLOWSTATE_WS_IDLE_TIMEOUT", CT_INT, OFF(ws_idle_timeout), "60", 2, 86400, false,
	  "seconds a WebSocket client may stay silent (pongs count) before it is closed" },
	{ "FLOWSTATE_WS_STALL_TIMEOUT", CT_INT, OFF(ws_stall_timeout), "30", 1, 3600, false,
	  "seconds output may wait while a client reads nothing; then it is closed (1013) "
	  "after its queued data is dropped" },
	{ "FLOWSTATE_WS_ORIGINS", CT_STRING, OFF(ws_origins), "", 0, 0, false,
	  "comma-separated Origin values allowed to open WebSockets (empty: any)" },
	{ "FLOWSTATE_WS_OPS_PER_SECOND", CT_INT, OFF(ws_ops_per_second), "500", 1, 1000000, false,
	  "operations per second a connection may send (token bucket refill)" },
	{ "FLOWSTATE_WS_OPS_BURST", CT_INT, OFF(ws_ops_burst), "1000", 1, 1000000, false,
	  "operations a connection may send in a burst (token bucket size)" },
	{ "FLOWSTATE_USER_OPS_PER_SECOND", CT_INT, OFF(user_ops_per_second), "1000", 1, 1000000,
	  false, "operations per second one user may write on a node, all connections together" },
	{ "FLOWSTATE_USER_OPS_BURST", CT_INT, OFF(user_ops_burst), "2000", 1, 1000000, false,
	  "operations one user may write in a burst on a node (token bucket size)" },
	{ "FLOWSTATE_WS_MAX_OPS_PER_MESSAGE", CT_INT, OFF(ws_max_ops_per_message), "64", 1, 10000,
	  false, "operations in one `operations` message" },
	{ "FLOWSTATE_WS_CURSOR_HZ", CT_INT, OFF(ws_cursor_hz), "30", 1, 1000, false,
	  "cursor updates relayed per second per session, at most (coalesced)" },
	{ "FLOWSTATE_SYNC_MAX_OPS", CT_INT, OFF(sync_max_ops), "1000", 0, 1000000, false,
	  "a joining client missing at most this many ops gets them; otherwise the full state" },
	{ "FLOWSTATE_ROOM_GRACE", CT_INT, OFF(room_grace), "30", 0, 3600, false,
	  "seconds a canvas room is kept after its last client leaves" },
	{ "FLOWSTATE_GAP_TIMEOUT_MS", CT_INT, OFF(gap_timeout_ms), "50", 1, 60000, false,
	  "milliseconds a version gap may stay open before it is fetched from Postgres" },
	{ "FLOWSTATE_HEAD_CHECK_MS", CT_INT, OFF(head_check_ms), "2000", 50, 600000, false,
	  "period of each room's check of its delivered version against canvases.version" },
	{ "FLOWSTATE_BUS_HEARTBEAT_MS", CT_INT, OFF(bus_heartbeat_ms), "1000", 50, 60000, false,
	  "period of the heartbeat each node publishes to itself through Redis" },
	{ "FLOWSTATE_BUS_DEAD_MS", CT_INT, OFF(bus_dead_ms), "5000", 200, 600000, false,
	  "a Redis subscriber that has not received a heartbeat for this long is reconnected" },
	{ "FLOWSTATE_PRESENCE_TTL", CT_INT, OFF(presence_ttl), "30", 3, 3600, false,
	  "seconds a collaborator of a killed node stays in presence before it expires" },
	{ "FLOWSTATE_ACCESS_POLL_MS", CT_INT, OFF(access_poll_ms), "250", 20, 10000, false,
	  "period of each node's read of access changes (removals, role changes, deletions) that "
	  "open WebSockets must apply even when Redis lost the push" },
	{ "FLOWSTATE_PUBLIC_URL", CT_STRING, OFF(public_url), "", 0, 0, false,
	  "base URL of the web client (https://board.example.com), for the links invites answer "
	  "with; empty: links are relative (/#/invite/<token>)" },
	{ "FLOWSTATE_FAULT_BUS_DROP_EVERY", CT_INT, OFF(fault_bus_drop_every), "0", 0, 1000000,
	  false, "testing only (refused in production): drop every Nth op batch, comment batch and "
	  "access push from Redis (each counted apart)" },
	{ "FLOWSTATE_EXPORT_PNG_MAX_PIXELS", CT_INT, OFF(export_png_max_pixels), "16777216", 1024,
	  268435456, false, "largest PNG export in pixels, width x height (422 above)" },
	{ "FLOWSTATE_EXPORT_PNG_JOBS", CT_INT, OFF(export_png_jobs), "2", 1, 64, false,
	  "PNG exports rendered or waiting at once per node (503 above; each holds up to "
	  "4 bytes per pixel); also the number of export worker threads" },
};

#define CONFIG_ENTRIES (sizeof(config_table) / sizeof(config_table[0]))

static bool parse_bool(const char *s, bool *out)
{
	if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes") ||
	    !strcasecmp(s, "on")) {
		*out = true;
		return true;
	}
	if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no") ||
	    !strcasecmp(s, "off")) {
		*out = false;
		return true;
	}
	return false;
}

static bool config_set(struct config *cfg, const struct config_entry *e, const char *value,
		       char *err, size_t err_size)
{
	char *field = (char *)cfg + e->offset;
	switch (e->type) {
	case CT_STRING:
	case CT_LOG_LEVEL: {
		if (e->type == CT_LOG_LEVEL) {
			enum log_level level;
			if (!log_level_parse(value, &level)) {
				snprintf(err, err_size, "%s: expected debug, info, warn or error",
					 e->env);
				return false;
			}
		}
		char **slot = (char **)field;
		free(*slot);
		*slot = xstrdup(value);
		return true;
	}
	case CT_INT: {
		char *end;
		errno = 0;
		long v = strtol(value, &end, 10);
		if (errno || end == value || *end || v < e->min || v > e->max) {
			snprintf(err, err_size, "%s: expected an integer from %ld to %ld", e->env,
				 e->min, e->max);
			return false;
		}
		*(int *)field = (int)v;
		return true;
	}
	case CT_BOOL:
		if (!parse_bool(value, (bool *)field)) {
			snprintf(err, err_size, "%s: expected true or false", e->env);
			return false;
		}
		return true;
	case CT_MODE:
		if (!strcmp(value, "development")) {
			*(enum config_mode *)field = CONFIG_MODE_DEVELOPMENT;
		} else if (!strcmp(value, "production")) {
			*(enum config_mode *)field = CONFIG_MODE_PRODUCTION;
		} else {
			snprintf(err, err_size, "%s: expected development or production", e->env);
			return false;
		}
		return true;
	}
	return false;
}

/* Production refuses to run on defaults that are only fit for a developer's laptop. */
static bool config_check_production(const struct config *cfg, config_lookup_fn lookup, void *arg,
				    char *err, size_t err_size)
{
	static const char *const required[] = { "FLOWSTATE_JWT_SECRET", "FLOWSTATE_DATABASE_URL",
						"FLOWSTATE_REDIS_URL" };
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		const char *v = lookup(required[i], arg);
		if (!v || !*v) {
			snprintf(err, err_size, "%s must be set in production mode", required[i]);
			return false;
		}
	}
	if (strlen(cfg->jwt_secret) < 32) {
		snprintf(err, err_size,
			 "FLOWSTATE_JWT_SECRET must be at least 32 bytes in production mode");
		return false;
	}
	if (strstr(cfg->jwt_secret, "do-not-use-in-production")) {
		snprintf(err, err_size, "FLOWSTATE_JWT_SECRET is the development default");
		return false;
	}
	if (cfg->fault_bus_drop_every != 0) {
		snprintf(err, err_size, "FLOWSTATE_FAULT_BUS_DROP_EVERY is for tests only");
		return false;
	}
	if (cfg->scrypt_log2n < 14) {
		snprintf(err, err_size, "FLOWSTATE_SCRYPT_LOG2N must be >= 14 in production mode");
		return false;
	}
	return true;
}

bool config_load(struct config *cfg, config_lookup_fn lookup, void *arg, char *err, size_t err_size)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < CONFIG_ENTRIES; i++) {
		const struct config_entry *e = &config_table[i];
		if (!config_set(cfg, e, e->dev_default, err, err_size))
			goto fail;
		const char *v = lookup(e->env, arg);
		if (v && *v && !config_set(cfg, e, v, err, err_size))
			goto fail;
	}
	if (cfg->mode == CONFIG_MODE_PRODUCTION &&
	    !config_check_production(cfg, lookup, arg, err, err_size))
		goto fail;
	if (!*cfg->node_id) {
		char host[64];
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "node");
		host[sizeof(host) - 1] = '\0';
		free(cfg->node_id);
		cfg->node_id = xasprintf("%s:%d", host, cfg->port);
	}
	return true;
fail:
	config_free(cfg);
	return false;
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < CONFIG_ENTRIES; i++) {
		const struct config_entry *e = &config_table[i];
		if (e->type == CT_STRING || e->type == CT_LOG_LEVEL) {
			char **slot = (char **)((char *)cfg + e->offset);
			free(*slot);
			*slot = NULL;
		}
	}
}

void config_print_help(FILE *out)
{
	fprintf(out, "Usage: flowstate-node [serve|migrate|--help|--version]\n\n"
		     "  serve     run the node (default): REST + WebSocket on one port\n"
		     "  migrate   apply pending schema migrations and exit\n\n"
		     "Settings (environment variables):\n");
	for (size_t i = 0; i < CONFIG_ENTRIES; i++) {
		const struct config_entry *e = &config_table[i];
		fprintf(out, "  %-28s %s\n", e->env, e->description);
		if (e->type == CT_INT)
			fprintf(out, "  %-28s   default %s, range %ld..%ld\n", "", e->dev_default,
				e->min, e->max);
		else if (e->secret)
			fprintf(out, "  %-28s   default: development value only\n", "");
		else if (e->dev_default && *e->dev_default)
			fprintf(out, "  %-28s   default %s\n", "", e->dev_default);
	}
}

void config_log(const struct config *cfg)
{
	/* URLs may embed passwords: log only that they are set. */
	log_info("config", "mode=%s host=%s port=%d node=%s database_url=<set> redis_url=<set> "
			   "pool=%d scrypt_log2n=%d kdf_threads=%d log_level=%s",
		 cfg->mode == CONFIG_MODE_PRODUCTION ? "production" : "development", cfg->host,
		 cfg->port, cfg->node_id,
		 cfg->db_pool_size, cfg->scrypt_log2n, cfg->kdf_threads, cfg->log_level);
}
