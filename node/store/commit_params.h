/*
 * The wire form of a node-wide commit batch, pure (no loop, no I/O) so that it is unit-tested
 * on its own: the array parameters of fs_commit_batch (schema/050_commit_batch.sql) built from
 * the batch's canvases and ops, and the statuses its rows answer with.
 *
 * Arrays are Postgres text literals ("{a,b}"); every element is a UUID, an identifier or a
 * number, so none needs quoting. Payloads travel as one JSON array.
 */
#ifndef FLOWSTATE_STORE_COMMIT_PARAMS_H
#define FLOWSTATE_STORE_COMMIT_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/strbuf.h"
#include "store/commit.h"

#define COMMIT_PARAM_COUNT 15

struct commit_params {
	struct strbuf canvases, expected, guards, wait, op_canvas, ids, users, types, kinds,
		undo_of, sizes, jobs, payloads;
	char max_shapes[24], max_bytes[24];
	size_t canvas_count, op_count, job_count, wait_count;
	bool any_guard;
	const char *values[COMMIT_PARAM_COUNT];   /* after commit_params_finish */
};

void commit_params_init(struct commit_params *p, long long max_shapes, long long max_bytes);
/* Adds a canvas (expected < 0: unconditional; guard: JSON array of shape ids or NULL; wait:
 * the batch waits for its lock instead of skipping it when taken); returns its 1-based
 * index for the ops. */
size_t commit_params_add_canvas(struct commit_params *p, const char *canvas_id,
				long long expected, const json_t *guard, bool wait);
/* Starts the next job (its ops follow). */
void commit_params_next_job(struct commit_params *p);
/* Adds an op of the current job on canvas `canvas_index`. */
void commit_params_add_op(struct commit_params *p, size_t canvas_index, const char *user_id,
			  const struct commit_op *op);
/* Closes the literals and fills values[] (valid until the next reset or free). */
void commit_params_finish(struct commit_params *p);
void commit_params_reset(struct commit_params *p);
void commit_params_free(struct commit_params *p);

/* The status text of a fs_commit_batch row. Unknown text is COMMIT_FAILED. */
enum commit_status commit_status_parse(const char *s);

#endif
