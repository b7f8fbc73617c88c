/*
 * Node-wide group commit (see commit.h). Jobs queue per canvas; canvases with waiting jobs
 * and no batch in flight are "ready". A flush, run once per loop turn after the callbacks
 * that submitted (so everything that arrived together goes together), takes every ready
 * canvas's waiting jobs into one batch and sends it as one statement, while fewer than
 * FLOWSTATE_COMMIT_BATCHES batches are in flight. Under load the batches in flight keep the
 * database busy and everything that arrives meanwhile forms the next batch: round trips and
 * transactions per op fall as load rises, whatever the number of canvases.
 *
 * A hot canvas (its last batch completed moments ago) lingers briefly before becoming ready,
 * so that the writers answering the acks that just went out join the same batch instead of
 * alternating between a batch of one and a batch of the rest; it stops lingering as soon as
 * as many ops wait as its last batch had.
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
#include "base/strbuf.h"
#include "base/strmap.h"
#include "core/metrics.h"
#include "store/commit_params.h"
#include "store/db.h"
#include "store/snapshot.h"

/* Bounds one statement's size; what waits beyond goes in the following batch. */
#define COMMIT_MAX_BATCH_OPS 4096
#define COMMIT_MAX_BATCH_CANVASES 1024
/* A canvas whose last batch completed longer ago than this is cold: no lingering. */
#define COMMIT_HOT_SECONDS 0.05
/* A canvas found held by another node's batch is waited for, rather than skipped, this long:
 * a canvas written from several nodes at once would otherwise cost a wasted round trip each
 * time. */
#define COMMIT_CONTENDED_SECONDS 1.0
/* Idle canvases are forgotten after this long (swept once a second). */
#define COMMIT_IDLE_SECONDS 2.0

struct commit_job {
	char canvas_id[40];
	char user_id[40];
	struct commit_op *ops;
	size_t count, cap;
	long long expected_version;   /* -1: unconditional */
	json_t *guard_shapes;         /* NULL: expected_version must equal the head */
	bool refused_full;            /* refused as full once; retried after the bounds tighten */
	bool want_ops;                /* results carry JSON objects too */
	commit_done_fn done;
	void *arg;
	struct commit_job *next;
};

struct commit_canvas {
	char canvas_id[40];
	struct commit_job *head, *tail;   /* waiting */
	size_t queued_ops;
	struct commit_job *in_flight;     /* this canvas's jobs in the batch in flight */
	size_t in_flight_ops;
	struct commit_job *refused;       /* refused as full: waiting for the bounds to tighten */
	bool busy;                        /* in a batch, its callbacks running, or tightening:
					     submits only queue (a done callback may submit) */
	bool ready;                       /* on the ready list */
	struct commit_canvas *ready_next;
	struct event *linger;
	bool lingering;
	double contended_until;           /* another node's batch held it lately: until then
					     batches wait for its lock instead of skipping it */
	double last_done;                 /* when its last batch completed (monotonic s) */
	double last_latency;              /* that batch's round trip */
	size_t last_ops;                  /* and its size */
};

struct commit_batch {
	struct commit_canvas **canvases;
	size_t count;
	size_t ops;
	struct timespec started;
};

static struct {
	struct commit_env env;
	struct strmap *canvases;          /* canvas id → struct commit_canvas, while recent */
	struct commit_canvas *ready_head, *ready_tail;
	int in_flight;                    /* batches */
	struct event *flush_ev, *sweep_timer;
	struct commit_params params;      /* reused: its buffers keep their capacity */
	bool shutting_down;
} cm;

static void linger_timer_cb(evutil_socket_t fd, short events, void *arg);

/* ---- jobs ------------------------------------------------------------------------------------ */

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
	op->payload_text = json_dumps(payload, JSON_COMPACT);
	if (!op->payload_text)
		op->payload_text = xstrdup("{}"); /* an op_validate'd payload always serializes */
	op->payload_len = strlen(op->payload_text);
	op->kind = kind;
	op->undo_of = undo_of;
}

void commit_job_expect_version(struct commit_job *job, long long version)
{
	job->expected_version = version;
}

void commit_job_want_ops(struct commit_job *job)
{
	job->want_ops = true;
}

void commit_job_guard_shapes(struct commit_job *job, json_t *shape_ids)
{
	json_decref(job->guard_shapes);
	job->guard_shapes = shape_ids;
}

