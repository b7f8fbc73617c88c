/*
 * Group commit per canvas. A canvas has at most one batch in flight; jobs submitted meanwhile
 * wait in its queue and all go in the next batch, so under load the number of round trips per
 * canvas stays one per commit latency, however many writers there are, and the row lock on
 * canvases is taken once per batch instead of once per op.
 */
#include "store/commit.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/strmap.h"
#include "core/metrics.h"
#include "store/db.h"

/* Bounds one statement's size; more waiting ops go in the following batch. */
#define COMMIT_MAX_BATCH_OPS 512

struct commit_job {
	char canvas_id[40];
	char user_id[40];
	struct commit_op *ops;
	size_t count, cap;
	long long expected_version;   /* -1: unconditional */
	json_t *guard_shapes;         /* NULL: expected_version must equal the head */
	commit_done_fn done;
	void *arg;
	struct commit_job *next;
};

struct commit_canvas {
	char canvas_id[40];
	struct commit_job *head, *tail;   /* waiting */
	struct commit_job *in_flight;     /* list of the batch being committed */
	bool busy;                        /* a batch is in flight or its callbacks are running:
					     submits only queue (a done callback may submit) */
	size_t in_flight_ops;
	size_t queued_ops;
	struct timespec started;
	/* Batching: a hot canvas's next op waits a moment for the writers answering the acks
	 * that just went out, or it would go alone and leave them for the batch after. */
	struct event *linger;
	bool lingering;
	double last_done;                 /* when the last batch completed (monotonic s) */
	double last_latency;              /* its round trip */
};

/* A canvas whose last batch completed longer ago than this is cold: no lingering. */
#define COMMIT_HOT_SECONDS 0.05
/* Idle canvases are forgotten after this long (swept once a second). */
#define COMMIT_IDLE_SECONDS 2.0

static struct commit_env env;
static struct strmap *canvases;       /* canvas id → struct commit_canvas, while recent */
static struct event *sweep_timer;

static void canvas_flush(struct commit_canvas *cc);
static void linger_timer_cb(evutil_socket_t fd, short events, void *arg);
static bool force_sweep_all;


static void canvas_free(struct commit_canvas *cc)
{
	strmap_remove(canvases, cc->canvas_id);
	event_free(cc->linger);
	free(cc);
}

struct sweep {
	struct commit_canvas **idle;
	size_t count;
	double now;
};

static void sweep_collect(const char *key, void *value, void *arg)
{
	struct commit_canvas *cc = value;
	struct sweep *sw = arg;
	if (!cc->busy && !cc->lingering && !cc->head &&
	    (force_sweep_all || sw->now - cc->last_done > COMMIT_IDLE_SECONDS))
		sw->idle[sw->count++] = cc;
}

static void commit_sweep(void)
{
	struct sweep sw = { xcalloc(strmap_count(canvases) + 1, sizeof(*sw.idle)), 0, clock_mono_seconds() };
	strmap_foreach(canvases, sweep_collect, &sw);
	for (size_t i = 0; i < sw.count; i++)
		canvas_free(sw.idle[i]);
	free(sw.idle);
}

static void sweep_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	commit_sweep();
}

void commit_init(const struct commit_env *e)
{
	env = *e;
	canvases = strmap_new();
	sweep_timer = event_new(env.base, -1, EV_PERSIST, sweep_timer_cb, NULL);
	struct timeval every = { 1, 0 };
	event_add(sweep_timer, &every);
}

void commit_shutdown(void)
{
	/* Called after the db pool failed every in-flight batch: nothing is busy any more. */
	force_sweep_all = true;
	commit_sweep();
	event_free(sweep_timer);
	sweep_timer = NULL;
	strmap_free(canvases);
	canvases = NULL;
}

struct commit_job *commit_job_new(const char *canvas_id, const char *user_id,
				  commit_done_fn done, void *arg)
{
	struct commit_job *job = xcalloc(1, sizeof(*job));
	snprintf(job->canvas_id, sizeof(job->canvas_id), "%s", canvas_id);
	snprintf(job->user_id, sizeof(job->user_id), "%s", user_id);
	job->expected_version = -1;
	job->done = done;
	job->arg = arg;
	return job;
}

