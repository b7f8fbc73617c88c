/*
 * Undo/redo for one user on one canvas, independent of the transport: REST (api_undo.c) and
 * WebSocket sessions (ws.c) both call undo_run. done(arg, status, body) runs exactly once with
 * an HTTP-style status and the JSON body (stolen): 200 {applied, status, operation,
 * operations, kept, skipped, version} or an error {detail, code}. The semantics are in the
 * comment at the top of api_undo.c.
 */
#ifndef FLOWSTATE_UNDO_H
#define FLOWSTATE_UNDO_H

#include <stdbool.h>

#include <jansson.h>

struct server;

typedef void (*undo_done_fn)(void *arg, int status, json_t *body);

void undo_run(struct server *srv, const char *canvas_id, const char *user_id, bool redo,
	      undo_done_fn done, void *arg);

#endif