static void job_free(struct commit_job *job)
{
	for (size_t i = 0; i < job->count; i++) {
		json_decref(job->ops[i].payload);
		free(job->ops[i].payload_text);
	}
	free(job->ops);
	json_decref(job->guard_shapes);
	free(job);
}

void commit_job_discard(struct commit_job *job)
{
	job_free(job);
}

/* Answers every op of the job with one status, then frees it. */
static void job_finish_all(struct commit_job *job, enum commit_status status, bool retryable)
{
	struct commit_op_result *results = xcalloc(job->count ? job->count : 1, sizeof(*results));
	for (size_t i = 0; i < job->count; i++)
		results[i].status = status;
	struct commit_outcome out = { .failed = status == COMMIT_FAILED, .retryable = retryable,
				      .results = results, .count = job->count };
	job->done(&out, job->arg);
	free(results);
	job_free(job);
}

static void jobs_finish_all(struct commit_job *list, enum commit_status status, bool retryable)
{
	while (list) {
		struct commit_job *next = list->next;
		job_finish_all(list, status, retryable);
		list = next;
	}
}

/* The longest path or line in the job, in points. */
static size_t job_max_points(const struct commit_job *job)
{
	size_t most = 0;
	for (size_t i = 0; i < job->count; i++) {
		size_t n = json_array_size(json_object_get(job->ops[i].payload, "points"));
		if (n > most)
			most = n;
	}
	return most;
}

/* ---- canvases and the ready list -------------------------------------------------------------- */

static void schedule_flush(void)
{
	if (cm.flush_ev && !cm.shutting_down)
		event_active(cm.flush_ev, 0, 0);
}

static void make_ready(struct commit_canvas *cc)
{
	if (cc->ready || cc->busy || !cc->head)
		return;
	cc->ready = true;
	cc->ready_next = NULL;
	if (cm.ready_tail)
		cm.ready_tail->ready_next = cc;
	else
		cm.ready_head = cc;
	cm.ready_tail = cc;
	schedule_flush();
}

static struct commit_canvas *pop_ready(void)
{
	struct commit_canvas *cc = cm.ready_head;
	if (!cc)
		return NULL;
	cm.ready_head = cc->ready_next;
	if (!cm.ready_head)
		cm.ready_tail = NULL;
	cc->ready = false;
	cc->ready_next = NULL;
	return cc;
}

/* A canvas got work while idle: ready now, or after a short linger when it is hot. */
static void canvas_wake(struct commit_canvas *cc)
{
	if (cc->busy || cc->ready)
		return;
	if (cc->lingering) {
		/* Everyone of the last batch is back: no reason to wait longer. */
		if (cc->queued_ops >= cc->last_ops || cc->queued_ops >= COMMIT_MAX_BATCH_OPS) {
			evtimer_del(cc->linger);
			cc->lingering = false;
			make_ready(cc);
		}
		return;
	}
	double linger = 0;
	if (cc->last_done > 0 && clock_mono_seconds() - cc->last_done < COMMIT_HOT_SECONDS &&
	    cc->last_ops > cc->queued_ops)
		linger = cc->last_latency / 4;
	double cap = cm.env.linger_us / 1e6;
	if (linger > cap)
		linger = cap;
	if (linger <= 0 || cc->head->expected_version >= 0) {
		make_ready(cc);
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
	make_ready(cc);
}

static void canvas_free(struct commit_canvas *cc)
{
	strmap_remove(cm.canvases, cc->canvas_id);
	event_free(cc->linger);
	free(cc);
}

struct sweep {
	struct commit_canvas **idle;
	size_t count;
	double now;
	bool all;
};

static void sweep_collect(const char *key, void *value, void *arg)
{
	struct commit_canvas *cc = value;
	struct sweep *sw = arg;
	if (!cc->busy && !cc->lingering && !cc->ready && !cc->head && !cc->refused &&
	    (sw->all || sw->now - cc->last_done > COMMIT_IDLE_SECONDS))
		sw->idle[sw->count++] = cc;
}

static void commit_sweep(bool all)
{
	struct sweep sw = { xcalloc(strmap_count(cm.canvases) + 1, sizeof(*sw.idle)), 0,
			    clock_mono_seconds(), all };
	strmap_foreach(cm.canvases, sweep_collect, &sw);
	for (size_t i = 0; i < sw.count; i++)
		canvas_free(sw.idle[i]);
	free(sw.idle);
}

static void sweep_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	commit_sweep(false);
}

