/*
 * The composition root (see server.h) and the process lifecycle: set up the loop, wire the
 * layers, accept connections, and on SIGTERM drain: stop accepting, report not-ready, let
 * in-flight requests finish, close idle connections, and exit within
 * FLOWSTATE_SHUTDOWN_TIMEOUT whatever happens.
 */
#include "server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/router.h"
#include "app/access.h"
#include "app/delivery.h"
#include "app/undo.h"
#include "base/alloc.h"
#include "base/log.h"
#include "core/evmem.h"
#include "core/looplag.h"
#include "core/memtrim.h"
#include "core/metrics.h"
#include "core/ratelimit.h"
#include "core/workers.h"
#include "fanout/bus.h"
#include "fanout/room.h"
#include "net/http.h"
#include "net/listener.h"
#include "net/stream.h"
#include "realtime/session.h"
#include "store/commit.h"
#include "store/db.h"
#include "store/snapshot.h"
#include "store/state.h"

static const char *const server_state_names[] = { "starting", "running", "draining", "stopped" };

/* The one server of the process, for callbacks that take no argument (api's draining(), the
 * log's flush scheduling). */
static struct server *the_server;

void server_change_state(struct server *srv, enum server_state state)
{
	log_info("server_state", "from=%s to=%s", server_state_names[srv->state],
		 server_state_names[state]);
	srv->state = state;
}

static bool server_draining(void)
{
	return the_server && the_server->state >= SERVER_DRAINING;
}

/* Log lines of a loop turn go out in one write at its end (base/log.h). */
static void log_flush_cb(evutil_socket_t fd, short events, void *arg)
{
	log_flush();
}

static void server_schedule_log_flush(void)
{
	if (the_server && the_server->log_flush_ev)
		event_active(the_server->log_flush_ev, 0, 0);
}

static void drain_check_cb(evutil_socket_t fd, short events, void *arg)
{
	struct server *srv = arg;
	if (http_conns_open() == 0 && sessions_open() == 0) {
		log_info("drain_complete", "open_connections=0");
		event_base_loopexit(srv->base, NULL);
	}
}

static void drain_deadline_cb(evutil_socket_t fd, short events, void *arg)
{
	struct server *srv = arg;
	log_warn("drain_deadline", "open_connections=%zu websockets=%zu", http_conns_open(),
		 sessions_open());
	event_base_loopexit(srv->base, NULL);
}

static void server_begin_drain(struct server *srv)
{
	if (srv->state >= SERVER_DRAINING)
		return;
	server_change_state(srv, SERVER_DRAINING);
	/* A second SIGTERM (an impatient supervisor) must not cut the drain short: the signal
	 * events stay, and signal_cb finds the drain begun. Shutdown has a deadline of its own;
	 * SIGKILL remains for those who cannot wait. */
	listener_free(srv->listener);
	srv->listener = NULL;
	http_conns_drain();
	rooms_drain();
	sessions_drain();
	struct timeval deadline = { srv->cfg.shutdown_timeout, 0 };
	struct timeval every = { 0, 20000 };
	srv->drain_timer = evtimer_new(srv->base, drain_deadline_cb, srv);
	evtimer_add(srv->drain_timer, &deadline);
	srv->drain_check = event_new(srv->base, -1, EV_PERSIST, drain_check_cb, srv);
	event_add(srv->drain_check, &every);
}

static void signal_cb(evutil_socket_t sig, short events, void *arg)
{
	struct server *srv = arg;
	log_info("signal", "signal=%d action=drain", (int)sig);
	server_begin_drain(srv);
}

/* Gives every layer what it needs, bottom up, and wires the upward notifications. */
static void server_wire(struct server *srv)
{
	const struct config *cfg = &srv->cfg;
	size_t route_count;
	const char *const *route_names = router_metric_names(&route_count);
	metrics_set_routes(route_names, route_count);
	metrics_add_collector(db_pool_write_metrics, srv->db);
	metrics_add_collector(rooms_write_metrics, NULL);

	looplag_start(srv->base);
	ratelimit_init(srv->base, cfg->user_ops_per_second, cfg->user_ops_burst);
	state_init(srv->db, srv->canvas_workers);
	snapshot_init(srv->base, srv->db, cfg->snapshot_every, cfg->snapshot_quiet_ms);
	commit_init(&(struct commit_env){ .base = srv->base,
					  .db = srv->db,
					  .linger_us = cfg->commit_linger_us,
					  .batches = cfg->commit_batches,
					  .max_shapes = cfg->max_shapes,
					  .max_state_bytes = cfg->max_state_bytes,
					  .max_path_points = cfg->max_path_points,
					  .listener = delivery_on_committed,
					  .wants_json = delivery_wants_ops_json });
	rooms_init(&(struct room_env){ .base = srv->base, .db = srv->db, .cfg = cfg });
	bus_init(srv->base, cfg, delivery_on_bus_message, room_on_subscribed);
	bus_set_all_handler(access_on_bus_message);
	delivery_init(cfg);
	access_init(&(struct access_env){ .base = srv->base,
					  .db = srv->db,
					  .cfg = cfg,
					  .changed = sessions_on_access_changes });
	undo_init(srv->db);
	sessions_init(&(struct session_env){ .base = srv->base, .db = srv->db, .cfg = cfg });
	api_init(&(struct api_env){ .cfg = cfg,
				    .db = srv->db,
				    .workers = srv->workers,
				    .export_workers = srv->export_workers,
				    .jwt_secret = srv->jwt_secret,
				    .jwt_secret_len = srv->jwt_secret_len,
				    .draining = server_draining });

	srv->http_cfg.max_head_bytes = (size_t)cfg->max_header_bytes;
	srv->http_cfg.max_body_bytes = (size_t)cfg->max_body_bytes;
	srv->http_cfg.idle_timeout_sec = cfg->idle_timeout;
	srv->http_cfg.header_timeout_sec = cfg->header_timeout;
	srv->http_cfg.max_connections = cfg->max_connections;
	srv->http_cfg.handler = router_dispatch;
	srv->http_cfg.handler_arg = NULL;
}

