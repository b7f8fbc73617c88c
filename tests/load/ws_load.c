/*
 * ws_load: the WebSocket load generator of FlowState's realtime benchmarks (DESIGN §10).
 *
 * Thousands of clients in one process, each a bufferevent speaking RFC 6455 with framing of its
 * own (ws_frames.c, independent of the node's codec), against the gateway or directly against
 * nodes (clients round-robin over --endpoint). Modes:
 *
 *   idle     open --clients connections, wait for every `sync`, hold them --hold seconds
 *   ops      the first --writers clients send ops at --rate ops/s in total (open loop), or
 *            closed loop with --rate 0 (the next op when an ack comes back, --window in flight).
 *            Each op carries its send time in the shape's `text`, so every client that receives
 *            it measures send→delivery and, against the ack, commit→delivery latency; acks
 *            give the commit (ack) latency.
 *   cursors  every client sends cursor messages at --cursor-hz with its index in x and its send
 *            time in y; receivers measure relay latency.
 *   join     --joins joins of a canvas, one after the other (--join-concurrency): time from
 *            the TCP connect to the `sync` message, with or without ?since= (--since-lag).
 *
 * Latencies are split by whether sender and receiver use the same endpoint (the same node when
 * the endpoints are nodes) or not. All clients share one monotonic clock. A message is stamped
 * when its bytes are read; parsing and applying it run later from a lower-priority event, so
 * the work done for one receiver of a broadcast does not delay the stamp of the next one.
 *
 * Every run ends with the convergence check: every client applies its `sync` and every op it
 * receives with the reducer (common/canvas.c), checking that versions arrive exactly once and
 * in order; at the end each client's last version must equal canvases.version
 * (GET /canvases/{id}) and its canvas_state_hash the hash of GET /canvases/{id}/state. Any
 * mismatch, server protocol violation or client that could not connect makes the exit status 1
 * and is printed on stderr.
 *
 * Bounds: it only connects to 127.0.0.1; at most --clients connections (plus one REST
 * connection per slot), each phase has a timeout, and a hard deadline covers the whole run.
 * Output: one JSON object on stdout, progress on stderr. Exit status 0 ok, 1 failed check,
 * 2 usage or setup error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "base/alloc.h"
#include "model/canvas.h"
#include "histogram.h"
#include "loadgen.h"
#include "base/validate.h"
#include "model/op.h"
#include "base/validate.h"
#include "codec/ws_codec.h"
#include "ws_frames.h"

#define MAX_ENDPOINTS 64
#define MAX_TOKENS 8
#define MAX_HANDSHAKE_BYTES 16384
#define MAX_MESSAGE_BYTES (256u << 20)  /* a sync of a huge canvas; nothing else comes near */
#define CONNECT_ATTEMPTS 3
#define MAX_RECONNECTS 5
#define RETRY_DELAY_US 200000
#define REST_SLOTS 4
#define EXAMPLES 8                        /* failures printed in full, per kind */
#define INBOUND_INLINE_LIMIT 50000        /* beyond this, stop deferring: bound the queue */
#define STAMP "wsl"
#define PRIO_IO 0                         /* sockets and timers */
#define PRIO_WORK 1                       /* parsing and applying received messages */

enum mode { MODE_IDLE, MODE_OPS, MODE_CURSORS, MODE_JOIN };
static const char *const mode_names[] = { "idle", "ops", "cursors", "join" };

enum phase {
	PH_CONNECT,   /* opening clients until each is synced or failed */
	PH_PREPARE,   /* join: reading the canvas head and reference states */
	PH_JOIN,      /* join: joins in progress */
	PH_WARMUP,    /* sending, not measured */
	PH_MEASURE,   /* sending, measured (idle: holding) */
	PH_DRAIN,     /* no new sends; waiting for the acks of ops in flight */
	PH_SETTLE,    /* waiting for every client to reach canvases.version */
	PH_VERIFY,    /* comparing every client with GET /state */
	PH_CLOSE,     /* closing handshakes */
	PH_DONE,
};
static const char *const phase_names[] = { "connect", "prepare", "join", "warmup", "measure",
					    "drain", "settle", "verify", "close", "done" };

/* A client connection: the one function that changes it is client_change_state. */
enum client_state {
	CS_NEW,         /* not connected yet (or waiting to reconnect) */
	CS_CONNECTING,  /* TCP connect and upgrade request sent, waiting for 101 */
	CS_SYNCING,     /* upgraded, waiting for `sync` */
	CS_OPEN,        /* synced: receives ops in order */
	CS_CLOSING,     /* our close frame is sent, waiting for the server's */
	CS_FLUSHING,    /* close handshake done, waiting for our output to drain */
	CS_CLOSED,      /* socket released */
	CS_FAILED,      /* given up on: counted as a failure */
};
static const char *const client_state_names[] = { "new", "connecting", "syncing", "open",
						   "closing", "flushing", "closed", "failed" };

struct endpoint {
	char host[16];
	int port;
	char host_header[32];
	size_t clients;
};

struct canvas {
	char id[40];
	char *tokens[MAX_TOKENS];
	size_t token_count;
	size_t clients;
	long long head;                 /* canvases.version, from REST */
	bool head_known;
	char ref_hash[CANVAS_HASH_HEX_LEN + 1]; /* hash of GET /state */
	long long ref_version;
	bool ref_known;
	struct canvas_state *base;      /* join --since-lag: the state at head - lag */
	long long base_version;
	struct replica *synced;         /* replicas made from a sync, to share equal ones */
};

/*
 * A canvas state as some clients hold it. Clients share replicas copy-on-write: a replica is
 * never modified once made; a client that applies an op moves to a new replica (a clone with
 * the op applied), and the first one to leave a replica memoizes the exact message bytes and
 * where they led, so every client that receives the same bytes in the same state moves there
 * without parsing or reducing again. A client's state is therefore still exactly its sync plus
 * the messages it received, in its order, through the reducer; equal inputs are reduced once
 * (the reducer is a pure function), which keeps the load generator's CPU out of the figures.
 */
struct replica {
	struct canvas_state *state;
	long long version;
	size_t refs;                    /* clients on it, plus the memo link of the one before */
	struct canvas *canvas;
	struct replica *next;           /* memo: the replica reached on exactly these bytes */
	char *next_frame;
	size_t next_len;
	int64_t next_writer;            /* the memoized op's stamp (-1: not this run's) */
	uint64_t next_seq;
	char hash[CANVAS_HASH_HEX_LEN + 1];
	bool hashed;
	bool listed;                    /* in canvas->synced */
	struct replica *synced_next;
};

struct op_record {
	uint64_t send_ns, ack_ns;       /* 0 = not yet */
};

struct ticker {
	struct event *ev;
	uint64_t next_ns, interval_ns;
};

struct writer {
	struct client *c;
	uint32_t index;
	struct op_record *ops;          /* by sequence number */
	uint64_t op_count, op_cap;
	unsigned shapes;                /* creates sent so far */
	unsigned in_flight;
	struct ticker tick;             /* open loop: the next send; closed loop: retry backoff */
	uint64_t acked, errors, lost;
};

struct client {
	uint32_t index;
	uint32_t canvas;
	uint16_t endpoint;
	uint8_t state;                  /* enum client_state */
	uint8_t attempts;               /* connect attempts of the current (re)connection */
	uint8_t reconnects;
	bool synced_once;
	bool has_base;                  /* connect with ?since=<its version> onto its replica */
	bool counted_connecting;        /* in L.connecting (initial connect phase) */
	struct bufferevent *bev;
	char accept[29];
	struct replica *rep;            /* its canvas state and last applied version */
	uint64_t started_ns;            /* this connection's TCP connect began */
	uint64_t upgraded_ns;
	struct writer *writer;
	struct ticker *cursor;
	struct evbuffer *fragments;     /* a fragmented message being reassembled */
	uint8_t frag_opcode;
	uint64_t ops_received;
};

/* Received text messages waiting to be parsed and applied, oldest first. */
struct inbound {
	struct inbound *next;
	struct client *c;
	uint64_t at;
	size_t len;
	char text[];
};

/* Small named counters (error codes, close codes, failure reasons). */
#define COUNTER_SLOTS 32
struct counters {
	struct {
		char name[64];
		uint64_t n;
	} e[COUNTER_SLOTS];
	size_t len;
};

struct examples {
	char *text[EXAMPLES];
	size_t len;
	uint64_t total;
};

struct options {
	enum mode mode;
	struct endpoint endpoints[MAX_ENDPOINTS];
	size_t endpoint_count;
	size_t rest_endpoint;
	const char *canvases_file;
	bool route_by_canvas;
	size_t clients;
	size_t writers;
	double rate;
	unsigned window;
	double cursor_hz;
	double duration, warmup, hold;
	size_t joins;
	size_t join_concurrency;
	long long since_lag;            /* -1: join without ?since */
	size_t connect_window;
	double connect_timeout, drain_timeout, settle_timeout, close_timeout;
	const char *ready_file;
	uint64_t max_ops;
	unsigned max_shapes;
	uint64_t seed;
	bool fault_drop;                /* lose one delivery on purpose: the checks must fail */
};

struct stats {
	struct hist *upgrade, *sync;                 /* first connection: connect → 101, → sync */
	struct hist *ack;                            /* send → ack, ops sent in the window */
	struct hist *e2e[2], *c2d[2], *relay[2];     /* [0] same endpoint, [1] another one */
	uint64_t deliveries, deliveries_window;
	uint64_t ops_sent, ops_sent_window, ops_acked, ops_acked_window, duplicate_acks;
	uint64_t ops_skipped;                        /* open loop: --window ops already in flight */
	uint64_t ops_lost;                           /* in flight when a connection dropped */
	uint64_t delivered_before_ack;
	uint64_t cursors_sent, cursors_sent_window, cursors_received, cursors_window;
	uint64_t presence, pongs, pings, strokes, other_messages;
	uint64_t reconnects, connect_retries, late_ticks;
	uint64_t sync_ops_mode, sync_state_mode, sync_bytes_max;
	uint64_t reductions, memo_hits;              /* deliveries reduced / taken from a memo */
	uint64_t op_batches;                         /* `operations` frames (client was behind) */
	struct counters errors, closes, failures;
	struct examples violations, order, mismatches;
	/* join */
	struct hist *join_upgrade, *join_sync;
	uint64_t joins_done, joins_failed;
};

struct rest_task {
	size_t canvas;
	enum { REST_HEAD, REST_STATE, REST_BASE, REST_RECHECK } kind;
	long long at;
};

struct rest_slot {
	struct evhttp_connection *conn;
	struct rest_task task;
	bool busy;
};

struct load {
	struct options opt;
	struct event_base *base;
	struct timespec t0;
	enum phase phase;
	struct canvas *canvases;
	size_t canvas_count;
	struct client *clients;
	size_t client_count;
	struct writer *writers;
	size_t writer_count;
	struct stats s;
	uint32_t tag;                  /* this run's mark in client op ids and stamps */

	size_t next_client;            /* connect phase: next to start */
	size_t connecting;             /* connect phase: started, neither synced nor failed */
	size_t synced, failed;
	size_t live;                   /* clients holding a socket */
	uint64_t phase_start_ns, connect_start_ns, measure_start_ns, measure_end_ns, cursor_epoch_ns;
	uint64_t all_synced_ns;

	struct inbound *in_head, *in_tail;
	size_t in_count;
	struct event *work_ev, *starter_ev, *reaper_ev, *phase_timer, *settle_timer,
		*deadline_timer, *sigint_ev, *sigterm_ev;
	struct bufferevent **graveyard;
	size_t graveyard_len, graveyard_cap;

	struct rest_task *rest_tasks;
	size_t rest_total, rest_next, rest_done;
	struct rest_slot rest_slots[REST_SLOTS];
	void (*rest_finished)(void);
	uint64_t rest_failures;
	bool head_changed;

	size_t join_next, join_active;
	bool interrupted, deadline_hit;
	double phase_seconds[PH_DONE + 1];
};

static struct load L;

/* ---- small helpers ------------------------------------------------------------------------ */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ws_load: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Nanoseconds since the start, never 0 (0 means "not yet" in records). */
static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	int64_t ns = (int64_t)(t.tv_sec - L.t0.tv_sec) * 1000000000 + (t.tv_nsec - L.t0.tv_nsec);
	return (uint64_t)(ns > 0 ? ns : 0) + 1;
}

static struct timeval timeval_of_ns(uint64_t ns)
{
	struct timeval tv = { (time_t)(ns / 1000000000u), (suseconds_t)(ns % 1000000000u / 1000u) };
	return tv;
}

static struct timeval timeval_of(double seconds)
{
	return timeval_of_ns(seconds > 0 ? (uint64_t)(seconds * 1e9) : 0);
}

static double ms_of(uint64_t ns)
{
	return (double)ns / 1e6;
}

static bool in_window(uint64_t t)
{
	return L.measure_start_ns && t >= L.measure_start_ns &&
	       (!L.measure_end_ns || t < L.measure_end_ns);
}

/* xoshiro256**: masks and keys need unpredictability across runs, not secrecy (the seed comes
 * from getrandom), and this costs nanoseconds per frame. */
