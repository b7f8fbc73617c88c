/*
 * The one write path (DESIGN §3): every change to a canvas — REST and WebSocket ops, undo, redo,
 * restore — is a commit job handed to commit_submit(). Group commit is node-wide: everything
 * queued on the node, for any number of canvases, goes to Postgres as ONE batch, one round
 * trip and one transaction (fs_commit_batch, schema/050_commit_batch.sql), which locks the
 * batch's canvases in id order, then per canvas dedupes by client op id, authorizes, checks
 * conditions and size limits, allocates versions with one UPDATE ... RETURNING and inserts the
 * rows. A canvas is in at most one batch in flight; up to FLOWSTATE_COMMIT_BATCHES batches are
 * in flight at once, each on its own pool connection; what arrives meanwhile forms the next.
 *
 * Ownership: commit_submit takes the job (and the payload references in it). The done callback
 * runs exactly once, on the loop, with the outcome; the job is freed right after it returns.
 * A job with an expected version (restore, undo) goes alone for its canvas in its batch, and
 * commits only if its condition holds (status COMMIT_CONFLICT otherwise). A job is all or
 * nothing as far as size limits go.
 */
#ifndef FLOWSTATE_STORE_COMMIT_H
#define FLOWSTATE_STORE_COMMIT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "model/op.h"

struct commit_job;
struct db_pool;
struct event_base;

enum commit_status {
	COMMIT_OK,         /* committed now */
	COMMIT_DUPLICATE,  /* this client op id was committed before: the original op */
	COMMIT_FORBIDDEN,  /* a member without the editor role */
	COMMIT_NOT_FOUND,  /* no such canvas, or not a member */
	COMMIT_CONFLICT,   /* expected_version did not match */
	COMMIT_ID_CONFLICT, /* the client op id is another user's op on this canvas */
	COMMIT_CANVAS_FULL, /* the canvas would pass a size limit (shapes, bytes, path points) */
	COMMIT_FAILED,     /* the database round trip failed (see retryable) */
	COMMIT_BUSY,       /* internal, never reported: another transaction held the canvas, the
			      job goes again in the next batch */
};

struct commit_op {
	char client_op_id[40];
	enum op_type type;
	json_t *payload;        /* normalized (op_validate); owned by the job */
	char *payload_text;     /* payload serialized once (compact JSON); owned by the job */
	size_t payload_len;
	const char *kind;       /* "do", "undo", "redo", "restore" */
	long long undo_of;      /* 0 = none */
};

struct commit_op_result {
	enum commit_status status;
	long long version;      /* committed or original version */
	json_t *op;             /* the operation as the API returns it, for jobs that asked for it
				   (commit_job_want_ops); borrowed (NULL if none) */
	const char *op_text;    /* the operation serialized (valid during the callback; NULL if
				   none) */
};

struct commit_outcome {
	bool failed;            /* the whole batch failed before committing anything we know of */
	bool retryable;         /* resubmitting the same client op ids is safe and may succeed */
	long long head;         /* canvas version on conflict */
	const struct commit_op_result *results;   /* one per op of the job */
	size_t count;
};

typedef void (*commit_done_fn)(const struct commit_outcome *outcome, void *arg);

/* What a batch committed on one canvas, for the commit listener (all borrowed). */
struct commit_committed {
	const char *canvas_id;
	size_t count;
	const char *const *texts;     /* the ops serialized, in version order */
	const long long *versions;    /* their versions */
	json_t *ops;                  /* the same as an array of objects; NULL when wants_json
					 said nobody on this node needs them */
};

/* Called for every canvas of a batch that committed new ops: the composition root wires
 * delivery, fan-out and snapshots to it. */
typedef void (*commit_listener_fn)(const struct commit_committed *c, void *arg);

/* Whether anything on this node wants the canvas's committed ops as JSON objects (a room
 * with members): building them for a canvas nobody here watches is wasted work. */
typedef bool (*commit_wants_json_fn)(const char *canvas_id);

struct commit_env {
	struct event_base *base;
	struct db_pool *db;
	long long linger_us;          /* FLOWSTATE_COMMIT_LINGER_US: a hot canvas's wait cap */
	int batches;                  /* FLOWSTATE_COMMIT_BATCHES: in flight at once */
	long long max_shapes;         /* canvas limits (FLOWSTATE_MAX_*) */
	long long max_state_bytes;
	int max_path_points;
	commit_listener_fn listener;
	void *listener_arg;
	commit_wants_json_fn wants_json;  /* NULL: always */
};

void commit_init(const struct commit_env *env);
void commit_shutdown(void);

/* A new job for one user on one canvas; add ops with commit_job_add_op, then submit. */
struct commit_job *commit_job_new(const char *canvas_id, const char *user_id,
				  commit_done_fn done, void *arg);
/* Takes the payload reference. */
void commit_job_add_op(struct commit_job *job, const char *client_op_id, enum op_type type,
		       json_t *payload, const char *kind, long long undo_of);
void commit_job_expect_version(struct commit_job *job, long long version);
/* The job's results carry each operation as a JSON object too (undo, restore); by default
 * only as text, which is all a REST answer or an ack needs. */
void commit_job_want_ops(struct commit_job *job);
/* With an expected version: conflict only if an op after it touched one of these shapes
 * (a JSON array of shape ids, reference taken). Without shapes the canvas must still be at
 * the expected version. */
void commit_job_guard_shapes(struct commit_job *job, json_t *shape_ids);
/* Frees a job that will not be submitted (its done callback is not called). */
void commit_job_discard(struct commit_job *job);
void commit_submit(struct commit_job *job);

/* The detail of a canvas_full error, naming the limits in force. */
const char *commit_full_detail(void);

#endif
