#include "net/ws_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "codec/ws_codec.h"
#include "core/metrics.h"
#include "net/reaper.h"
#include "net/stream.h"

#define WS_CLOSING_TIMEOUT_SEC 5
/* Input handled per decoder step. */
#define WS_READ_CHUNK 65536
/* Frames move from the connection's queue to the socket's buffer while that holds less than
 * this: whatever has not reached the buffer can still be dropped whole (a stalled client), and
 * a close frame then follows at most this much. */
#define WS_SOCKET_BUFFER 65536

enum ws_conn_state { WS_CONN_OPEN, WS_CONN_CLOSING, WS_CONN_GONE };

struct ws_frame {
	int refs;
	size_t len;
	char type[24];                    /* the message's "type", for metrics ("" unknown) */
	uint8_t data[];
};

/* A frame waiting for room in the socket's buffer. */
struct ws_out {
	struct ws_out *next;
	struct ws_frame *f;               /* a reference is held */
};

struct ws_conn {
	struct list_link link;            /* the reaper's, once gone */
	struct stream *stream;            /* NULL once gone */
	struct ws_out *out_head, *out_tail;
	size_t out_bytes;                 /* queued, not yet in the stream's output */
	size_t stream_len_seen;           /* the stream's output after the last pump or tick */
	double last_progress;             /* the socket last took bytes (or nothing was queued) */
	bool drain_wanted;                /* the owner asked for on_drain */
	struct event *drain_ev;           /* delivers on_drain from the loop, never inline */
	struct ws_decoder *decoder;
	enum ws_conn_state state;
	bool write_shut;                  /* CLOSING: our side of the TCP stream is shut */
	const struct ws_conn_limits *limits;
	const struct ws_conn_handler *handler;
	void *owner;
	double last_rx;
	double last_ping;
	struct event *tick;
	char label[128];
};

static struct reaper *reaper;

/* ---- shared frames ----------------------------------------------------------------------- */

static void frame_set_type(struct ws_frame *f, const char *type)
{
	snprintf(f->type, sizeof(f->type), "%s", type && strlen(type) < sizeof(f->type) ? type : "");
}

/* Every server message starts with its type ({"type":"operation",...}: the encoders put it
 * first): the frame keeps it for per-type metrics, so no sender has to say it again. Anything
 * else leaves the type unknown (""). */
static void frame_type_from_text(struct ws_frame *f, const char *text, size_t len)
{
	static const char prefix[] = "{\"type\":\"";
	const size_t pl = sizeof(prefix) - 1;
	f->type[0] = '\0';
	if (len <= pl || memcmp(text, prefix, pl))
		return;
	size_t n = 0;
	while (pl + n < len && n + 1 < sizeof(f->type) &&
	       ((text[pl + n] >= 'a' && text[pl + n] <= 'z') || text[pl + n] == '_'))
		n++;
	if (pl + n < len && text[pl + n] == '"') {
		memcpy(f->type, text + pl, n);
		f->type[n] = '\0';
	}
}

struct ws_frame *ws_frame_text(const char *text, size_t len)
{
	uint8_t header[10];
	size_t hl = ws_frame_header(header, WS_OP_TEXT, true, len);
	struct ws_frame *f = xmalloc(sizeof(*f) + hl + len);
	f->refs = 1;
	f->len = hl + len;
	memcpy(f->data, header, hl);
	memcpy(f->data + hl, text, len);
	frame_type_from_text(f, text, len);
	return f;
}

struct ws_frame *ws_frame_text_parts(const char *const *parts, const size_t *lens, size_t n)
{
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += lens[i];
	uint8_t header[10];
	size_t hl = ws_frame_header(header, WS_OP_TEXT, true, len);
	struct ws_frame *f = xmalloc(sizeof(*f) + hl + len);
	f->refs = 1;
	f->len = hl + len;
	memcpy(f->data, header, hl);
	uint8_t *p = f->data + hl;
	for (size_t i = 0; i < n; i++) {
		memcpy(p, parts[i], lens[i]);
		p += lens[i];
	}
	frame_type_from_text(f, (const char *)f->data + hl, len);
	return f;
}