static void counter_add(struct counters *c, const char *name)
{
	for (size_t i = 0; i < c->len; i++) {
		if (strcmp(c->e[i].name, name) == 0) {
			c->e[i].n++;
			return;
		}
	}
	/* The last slot collects every name that did not get one of its own. */
	if (c->len == COUNTER_SLOTS - 1)
		name = "(other)";
	if (c->len < COUNTER_SLOTS) {
		snprintf(c->e[c->len].name, sizeof(c->e[c->len].name), "%s", name);
		c->e[c->len].n = 0;
		c->len++;
	}
	c->e[c->len - 1].n++;
}

/* Records a failure of some kind; the first few are kept (and printed) in full. */
static void example_add(struct examples *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void example_add(struct examples *e, const char *fmt, ...)
{
	e->total++;
	if (e->len == EXAMPLES)
		return;
	va_list ap;
	va_start(ap, fmt);
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	e->text[e->len++] = xstrdup(buf);
	say("%s", buf);
}

/* Client op ids carry the writer and the op's sequence number, so an ack needs no lookup:
 * <writer:8 hex>-<tag:4>-4<tag:3>-<8|tag:4>-<seq:12>, a well-formed UUID (v4 layout). */
static void op_id(uint32_t writer, uint64_t seq, char out[37])
{
	snprintf(out, 37, "%08" PRIx32 "-%04" PRIx32 "-4%03" PRIx32 "-%04" PRIx32 "-%012" PRIx64,
		 writer, L.tag >> 16, L.tag & 0xfff, 0x8000 | (L.tag & 0x3fff),
		 (uint64_t)(seq & 0xffffffffffffull));
}

static bool op_id_parse(const char *id, uint32_t *writer, uint64_t *seq)
{
	char expect[37];
	unsigned w;
	unsigned long long q;
	if (!id || strlen(id) != 36 || sscanf(id, "%8x", &w) != 1 ||
	    sscanf(id + 24, "%12llx", &q) != 1)
		return false;
	op_id(w, q, expect);
	if (strcasecmp(expect, id) != 0)
		return false;
	*writer = w;
	*seq = q;
	return true;
}

/* ---- replicas ------------------------------------------------------------------------------ */

static struct replica *replica_new(struct canvas *cv, struct canvas_state *st, long long version)
{
	struct replica *r = xcalloc(1, sizeof(*r));
	r->state = st;
	r->version = version;
	r->canvas = cv;
	r->next_writer = -1;
	return r;
}

/* Drops a reference; a replica that nobody holds goes, and with it its memo link. */
static void replica_unref(struct replica *r)
{
	while (r && --r->refs == 0) {
		struct replica *next = r->next;
		if (r->listed) {
			struct replica **p = &r->canvas->synced;
			while (*p != r)
				p = &(*p)->synced_next;
			*p = r->synced_next;
		}
		canvas_state_free(r->state);
		free(r->next_frame);
		free(r);
		r = next; /* iteratively: a long chain must not recurse */
	}
}

static const char *replica_hash(struct replica *r)
{
	if (!r->hashed) {
		canvas_state_hash(r->state, r->hash);
		r->hashed = true;
	}
	return r->hash;
}

/* Moves a client onto r (NULL: onto nothing), off the replica it held. */
static void client_take(struct client *c, struct replica *r)
{
	if (r)
		r->refs++;
	struct replica *old = c->rep;
	c->rep = r;
	replica_unref(old);
}

/* The replica of a state a client synced to (taking st): equal to one an earlier sync made, that
 * one is shared. */
static struct replica *replica_synced(struct canvas *cv, struct canvas_state *st, long long version)
{
	char hash[CANVAS_HASH_HEX_LEN + 1];
	canvas_state_hash(st, hash);
	for (struct replica *r = cv->synced; r; r = r->synced_next) {
		if (r->version == version && strcmp(r->hash, hash) == 0) {
			canvas_state_free(st);
			return r;
		}
	}
	struct replica *r = replica_new(cv, st, version);
	memcpy(r->hash, hash, sizeof(hash));
	r->hashed = true;
	r->listed = true;
	r->synced_next = cv->synced;
	cv->synced = r;
	return r;
}

/* ---- clients: sockets and state ---------------------------------------------------------- */

static void client_connect(struct client *c);
static void process_inbound(void);
static void phase_check(void);
static void join_next(void);

static void client_change_state(struct client *c, enum client_state to)
{
	enum client_state from = c->state;
	if (from == to)
		return;
	c->state = (uint8_t)to;
	/* The initial connect phase counts clients that are on their way to a sync. */
	if (c->counted_connecting && (to == CS_OPEN || to == CS_FAILED || to == CS_CLOSED ||
				      to == CS_CLOSING)) {
		c->counted_connecting = false;
		L.connecting--;
		if (to == CS_OPEN)
			L.synced++;
		else
			L.failed++;
		event_active(L.starter_ev, 0, 0);
	}
}

/* Hands the socket to the reaper: a bufferevent is never freed inside its own callback. */
static void client_release(struct client *c, enum client_state to)
{
	bool was_over = c->state == CS_CLOSED || c->state == CS_FAILED;
	if (c->bev) {
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
		if (L.graveyard_len == L.graveyard_cap) {
			L.graveyard_cap = L.graveyard_cap ? 2 * L.graveyard_cap : 256;
			L.graveyard = xrealloc(L.graveyard, L.graveyard_cap * sizeof(*L.graveyard));
		}
		L.graveyard[L.graveyard_len++] = c->bev;
		c->bev = NULL;
		L.live--;
		event_active(L.reaper_ev, 0, 0);
	}
	if (c->fragments) {
		evbuffer_free(c->fragments);
		c->fragments = NULL;
	}
	client_change_state(c, to);
	if (L.opt.mode == MODE_JOIN && L.phase == PH_JOIN && !was_over &&
	    (to == CS_CLOSED || to == CS_FAILED)) {
		L.join_active--;
		join_next();
	}
	if (L.phase == PH_CLOSE && L.live == 0)
		phase_check();
}

static void reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	for (size_t i = 0; i < L.graveyard_len; i++)
		bufferevent_free(L.graveyard[i]);
	L.graveyard_len = 0;
}

static void client_fail(struct client *c, const char *why)
{
	counter_add(&L.s.failures, why);
	if (c->writer) {
		L.s.ops_lost += c->writer->in_flight;
		c->writer->lost += c->writer->in_flight;
		c->writer->in_flight = 0;
	}
	client_release(c, CS_FAILED);
}

/* The server broke the protocol: that is a failed run, whatever the figures say. */
static void client_violation(struct client *c, const char *why)
{
	example_add(&L.s.violations, "protocol violation by the server: client %u (endpoint %u, "
		    "%s): %s", c->index, c->endpoint, client_state_names[c->state], why);
	if (c->bev && c->state != CS_CONNECTING) {
		uint8_t payload[WSF_MAX_CONTROL_PAYLOAD], frame[WSF_MAX_CONTROL_PAYLOAD +
							     WSF_MAX_CLIENT_HEADER];
		uint64_t r = rng_next();
		uint8_t mask[4] = { (uint8_t)r, (uint8_t)(r >> 8), (uint8_t)(r >> 16),
				    (uint8_t)(r >> 24) };
		size_t n = wsf_close_payload(payload, 1002, why);
		size_t len = wsf_encode_client_frame(frame, WSF_CLOSE, payload, n, mask);
		(void)bufferevent_write(c->bev, frame, len); /* best effort: the socket goes next */
	}
	client_fail(c, "server protocol violation");
}

/* Masked text frame straight into the output buffer (no intermediate copy). */
static void client_send(struct client *c, enum wsf_opcode opcode, const void *data, size_t len)
{
	if (!c->bev)
		return;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer_iovec v;
	if (evbuffer_reserve_space(out, (ev_ssize_t)(len + WSF_MAX_CLIENT_HEADER), &v, 1) < 1)
		die("out of memory for an output buffer");
	uint64_t r = rng_next();
	uint8_t mask[4] = { (uint8_t)r, (uint8_t)(r >> 8), (uint8_t)(r >> 16), (uint8_t)(r >> 24) };
	v.iov_len = wsf_encode_client_frame(v.iov_base, opcode, data, len, mask);
	if (evbuffer_commit_space(out, &v, 1) != 0)
		die("evbuffer_commit_space failed");
}

static void client_send_close(struct client *c, uint16_t code, const char *reason)
{
	uint8_t payload[WSF_MAX_CONTROL_PAYLOAD];
	size_t n = code ? wsf_close_payload(payload, code, reason) : 0;
	client_send(c, WSF_CLOSE, payload, n);
}

/* Starts our side of the closing handshake (the end of a run, or a finished join). */
static void client_close(struct client *c)
{
	if (c->state == CS_OPEN || c->state == CS_SYNCING) {
		client_send_close(c, 1000, "done");
		client_change_state(c, CS_CLOSING);
	} else if (c->state == CS_CONNECTING || c->state == CS_NEW) {
		client_release(c, CS_CLOSED);
	}
}

static void reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	if (c->state == CS_NEW && L.phase < PH_VERIFY)
		client_connect(c);
}

static void schedule_connect(struct client *c, uint64_t delay_us)
{
	struct timeval tv = { (time_t)(delay_us / 1000000), (suseconds_t)(delay_us % 1000000) };
	if (event_base_once(L.base, -1, EV_TIMEOUT, reconnect_cb, c, &tv) != 0)
		die("event_base_once failed");
}

/*
 * The connection ended without a closing handshake of ours. A client that had synced
 * reconnects with ?since= its last version (and must then lose nothing: invariant 5); one that
 * never got there retries a few times, then counts as failed.
 */
static void client_lost(struct client *c, const char *why)
{
	bool may_retry = L.opt.mode != MODE_JOIN && L.phase < PH_VERIFY;
	if (c->synced_once && may_retry && c->reconnects < MAX_RECONNECTS) {
		counter_add(&L.s.closes, why);
		process_inbound(); /* apply what it received before the drop: since = last version */
		if (c->state == CS_FAILED)
			return; /* what it had received broke the protocol */
		if (c->writer) {
			L.s.ops_lost += c->writer->in_flight;
			c->writer->lost += c->writer->in_flight;
			c->writer->in_flight = 0;
		}
		c->reconnects++;
		L.s.reconnects++;
		c->has_base = true;
		c->attempts = 0;
		client_release(c, CS_NEW);
		/* Like the gateway after a node died: try the next endpoint, backing off. */
		c->endpoint = (uint16_t)((c->endpoint + 1) % L.opt.endpoint_count);
		schedule_connect(c, (uint64_t)RETRY_DELAY_US / 2 * c->reconnects);
		return;
	}
	if (!c->synced_once && (may_retry || L.phase == PH_JOIN) && c->attempts < CONNECT_ATTEMPTS) {
		L.s.connect_retries++;
		client_release(c, CS_NEW); /* still counted as connecting, or as a running join */
		schedule_connect(c, RETRY_DELAY_US);
		return;
	}
	client_fail(c, why);
}

/* ---- the opening handshake ---------------------------------------------------------------- */

static void client_read_cb(struct bufferevent *bev, void *arg);
static void client_write_cb(struct bufferevent *bev, void *arg);
static void client_event_cb(struct bufferevent *bev, short what, void *arg);

static void client_connect(struct client *c)
{
	const struct endpoint *ep = &L.opt.endpoints[c->endpoint];
	const struct canvas *cv = &L.canvases[c->canvas];
	c->attempts++;
	c->started_ns = now_ns();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		/* EMFILE: the descriptor limit; no point retrying this one. */
		client_fail(c, errno == EMFILE ? "out of file descriptors (ulimit -n)"
					       : "socket() failed");
		return;
	}
	int one = 1;
	/* Small frames must leave at once: latency is what is measured. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->bev = bufferevent_socket_new(L.base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev)
		die("bufferevent_socket_new failed");
	L.live++;
	bufferevent_set_max_single_read(c->bev, 256 * 1024);
	bufferevent_setcb(c->bev, client_read_cb, client_write_cb, client_event_cb, c);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0)
		die("bufferevent_enable failed");

	uint8_t raw[16];
	for (int i = 0; i < 16; i += 8) {
		uint64_t r = rng_next();
		memcpy(raw + i, &r, 8);
	}
	char key[32];
	EVP_EncodeBlock((unsigned char *)key, raw, 16);
	ws_handshake_accept(key, strlen(key), c->accept);
	char since[48] = "";
	if (c->has_base)
		snprintf(since, sizeof(since), "&since=%lld", c->rep->version);
	const char *token = cv->tokens[(c->index / L.canvas_count) % cv->token_count];
	if (evbuffer_add_printf(bufferevent_get_output(c->bev),
				"GET /api/v1/canvases/%s/ws?token=%s%s HTTP/1.1\r\n"
				"Host: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
				"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
				"User-Agent: flowstate-ws_load\r\n\r\n",
				cv->id, token, since, ep->host_header, key) < 0)
		die("out of memory for a request");
	client_change_state(c, CS_CONNECTING);

	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)ep->port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		client_lost(c, "connect failed");
		return;
	}
	/* After the connect: it re-assigns the socket's events, which resets their priority. */
	if (bufferevent_priority_set(c->bev, PRIO_IO) != 0)
		die("bufferevent_priority_set failed");
}