void commit_submit(struct commit_job *job)
{
	if (cm.shutting_down || !cm.canvases) {
		job_finish_all(job, COMMIT_FAILED, true);
		return;
	}
	struct commit_canvas *cc = strmap_get(cm.canvases, job->canvas_id);
	if (!cc) {
		cc = xcalloc(1, sizeof(*cc));
		snprintf(cc->canvas_id, sizeof(cc->canvas_id), "%s", job->canvas_id);
		cc->linger = evtimer_new(cm.env.base, linger_timer_cb, cc);
		strmap_put(cm.canvases, cc->canvas_id, cc);
	}
	job->next = NULL;
	if (cc->tail)
		cc->tail->next = job;
	else
		cc->head = job;
	cc->tail = job;
	cc->queued_ops += job->count;
	canvas_wake(cc);
}

/* ---- tightening the size bounds ---------------------------------------------------------------- */

/* Puts the jobs refused as full back at the front of the queue, in their order. */
static void requeue_refused(struct commit_canvas *cc)
{
	struct commit_job *list = cc->refused, *last = NULL;
	if (!list)
		return;
	for (struct commit_job *j = list; j; j = j->next) {
		cc->queued_ops += j->count;
		last = j;
	}
	last->next = cc->head;
	cc->head = list;
	if (!cc->tail)
		cc->tail = last;
	cc->refused = NULL;
}

static void canvas_tightened(bool ok, void *arg)
{
	struct commit_canvas *cc = arg;
	if (!ok)
		log_warn("commit_tighten_failed", "canvas=%s", cc->canvas_id);
	cc->busy = false;
	requeue_refused(cc);
	make_ready(cc);
}

/* ---- batches ----------------------------------------------------------------------------------- */

/* The API form of an op committed in this batch, serialized (schema/003's fs_op_json, built
 * here from the payload text serialized at submit: no op is serialized twice). Every field
 * but the payload is a UUID, a number, an identifier or a timestamp: nothing to escape. */
static char *committed_op_text(const char *canvas_id, const struct commit_job *job,
			       const struct commit_op *op, long long version, const char *id,
			       const char *created_at)
{
	struct strbuf b = { 0 };
	const char *parts[] = { "{\"id\":\"", id, "\",\"canvas_id\":\"", canvas_id,
				"\",\"version\":" };
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		strbuf_puts(&b, parts[i]);
	strbuf_put_int(&b, version);
	const char *mid[] = { ",\"type\":\"", op_type_name(op->type), "\",\"payload\":" };
	for (size_t i = 0; i < sizeof(mid) / sizeof(mid[0]); i++)
		strbuf_puts(&b, mid[i]);
	strbuf_append(&b, op->payload_text, op->payload_len);
	const char *tail[] = { ",\"created_by\":\"", job->user_id, "\",\"client_op_id\":\"",
			       op->client_op_id, "\",\"created_at\":\"", created_at,
			       "\",\"kind\":\"", op->kind, "\",\"undo_of\":" };
	for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++)
		strbuf_puts(&b, tail[i]);
	if (op->undo_of > 0)
		strbuf_put_int(&b, op->undo_of);
	else
		strbuf_puts(&b, "null");
	strbuf_putc(&b, '}');
	return b.data;
}

/* The same op as a JSON object (for rooms and the undo and restore engines). */
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

/* Takes a ready canvas's waiting jobs into the batch (returns how many): a conditional job
 * goes alone, and an unconditional run stops before one. Jobs over the path-point limit are
 * refused here. */
static size_t take_jobs(struct commit_canvas *cc, size_t room)
{
	struct commit_job **tail = &cc->in_flight;
	size_t n = 0, taken = 0;
	while (cc->head) {
		struct commit_job *job = cc->head;
		bool conditional = job->expected_version >= 0;
		if (taken > 0 && (conditional || n + job->count > room))
			break;
		cc->head = job->next;
		if (!cc->head)
			cc->tail = NULL;
		cc->queued_ops -= job->count;
		job->next = NULL;
		if (job_max_points(job) > (size_t)cm.env.max_path_points) {
			job_finish_all(job, COMMIT_CANVAS_FULL, false);
			continue;
		}
		*tail = job;
		tail = &job->next;
		n += job->count;
		taken++;
		if (conditional)
			break;
	}
	cc->in_flight_ops = n;
	return taken;
}

static void batch_committed(const struct db_result *r, void *arg);

