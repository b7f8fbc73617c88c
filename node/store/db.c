/*
 * Why this file looks the way it does.
 *
 * The node is one libevent loop serving thousands of sockets, so a database round trip must never
 * block it: every connection is a non-blocking libpq connection driven by its socket's readiness
 * (PQconnectPoll while connecting, then PQsendQueryParams / PQflush / PQconsumeInput / PQisBusy /
 * PQgetResult). One connection runs one statement at a time; a pool of them plus a bounded FIFO
 * queue gives parallelism and backpressure (a full queue is refused at once, so the HTTP layer
 * answers 503 instead of queueing without bound).
 *
 * Each connection is a small state machine (enum db_conn_state) whose state changes only in
 * conn_set_state(), which also keeps the pool's counters true. A lost connection fails only its
 * in-flight statement (retryable: it may or may not have committed) and reconnects with
 * exponential backoff.
 *
 * Every wait has a deadline, because the common failure of a network is not a reset but
 * silence (packets dropped, nothing closed): a query fails (retryable) once it has been in the
 * pool for the query timeout, queued or in flight, so a caller always gets its answer within
 * that bound. A connection whose statement has been in flight for the timeout is dropped and
 * reconnected: a late answer is useless and a silent link would otherwise hold it forever.
 * (A statement whose caller was answered while it was still in flight - it waited in the queue
 * first - is "abandoned": its connection waits out the rest of its own bound, and a late
 * result is discarded.) Connecting has the same bound; TCP keepalives and tcp_user_timeout make
 * the kernel give up on a dead peer too, idle connections included.
 *
 * Reachability is tracked from what the pool sees, never by waiting: the last time the server
 * answered anything. An idle pool probes with `SELECT 1` every DB_PROBE_MS, so a silent link is
 * noticed within a few seconds even without traffic, and db_pool_ready() answers at once.
 *
 * Callback discipline (the classic use-after-free of this kind of code): user callbacks run only
 * after the connection and the queue are back in a consistent state, from local lists detached
 * from the pool, and nothing touches a connection after a callback ran on its behalf. db_query()
 * never dispatches synchronously (it wakes the dispatcher through an activated event), so a
 * callback that queues a follow-up query cannot re-enter the code that called it.
 */
#include "store/db.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <libpq-fe.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"

#define DB_BACKOFF_MIN_MS 100
#define DB_BACKOFF_MAX_MS 5000
/* An idle pool sends a probe when the server has said nothing for this long. */
#define DB_PROBE_MS 1000
/* The server is unreachable when it has said nothing for this long while we waited for it
 * (the probe keeps an idle pool's silence short). */
#define DB_SILENCE_MS 3000
/* libpq grows a connection's input and output buffers to the largest message it ever carried
 * and never shrinks them: after a statement that moved this much, the connection is replaced,
 * so one read of a huge canvas does not pin tens of MB for the life of the process. */
#define DB_RECYCLE_BYTES (1024 * 1024)
/* PQsendQueryParams takes at most this many parameters (a protocol limit). */
#define DB_MAX_PARAMS 65535

struct db_query {
	struct db_query *next;
	char *sql;
	int nparams;
	char **params;
	db_callback cb;      /* NULL once the caller has been answered (abandoned, or a probe) */
	void *arg;
	int64_t enqueued_ms; /* monotonic */
	int64_t deadline_ms; /* the caller's answer is due by then */
	int timeout_ms;      /* this query's bound (the pool's, unless db_query_timeout) */
	size_t param_bytes;  /* what goes out with it (libpq's output buffer grows to hold it) */
	bool probe;          /* the pool's own reachability probe: not counted, no callback */
};

enum db_conn_state {
	DB_CONN_DOWN,       /* no PGconn; retry_timer pending unless the pool is shutting down */
	DB_CONN_CONNECTING, /* PQconnectPoll in progress; retry_timer is the connect deadline */
	DB_CONN_IDLE,       /* established, no statement */
	DB_CONN_BUSY,       /* established, `query` in flight */
};

struct db_conn {
	struct db_pool *pool;
	int index;
	enum db_conn_state state;
	PGconn *pg;
	/* Allocated once, re-bound (event_assign) to the socket of the current PGconn. */
	struct event *rd, *wr;
	int watched_fd;
	struct event *retry_timer;
	struct event *deadline_timer; /* BUSY: the caller's deadline, then the statement's */
	int64_t sent_ms;              /* BUSY: when the statement was sent */
	int backoff_ms;
	unsigned failed_attempts; /* since the last established connection */
	bool ever_connected;
	bool recycling;           /* closed on purpose (large statement): not a reconnect */
	bool flushing;            /* output not fully sent: waiting for EV_WRITE */
	struct db_query *query;   /* in flight (BUSY only) */
	PGresult *result;         /* result collected so far for `query` */
};

struct db_pool {
	struct event_base *base;
	char *conninfo;
	int size;
	size_t queue_max;
	struct db_conn *conns;
	struct db_query *head, *tail;
	size_t queued;
	struct event *kick;        /* activated to dispatch from the loop */
	struct event *queue_timer; /* fails queued queries at their deadline */
	int64_t queue_due_ms;      /* when queue_timer fires (0: not armed) */
	struct event *probe_timer; /* periodic: probes an idle pool, keeps last_rx_ms honest */
	int timeout_ms;            /* query and connect deadline */
	int64_t last_rx_ms;        /* the server last answered (a result, or a connection up) */
	bool probe_in_flight;
	int connected, busy;
	unsigned long long queries, errors, reconnects, timeouts;
	int callback_depth;
	bool shutting_down;
};

