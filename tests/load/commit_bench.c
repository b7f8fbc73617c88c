/*
 * commit_bench: a closed-loop load generator for FlowState's REST write path,
 * POST /api/v1/canvases/{id}/operations.
 *
 * Each writer is one keep-alive HTTP/1.1 connection (libevent's evhttp client) that sends the
 * next op the moment the previous response arrives, so the offered load is exactly what the
 * server can absorb and the ack latency is the latency a client sees. Writers are spread
 * round-robin over the node URLs (or, with --route canvas, every writer of a canvas goes to
 * the same node, as the sticky gateway would send them). The ops are valid create_shape and
 * move_shape ops (docs/canvas-model.md) with a fresh UUID v4 client_op_id each.
 *
 * The run is bounded: a warmup (not measured), then --duration seconds or --max-ops acked ops,
 * whichever comes first, then a drain of the requests still in flight (bounded by
 * --drain-timeout). Only responses that arrive inside the measured window count; latency is
 * measured from the moment the request is handed to the connection to its complete response.
 * It only ever connects to 127.0.0.1.
 *
 * Output: one JSON object on stdout, progress on stderr. The totals over the whole run
 * (warmup and drain included) let the caller check the database: every 201 is one committed
 * op, every transport failure ("unknown") is an op that may or may not have committed. For the
 * report's plots it also carries the 201s of each second of the window and points of the
 * latency CDF.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "base/alloc.h"
#include "histogram.h"
#include "loadgen.h"
#include "base/validate.h"

#define MAX_NODES 64
#define MAX_STATUS 600          /* HTTP status codes 0..599; 0 = transport failure */
#define START_BATCH 32          /* writers started per ramp tick: spares the listen backlogs */
#define START_TICK_US 2000
#define ERROR_BACKOFF_US 10000  /* after a transport failure, so a dead node is not spun on */
#define CDF_POINTS 200          /* latency CDF points in the report */
#define FULL_SECOND_SLACK 0.005 /* a window second short by less than this still counts as full */

struct bench_node {
	char host[16];
	int port;
	char host_header[32];
	uint64_t ops;           /* 201s inside the window */
	size_t writers;
};

struct bench_canvas {
	char id[40];
	char path[96];
	char *authorization;    /* "Bearer <token>" */
};

/* One canvas a writer writes to, and the shapes it created there (it moves only those). */
struct writer_slot {
	size_t canvas;
	unsigned shapes;
};

struct writer {
	size_t index;
	size_t node;
	struct evhttp_connection *conn;
	struct writer_slot *slots;
	size_t slot_count, slot_cap, next_slot;
	struct writer_slot *current;
	bool current_is_create;
	bool in_flight;
	struct timespec sent;   /* when the latency of the op in flight starts: its send, or with
				   --rate the time it was due */
	struct event *retry;    /* backoff timer after a transport failure */
	/* open loop (--rate): ops fall due every `interval` seconds whatever the answers; an op
	 * due while one is in flight waits (backlog) and its latency counts from when it was due,
	 * so a slow server cannot hide its queueing (no coordinated omission) */
	struct event *tick;
	double interval;
	struct timespec next_due;      /* of the next op the tick will make due */
	struct timespec backlog_due;   /* the oldest op waiting, when backlog > 0 */
	uint64_t backlog;
};

enum phase { PHASE_RAMP, PHASE_MEASURE, PHASE_DRAIN, PHASE_DONE };

struct options {
	struct bench_node nodes[MAX_NODES];
	size_t node_count;
	const char *canvases_file;
	size_t writers_per_canvas;
	size_t max_connections;
	bool route_by_canvas;
	double duration;
	uint64_t max_ops;
	double warmup;
	int timeout;
	double drain_timeout;
	unsigned create_every;
	unsigned max_shapes;
	uint64_t seed;
	double rate;            /* ops/s offered over all writers (open loop); 0: closed loop */
};

struct bench {
	struct options opt;
	struct event_base *base;
	struct bench_canvas *canvases;
	size_t canvas_count;
	struct writer *writers;
	size_t writer_count, started_writers;
	enum phase phase;
	struct timespec t0, measure_start, measure_end;
	struct event *ramp_timer, *phase_timer, *drain_timer;
	size_t in_flight;

	struct hist *latency;           /* ns, 201s inside the window */
	uint64_t ops, errors;           /* inside the window */
	uint64_t *ops_by_second;        /* 201s in second i of the window */
	size_t seconds_len, seconds_cap;
	uint64_t window_status[MAX_STATUS];
	uint64_t total_sent, total_status[MAX_STATUS];
	uint64_t unfinished;            /* still in flight when the drain timed out */
};