/* Builds one batch from the ready canvases and sends it. false when nothing was ready. */
static bool send_batch(void)
{
	struct commit_batch *b = xcalloc(1, sizeof(*b));
	size_t cap = 16;
	b->canvases = xcalloc(cap, sizeof(*b->canvases));
	struct commit_params *p = &cm.params;
	commit_params_reset(p);
	while (cm.ready_head && b->ops < COMMIT_MAX_BATCH_OPS &&
	       b->count < COMMIT_MAX_BATCH_CANVASES) {
		struct commit_canvas *cc = pop_ready();
		if (take_jobs(cc, COMMIT_MAX_BATCH_OPS - b->ops) == 0)
			continue; /* every waiting job was refused */
		cc->busy = true;
		if (b->count == cap) {
			cap *= 2;
			b->canvases = xrealloc(b->canvases, cap * sizeof(*b->canvases));
		}
		b->canvases[b->count++] = cc;
		b->ops += cc->in_flight_ops;
		const struct commit_job *first = cc->in_flight;
		bool wait = cc->contended_until > clock_mono_seconds();
		size_t ci = commit_params_add_canvas(p, cc->canvas_id, first->expected_version,
						     first->expected_version >= 0
							     ? first->guard_shapes
							     : NULL,
						     wait);
		for (const struct commit_job *job = cc->in_flight; job; job = job->next) {
			commit_params_next_job(p);
			for (size_t i = 0; i < job->count; i++)
				commit_params_add_op(p, ci, job->user_id, &job->ops[i]);
		}
	}
	if (b->count == 0) {
		free(b->canvases);
		free(b);
		return false;
	}
	commit_params_finish(p);
	clock_mono_now(&b->started);
	cm.in_flight++;
	if (!db_query(cm.env.db,
		      "SELECT idx, status, version, op_id, created_at, op FROM fs_commit_batch("
		      "$1::uuid[], $2::bigint[], $3::jsonb, $4::uuid[], $5::int[], $6::uuid[], "
		      "$7::uuid[], $8::text[], $9::text[], $10::bigint[], $11::int[], $12::int[], "
		      "$13::jsonb, $14::bigint, $15::bigint)",
		      COMMIT_PARAM_COUNT, p->values, batch_committed, b)) {
		/* The pool's queue is full: fail the batch (retryable) rather than leave jobs
		 * that nothing would flush. */
		log_warn("commit_overloaded", "canvases=%zu ops=%zu", b->count, b->ops);
		struct db_result overloaded = { .res = NULL, .ok = false, .sqlstate = "",
						.message = "database queue full",
						.retryable = true };
		batch_committed(&overloaded, b);
	}
	return true;
}

static void flush_cb(evutil_socket_t fd, short events, void *arg)
{
	while (cm.in_flight < cm.env.batches && cm.ready_head)
		if (!send_batch())
			break;
}

/* After a batch: the canvas is free again; tighten its bounds first if jobs were refused as
 * full, else go on with what waits. */
static void canvas_batch_done(struct commit_canvas *cc, double latency, bool unreachable)
{
	cc->in_flight = NULL;
	cc->last_latency = latency;
	cc->last_done = clock_mono_seconds();
	cc->last_ops = cc->in_flight_ops;
	cc->in_flight_ops = 0;
	if (unreachable && cc->head) {
		/* Postgres is unreachable: what waits would only wait out the pool's timeout
		 * again. Fail it now, retryable, so clients retry. */
		struct commit_job *waiting = cc->head;
		cc->head = cc->tail = NULL;
		cc->queued_ops = 0;
		jobs_finish_all(waiting, COMMIT_FAILED, true);
	}
	if (cc->refused) {
		/* Still busy: nothing of this canvas commits before the refused jobs' retry. */
		if (!snapshot_tighten(cc->canvas_id, canvas_tightened, cc))
			canvas_tightened(false, cc);
		return;
	}
	cc->busy = false;
	if (cc->head)
		make_ready(cc);
}

/* The canvas was held by another transaction: nothing was done; its jobs go back to the front
 * of its queue, in their order, and its next batches wait for the lock. */
static void canvas_busy(struct commit_canvas *cc, size_t *row)
{
	*row += cc->in_flight_ops;
	struct commit_job *last = cc->in_flight;
	while (last->next)
		last = last->next;
	last->next = cc->head;
	cc->head = cc->in_flight;
	if (!cc->tail)
		cc->tail = last;
	cc->queued_ops += cc->in_flight_ops;
	cc->in_flight = NULL;
	cc->contended_until = clock_mono_seconds() + COMMIT_CONTENDED_SECONDS;
	metrics_counter_inc(METRIC_COMMIT_CANVASES_BUSY);
}

