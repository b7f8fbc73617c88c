/*
 * Canvas state at a version, for reads and for the history features: nearest snapshot at or
 * below the version + replay of the later ops through the pure reducer (common/canvas.h), in
 * one round trip that also reads the caller's role and the canvas head.
 *
 * Ownership: the callback borrows the result; the state is freed when it returns (take it with
 * state_result_take_state to keep it).
 */
#ifndef FLOWSTATE_STORE_STATE_H
#define FLOWSTATE_STORE_STATE_H

#include <stdbool.h>

#include "model/canvas.h"
#include "store/db.h"

/* The pool state loads go through (set once at startup). */
void state_init(struct db_pool *db);

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
};

typedef void (*state_callback)(struct state_result *r, void *arg);

/*
 * at < 0 means the head. user_id NULL loads without a membership check (internal use).
 * Returns false (without calling cb) when the pool's queue is full.
 */
bool state_load(const char *canvas_id, const char *user_id, long long at, state_callback cb,
		void *arg) __attribute__((warn_unused_result));

/* Takes ownership of the state out of a result (the loader will not free it). */
struct canvas_state *state_result_take_state(struct state_result *r);

#endif
