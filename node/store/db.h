/*
 * Asynchronous PostgreSQL access for the event loop: a fixed-size pool of non-blocking libpq
 * connections and a bounded FIFO queue of pending statements. Nothing here ever blocks the loop;
 * connections (re)connect in the background with exponential backoff.
 *
 * Ownership rules:
 * - db_query() copies sql and params; the caller may free or reuse them as soon as it returns.
 * - cb runs exactly once per accepted query, always later from the event loop (or from inside
 *   db_pool_free()), never from inside db_query(). `arg` is opaque to the pool.
 * - The struct db_result and its PGresult belong to the pool and are freed right after the callback
 *   returns: copy out (PQgetvalue strings included) whatever must outlive the callback.
 * - A callback may call db_query() (chained queries are fine) but must NOT call db_pool_free()
 *   (checked: it aborts). Free the pool from outside any callback of the pool.
 * - A query that fails with retryable=true may or may not have committed (the connection can drop
 *   between the commit and its reply): retry only statements that are idempotent.
 */
#ifndef FLOWSTATE_STORE_DB_H
#define FLOWSTATE_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct evbuffer;
struct db_pool; /* opaque */
struct pg_result; /* libpq's PGresult: read it through the accessors below, never directly */

struct db_result {
	/* NULL when the query never got a result (connection lost, pool shutting down, queue
	 * timeout); owned by the pool: freed right after the callback returns. */
	struct pg_result *res;
	/* PGRES_COMMAND_OK or PGRES_TUPLES_OK. */
	bool ok;
	/* 5-char SQLSTATE, or "" when the server sent none (local failures). */
	const char *sqlstate;
	/* Human message for logs ("" when ok), never NULL. */
	const char *message;
	/* Connection failure, admin shutdown (57P01..57P03), serialization failure or deadlock
	 * (40001/40P01), class 08, too many connections (53300), pool shutdown, queue timeout:
	 * the same query may be retried (if it is idempotent, see above). */
	bool retryable;
};

typedef void (*db_callback)(const struct db_result *r, void *arg);

/*
 * Creates a pool of `size` connections (>= 1) to `conninfo` (libpq keyword/value string or URI) on
 * `base`, holding at most `queue_max` (>= 1) queries waiting for a connection. Connecting starts
 * at once and proceeds from the loop. Returns NULL (after logging) when conninfo does not parse or
 * a size is out of range. Note: libpq resolves host names synchronously when a connection attempt
 * starts; use an IP address or hostaddr= when the resolver may be slow.
 *
 * timeout_ms is the deadline of every query, counted from db_query(): queued or in flight, a
 * query still unanswered then fails with retryable=true ("query timed out", or "database
 * unavailable" while no connection is up). A connection whose statement has been in flight
 * that long is dropped and reconnected. Connection attempts have the same bound, and the
 * kernel's (TCP keepalives, tcp_user_timeout) follows it.
 */
struct db_pool *db_pool_new(struct event_base *base, const char *conninfo, int size, int queue_max,
			    int timeout_ms);

/*
 * Fails all queued and in-flight queries (callback with ok=false, retryable=true, res=NULL, message
 * "shutting down"), closes connections, frees. Callbacks run inside this call; db_query() called
 * from them returns false. Must not be called from a callback of this pool. NULL is a no-op.
 */
void db_pool_free(struct db_pool *pool);

/*
 * Queues one parameterized statement (text params, text results; params are copied; a NULL param is
 * SQL NULL). Returns false without calling cb when the queue is full or the pool is shutting down
 * (the caller answers 503). Otherwise cb is called exactly once, later, from the event loop (never
 * from inside db_query). Queries are dispatched in FIFO order to idle connections; a query waiting
 * longer than the query timeout fails with retryable=true (see db_pool_new).
 */
bool db_query(struct db_pool *pool, const char *sql, int nparams, const char *const *params,
	      db_callback cb, void *arg) __attribute__((warn_unused_result));

struct db_pool_stats {
	int size;                      /* configured connections */
	int connected;                 /* established (idle or busy) */
	int busy;                      /* running a query */
	size_t queued;                 /* waiting for a connection */
	unsigned long long queries;    /* callbacks delivered */
	unsigned long long errors;     /* of those, with ok=false */
	unsigned long long reconnects; /* established after a loss or a failed attempt */
	unsigned long long timeouts;   /* queries answered at their deadline */
	long long silent_ms;           /* since the server last answered anything */
	bool ready;                    /* db_pool_ready() */
};

/*
 * db_query with a bound of its own instead of the pool's (queued and in flight, as above): for
 * the rare statement that is legitimately long and off the request path (writing a whole
 * canvas state as a snapshot). timeout_ms >= 1.
 */
bool db_query_timeout(struct db_pool *pool, int timeout_ms, const char *sql, int nparams,
		      const char *const *params, db_callback cb, void *arg)
	__attribute__((warn_unused_result));
/*
 * For a worker thread, never the loop: runs one statement on a connection of its own, opened
 * for it and closed after it, blocking the calling thread until the answer or the pool's query
 * timeout (connect included). This is how a result too large to receive on the loop (the 9 MB
 * state of the largest canvas took the loop 30-75 ms in libpq alone) reaches a worker without
 * the loop ever holding it. Same connection settings as the pool (keepalives,
 * tcp_user_timeout); reads only immutable pool fields, so any thread may call it. Never NULL:
 * a failure comes back as ok=false with sqlstate, message and retryable (a timeout or a lost
 * connection is retryable). Free with db_result_free().
 */
struct db_result *db_fetch(const struct db_pool *pool, const char *sql, int nparams,
			   const char *const *params) __attribute__((warn_unused_result));

/* The pool's query timeout (ms). */
int db_pool_query_timeout(const struct db_pool *pool);

void db_pool_get_stats(const struct db_pool *pool, struct db_pool_stats *out);
/* Appends the pool's statistics in Prometheus text format (a metrics collector). */
void db_pool_write_metrics(struct evbuffer *out, void *pool);

/*
 * Result accessors (text format). Rows and columns are 0-based; out-of-range reads and a
 * result without rows give 0 rows, "" and NULL = true. Strings belong to the result: copy
 * what must outlive the callback.
 */
int db_rows(const struct db_result *r);
const char *db_value(const struct db_result *r, int row, int col);
size_t db_length(const struct db_result *r, int row, int col);
bool db_is_null(const struct db_result *r, int row, int col);
/* The value as an integer (0 when NULL or not a number). */
long long db_int(const struct db_result *r, int row, int col);

/*
 * Takes a result out of the pool's hands, from inside its callback: the pool no longer frees
 * it (r->res is NULL afterwards), and the returned copy stays readable with the accessors
 * above, from any one thread at a time, until db_result_free(). This is how a large result is
 * handed to a worker thread without copying it on the loop. sqlstate and message are "".
 */
struct db_result *db_result_take(const struct db_result *r) __attribute__((warn_unused_result));
void db_result_free(struct db_result *r);

/*
 * Postgres is reachable as far as the pool can tell without waiting: a connection is up and
 * the server answered something (a result, a new connection, the pool's own probe of an
 * idle pool) within the last 3 s. A silent link turns this false within about 4 s.
 */
bool db_pool_ready(const struct db_pool *pool);

#endif
