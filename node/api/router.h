/*
 * The REST route table: method + path pattern ("{}" captures one segment) → handler, with the
 * authentication each route needs. The router answers 404/405/401 itself, so a handler runs only
 * for a matched, authenticated request.
 */
#ifndef FLOWSTATE_API_ROUTER_H
#define FLOWSTATE_API_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "net/http.h"

typedef void (*route_handler)(struct http_request *req);

struct route {
	enum http_method method;
	const char *pattern;
	route_handler handler;
	bool needs_auth;
	const char *name;   /* metrics label: METHOD pattern */
};

/* The HTTP layer's request handler (net/http.h): routes, authenticates, runs the handler. */
void router_dispatch(struct http_request *req, void *arg);

/* Metrics labels of the routes, by route id ("GET /canvases/{id}"), static. */
const char *const *router_metric_names(size_t *count);

#endif
