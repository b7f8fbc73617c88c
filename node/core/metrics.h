/*
 * Prometheus metrics of the node. Counters and gauges are plain integers updated on the event
 * loop (one thread), so no atomics are needed; /metrics renders them in the text exposition
 * format. Names and help texts live in one table in metrics.c.
 */
#ifndef FLOWSTATE_METRICS_H
#define FLOWSTATE_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

enum metric_id {
	METRIC_HTTP_CONNECTIONS,            /* gauge */
	METRIC_HTTP_REJECTED_CONNECTIONS,   /* counter */
	METRIC_AUTH_FAILURES,               /* counter */
	METRIC_REFRESH_REUSE_DETECTED,      /* counter */
	METRIC_KDF_JOBS,                    /* counter */
	METRIC_OPS_COMMITTED,               /* counter */
	METRIC_COMMIT_FAILURES,             /* counter */
	METRIC_COMMIT_CANVASES_BUSY,        /* counter: canvases another node's batch held */
	METRIC_SNAPSHOTS_WRITTEN,           /* counter */
	METRIC_STATE_WORKER_FETCHES,        /* counter: big states a worker read (store/state.c) */
	METRIC_STATE_STORED_TEXTS,          /* counter: states sent as a stored text */
	METRIC_STATE_HEAD_TEXTS_WRITTEN,    /* counter: head texts kept in canvas_heads */
	METRIC_WS_CONNECTIONS,              /* gauge */
	METRIC_ROOMS,                       /* gauge */
	METRIC_OPS_DELIVERED,               /* counter: op deliveries to rooms (in order) */
	METRIC_OPS_FETCHED,                 /* counter: ops read back from Postgres by rooms */
	METRIC_DUPLICATES_DROPPED,          /* counter */
	METRIC_GAP_FETCHES,                 /* counter */
	METRIC_HEAD_CHECKS,                 /* counter */
	METRIC_WS_RECONNECTS,               /* counter: WebSocket joins with ?since= */
	METRIC_WS_TRANSIENT_DROPPED,        /* counter: cursors/strokes dropped for slow clients */
	METRIC_WS_SLOW_CLIENTS_CLOSED,      /* counter */
	METRIC_WS_STALLED_CLOSED,           /* counter: clients that stopped reading, closed */
	METRIC_WS_LAGGING,                  /* counter: sessions that fell behind (batched) */
	METRIC_WS_OUTPUT_HIGH_WATER,        /* gauge: most output queued for one client, ever */
	METRIC_WS_RATE_LIMITED,             /* counter */
	METRIC_BUS_CONNECTIONS_UP,          /* gauge: 0..2 (publisher, subscriber) */
	METRIC_BUS_RECONNECTS,              /* counter */
	METRIC_BUS_DEAD_SUBSCRIBER,         /* counter */
	METRIC_BUS_SILENT_PUBLISHER,        /* counter */
	METRIC_BUS_PUBLISHED,               /* counter */
	METRIC_BUS_PUBLISH_DROPPED,         /* counter */
	METRIC_BUS_RECEIVED,                /* counter */
	METRIC_COUNT
};

enum histogram_id {
	METRIC_HIST_COMMIT_SECONDS,         /* one group-commit round trip */
	METRIC_HIST_COMMIT_BATCH_OPS,       /* ops per group-commit batch */
	METRIC_HIST_DELIVERY_LAG_SECONDS,   /* publish on another node → received here */
	METRIC_HIST_EVENT_LOOP_LAG_SECONDS, /* a timer's lateness: how long the loop was held */
	METRIC_HIST_WS_CONNECTION_SECONDS,  /* a WebSocket session, open to closed */
	HISTOGRAM_COUNT
};

void metrics_counter_inc(enum metric_id id);
void metrics_counter_add(enum metric_id id, uint64_t n);
void metrics_gauge_add(enum metric_id id, int64_t delta);
/* A high-water mark: the gauge becomes value if that is more. */
void metrics_gauge_raise(enum metric_id id, int64_t value);

void metrics_histogram_observe(enum histogram_id id, double value);

/*
 * Counters with one label (flowstate_ws_messages_received_total{type="cursor"}). Label values
 * are copied; each counter holds at most METRICS_LABEL_VALUES_MAX distinct values, and any
 * value past that bound (or one that is empty, too long or not [a-z0-9_]) counts as "other",
 * so a bug can never make the exposition grow without bound. Never pass untrusted strings.
 */
enum labeled_metric_id {
	METRIC_L_WS_MESSAGES_RECEIVED,      /* type: the client message's type */
	METRIC_L_WS_MESSAGES_SENT,          /* type: the server message's type */
	LABELED_METRIC_COUNT
};
#define METRICS_LABEL_VALUES_MAX 32
void metrics_labeled_inc(enum labeled_metric_id id, const char *value);
/* Values exposed at 0 before they first occur (so dashboards and alerts find the series). */
void metrics_labeled_declare(enum labeled_metric_id id, const char *const *values, size_t n);

/* Route labels for the HTTP metrics (index = route id); names are borrowed for good. */
void metrics_set_routes(const char *const *names, size_t count);
/* One finished HTTP request: route id (-1 when unmatched), status, duration. */
void metrics_http_observe(int route_id, int status, double seconds);

/* A module's own metrics, appended in exposition format at every render (the db pool's
 * statistics, say): registered by the composition root, so this module depends on none. */
typedef void (*metrics_collector_fn)(struct evbuffer *out, void *arg);
void metrics_add_collector(metrics_collector_fn fn, void *arg);
/* Forgets routes and collectors (process exit). */
void metrics_reset(void);

/* Renders the exposition text; caller frees. */
char *metrics_render(size_t *len);

#endif
