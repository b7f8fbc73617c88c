/*
 * The bus: Redis pub/sub between nodes (hiredis async on the libevent loop). Each canvas has a
 * channel fs:canvas:<id>; a node subscribes while it has a room for the canvas. Committed op
 * batches, presence changes, cursors and strokes travel on it. Redis is never the source of
 * truth and pub/sub is at-most-once: rooms repair every loss from Postgres (room.h).
 *
 * Besides the canvas channels, every node subscribes fs:all, a channel for what concerns every
 * node (access changes, app/access.h); it is at-most-once like the others.
 *
 * Two connections: a publisher (commands) and a subscriber (subscribed mode). The subscriber
 * is probed: the node publishes a heartbeat to its own channel fs:node:<id> every
 * FLOWSTATE_FANOUT_BUS_HEARTBEAT_MS and a subscriber that has not seen one for FLOWSTATE_BUS_DEAD_MS
 * is treated as failed and reconnected (Debian's hiredis 0.14 routes no callback for a PING
 * reply in subscribed mode, and a heartbeat that comes back proves the whole path anyway).
 * After every (re)subscription a room catches up from Postgres, so nothing published while a
 * node was cut off is lost.
 *
 * hiredis ownership rules, as this module relies on them:
 * - A reply passed to a callback belongs to hiredis and is freed when the callback returns;
 *   anything kept must be copied.
 * - On disconnect hiredis calls every pending callback with a NULL reply, then the disconnect
 *   callback, then frees the context itself: after the disconnect callback the context
 *   pointer is dangling, so it is cleared there and never freed here.
 * - A context whose connect failed is freed by hiredis after the connect callback.
 * - redisAsyncFree/Disconnect from inside a callback is deferred by hiredis until the
 *   callback returns, so it is safe to call there.
 */
#ifndef FLOWSTATE_FANOUT_BUS_H
#define FLOWSTATE_FANOUT_BUS_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct config;

/* A message for a canvas arrived from the bus (any node, this one included). */
typedef void (*bus_message_fn)(const char *canvas_id, const char *data, size_t len);
/* The canvas channel is (again) subscribed: whatever was published before may be missed. */
typedef void (*bus_subscribed_fn)(const char *canvas_id);

/* cfg (redis_url, node_id, heartbeat and dead-subscriber times) is borrowed for good. */
void bus_init(struct event_base *base, const struct config *cfg, bus_message_fn on_message,
	      bus_subscribed_fn on_subscribed);
void bus_shutdown(void);

void bus_subscribe(const char *canvas_id);
void bus_unsubscribe(const char *canvas_id);
/* Fire and forget; dropped (counted) while Redis is down or too far behind. */
void bus_publish(const char *canvas_id, const char *data, size_t len);

/* A message on the all-nodes channel (this node's own included). */
typedef void (*bus_all_fn)(const char *data, size_t len);
void bus_set_all_handler(bus_all_fn on_all);
/* Fire and forget to every node, like bus_publish. */
void bus_publish_all(const char *data, size_t len);

/* Both connections up and the heartbeat coming back. */
bool bus_healthy(void);

/*
 * Hash commands on the publisher connection (presence lives in Redis hashes). Fire and
 * forget while Redis is up; dropped while it is down (the callers' state expires or is
 * rebuilt by itself). bus_hash_getall calls cb exactly once: with the fields, or with
 * fields NULL when the command failed or could not be sent (then possibly before it returns). tag is copied and handed back
 * (it names what the answer is for: the object that asked may be gone by then).
 */
struct bus_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};
typedef void (*bus_hash_fn)(const char *tag, const struct bus_field *fields, size_t count);

void bus_hash_set(const char *key, const char *const *names, const char *const *values,
		  size_t count);
void bus_hash_del(const char *key, const char *name);
void bus_expire(const char *key, int seconds);
void bus_hash_getall(const char *key, bus_hash_fn cb, const char *tag);

#endif