static bool header_is(const char *line, size_t len, const char *name, const char **value,
		      size_t *value_len)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	const char *v = line + n + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*value = v;
	*value_len = (size_t)(end - v);
	return true;
}

static bool token_list_has(const char *v, size_t len, const char *token)
{
	size_t n = strlen(token);
	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(v + i, token, n) == 0 && (i == 0 || v[i - 1] == ' ' || v[i - 1] == ',') &&
		    (i + n == len || v[i + n] == ' ' || v[i + n] == ','))
			return true;
	return false;
}

/*
 * Reads the server's answer to the upgrade. Returns true when the connection is a WebSocket
 * now (the bytes after the head are frames); false when more is needed or it failed.
 */
static bool client_read_handshake(struct client *c, struct evbuffer *in, uint64_t at)
{
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0) {
		if (evbuffer_get_length(in) > MAX_HANDSHAKE_BYTES)
			client_violation(c, "response head larger than 16 KiB");
		return false;
	}
	size_t head_len = (size_t)end.pos + 4;
	char *head = (char *)evbuffer_pullup(in, (ev_ssize_t)head_len);
	int status = 0;
	if (sscanf(head, "HTTP/1.1 %d ", &status) != 1) {
		client_violation(c, "response is not HTTP/1.1");
		return false;
	}
	if (status != 101) {
		char why[64];
		snprintf(why, sizeof(why), "upgrade refused: HTTP %d", status);
		if (status == 503 || status == 502 || status == 504)
			client_lost(c, why); /* draining or overloaded: worth another try */
		else
			client_fail(c, why);
		return false;
	}
	bool upgrade = false, connection = false, accept = false;
	const char *line = strstr(head, "\r\n") + 2;
	while (line < head + head_len - 2) {
		const char *eol = strstr(line, "\r\n");
		size_t len = (size_t)(eol - line), vlen;
		const char *v;
		if (header_is(line, len, "Upgrade", &v, &vlen))
			upgrade = vlen == 9 && strncasecmp(v, "websocket", 9) == 0;
		else if (header_is(line, len, "Connection", &v, &vlen))
			connection = token_list_has(v, vlen, "upgrade");
		else if (header_is(line, len, "Sec-WebSocket-Accept", &v, &vlen))
			accept = vlen == 28 && memcmp(v, c->accept, 28) == 0;
		else if (header_is(line, len, "Sec-WebSocket-Extensions", &v, &vlen) ||
			 header_is(line, len, "Sec-WebSocket-Protocol", &v, &vlen)) {
			client_violation(c, "101 selects an extension or subprotocol nobody offered");
			return false;
		}
		line = eol + 2;
	}
	if (!upgrade || !connection || !accept) {
		client_violation(c, !accept ? "wrong or missing Sec-WebSocket-Accept"
					    : "101 without Upgrade: websocket / Connection: Upgrade");
		return false;
	}
	evbuffer_drain(in, head_len);
	c->upgraded_ns = at;
	if (!c->synced_once && L.opt.mode != MODE_JOIN)
		hist_record(L.s.upgrade, at - c->started_ns);
	else if (L.opt.mode == MODE_JOIN)
		hist_record(L.s.join_upgrade, at - c->started_ns);
	client_change_state(c, CS_SYNCING);
	return true;
}

/* ---- frames ------------------------------------------------------------------------------- */

static void inbound_push(struct client *c, const uint8_t *data, size_t len, uint64_t at)
{
	struct inbound *m = xmalloc(sizeof(*m) + len + 1);
	m->next = NULL;
	m->c = c;
	m->at = at;
	m->len = len;
	memcpy(m->text, data, len);
	m->text[len] = '\0';
	if (L.in_tail)
		L.in_tail->next = m;
	else
		L.in_head = m;
	L.in_tail = m;
	L.in_count++;
}

static void on_close_frame(struct client *c, const uint8_t *p, size_t len)
{
	uint16_t code;
	const char *why;
	if (!wsf_close_payload_valid(p, len, &code, &why)) {
		client_violation(c, why);
		return;
	}
	if (c->state == CS_CLOSING) {
		/* The answer to our close: the handshake is complete. */
		client_release(c, CS_CLOSED);
		return;
	}
	char name[32];
	snprintf(name, sizeof(name), "server close %u", code);
	/* Echo it (RFC 6455 §5.5.1), let the output drain, then go. */
	client_send_close(c, code == 1005 ? 0 : code, NULL);
	if (L.phase >= PH_CLOSE || (L.opt.mode == MODE_JOIN && c->state != CS_SYNCING)) {
		client_change_state(c, CS_FLUSHING);
		return;
	}
	client_lost(c, name);
}

/*
 * One frame from the input. Returns true if it consumed one and the client can go on; false
 * when more bytes are needed or the client is finished.
 */
static bool client_read_frame(struct client *c, struct evbuffer *in, uint64_t at)
{
	size_t avail = evbuffer_get_length(in);
	uint8_t head[WSF_MAX_SERVER_HEADER];
	size_t n = avail < sizeof(head) ? avail : sizeof(head);
	if (evbuffer_copyout(in, head, n) != (ev_ssize_t)n)
		die("evbuffer_copyout failed");
	struct wsf_header h;
	const char *why = NULL;
	switch (wsf_parse_server_header(head, n, &h, &why)) {
	case WSF_NEED_MORE:
		return false;
	case WSF_BAD:
		client_violation(c, why);
		return false;
	case WSF_OK:
		break;
	}
	if (h.payload_len > MAX_MESSAGE_BYTES) {
		client_violation(c, "frame larger than 256 MiB");
		return false;
	}
	size_t total = h.header_len + (size_t)h.payload_len;
	if (avail < total)
		return false;
	const uint8_t *frame = evbuffer_pullup(in, (ev_ssize_t)total);
	const uint8_t *p = frame + h.header_len;
	size_t len = (size_t)h.payload_len;
	bool go_on = true;
	switch (h.opcode) {
	case WSF_PING:
		L.s.pings++;
		client_send(c, WSF_PONG, p, len);
		break;
	case WSF_PONG:
		break;
	case WSF_CLOSE:
		on_close_frame(c, p, len);
		go_on = false;
		break;
	case WSF_BINARY:
		client_violation(c, "binary frame (the protocol speaks text only)");
		go_on = false;
		break;
	case WSF_TEXT:
	case WSF_CONTINUATION:
		if ((h.opcode == WSF_TEXT) == (c->fragments != NULL)) {
			client_violation(c, h.opcode == WSF_TEXT ? "new message inside a fragmented one"
								 : "continuation outside a message");
			go_on = false;
			break;
		}
		if (h.fin && !c->fragments) {
			if (!wsf_utf8_valid(p, len)) {
				client_violation(c, "text message is not valid UTF-8");
				go_on = false;
				break;
			}
			inbound_push(c, p, len, at);
			break;
		}
		if (!c->fragments)
			c->fragments = evbuffer_new();
		if (evbuffer_get_length(c->fragments) + len > MAX_MESSAGE_BYTES) {
			client_violation(c, "fragmented message larger than 256 MiB");
			go_on = false;
			break;
		}
		evbuffer_add(c->fragments, p, len);
		if (h.fin) {
			size_t mlen = evbuffer_get_length(c->fragments);
			const uint8_t *m = evbuffer_pullup(c->fragments, -1);
			if (!wsf_utf8_valid(m, mlen)) {
				client_violation(c, "text message is not valid UTF-8");
				go_on = false;
				break;
			}
			inbound_push(c, m, mlen, at);
			evbuffer_free(c->fragments);
			c->fragments = NULL;
		}
		break;
	}
	/* The client may have been released above; its input buffer went with the socket. */
	if (c->bev)
		evbuffer_drain(in, total);
	return go_on && c->bev != NULL;
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	uint64_t at = now_ns();
	struct evbuffer *in = bufferevent_get_input(bev);
	if (c->state == CS_CONNECTING && !client_read_handshake(c, in, at))
		return;
	if (c->state == CS_FLUSHING) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	while (c->bev && evbuffer_get_length(in) > 0 && client_read_frame(c, in, at))
		;
	if (L.in_count > INBOUND_INLINE_LIMIT)
		process_inbound();
	else if (L.in_head)
		event_active(L.work_ev, 0, 0);
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	if (c->state == CS_FLUSHING)
		client_release(c, CS_CLOSED);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (c->state == CS_CLOSING || c->state == CS_FLUSHING) {
		client_release(c, CS_CLOSED); /* the server closed TCP after the handshake */
		return;
	}
	char why[96];
	if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "connection closed without a close frame (%s)",
			 client_state_names[c->state]);
	else
		snprintf(why, sizeof(why), "socket error in %s: %s", client_state_names[c->state],
			 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	client_lost(c, why);
}

/* ---- messages ------------------------------------------------------------------------------ */

/* Ops may arrive once the client has a synced state, also while (or just after) closing; a
 * (re)connection that has not synced yet must not get any. */
static bool client_synced(const struct client *c)
{
	return c->synced_once && c->rep && c->state != CS_CONNECTING && c->state != CS_SYNCING &&
	       c->state != CS_NEW;
}

static int endpoint_class(const struct client *a, const struct client *b)
{
	return a->endpoint == b->endpoint ? 0 : 1;
}

static bool json_int(const json_t *v, long long *out)
{
	if (!json_is_integer(v))
		return false;
	*out = (long long)json_integer_value(v);
	return true;
}

/* The version of an op a client received after `have`: false (reported) if it is not newer. */
static bool order_check(const struct client *c, long long have, long long v, const char *where)
{
	if (v <= have) {
		example_add(&L.s.order, "client %u (endpoint %u) got version %lld again in %s (it "
			    "is at %lld): delivered twice", c->index, c->endpoint, v, where, have);
		return false;
	}
	if (v != have + 1)
		example_add(&L.s.order, "client %u (endpoint %u) got version %lld after %lld in %s: "
			    "a gap", c->index, c->endpoint, v, have, where);
	return true;
}

static void on_sync(struct client *c, json_t *msg, uint64_t at, size_t bytes)
{
	struct canvas *cv = &L.canvases[c->canvas];
	if (c->state != CS_SYNCING) {
		client_violation(c, "a second sync on one connection");
		return;
	}
	const char *canvas_id = json_string_value(json_object_get(msg, "canvas_id"));
	const char *mode = json_string_value(json_object_get(msg, "mode"));
	long long current;
	if (!canvas_id || strcmp(canvas_id, cv->id) != 0 || !mode ||
	    !json_int(json_object_get(msg, "current_version"), &current)) {
		client_violation(c, "sync without canvas_id, mode or current_version");
		return;
	}
	if (strcmp(mode, "state") == 0) {
		const json_t *shapes = json_object_get(json_object_get(msg, "state"), "shapes");
		struct op_error err;
		struct canvas_state *st = shapes ? canvas_state_from_json(shapes, &err) : NULL;
		if (!st) {
			client_violation(c, "sync state does not load");
			return;
		}
		client_take(c, replica_synced(cv, st, current));
		L.s.sync_state_mode++;
	} else if (strcmp(mode, "operations") == 0) {
		const json_t *ops = json_object_get(msg, "operations");
		if (!c->has_base || !c->rep || !json_is_array(ops)) {
			client_violation(c, "sync in operations mode without ?since=");
			return;
		}
		struct canvas_state *st = canvas_state_clone(c->rep->state);
		long long have = c->rep->version, v = 0;
		size_t i;
		const json_t *op;
		json_array_foreach(ops, i, op) {
			if (!json_int(json_object_get(op, "version"), &v)) {
				canvas_state_free(st);
				client_violation(c, "operation without an integer version");
				return;
			}
			if (!order_check(c, have, v, "sync"))
				break;
			canvas_apply_op(st, op);
			L.s.reductions++;
			have = v;
		}
		if (have != current)
			example_add(&L.s.order, "client %u: sync in operations mode ends at %lld, "
				    "current_version is %lld", c->index, have, current);
		client_take(c, replica_synced(cv, st, current));
		L.s.sync_ops_mode++;
	} else {
		client_violation(c, "sync with an unknown mode");
		return;
	}
	if (bytes > L.s.sync_bytes_max)
		L.s.sync_bytes_max = bytes;
	bool first = !c->synced_once;
	c->synced_once = true;
	client_change_state(c, CS_OPEN);
	if (L.opt.mode == MODE_JOIN) {
		hist_record(L.s.join_sync, at - c->started_ns);
		L.s.joins_done++;
		const char *hash = replica_hash(c->rep);
		if (current != cv->head || strcmp(hash, cv->ref_hash) != 0)
			example_add(&L.s.mismatches, "join %u: synced at version %lld with hash %.16s..., "
				    "canvas head %lld with hash %.16s...", c->index, current, hash,
				    cv->head, cv->ref_hash);
		client_close(c);
		return;
	}
	if (first)
		hist_record(L.s.sync, at - c->started_ns);
	if (c->writer && (L.phase == PH_WARMUP || L.phase == PH_MEASURE) && L.opt.rate <= 0)
		event_active(c->writer->tick.ev, 0, 0); /* closed loop: resume after a reconnect */
}

