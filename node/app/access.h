/*
 * Live permissions: membership changes and deletions reach the open WebSockets of every node
 * (docs/architecture.md, "Live permissions"). Two paths, because pub/sub is at-most-once:
 *
 *   push  the node that made a change (a REST handler, after its statement committed) applies
 *         it to its own sessions at once and publishes it on the bus's all-nodes channel;
 *         the other nodes apply it when it arrives (milliseconds).
 *   poll  every FLOWSTATE_ACCESS_POLL_MS each node reads the access_events feed that Postgres
 *         triggers write for every such change (schema/020), with a cursor that never skips
 *         a row, and applies what it finds. A lost push is repaired within one period.
 *
 * Applying a change is idempotent (sessions read their access again from Postgres), so a
 * change seen through both paths costs one more read, never a wrong answer.
 *
 * The realtime layer is told through the callback the composition root registers; this module
 * never calls up.
 */
#ifndef FLOWSTATE_APP_ACCESS_H
#define FLOWSTATE_APP_ACCESS_H

#include <stddef.h>

#include "model/access.h"

struct config;
struct db_pool;
struct event_base;

/* Changes to apply to open sessions (borrowed for the call). */
typedef void (*access_changed_fn)(const struct access_change *changes, size_t count);

struct access_env {
	struct event_base *base;
	struct db_pool *db;
	const struct config *cfg;   /* node id, poll period */
	access_changed_fn changed;
};

void access_init(const struct access_env *env);
/* After the db pool is freed (an in-flight poll's callback has run by then). */
void access_shutdown(void);

/* A change this node committed: applied here now and pushed to every other node. */
void access_publish(const struct access_change *changes, size_t count);

/* The bus's all-nodes handler (fanout/bus.h). */
void access_on_bus_message(const char *data, size_t len);

/*
 * Increases every time changes are applied. A WebSocket upgrade reads it before its
 * authorization query: if it moved by the time the session starts, a change may have been
 * applied while the session did not exist yet, and the session reads its access again.
 */
unsigned long long access_generation(void);

#endif