static struct bench bench;

/* ---- small helpers ------------------------------------------------------------------------ */

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static uint64_t ns_between(const struct timespec *a, const struct timespec *b)
{
	int64_t ns = (int64_t)(b->tv_sec - a->tv_sec) * 1000000000 + (b->tv_nsec - a->tv_nsec);
	return ns > 0 ? (uint64_t)ns : 0;
}

static struct timeval timeval_of(double seconds)
{
	struct timeval tv;
	tv.tv_sec = (time_t)seconds;
	tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
	return tv;
}

/* xoshiro256**: client op ids need uniqueness, not secrecy, and this costs nanoseconds. */
static void uuid_v4(char out[37])
{
	uint64_t hi = rng_next(), lo = rng_next();
	hi = (hi & ~0xf000ull) | 0x4000ull;                       /* version 4 */
	lo = (lo & ~(3ull << 62)) | (2ull << 62);                 /* RFC 4122 variant */
	snprintf(out, 37, "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64,
		 hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48,
		 lo & (uint64_t)0xffffffffffff);
}

/* ---- the closed loop ---------------------------------------------------------------------- */

/* One more 201 in the window, at ns after its start: throughput over time for the report. */
static void count_in_second(uint64_t ns)
{
	size_t second = (size_t)(ns / 1000000000u);
	if (second >= bench.seconds_cap) {
		size_t cap = bench.seconds_cap ? bench.seconds_cap : 16;
		while (cap <= second)
			cap *= 2;
		bench.ops_by_second = xrealloc(bench.ops_by_second, cap * sizeof(uint64_t));
		memset(bench.ops_by_second + bench.seconds_cap, 0,
		       (cap - bench.seconds_cap) * sizeof(uint64_t));
		bench.seconds_cap = cap;
	}
	if (second >= bench.seconds_len)
		bench.seconds_len = second + 1;
	bench.ops_by_second[second]++;
}

static void writer_send(struct writer *w);
static void writer_send_due(struct writer *w, const struct timespec *due);

static void timespec_add(struct timespec *t, double seconds)
{
	long long ns = t->tv_nsec + (long long)(seconds * 1e9);
	t->tv_sec += ns / 1000000000;
	t->tv_nsec = ns % 1000000000;
}

/* Open loop: the next op of a writer that has a backlog goes at once, dated when it fell due. */
static bool writer_send_backlog(struct writer *w)
{
	if (!w->backlog)
		return false;
	struct timespec due = w->backlog_due;
	w->backlog--;
	timespec_add(&w->backlog_due, w->interval);
	writer_send_due(w, &due);
	return true;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;
	if (bench.phase >= PHASE_DRAIN)
		return;
	struct timespec due = w->next_due;
	timespec_add(&w->next_due, w->interval);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double wait = seconds_between(&now, &w->next_due);
	struct timeval tv = timeval_of(wait > 0 ? wait : 0);
	evtimer_add(w->tick, &tv);
	if (w->in_flight || w->backlog) {
		if (w->backlog++ == 0)
			w->backlog_due = due;
		return;
	}
	writer_send_due(w, &due);
}

static void enter_drain(void)
{
	if (bench.phase >= PHASE_DRAIN)
		return;
	clock_gettime(CLOCK_MONOTONIC, &bench.measure_end);
	bench.phase = PHASE_DRAIN;
	fprintf(stderr, "commit_bench: measured %" PRIu64 " ops in %.2fs; draining %zu in flight\n",
		bench.ops, seconds_between(&bench.measure_start, &bench.measure_end),
		bench.in_flight);
	if (bench.in_flight == 0) {
		bench.phase = PHASE_DONE;
		event_base_loopbreak(bench.base);
		return;
	}
	struct timeval tv = timeval_of(bench.opt.drain_timeout);
	evtimer_add(bench.drain_timer, &tv);
}