void commit_job_add_op(struct commit_job *job, const char *client_op_id, enum op_type type,
		       json_t *payload, const char *kind, long long undo_of)
{
	if (job->count == job->cap) {
		job->cap = job->cap ? job->cap * 2 : 1;
		job->ops = xrealloc(job->ops, job->cap * sizeof(*job->ops));
	}
	struct commit_op *op = &job->ops[job->count++];
	/* Lower case, as Postgres prints a uuid: acks, deliveries and reads then agree. */
	size_t n = 0;
	for (; client_op_id[n] && n + 1 < sizeof(op->client_op_id); n++)
		op->client_op_id[n] = (char)tolower((unsigned char)client_op_id[n]);
	op->client_op_id[n] = '\0';
	op->type = type;
	op->payload = payload;
	op->kind = kind;
	op->undo_of = undo_of;
}

void commit_job_expect_version(struct commit_job *job, long long version)
{
	job->expected_version = version;
}

void commit_job_guard_shapes(struct commit_job *job, json_t *shape_ids)
{
	json_decref(job->guard_shapes);
	job->guard_shapes = shape_ids;
}

static void job_free(struct commit_job *job)
{
	for (size_t i = 0; i < job->count; i++)
		json_decref(job->ops[i].payload);
	free(job->ops);
	json_decref(job->guard_shapes);
	free(job);
}

void commit_job_discard(struct commit_job *job)
{
	job_free(job);
}

void commit_submit(struct commit_job *job)
{
	struct commit_canvas *cc = strmap_get(canvases, job->canvas_id);
	if (!cc) {
		cc = xcalloc(1, sizeof(*cc));
		snprintf(cc->canvas_id, sizeof(cc->canvas_id), "%s", job->canvas_id);
		cc->linger = evtimer_new(env.base, linger_timer_cb, cc);
		strmap_put(canvases, cc->canvas_id, cc);
	}
	job->next = NULL;
	if (cc->tail)
		cc->tail->next = job;
	else
		cc->head = job;
	cc->tail = job;
	cc->queued_ops += job->count;
	if (cc->busy)
		return; /* goes with the next batch */
	if (cc->lingering) {
		if (cc->queued_ops < COMMIT_MAX_BATCH_OPS)
			return;
		evtimer_del(cc->linger); /* full: no reason to wait */
		cc->lingering = false;
		canvas_flush(cc);
		return;
	}
	/* Hot canvas: linger a fraction of the last round trip (capped by configuration). */
	double linger = 0;
	if (cc->last_done > 0 && clock_mono_seconds() - cc->last_done < COMMIT_HOT_SECONDS)
		linger = cc->last_latency / 4;
	double cap = env.linger_us / 1e6;
	if (linger > cap)
		linger = cap;
	if (linger <= 0 || job->expected_version >= 0) {
		canvas_flush(cc);
		return;
	}
	struct timeval tv = { 0, (suseconds_t)(linger * 1e6) };
	evtimer_add(cc->linger, &tv);
	cc->lingering = true;
}

static void linger_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct commit_canvas *cc = arg;
	cc->lingering = false;
	if (!cc->busy && cc->head)
		canvas_flush(cc);
}

static void fail_batch(struct commit_job *batch, bool retryable)
{
	while (batch) {
		struct commit_job *next = batch->next;
		struct commit_op_result *results = xcalloc(batch->count, sizeof(*results));
		for (size_t i = 0; i < batch->count; i++)
			results[i].status = COMMIT_FAILED;
		struct commit_outcome out = { .failed = true, .retryable = retryable,
					      .results = results, .count = batch->count };
		batch->done(&out, batch->arg);
		free(results);
		job_free(batch);
		batch = next;
	}
}

static enum commit_status parse_status(const char *s)
{
	if (!strcmp(s, "committed"))
		return COMMIT_OK;
	if (!strcmp(s, "duplicate"))
		return COMMIT_DUPLICATE;
	if (!strcmp(s, "forbidden"))
		return COMMIT_FORBIDDEN;
	if (!strcmp(s, "conflict"))
		return COMMIT_CONFLICT;
	return COMMIT_NOT_FOUND;
}

