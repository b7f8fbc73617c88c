/*
 * The composition root: one libevent loop per process, and the only code that sees every
 * layer. It creates the shared resources (loop, Postgres pool, worker threads), gives each
 * module what it needs at init, and wires the callbacks through which lower layers notify
 * higher ones (the HTTP request handler, the commit listener, the bus's message handler).
 * Nothing else includes this header but main.c.
 */
#ifndef FLOWSTATE_SERVER_H
#define FLOWSTATE_SERVER_H

#include <stdbool.h>

#include <event2/event.h>

#include "base/config.h"
#include "net/http.h"

struct db_pool;
struct listener;
struct workers;

enum server_state { SERVER_STARTING, SERVER_RUNNING, SERVER_DRAINING, SERVER_STOPPED };

struct server {
	struct config cfg;
	struct event_base *base;
	struct listener *listener;
	struct db_pool *db;
	struct workers *workers;            /* password hashing */
	struct workers *canvas_workers;     /* canvas states: replay, serialization, export */
	struct workers *export_workers;     /* PNG and Mermaid exports (api/export.c) */
	struct http_listener_config http_cfg;
	enum server_state state;
	struct event *sigterm_ev, *sigint_ev, *drain_timer, *drain_check, *log_flush_ev;
	unsigned char jwt_secret[256];
	size_t jwt_secret_len;
};

/* Sets up the loop, listener, pool and workers. Does not run the loop. */
bool server_init(struct server *srv) __attribute__((warn_unused_result));
/* Runs the event loop until the server has drained and stopped. */
int server_run(struct server *srv);
void server_free(struct server *srv);

/* Switches state (the one place that does); logs the transition. */
void server_change_state(struct server *srv, enum server_state state);

#endif
