/*
 * Node configuration: one typed table (name, environment variable, type, default, bounds,
 * description) that is both the parser and the source of `flowstate-node --help`, in the manner
 * of pgbouncer's and redis's config tables. Pure: the environment is read through a lookup
 * function so tests can feed any set of variables.
 */
#ifndef FLOWSTATE_CONFIG_H
#define FLOWSTATE_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

enum config_mode { CONFIG_MODE_DEVELOPMENT, CONFIG_MODE_PRODUCTION };

struct config {
	enum config_mode mode;
	char *host;
	int port;
	char *node_id;
	char *database_url;
	char *redis_url;
	char *jwt_secret;
	int access_token_ttl;   /* seconds */
	int refresh_token_ttl;  /* seconds */
	char *log_level;
	int scrypt_log2n;
	int kdf_threads;
	int canvas_threads;     /* worker threads that build, serialize and export canvas states */
	int db_pool_size;
	int db_queue_max;
	int db_query_timeout_ms; /* deadline of every Postgres query, queued or in flight */
	int max_body_bytes;
	int max_header_bytes;
	int max_connections;
	int idle_timeout;       /* seconds */
	int header_timeout;     /* seconds a request head may take to arrive whole (408) */
	int shutdown_timeout;   /* seconds */
	bool migrate_on_start;
	int snapshot_every;     /* ops between automatic snapshots */
	int snapshot_quiet_ms;  /* quiet time before the head text is kept (0: never) */
	int commit_linger_us;   /* longest wait of a hot canvas's op for batch companions */
	int commit_batches;     /* group-commit batches in flight at once per node */
	/* canvas size limits, enforced at commit (422 canvas_full) */
	int max_shapes;         /* live shapes per canvas */
	int max_state_bytes;    /* canonical state JSON bytes per canvas */
	int max_path_points;    /* points of one path or line */
	int ops_page_max;       /* upper bound of ?limit= on operation listings */
	/* WebSocket sessions and rooms */
	int ws_max_message;     /* bytes of one client message (1009 above) */
	int ws_soft_limit;      /* output bytes above which cursors/strokes are dropped */
	int ws_hard_limit;      /* output bytes above which the client is closed (1013) */
	int ws_ping_interval;   /* seconds between server pings */
	int ws_idle_timeout;    /* seconds of client silence before closing */
	int ws_stall_timeout;   /* seconds output may wait without the client reading a byte */
	char *ws_origins;       /* comma-separated allowed Origin values; empty = any */
	int ws_ops_per_second;  /* token bucket refill per connection */
	int ws_ops_burst;       /* token bucket size */
	int user_ops_per_second; /* per user per node, REST and WebSocket writes together */
	int user_ops_burst;
	int ws_max_ops_per_message;
	int ws_cursor_hz;       /* cursor relays per second per session, at most */
	int sync_max_ops;       /* sync sends ops when at most this many are missing, else state */
	int room_grace;         /* seconds an empty room is kept */
	int gap_timeout_ms;     /* a version gap older than this is fetched from Postgres */
	int head_check_ms;      /* period of the room's check against canvases.version */
	/* Redis bus and presence */
	int bus_heartbeat_ms;   /* heartbeat publish period (subscriber probe) */
	int bus_dead_ms;        /* no heartbeat back for this long: subscriber is dead */
	int presence_ttl;       /* seconds a presence entry lives without a refresh */
	int access_poll_ms;     /* period of the node's read of the access feed (live permissions) */
	char *public_url;       /* the web client's base URL, for invite links ("" = relative) */
	int fault_bus_drop_every; /* testing only: drop every Nth incoming op batch (0: off) */
	/* exports and imports */
	int export_png_max_pixels; /* largest PNG export (422 above) */
	int export_png_jobs;    /* PNG renders queued or running at once (503 above) */
};

/* Returns the value of an environment variable, or NULL. */
typedef const char *(*config_lookup_fn)(const char *name, void *arg);

/*
 * Fills cfg from defaults and the environment. On a bad value or a production-mode safety
 * violation returns false with a message in err (cfg is then freed). Strings in cfg are owned by
 * cfg: release with config_free().
 */
bool config_load(struct config *cfg, config_lookup_fn lookup, void *arg, char *err, size_t err_size)
	__attribute__((warn_unused_result));
void config_free(struct config *cfg);
/* Prints the settings table (for --help). */
void config_print_help(FILE *out);
/* Logs the effective configuration, secrets redacted. */
void config_log(const struct config *cfg);

#endif