/* Answers the jobs of one canvas from its rows (row i of the batch is op i), and hands what
 * committed to the listener. */
static void canvas_results(struct commit_canvas *cc, const struct db_result *r, size_t *row)
{
	if (cc->in_flight_ops > 0 && commit_status_parse(db_value(r, (int)*row, 1)) == COMMIT_BUSY) {
		canvas_busy(cc, row);
		return;
	}
	size_t total = cc->in_flight_ops;
	bool listener_json = !cm.env.wants_json || cm.env.wants_json(cc->canvas_id);
	json_t *committed = listener_json ? json_array() : NULL;
	json_t **ops = xcalloc(total, sizeof(*ops));
	char **texts = xcalloc(total, sizeof(*texts));
	const char **committed_texts = xcalloc(total + 1, sizeof(*committed_texts));
	long long *committed_versions = xcalloc(total + 1, sizeof(*committed_versions));
	size_t committed_count = 0;
	const struct commit_op **sources = xcalloc(total, sizeof(*sources));
	struct commit_op_result *results = xcalloc(total, sizeof(*results));
	long long head = 0;
	size_t i = 0;
	for (struct commit_job *job = cc->in_flight; job; job = job->next) {
		for (size_t j = 0; j < job->count; j++, i++, (*row)++) {
			int k = (int)*row;
			const struct commit_op *op = &job->ops[j];
			sources[i] = op;
			results[i].status = commit_status_parse(db_value(r, k, 1));
			if (!db_is_null(r, k, 2))
				results[i].version = db_int(r, k, 2);
			if (results[i].status == COMMIT_OK) {
				if (listener_json || job->want_ops)
					ops[i] = committed_op_json(cc->canvas_id, job, op,
								   results[i].version,
								   db_value(r, k, 3), db_value(r, k, 4));
				texts[i] = committed_op_text(cc->canvas_id, job, op,
							     results[i].version, db_value(r, k, 3),
							     db_value(r, k, 4));
				if (committed)
					json_array_append(committed, ops[i]);
				committed_versions[committed_count] = results[i].version;
				committed_texts[committed_count++] = texts[i];
			} else if (!db_is_null(r, k, 5)) {
				if (job->want_ops)
					ops[i] = json_loads(db_value(r, k, 5), 0, NULL);
				texts[i] = xstrdup(db_value(r, k, 5));
			} else if (results[i].status == COMMIT_DUPLICATE) {
				/* a duplicate of an op earlier in this batch: share what it has */
				for (size_t m = 0; m < i && !texts[i]; m++)
					if (results[m].status == COMMIT_OK &&
					    !strcmp(sources[m]->client_op_id, op->client_op_id)) {
						ops[i] = ops[m] ? json_incref(ops[m]) : NULL;
						if (!ops[i] && job->want_ops)
							ops[i] = json_loads(texts[m], 0, NULL);
						texts[i] = xstrdup(texts[m]);
					}
			}
			results[i].op = ops[i];
			results[i].op_text = texts[i];
			if (results[i].status == COMMIT_CONFLICT)
				head = results[i].version;
		}
	}
	free(sources);
	size_t offset = 0;
	struct commit_job *job = cc->in_flight, **refused_tail = &cc->refused;
	while (job) {
		struct commit_job *next = job->next;
		const struct commit_op_result *res = results + offset;
		offset += job->count;
		bool full = false;
		for (size_t j = 0; j < job->count; j++)
			full = full || res[j].status == COMMIT_CANVAS_FULL;
		if (full && !job->refused_full) {
			/* The bounds may be loose: tighten them to exact values and retry once. */
			job->refused_full = true;
			job->next = NULL;
			*refused_tail = job;
			refused_tail = &job->next;
		} else {
			struct commit_outcome out = { .head = head, .results = res,
						      .count = job->count };
			job->done(&out, job->arg);
			job_free(job);
		}
		job = next;
	}
	cc->in_flight = NULL;
	metrics_counter_add(METRIC_OPS_COMMITTED, committed_count);
	if (committed_count && cm.env.listener) {
		struct commit_committed view = { .canvas_id = cc->canvas_id,
						 .count = committed_count,
						 .texts = committed_texts,
						 .versions = committed_versions,
						 .ops = committed };
		cm.env.listener(&view, cm.env.listener_arg);
	}
	json_decref(committed);
	for (size_t m = 0; m < total; m++) {
		json_decref(ops[m]);
		free(texts[m]);
	}
	free(ops);
	free(texts);
	free(committed_texts);
	free(committed_versions);
	free(results);
}