/* Counts a delivery and, for a stamped op sent in the window, its latencies. */
static void record_delivery(struct client *c, int64_t writer, uint64_t seq, uint64_t at)
{
	c->ops_received++;
	L.s.deliveries++;
	if (in_window(at))
		L.s.deliveries_window++;
	if (writer < 0)
		return;
	const struct op_record *rec = &L.writers[writer].ops[seq];
	if (!in_window(rec->send_ns))
		return;
	int k = endpoint_class(L.writers[writer].c, c);
	hist_record(L.s.e2e[k], at - rec->send_ns);
	if (rec->ack_ns && at >= rec->ack_ns) {
		hist_record(L.s.c2d[k], at - rec->ack_ns);
	} else {
		/* Delivered before its ack reached the writer: commit→delivery is ~0 (the ack and
		 * the delivery leave the node together). */
		hist_record(L.s.c2d[k], 0);
		L.s.delivered_before_ack++;
	}
}

/* The stamp writer_send puts in `text`: which writer, which op (-1 if not this run's). */
static int64_t stamp_parse(const json_t *op, uint64_t *seq)
{
	const char *text = json_string_value(json_object_get(json_object_get(op, "payload"), "text"));
	unsigned tag, w;
	uint64_t sent;
	if (!text || sscanf(text, STAMP " %8x %u %" SCNu64 " %" SCNu64, &tag, &w, seq, &sent) != 4 ||
	    tag != L.tag || w >= L.writer_count || *seq >= L.writers[w].op_count)
		return -1;
	return (int64_t)w;
}

/* The fast path: the same bytes in the same state as a client before it went the same way. */
static bool try_memo(struct client *c, const char *text, size_t len, uint64_t at)
{
	struct replica *r = c->rep;
	if (!r || !r->next || r->next_len != len || !client_synced(c) ||
	    memcmp(r->next_frame, text, len) != 0)
		return false;
	if (!order_check(c, r->version, r->next->version, "live delivery"))
		return true; /* cannot happen: a memo always leads to a newer version */
	int64_t writer = r->next_writer;
	uint64_t seq = r->next_seq;
	client_take(c, r->next);
	L.s.memo_hits++;
	record_delivery(c, writer, seq, at);
	return true;
}

/* One op in version order: from an `operation` message (text: its frame, memoized for the
 * other clients of the canvas) or from an `operations` batch (text NULL). */
static void deliver_op(struct client *c, const json_t *op, const char *text, size_t len,
		       uint64_t at)
{
	long long v;
	if (!json_is_object(op) || !json_int(json_object_get(op, "version"), &v)) {
		client_violation(c, "operation message without an operation and its version");
		return;
	}
	struct replica *from = c->rep;
	if (!order_check(c, from->version, v, "live delivery"))
		return;
	struct canvas_state *st = canvas_state_clone(from->state);
	canvas_apply_op(st, op);
	L.s.reductions++;
	struct replica *to = replica_new(from->canvas, st, v);
	uint64_t seq = 0;
	int64_t writer = stamp_parse(op, &seq);
	if (!from->next && text) {
		from->next = to;
		to->refs++; /* the memo link */
		from->next_frame = xmalloc(len);
		memcpy(from->next_frame, text, len);
		from->next_len = len;
		from->next_writer = writer;
		from->next_seq = seq;
	}
	client_take(c, to);
	record_delivery(c, writer, seq, at);
}

static void on_operation(struct client *c, json_t *msg, const char *text, size_t len, uint64_t at)
{
	if (!client_synced(c)) {
		client_violation(c, "operation before sync");
		return;
	}
	deliver_op(c, json_object_get(msg, "operation"), text, len, at);
}

/* A batch: what the server held back while this client was behind (or catching up). */
static void on_operations(struct client *c, json_t *msg, uint64_t at)
{
	if (!client_synced(c)) {
		client_violation(c, "operations before sync");
		return;
	}
	const json_t *ops = json_object_get(msg, "operations");
	if (!json_is_array(ops) || json_array_size(ops) == 0) {
		client_violation(c, "operations message without a non-empty array");
		return;
	}
	L.s.op_batches++;
	size_t i;
	const json_t *op;
	json_array_foreach(ops, i, op) {
		deliver_op(c, op, NULL, 0, at);
		if (c->state == CS_FAILED)
			return;
	}
}

static void writer_send(struct writer *w);

static void on_ack(struct client *c, json_t *msg, uint64_t at)
{
	struct writer *w = c->writer;
	uint32_t wi;
	uint64_t seq;
	const char *id = json_string_value(json_object_get(msg, "client_op_id"));
	long long version;
	if (!w || !op_id_parse(id, &wi, &seq) || wi != w->index || seq >= w->op_count ||
	    !json_int(json_object_get(msg, "version"), &version)) {
		client_violation(c, "ack for an op this client did not send");
		return;
	}
	struct op_record *rec = &w->ops[seq];
	if (rec->ack_ns) {
		client_violation(c, "a second ack for one op");
		return;
	}
	rec->ack_ns = at;
	if (json_is_true(json_object_get(msg, "duplicate")))
		L.s.duplicate_acks++;
	if (w->in_flight)
		w->in_flight--;
	w->acked++;
	L.s.ops_acked++;
	if (in_window(rec->send_ns)) {
		L.s.ops_acked_window++;
		hist_record(L.s.ack, at - rec->send_ns);
	}
	if (L.opt.rate <= 0)
		writer_send(w);
	if (L.phase == PH_DRAIN)
		phase_check();
}

static void on_error(struct client *c, json_t *msg)
{
	const char *code = json_string_value(json_object_get(msg, "code"));
	counter_add(&L.s.errors, code ? code : "(no code)");
	const char *id = json_string_value(json_object_get(msg, "client_op_id"));
	uint32_t wi;
	uint64_t seq;
	struct writer *w = c->writer;
	if (id && w && op_id_parse(id, &wi, &seq) && wi == w->index && seq < w->op_count) {
		if (w->in_flight)
			w->in_flight--;
		w->errors++;
		if (L.opt.rate <= 0 && (L.phase == PH_WARMUP || L.phase == PH_MEASURE)) {
			/* Closed loop: back off a little (rate_limited, unavailable) and go on. */
			struct timeval tv = { 0, 10000 };
			evtimer_add(w->tick.ev, &tv);
		}
		if (L.phase == PH_DRAIN)
			phase_check();
	}
}

static void on_cursor(struct client *c, json_t *msg, uint64_t at)
{
	L.s.cursors_received++;
	const json_t *x = json_object_get(msg, "x"), *y = json_object_get(msg, "y");
	if (!json_is_number(x) || !json_is_number(y)) {
		client_violation(c, "cursor without numeric x, y");
		return;
	}
	double sender = json_number_value(x), us = json_number_value(y);
	if (sender < 0 || sender >= (double)L.client_count || us < 0)
		return; /* not one of ours */
	uint64_t sent = L.cursor_epoch_ns + (uint64_t)us * 1000u;
	if (!in_window(sent))
		return;
	L.s.cursors_window++;
	int k = endpoint_class(&L.clients[(size_t)sender], c);
	hist_record(L.s.relay[k], at > sent ? at - sent : 0);
}

static void handle_text(struct client *c, const char *text, size_t len, uint64_t at)
{
	if (c->state == CS_FAILED)
		return;
	if (L.opt.fault_drop && c->index == 0 && c->ops_received == 0 &&
	    strstr(text, "\"type\":\"operation\"")) {
		c->ops_received++; /* --fault drop-delivery: as if this op never arrived */
		return;
	}
	if (try_memo(c, text, len, at))
		return;
	json_error_t jerr;
	json_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *type = msg ? json_string_value(json_object_get(msg, "type")) : NULL;
	if (!type) {
		client_violation(c, msg ? "message without a string type" : "message is not JSON");
	} else if (strcmp(type, "operation") == 0) {
		on_operation(c, msg, text, len, at);
	} else if (strcmp(type, "operations") == 0) {
		on_operations(c, msg, at);
	} else if (strcmp(type, "cursor") == 0) {
		on_cursor(c, msg, at);
	} else if (strcmp(type, "ack") == 0) {
		on_ack(c, msg, at);
	} else if (strcmp(type, "sync") == 0) {
		on_sync(c, msg, at, len);
	} else if (strcmp(type, "presence_join") == 0 || strcmp(type, "presence_leave") == 0) {
		L.s.presence++;
	} else if (strcmp(type, "error") == 0) {
		on_error(c, msg);
	} else if (strcmp(type, "pong") == 0) {
		L.s.pongs++;
	} else if (strcmp(type, "stroke") == 0) {
		L.s.strokes++;
	} else {
		L.s.other_messages++;
	}
	json_decref(msg);
}

static void process_inbound(void)
{
	while (L.in_head) {
		struct inbound *m = L.in_head;
		L.in_head = m->next;
		if (!L.in_head)
			L.in_tail = NULL;
		L.in_count--;
		handle_text(m->c, m->text, m->len, m->at);
		free(m);
	}
}

static void work_cb(evutil_socket_t fd, short what, void *arg)
{
	process_inbound();
	if (L.phase == PH_CONNECT || L.phase == PH_SETTLE)
		phase_check();
}

/* ---- senders ------------------------------------------------------------------------------ */

static bool sending(void)
{
	return L.phase == PH_WARMUP || L.phase == PH_MEASURE;
}

/*
 * The next op of a writer: a create_shape of its first shape, then update_shape of its shapes
 * (a new shape every 16 ops until --max-shapes). Each carries "wsl <tag> <writer> <seq>
 * <send ns>" in text, which receivers read back.
 */
static void writer_send(struct writer *w)
{
	struct client *c = w->c;
	if (c->state != CS_OPEN || !sending())
		return;
	if (w->in_flight >= L.opt.window) {
		L.s.ops_skipped++;
		return;
	}
	if (L.opt.max_ops && L.s.ops_sent >= L.opt.max_ops)
		return;
	if (w->op_count == w->op_cap) {
		w->op_cap = w->op_cap ? 2 * w->op_cap : 256;
		w->ops = xrealloc(w->ops, w->op_cap * sizeof(*w->ops));
	}
	uint64_t seq = w->op_count, now = now_ns();
	char id[37], text[96], msg[640];
	op_id(w->index, seq, id);
	snprintf(text, sizeof(text), STAMP " %08" PRIx32 " %" PRIu32 " %" PRIu64 " %" PRIu64, L.tag,
		 w->index, seq, now);
	int len;
	if (w->shapes == 0 || (w->shapes < L.opt.max_shapes && seq % 16 == 0)) {
		len = snprintf(msg, sizeof(msg),
			       "{\"type\":\"operation\",\"op_type\":\"create_shape\",\"client_op_id\":"
			       "\"%s\",\"payload\":{\"shape_id\":\"wsl-%" PRIu32 "-%u\",\"kind\":\"rect\","
			       "\"x\":%u,\"y\":%u,\"w\":120,\"h\":80,\"text\":\"%s\",\"style\":"
			       "{\"fill\":\"#fde68a\"}}}",
			       id, w->index, w->shapes, (unsigned)(rng_next() % 4000),
			       (unsigned)(rng_next() % 3000), text);
		w->shapes++;
	} else {
		len = snprintf(msg, sizeof(msg),
			       "{\"type\":\"operation\",\"op_type\":\"update_shape\",\"client_op_id\":"
			       "\"%s\",\"payload\":{\"shape_id\":\"wsl-%" PRIu32 "-%u\",\"text\":\"%s\","
			       "\"z\":%" PRIu64 "}}",
			       id, w->index, (unsigned)(seq % w->shapes), text, seq);
	}
	client_send(c, WSF_TEXT, msg, (size_t)len);
	w->ops[seq].send_ns = now;
	w->ops[seq].ack_ns = 0;
	w->op_count++;
	w->in_flight++;
	L.s.ops_sent++;
	if (in_window(now))
		L.s.ops_sent_window++;
}

/* Schedules a ticker's next firing on its own grid (no drift), skipping ahead when late. */
static void ticker_arm(struct ticker *t)
{
	uint64_t now = now_ns();
	t->next_ns += t->interval_ns;
	if (t->next_ns + 1000000000u < now) {
		L.s.late_ticks++;
		t->next_ns = now;
	}
	struct timeval tv = timeval_of_ns(t->next_ns > now ? t->next_ns - now : 0);
	evtimer_add(t->ev, &tv);
}

static void writer_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;
	if (!sending())
		return;
	if (L.opt.rate > 0) {
		writer_send(w);
		ticker_arm(&w->tick);
	} else {
		while (w->in_flight < L.opt.window && w->c->state == CS_OPEN && sending() &&
		       !(L.opt.max_ops && L.s.ops_sent >= L.opt.max_ops))
			writer_send(w);
	}
}

static void cursor_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	if (!sending())
		return;
	if (c->state == CS_OPEN) {
		uint64_t now = now_ns();
		char msg[96];
		int len = snprintf(msg, sizeof(msg), "{\"type\":\"cursor\",\"x\":%u,\"y\":%" PRIu64 "}",
				   c->index, (now - L.cursor_epoch_ns) / 1000u);
		client_send(c, WSF_TEXT, msg, (size_t)len);
		L.s.cursors_sent++;
		if (in_window(now))
			L.s.cursors_sent_window++;
	}
	ticker_arm(c->cursor);
}