static void on_response(struct evhttp_request *req, void *arg)
{
	struct writer *w = arg;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!w->in_flight)
		return; /* a late callback after the drain gave up on this writer */
	w->in_flight = false;
	bench.in_flight--;

	int code = req ? evhttp_request_get_response_code(req) : 0;
	if (code < 0 || code >= MAX_STATUS)
		code = 0;
	bench.total_status[code]++;
	if (code == 201 && w->current_is_create)
		w->current->shapes++;

	if (bench.phase == PHASE_MEASURE) {
		bench.window_status[code]++;
		if (code == 201) {
			bench.ops++;
			bench.opt.nodes[w->node].ops++;
			hist_record(bench.latency, ns_between(&w->sent, &now));
			count_in_second(ns_between(&bench.measure_start, &now));
			if (bench.opt.max_ops && bench.ops >= bench.opt.max_ops)
				enter_drain();
		} else {
			bench.errors++;
		}
	}

	if (bench.phase >= PHASE_DRAIN) {
		if (bench.in_flight == 0 && bench.phase == PHASE_DRAIN) {
			bench.phase = PHASE_DONE;
			event_base_loopbreak(bench.base);
		}
		return;
	}
	if (code == 0) {
		struct timeval tv = { 0, ERROR_BACKOFF_US };
		evtimer_add(w->retry, &tv);
		return;
	}
	if (bench.opt.rate > 0)
		writer_send_backlog(w); /* else the tick sends the next one when it is due */
	else
		writer_send(w);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;
	if (bench.phase >= PHASE_DRAIN)
		return;
	if (bench.opt.rate > 0)
		writer_send_backlog(w);
	else
		writer_send(w);
}

/*
 * The next op of a writer: it cycles over its canvases; on each it creates a shape when it has
 * none there (and every --create-every ops while it has fewer than --max-shapes), and moves one
 * of its own shapes otherwise, like a user dragging things around.
 */
static void writer_send(struct writer *w)
{
	writer_send_due(w, NULL);
}

/* Sends the writer's next op; due: when it fell due (open loop), NULL: now. */
static void writer_send_due(struct writer *w, const struct timespec *due)
{
	struct writer_slot *slot = &w->slots[w->next_slot++ % w->slot_count];
	const struct bench_canvas *canvas = &bench.canvases[slot->canvas];
	char client_op_id[37], body[512];
	uuid_v4(client_op_id);
	int x = (int)(rng_next() % 4000), y = (int)(rng_next() % 3000);
	bool create = slot->shapes == 0 ||
		      (slot->shapes < bench.opt.max_shapes &&
		       rng_next() % bench.opt.create_every == 0);
	int len;
	if (create)
		len = snprintf(body, sizeof(body),
			       "{\"type\":\"create_shape\",\"client_op_id\":\"%s\",\"payload\":"
			       "{\"shape_id\":\"w%zu-%u\",\"kind\":\"rect\",\"x\":%d,\"y\":%d,"
			       "\"w\":120,\"h\":80,\"style\":{\"stroke\":\"#1f2937\","
			       "\"fill\":\"#fde68a\",\"width\":2,\"opacity\":1}}}",
			       client_op_id, w->index, slot->shapes, x, y);
	else
		len = snprintf(body, sizeof(body),
			       "{\"type\":\"move_shape\",\"client_op_id\":\"%s\",\"payload\":"
			       "{\"shape_id\":\"w%zu-%u\",\"x\":%d,\"y\":%d}}",
			       client_op_id, w->index, (unsigned)(rng_next() % slot->shapes), x, y);
	w->current = slot;
	w->current_is_create = create;

	struct evhttp_request *req = evhttp_request_new(on_response, w);
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	evhttp_add_header(headers, "Host", bench.opt.nodes[w->node].host_header);
	evhttp_add_header(headers, "Content-Type", "application/json");
	evhttp_add_header(headers, "Authorization", canvas->authorization);
	evbuffer_add(evhttp_request_get_output_buffer(req), body, (size_t)len);
	w->in_flight = true;
	bench.in_flight++;
	bench.total_sent++;
	if (due)
		w->sent = *due;
	else
		clock_gettime(CLOCK_MONOTONIC, &w->sent);
	if (evhttp_make_request(w->conn, req, EVHTTP_REQ_POST, canvas->path) != 0 && w->in_flight) {
		/* Refused before anything was sent (evhttp has freed the request) and, unlike a
		 * failure on the wire, without calling on_response: account for it here. */
		w->in_flight = false;
		bench.in_flight--;
		bench.total_sent--;
		struct timeval tv = { 0, ERROR_BACKOFF_US };
		evtimer_add(w->retry, &tv);
	}
}