static void conn_on_io(evutil_socket_t fd, short what, void *arg);
static void pool_dispatch(struct db_pool *pool);
static void pool_arm_queue_timer(struct db_pool *pool, int64_t due);
static void pool_fail_expired(struct db_pool *pool, struct db_query *expired);

static struct timeval ms_to_timeval(int64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
			      .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
	return tv;
}

/* libpq messages end with a newline and may span lines; log lines may not. */
static void copy_message(char *buf, size_t size, const char *msg)
{
	snprintf(buf, size, "%s", msg && *msg ? msg : "unknown error");
	for (char *p = buf; *p; p++) {
		if (*p == '\n' || *p == '\t' || *p == '\r')
			*p = ' ';
	}
	size_t n = strlen(buf);
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
}

static bool sqlstate_retryable(const char *s)
{
	return strncmp(s, "08", 2) == 0 || strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0 ||
	       strcmp(s, "57P01") == 0 || strcmp(s, "57P02") == 0 || strcmp(s, "57P03") == 0 ||
	       strcmp(s, "53300") == 0;
}

static struct db_query *query_new(const char *sql, int nparams, const char *const *params,
				  db_callback cb, void *arg)
{
	struct db_query *q = xcalloc(1, sizeof(*q));
	q->sql = xstrdup(sql);
	q->nparams = nparams;
	if (nparams > 0) {
		q->params = xcalloc((size_t)nparams, sizeof(*q->params));
		for (int i = 0; i < nparams; i++) {
			q->params[i] = params[i] ? xstrdup(params[i]) : NULL;
			q->param_bytes += params[i] ? strlen(params[i]) : 0;
		}
	}
	q->cb = cb;
	q->arg = arg;
	q->enqueued_ms = clock_mono_ms();
	return q;
}

static void query_free(struct db_query *q)
{
	for (int i = 0; i < q->nparams; i++)
		free(q->params[i]);
	free(q->params);
	free(q->sql);
	free(q);
}

static void queue_push_back(struct db_pool *pool, struct db_query *q)
{
	q->next = NULL;
	if (pool->tail)
		pool->tail->next = q;
	else
		pool->head = q;
	pool->tail = q;
	pool->queued++;
}

static void queue_push_front(struct db_pool *pool, struct db_query *q)
{
	q->next = pool->head;
	pool->head = q;
	if (!pool->tail)
		pool->tail = q;
	pool->queued++;
	pool_arm_queue_timer(pool, q->deadline_ms); /* it may wait for a connection again */
}

static struct db_query *queue_pop(struct db_pool *pool)
{
	struct db_query *q = pool->head;
	if (!q)
		return NULL;
	pool->head = q->next;
	if (!pool->head)
		pool->tail = NULL;
	pool->queued--;
	q->next = NULL;
	return q;
}

/*
 * Runs the user callback, then frees the query and the result: the result is only valid during
 * the callback. Callers must have finished with any connection state before calling this.
 */
static void pool_deliver(struct db_pool *pool, struct db_query *q, PGresult *res, bool ok,
			 const char *sqlstate, const char *message, bool retryable)
{
	if (q->probe)
		pool->probe_in_flight = false;
	if (!q->cb) {
		/* The caller was answered at its deadline (or this was the pool's probe). */
		PQclear(res);
		query_free(q);
		return;
	}
	struct db_result r = {
		.res = res,
		.ok = ok,
		.sqlstate = sqlstate ? sqlstate : "",
		.message = message ? message : "",
		.retryable = retryable,
	};
	pool->queries++;
	if (!ok)
		pool->errors++;
	pool->callback_depth++;
	q->cb(&r, q->arg);
	pool->callback_depth--;
	PQclear(r.res); /* NULL when the callback took it (db_result_take) */
	query_free(q);
}

/* Delivers a result the server produced. lost: the connection failed before the statement ended. */
static void pool_deliver_pgresult(struct db_pool *pool, struct db_query *q, PGresult *res,
				  bool lost, const char *lost_message)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	bool ok = !lost && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
	const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (!sqlstate)
		sqlstate = "";
	char message[512] = "";
	if (!ok) {
		const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
		if (primary)
			copy_message(message, sizeof(message), primary);
		else if (lost)
			copy_message(message, sizeof(message), lost_message);
		else if (res && st == PGRES_EMPTY_QUERY)
			copy_message(message, sizeof(message), "empty query");
		else
			copy_message(message, sizeof(message), res ? PQresStatus(st) : "no result");
	}
	bool retryable = lost || sqlstate_retryable(sqlstate);
	pool_deliver(pool, q, res, ok, sqlstate, message, retryable);
}

/*
 * Answers the caller of an in-flight statement at its deadline (retryable: it may still
 * commit). The statement stays with its connection, abandoned, until it ends or the
 * connection is dropped; its result is then discarded.
 */
static void pool_abandon(struct db_pool *pool, struct db_query *q)
{
	struct db_result r = {
		.res = NULL,
		.ok = false,
		.sqlstate = "",
		.message = "query timed out",
		.retryable = true,
	};
	db_callback cb = q->cb;
	q->cb = NULL;
	pool->queries++;
	pool->errors++;
	pool->timeouts++;
	pool->callback_depth++;
	cb(&r, q->arg);
	pool->callback_depth--;
}

/* The one place a connection changes state: it keeps the pool's counters in step. */
static void conn_set_state(struct db_conn *c, enum db_conn_state next)
{
	struct db_pool *pool = c->pool;
	bool was_up = c->state == DB_CONN_IDLE || c->state == DB_CONN_BUSY;
	bool is_up = next == DB_CONN_IDLE || next == DB_CONN_BUSY;
	if (c->state == DB_CONN_BUSY)
		pool->busy--;
	if (next == DB_CONN_BUSY)
		pool->busy++;
	pool->connected += (int)is_up - (int)was_up;
	if (c->state == DB_CONN_BUSY && next != DB_CONN_BUSY)
		evtimer_del(c->deadline_timer);
	c->state = next;
}