static void start_senders(void)
{
	uint64_t now = now_ns();
	L.cursor_epoch_ns = now;
	if (L.opt.mode == MODE_OPS) {
		uint64_t interval = L.opt.rate > 0 ? (uint64_t)(1e9 * (double)L.writer_count / L.opt.rate)
						   : 0;
		for (size_t i = 0; i < L.writer_count; i++) {
			struct writer *w = &L.writers[i];
			w->tick.interval_ns = interval;
			/* Writers are spread evenly over the interval, so the total rate is smooth. */
			w->tick.next_ns = now + (interval ? interval * i / L.writer_count : 0);
			struct timeval tv = timeval_of_ns(w->tick.next_ns - now);
			evtimer_add(w->tick.ev, &tv);
		}
	} else if (L.opt.mode == MODE_CURSORS) {
		uint64_t interval = (uint64_t)(1e9 / L.opt.cursor_hz);
		for (size_t i = 0; i < L.client_count; i++) {
			struct ticker *t = L.clients[i].cursor;
			t->interval_ns = interval;
			t->next_ns = now + rng_next() % interval;
			struct timeval tv = timeval_of_ns(t->next_ns - now);
			evtimer_add(t->ev, &tv);
		}
	}
}

static void stop_senders(void)
{
	for (size_t i = 0; i < L.writer_count; i++)
		evtimer_del(L.writers[i].tick.ev);
	for (size_t i = 0; i < L.client_count; i++)
		if (L.clients[i].cursor)
			evtimer_del(L.clients[i].cursor->ev);
}

/* ---- REST (head, state) ------------------------------------------------------------------ */

static void rest_launch(struct rest_slot *slot);

static void rest_task_done(struct rest_slot *slot)
{
	slot->busy = false;
	L.rest_done++;
	if (L.rest_next < L.rest_total) {
		rest_launch(slot);
	} else if (L.rest_done == L.rest_total) {
		void (*finished)(void) = L.rest_finished;
		L.rest_finished = NULL;
		if (finished)
			finished();
	}
}

static void rest_fail(const struct rest_task *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void rest_fail(const struct rest_task *t, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	L.rest_failures++;
	example_add(&L.s.mismatches, "REST check of canvas %s failed: %s", L.canvases[t->canvas].id,
		    buf);
}

static void rest_response(struct evhttp_request *req, void *arg)
{
	struct rest_slot *slot = arg;
	const struct rest_task *t = &slot->task;
	struct canvas *cv = &L.canvases[t->canvas];
	int status = req ? evhttp_request_get_response_code(req) : 0;
	json_t *body = NULL;
	if (status == 200) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(in);
		json_error_t jerr;
		body = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &jerr);
	}
	long long version;
	if (!body || !json_int(json_object_get(body, "version"), &version)) {
		rest_fail(t, "HTTP %d%s", status, status == 200 ? " without a version" : "");
	} else if (t->kind == REST_HEAD) {
		cv->head = version;
		cv->head_known = true;
	} else if (t->kind == REST_RECHECK) {
		if (version != cv->head) {
			L.head_changed = true;
			rest_fail(t, "canvases.version moved from %lld to %lld during the check", cv->head,
				  version);
		}
	} else {
		struct op_error err;
		struct canvas_state *st = canvas_state_from_json(json_object_get(body, "shapes"), &err);
		if (!st) {
			rest_fail(t, "GET /state does not load: %s", err.detail);
		} else if (t->kind == REST_STATE) {
			canvas_state_hash(st, cv->ref_hash);
			cv->ref_version = version;
			cv->ref_known = true;
			if (cv->head_known && version != cv->head)
				rest_fail(t, "GET /state is at version %lld, canvases.version is %lld",
					  version, cv->head);
			canvas_state_free(st);
		} else {
			canvas_state_free(cv->base);
			cv->base = st;
			cv->base_version = version;
		}
	}
	json_decref(body);
	rest_task_done(slot);
}

static void rest_launch(struct rest_slot *slot)
{
	const struct endpoint *ep = &L.opt.endpoints[L.opt.rest_endpoint];
	slot->task = L.rest_tasks[L.rest_next++];
	slot->busy = true;
	if (!slot->conn) {
		slot->conn = evhttp_connection_base_new(L.base, NULL, ep->host, (unsigned short)ep->port);
		if (!slot->conn)
			die("evhttp_connection_base_new failed");
		evhttp_connection_set_timeout(slot->conn, 120);
	}
	const struct canvas *cv = &L.canvases[slot->task.canvas];
	char path[160], auth[4200];
	if (slot->task.kind == REST_HEAD || slot->task.kind == REST_RECHECK)
		snprintf(path, sizeof(path), "/api/v1/canvases/%s", cv->id);
	else if (slot->task.at >= 0)
		snprintf(path, sizeof(path), "/api/v1/canvases/%s/state?at=%lld", cv->id, slot->task.at);
	else
		snprintf(path, sizeof(path), "/api/v1/canvases/%s/state", cv->id);
	snprintf(auth, sizeof(auth), "Bearer %s", cv->tokens[0]);
	struct evhttp_request *req = evhttp_request_new(rest_response, slot);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", ep->host_header);
	evhttp_add_header(h, "Authorization", auth);
	if (evhttp_make_request(slot->conn, req, EVHTTP_REQ_GET, path) != 0) {
		rest_fail(&slot->task, "request could not be sent");
		rest_task_done(slot);
	}
}

/* Runs the tasks (at most REST_SLOTS at a time) and calls finished when all are answered. */
static void rest_run(struct rest_task *tasks, size_t count, void (*finished)(void))
{
	free(L.rest_tasks);
	L.rest_tasks = tasks;
	L.rest_total = count;
	L.rest_next = L.rest_done = 0;
	L.rest_finished = finished;
	if (count == 0) {
		L.rest_finished = NULL;
		finished();
		return;
	}
	for (size_t i = 0; i < REST_SLOTS && L.rest_next < L.rest_total; i++)
		rest_launch(&L.rest_slots[i]);
}

static struct rest_task *rest_tasks_for_canvases(int kind, size_t *count)
{
	struct rest_task *t = xcalloc(L.canvas_count ? L.canvas_count : 1, sizeof(*t));
	size_t n = 0;
	for (size_t i = 0; i < L.canvas_count; i++) {
		if (L.canvases[i].clients == 0)
			continue;
		t[n].canvas = i;
		t[n].kind = kind;
		t[n].at = -1;
		n++;
	}
	*count = n;
	return t;
}

/* ---- phases ------------------------------------------------------------------------------- */

static void enter_phase(enum phase p)
{
	uint64_t now = now_ns();
	L.phase_seconds[L.phase] += (double)(now - L.phase_start_ns) / 1e9;
	L.phase_start_ns = now;
	L.phase = p;
	say("phase %s (t=%.2fs)", phase_names[p], (double)now / 1e9);
}

static void enter_close(void);

static void verify_clients(void)
{
	size_t checked = 0;
	for (size_t i = 0; i < L.client_count; i++) {
		struct client *c = &L.clients[i];
		const struct canvas *cv = &L.canvases[c->canvas];
		if (c->state != CS_OPEN) {
			example_add(&L.s.mismatches, "client %u (endpoint %u, canvas %s) is %s at the end: "
				    "not verified", c->index, c->endpoint, cv->id,
				    client_state_names[c->state]);
			continue;
		}
		if (!cv->ref_known || !cv->head_known)
			continue; /* the REST failure is reported already */
		const char *hash = replica_hash(c->rep);
		checked++;
		if (c->rep->version != cv->head || strcmp(hash, cv->ref_hash) != 0)
			example_add(&L.s.mismatches, "client %u (endpoint %u, canvas %s): version %lld "
				    "hash %.16s..., but canvases.version %lld and GET /state hash "
				    "%.16s...", c->index, c->endpoint, cv->id, c->rep->version, hash,
				    cv->head, cv->ref_hash);
	}
	say("convergence: %zu clients checked against %zu canvases, %" PRIu64 " mismatches",
	    checked, L.canvas_count, L.s.mismatches.total);
}

static void verify_done(void)
{
	verify_clients();
	enter_close();
}

static void enter_verify(void)
{
	enter_phase(PH_VERIFY);
	process_inbound();
	size_t n;
	struct rest_task *t = rest_tasks_for_canvases(REST_STATE, &n);
	rest_run(t, n, verify_done);
}

static bool everyone_at_head(void)
{
	for (size_t i = 0; i < L.client_count; i++) {
		const struct client *c = &L.clients[i];
		if (c->state == CS_OPEN && L.canvases[c->canvas].head_known &&
		    c->rep->version < L.canvases[c->canvas].head)
			return false;
	}
	return true;
}

static void settle_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	if (L.phase != PH_SETTLE)
		return;
	process_inbound();
	if (everyone_at_head() || L.phase_start_ns + (uint64_t)(L.opt.settle_timeout * 1e9) <
						 now_ns()) {
		if (!everyone_at_head())
			say("settle: timed out after %.1fs; verifying anyway", L.opt.settle_timeout);
		enter_verify();
		return;
	}
	struct timeval tv = { 0, 20000 };
	evtimer_add(L.settle_timer, &tv);
}

static void heads_known(void)
{
	settle_timer_cb(-1, 0, NULL);
}

static void enter_settle(void)
{
	enter_phase(PH_SETTLE);
	process_inbound();
	size_t n;
	struct rest_task *t = rest_tasks_for_canvases(REST_HEAD, &n);
	rest_run(t, n, heads_known);
}

static void enter_drain(void)
{
	if (L.phase == PH_MEASURE && !L.measure_end_ns)
		L.measure_end_ns = now_ns();
	stop_senders();
	enter_phase(PH_DRAIN);
	evtimer_del(L.phase_timer);
	struct timeval tv = timeval_of(L.opt.drain_timeout);
	evtimer_add(L.phase_timer, &tv);
	phase_check();
}

static void enter_close(void)
{
	enter_phase(PH_CLOSE);
	evtimer_del(L.phase_timer);
	struct timeval tv = timeval_of(L.opt.close_timeout);
	evtimer_add(L.phase_timer, &tv);
	for (size_t i = 0; i < L.client_count; i++)
		client_close(&L.clients[i]);
	phase_check();
}

static void finish(void)
{
	enter_phase(PH_DONE);
	event_base_loopbreak(L.base);
}

static size_t in_flight_total(void)
{
	size_t n = 0;
	for (size_t i = 0; i < L.writer_count; i++)
		n += L.writers[i].in_flight;
	return n;
}

static void write_ready_file(void)
{
	if (!L.opt.ready_file)
		return;
	FILE *f = fopen(L.opt.ready_file, "w");
	if (!f)
		die("%s: %s", L.opt.ready_file, strerror(errno));
	fprintf(f, "%zu\n", L.synced);
	fclose(f);
}

/* Moves on when the current phase's condition holds (called after any relevant event). */
static void phase_check(void)
{
	switch (L.phase) {
	case PH_CONNECT:
		if (L.next_client < L.client_count || L.connecting > 0)
			return;
		L.all_synced_ns = now_ns();
		say("%zu of %zu clients synced in %.2fs (%zu failed)", L.synced, L.client_count,
		    (double)(L.all_synced_ns - L.phase_start_ns) / 1e9, L.failed);
		if (L.synced == 0) {
			say("no client could connect");
			enter_close();
			return;
		}
		write_ready_file();
		evtimer_del(L.phase_timer);
		if (L.opt.mode == MODE_IDLE) {
			enter_phase(PH_MEASURE);
			L.measure_start_ns = now_ns();
			struct timeval tv = timeval_of(L.opt.hold);
			evtimer_add(L.phase_timer, &tv);
		} else {
			enter_phase(PH_WARMUP);
			start_senders();
			struct timeval tv = timeval_of(L.opt.warmup);
			evtimer_add(L.phase_timer, &tv);
		}
		return;
	case PH_DRAIN:
		if (in_flight_total() == 0) {
			evtimer_del(L.phase_timer);
			enter_settle();
		}
		return;
	case PH_CLOSE:
		if (L.live == 0) {
			evtimer_del(L.phase_timer);
			finish();
		}
		return;
	default:
		return;
	}
}

static void phase_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	switch (L.phase) {
	case PH_CONNECT: {
		size_t late = 0;
		for (size_t i = 0; i < L.client_count; i++) {
			struct client *c = &L.clients[i];
			if (c->state == CS_OPEN || c->state == CS_FAILED || c->synced_once)
				continue;
			if (!c->counted_connecting) { /* never started */
				c->counted_connecting = true;
				L.connecting++;
			}
			late++;
			client_fail(c, "not synced within --connect-timeout");
		}
		L.next_client = L.client_count;
		say("connect timeout: %zu clients not synced after %.0fs", late, L.opt.connect_timeout);
		phase_check();
		return;
	}
	case PH_WARMUP:
		enter_phase(PH_MEASURE);
		L.measure_start_ns = now_ns();
		struct timeval tv = timeval_of(L.opt.duration);
		evtimer_add(L.phase_timer, &tv);
		return;
	case PH_MEASURE:
		enter_drain();
		return;
	case PH_DRAIN:
		say("drain: %zu ops still unacknowledged after %.1fs", in_flight_total(),
		    L.opt.drain_timeout);
		for (size_t i = 0; i < L.writer_count; i++) {
			L.s.ops_lost += L.writers[i].in_flight;
			L.writers[i].lost += L.writers[i].in_flight;
			L.writers[i].in_flight = 0;
		}
		enter_settle();
		return;
	case PH_CLOSE:
		say("close: %zu sockets without a closing handshake after %.1fs; dropping them", L.live,
		    L.opt.close_timeout);
		for (size_t i = 0; i < L.client_count; i++)
			if (L.clients[i].bev)
				client_release(&L.clients[i], CS_CLOSED);
		finish();
		return;
	default:
		return;
	}
}