static void writer_start(struct writer *w)
{
	const struct bench_node *node = &bench.opt.nodes[w->node];
	w->conn = evhttp_connection_base_new(bench.base, NULL, node->host,
					     (unsigned short)node->port);
	if (!w->conn)
		die("cannot create a connection to %s:%d", node->host, node->port);
	evhttp_connection_set_timeout(w->conn, bench.opt.timeout);
	w->retry = evtimer_new(bench.base, on_retry, w);
	if (bench.opt.rate <= 0) {
		writer_send(w);
		return;
	}
	/* Open loop: each writer offers rate / writers ops/s, from a random phase so that the
	 * writers do not all fire together. */
	w->interval = (double)bench.writer_count / bench.opt.rate;
	w->tick = evtimer_new(bench.base, on_tick, w);
	clock_gettime(CLOCK_MONOTONIC, &w->next_due);
	double phase = w->interval * (double)(rng_next() % 1000000) / 1e6;
	timespec_add(&w->next_due, phase);
	struct timeval tv = timeval_of(phase);
	evtimer_add(w->tick, &tv);
}

/* Starts writers in small batches so thousands of connects do not overflow listen backlogs. */
static void on_ramp(evutil_socket_t fd, short what, void *arg)
{
	size_t end = bench.started_writers + START_BATCH;
	if (end > bench.writer_count)
		end = bench.writer_count;
	while (bench.started_writers < end)
		writer_start(&bench.writers[bench.started_writers++]);
	if (bench.started_writers < bench.writer_count) {
		struct timeval tv = { 0, START_TICK_US };
		evtimer_add(bench.ramp_timer, &tv);
	}
}

static void on_phase(evutil_socket_t fd, short what, void *arg)
{
	if (bench.phase == PHASE_RAMP) {
		clock_gettime(CLOCK_MONOTONIC, &bench.measure_start);
		bench.phase = PHASE_MEASURE;
		fprintf(stderr, "commit_bench: warmup done (%zu writers, %" PRIu64 " ops acked); "
			"measuring for %.1fs\n", bench.started_writers, bench.total_status[201],
			bench.opt.duration);
		struct timeval tv = timeval_of(bench.opt.duration);
		evtimer_add(bench.phase_timer, &tv);
	} else if (bench.phase == PHASE_MEASURE) {
		enter_drain();
	}
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	fprintf(stderr, "commit_bench: %zu requests still unanswered %.1fs after the end\n",
		bench.in_flight, bench.opt.drain_timeout);
	bench.unfinished = bench.in_flight;
	bench.phase = PHASE_DONE;
	event_base_loopbreak(bench.base);
}

/* ---- setup -------------------------------------------------------------------------------- */

static void parse_node(struct options *o, const char *arg)
{
	if (o->node_count == MAX_NODES)
		die("at most %d nodes", MAX_NODES);
	struct bench_node *n = &o->nodes[o->node_count];
	loadgen_parse_loopback("--node", arg, n->host, &n->port, n->host_header);
	o->node_count++;
}

/* Lines "<canvas id> <access token>"; blank lines and lines starting with # are skipped. */
static void load_canvases(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		die("%s: %s", path, strerror(errno));
	char *line = NULL;
	size_t cap = 0, count = 0, alloc = 0;
	ssize_t len;
	unsigned lineno = 0;
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
				   line[len - 1] == ' '))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		char *space = strchr(line, ' ');
		if (!space)
			die("%s:%u: expected '<canvas id> <access token>'", path, lineno);
		*space = '\0';
		const char *token = space + 1;
		while (*token == ' ')
			token++;
		if (!validate_uuid(line) || !*token)
			die("%s:%u: expected '<canvas id> <access token>'", path, lineno);
		if (count == alloc) {
			alloc = alloc ? alloc * 2 : 64;
			bench.canvases = xrealloc(bench.canvases, alloc * sizeof(*bench.canvases));
		}
		struct bench_canvas *c = &bench.canvases[count++];
		snprintf(c->id, sizeof(c->id), "%s", line);
		snprintf(c->path, sizeof(c->path), "/api/v1/canvases/%s/operations", c->id);
		c->authorization = xasprintf("Bearer %s", token);
	}
	free(line);
	fclose(f);
	if (count == 0)
		die("%s: no canvases", path);
	bench.canvas_count = count;
}

static void writer_add_slot(struct writer *w, size_t canvas)
{
	if (w->slot_count == w->slot_cap) {
		w->slot_cap = w->slot_cap ? w->slot_cap * 2 : 2;
		w->slots = xrealloc(w->slots, w->slot_cap * sizeof(*w->slots));
	}
	w->slots[w->slot_count++] = (struct writer_slot){ .canvas = canvas, .shapes = 0 };
}