bool server_init(struct server *srv)
{
	the_server = srv;
	signal(SIGPIPE, SIG_IGN);
	/* Before the first libevent call: its per-descriptor records in a region of their own. */
	evmem_install();
	srv->base = event_base_new();
	if (!srv->base) {
		log_error("event_base_failed", "reason=event_base_new");
		return false;
	}
	srv->log_flush_ev = event_new(srv->base, -1, 0, log_flush_cb, NULL);
	log_set_buffered(true, server_schedule_log_flush);
	size_t secret_len = strlen(srv->cfg.jwt_secret);
	if (secret_len > sizeof(srv->jwt_secret))
		secret_len = sizeof(srv->jwt_secret);
	memcpy(srv->jwt_secret, srv->cfg.jwt_secret, secret_len);
	srv->jwt_secret_len = secret_len;

	/* Before any thread exists: malloc's arena policy applies to threads created later, one
	 * arena per worker thread below (memtrim.h). */
	memtrim_start(srv->base, srv->cfg.kdf_threads + srv->cfg.canvas_threads +
					 srv->cfg.export_png_jobs);
	srv->db = db_pool_new(srv->base, srv->cfg.database_url, srv->cfg.db_pool_size,
			      srv->cfg.db_queue_max, srv->cfg.db_query_timeout_ms);
	srv->workers = workers_new(srv->base, srv->cfg.kdf_threads, 0);
	/* Canvas work takes seconds for the largest canvases: below the loop (workers.h). */
	srv->canvas_workers = workers_new(srv->base, srv->cfg.canvas_threads, WORKERS_NICE_CANVAS);
	/* Exports get threads of their own, below the loop like the canvas workers: a large PNG
	 * must hold up neither logins nor the states of joining clients. */
	srv->export_workers = workers_new(srv->base, srv->cfg.export_png_jobs,
					  WORKERS_NICE_CANVAS);
	server_wire(srv);

	srv->listener = listener_new(srv->base, srv->cfg.host, srv->cfg.port, &srv->http_cfg);
	if (!srv->listener)
		return false;
	srv->sigterm_ev = evsignal_new(srv->base, SIGTERM, signal_cb, srv);
	srv->sigint_ev = evsignal_new(srv->base, SIGINT, signal_cb, srv);
	evsignal_add(srv->sigterm_ev, NULL);
	evsignal_add(srv->sigint_ev, NULL);
	return true;
}

int server_run(struct server *srv)
{
	server_change_state(srv, SERVER_RUNNING);
	log_info("listening", "host=%s port=%d", srv->cfg.host, srv->cfg.port);
	event_base_dispatch(srv->base);
	server_change_state(srv, SERVER_STOPPED);
	return 0;
}

void server_free(struct server *srv)
{
	listener_free(srv->listener);
	/* Workers first: their completion callbacks may still queue queries. Then the pool,
	 * which fails whatever is queued so that every handler answers and releases its
	 * request. Connections left (mid-write at the deadline) are closed last. */
	workers_free(srv->workers);
	workers_free(srv->canvas_workers);
	workers_free(srv->export_workers);
	sessions_close_all();
	if (srv->db)
		db_pool_free(srv->db);
	commit_shutdown();
	snapshot_shutdown();
	access_shutdown();
	sessions_release();
	rooms_shutdown();
	bus_shutdown();
	ratelimit_shutdown();
	looplag_stop();
	memtrim_stop();
	http_conns_close_all();
	api_shutdown();
	streams_shutdown();
	metrics_reset();
	if (srv->drain_timer)
		event_free(srv->drain_timer);
	if (srv->drain_check)
		event_free(srv->drain_check);
	/* Freeing a signal event restores the default action (terminate): block the signals
	 * across it and ignore them from then on, so that a late SIGTERM never cuts the exit
	 * short (a supervisor may send two). */
	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigprocmask(SIG_BLOCK, &stop_signals, NULL);
	if (srv->sigterm_ev)
		event_free(srv->sigterm_ev);
	if (srv->sigint_ev)
		event_free(srv->sigint_ev);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	log_set_buffered(false, NULL); /* flushes what is left */
	if (srv->log_flush_ev)
		event_free(srv->log_flush_ev);
	if (srv->base)
		event_base_free(srv->base);
	explicit_bzero(srv->jwt_secret, sizeof(srv->jwt_secret));
	config_free(&srv->cfg);
	the_server = NULL;
}