static void conn_unwatch(struct db_conn *c)
{
	event_del(c->rd);
	event_del(c->wr);
	c->watched_fd = -1;
}

/*
 * Waits for the current socket to become readable and/or writable. libpq may replace the socket
 * while connecting (next address, SSL fallback), so the events follow PQsocket().
 */
static void conn_watch(struct db_conn *c, bool read, bool write)
{
	int fd = PQsocket(c->pg);
	if (fd != c->watched_fd) {
		conn_unwatch(c);
		event_assign(c->rd, c->pool->base, fd, EV_READ | EV_PERSIST, conn_on_io, c);
		event_assign(c->wr, c->pool->base, fd, EV_WRITE | EV_PERSIST, conn_on_io, c);
		c->watched_fd = fd;
	}
	if (read)
		event_add(c->rd, NULL);
	else
		event_del(c->rd);
	if (write)
		event_add(c->wr, NULL);
	else
		event_del(c->wr);
}

/* Deregisters before PQfinish closes the socket, so the fd number can be reused safely. */
static void conn_close(struct db_conn *c)
{
	conn_unwatch(c);
	c->flushing = false;
	if (c->pg) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
}

static void conn_schedule_retry(struct db_conn *c)
{
	struct timeval tv = ms_to_timeval(c->backoff_ms);
	evtimer_add(c->retry_timer, &tv);
	c->backoff_ms *= 2;
	if (c->backoff_ms > DB_BACKOFF_MAX_MS)
		c->backoff_ms = DB_BACKOFF_MAX_MS;
}

static void conn_go_down(struct db_conn *c)
{
	conn_close(c);
	conn_set_state(c, DB_CONN_DOWN);
	if (!c->pool->shutting_down)
		conn_schedule_retry(c);
}

static void conn_connect_failed(struct db_conn *c, const char *why)
{
	char msg[512];
	copy_message(msg, sizeof(msg), why);
	c->failed_attempts++;
	evtimer_del(c->retry_timer);
	conn_go_down(c);
	/* While Postgres stays down, log the 1st, 2nd, 4th, 8th... failure, not every one. */
	bool loud = (c->failed_attempts & (c->failed_attempts - 1)) == 0;
	char quoted[600];
	if (loud)
		log_warn("db_connect_failed", "conn=%d attempt=%u error=%s", c->index,
			 c->failed_attempts, log_quote(quoted, sizeof(quoted), msg));
	else
		log_debug("db_connect_failed", "conn=%d attempt=%u error=%s", c->index,
			  c->failed_attempts, log_quote(quoted, sizeof(quoted), msg));
}

/*
 * The connection failed while established. Its in-flight statement (if any) fails retryable: it
 * may or may not have committed. A server error that came with the failure (57P01 on admin
 * shutdown) is passed on, since it says why.
 */
static void conn_lost(struct db_conn *c, const char *why)
{
	struct db_pool *pool = c->pool;
	char msg[512];
	copy_message(msg, sizeof(msg), why);
	struct db_query *q = c->query;
	PGresult *res = c->result;
	c->query = NULL;
	c->result = NULL;
	char quoted[600];
	log_warn("db_disconnected", "conn=%d in_flight=%d error=%s", c->index, q != NULL,
		 log_quote(quoted, sizeof(quoted), msg));
	conn_go_down(c);
	if (!q) {
		PQclear(res);
		return;
	}
	if (res && !PQresultErrorField(res, PG_DIAG_SQLSTATE)) {
		PQclear(res);
		res = NULL;
	}
	pool_deliver_pgresult(pool, q, res, true, msg);
}

static void db_notice_processor(void *arg, const char *message)
{
	struct db_conn *c = arg;
	char msg[512], quoted[600];
	copy_message(msg, sizeof(msg), message);
	log_debug("db_notice", "conn=%d message=%s", c ? c->index : -1,
		  log_quote(quoted, sizeof(quoted), msg));
}

/*
 * libpq keywords for a connection of this pool. Entries before "dbname" are defaults the
 * caller's conninfo (expanded from dbname) can override. TCP keepalives notice a dead server
 * while a connection sits idle, and tcp_user_timeout bounds how long sent data may stay
 * unacknowledged (the kernel then drops the connection, keepalive probes included): both at
 * about the query timeout, so the kernel and the pool give up on a silent peer alike.
 */
struct connect_params {
	const char *keys[8];
	const char *values[8];
	char idle[16], interval[16], user_timeout[16];
};

static void connect_params_init(struct connect_params *p, const struct db_pool *pool)
{
	int timeout_s = (pool->timeout_ms + 999) / 1000;
	snprintf(p->idle, sizeof(p->idle), "%d", timeout_s);
	snprintf(p->interval, sizeof(p->interval), "%d", timeout_s > 3 ? timeout_s / 3 : 1);
	snprintf(p->user_timeout, sizeof(p->user_timeout), "%d", pool->timeout_ms);
	static const char *const keys[] = { "application_name", "keepalives", "keepalives_idle",
					     "keepalives_interval", "keepalives_count",
					     "tcp_user_timeout", "dbname", NULL };
	const char *values[] = { "flowstate-node", "1", p->idle, p->interval, "3",
				 p->user_timeout, pool->conninfo, NULL };
	memcpy(p->keys, keys, sizeof(keys));
	memcpy(p->values, values, sizeof(values));
}