/* The API form of an op committed in this batch (schema/003's fs_op_json, built here). */
static json_t *committed_op_json(const char *canvas_id, const struct commit_job *job,
				 const struct commit_op *op, long long version, const char *id,
				 const char *created_at)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:O, s:s, s:s, s:s, s:s}", "id", id,
			      "canvas_id", canvas_id, "version", (json_int_t)version, "type",
			      op_type_name(op->type), "payload", op->payload, "created_by",
			      job->user_id, "client_op_id", op->client_op_id, "created_at",
			      created_at, "kind", op->kind);
	json_object_set_new(o, "undo_of", op->undo_of > 0 ? json_integer(op->undo_of) : json_null());
	return o;
}

/* Fails every job waiting on the canvas (retryable): what would only wait out a timeout, or
 * what nothing would flush. */
static void fail_waiting(struct commit_canvas *cc)
{
	struct commit_job *waiting = cc->head;
	cc->head = cc->tail = NULL;
	cc->queued_ops = 0;
	fail_batch(waiting, true);
}

static void batch_committed(const struct db_result *r, void *arg)
{
	struct commit_canvas *cc = arg;
	struct commit_job *batch = cc->in_flight;
	size_t total = cc->in_flight_ops;
	cc->in_flight = NULL;
	cc->in_flight_ops = 0;
	cc->last_latency = clock_seconds_since(&cc->started);
	cc->last_done = clock_mono_seconds();
	metrics_histogram_observe(METRIC_HIST_COMMIT_SECONDS, cc->last_latency);

	if (!r->ok || (size_t)db_rows(r) != total) {
		char msg[300];
		log_warn("commit_failed", "canvas=%s ops=%zu retryable=%d sqlstate=%s message=%s",
			 cc->canvas_id, total, r->retryable, r->sqlstate,
			 log_quote(msg, sizeof(msg), r->message));
		metrics_counter_inc(METRIC_COMMIT_FAILURES);
		/* A lost connection may have committed: the ops are idempotent by client op id,
		 * so a retry is safe; any other error is a bug or bad data, not worth retrying. */
		fail_batch(batch, r->ok ? false : r->retryable);
		if (!r->ok && r->retryable && !db_pool_ready(env.db) && cc->head) {
			/* Postgres is unreachable: what waits behind this batch would only wait out
			 * the pool's timeout again. Fail it now, retryable, so clients retry. */
			fail_waiting(cc);
		}
	} else {
		/* Rows come back ordered by position in the batch: (idx, status, version, op_id,
		 * created_at, op). Committed ops are built here from what the job holds; a
		 * duplicate of an earlier commit comes with its original JSON; a duplicate of an
		 * op earlier in this same batch reuses that op's JSON. */
		json_t *committed = json_array();
		json_t **ops = xcalloc(total, sizeof(*ops));
		const struct commit_op **sources = xcalloc(total, sizeof(*sources));
		struct commit_op_result *results = xcalloc(total, sizeof(*results));
		long long head = 0;
		size_t i = 0;
		for (struct commit_job *job = batch; job; job = job->next) {
			for (size_t j = 0; j < job->count; j++, i++) {
				const struct commit_op *op = &job->ops[j];
				sources[i] = op;
				results[i].status = parse_status(db_value(r, (int)i, 1));
				if (!db_is_null(r, (int)i, 2))
					results[i].version =
						db_int(r, (int)i, 2);
				if (results[i].status == COMMIT_OK) {
					ops[i] = committed_op_json(cc->canvas_id, job, op,
								   results[i].version,
								   db_value(r, (int)i, 3),
								   db_value(r, (int)i, 4));
					json_array_append(committed, ops[i]);
				} else if (!db_is_null(r, (int)i, 5)) {
					ops[i] = json_loads(db_value(r, (int)i, 5), 0, NULL);
				} else if (results[i].status == COMMIT_DUPLICATE) {
					for (size_t k = 0; k < i && !ops[i]; k++)
						if (results[k].status == COMMIT_OK &&
						    !strcmp(sources[k]->client_op_id, op->client_op_id))
							ops[i] = json_incref(ops[k]);
				}
				results[i].op = ops[i];
				if (results[i].status == COMMIT_CONFLICT)
					head = results[i].version;
			}
		}
		free(sources);
		size_t offset = 0;
		while (batch) {
			struct commit_job *next = batch->next;
			struct commit_outcome out = { .head = head, .results = results + offset,
						      .count = batch->count };
			offset += batch->count;
			batch->done(&out, batch->arg);
			job_free(batch);
			batch = next;
		}
		size_t n = json_array_size(committed);
		metrics_counter_add(METRIC_OPS_COMMITTED, n);
		metrics_histogram_observe(METRIC_HIST_COMMIT_BATCH_OPS, (double)total);
		if (n && env.listener)
			env.listener(cc->canvas_id, committed, env.listener_arg);
		json_decref(committed);
		for (size_t k = 0; k < total; k++)
			json_decref(ops[k]);
		free(ops);
		free(results);
	}

	cc->busy = false;
	/* Whatever queued meanwhile has waited a whole round trip already: send it now. */
	if (cc->head && !cc->lingering)
		canvas_flush(cc);
}

