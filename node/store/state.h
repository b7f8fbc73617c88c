/*
 * Canvas state at a version, for reads and for the history features: nearest snapshot at or
 * below the version + replay of the later ops through the pure reducer (common/canvas.h), in
 * one round trip that also reads the caller's role and the canvas head.
 *
 * Work that grows with a canvas never runs on the event loop: the query's result is handed to
 * a worker thread (core/workers.h), which parses the snapshot, replays the ops and then runs
 * the caller's optional work hook (serialize the state, render SVG or PNG, diff it against
 * another state: anything proportional to the canvas). Only the callback runs on the loop.
 * A state whose snapshot and ops take more than 128 KiB stored never passes through the loop
 * at all: the loop's query returns its versions only, and the worker reads the texts on a
 * connection of its own (db_fetch), under the same deadline; receiving the largest canvas's
 * 9 MB through the pool held the loop 30-75 ms per read. A small state
 * (at most 64 KiB of snapshot and ops text) is built on the loop, hook included: that takes
 * well under a millisecond, less than the two thread hand-offs, and keeps the window of a
 * conditional commit computed from it (restore, undo) short. Either way cb runs after work.
 *
 * Ownership: the callback borrows the result; the state is freed when it returns (take it with
 * state_result_take_state to keep it). With a work hook, the state is freed on the worker right
 * after the hook (a hook that wants it kept takes it), so the callback sees state == NULL.
 */
#ifndef FLOWSTATE_STORE_STATE_H
#define FLOWSTATE_STORE_STATE_H

#include <stdbool.h>

#include "model/canvas.h"
#include "store/db.h"

struct workers;

/* The pool state loads go through and the threads that build states (set once at startup). */
void state_init(struct db_pool *db, struct workers *workers);

enum state_status {
	STATE_OK,
	STATE_NOT_FOUND,   /* no canvas, or the user is not a member */
	STATE_BAD_VERSION, /* at > head */
	STATE_DB_ERROR,
};

struct state_result {
	enum state_status status;
	const struct db_result *db;  /* for STATE_DB_ERROR */
	char role[16];               /* the caller's role ("" for internal loads) */
	long long head;              /* canvas version now */
	long long at;                /* version the state is of */
	long long snapshot_version;  /* the snapshot replay started from (0 = empty canvas) */
	struct canvas_state *state;
	/* state_load_text only: the shapes as canonical JSON (canvas_state_serialize's, or a
	 * stored snapshot's text of the same form), owned by the result. */
	char *text;
	size_t text_len;
	bool text_stored;            /* text is a stored snapshot's, sent as it is */
};

typedef void (*state_callback)(struct state_result *r, void *arg);
/*
 * Runs with a STATE_OK result, before the callback, on a worker thread (or on the loop for a
 * small state): may read and change r->state and write into arg, and nothing else (no
 * logging, no loop, no other module: the loop thread owns all of those).
 */
typedef void (*state_work_fn)(struct state_result *r, void *arg);

/*
 * at < 0 means the head. user_id NULL loads without a membership check (internal use).
 * cb runs on the loop exactly once (after work, when given and the status is STATE_OK).
 * Returns false (without calling cb) when the pool's queue is full.
 */
bool state_load(const char *canvas_id, const char *user_id, long long at, state_callback cb,
		void *arg) __attribute__((warn_unused_result));
bool state_load_with(const char *canvas_id, const char *user_id, long long at,
		     state_work_fn work, state_callback cb, void *arg)
	__attribute__((warn_unused_result));

/*
 * The state at `at` (< 0: the head) as its canonical JSON text (r->text, r->state NULL), with
 * the same checks as state_load. A text stored in the form this node writes
 * (CANVAS_STATE_FORMAT) for exactly that version is the answer, read and copied: no parse, no
 * replay, no serialize (r->text_stored). Two places keep one: canvas_heads, one row per
 * canvas, which this function fills itself when it had to build the head state of a canvas
 * whose text is at least 64 KiB (the next reader gets it; smaller states are built on the loop
 * in well under a millisecond): after the callback, by a canvas worker on a connection of its
 * own, so the text never passes through the loop or holds a pool connection; and a snapshot
 * at that version (snapshots.state_text).
 * Otherwise the state is built and serialized on a worker as above. The work hook, if any,
 * runs after that with r->text set (to wrap it in an answer off the loop).
 */
bool state_load_text(const char *canvas_id, const char *user_id, long long at,
		     state_work_fn work, state_callback cb, void *arg)
	__attribute__((warn_unused_result));

/*
 * Makes sure the canvas's head text is stored (state_load_text at the head, answering nobody:
 * a text found stored is not counted as sent). false when the pool's queue is full.
 */
bool state_refresh_head_text(const char *canvas_id) __attribute__((warn_unused_result));

/* Takes ownership of the state out of a result (the loader will not free it). */
struct canvas_state *state_result_take_state(struct state_result *r);

#endif
