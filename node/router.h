/*
 * The REST route table: method + path pattern ("{}" captures one segment) → handler, with the
 * authentication each route needs. The router answers 404/405/401 itself, so a handler runs only
 * for a matched, authenticated request.
 */
#ifndef FLOWSTATE_ROUTER_H
#define FLOWSTATE_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

typedef void (*route_handler)(struct http_request *req);

struct route {
	enum http_method method;
	const char *pattern;
	route_handler handler;
	bool needs_auth;
	const char *name;   /* metrics label: METHOD pattern */
};

void router_dispatch(struct http_request *req);

/* Route table access for metrics (index = route id). */
size_t router_route_count(void);
const struct route *router_route(size_t i);
size_t router_route_index(const struct route *r);

#endif