/* Sends every waiting job of the canvas (up to the batch bound) as one statement. */
static void canvas_flush(struct commit_canvas *cc)
{
	json_t *ops = json_array();
	struct commit_job **tail = &cc->in_flight;
	long long expected = -1;
	json_t *guard = NULL;
	size_t n = 0;
	while (cc->head) {
		struct commit_job *job = cc->head;
		bool conditional = job->expected_version >= 0;
		/* A conditional job goes alone; an unconditional batch stops before one. */
		if (n > 0 && (conditional || n + job->count > COMMIT_MAX_BATCH_OPS))
			break;
		cc->head = job->next;
		if (!cc->head)
			cc->tail = NULL;
		job->next = NULL;
		*tail = job;
		tail = &job->next;
		for (size_t i = 0; i < job->count; i++) {
			const struct commit_op *op = &job->ops[i];
			json_t *o = json_pack("{s:s, s:s, s:s, s:O, s:s}", "client_op_id",
					      op->client_op_id, "user_id", job->user_id, "type",
					      op_type_name(op->type), "payload", op->payload, "kind",
					      op->kind);
			if (op->undo_of > 0)
				json_object_set_new(o, "undo_of", json_integer(op->undo_of));
			json_array_append_new(ops, o);
		}
		n += job->count;
		cc->queued_ops -= job->count;
		if (conditional) {
			expected = job->expected_version;
			guard = job->guard_shapes;
			break;
		}
	}
	cc->in_flight_ops = n;
	cc->busy = true;
	clock_gettime(CLOCK_MONOTONIC, &cc->started);
	char *ops_text = json_dumps(ops, JSON_COMPACT);
	json_decref(ops);
	char expected_text[32];
	snprintf(expected_text, sizeof(expected_text), "%lld", expected);
	char *guard_text = guard ? json_dumps(guard, JSON_COMPACT) : NULL;
	const char *params[] = { cc->canvas_id, ops_text, expected >= 0 ? expected_text : NULL,
				 guard_text };
	bool queued = db_query(env.db,
			       "SELECT idx, status, version, op_id, created_at, op "
			       "FROM fs_commit_ops($1, $2::jsonb, $3, $4::jsonb)",
			       4, params, batch_committed, cc);
	free(ops_text);
	free(guard_text);
	if (!queued) {
		/* The pool's queue is full: fail this batch and everything waiting behind it
		 * (retryable), rather than leave jobs that nothing would flush. */
		log_warn("commit_overloaded", "canvas=%s ops=%zu", cc->canvas_id, n);
		struct commit_job *batch = cc->in_flight;
		cc->in_flight = NULL;
		fail_batch(batch, true);
		fail_waiting(cc);
		/* Callbacks may have submitted again: those queued behind busy. */
		cc->busy = false;
		if (cc->head && !cc->lingering)
			canvas_flush(cc);
	}
}
