/*
 * The listening socket: accepts TCP connections (TCP_NODELAY: small JSON answers and
 * WebSocket frames must not wait for Nagle) and hands each one to the HTTP layer.
 */
#ifndef FLOWSTATE_NET_LISTENER_H
#define FLOWSTATE_NET_LISTENER_H

#include "net/http.h"

struct event_base;
struct listener;

/* Binds host (an IPv4 address) and port; NULL (logged) on failure. cfg is borrowed. */
struct listener *listener_new(struct event_base *base, const char *host, int port,
			      const struct http_listener_config *cfg)
	__attribute__((warn_unused_result));
/* Stops accepting and closes the socket. NULL is a no-op. */
void listener_free(struct listener *l);

#endif
