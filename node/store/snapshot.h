/*
 * Snapshots: the serialized state of a canvas at a version, so a state load replays only the
 * ops after the nearest one (DESIGN §5). Derived data: one per version, whoever writes it
 * first; they can be dropped and rebuilt from the log.
 */
#ifndef FLOWSTATE_STORE_SNAPSHOT_H
#define FLOWSTATE_STORE_SNAPSHOT_H

#include <stdbool.h>

#include "model/canvas.h"
#include "store/db.h"

struct event_base;

/* Pool, minimum spacing (FLOWSTATE_SNAPSHOT_EVERY) and quiet time (FLOWSTATE_SNAPSHOT_QUIET_MS,
 * 0: canvases going quiet are not watched), set once at startup. */
void snapshot_init(struct event_base *base, struct db_pool *db, long long every, int quiet_ms);
/* Stops the quiet timer and forgets the canvases it watched. */
void snapshot_shutdown(void);

/*
 * Stores state as the canvas's snapshot at version (unless one exists), and tightens the
 * canvas's size bounds (schema/050) to the state's exact size plus what later ops may have
 * added. cb gets one row: the snapshot as API JSON {canvas_id, version, created_at,
 * shape_count} (column 0) and whether this call inserted it (column 1, "t"/"f"). false (cb
 * not called) when the pool's queue is full.
 */
bool snapshot_store(const char *canvas_id, long long version, const struct canvas_state *state,
		    db_callback cb, void *arg) __attribute__((warn_unused_result));

/* A state serialized for storage: built on a worker thread (snapshot_prepare is pure), stored
 * from the loop (snapshot_store_text), so a large canvas is never serialized on the loop. */
struct snapshot_text {
	char *text;
	size_t len;
	size_t shapes;
};
void snapshot_prepare(const struct canvas_state *state, struct snapshot_text *out);
void snapshot_text_release(struct snapshot_text *t);
bool snapshot_store_text(const char *canvas_id, long long version, const struct snapshot_text *t,
			 db_callback cb, void *arg) __attribute__((warn_unused_result));

/*
 * Considers a snapshot at version `at`: built only when the ops since the latest snapshot
 * number at least max(FLOWSTATE_SNAPSHOT_EVERY, its shape count), because a snapshot costs
 * O(shapes) and saves O(ops) of replay. Off the request path, fire and forget (failures are
 * logged: snapshots are derived data).
 */
void snapshot_schedule(const char *canvas_id, long long at);

/*
 * Quiet canvases. A canvas is mostly opened after people stopped editing it, which is also the
 * cheapest moment to build its state (nothing competes for it). So a canvas this node
 * committed `version` to, and then nothing for FLOWSTATE_SNAPSHOT_QUIET_MS, has its head text
 * asked for (state_load_text), which keeps a text it had to build in canvas_heads: the next
 * client to open it is sent that text as it is. At most once per 15 s per canvas (the
 * largest canvases take a worker ~2 s to build), only when it changed since, and one row per
 * canvas, overwritten: nothing grows with the canvas's history. Called for every committed
 * batch; watches at most 4,096 canvases at a time (the rest are not watched).
 */
void snapshot_note_commit(const char *canvas_id, long long version);

/*
 * Snapshots the canvas at its head now, so that its size bounds become exact (the commit path
 * calls this before refusing a job as canvas_full). done runs exactly once, later, with
 * whether it worked; false (done not called) when the pool's queue is full.
 */
bool snapshot_tighten(const char *canvas_id, void (*done)(bool ok, void *arg), void *arg)
	__attribute__((warn_unused_result));

#endif