/*
 * canvases x writers-per-canvas "slots" are dealt to at most --max-connections writers.
 * Route writer: slot s goes to writer s mod W, writer w to node w mod N (so the writers of one
 * canvas land on different nodes). Route canvas: canvas c lives on node c mod N and its slots
 * go round-robin to that node's writers, as behind the sticky gateway.
 */
static void assign_writers(void)
{
	struct options *o = &bench.opt;
	size_t slots = bench.canvas_count * o->writers_per_canvas;
	size_t count = slots < o->max_connections ? slots : o->max_connections;
	if (o->route_by_canvas && count < o->node_count)
		die("--route canvas needs at least one writer per node");
	struct writer *all = xcalloc(count, sizeof(*all));
	if (!o->route_by_canvas) {
		for (size_t s = 0; s < slots; s++)
			writer_add_slot(&all[s % count], s / o->writers_per_canvas);
	} else {
		size_t *next = xcalloc(o->node_count, sizeof(*next));
		for (size_t c = 0; c < bench.canvas_count; c++) {
			size_t n = c % o->node_count;
			size_t per_node = (count - n + o->node_count - 1) / o->node_count;
			for (size_t k = 0; k < o->writers_per_canvas; k++) {
				size_t local = next[n]++ % per_node;
				writer_add_slot(&all[n + local * o->node_count], c);
			}
		}
		free(next);
	}
	/* Writer w is on node w mod N; with --route canvas a node can have fewer slots than
	 * writers, and a writer with nothing to write is not started. */
	bench.writers = xcalloc(count, sizeof(*bench.writers));
	for (size_t w = 0; w < count; w++) {
		if (all[w].slot_count == 0)
			continue;
		struct writer *dst = &bench.writers[bench.writer_count];
		*dst = all[w];
		dst->index = bench.writer_count++;
		dst->node = w % o->node_count;
		o->nodes[dst->node].writers++;
	}
	free(all);
}

/* ---- report ------------------------------------------------------------------------------- */

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static void print_statuses(const uint64_t *status)
{
	bool first = true;
	putchar('{');
	for (int i = 0; i < MAX_STATUS; i++) {
		if (!status[i])
			continue;
		if (i == 0)
			printf("%s\"transport_error\":%" PRIu64, first ? "" : ",", status[i]);
		else
			printf("%s\"%d\":%" PRIu64, first ? "" : ",", i, status[i]);
		first = false;
	}
	putchar('}');
}

/*
 * "ops_per_second_series" holds the whole seconds of the window only: the window rarely ends on
 * a second, and its last fraction of a second, counted as a second, would plot as a collapse.
 * That remainder goes to "ops_per_second_partial" instead.
 */
static void print_series(double secs)
{
	size_t full = secs > 0 ? (size_t)floor(secs + FULL_SECOND_SLACK) : 0;
	uint64_t rest = 0;
	printf("\"ops_per_second_series\":[");
	for (size_t i = 0; i < full; i++)
		printf("%s%" PRIu64, i ? "," : "", i < bench.seconds_len ? bench.ops_by_second[i] : 0);
	for (size_t i = full; i < bench.seconds_len; i++)
		rest += bench.ops_by_second[i];
	printf("],\"ops_per_second_partial\":{\"seconds\":%.3f,\"ops\":%" PRIu64 "},",
	       secs > (double)full ? secs - (double)full : 0.0, rest);
}

static void print_cdf(const struct hist *h)
{
	struct hist_cdf_point points[CDF_POINTS];
	size_t n = hist_cdf(h, points, CDF_POINTS);
	printf("\"latency_cdf_ms\":[");
	for (size_t i = 0; i < n; i++)
		printf("%s[%.4f,%.6f]", i ? "," : "", ms(points[i].value), points[i].fraction);
	printf("],");
}

