#include "core/metrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "base/alloc.h"

enum metric_kind { METRIC_COUNTER, METRIC_GAUGE };

static const struct {
	const char *name;
	enum metric_kind kind;
	const char *help;
} metric_defs[METRIC_COUNT] = {
	[METRIC_HTTP_CONNECTIONS] = { "flowstate_http_connections", METRIC_GAUGE,
				      "Open client connections (HTTP and WebSocket)" },
	[METRIC_HTTP_REJECTED_CONNECTIONS] = { "flowstate_http_rejected_connections_total",
					       METRIC_COUNTER,
					       "Connections closed at accept (max connections)" },
	[METRIC_AUTH_FAILURES] = { "flowstate_auth_failures_total", METRIC_COUNTER,
				   "Rejected logins, refreshes and bearer tokens" },
	[METRIC_REFRESH_REUSE_DETECTED] = { "flowstate_refresh_token_reuse_total", METRIC_COUNTER,
					    "Reused refresh tokens (their family was revoked)" },
	[METRIC_KDF_JOBS] = { "flowstate_password_kdf_jobs_total", METRIC_COUNTER,
			      "Password hash computations run on worker threads" },
	[METRIC_OPS_COMMITTED] = { "flowstate_ops_committed_total", METRIC_COUNTER,
				   "Operations committed by this node" },
	[METRIC_COMMIT_FAILURES] = { "flowstate_commit_failures_total", METRIC_COUNTER,
				     "Group-commit batches that failed" },
	[METRIC_COMMIT_CANVASES_BUSY] = { "flowstate_commit_canvases_busy_total", METRIC_COUNTER,
					  "Canvases a batch found held by another node's batch "
					  "(sent again, then waited for)" },
	[METRIC_SNAPSHOTS_WRITTEN] = { "flowstate_snapshots_written_total", METRIC_COUNTER,
				       "Canvas snapshots written" },
	[METRIC_STATE_WORKER_FETCHES] = { "flowstate_state_worker_fetches_total", METRIC_COUNTER,
					  "Canvas states too large to receive on the event loop, read "
					  "by a worker thread on a connection of its own" },
	[METRIC_STATE_STORED_TEXTS] = { "flowstate_state_stored_texts_total", METRIC_COUNTER,
					"Canvas states sent as a stored text (the canvas's head text or "
					"a snapshot's at that version), without being rebuilt" },
	[METRIC_STATE_HEAD_TEXTS_WRITTEN] = { "flowstate_state_head_texts_written_total",
					      METRIC_COUNTER,
					      "Canvas head texts kept in canvas_heads after a build at "
					      "the head" },
	[METRIC_WS_CONNECTIONS] = { "flowstate_ws_connections", METRIC_GAUGE,
				    "Open WebSocket sessions" },
	[METRIC_ROOMS] = { "flowstate_rooms", METRIC_GAUGE, "Canvas rooms on this node" },
	[METRIC_OPS_DELIVERED] = { "flowstate_room_ops_delivered_total", METRIC_COUNTER,
				   "Operations delivered in order to rooms" },
	[METRIC_OPS_FETCHED] = { "flowstate_room_ops_fetched_total", METRIC_COUNTER,
				 "Operations rooms read back from Postgres (gap and head repairs)" },
	[METRIC_DUPLICATES_DROPPED] = { "flowstate_room_duplicates_dropped_total", METRIC_COUNTER,
					"Operations a room received again and dropped" },
	[METRIC_GAP_FETCHES] = { "flowstate_room_gap_fetches_total", METRIC_COUNTER,
				 "Reads of missed versions from Postgres: gaps that timed out and "
				 "rooms the head check found behind" },
	[METRIC_HEAD_CHECKS] = { "flowstate_room_head_checks_total", METRIC_COUNTER,
				 "Periodic checks of rooms against canvases.version" },
	[METRIC_WS_RECONNECTS] = { "flowstate_ws_reconnects_total", METRIC_COUNTER,
				   "WebSocket joins that resume from a version (?since=)" },
	[METRIC_WS_TRANSIENT_DROPPED] = { "flowstate_ws_transient_dropped_total", METRIC_COUNTER,
					  "Cursor/stroke/presence frames dropped for slow clients" },
	[METRIC_WS_SLOW_CLIENTS_CLOSED] = { "flowstate_ws_slow_clients_closed_total",
					    METRIC_COUNTER,
					    "Clients closed past the hard output limit" },
	[METRIC_WS_STALLED_CLOSED] = { "flowstate_ws_stalled_clients_closed_total", METRIC_COUNTER,
				       "Clients that stopped reading, closed after the stall timeout" },
	[METRIC_WS_LAGGING] = { "flowstate_ws_lagging_total", METRIC_COUNTER,
				"Times a client fell behind and was switched to batched catch-up" },
	[METRIC_WS_OUTPUT_HIGH_WATER] = { "flowstate_ws_output_high_water_bytes", METRIC_GAUGE,
					  "Most output ever queued for one WebSocket client (bytes)" },
	[METRIC_WS_RATE_LIMITED] = { "flowstate_ws_rate_limited_total", METRIC_COUNTER,
				     "Client operations refused by the rate limit" },
	[METRIC_BUS_CONNECTIONS_UP] = { "flowstate_redis_connections_up", METRIC_GAUGE,
					"Redis connections up (publisher + subscriber)" },
	[METRIC_BUS_RECONNECTS] = { "flowstate_redis_reconnects_total", METRIC_COUNTER,
				    "Redis connections lost and retried" },
	[METRIC_BUS_DEAD_SUBSCRIBER] = { "flowstate_redis_dead_subscriber_total", METRIC_COUNTER,
					 "Subscriber connections dropped because heartbeats stopped" },
	[METRIC_BUS_SILENT_PUBLISHER] = { "flowstate_redis_silent_publisher_total", METRIC_COUNTER,
					  "Publisher connections dropped because Redis stopped "
					  "answering" },
	[METRIC_BUS_PUBLISHED] = { "flowstate_bus_published_total", METRIC_COUNTER,
				   "Messages published to Redis" },
	[METRIC_BUS_PUBLISH_DROPPED] = { "flowstate_bus_publish_dropped_total", METRIC_COUNTER,
					 "Messages not published (Redis down or behind)" },
	[METRIC_BUS_RECEIVED] = { "flowstate_bus_received_total", METRIC_COUNTER,
				  "Canvas messages received from Redis" },
};