static void conn_start_connect(struct db_conn *c)
{
	struct connect_params params;
	connect_params_init(&params, c->pool);
	c->pg = PQconnectStartParams(params.keys, params.values, 1);
	if (!c->pg) {
		log_error("db_out_of_memory", "where=PQconnectStartParams");
		abort();
	}
	PQsetNoticeProcessor(c->pg, db_notice_processor, c);
	conn_set_state(c, DB_CONN_CONNECTING);
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		conn_connect_failed(c, PQerrorMessage(c->pg));
		return;
	}
	/* connect_timeout is ignored by PQconnectPoll, so the pool enforces its own. */
	struct timeval deadline = ms_to_timeval(c->pool->timeout_ms);
	evtimer_add(c->retry_timer, &deadline);
	/* libpq: after PQconnectStart, act as if PQconnectPoll returned PGRES_POLLING_WRITING. */
	conn_watch(c, false, true);
}

static void conn_established(struct db_conn *c)
{
	struct db_pool *pool = c->pool;
	if (PQsetnonblocking(c->pg, 1) != 0) {
		conn_connect_failed(c, PQerrorMessage(c->pg));
		return;
	}
	evtimer_del(c->retry_timer);
	if ((c->ever_connected && !c->recycling) || c->failed_attempts > 0)
		pool->reconnects++;
	c->recycling = false;
	c->ever_connected = true;
	c->failed_attempts = 0;
	c->backoff_ms = DB_BACKOFF_MIN_MS;
	pool->last_rx_ms = clock_mono_ms();
	conn_set_state(c, DB_CONN_IDLE);
	/* What the kernel was really told (a Unix socket has neither). */
	int fd = PQsocket(c->pg), keepalive = 0;
	unsigned user_timeout = 0;
	socklen_t len = sizeof(keepalive);
	if (getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &keepalive, &len) != 0)
		keepalive = -1;
	len = sizeof(user_timeout);
	if (getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, &len) != 0)
		user_timeout = 0;
	log_info("db_connected",
		 "conn=%d host=%s port=%s server_version=%d backend_pid=%d keepalive=%d "
		 "tcp_user_timeout_ms=%u",
		 c->index, PQhost(c->pg), PQport(c->pg), PQserverVersion(c->pg),
		 PQbackendPID(c->pg), keepalive, user_timeout);
	/* Reading while idle notices a server that closes the connection. */
	conn_watch(c, true, false);
	pool_dispatch(pool);
}

static void conn_continue_connect(struct db_conn *c)
{
	/* libpq may close the socket inside PQconnectPoll: never leave it registered meanwhile. */
	conn_unwatch(c);
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		conn_watch(c, true, false);
		return;
	case PGRES_POLLING_WRITING:
		conn_watch(c, false, true);
		return;
	case PGRES_POLLING_OK:
		conn_established(c);
		return;
	default:
		conn_connect_failed(c, PQerrorMessage(c->pg));
		return;
	}
}

static void conn_on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;
	if (c->state == DB_CONN_DOWN)
		conn_start_connect(c);
	else if (c->state == DB_CONN_CONNECTING)
		conn_connect_failed(c, "connection attempt timed out");
}

/* Bytes of a result's values, counted up to DB_RECYCLE_BYTES (only "is it large" matters). */
static size_t result_bytes(const PGresult *res)
{
	size_t total = 0;
	int rows = PQntuples(res), cols = PQnfields(res);
	for (int r = 0; r < rows && total < DB_RECYCLE_BYTES; r++)
		for (int col = 0; col < cols; col++)
			total += (size_t)PQgetlength(res, r, col);
	return total;
}

/*
 * Replaces a connection whose buffers grew for one large statement: closed and reconnected at
 * once (no backoff: nothing failed), so a pool of one is without a connection for one connect.
 */
static void conn_recycle(struct db_conn *c, size_t param_bytes)
{
	log_info("db_recycled", "conn=%d reason=large_statement param_bytes=%zu", c->index,
		 param_bytes);
	c->recycling = true;
	c->backoff_ms = DB_BACKOFF_MIN_MS;
	conn_close(c);
	conn_set_state(c, DB_CONN_DOWN);
	if (!c->pool->shutting_down)
		conn_start_connect(c);
}

/* The statement ended (PQgetResult returned NULL). */
static void conn_complete_query(struct db_conn *c)
{
	struct db_pool *pool = c->pool;
	struct db_query *q = c->query;
	PGresult *res = c->result;
	c->query = NULL;
	c->result = NULL;
	c->flushing = false;
	pool->last_rx_ms = clock_mono_ms();
	conn_watch(c, true, false);
	bool large = q->param_bytes >= DB_RECYCLE_BYTES ||
		     (res && result_bytes(res) >= DB_RECYCLE_BYTES);
	if (large && PQtransactionStatus(c->pg) == PQTRANS_IDLE) {
		conn_recycle(c, q->param_bytes);
	} else if (PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
		/* A bare BEGIN would hand the next caller an open transaction: drop it instead. */
		char prefix[48], quoted[128];
		snprintf(prefix, sizeof(prefix), "%.40s", q->sql);
		log_error("db_open_transaction", "conn=%d sql=%s", c->index,
			  log_quote(quoted, sizeof(quoted), prefix));
		c->backoff_ms = DB_BACKOFF_MIN_MS;
		conn_go_down(c);
	} else {
		conn_set_state(c, DB_CONN_IDLE);
		/* Send the next statement before running the callback: its round trip overlaps. */
		pool_dispatch(pool);
	}
	if (res) {
		pool_deliver_pgresult(pool, q, res, false, NULL);
	} else {
		pool_deliver(pool, q, NULL, false, "", "statement produced no result", false);
	}
}