static void print_report(void)
{
	double secs = seconds_between(&bench.measure_start, &bench.measure_end);
	const struct hist *h = bench.latency;
	uint64_t responses_other = 0;
	for (int i = 1; i < MAX_STATUS; i++)
		if (i != 201)
			responses_other += bench.total_status[i];
	printf("{\"ops\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"seconds\":%.3f,\"ops_per_sec\":%.1f,",
	       bench.ops, bench.errors, secs, secs > 0 ? (double)bench.ops / secs : 0.0);
	printf("\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,"
	       "\"max\":%.3f,\"mean\":%.3f,\"min\":%.3f},",
	       ms(hist_percentile(h, 50)), ms(hist_percentile(h, 90)), ms(hist_percentile(h, 99)),
	       ms(hist_percentile(h, 99.9)), ms(hist_max(h)), hist_mean(h) / 1e6, ms(hist_min(h)));
	print_cdf(h);
	print_series(secs);
	printf("\"statuses\":");
	print_statuses(bench.window_status);
	printf(",\"writers\":%zu,\"canvases\":%zu,\"writers_per_canvas\":%zu,\"route\":\"%s\","
	       "\"warmup_seconds\":%.1f,\"mode\":\"%s\",\"offered_ops_per_sec\":%.1f,",
	       bench.writer_count, bench.canvas_count, bench.opt.writers_per_canvas,
	       bench.opt.route_by_canvas ? "canvas" : "writer", bench.opt.warmup,
	       bench.opt.rate > 0 ? "open" : "closed", bench.opt.rate);
	printf("\"nodes\":[");
	for (size_t i = 0; i < bench.opt.node_count; i++)
		printf("%s{\"url\":\"http://%s\",\"writers\":%zu,\"ops\":%" PRIu64 "}", i ? "," : "",
		       bench.opt.nodes[i].host_header, bench.opt.nodes[i].writers,
		       bench.opt.nodes[i].ops);
	printf("],\"total\":{\"sent\":%" PRIu64 ",\"acked_201\":%" PRIu64
	       ",\"other_responses\":%" PRIu64 ",\"unknown\":%" PRIu64 ",\"statuses\":",
	       bench.total_sent, bench.total_status[201], responses_other,
	       bench.total_status[0] + bench.unfinished);
	print_statuses(bench.total_status);
	printf("}}\n");
}

