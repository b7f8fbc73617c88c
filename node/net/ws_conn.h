/*
 * A WebSocket connection after the upgrade: the transport half of a session. It owns the
 * socket, reads and decodes frames (common/codec/ws_codec.h), answers pings, runs the closing
 * handshake, pings an idle peer and closes a silent one, and bounds its output like redis's
 * client output buffers: above the soft limit transient frames are dropped (the owner, told
 * when the output drains, stops queueing ops past it and sends them later in batches), and a
 * frame that would take the queue past the hard limit closes the connection with 1013 (the
 * client reconnects with ?since= and loses no operation: ops are only ever dropped together
 * with the connection). A peer that takes no byte for the stall timeout while output waits has
 * stopped reading: its queued frames are dropped and it is closed with 1013, the close frame
 * right behind what already sits in the socket's buffer (at most 64 KiB), so the peer sees it
 * when it reads again within another stall timeout. It knows nothing of canvases: text messages go to the owner's handler.
 *
 * Output goes through a queue of whole frames that feeds the socket's buffer up to 64 KiB:
 * frames that have not reached it can be dropped whole, never cut.
 *
 * Lifecycle: OPEN → CLOSING (close frame queued; input read and discarded until the peer
 * closes, bounded by a timeout) → GONE (socket released). The owner hears on_closing once,
 * when the connection starts closing for any reason (its own ws_conn_close included), and
 * on_gone once, when the socket is released; after on_gone returns the ws_conn pointer is
 * invalid. The object itself is freed by a reaper after the callback that released it, never
 * inside it.
 *
 * Broadcast frames are encoded once (struct ws_frame) and referenced from every receiver's
 * output buffer (evbuffer_add_reference), refcounted.
 */
#ifndef FLOWSTATE_NET_WS_CONN_H
#define FLOWSTATE_NET_WS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct event_base;
struct stream;
struct ws_conn;

/* An encoded server text frame shared by every receiver of a broadcast. */
struct ws_frame;
struct ws_frame *ws_frame_text(const char *text, size_t len);
struct ws_frame *ws_frame_json(json_t *message);   /* serializes; does not steal */
/* One text frame from n pieces laid end to end: a large message built around a large payload
 * (a sync with a whole canvas state) is copied once, not once per concatenation. */
struct ws_frame *ws_frame_text_parts(const char *const *parts, const size_t *lens, size_t n);
/* The message type a frame carries, for per-type metrics: ws_frame_json takes the message's
 * "type", a frame made from text the type it starts with ({"type":"..."), else none
 * (""). */
const char *ws_frame_type(const struct ws_frame *f);
void ws_frame_release(struct ws_frame *f);

struct ws_conn_limits {
	size_t max_message;     /* reassembled message bound (1009 past it) */
	size_t soft_limit;      /* output bytes past which transient frames are dropped */
	size_t hard_limit;      /* output bytes a frame may not take the queue past (1013) */
	int ping_interval;      /* seconds between server pings */
	int idle_timeout;       /* seconds without input before closing (1008) */
	int stall_timeout;      /* seconds output may wait without the peer taking a byte (1013) */
};

struct ws_conn_handler {
	void (*on_text)(void *owner, const uint8_t *data, size_t len);
	void (*on_closing)(void *owner);
	void (*on_gone)(void *owner);
	/* Asked for with ws_conn_want_drain: the queued output fell to a quarter of the soft
	 * limit (or was already there). Called once per request, from the loop. */
	void (*on_drain)(void *owner);
};

/* Takes over an upgraded stream (the 101 answer already queued on it); limits and handler
 * are borrowed for good. label ("session=7 canvas=...") prefixes this connection's log
 * lines. Input already buffered is handled by ws_conn_start. */
struct ws_conn *ws_conn_new(struct event_base *base, struct stream *stream,
			    const struct ws_conn_limits *limits,
			    const struct ws_conn_handler *handler, void *owner, const char *label);
/* Starts reading (and handles the bytes the client sent right after its handshake). */
void ws_conn_start(struct ws_conn *c);

/* Queues a shared frame. false when it was not queued: the connection is closing, a transient
 * frame met the soft limit, or the hard limit closed the connection. */
bool ws_conn_send(struct ws_conn *c, struct ws_frame *f, bool transient);
/* Starts the closing handshake with code and reason (no-op once closing). */
void ws_conn_close(struct ws_conn *c, uint16_t code, const char *reason);
/* Drops the socket now (process exit): on_gone runs inside this call. */
void ws_conn_abort(struct ws_conn *c);

bool ws_conn_closing(const struct ws_conn *c);
/* Bytes queued for the peer: in the connection's queue and in the socket's buffer. */
size_t ws_conn_output_len(const struct ws_conn *c);
/* Calls on_drain once the queued output is down to a quarter of the soft limit: a session
 * that fell behind sends its next batch then. */
void ws_conn_want_drain(struct ws_conn *c);

/* Frees connection objects whose sockets are gone (process exit, after every owner let go). */
void ws_conns_release(void);

#endif
