#include "net/reaper.h"

#include <stdlib.h>

#include <event2/event.h>

#include "base/alloc.h"

struct reaper {
	struct list dead;
	struct event *ev;
	reaper_free_fn free_fn;
};

static void reaper_cb(evutil_socket_t fd, short events, void *arg)
{
	reaper_run(arg);
}

struct reaper *reaper_new(struct event_base *base, reaper_free_fn free_fn)
{
	struct reaper *r = xcalloc(1, sizeof(*r));
	r->ev = event_new(base, -1, 0, reaper_cb, r);
	r->free_fn = free_fn;
	return r;
}

void reaper_add(struct reaper *r, struct list_link *link)
{
	list_push(&r->dead, link);
	event_active(r->ev, 0, 0);
}

void reaper_run(struct reaper *r)
{
	struct list_link *link;
	while ((link = list_pop(&r->dead)))
		r->free_fn(link);
}

void reaper_free(struct reaper *r)
{
	if (!r)
		return;
	reaper_run(r);
	event_free(r->ev);
	free(r);
}