/* ---- self test ---------------------------------------------------------------------------- */

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* How many of the n sorted values are <= v. */
static size_t count_at_most(const uint64_t *sorted, size_t n, uint64_t v)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (sorted[mid] <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The CDF points of h, recorded from the n sorted values: bounded in number, increasing, each
 * fraction exact, ending at (max, 1). Returns the number of failures. */
static int check_cdf(const struct hist *h, const uint64_t *sorted, size_t n)
{
	struct hist_cdf_point points[CDF_POINTS];
	size_t count = hist_cdf(h, points, CDF_POINTS);
	int failures = 0;
	if (count < CDF_POINTS / 2 || count > CDF_POINTS) {
		fprintf(stderr, "cdf: %zu points, expected %d at most and most of them\n", count,
			CDF_POINTS);
		failures++;
	}
	for (size_t i = 0; i < count && !failures; i++) {
		double exact = (double)count_at_most(sorted, n, points[i].value) / (double)n;
		if ((i && points[i].value <= points[i - 1].value) ||
		    fabs(points[i].fraction - exact) > 1e-12) {
			fprintf(stderr, "cdf point %zu: value %" PRIu64 " fraction %g, exact %g\n", i,
				points[i].value, points[i].fraction, exact);
			failures++;
		}
	}
	if (count && (points[count - 1].value != sorted[n - 1] ||
		      points[count - 1].fraction != 1.0)) {
		fprintf(stderr, "cdf does not end at (max, 1)\n");
		failures++;
	}
	struct hist *empty = hist_new();
	if (hist_cdf(empty, points, CDF_POINTS) != 0) {
		fprintf(stderr, "cdf of an empty histogram is not empty\n");
		failures++;
	}
	hist_record(empty, 7);
	if (hist_cdf(empty, points, CDF_POINTS) != 1 || points[0].value != 7 ||
	    points[0].fraction != 1.0) {
		fprintf(stderr, "cdf of one value is not (7, 1)\n");
		failures++;
	}
	hist_free(empty);
	return failures;
}

/* Checks the histogram against exact percentiles of random data over many magnitudes. */
static int self_test(void)
{
	enum { N = 200000 };
	uint64_t *values = xmalloc(N * sizeof(*values));
	struct hist *h = hist_new();
	rng_seed(42);
	for (size_t i = 0; i < N; i++) {
		values[i] = rng_next() >> (rng_next() % 64);
		hist_record(h, values[i]);
	}
	qsort(values, N, sizeof(*values), compare_u64);
	int failures = 0;
	const double ps[] = { 0.001, 1, 10, 50, 90, 99, 99.9, 99.99, 100 };
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		size_t rank = (size_t)ceil(ps[i] / 100.0 * N);
		uint64_t exact = values[rank ? rank - 1 : 0], got = hist_percentile(h, ps[i]);
		/* Never below the true value, and less than 1/128 above it. */
		if (got < exact || (double)(got - exact) > (double)exact / 128.0 + 1.0) {
			fprintf(stderr, "p%g: exact %" PRIu64 " histogram %" PRIu64 "\n", ps[i], exact,
				got);
			failures++;
		}
	}
	if (hist_max(h) != values[N - 1] || hist_min(h) != values[0] || hist_count(h) != N) {
		fprintf(stderr, "min/max/count mismatch\n");
		failures++;
	}
	failures += check_cdf(h, values, N);
	struct hist *small = hist_new();
	for (uint64_t v = 0; v < 256; v++)
		hist_record(small, v);
	if (hist_percentile(small, 50) != 127 || hist_percentile(small, 100) != 255) {
		fprintf(stderr, "exact range: p50 %" PRIu64 " p100 %" PRIu64 "\n",
			hist_percentile(small, 50), hist_percentile(small, 100));
		failures++;
	}
	hist_merge(small, h);
	if (hist_count(small) != N + 256 || hist_max(small) != values[N - 1] ||
	    hist_min(small) != 0) {
		fprintf(stderr, "merge mismatch\n");
		failures++;
	}
	char id[37];
	uuid_v4(id);
	if (!validate_uuid(id) || id[14] != '4' || !strchr("89ab", id[19])) {
		fprintf(stderr, "not a UUID v4: %s\n", id);
		failures++;
	}
	hist_free(small);
	hist_free(h);
	free(values);
	fprintf(stderr, "commit_bench self-test: %s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}

/* ---- main --------------------------------------------------------------------------------- */

static void usage(FILE *out)
{
	fputs("usage: commit_bench --node 127.0.0.1:PORT [--node ...] --canvases FILE [options]\n"
	      "       commit_bench --self-test\n"
	      "  --canvases FILE          lines '<canvas id> <access token>'\n"
	      "  --writers-per-canvas N   closed-loop writers per canvas (default 1)\n"
	      "  --max-connections N      at most N writers; canvases are shared round-robin\n"
	      "                           when canvases x writers-per-canvas is larger (4000)\n"
	      "  --route writer|canvas    writers round-robin over nodes (default), or all writers\n"
	      "                           of a canvas on one node (like the sticky gateway)\n"
	      "  --duration S             measured seconds (default 10)\n"
	      "  --max-ops N              stop after N acked ops in the window (default: none)\n"
	      "  --warmup S               unmeasured seconds first (default 2)\n"
	      "  --timeout S              per-request timeout (default 30)\n"
	      "  --drain-timeout S        wait for in-flight requests at the end (default 10)\n"
	      "  --create-every N         one create_shape in N ops per writer and canvas (10)\n"
	      "  --max-shapes N           shapes a writer creates per canvas at most (32)\n"
	      "  --seed N                 PRNG seed (default: random)\n"
	      "  --rate R                 open loop: offer R ops/s over all writers, whatever the\n"
	      "                           answers; latency counts from when an op fell due\n"
	      "Prints one JSON object: {ops, errors, seconds, ops_per_sec, latency_ms: {p50, p90,\n"
	      "p99, p999, max, ...}, latency_cdf_ms: [[ms, fraction], ...], ops_per_second_series:\n"
	      "[201s in each whole second of the window], ops_per_second_partial: {seconds, ops},\n"
	      "statuses, nodes, total: {sent, acked_201, unknown, ...}}.\n",
	      out);
}

static double parse_number(const char *name, const char *s, double min, double max)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
		die("--%s %s: must be a number from %g to %g", name, s, min, max);
	return v;
}

static void parse_args(int argc, char **argv, bool *self)
{
	static const struct option longopts[] = {
		{ "node", required_argument, NULL, 'n' },
		{ "canvases", required_argument, NULL, 'c' },
		{ "writers-per-canvas", required_argument, NULL, 'w' },
		{ "max-connections", required_argument, NULL, 'm' },
		{ "route", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "max-ops", required_argument, NULL, 'o' },
		{ "warmup", required_argument, NULL, 'u' },
		{ "timeout", required_argument, NULL, 't' },
		{ "drain-timeout", required_argument, NULL, 'D' },
		{ "create-every", required_argument, NULL, 'e' },
		{ "max-shapes", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "rate", required_argument, NULL, 'R' },
		{ "self-test", no_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options *o = &bench.opt;
	o->writers_per_canvas = 1;
	o->max_connections = 4000;
	o->duration = 10;
	o->warmup = 2;
	o->timeout = 30;
	o->drain_timeout = 10;
	o->create_every = 10;
	o->max_shapes = 32;
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			parse_node(o, optarg);
			break;
		case 'c':
			o->canvases_file = optarg;
			break;
		case 'w':
			o->writers_per_canvas = (size_t)parse_number("writers-per-canvas", optarg, 1,
								     1000);
			break;
		case 'm':
			o->max_connections = (size_t)parse_number("max-connections", optarg, 1,
								  100000);
			break;
		case 'r':
			if (strcmp(optarg, "writer") && strcmp(optarg, "canvas"))
				die("--route: writer or canvas");
			o->route_by_canvas = strcmp(optarg, "canvas") == 0;
			break;
		case 'd':
			o->duration = parse_number("duration", optarg, 0.1, 3600);
			break;
		case 'o':
			o->max_ops = (uint64_t)parse_number("max-ops", optarg, 1, 1e12);
			break;
		case 'u':
			o->warmup = parse_number("warmup", optarg, 0, 600);
			break;
		case 't':
			o->timeout = (int)parse_number("timeout", optarg, 1, 600);
			break;
		case 'D':
			o->drain_timeout = parse_number("drain-timeout", optarg, 0.1, 600);
			break;
		case 'e':
			o->create_every = (unsigned)parse_number("create-every", optarg, 1, 1e9);
			break;
		case 's':
			o->max_shapes = (unsigned)parse_number("max-shapes", optarg, 1, 1e6);
			break;
		case 'S':
			o->seed = (uint64_t)parse_number("seed", optarg, 0, 1e18);
			break;
		case 'R':
			o->rate = parse_number("rate", optarg, 0.1, 1e7);
			break;
		case 'T':
			*self = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc)
		die("unexpected argument %s", argv[optind]);
	if (*self)
		return;
	if (o->node_count == 0 || !o->canvases_file) {
		usage(stderr);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	loadgen_set_program("commit_bench");
	bool self = false;
	parse_args(argc, argv, &self);
	if (self)
		return self_test();
	/* A node that closes a connection must not kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	rng_seed(bench.opt.seed);
	load_canvases(bench.opt.canvases_file);
	assign_writers();

	bench.base = event_base_new();
	if (!bench.base)
		die("event_base_new failed");
	bench.latency = hist_new();
	bench.ramp_timer = evtimer_new(bench.base, on_ramp, NULL);
	bench.phase_timer = evtimer_new(bench.base, on_phase, NULL);
	bench.drain_timer = evtimer_new(bench.base, on_drain_timeout, NULL);
	clock_gettime(CLOCK_MONOTONIC, &bench.t0);

	/* The ramp must finish inside the warmup, or the first seconds measure connects. */
	double ramp = (double)(bench.writer_count / START_BATCH + 1) * START_TICK_US / 1e6;
	double warmup = bench.opt.warmup > ramp + 0.1 ? bench.opt.warmup : ramp + 0.1;
	fprintf(stderr, "commit_bench: %zu canvases, %zu writers over %zu node(s), warmup %.1fs\n",
		bench.canvas_count, bench.writer_count, bench.opt.node_count, warmup);
	struct timeval zero = { 0, 0 }, tv = timeval_of(warmup);
	evtimer_add(bench.ramp_timer, &zero);
	evtimer_add(bench.phase_timer, &tv);
	event_base_dispatch(bench.base);

	print_report();
	fflush(stdout);

	for (size_t i = 0; i < bench.writer_count; i++) {
		struct writer *w = &bench.writers[i];
		/* Freeing a connection fails its pending request through on_response, which
		 * ignores writers no longer in flight. */
		w->in_flight = false;
		if (w->conn)
			evhttp_connection_free(w->conn);
		if (w->retry)
			event_free(w->retry);
		if (w->tick)
			event_free(w->tick);
		free(w->slots);
	}
	for (size_t i = 0; i < bench.canvas_count; i++)
		free(bench.canvases[i].authorization);
	free(bench.writers);
	free(bench.canvases);
	event_free(bench.ramp_timer);
	event_free(bench.phase_timer);
	event_free(bench.drain_timer);
	hist_free(bench.latency);
	free(bench.ops_by_second);
	event_base_free(bench.base);
	return 0;
}