static void conn_collect_results(struct db_conn *c)
{
	while (!PQisBusy(c->pg)) {
		PGresult *res = PQgetResult(c->pg);
		if (!res) {
			conn_complete_query(c);
			return;
		}
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
			/* Would never end on its own; the connection cannot be reused. */
			PQclear(res);
			struct db_query *q = c->query;
			c->query = NULL;
			PQclear(c->result);
			c->result = NULL;
			conn_lost(c, "COPY is not supported by db_query");
			pool_deliver(c->pool, q, NULL, false, "",
				     "COPY is not supported by db_query", false);
			return;
		}
		/* Keep the first error, otherwise the last result. */
		if (c->result && PQresultStatus(c->result) == PGRES_FATAL_ERROR) {
			PQclear(res);
		} else {
			PQclear(c->result);
			c->result = res;
		}
	}
	if (PQstatus(c->pg) == CONNECTION_BAD)
		conn_lost(c, PQerrorMessage(c->pg));
}

static void conn_on_busy_io(struct db_conn *c, short what)
{
	if ((what & EV_READ) && !PQconsumeInput(c->pg)) {
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	if (c->flushing) {
		int rc = PQflush(c->pg);
		if (rc < 0) {
			conn_lost(c, PQerrorMessage(c->pg));
			return;
		}
		if (rc == 0) {
			c->flushing = false;
			conn_watch(c, true, false);
		}
	}
	conn_collect_results(c);
}

static void conn_on_idle_input(struct db_conn *c)
{
	if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD) {
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	PGnotify *n;
	while ((n = PQnotifies(c->pg)) != NULL)
		PQfreemem(n);
}

static void conn_on_io(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;
	switch (c->state) {
	case DB_CONN_CONNECTING:
		conn_continue_connect(c);
		break;
	case DB_CONN_IDLE:
		conn_on_idle_input(c);
		break;
	case DB_CONN_BUSY:
		conn_on_busy_io(c, what);
		break;
	case DB_CONN_DOWN:
		break;
	}
}

/* The next deadline of a busy connection: its caller's, then the statement's own. */
static void conn_arm_deadline(struct db_conn *c)
{
	int64_t due = c->sent_ms + c->query->timeout_ms;
	if (c->query->cb && c->query->deadline_ms < due)
		due = c->query->deadline_ms;
	int64_t wait = due - clock_mono_ms();
	struct timeval tv = ms_to_timeval(wait > 0 ? wait : 0);
	evtimer_add(c->deadline_timer, &tv);
}

static void conn_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;
	if (c->state != DB_CONN_BUSY)
		return;
	struct db_pool *pool = c->pool;
	int64_t now = clock_mono_ms();
	struct db_query *q = c->query;
	if (q->cb && now >= q->deadline_ms) {
		log_warn("db_query_timeout", "conn=%d waited_ms=%lld in_flight_ms=%lld",
			 c->index, (long long)(now - q->enqueued_ms),
			 (long long)(now - c->sent_ms));
		pool_abandon(pool, q);
	}
	if (now < c->sent_ms + q->timeout_ms) {
		conn_arm_deadline(c);
		return;
	}
	/* The statement has had its whole bound: the link is silent or the server stuck. The
	 * connection cannot be reused before its answer comes, so drop it. */
	char why[96];
	snprintf(why, sizeof(why), "no answer within %d ms: connection dropped", q->timeout_ms);
	conn_lost(c, why);
}

/*
 * Sends q on idle connection c. Returns false when the connection turned out to be broken: q was
 * not sent (or its Sync never reached the server, so it cannot have committed) and goes back to
 * the head of the queue. A statement libpq refuses on a healthy connection fails at once.
 */
static bool conn_send(struct db_conn *c, struct db_query *q)
{
	struct db_pool *pool = c->pool;
	if (!PQsendQueryParams(c->pg, q->sql, q->nparams, NULL, (const char *const *)q->params,
			       NULL, NULL, 0)) {
		if (PQstatus(c->pg) == CONNECTION_BAD) {
			queue_push_front(pool, q);
			conn_lost(c, PQerrorMessage(c->pg));
			return false;
		}
		char msg[512];
		copy_message(msg, sizeof(msg), PQerrorMessage(c->pg));
		pool_deliver(pool, q, NULL, false, "", msg, false);
		return true;
	}
	c->query = q;
	c->sent_ms = clock_mono_ms();
	conn_set_state(c, DB_CONN_BUSY);
	conn_arm_deadline(c);
	int rc = PQflush(c->pg);
	if (rc < 0) {
		c->query = NULL;
		queue_push_front(pool, q);
		conn_lost(c, PQerrorMessage(c->pg));
		return false;
	}
	c->flushing = rc == 1;
	conn_watch(c, true, c->flushing);
	return true;
}

/* Hands queued statements, oldest first, to idle connections. */
static void pool_dispatch(struct db_pool *pool)
{
	int64_t now = clock_mono_ms();
	struct db_query *expired = NULL, **tailp = &expired;
	for (int i = 0; i < pool->size && pool->head && !pool->shutting_down; i++) {
		struct db_conn *c = &pool->conns[i];
		while (c->state == DB_CONN_IDLE && pool->head && !pool->shutting_down) {
			struct db_query *q = queue_pop(pool);
			if (q->cb && now >= q->deadline_ms) {
				*tailp = q; /* its caller is due an answer: do not start it now */
				tailp = &q->next;
				continue;
			}
			(void)conn_send(c, q);
		}
	}
	pool_fail_expired(pool, expired);
}

static void pool_on_kick(evutil_socket_t fd, short what, void *arg)
{
	pool_dispatch(arg);
}

/* Makes the queue timer fire by `due` (a queued query's deadline). */
static void pool_arm_queue_timer(struct db_pool *pool, int64_t due)
{
	if (pool->queue_due_ms && pool->queue_due_ms <= due)
		return;
	pool->queue_due_ms = due;
	int64_t wait = due - clock_mono_ms();
	struct timeval tv = ms_to_timeval(wait > 0 ? wait : 0);
	evtimer_add(pool->queue_timer, &tv);
}