static void starter_cb(evutil_socket_t fd, short what, void *arg)
{
	if (L.phase == PH_CONNECT) {
		while (L.next_client < L.client_count && L.connecting < L.opt.connect_window) {
			struct client *c = &L.clients[L.next_client++];
			c->counted_connecting = true;
			L.connecting++;
			client_connect(c);
		}
		phase_check();
	}
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	L.deadline_hit = true;
	say("HARD DEADLINE reached in phase %s: stopping now", phase_names[L.phase]);
	finish();
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	if (L.interrupted) {
		finish();
		return;
	}
	L.interrupted = true;
	say("interrupted: closing (again to stop at once)");
	stop_senders();
	if (L.phase < PH_CLOSE)
		enter_close();
}

/* ---- join mode ---------------------------------------------------------------------------- */

static void join_recheck_done(void)
{
	enter_close();
}

static void join_next(void)
{
	while (L.phase == PH_JOIN && L.join_next < L.client_count &&
	       L.join_active < L.opt.join_concurrency) {
		struct client *c = &L.clients[L.join_next++];
		const struct canvas *cv = &L.canvases[c->canvas];
		L.join_active++;
		if (L.opt.since_lag >= 0) {
			client_take(c, replica_new(&L.canvases[c->canvas], canvas_state_clone(cv->base),
						   cv->base_version));
			c->has_base = true;
		}
		client_connect(c);
	}
	if (L.phase == PH_JOIN && L.join_active == 0 && L.join_next == L.client_count) {
		for (size_t i = 0; i < L.client_count; i++)
			if (L.clients[i].state == CS_FAILED)
				L.s.joins_failed++;
		enter_phase(PH_VERIFY);
		size_t n;
		struct rest_task *t = rest_tasks_for_canvases(REST_RECHECK, &n);
		rest_run(t, n, join_recheck_done);
	}
}

static void join_bases_loaded(void)
{
	for (size_t i = 0; i < L.canvas_count; i++) {
		struct canvas *cv = &L.canvases[i];
		if (cv->clients && (!cv->head_known || !cv->ref_known ||
				    (L.opt.since_lag >= 0 && !cv->base))) {
			say("cannot read the reference state of canvas %s", cv->id);
			enter_close();
			return;
		}
	}
	enter_phase(PH_JOIN);
	join_next();
}

static void join_refs_loaded(void)
{
	size_t n = 0;
	struct rest_task *t = xcalloc(L.canvas_count, sizeof(*t));
	for (size_t i = 0; i < L.canvas_count; i++) {
		if (!L.canvases[i].clients || L.opt.since_lag < 0)
			continue;
		long long at = L.canvases[i].head - L.opt.since_lag;
		t[n].canvas = i;
		t[n].kind = REST_BASE;
		t[n].at = at > 0 ? at : 0;
		n++;
	}
	rest_run(t, n, join_bases_loaded);
}

static void join_heads_loaded(void)
{
	size_t n;
	struct rest_task *t = rest_tasks_for_canvases(REST_STATE, &n);
	rest_run(t, n, join_refs_loaded);
}

/* ---- report ------------------------------------------------------------------------------- */

static json_t *hist_json(const struct hist *h)
{
	return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f}", "count", (json_int_t)hist_count(h),
			 "p50", ms_of(hist_percentile(h, 50)), "p90", ms_of(hist_percentile(h, 90)),
			 "p99", ms_of(hist_percentile(h, 99)), "p999", ms_of(hist_percentile(h, 99.9)),
			 "max", ms_of(hist_max(h)), "mean", hist_mean(h) / 1e6);
}

static json_t *hist_pair_json(struct hist *const h[2])
{
	struct hist *all = hist_new();
	hist_merge(all, h[0]);
	hist_merge(all, h[1]);
	json_t *o = json_pack("{s:o, s:o, s:o}", "all", hist_json(all), "same_endpoint",
			      hist_json(h[0]), "other_endpoint", hist_json(h[1]));
	hist_free(all);
	return o;
}

static json_t *counters_json(const struct counters *c)
{
	json_t *o = json_object();
	for (size_t i = 0; i < c->len; i++)
		json_object_set_new(o, c->e[i].name, json_integer((json_int_t)c->e[i].n));
	return o;
}

static json_t *examples_json(const struct examples *e)
{
	json_t *a = json_array();
	for (size_t i = 0; i < e->len; i++)
		json_array_append_new(a, json_string(e->text[i]));
	return json_pack("{s:I, s:o}", "count", (json_int_t)e->total, "examples", a);
}

static bool run_ok(void)
{
	return L.s.violations.total == 0 && L.s.order.total == 0 && L.s.mismatches.total == 0 &&
	       L.rest_failures == 0 && L.failed == 0 && L.s.joins_failed == 0 && !L.deadline_hit &&
	       !L.interrupted && L.s.duplicate_acks == 0;
}

static void report(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double window = L.measure_start_ns && L.measure_end_ns
				? (double)(L.measure_end_ns - L.measure_start_ns) / 1e9 : 0.0;
	json_t *endpoints = json_array();
	for (size_t i = 0; i < L.opt.endpoint_count; i++)
		json_array_append_new(endpoints, json_pack("{s:s, s:I}", "address",
							   L.opt.endpoints[i].host_header, "clients",
							   (json_int_t)L.opt.endpoints[i].clients));
	json_t *phases = json_object();
	for (int p = 0; p < PH_DONE; p++)
		if (L.phase_seconds[p] > 0)
			json_object_set_new(phases, phase_names[p], json_real(L.phase_seconds[p]));
	json_t *r = json_object();
	json_object_set_new(r, "mode", json_string(mode_names[L.opt.mode]));
	json_object_set_new(r, "ok", json_boolean(run_ok()));
	json_object_set_new(r, "clients", json_integer((json_int_t)L.client_count));
	json_object_set_new(r, "canvases", json_integer((json_int_t)L.canvas_count));
	json_object_set_new(r, "endpoints", endpoints);
	json_object_set_new(r, "window_seconds", json_real(window));
	json_object_set_new(r, "phase_seconds", phases);
	json_object_set_new(r, "connect", json_pack(
		"{s:I, s:I, s:f, s:o, s:o, s:I, s:o}", "synced", (json_int_t)L.synced, "failed",
		(json_int_t)L.failed, "seconds_to_all_synced",
		L.all_synced_ns ? (double)(L.all_synced_ns - L.connect_start_ns) / 1e9 : 0.0, "upgrade_ms",
		hist_json(L.s.upgrade), "sync_ms", hist_json(L.s.sync), "retries",
		(json_int_t)L.s.connect_retries, "failures", counters_json(&L.s.failures)));
	if (L.opt.mode == MODE_OPS) {
		json_object_set_new(r, "ops", json_pack(
			"{s:I, s:f, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:o, s:I, s:f, s:o, s:o, "
			"s:I, s:I}",
			"writers", (json_int_t)L.writer_count, "rate", L.opt.rate, "loop",
			L.opt.rate > 0 ? "open" : "closed", "window", (json_int_t)L.opt.window,
			"sent", (json_int_t)L.s.ops_sent, "acked", (json_int_t)L.s.ops_acked,
			"sent_in_window", (json_int_t)L.s.ops_sent_window, "acked_of_window",
			(json_int_t)L.s.ops_acked_window, "skipped_window_full",
			(json_int_t)L.s.ops_skipped, "sent_per_sec",
			window > 0 ? (double)L.s.ops_sent_window / window : 0.0, "acked_per_sec",
			window > 0 ? (double)L.s.ops_acked_window / window : 0.0, "ack_ms",
			hist_json(L.s.ack), "deliveries_in_window", (json_int_t)L.s.deliveries_window,
			"deliveries_per_sec", window > 0 ? (double)L.s.deliveries_window / window : 0.0,
			"send_to_delivery_ms", hist_pair_json(L.s.e2e), "commit_to_delivery_ms",
			hist_pair_json(L.s.c2d), "delivered_before_ack",
			(json_int_t)L.s.delivered_before_ack, "lost_in_flight", (json_int_t)L.s.ops_lost));
	}
	if (L.opt.mode == MODE_CURSORS)
		json_object_set_new(r, "cursors", json_pack(
			"{s:f, s:I, s:I, s:f, s:I, s:f, s:o}", "hz", L.opt.cursor_hz, "sent",
			(json_int_t)L.s.cursors_sent, "sent_in_window",
			(json_int_t)L.s.cursors_sent_window, "sent_per_sec",
			window > 0 ? (double)L.s.cursors_sent_window / window : 0.0,
			"received_of_window", (json_int_t)L.s.cursors_window, "received_per_sec",
			window > 0 ? (double)L.s.cursors_window / window : 0.0, "relay_ms",
			hist_pair_json(L.s.relay)));
	if (L.opt.mode == MODE_JOIN)
		json_object_set_new(r, "join", json_pack(
			"{s:I, s:I, s:I, s:I, s:o, s:o, s:I, s:I, s:I}", "joins",
			(json_int_t)L.client_count, "synced", (json_int_t)L.s.joins_done, "failed",
			(json_int_t)L.s.joins_failed, "since_lag", (json_int_t)L.opt.since_lag,
			"connect_to_upgrade_ms", hist_json(L.s.join_upgrade), "connect_to_sync_ms",
			hist_json(L.s.join_sync), "sync_bytes_max", (json_int_t)L.s.sync_bytes_max,
			"head", (json_int_t)(L.canvas_count ? L.canvases[0].head : 0), "concurrency",
			(json_int_t)L.opt.join_concurrency));
	json_object_set_new(r, "messages", json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I}", "deliveries",
		(json_int_t)L.s.deliveries, "cursors", (json_int_t)L.s.cursors_received, "presence",
		(json_int_t)L.s.presence, "pongs", (json_int_t)L.s.pongs, "server_pings",
		(json_int_t)L.s.pings, "other",
		(json_int_t)(L.s.other_messages + L.s.strokes), "errors", counters_json(&L.s.errors),
		"sync_state_mode", (json_int_t)L.s.sync_state_mode, "sync_operations_mode",
		(json_int_t)L.s.sync_ops_mode, "sync_bytes_max", (json_int_t)L.s.sync_bytes_max));
	json_object_set_new(r, "reducer", json_pack(
		"{s:I, s:I, s:I}", "reductions", (json_int_t)L.s.reductions, "memo_hits",
		(json_int_t)L.s.memo_hits, "op_batches", (json_int_t)L.s.op_batches));
	json_object_set_new(r, "connections", json_pack(
		"{s:I, s:o, s:I}", "reconnects", (json_int_t)L.s.reconnects, "unexpected_closes",
		counters_json(&L.s.closes), "late_ticks", (json_int_t)L.s.late_ticks));
	json_object_set_new(r, "protocol_violations", examples_json(&L.s.violations));
	json_object_set_new(r, "order_violations", examples_json(&L.s.order));
	size_t heads = 0;
	for (size_t i = 0; i < L.canvas_count; i++)
		heads += L.canvases[i].head_known ? (size_t)L.canvases[i].head : 0;
	json_object_set_new(r, "convergence", json_pack(
		"{s:b, s:o, s:I, s:I, s:b}", "ok", L.s.mismatches.total == 0 && L.rest_failures == 0,
		"mismatches", examples_json(&L.s.mismatches), "sum_of_heads", (json_int_t)heads,
		"rest_failures", (json_int_t)L.rest_failures, "head_changed", L.head_changed));
	json_object_set_new(r, "load_generator", json_pack(
		"{s:f, s:f, s:I, s:b, s:b}", "cpu_seconds",
		(double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			(double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
		"max_rss_mb", (double)ru.ru_maxrss / 1024.0, "seed", (json_int_t)L.opt.seed,
		"deadline_hit", L.deadline_hit, "interrupted", L.interrupted));
	char *text = json_dumps(r, JSON_INDENT(2));
	puts(text);
	free(text);
	json_decref(r);
	for (size_t i = 0; i < L.s.failures.len; i++)
		say("%" PRIu64 " client(s) failed: %s", L.s.failures.e[i].n, L.s.failures.e[i].name);
	if (!run_ok())
		say("RUN FAILED: %" PRIu64 " protocol violations, %" PRIu64 " order violations, %" PRIu64
		    " convergence mismatches, %zu clients failed, %" PRIu64 " REST failures%s%s",
		    L.s.violations.total, L.s.order.total, L.s.mismatches.total, L.failed,
		    L.rest_failures, L.deadline_hit ? ", hard deadline hit" : "",
		    L.interrupted ? ", interrupted" : "");
}

/* ---- self-test: my framing against the node's codec ------------------------------------ */

static int self_test_failures;

static void expect(bool ok, const char *what)
{
	if (!ok) {
		self_test_failures++;
		fprintf(stderr, "self-test FAILED: %s\n", what);
	}
}

/* Client frames encoded here must decode, byte for byte, with the server's decoder. */
static void self_test_encoder(void)
{
	static const size_t sizes[] = { 0, 1, 125, 126, 127, 65535, 65536, 200000 };
	struct ws_decoder *d = ws_decoder_new(1 << 20);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];
		char *text = xmalloc(n + 1);
		for (size_t i = 0; i < n; i++)
			text[i] = (char)(' ' + rng_next() % 95);
		uint8_t *frame = xmalloc(n + WSF_MAX_CLIENT_HEADER);
		uint64_t r = rng_next();
		uint8_t mask[4] = { (uint8_t)r, (uint8_t)(r >> 8), (uint8_t)(r >> 16),
				    (uint8_t)(r >> 24) };
		size_t len = wsf_encode_client_frame(frame, WSF_TEXT, text, n, mask);
		/* Fed in random pieces, as a socket would deliver them. */
		size_t off = 0;
		bool got = false;
		while (off < len && !got) {
			size_t piece = 1 + rng_next() % 4096, used;
			if (piece > len - off)
				piece = len - off;
			struct ws_event ev;
			uint16_t code;
			const char *why;
			enum ws_decode_result res = ws_decoder_next(d, frame + off, piece, &used, &ev,
								    &code, &why);
			off += used;
			expect(res != WS_DECODE_ERROR, "the node's decoder refused a client frame");
			if (res == WS_DECODE_ERROR)
				break;
			if (res == WS_DECODE_EVENT) {
				got = true;
				expect(ev.type == WS_EVENT_TEXT && ev.len == n &&
					       (n == 0 || memcmp(ev.data, text, n) == 0),
				       "the node decoded a different text");
			}
		}
		expect(got && off == len, "the node's decoder did not complete a client frame");
		free(frame);
		free(text);
	}
	uint8_t payload[WSF_MAX_CONTROL_PAYLOAD], frame[WSF_MAX_CONTROL_PAYLOAD + 14];
	uint8_t mask[4] = { 1, 2, 3, 4 };
	size_t n = wsf_close_payload(payload, 1000, "done");
	size_t len = wsf_encode_client_frame(frame, WSF_CLOSE, payload, n, mask);
	size_t used;
	struct ws_event ev;
	uint16_t code;
	const char *why;
	expect(ws_decoder_next(d, frame, len, &used, &ev, &code, &why) == WS_DECODE_EVENT &&
		       ev.type == WS_EVENT_CLOSE && ev.close_code == 1000,
	       "the node did not read our close frame");
	ws_decoder_free(d);
}