#define HIST_MAX_BUCKETS 16

static const struct {
	const char *name;
	const char *help;
	size_t nbuckets;
	double bounds[HIST_MAX_BUCKETS];
} histogram_defs[HISTOGRAM_COUNT] = {
	[METRIC_HIST_COMMIT_SECONDS] = { "flowstate_commit_duration_seconds",
					 "Group-commit round trip to Postgres", 12,
					 { 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25,
					   0.5, 1.0, 5.0 } },
	[METRIC_HIST_COMMIT_BATCH_OPS] = { "flowstate_commit_batch_ops",
					   "Operations per group-commit batch", 10,
					   { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512 } },
	[METRIC_HIST_DELIVERY_LAG_SECONDS] = { "flowstate_delivery_lag_seconds",
					       "Op batches: commit on another node to arrival here "
					       "(wall clocks; includes their skew)",
					       12,
					       { 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
						 0.25, 0.5, 1.0, 5.0 } },
	[METRIC_HIST_EVENT_LOOP_LAG_SECONDS] = { "flowstate_event_loop_lag_seconds",
						 "How late the event loop ran a 50 ms timer (how "
						 "long it was held by other work)",
						 12,
						 { 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25,
						   0.5, 1.0, 2.5, 5.0 } },
	[METRIC_HIST_WS_CONNECTION_SECONDS] = { "flowstate_ws_connection_duration_seconds",
						"WebSocket sessions: open to closed", 12,
						{ 1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400,
						  28800, 86400 } },
};

static struct {
	uint64_t buckets[HIST_MAX_BUCKETS + 1];
	double sum;
	uint64_t count;
} histograms[HISTOGRAM_COUNT];

void metrics_histogram_observe(enum histogram_id id, double value)
{
	size_t b = 0;
	while (b < histogram_defs[id].nbuckets && value > histogram_defs[id].bounds[b])
		b++;
	histograms[id].buckets[b]++;
	histograms[id].sum += value;
	histograms[id].count++;
}