/* Answers queries that reached their deadline before a connection took them. */
static void pool_fail_expired(struct db_pool *pool, struct db_query *expired)
{
	size_t count = 0;
	for (struct db_query *q = expired; q; q = q->next)
		count++;
	if (count)
		log_warn("db_queue_timeout", "failed=%zu still_queued=%zu connected=%d timeout_ms=%d",
			 count, pool->queued, pool->connected, pool->timeout_ms);
	while (expired) {
		struct db_query *q = expired;
		expired = q->next;
		if (q->cb)
			pool->timeouts++;
		pool_deliver(pool, q, NULL, false, "",
			     pool->connected ? "query timed out" : "database unavailable", true);
	}
}

/* Fails every queued query past its deadline (wherever it is in the FIFO: deadlines differ
 * when a query has its own timeout) and re-arms for the earliest one left. */
static void pool_on_queue_timer(evutil_socket_t fd, short what, void *arg)
{
	struct db_pool *pool = arg;
	int64_t now = clock_mono_ms(), next = 0;
	pool->queue_due_ms = 0;
	struct db_query *expired = NULL, **tailp = &expired;
	struct db_query **link = &pool->head, *prev = NULL;
	while (*link) {
		struct db_query *q = *link;
		if (q->deadline_ms <= now) {
			*link = q->next;
			if (pool->tail == q)
				pool->tail = prev;
			pool->queued--;
			q->next = NULL;
			*tailp = q;
			tailp = &q->next;
			continue;
		}
		if (!next || q->deadline_ms < next)
			next = q->deadline_ms;
		prev = q;
		link = &q->next;
	}
	pool_fail_expired(pool, expired);
	if (next)
		pool_arm_queue_timer(pool, next);
}

/*
 * Keeps last_rx_ms honest on a quiet pool: when the server has said nothing for DB_PROBE_MS
 * and a connection is idle, it gets a `SELECT 1`. A silent link then shows within
 * DB_SILENCE_MS (not ready) and the probe's own deadline drops the connection.
 */
static void pool_on_probe_timer(evutil_socket_t fd, short what, void *arg)
{
	struct db_pool *pool = arg;
	if (pool->shutting_down || pool->probe_in_flight || pool->head ||
	    clock_mono_ms() - pool->last_rx_ms < DB_PROBE_MS)
		return;
	for (int i = 0; i < pool->size; i++) {
		struct db_conn *c = &pool->conns[i];
		if (c->state != DB_CONN_IDLE)
			continue;
		struct db_query *q = query_new("SELECT 1", 0, NULL, NULL, NULL);
		q->timeout_ms = pool->timeout_ms;
		q->deadline_ms = q->enqueued_ms + q->timeout_ms;
		q->probe = true;
		pool->probe_in_flight = true;
		(void)conn_send(c, q);
		return;
	}
}

struct db_pool *db_pool_new(struct event_base *base, const char *conninfo, int size, int queue_max,
			    int timeout_ms)
{
	if (!base || !conninfo || size < 1 || queue_max < 1 || timeout_ms < 1) {
		log_error("db_pool_invalid", "size=%d queue_max=%d", size, queue_max);
		return NULL;
	}
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	if (!opts) {
		char msg[512], quoted[600];
		copy_message(msg, sizeof(msg), err ? err : "out of memory");
		log_error("db_conninfo_invalid", "error=%s",
			  log_quote(quoted, sizeof(quoted), msg));
		PQfreemem(err);
		return NULL;
	}
	PQconninfoFree(opts);

	struct db_pool *pool = xcalloc(1, sizeof(*pool));
	pool->base = base;
	pool->conninfo = xstrdup(conninfo);
	pool->size = size;
	pool->queue_max = (size_t)queue_max;
	pool->timeout_ms = timeout_ms;
	pool->kick = event_new(base, -1, 0, pool_on_kick, pool);
	pool->queue_timer = evtimer_new(base, pool_on_queue_timer, pool);
	pool->probe_timer = event_new(base, -1, EV_PERSIST, pool_on_probe_timer, pool);
	if (!pool->kick || !pool->queue_timer || !pool->probe_timer)
		abort();
	struct timeval probe_every = ms_to_timeval(DB_PROBE_MS / 2);
	event_add(pool->probe_timer, &probe_every);
	pool->conns = xcalloc((size_t)size, sizeof(*pool->conns));
	for (int i = 0; i < size; i++) {
		struct db_conn *c = &pool->conns[i];
		c->pool = pool;
		c->index = i;
		c->state = DB_CONN_DOWN;
		c->watched_fd = -1;
		c->backoff_ms = DB_BACKOFF_MIN_MS;
		c->rd = event_new(base, -1, EV_READ | EV_PERSIST, conn_on_io, c);
		c->wr = event_new(base, -1, EV_WRITE | EV_PERSIST, conn_on_io, c);
		c->retry_timer = evtimer_new(base, conn_on_retry_timer, c);
		c->deadline_timer = evtimer_new(base, conn_on_deadline, c);
		if (!c->rd || !c->wr || !c->retry_timer || !c->deadline_timer)
			abort();
	}
	for (int i = 0; i < size; i++)
		conn_start_connect(&pool->conns[i]);
	return pool;
}

