/*
 * How committed ops and transient messages travel between the write path, this node's rooms
 * and the other nodes (DESIGN §3, steps 3-4):
 *
 *   commit  ──delivery_on_committed──> local room (ordered delivery, like any other source)
 *                                  └─> bus: one message per batch to every other node
 *                                  └─> snapshot spacing check
 *   comment ──delivery_on_comment_events──> local room (ordered by seq) and the bus
 *   bus     ──delivery_on_bus_message─> room: op batches and comment events to ordered delivery,
 *                                       relays to sessions
 *
 * The composition root registers these as the commit listener and the bus's message handler.
 */
#ifndef FLOWSTATE_APP_DELIVERY_H
#define FLOWSTATE_APP_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct config;

/* cfg (node id, snapshot spacing, the bus-drop test hook) is borrowed for good. */
void delivery_init(const struct config *cfg);

struct commit_committed;

/* A commit listener (store/commit.h): ops committed on this node, in version order. */
void delivery_on_committed(const struct commit_committed *c, void *arg);

/* For the commit path's wants_json: a room here has members for the canvas. */
bool delivery_wants_ops_json(const char *canvas_id);

/* Comment events a REST handler committed on this node ({seq, action, comment_id, comment},
 * schema/022; borrowed): to the local room's ordered delivery and, as one message, to the other
 * nodes. */
void delivery_on_comment_events(const char *canvas_id, json_t *events);

/* A message for a canvas from the bus (fanout/bus.h); this node's own are skipped. */
void delivery_on_bus_message(const char *canvas_id, const char *data, size_t len);

#endif