static void batch_committed(const struct db_result *r, void *arg)
{
	struct commit_batch *b = arg;
	cm.in_flight--;
	double latency = clock_seconds_since(&b->started);
	metrics_histogram_observe(METRIC_HIST_COMMIT_SECONDS, latency);
	metrics_histogram_observe(METRIC_HIST_COMMIT_BATCH_OPS, (double)b->ops);
	bool failed = !r->ok || (size_t)db_rows(r) != b->ops;
	bool unreachable = false;
	if (failed) {
		char msg[300];
		log_warn("commit_failed", "canvases=%zu ops=%zu retryable=%d sqlstate=%s message=%s",
			 b->count, b->ops, r->retryable, r->sqlstate,
			 log_quote(msg, sizeof(msg), r->message));
		metrics_counter_inc(METRIC_COMMIT_FAILURES);
		/* A lost connection may have committed: the ops are idempotent by client op id,
		 * so a retry is safe; any other error is a bug or bad data, not worth retrying. */
		bool retryable = !r->ok && r->retryable;
		unreachable = retryable && !db_pool_ready(cm.env.db);
		for (size_t c = 0; c < b->count; c++) {
			struct commit_job *jobs = b->canvases[c]->in_flight;
			b->canvases[c]->in_flight = NULL;
			jobs_finish_all(jobs, COMMIT_FAILED, retryable);
		}
	} else {
		size_t row = 0;
		for (size_t c = 0; c < b->count; c++)
			canvas_results(b->canvases[c], r, &row);
	}
	for (size_t c = 0; c < b->count; c++)
		canvas_batch_done(b->canvases[c], latency, unreachable);
	free(b->canvases);
	free(b);
	schedule_flush();
}

const char *commit_full_detail(void)
{
	static char detail[200];
	snprintf(detail, sizeof(detail),
		 "the canvas is full: at most %lld shapes, %lld bytes of state and %d points per "
		 "path",
		 cm.env.max_shapes, cm.env.max_state_bytes, cm.env.max_path_points);
	return detail;
}

/* ---- module ------------------------------------------------------------------------------------ */

void commit_init(const struct commit_env *e)
{
	memset(&cm, 0, sizeof(cm));
	cm.env = *e;
	if (cm.env.batches < 1)
		cm.env.batches = 1;
	cm.canvases = strmap_new();
	commit_params_init(&cm.params, cm.env.max_shapes, cm.env.max_state_bytes);
	cm.flush_ev = event_new(cm.env.base, -1, 0, flush_cb, NULL);
	cm.sweep_timer = event_new(cm.env.base, -1, EV_PERSIST, sweep_timer_cb, NULL);
	struct timeval every = { 1, 0 };
	event_add(cm.sweep_timer, &every);
}

static void collect_canvas(const char *key, void *value, void *arg)
{
	struct commit_canvas ***cursor = arg;
	*(*cursor)++ = value;
}

static void fail_queued(struct commit_canvas *cc)
{
	struct commit_job *waiting = cc->head, *refused = cc->refused;
	cc->head = cc->tail = cc->refused = NULL;
	cc->queued_ops = 0;
	jobs_finish_all(waiting, COMMIT_FAILED, true);
	jobs_finish_all(refused, COMMIT_FAILED, true);
	if (cc->lingering)
		evtimer_del(cc->linger);
	cc->lingering = false;
	cc->ready = false;
	cc->busy = false;
}

void commit_shutdown(void)
{
	/* Called after the db pool failed every in-flight batch: what still waits (lingering,
	 * ready, refused) is failed as retryable, and nothing is busy any more. */
	if (!cm.canvases)
		return;
	cm.shutting_down = true;
	cm.ready_head = cm.ready_tail = NULL;
	/* Collected first: the failure callbacks must not run inside the map's iteration. */
	size_t n = strmap_count(cm.canvases);
	struct commit_canvas **all = xcalloc(n + 1, sizeof(*all)), **cursor = all;
	strmap_foreach(cm.canvases, collect_canvas, &cursor);
	for (size_t i = 0; i < n; i++)
		fail_queued(all[i]);
	free(all);
	commit_sweep(true);
	event_free(cm.sweep_timer);
	event_free(cm.flush_ev);
	strmap_free(cm.canvases);
	commit_params_free(&cm.params);
	memset(&cm, 0, sizeof(cm));
}