static void render_histograms(struct evbuffer *b)
{
	for (size_t h = 0; h < HISTOGRAM_COUNT; h++) {
		const char *name = histogram_defs[h].name;
		evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name,
				    histogram_defs[h].help, name);
		uint64_t cumulative = 0;
		for (size_t i = 0; i < histogram_defs[h].nbuckets; i++) {
			cumulative += histograms[h].buckets[i];
			evbuffer_add_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
					    histogram_defs[h].bounds[i],
					    (unsigned long long)cumulative);
		}
		evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n",
				    name, (unsigned long long)histograms[h].count, name,
				    histograms[h].sum, name, (unsigned long long)histograms[h].count);
	}
}

static int64_t metric_values[METRIC_COUNT];

#define LABEL_VALUE_SIZE 32

static const struct {
	const char *name;
	const char *label;
	const char *help;
} labeled_defs[LABELED_METRIC_COUNT] = {
	[METRIC_L_WS_MESSAGES_RECEIVED] = { "flowstate_ws_messages_received_total", "type",
					    "WebSocket messages received from clients, by type "
					    "(invalid: not a JSON object with a string type)" },
	[METRIC_L_WS_MESSAGES_SENT] = { "flowstate_ws_messages_sent_total", "type",
					"WebSocket messages queued to clients, by type (one per "
					"receiver of a broadcast)" },
};

static struct {
	char values[METRICS_LABEL_VALUES_MAX][LABEL_VALUE_SIZE];
	uint64_t counts[METRICS_LABEL_VALUES_MAX];
	size_t used;
} labeled[LABELED_METRIC_COUNT];

static bool label_value_ok(const char *v)
{
	size_t n = 0;
	for (; v && v[n]; n++) {
		char c = v[n];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return n > 0 && n < LABEL_VALUE_SIZE;
}

/* The slot of a value, added if there is room; the last slot is kept for "other". */
static size_t label_slot(enum labeled_metric_id id, const char *value)
{
	if (!label_value_ok(value))
		value = "other";
	for (size_t i = 0; i < labeled[id].used; i++)
		if (!strcmp(labeled[id].values[i], value))
			return i;
	if (labeled[id].used < METRICS_LABEL_VALUES_MAX - 1 || !strcmp(value, "other")) {
		size_t i = labeled[id].used++;
		snprintf(labeled[id].values[i], LABEL_VALUE_SIZE, "%s", value);
		return i;
	}
	return label_slot(id, "other");
}

void metrics_labeled_inc(enum labeled_metric_id id, const char *value)
{
	labeled[id].counts[label_slot(id, value)]++;
}

void metrics_labeled_declare(enum labeled_metric_id id, const char *const *values, size_t n)
{
	for (size_t i = 0; i < n; i++)
		(void)label_slot(id, values[i]);
}

static void render_labeled(struct evbuffer *b)
{
	for (size_t m = 0; m < LABELED_METRIC_COUNT; m++) {
		const char *name = labeled_defs[m].name;
		evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name,
				    labeled_defs[m].help, name);
		for (size_t i = 0; i < labeled[m].used; i++)
			evbuffer_add_printf(b, "%s{%s=\"%s\"} %llu\n", name, labeled_defs[m].label,
					    labeled[m].values[i],
					    (unsigned long long)labeled[m].counts[i]);
	}
}

/* Latency buckets in seconds (upper bounds), shared by every route. */
static const double latency_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					  0.1,   0.25,   0.5,   1.0,  2.5,   5.0 };
#define LATENCY_BUCKETS (sizeof(latency_buckets) / sizeof(latency_buckets[0]))
#define MAX_STATUSES 16

struct route_stats {
	uint64_t buckets[LATENCY_BUCKETS + 1]; /* last: +Inf */
	double sum;
	uint64_t count;
	int statuses[MAX_STATUSES];
	uint64_t status_counts[MAX_STATUSES];
	size_t status_used;
};

/* One per route the router registered, then one for requests that matched no route. */
static struct route_stats *route_stats;
static size_t route_stats_len;
static const char *const *route_names;

#define MAX_COLLECTORS 8
static struct {
	metrics_collector_fn fn;
	void *arg;
} collectors[MAX_COLLECTORS];
static size_t collector_count;

void metrics_set_routes(const char *const *names, size_t count)
{
	free(route_stats);
	route_names = names;
	route_stats_len = count + 1;
	route_stats = xcalloc(route_stats_len, sizeof(*route_stats));
}

void metrics_add_collector(metrics_collector_fn fn, void *arg)
{
	if (collector_count == MAX_COLLECTORS)
		abort(); /* a wiring bug, found at startup */
	collectors[collector_count].fn = fn;
	collectors[collector_count++].arg = arg;
}

