/*
 * Process lifecycle: set up the loop, accept connections, and on SIGTERM drain: stop accepting,
 * report not-ready, let in-flight requests finish, close idle connections, and exit within
 * FLOWSTATE_SHUTDOWN_TIMEOUT whatever happens.
 */
#include "server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include "alloc.h"
#include "bus.h"
#include "api.h"
#include "commit.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "room.h"
#include "workers.h"
#include "ws.h"

static const char *const server_state_names[] = { "starting", "running", "draining", "stopped" };

void server_change_state(struct server *srv, enum server_state state)
{
	log_info("server_state", "from=%s to=%s", server_state_names[srv->state],
		 server_state_names[state]);
	srv->state = state;
}

static void listener_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			       int socklen, void *arg)
{
	struct server *srv = arg;
	int one = 1;
	/* Small JSON responses and WebSocket frames must not wait for Nagle's algorithm. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	http_conn_accept(srv, fd, &srv->http_cfg);
}

static void listener_error_cb(struct evconnlistener *l, void *arg)
{
	/* EMFILE and friends: keep running; the listener retries on the next readiness. */
	log_error("accept_failed", "error=%s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static void drain_check_cb(evutil_socket_t fd, short events, void *arg)
{
	struct server *srv = arg;
	if (http_conns_open() == 0 && ws_sessions_open() == 0) {
		log_info("drain_complete", "open_connections=0");
		event_base_loopexit(srv->base, NULL);
	}
}

static void drain_deadline_cb(evutil_socket_t fd, short events, void *arg)
{
	struct server *srv = arg;
	log_warn("drain_deadline", "open_connections=%zu websockets=%zu", http_conns_open(),
		 ws_sessions_open());
	event_base_loopexit(srv->base, NULL);
}

static void server_begin_drain(struct server *srv)
{
	if (srv->state >= SERVER_DRAINING)
		return;
	server_change_state(srv, SERVER_DRAINING);
	/* A second SIGTERM (an impatient supervisor) must not cut the drain short. Shutdown has a
	 * deadline of its own; SIGKILL remains for those who cannot wait. */
	evsignal_del(srv->sigterm_ev);
	evsignal_del(srv->sigint_ev);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	if (srv->listener) {
		evconnlistener_free(srv->listener);
		srv->listener = NULL;
	}
	http_conns_drain(srv);
	ws_sessions_drain();
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

/* A canvas message from another node: op batches go to the room's ordered delivery, relays
 * (cursor, stroke, presence) straight to its sessions. This node's own messages come back too
 * and are skipped: it delivered them already. */
static void server_on_bus_message(const char *canvas_id, const char *data, size_t len)
{
	static unsigned long long batches;
	json_t *msg = json_loadb(data, len, 0, NULL);
	const char *t = json_string_value(json_object_get(msg, "t"));
	const char *from = json_string_value(json_object_get(msg, "n"));
	if (!t || !from || !strcmp(from, bus_node_id())) {
		json_decref(msg);
		return;
	}
	if (!strcmp(t, "ops")) {
		json_t *ts = json_object_get(msg, "ts");
		if (json_is_integer(ts)) {
			struct timeval tv;
			gettimeofday(&tv, NULL);
			long long now_us = (long long)tv.tv_sec * 1000000 + tv.tv_usec;
			long long lag = now_us - (long long)json_integer_value(ts);
			if (lag >= 0)
				metrics_histogram_observe(METRIC_HIST_DELIVERY_LAG_SECONDS, lag / 1e6);
		}
		int drop_every = bus_fault_drop_every();
		if (drop_every > 0 && ++batches % (unsigned long long)drop_every == 0)
			log_info("fault_bus_drop", "canvas=%s", canvas_id); /* test hook: lost */
		else
			room_receive_ops(canvas_id, json_object_get(msg, "ops"));
	} else if (!strcmp(t, "relay") && json_is_object(json_object_get(msg, "m"))) {
		room_receive_relay(canvas_id, json_object_get(msg, "m"));
	}
	json_decref(msg);
}

bool server_init(struct server *srv)
{
	signal(SIGPIPE, SIG_IGN);
	srv->base = event_base_new();
	if (!srv->base) {
		log_error("event_base_failed", "reason=event_base_new");
		return false;
	}
	size_t secret_len = strlen(srv->cfg.jwt_secret);
	if (secret_len > sizeof(srv->jwt_secret))
		secret_len = sizeof(srv->jwt_secret);
	memcpy(srv->jwt_secret, srv->cfg.jwt_secret, secret_len);
	srv->jwt_secret_len = secret_len;

	srv->http_cfg.max_head_bytes = (size_t)srv->cfg.max_header_bytes;
	srv->http_cfg.max_body_bytes = (size_t)srv->cfg.max_body_bytes;
	srv->http_cfg.idle_timeout_sec = srv->cfg.idle_timeout;
	srv->http_cfg.max_connections = srv->cfg.max_connections;

	srv->db = db_pool_new(srv->base, srv->cfg.database_url, srv->cfg.db_pool_size,
			      srv->cfg.db_queue_max);
	srv->workers = workers_new(srv->base, srv->cfg.kdf_threads);
	commit_init(srv, api_on_ops_committed);
	rooms_init(srv);
	ratelimit_init(srv);
	bus_init(srv, server_on_bus_message, room_on_subscribed);

	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)srv->cfg.port);
	if (inet_pton(AF_INET, srv->cfg.host, &sin.sin_addr) != 1) {
		log_error("listen_failed", "host=%s reason=not_an_ipv4_address", srv->cfg.host);
		return false;
	}
	srv->listener = evconnlistener_new_bind(srv->base, listener_accept_cb, srv,
						LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
							LEV_OPT_CLOSE_ON_EXEC,
						1024, (struct sockaddr *)&sin, sizeof(sin));
	if (!srv->listener) {
		log_error("listen_failed", "host=%s port=%d error=%s", srv->cfg.host, srv->cfg.port,
			  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return false;
	}
	evconnlistener_set_error_cb(srv->listener, listener_error_cb);
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
	if (srv->listener)
		evconnlistener_free(srv->listener);
	/* Workers first: their completion callbacks may still queue queries. Then the pool,
	 * which fails whatever is queued so that every handler answers and releases its
	 * request. Connections left (mid-write at the deadline) are closed last. */
	workers_free(srv->workers);
	ws_sessions_close_all();
	if (srv->db)
		db_pool_free(srv->db);
	commit_shutdown();
	ws_sessions_release();
	rooms_shutdown();
	bus_shutdown();
	ratelimit_shutdown();
	http_conns_close_all();
	if (srv->drain_timer)
		event_free(srv->drain_timer);
	if (srv->drain_check)
		event_free(srv->drain_check);
	if (srv->sigterm_ev)
		event_free(srv->sigterm_ev);
	if (srv->sigint_ev)
		event_free(srv->sigint_ev);
	if (srv->base)
		event_base_free(srv->base);
	explicit_bzero(srv->jwt_secret, sizeof(srv->jwt_secret));
	config_free(&srv->cfg);
}