void db_pool_free(struct db_pool *pool)
{
	if (!pool)
		return;
	if (pool->callback_depth > 0) {
		log_error("db_pool_free_in_callback", "depth=%d", pool->callback_depth);
		abort();
	}
	pool->shutting_down = true;
	/* Detach everything first: callbacks then run against a pool that no longer changes. */
	struct db_query *failed = NULL, **tailp = &failed;
	for (int i = 0; i < pool->size; i++) {
		struct db_conn *c = &pool->conns[i];
		if (c->query) {
			*tailp = c->query;
			tailp = &c->query->next;
			c->query->next = NULL;
			c->query = NULL;
		}
		PQclear(c->result);
		c->result = NULL;
		evtimer_del(c->retry_timer);
		conn_close(c);
		conn_set_state(c, DB_CONN_DOWN);
	}
	*tailp = pool->head;
	pool->head = pool->tail = NULL;
	pool->queued = 0;
	evtimer_del(pool->queue_timer);
	pool->queue_due_ms = 0;
	event_del(pool->probe_timer);
	event_del(pool->kick);
	while (failed) {
		struct db_query *q = failed;
		failed = q->next;
		pool_deliver(pool, q, NULL, false, "", "shutting down", true);
	}
	for (int i = 0; i < pool->size; i++) {
		struct db_conn *c = &pool->conns[i];
		event_free(c->rd);
		event_free(c->wr);
		event_free(c->retry_timer);
		event_free(c->deadline_timer);
	}
	event_free(pool->kick);
	event_free(pool->queue_timer);
	event_free(pool->probe_timer);
	free(pool->conns);
	free(pool->conninfo);
	free(pool);
}

bool db_query(struct db_pool *pool, const char *sql, int nparams, const char *const *params,
	      db_callback cb, void *arg)
{
	return db_query_timeout(pool, pool ? pool->timeout_ms : 0, sql, nparams, params, cb, arg);
}

int db_pool_query_timeout(const struct db_pool *pool)
{
	return pool->timeout_ms;
}

bool db_query_timeout(struct db_pool *pool, int timeout_ms, const char *sql, int nparams,
		      const char *const *params, db_callback cb, void *arg)
{
	if (!pool || !sql || !cb || nparams < 0 || nparams > DB_MAX_PARAMS ||
	    (nparams > 0 && !params) || timeout_ms < 1) {
		log_error("db_query_invalid", "nparams=%d", nparams);
		return false;
	}
	if (pool->shutting_down || pool->queued >= pool->queue_max)
		return false;
	struct db_query *q = query_new(sql, nparams, params, cb, arg);
	q->timeout_ms = timeout_ms;
	q->deadline_ms = q->enqueued_ms + timeout_ms;
	queue_push_back(pool, q);
	if (pool->connected > pool->busy)
		event_active(pool->kick, EV_TIMEOUT, 0);
	pool_arm_queue_timer(pool, q->deadline_ms);
	return true;
}

void db_pool_get_stats(const struct db_pool *pool, struct db_pool_stats *out)
{
	*out = (struct db_pool_stats){
		.size = pool->size,
		.connected = pool->connected,
		.busy = pool->busy,
		.queued = pool->queued,
		.queries = pool->queries,
		.errors = pool->errors,
		.reconnects = pool->reconnects,
		.timeouts = pool->timeouts,
		.silent_ms = (long long)(clock_mono_ms() - pool->last_rx_ms),
		.ready = db_pool_ready(pool),
	};
}

bool db_pool_ready(const struct db_pool *pool)
{
	return pool->connected > 0 && clock_mono_ms() - pool->last_rx_ms <= DB_SILENCE_MS;
}

void db_pool_write_metrics(struct evbuffer *out, void *pool)
{
	struct db_pool_stats ps;
	db_pool_get_stats(pool, &ps);
	evbuffer_add_printf(out,
			    "# HELP flowstate_db_pool_connections Postgres connections by state\n"
			    "# TYPE flowstate_db_pool_connections gauge\n"
			    "flowstate_db_pool_connections{state=\"configured\"} %d\n"
			    "flowstate_db_pool_connections{state=\"connected\"} %d\n"
			    "flowstate_db_pool_connections{state=\"busy\"} %d\n"
			    "# HELP flowstate_db_pool_queued Queries waiting for a connection\n"
			    "# TYPE flowstate_db_pool_queued gauge\nflowstate_db_pool_queued %zu\n"
			    "# HELP flowstate_db_queries_total Queries run\n"
			    "# TYPE flowstate_db_queries_total counter\nflowstate_db_queries_total %llu\n"
			    "# HELP flowstate_db_errors_total Queries that failed\n"
			    "# TYPE flowstate_db_errors_total counter\nflowstate_db_errors_total %llu\n"
			    "# HELP flowstate_db_reconnects_total Postgres reconnect attempts\n"
			    "# TYPE flowstate_db_reconnects_total counter\n"
			    "flowstate_db_reconnects_total %llu\n"
			    "# HELP flowstate_db_timeouts_total Queries failed at their deadline\n"
			    "# TYPE flowstate_db_timeouts_total counter\n"
			    "flowstate_db_timeouts_total %llu\n"
			    "# HELP flowstate_db_reachable Postgres answered within the last few "
			    "seconds (1) or not (0)\n"
			    "# TYPE flowstate_db_reachable gauge\nflowstate_db_reachable %d\n",
			    ps.size, ps.connected, ps.busy, ps.queued,
			    (unsigned long long)ps.queries, (unsigned long long)ps.errors,
			    (unsigned long long)ps.reconnects, (unsigned long long)ps.timeouts,
			    ps.ready ? 1 : 0);
}

/* ---- blocking fetch for worker threads ------------------------------------------------------ */

/* A failed fetch: what db_fetch returns instead of a server's result. */
struct fetch_failure {
	struct db_result r; /* first: db_result_free frees the whole */
	char sqlstate[6];
	char message[256];
};