void metrics_reset(void)
{
	free(route_stats);
	route_stats = NULL;
	route_stats_len = 0;
	route_names = NULL;
	collector_count = 0;
}

void metrics_counter_inc(enum metric_id id)
{
	metric_values[id]++;
}

void metrics_counter_add(enum metric_id id, uint64_t n)
{
	metric_values[id] += (int64_t)n;
}

void metrics_gauge_add(enum metric_id id, int64_t delta)
{
	metric_values[id] += delta;
}

void metrics_gauge_raise(enum metric_id id, int64_t value)
{
	if (value > metric_values[id])
		metric_values[id] = value;
}

void metrics_http_observe(int route_id, int status, double seconds)
{
	if (!route_stats)
		metrics_set_routes(NULL, 0);
	struct route_stats *rs = &route_stats[route_id >= 0 && (size_t)route_id < route_stats_len - 1
						      ? (size_t)route_id
						      : route_stats_len - 1];
	size_t b = 0;
	while (b < LATENCY_BUCKETS && seconds > latency_buckets[b])
		b++;
	rs->buckets[b]++;
	rs->sum += seconds;
	rs->count++;
	for (size_t i = 0; i < rs->status_used; i++) {
		if (rs->statuses[i] == status) {
			rs->status_counts[i]++;
			return;
		}
	}
	/* Statuses per route are a handful; the bound only guards against a bug. */
	if (rs->status_used < MAX_STATUSES) {
		rs->statuses[rs->status_used] = status;
		rs->status_counts[rs->status_used++] = 1;
	}
}

static const char *route_label(size_t i)
{
	return i + 1 < route_stats_len ? route_names[i] : "unmatched";
}

char *metrics_render(size_t *len)
{
	struct evbuffer *b = evbuffer_new();
	for (size_t i = 0; i < METRIC_COUNT; i++) {
		evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", metric_defs[i].name,
				    metric_defs[i].help, metric_defs[i].name,
				    metric_defs[i].kind == METRIC_COUNTER ? "counter" : "gauge",
				    metric_defs[i].name, (long long)metric_values[i]);
	}

	evbuffer_add_printf(b, "# HELP flowstate_http_requests_total HTTP requests by route and "
			       "status\n# TYPE flowstate_http_requests_total counter\n");
	for (size_t r = 0; route_stats && r < route_stats_len; r++) {
		const struct route_stats *rs = &route_stats[r];
		for (size_t i = 0; i < rs->status_used; i++)
			evbuffer_add_printf(b,
					    "flowstate_http_requests_total{route=\"%s\",status=\"%d\"} "
					    "%llu\n",
					    route_label(r), rs->statuses[i],
					    (unsigned long long)rs->status_counts[i]);
	}
	evbuffer_add_printf(b, "# HELP flowstate_http_request_duration_seconds HTTP request "
			       "latency by route\n# TYPE flowstate_http_request_duration_seconds "
			       "histogram\n");
	for (size_t r = 0; route_stats && r < route_stats_len; r++) {
		const struct route_stats *rs = &route_stats[r];
		if (!rs->count)
			continue;
		uint64_t cumulative = 0;
		for (size_t i = 0; i < LATENCY_BUCKETS; i++) {
			cumulative += rs->buckets[i];
			evbuffer_add_printf(b,
					    "flowstate_http_request_duration_seconds_bucket{route=\"%s\","
					    "le=\"%g\"} %llu\n",
					    route_label(r), latency_buckets[i],
					    (unsigned long long)cumulative);
		}
		evbuffer_add_printf(b,
				    "flowstate_http_request_duration_seconds_bucket{route=\"%s\","
				    "le=\"+Inf\"} %llu\n"
				    "flowstate_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
				    "flowstate_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
				    route_label(r), (unsigned long long)rs->count, route_label(r),
				    rs->sum, route_label(r), (unsigned long long)rs->count);
	}

	render_histograms(b);
	render_labeled(b);

	for (size_t i = 0; i < collector_count; i++)
		collectors[i].fn(b, collectors[i].arg);

	*len = evbuffer_get_length(b);
	char *text = xmalloc(*len + 1);
	evbuffer_remove(b, text, *len);
	text[*len] = '\0';
	evbuffer_free(b);
	return text;
}