struct ws_frame *ws_frame_json(json_t *message)
{
	/* json_pack returns NULL for invalid UTF-8: never let that become a crash. */
	static const char fallback[] = "{\"type\":\"error\",\"code\":\"internal\","
				       "\"detail\":\"unencodable message\"}";
	char *text = message ? json_dumps(message, JSON_COMPACT) : NULL;
	if (!text)
		return ws_frame_text(fallback, sizeof(fallback) - 1);
	struct ws_frame *f = ws_frame_text(text, strlen(text));
	free(text);
	frame_set_type(f, json_string_value(json_object_get(message, "type")));
	return f;
}

const char *ws_frame_type(const struct ws_frame *f)
{
	return f->type;
}

void ws_frame_release(struct ws_frame *f)
{
	if (f && --f->refs == 0)
		free(f);
}

static void frame_cleanup(const void *data, size_t len, void *arg)
{
	ws_frame_release(arg);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

/* Drops every frame that has not reached the socket's buffer. */
static void ws_conn_drop_queue(struct ws_conn *c)
{
	while (c->out_head) {
		struct ws_out *o = c->out_head;
		c->out_head = o->next;
		ws_frame_release(o->f);
		free(o);
	}
	c->out_tail = NULL;
	c->out_bytes = 0;
}

static void ws_conn_free(struct list_link *link)
{
	struct ws_conn *c = LIST_ITEM(link, struct ws_conn, link);
	ws_conn_drop_queue(c);
	if (c->drain_ev)
		event_free(c->drain_ev);
	ws_decoder_free(c->decoder);
	free(c);
}

/* The only function that changes a connection's state. */
static void ws_conn_change_state(struct ws_conn *c, enum ws_conn_state state)
{
	if (state <= c->state)
		return; /* closing is final, gone more so */
	c->state = state;
	if (state == WS_CONN_CLOSING) {
		/* Keep reading (and discarding) until the peer closes: closing a socket with
		 * unread input makes the kernel send a RST, which can destroy the close frame and
		 * anything still queued before it. Bounded by the timeout. */
		stream_set_timeout(c->stream, WS_CLOSING_TIMEOUT_SEC);
		c->handler->on_closing(c->owner);
	} else if (state == WS_CONN_GONE) {
		event_free(c->tick);
		c->tick = NULL;
		event_del(c->drain_ev);
		ws_conn_drop_queue(c);
		stream_free(c->stream);
		c->stream = NULL;
		reaper_add(reaper, &c->link);
		c->handler->on_gone(c->owner);
	}
}

bool ws_conn_closing(const struct ws_conn *c)
{
	return c->state != WS_CONN_OPEN;
}

size_t ws_conn_output_len(const struct ws_conn *c)
{
	return c->stream ? stream_output_len(c->stream) + c->out_bytes : 0;
}

/* Moves queued frames into the stream's output while it holds less than WS_SOCKET_BUFFER. */
static void ws_conn_pump(struct ws_conn *c)
{
	struct evbuffer *out = stream_output(c->stream);
	bool added = false;
	while (c->out_head && evbuffer_get_length(out) < WS_SOCKET_BUFFER) {
		struct ws_out *o = c->out_head;
		c->out_head = o->next;
		if (!c->out_head)
			c->out_tail = NULL;
		c->out_bytes -= o->f->len;
		/* The buffer's reference replaces the queue's: released by frame_cleanup. */
		evbuffer_add_reference(out, o->f->data, o->f->len, frame_cleanup, o->f);
		free(o);
		added = true;
	}
	if (added)
		stream_flush_soon(c->stream);
	c->stream_len_seen = evbuffer_get_length(out);
}

static void ws_conn_enqueue(struct ws_conn *c, struct ws_frame *f)
{
	if (ws_conn_output_len(c) == 0)
		c->last_progress = clock_mono_seconds();
	struct ws_out *o = xmalloc(sizeof(*o));
	o->next = NULL;
	o->f = f;
	f->refs++;
	if (c->out_tail)
		c->out_tail->next = o;
	else
		c->out_head = o;
	c->out_tail = o;
	c->out_bytes += f->len;
	metrics_gauge_raise(METRIC_WS_OUTPUT_HIGH_WATER, (int64_t)ws_conn_output_len(c));
	ws_conn_pump(c);
}

static void ws_conn_drain_cb(evutil_socket_t fd, short events, void *arg)
{
	struct ws_conn *c = arg;
	if (c->state == WS_CONN_OPEN && c->drain_wanted &&
	    ws_conn_output_len(c) <= c->limits->soft_limit / 4) {
		c->drain_wanted = false;
		c->handler->on_drain(c->owner);
	}
}

void ws_conn_want_drain(struct ws_conn *c)
{
	if (c->state != WS_CONN_OPEN)
		return;
	c->drain_wanted = true;
	if (ws_conn_output_len(c) <= c->limits->soft_limit / 4)
		event_active(c->drain_ev, EV_TIMEOUT, 0);
}

/* ---- output --------------------------------------------------------------------------------- */

bool ws_conn_send(struct ws_conn *c, struct ws_frame *f, bool transient)
{
	if (c->state != WS_CONN_OPEN)
		return false;
	size_t queued = ws_conn_output_len(c);
	if (transient && queued > c->limits->soft_limit) {
		metrics_counter_inc(METRIC_WS_TRANSIENT_DROPPED);
		return false;
	}
	/* The limit bounds what piles up behind a client, so a single frame larger than it (a
	 * big sync) still goes out when nothing is queued. */
	if (queued > 0 && queued + f->len > c->limits->hard_limit) {
		metrics_counter_inc(METRIC_WS_SLOW_CLIENTS_CLOSED);
		log_info("ws_slow_client", "%s queued=%zu", c->label, queued);
		ws_conn_close(c, WS_CLOSE_TRY_AGAIN_LATER, "slow consumer: reconnect with since");
		return false;
	}
	ws_conn_enqueue(c, f);
	return true;
}

static void ws_conn_send_control(struct ws_conn *c, enum ws_opcode op, const uint8_t *payload,
				 size_t len)
{
	uint8_t header[10];
	size_t hl = ws_frame_header(header, op, true, len);
	struct evbuffer *out = stream_output(c->stream);
	evbuffer_add(out, header, hl);
	if (len)
		evbuffer_add(out, payload, len);
	stream_flush_soon(c->stream);
}

void ws_conn_close(struct ws_conn *c, uint16_t code, const char *reason)
{
	if (c->state != WS_CONN_OPEN)
		return;
	uint8_t payload[125];
	size_t len = ws_close_payload(payload, code, reason);
	/* The close frame is the last thing the peer reads: behind whatever is queued. */
	uint8_t header[10];
	size_t hl = ws_frame_header(header, WS_OP_CLOSE, true, len);
	struct ws_frame *f = xmalloc(sizeof(*f) + hl + len);
	f->refs = 1;
	f->len = hl + len;
	memcpy(f->data, header, hl);
	memcpy(f->data + hl, payload, len);
	ws_conn_enqueue(c, f);
	ws_frame_release(f);
	log_info("ws_close", "%s code=%u", c->label, code);
	ws_conn_change_state(c, WS_CONN_CLOSING);
}

/*
 * The peer has taken no byte for the stall timeout while output waited: it stopped reading.
 * What is queued is dropped (it resumes with ?since=), so the close frame follows at most
 * what already sits in the socket's buffer, and the peer sees it as soon as it reads again.
 */
static void ws_conn_close_stalled(struct ws_conn *c, double stalled)
{
	size_t dropped = c->out_bytes;
	ws_conn_drop_queue(c);
	metrics_counter_inc(METRIC_WS_STALLED_CLOSED);
	log_info("ws_stalled_client", "%s seconds=%.1f dropped_bytes=%zu", c->label, stalled,
		 dropped);
	ws_conn_close(c, WS_CLOSE_TRY_AGAIN_LATER, "not reading: reconnect with since");
	/* Its close frame can only leave once it reads again: wait for that as long as it was
	 * given to start reading (not just the 5 s of a closing handshake), or a client that
	 * resumes a little later gets a bare EOF instead of the 1013. */
	if (c->state == WS_CONN_CLOSING && c->limits->stall_timeout > WS_CLOSING_TIMEOUT_SEC)
		stream_set_timeout(c->stream, c->limits->stall_timeout);
}

void ws_conn_abort(struct ws_conn *c)
{
	ws_conn_change_state(c, WS_CONN_GONE);
}

/* ---- input ---------------------------------------------------------------------------------- */

/* A control frame or a message the decoder completed. */
static void ws_conn_handle_event(struct ws_conn *c, const struct ws_event *ev)
{
	switch (ev->type) {
	case WS_EVENT_TEXT:
		c->handler->on_text(c->owner, ev->data, ev->len);
		break;
	case WS_EVENT_BINARY:
		ws_conn_close(c, WS_CLOSE_UNSUPPORTED, "binary messages are not supported");
		break;
	case WS_EVENT_PING:
		/* Pongs are bounded like any output: a client that pings without reading gets no
		 * more pongs past the soft limit (RFC 6455 allows answering only the latest
		 * ping), and is closed past the hard one. */
		if (ws_conn_output_len(c) > c->limits->hard_limit) {
			metrics_counter_inc(METRIC_WS_SLOW_CLIENTS_CLOSED);
			ws_conn_close(c, WS_CLOSE_TRY_AGAIN_LATER, "slow consumer");
		} else if (ws_conn_output_len(c) > c->limits->soft_limit) {
			metrics_counter_inc(METRIC_WS_TRANSIENT_DROPPED);
		} else {
			ws_conn_send_control(c, WS_OP_PONG, ev->data, ev->len);
		}
		break;
	case WS_EVENT_PONG:
		break;
	case WS_EVENT_CLOSE:
		/* Echo the code (or 1000), then close when it is flushed. */
		ws_conn_close(c, ev->close_code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL
								     : ev->close_code,
			      "");
		break;
	}
}

static void ws_conn_read_cb(void *arg)
{
	struct ws_conn *c = arg;
	struct evbuffer *in = stream_input(c->stream);
	while (c->state == WS_CONN_OPEN && evbuffer_get_length(in) > 0) {
		size_t len = evbuffer_get_length(in);
		if (len > WS_READ_CHUNK)
			len = WS_READ_CHUNK;
		const uint8_t *data = evbuffer_pullup(in, (ev_ssize_t)len);
		size_t consumed = 0;
		struct ws_event ev;
		uint16_t code = 0;
		const char *why = NULL;
		enum ws_decode_result r = ws_decoder_next(c->decoder, data, len, &consumed, &ev,
							  &code, &why);
		c->last_rx = clock_mono_seconds();
		if (r == WS_DECODE_ERROR) {
			evbuffer_drain(in, evbuffer_get_length(in));
			log_info("ws_protocol_error", "%s code=%u reason=%s", c->label, code, why);
			ws_conn_close(c, code, why);
			break;
		}
		if (r == WS_DECODE_NEED_MORE) {
			evbuffer_drain(in, consumed);
			continue;
		}
		/* The event's bytes live in the decoder (or the pulled-up input): handle before
		 * draining. */
		ws_conn_handle_event(c, &ev);
		evbuffer_drain(in, consumed);
	}
	if (c->state == WS_CONN_CLOSING)
		evbuffer_drain(in, evbuffer_get_length(in)); /* waiting for the peer to close */
	if (c->stream)
		stream_input_consumed(c->stream);
}

static void ws_conn_drained_cb(void *arg)
{
	struct ws_conn *c = arg;
	c->last_progress = clock_mono_seconds();
	ws_conn_pump(c);
	if (c->state == WS_CONN_OPEN && c->drain_wanted &&
	    ws_conn_output_len(c) <= c->limits->soft_limit / 4) {
		c->drain_wanted = false;
		c->handler->on_drain(c->owner);
	}
	/* The close frame may still sit in the queue behind other frames: shut only once both
	 * the queue and the stream's output are empty. */
	if (c->state == WS_CONN_CLOSING && !c->write_shut && ws_conn_output_len(c) == 0) {
		/* Close frame flushed: half-close, then wait for the peer's EOF (on_error). */
		c->write_shut = true;
		stream_shutdown_write(c->stream);
	}
}

static void ws_conn_error_cb(void *arg, bool eof)
{
	ws_conn_change_state(arg, WS_CONN_GONE);
}

static void ws_conn_timeout_cb(void *arg)
{
	/* Only set while closing: the peer did not finish the closing handshake in time. */
	ws_conn_change_state(arg, WS_CONN_GONE);
}

static const struct stream_handler ws_conn_stream_handler = {
	.on_read = ws_conn_read_cb,
	.on_drained = ws_conn_drained_cb,
	.on_error = ws_conn_error_cb,
	.on_timeout = ws_conn_timeout_cb,
};

static void ws_conn_tick_cb(evutil_socket_t fd, short events, void *arg)
{
	struct ws_conn *c = arg;
	double now = clock_mono_seconds();
	if (c->state != WS_CONN_OPEN)
		return;
	/* The stream writes whatever it can at once and reports only when its output is empty:
	 * output that shrank since the last look is progress too. */
	size_t in_stream = stream_output_len(c->stream);
	if (in_stream < c->stream_len_seen)
		c->last_progress = now;
	c->stream_len_seen = in_stream;
	if (ws_conn_output_len(c) > 0 && now - c->last_progress > c->limits->stall_timeout) {
		ws_conn_close_stalled(c, now - c->last_progress);
		return;
	}
	if (now - c->last_rx > c->limits->idle_timeout) {
		ws_conn_close(c, WS_CLOSE_POLICY, "idle timeout");
		return;
	}
	if (now - c->last_ping >= c->limits->ping_interval) {
		c->last_ping = now;
		ws_conn_send_control(c, WS_OP_PING, (const uint8_t *)"fs", 2);
	}
}

struct ws_conn *ws_conn_new(struct event_base *base, struct stream *stream,
			    const struct ws_conn_limits *limits,
			    const struct ws_conn_handler *handler, void *owner, const char *label)
{
	if (!reaper)
		reaper = reaper_new(base, ws_conn_free);
	struct ws_conn *c = xcalloc(1, sizeof(*c));
	c->stream = stream;
	c->limits = limits;
	c->handler = handler;
	c->owner = owner;
	snprintf(c->label, sizeof(c->label), "%s", label);
	c->decoder = ws_decoder_new(limits->max_message);
	c->last_rx = c->last_ping = c->last_progress = clock_mono_seconds();
	c->drain_ev = event_new(base, -1, 0, ws_conn_drain_cb, c);
	c->tick = event_new(base, -1, EV_PERSIST, ws_conn_tick_cb, c);
	struct timeval one = { 1, 0 };
	event_add(c->tick, &one);
	/* The kernel's send buffer is part of what a slow reader holds: without a bound Linux
	 * grows it to tcp_wmem's maximum (4 MiB), so megabytes of ops would sit there before the
	 * node ever saw the client fall behind, and a close frame would wait behind them. About
	 * the soft limit (the kernel doubles it) keeps both bounded. */
	int sndbuf = limits->soft_limit > 65536 ? (int)limits->soft_limit : 65536;
	if (setsockopt(stream_fd(stream), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) != 0)
		log_debug("ws_sndbuf_failed", "%s", label);
	return c;
}

void ws_conn_start(struct ws_conn *c)
{
	stream_set_handler(c->stream, &ws_conn_stream_handler, c);
	/* Bytes the client sent right after its handshake are already buffered. */
	if (evbuffer_get_length(stream_input(c->stream)))
		ws_conn_read_cb(c);
}

void ws_conns_release(void)
{
	reaper_free(reaper);
	reaper = NULL;
}
