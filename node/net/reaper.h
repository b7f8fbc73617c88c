/*
 * Deferred frees for objects that die inside their own callbacks (pgbouncer's just-freed list,
 * redis's freeClientAsync). A connection that must go is unlinked and silenced at once, then
 * handed to its reaper, which frees it from a separate event after the current callback has
 * returned, so no caller up the stack ever holds a freed object.
 *
 * Ownership: an object added to a reaper belongs to it; free_fn gets the object's link.
 */
#ifndef FLOWSTATE_NET_REAPER_H
#define FLOWSTATE_NET_REAPER_H

#include "base/list.h"

struct event_base;
struct reaper;

typedef void (*reaper_free_fn)(struct list_link *link);

struct reaper *reaper_new(struct event_base *base, reaper_free_fn free_fn);
/* link must be on no list; the object is freed from the loop soon after. */
void reaper_add(struct reaper *r, struct list_link *link);
/* Frees everything added so far, now (outside any callback of those objects). */
void reaper_run(struct reaper *r);
/* Runs, then frees the reaper. NULL is a no-op. */
void reaper_free(struct reaper *r);

#endif
