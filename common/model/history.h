/*
 * Undo and redo as forward ops. Given the state just before a user's op (or a group of
 * consecutive ops, such as a restore or an earlier undo), the op(s), and the current state,
 * computes the ops that revert what the op changed and is still as the op left it, property
 * by property. A property someone else changed since is left alone and reported, never
 * overwritten. Redo is the undo of the undo's ops: the same function.
 * docs/canvas-model.md ("Undo and redo") has the rules case by case.
 *
 * Pure: reads the states, never modifies them. Ownership: on return *out holds new
 * references (ops, kept) that history_undo_release drops.
 */
#ifndef FLOWSTATE_HISTORY_H
#define FLOWSTATE_HISTORY_H

#include "model/canvas.h"
#include "model/op.h"

#include <jansson.h>

enum history_status {
	HISTORY_APPLIED,  /* everything the op changed is reverted by the ops */
	HISTORY_PARTIAL,  /* some of it is reverted; properties others changed since are kept */
	HISTORY_CONFLICT, /* nothing can be reverted: others changed all of it since; no ops */
	HISTORY_NOOP,	  /* nothing to revert: the op changed nothing, or it is already undone */
};

struct history_undo {
	enum history_status status;
	/* Ops {"type", "payload"} (normalized) to commit in this order; possibly empty. */
	json_t *ops;
	/* {shape_id: ["x", "style.fill", ...]}: what was left as others set it. "shape" means
	 * the shape's existence (deleted, or created again, by someone else). */
	json_t *kept;
};

/*
 * Undo of one op. before: the state just before the op (its version - 1); current: the
 * state the undo will be committed on. Invalid payloads are no-ops, as in the reducer.
 */
enum history_status history_undo(const struct canvas_state *before, enum op_type type,
				 const json_t *payload, const struct canvas_state *current,
				 struct history_undo *out);

/*
 * Undo of a group of ops {"type", "payload"} that were committed one after the other with
 * nothing in between, starting on before (e.g. the ops of one restore or of one undo). The
 * ops are undone last first, each with the same rules as history_undo.
 */
enum history_status history_undo_ops(const struct canvas_state *before, const json_t *ops,
				     const struct canvas_state *current,
				     struct history_undo *out);

void history_undo_release(struct history_undo *result);

/* "applied", "partial", "conflict", "noop". */
const char *history_status_name(enum history_status status);

#endif