/* Server headers written by the node's encoder must parse here; bad ones must be refused. */
static void self_test_decoder(void)
{
	static const uint64_t sizes[] = { 0, 125, 126, 65535, 65536, 1ull << 32 };
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint8_t out[10];
		size_t hl = ws_frame_header(out, WS_OP_TEXT, true, sizes[k]);
		struct wsf_header h;
		const char *why;
		expect(wsf_parse_server_header(out, hl, &h, &why) == WSF_OK && h.header_len == hl &&
			       h.payload_len == sizes[k] && h.opcode == WSF_TEXT && h.fin,
		       "a header from the node's encoder did not parse");
		expect(hl < 2 || wsf_parse_server_header(out, hl - 1, &h, &why) == WSF_NEED_MORE,
		       "a truncated header was not 'need more'");
	}
	static const struct {
		uint8_t b[10];
		size_t len;
		const char *what;
	} bad[] = {
		{ { 0x81, 0x85, 1, 2, 3, 4 }, 6, "masked server frame" },
		{ { 0xc1, 0x00 }, 2, "RSV1 set" },
		{ { 0x83, 0x00 }, 2, "opcode 3" },
		{ { 0x8b, 0x00 }, 2, "opcode 0xB" },
		{ { 0x81, 126, 0, 5 }, 4, "16-bit length 5" },
		{ { 0x81, 127, 0, 0, 0, 0, 0, 0, 0, 200 }, 10, "64-bit length 200" },
		{ { 0x81, 127, 0x80, 0, 0, 0, 0, 1, 0, 0 }, 10, "64-bit length, top bit set" },
		{ { 0x89, 126, 0, 200 }, 4, "ping of 200 bytes" },
		{ { 0x09, 0x00 }, 2, "fragmented ping" },
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct wsf_header h;
		const char *why = NULL;
		char what[96];
		snprintf(what, sizeof(what), "accepted a bad server frame: %s", bad[k].what);
		expect(wsf_parse_server_header(bad[k].b, bad[k].len, &h, &why) == WSF_BAD && why,
		       what);
	}
	uint16_t code;
	const char *why;
	expect(wsf_close_payload_valid((const uint8_t *)"\x03\xe8ok", 4, &code, &why) && code == 1000,
	       "close 1000 refused");
	expect(wsf_close_payload_valid((const uint8_t *)"\x03\xf5", 2, &code, &why) && code == 1013,
	       "close 1013 refused");
	expect(!wsf_close_payload_valid((const uint8_t *)"\x03\xed", 2, &code, &why),
	       "close 1005 accepted");
	expect(!wsf_close_payload_valid((const uint8_t *)"\x03\xee", 2, &code, &why),
	       "close 1006 accepted");
	expect(!wsf_close_payload_valid((const uint8_t *)"\x03", 1, &code, &why),
	       "one-byte close payload accepted");
	expect(!wsf_close_payload_valid((const uint8_t *)"\x03\xe8\xc0\xaf", 4, &code, &why),
	       "close reason with an overlong accepted");
}

/* My UTF-8 check against the node's, on edge cases and random bytes: they must agree. */
static void self_test_utf8(void)
{
	static const char *const cases[] = {
		"", "a", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80",
		"\xf4\x8f\xbf\xbf", "\xc0\xaf", "\xc1\xbf", "\xe0\x9f\xbf", "\xed\xa0\x80",
		"\xed\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\x80",
		"\xe2\x82", "\xe2\x82\xac", "a\xff", "\xf0\x9f\x98\x80x",
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		size_t n = strlen(cases[k]);
		expect(wsf_utf8_valid((const uint8_t *)cases[k], n) == validate_utf8(cases[k], n),
		       "UTF-8 verdict differs from the node's on an edge case");
	}
	uint8_t buf[8];
	for (int i = 0; i < 200000; i++) {
		size_t n = 1 + rng_next() % sizeof(buf);
		for (size_t j = 0; j < n; j++) {
			uint64_t r = rng_next();
			/* Bias towards the interesting bytes: lead and continuation bytes. */
			buf[j] = (uint8_t)(r & 1 ? 0x80 + (r >> 8) % 0x80 : r >> 16);
		}
		if (wsf_utf8_valid(buf, n) != validate_utf8((const char *)buf, n)) {
			expect(false, "UTF-8 verdict differs from the node's on random bytes");
			break;
		}
	}
}

static void self_test_op_ids(void)
{
	char id[37];
	uint32_t w;
	uint64_t q;
	op_id(12345, 987654321ull, id);
	expect(op_id_parse(id, &w, &q) && w == 12345 && q == 987654321ull, "op id round trip");
	id[10] = id[10] == '0' ? '1' : '0';
	expect(!op_id_parse(id, &w, &q), "an op id of another run was accepted");
}

static int self_test(void)
{
	self_test_encoder();
	self_test_decoder();
	self_test_utf8();
	self_test_op_ids();
	if (self_test_failures) {
		fprintf(stderr, "ws_load self-test: %d failure(s)\n", self_test_failures);
		return 1;
	}
	fprintf(stderr, "ws_load self-test: ok\n");
	return 0;
}

/* ---- setup -------------------------------------------------------------------------------- */

static void parse_endpoint(struct options *o, const char *arg)
{
	if (o->endpoint_count == MAX_ENDPOINTS)
		die("at most %d endpoints", MAX_ENDPOINTS);
	struct endpoint *e = &o->endpoints[o->endpoint_count];
	loadgen_parse_loopback("--endpoint", arg, e->host, &e->port, e->host_header);
	o->endpoint_count++;
}

static bool token_ok(const char *s)
{
	if (!*s || strlen(s) > 4000)
		return false;
	for (; *s; s++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", *s))
			return false;
	return true;
}

/* Lines "<canvas id> <access token> [<access token>...]"; blank and # lines are skipped. */
static void load_canvases(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		die("%s: %s", path, strerror(errno));
	char *line = NULL;
	size_t cap = 0, alloc = 0;
	unsigned lineno = 0;
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		char *save = NULL, *id = strtok_r(line, " \t\r\n", &save);
		if (!id || *id == '#')
			continue;
		if (!validate_uuid(id))
			die("%s:%u: not a canvas id: %s", path, lineno, id);
		if (L.canvas_count == alloc) {
			alloc = alloc ? 2 * alloc : 64;
			L.canvases = xrealloc(L.canvases, alloc * sizeof(*L.canvases));
		}
		struct canvas *cv = &L.canvases[L.canvas_count++];
		memset(cv, 0, sizeof(*cv));
		snprintf(cv->id, sizeof(cv->id), "%s", id);
		char *tok;
		while ((tok = strtok_r(NULL, " \t\r\n", &save)) && cv->token_count < MAX_TOKENS) {
			if (!token_ok(tok))
				die("%s:%u: malformed access token", path, lineno);
			cv->tokens[cv->token_count++] = xstrdup(tok);
		}
		if (cv->token_count == 0)
			die("%s:%u: canvas %s has no access token", path, lineno, id);
	}
	free(line);
	fclose(f);
	if (L.canvas_count == 0)
		die("%s: no canvases", path);
}

static void setup_clients(void)
{
	const struct options *o = &L.opt;
	L.client_count = o->mode == MODE_JOIN ? o->joins : o->clients;
	L.clients = xcalloc(L.client_count, sizeof(*L.clients));
	for (size_t i = 0; i < L.client_count; i++) {
		struct client *c = &L.clients[i];
		c->index = (uint32_t)i;
		c->canvas = (uint32_t)(i % L.canvas_count);
		/* Round robin puts the clients of one canvas on different endpoints; --route canvas
		 * keeps them together, as a sticky gateway would. */
		c->endpoint = (uint16_t)(o->route_by_canvas ? c->canvas % o->endpoint_count
							    : (i / L.canvas_count) % o->endpoint_count);
		L.canvases[c->canvas].clients++;
		L.opt.endpoints[c->endpoint].clients++;
		if (o->mode == MODE_CURSORS) {
			c->cursor = xcalloc(1, sizeof(*c->cursor));
			c->cursor->ev = evtimer_new(L.base, cursor_tick_cb, c);
			if (event_priority_set(c->cursor->ev, PRIO_IO) != 0)
				die("event_priority_set failed");
		}
	}
	if (o->mode == MODE_OPS) {
		L.writer_count = o->writers < L.client_count ? o->writers : L.client_count;
		L.writers = xcalloc(L.writer_count ? L.writer_count : 1, sizeof(*L.writers));
		for (size_t i = 0; i < L.writer_count; i++) {
			struct writer *w = &L.writers[i];
			w->index = (uint32_t)i;
			w->c = &L.clients[i];
			w->c->writer = w;
			w->tick.ev = evtimer_new(L.base, writer_tick_cb, w);
			if (event_priority_set(w->tick.ev, PRIO_IO) != 0)
				die("event_priority_set failed");
		}
	}
}

static struct event *new_event(evutil_socket_t fd, short what, event_callback_fn cb, int prio)
{
	struct event *ev = event_new(L.base, fd, what, cb, NULL);
	if (!ev || event_priority_set(ev, prio) != 0)
		die("event_new failed");
	return ev;
}

