/*
 * Undo/redo for one user on one canvas, independent of the transport: REST (api/undo.c) and
 * WebSocket sessions (realtime/session.c) both call undo_run. done(arg, status, body) runs exactly once with
 * an HTTP-style status and the JSON body (stolen): 200 {applied, status, operation,
 * operations, kept, skipped, version} or an error {detail, code}. The semantics are in the
 * comment at the top of app/undo.c.
 */
#ifndef FLOWSTATE_APP_UNDO_H
#define FLOWSTATE_APP_UNDO_H

#include <stdbool.h>

#include <jansson.h>

struct db_pool;

typedef void (*undo_done_fn)(void *arg, int status, json_t *body);

/* The pool the engine reads history through (set once at startup). */
void undo_init(struct db_pool *db);
void undo_run(const char *canvas_id, const char *user_id, bool redo, undo_done_fn done,
	      void *arg);

#endif