static struct db_result *fetch_fail(PGconn *pg, PGresult *res, const char *why, bool retryable)
{
	struct fetch_failure *f = xcalloc(1, sizeof(*f));
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	copy_message(f->sqlstate, sizeof(f->sqlstate), state ? state : "");
	copy_message(f->message, sizeof(f->message), primary ? primary : why);
	f->r.sqlstate = f->sqlstate;
	f->r.message = f->message;
	f->r.retryable = retryable || sqlstate_retryable(f->sqlstate);
	PQclear(res);
	PQfinish(pg);
	return &f->r;
}

/* Waits for the socket until deadline_ms (monotonic). false: the deadline passed first. */
static bool fetch_wait(int fd, bool read, bool write, int64_t deadline_ms)
{
	struct pollfd p = { .fd = fd, .events = (short)((read ? POLLIN : 0) | (write ? POLLOUT : 0)) };
	for (;;) {
		int64_t left = deadline_ms - clock_mono_ms();
		if (left <= 0)
			return false;
		int n = poll(&p, 1, left > 1000 ? 1000 : (int)left);
		if (n > 0)
			return true;
		if (n < 0 && errno != EINTR)
			return true; /* let libpq meet the error */
	}
}

static void fetch_ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

struct db_result *db_fetch(const struct db_pool *pool, const char *sql, int nparams,
			   const char *const *params)
{
	int64_t deadline = clock_mono_ms() + pool->timeout_ms;
	struct connect_params cp;
	connect_params_init(&cp, pool);
	PGconn *pg = PQconnectStartParams(cp.keys, cp.values, 1);
	if (!pg)
		abort(); /* out of memory, as everywhere */
	if (PQstatus(pg) == CONNECTION_BAD)
		return fetch_fail(pg, NULL, PQerrorMessage(pg), true);
	PQsetNoticeProcessor(pg, fetch_ignore_notice, NULL);
	/* libpq: after PQconnectStart, act as if PQconnectPoll returned PGRES_POLLING_WRITING. */
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED)
			return fetch_fail(pg, NULL, PQerrorMessage(pg), true);
		if (!fetch_wait(PQsocket(pg), st == PGRES_POLLING_READING,
				st == PGRES_POLLING_WRITING, deadline))
			return fetch_fail(pg, NULL, "database unavailable (connect timed out)", true);
		st = PQconnectPoll(pg);
	}
	if (PQsetnonblocking(pg, 1) != 0 ||
	    !PQsendQueryParams(pg, sql, nparams, NULL, params, NULL, NULL, 0))
		return fetch_fail(pg, NULL, PQerrorMessage(pg), true);
	int rc;
	while ((rc = PQflush(pg)) == 1) {
		/* libpq: wait for either; input must be read to avoid a deadlock with the server. */
		if (!fetch_wait(PQsocket(pg), true, true, deadline))
			return fetch_fail(pg, NULL, "query timed out", true);
		if (!PQconsumeInput(pg))
			return fetch_fail(pg, NULL, PQerrorMessage(pg), true);
	}
	if (rc < 0)
		return fetch_fail(pg, NULL, PQerrorMessage(pg), true);
	PGresult *kept = NULL;
	for (;;) {
		while (PQisBusy(pg)) {
			if (!fetch_wait(PQsocket(pg), true, false, deadline)) {
				PQclear(kept);
				return fetch_fail(pg, NULL, "query timed out", true);
			}
			if (!PQconsumeInput(pg)) {
				PQclear(kept);
				return fetch_fail(pg, NULL, PQerrorMessage(pg), true);
			}
		}
		PGresult *res = PQgetResult(pg);
		if (!res)
			break;
		if (kept && PQresultStatus(kept) == PGRES_TUPLES_OK)
			PQclear(res); /* one statement: nothing after its rows matters */
		else {
			PQclear(kept);
			kept = res;
		}
	}
	ExecStatusType status = kept ? PQresultStatus(kept) : PGRES_FATAL_ERROR;
	if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
		return fetch_fail(pg, kept, kept ? PQresStatus(status) : "no result", false);
	/* The connection goes with the buffers libpq grew for this result (db.h). */
	PQfinish(pg);
	struct db_result *r = xcalloc(1, sizeof(*r));
	r->res = kept;
	r->ok = true;
	r->sqlstate = "";
	r->message = "";
	return r;
}

/* ---- result accessors ------------------------------------------------------------------- */

struct db_result *db_result_take(const struct db_result *r)
{
	struct db_result *taken = xcalloc(1, sizeof(*taken));
	taken->res = r->res;
	taken->ok = r->ok;
	taken->sqlstate = "";
	taken->message = "";
	taken->retryable = r->retryable;
	/* The pool frees whatever r->res is when the callback returns: nothing, now. */
	((struct db_result *)r)->res = NULL;
	return taken;
}

void db_result_free(struct db_result *r)
{
	if (!r)
		return;
	PQclear(r->res);
	free(r);
}

static bool db_cell_valid(const struct db_result *r, int row, int col)
{
	return r->res && row >= 0 && row < PQntuples(r->res) && col >= 0 &&
	       col < PQnfields(r->res);
}

int db_rows(const struct db_result *r)
{
	return r->res ? PQntuples(r->res) : 0;
}

const char *db_value(const struct db_result *r, int row, int col)
{
	return db_cell_valid(r, row, col) ? PQgetvalue(r->res, row, col) : "";
}

size_t db_length(const struct db_result *r, int row, int col)
{
	return db_cell_valid(r, row, col) ? (size_t)PQgetlength(r->res, row, col) : 0;
}

bool db_is_null(const struct db_result *r, int row, int col)
{
	return !db_cell_valid(r, row, col) || PQgetisnull(r->res, row, col);
}

long long db_int(const struct db_result *r, int row, int col)
{
	return strtoll(db_value(r, row, col), NULL, 10);
}
