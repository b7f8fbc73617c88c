/*
 * The node process: one libevent loop that owns the listener, the HTTP connections, the
 * Postgres pool and the KDF worker threads. There is exactly one struct server per process;
 * subsystems reach it through the request's connection.
 */
#ifndef FLOWSTATE_SERVER_H
#define FLOWSTATE_SERVER_H

#include <stdbool.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "config.h"
#include "http.h"

struct db_pool;
struct workers;

enum server_state { SERVER_STARTING, SERVER_RUNNING, SERVER_DRAINING, SERVER_STOPPED };

struct server {
	struct config cfg;
	struct event_base *base;
	struct evconnlistener *listener;
	struct db_pool *db;
	struct workers *workers;
	struct http_listener_config http_cfg;
	enum server_state state;
	struct event *sigterm_ev, *sigint_ev, *drain_timer, *drain_check;
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