static void usage(FILE *out)
{
	fprintf(out,
"usage: ws_load --mode idle|ops|cursors|join --canvases FILE --endpoint 127.0.0.1:PORT ...\n"
"\n"
"  --canvases FILE        lines \"<canvas id> <access token> [<token>...]\"; client i joins\n"
"                         canvas i mod C with token (i / C) mod tokens\n"
"  --endpoint HOST:PORT   a node or the gateway (repeatable; clients round-robin)\n"
"  --route rr|canvas      rr (default): the clients of a canvas spread over the endpoints;\n"
"                         canvas: all on endpoint (canvas index mod endpoints)\n"
"  --rest-endpoint N      index of the endpoint for the REST checks (default 0)\n"
"  --clients N            connections (idle, ops, cursors; default 10)\n"
"  --connect-window N     connections being opened at once (default 200)\n"
"  --connect-timeout S    every client must be synced by then (default 120)\n"
"  --writers N            ops: the first N clients write (default 1)\n"
"  --rate R               ops: ops/s over all writers, open loop; 0 = closed loop (default 0)\n"
"  --window N             ops: ops in flight per writer at most (default 1)\n"
"  --max-shapes N         ops: shapes per writer (default 4)\n"
"  --max-ops N            ops: stop sending after N ops (default: no limit)\n"
"  --cursor-hz H          cursors: messages per second per client (default 30)\n"
"  --warmup S             unmeasured sending before the window (default 1)\n"
"  --duration S           measured window (default 5, at most 600)\n"
"  --hold S               idle: how long to hold the synced connections (default 5)\n"
"  --joins N              join: number of joins (default 50)\n"
"  --join-concurrency N   join: joins in progress at once (default 1)\n"
"  --since-lag K          join: connect with ?since=head-K onto GET /state?at=head-K\n"
"  --drain-timeout S      wait for outstanding acks (default 10)\n"
"  --settle-timeout S     wait for clients to reach canvases.version (default 15)\n"
"  --close-timeout S      closing handshakes (default 5)\n"
"  --ready-file PATH      written once every client is synced (for RSS sampling)\n"
"  --seed N               random seed (default: from getrandom)\n"
"  --self-test            check the framing against the node's codec, then exit\n"
"  --fault drop-delivery  client 0 loses its first live op on purpose: proves the order and\n"
"                         convergence checks fail (exit 1)\n"
"\n"
"Prints one JSON object on stdout. Exit status: 0 ok, 1 a check failed, 2 usage/setup.\n");
}

static double parse_double(const char *name, const char *v, double lo, double hi)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(d) || d < lo || d > hi)
		die("--%s %s: expected a number in [%g, %g]", name, v, lo, hi);
	return d;
}

static uint64_t parse_count(const char *name, const char *v, uint64_t lo, uint64_t hi)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || end == v || *end || *v == '-' || n < lo || n > hi)
		die("--%s %s: expected an integer in [%" PRIu64 ", %" PRIu64 "]", name, v, lo, hi);
	return n;
}

static void parse_options(int argc, char **argv, bool *self_test_only)
{
	struct options *o = &L.opt;
	o->mode = MODE_IDLE;
	o->clients = 10;
	o->writers = 1;
	o->window = 1;
	o->cursor_hz = 30;
	o->duration = 5;
	o->warmup = 1;
	o->hold = 5;
	o->joins = 50;
	o->join_concurrency = 1;
	o->since_lag = -1;
	o->connect_window = 200;
	o->connect_timeout = 120;
	o->drain_timeout = 10;
	o->settle_timeout = 15;
	o->close_timeout = 5;
	o->max_shapes = 4;
	bool mode_given = false;
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "canvases", required_argument, NULL, 'c' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "route", required_argument, NULL, 'R' },
		{ "rest-endpoint", required_argument, NULL, 'E' },
		{ "clients", required_argument, NULL, 'n' },
		{ "connect-window", required_argument, NULL, 'W' },
		{ "connect-timeout", required_argument, NULL, 'T' },
		{ "writers", required_argument, NULL, 'w' },
		{ "rate", required_argument, NULL, 'r' },
		{ "window", required_argument, NULL, 'x' },
		{ "max-shapes", required_argument, NULL, 'S' },
		{ "max-ops", required_argument, NULL, 'M' },
		{ "cursor-hz", required_argument, NULL, 'z' },
		{ "warmup", required_argument, NULL, 'u' },
		{ "duration", required_argument, NULL, 'd' },
		{ "hold", required_argument, NULL, 'H' },
		{ "joins", required_argument, NULL, 'j' },
		{ "join-concurrency", required_argument, NULL, 'J' },
		{ "since-lag", required_argument, NULL, 'L' },
		{ "drain-timeout", required_argument, NULL, 'D' },
		{ "settle-timeout", required_argument, NULL, 's' },
		{ "close-timeout", required_argument, NULL, 'C' },
		{ "ready-file", required_argument, NULL, 'y' },
		{ "seed", required_argument, NULL, 'k' },
		{ "self-test", no_argument, NULL, 't' },
		{ "fault", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'm': {
			bool found = false;
			for (int i = 0; i < 4; i++)
				if (strcmp(optarg, mode_names[i]) == 0)
					o->mode = (enum mode)i, found = true;
			if (!found)
				die("--mode %s: expected idle, ops, cursors or join", optarg);
			mode_given = true;
			break;
		}
		case 'c': o->canvases_file = optarg; break;
		case 'e': parse_endpoint(o, optarg); break;
		case 'R':
			if (strcmp(optarg, "canvas") && strcmp(optarg, "rr"))
				die("--route %s: expected rr or canvas", optarg);
			o->route_by_canvas = strcmp(optarg, "canvas") == 0;
			break;
		case 'E': o->rest_endpoint = parse_count("rest-endpoint", optarg, 0, MAX_ENDPOINTS - 1); break;
		case 'n': o->clients = parse_count("clients", optarg, 1, 1000000); break;
		case 'W': o->connect_window = parse_count("connect-window", optarg, 1, 100000); break;
		case 'T': o->connect_timeout = parse_double("connect-timeout", optarg, 1, 600); break;
		case 'w': o->writers = parse_count("writers", optarg, 0, 1000000); break;
		case 'r': o->rate = parse_double("rate", optarg, 0, 1e7); break;
		case 'x': o->window = (unsigned)parse_count("window", optarg, 1, 100000); break;
		case 'S': o->max_shapes = (unsigned)parse_count("max-shapes", optarg, 1, 10000); break;
		case 'M': o->max_ops = parse_count("max-ops", optarg, 1, UINT64_MAX / 2); break;
		case 'z': o->cursor_hz = parse_double("cursor-hz", optarg, 0.1, 1000); break;
		case 'u': o->warmup = parse_double("warmup", optarg, 0, 120); break;
		case 'd': o->duration = parse_double("duration", optarg, 0.1, 600); break;
		case 'H': o->hold = parse_double("hold", optarg, 0, 600); break;
		case 'j': o->joins = parse_count("joins", optarg, 1, 100000); break;
		case 'J': o->join_concurrency = parse_count("join-concurrency", optarg, 1, 10000); break;
		case 'L': o->since_lag = (long long)parse_count("since-lag", optarg, 0, 1ull << 53); break;
		case 'D': o->drain_timeout = parse_double("drain-timeout", optarg, 0, 600); break;
		case 's': o->settle_timeout = parse_double("settle-timeout", optarg, 0, 600); break;
		case 'C': o->close_timeout = parse_double("close-timeout", optarg, 0, 600); break;
		case 'y': o->ready_file = optarg; break;
		case 'k': o->seed = parse_count("seed", optarg, 1, UINT64_MAX); break;
		case 't': *self_test_only = true; break;
		case 'F':
			if (strcmp(optarg, "drop-delivery") != 0)
				die("--fault %s: the only fault is drop-delivery", optarg);
			o->fault_drop = true;
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc)
		die("unexpected argument %s", argv[optind]);
	if (*self_test_only)
		return;
	if (!mode_given || !o->canvases_file || o->endpoint_count == 0) {
		usage(stderr);
		exit(2);
	}
	if (o->rest_endpoint >= o->endpoint_count)
		die("--rest-endpoint %zu: only %zu endpoints", o->rest_endpoint, o->endpoint_count);
	if (o->mode == MODE_OPS && o->writers == 0)
		die("--mode ops needs --writers >= 1");
}

int main(int argc, char **argv)
{
	loadgen_set_program("ws_load");
	clock_gettime(CLOCK_MONOTONIC, &L.t0);
	bool self_test_only = false;
	parse_options(argc, argv, &self_test_only);
	if (L.opt.seed == 0 && getrandom(&L.opt.seed, sizeof(L.opt.seed), 0) != sizeof(L.opt.seed))
		die("getrandom: %s", strerror(errno));
	rng_seed(L.opt.seed);
	L.tag = (uint32_t)rng_next();
	if (self_test_only)
		return self_test();
	signal(SIGPIPE, SIG_IGN);

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max; /* one descriptor per client */
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	size_t wanted = L.opt.mode == MODE_JOIN ? L.opt.join_concurrency : L.opt.clients;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    wanted + 32 > rl.rlim_cur)
		die("%zu clients need more file descriptors than ulimit -n allows (%llu)", wanted,
		    (unsigned long long)rl.rlim_cur);

	load_canvases(L.opt.canvases_file);
	L.base = event_base_new();
	if (!L.base || event_base_priority_init(L.base, 2) != 0)
		die("event_base_new failed");
	L.s.upgrade = hist_new();
	L.s.sync = hist_new();
	L.s.ack = hist_new();
	L.s.join_upgrade = hist_new();
	L.s.join_sync = hist_new();
	for (int k = 0; k < 2; k++) {
		L.s.e2e[k] = hist_new();
		L.s.c2d[k] = hist_new();
		L.s.relay[k] = hist_new();
	}
	setup_clients();
	L.work_ev = new_event(-1, 0, work_cb, PRIO_WORK);
	L.starter_ev = new_event(-1, 0, starter_cb, PRIO_IO);
	L.reaper_ev = new_event(-1, 0, reaper_cb, PRIO_IO);
	L.phase_timer = new_event(-1, 0, phase_timer_cb, PRIO_IO);
	L.settle_timer = new_event(-1, 0, settle_timer_cb, PRIO_IO);
	L.deadline_timer = new_event(-1, 0, deadline_cb, PRIO_IO);
	L.sigint_ev = new_event(SIGINT, EV_SIGNAL | EV_PERSIST, signal_cb, PRIO_IO);
	L.sigterm_ev = new_event(SIGTERM, EV_SIGNAL | EV_PERSIST, signal_cb, PRIO_IO);
	event_add(L.sigint_ev, NULL);
	event_add(L.sigterm_ev, NULL);

	/* The whole run is bounded, whatever happens. */
	const struct options *o = &L.opt;
	double deadline = o->mode == MODE_JOIN
		? 120.0 + (double)o->joins * 10.0 / (double)o->join_concurrency + o->close_timeout
		: o->connect_timeout + o->warmup + (o->mode == MODE_IDLE ? o->hold : o->duration) +
			  o->drain_timeout + o->settle_timeout + o->close_timeout + 240.0;
	struct timeval dtv = timeval_of(deadline);
	evtimer_add(L.deadline_timer, &dtv);

	say("mode %s: %zu clients, %zu canvases, %zu endpoints, deadline %.0fs", mode_names[o->mode],
	    L.client_count, L.canvas_count, o->endpoint_count, deadline);
	L.phase_start_ns = now_ns();
	if (o->mode == MODE_JOIN) {
		L.phase = PH_PREPARE;
		size_t n;
		struct rest_task *t = rest_tasks_for_canvases(REST_HEAD, &n);
		rest_run(t, n, join_heads_loaded);
	} else {
		L.phase = PH_CONNECT;
		L.connect_start_ns = L.phase_start_ns;
		struct timeval tv = timeval_of(o->connect_timeout);
		evtimer_add(L.phase_timer, &tv);
		event_active(L.starter_ev, 0, 0);
	}
	event_base_dispatch(L.base);
	process_inbound();
	report();
	bool ok = run_ok();

	/* Teardown, so leak checkers see a clean exit. */
	for (size_t i = 0; i < L.client_count; i++) {
		struct client *c = &L.clients[i];
		if (c->bev)
			bufferevent_free(c->bev);
		if (c->fragments)
			evbuffer_free(c->fragments);
		client_take(c, NULL);
		if (c->cursor) {
			event_free(c->cursor->ev);
			free(c->cursor);
		}
	}
	reaper_cb(-1, 0, NULL);
	for (size_t i = 0; i < L.writer_count; i++) {
		event_free(L.writers[i].tick.ev);
		free(L.writers[i].ops);
	}
	for (size_t i = 0; i < REST_SLOTS; i++)
		if (L.rest_slots[i].conn)
			evhttp_connection_free(L.rest_slots[i].conn);
	for (size_t i = 0; i < L.canvas_count; i++) {
		for (size_t k = 0; k < L.canvases[i].token_count; k++)
			free(L.canvases[i].tokens[k]);
		canvas_state_free(L.canvases[i].base);
	}
	struct examples *ex[] = { &L.s.violations, &L.s.order, &L.s.mismatches };
	for (size_t k = 0; k < 3; k++)
		for (size_t i = 0; i < ex[k]->len; i++)
			free(ex[k]->text[i]);
	struct hist *hs[] = { L.s.upgrade, L.s.sync, L.s.ack, L.s.join_upgrade, L.s.join_sync,
			      L.s.e2e[0], L.s.e2e[1], L.s.c2d[0], L.s.c2d[1], L.s.relay[0],
			      L.s.relay[1] };
	for (size_t k = 0; k < sizeof(hs) / sizeof(hs[0]); k++)
		hist_free(hs[k]);
	struct event *evs[] = { L.work_ev, L.starter_ev, L.reaper_ev, L.phase_timer, L.settle_timer,
				L.deadline_timer, L.sigint_ev, L.sigterm_ev };
	for (size_t k = 0; k < sizeof(evs) / sizeof(evs[0]); k++)
		event_free(evs[k]);
	free(L.rest_tasks);
	free(L.graveyard);
	free(L.writers);
	free(L.clients);
	free(L.canvases);
	event_base_free(L.base);
	return ok ? 0 : 1;
}
