#include "net/listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "base/alloc.h"
#include "base/log.h"

struct listener {
	struct evconnlistener *evl;
	struct event_base *base;
	const struct http_listener_config *cfg;
};

static void listener_accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
			       int socklen, void *arg)
{
	struct listener *l = arg;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	http_conn_accept(l->base, fd, l->cfg);
}

static void listener_error_cb(struct evconnlistener *evl, void *arg)
{
	/* EMFILE and friends: keep running; the listener retries on the next readiness. */
	log_error("accept_failed", "error=%s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

struct listener *listener_new(struct event_base *base, const char *host, int port,
			      const struct http_listener_config *cfg)
{
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		log_error("listen_failed", "host=%s reason=not_an_ipv4_address", host);
		return NULL;
	}
	struct listener *l = xcalloc(1, sizeof(*l));
	l->base = base;
	l->cfg = cfg;
	l->evl = evconnlistener_new_bind(base, listener_accept_cb, l,
					 LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
						 LEV_OPT_CLOSE_ON_EXEC,
					 1024, (struct sockaddr *)&sin, sizeof(sin));
	if (!l->evl) {
		log_error("listen_failed", "host=%s port=%d error=%s", host, port,
			  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		free(l);
		return NULL;
	}
	evconnlistener_set_error_cb(l->evl, listener_error_cb);
	return l;
}

void listener_free(struct listener *l)
{
	if (!l)
		return;
	evconnlistener_free(l->evl);
	free(l);
}
