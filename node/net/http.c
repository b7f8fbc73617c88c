/*
 * HTTP connection state machine. Why hand-rolled on streams (net/stream.h) rather than evhttp: the same
 * connection must be handed over to the WebSocket session after an upgrade, which evhttp in
 * libevent 2.1 cannot do cleanly, and the request parser lives in common/ where it is
 * unit-tested and fuzzed (common/http_parser.c).
 *
 * States:
 *   READING    waiting for (the rest of) a request head and body; idle timeout
 *   HANDLING   a handler owns the request; pipelined bytes wait in the input (bounded)
 *   WRITING    the response is queued; on drain go back to READING or close
 *   ABANDONED  the peer went away during HANDLING; freed when the handler responds
 *   UPGRADED   the socket belongs to another protocol (WebSocket); http.c no longer touches it
 *   CLOSED     waiting for the reaper: an object is never freed inside its own callback; it is
 *              unlinked, silenced and freed by a deferred event once the callback has returned
 */
#include "net/http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/list.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "core/metrics.h"
#include "net/reaper.h"
#include "net/stream.h"

enum http_conn_state {
	HTTP_CONN_READING,
	HTTP_CONN_HANDLING,
	HTTP_CONN_WRITING,
	HTTP_CONN_ABANDONED,
	HTTP_CONN_UPGRADED,
	HTTP_CONN_CLOSED,
};

/* A response that cannot leave within this long (the peer stopped reading) closes. */
#define HTTP_WRITE_TIMEOUT_SEC 30

static const char *const conn_state_names[] = { "reading", "handling", "writing", "abandoned",
						"upgraded", "closed" };

struct http_conn {
	struct list_link link;          /* live connections, then the reaper */
	const struct http_listener_config *cfg;
	struct stream *stream;          /* NULL once handed over to another protocol */
	enum http_conn_state state;
	uint64_t id;
	bool close_after_response;
	struct http_request *req;
	/* READING: armed at the first byte of a request head, disarmed when the head is whole.
	 * The idle timeout restarts at every byte, so without it a head trickled one byte at a
	 * time would hold the connection for as long as the client likes. */
	struct event *head_timer;
};

static struct list conns;             /* live */
static struct reaper *reaper;         /* closed, freed after the current callback */
static bool draining;
static uint64_t next_conn_id = 1;
static uint64_t next_request_id = 1;

static void conn_try_request(struct http_conn *conn);
static const struct stream_handler conn_stream_handler;
static void conn_head_timeout_cb(evutil_socket_t fd, short events, void *arg);

size_t http_conns_open(void)
{
	return conns.count;
}

/* The only function that changes a connection's state. */
static void http_conn_change_state(struct http_conn *conn, enum http_conn_state state)
{
	log_debug("http_conn_state", "conn=%llu from=%s to=%s", (unsigned long long)conn->id,
		  conn_state_names[conn->state], conn_state_names[state]);
	conn->state = state;
	/* Reading never stops (a request being handled leaves the next one's bytes in the
	 * input, bounded by the stream): only the deadline changes with the state. */
	switch (state) {
	case HTTP_CONN_READING:
		stream_set_timeout(conn->stream, conn->cfg->idle_timeout_sec);
		break;
	case HTTP_CONN_HANDLING:
	case HTTP_CONN_ABANDONED:
		evtimer_del(conn->head_timer);
		stream_set_timeout(conn->stream, 0);
		break;
	case HTTP_CONN_WRITING:
		evtimer_del(conn->head_timer);
		stream_set_timeout(conn->stream, HTTP_WRITE_TIMEOUT_SEC);
		break;
	case HTTP_CONN_UPGRADED:
	case HTTP_CONN_CLOSED:
		evtimer_del(conn->head_timer);
		break;
	}
}

static void request_free(struct http_request *req)
{
	if (!req)
		return;
	free(req->head_buf);
	free(req->body);
	free(req);
}

static void conn_free(struct list_link *link)
{
	struct http_conn *conn = LIST_ITEM(link, struct http_conn, link);
	request_free(conn->req);
	event_free(conn->head_timer);
	stream_free(conn->stream); /* closes the socket */
	free(conn);
}

/*
 * Closes a connection: unlinked from the live list and silenced now, freed by the reaper
 * after the current callback has returned, so no caller up the stack ever holds a freed
 * connection.
 */
static void conn_close(struct http_conn *conn)
{
	if (conn->state == HTTP_CONN_CLOSED)
		return;
	list_remove(&conns, &conn->link);
	metrics_gauge_add(METRIC_HTTP_CONNECTIONS, -1);
	http_conn_change_state(conn, HTTP_CONN_CLOSED);
	if (conn->stream)
		stream_set_handler(conn->stream, NULL, NULL);
	reaper_add(reaper, &conn->link);
}

void http_conn_accept(struct event_base *base, int fd, const struct http_listener_config *cfg)
{
	if ((int)conns.count >= cfg->max_connections) {
		log_warn("http_conn_rejected", "reason=max_connections open=%zu", conns.count);
		metrics_counter_inc(METRIC_HTTP_REJECTED_CONNECTIONS);
		close(fd);
		return;
	}
	if (!reaper)
		reaper = reaper_new(base, conn_free);
	struct http_conn *conn = xcalloc(1, sizeof(*conn));
	conn->cfg = cfg;
	/* Room for one whole request and a little of the next. */
	conn->stream = stream_new(base, fd, cfg->max_head_bytes + cfg->max_body_bytes + 4096);
	conn->id = next_conn_id++;
	conn->head_timer = evtimer_new(base, conn_head_timeout_cb, conn);
	list_push(&conns, &conn->link);
	metrics_gauge_add(METRIC_HTTP_CONNECTIONS, 1);
	stream_set_handler(conn->stream, &conn_stream_handler, conn);
	http_conn_change_state(conn, HTTP_CONN_READING);
}

/* Answers a request that could not even be parsed, then closes the connection. */
static void conn_fail(struct http_conn *conn, int status, const char *code, const char *detail)
{
	json_t *body = json_pack("{s:s, s:s}", "detail", detail, "code", code);
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	size_t len = strlen(text);
	struct evbuffer *out = stream_output(conn->stream);
	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
			    "Content-Length: %zu\r\nCache-Control: no-store\r\n"
			    "X-Request-Id: %llu\r\nConnection: close\r\n\r\n",
			    status, http_status_reason(status), len,
			    (unsigned long long)next_request_id++);
	evbuffer_add(out, text, len);
	free(text);
	stream_flush_soon(conn->stream);
	metrics_http_observe(-1, status, 0.0);
	log_info("http_bad_request", "conn=%llu status=%d code=%s",
		 (unsigned long long)conn->id, status, code);
	conn->close_after_response = true;
	http_conn_change_state(conn, HTTP_CONN_WRITING);
}

/* Adopts the gateway's request id (nginx's $request_id, 32 hex digits) so that both logs name
 * a request the same way; anything else is replaced by this node's counter. */
static void request_set_rid(struct http_request *req)
{
	const struct http_slice *h = http_header_get(&req->head, "X-Request-Id");
	bool sane = h && h->len > 0 && h->len < sizeof(req->rid);
	for (size_t i = 0; sane && i < h->len; i++) {
		char c = h->ptr[i];
		sane = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		       c == '-' || c == '_' || c == '.';
	}
	if (sane)
		snprintf(req->rid, sizeof(req->rid), "%.*s", (int)h->len, h->ptr);
	else
		snprintf(req->rid, sizeof(req->rid), "%llu", (unsigned long long)req->id);
}

static void conn_try_request(struct http_conn *conn)
{
	struct evbuffer *in = stream_input(conn->stream);
	size_t len = evbuffer_get_length(in);
	if (len == 0)
		return;
	size_t peek = len < conn->cfg->max_head_bytes ? len : conn->cfg->max_head_bytes;
	const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)peek);
	struct http_request_head head;
	size_t head_len = 0;
	int error_status = 400;
	const char *error_detail = "bad request";
	enum http_parse_result r = http_parse_request_head(data, peek, conn->cfg->max_head_bytes,
							   &head, &head_len, &error_status,
							   &error_detail);
	if (r == HTTP_PARSE_NEED_MORE) {
		if (!evtimer_pending(conn->head_timer, NULL)) {
			struct timeval limit = { conn->cfg->header_timeout_sec, 0 };
			evtimer_add(conn->head_timer, &limit);
		}
		return;
	}
	evtimer_del(conn->head_timer);
	if (r == HTTP_PARSE_ERROR) {
		conn_fail(conn, error_status, "bad_request", error_detail);
		return;
	}
	if (head.chunked) {
		conn_fail(conn, 411, "length_required",
			  "chunked request bodies are not supported; send Content-Length");
		return;
	}
	size_t body_len = head.content_length > 0 ? (size_t)head.content_length : 0;
	if (head.content_length > (long long)conn->cfg->max_body_bytes) {
		char detail[128];
		snprintf(detail, sizeof(detail), "request body exceeds %zu bytes",
			 conn->cfg->max_body_bytes);
		conn_fail(conn, 413, "payload_too_large", detail);
		return;
	}
	if (len < head_len + body_len)
		return; /* wait for the rest of the body */

	struct http_request *req = xcalloc(1, sizeof(*req));
	req->conn = conn;
	req->id = next_request_id++;
	req->route_id = -1;
	clock_mono_now(&req->started);
	/* The request's own copy of the head, its slices moved onto it so that they outlive the
	 * input buffer (once parsed is enough). */
	req->head_buf = xmalloc(head_len);
	memcpy(req->head_buf, data, head_len);
	req->head = head;
	http_request_head_rebase(&req->head, data, req->head_buf, head_len);
	evbuffer_drain(in, head_len);
	req->body = xmalloc(body_len + 1);
	evbuffer_remove(in, req->body, body_len);
	req->body[body_len] = '\0';
	req->body_len = body_len;
	stream_input_consumed(conn->stream);
	if (!req->head.keep_alive)
		conn->close_after_response = true;
	request_set_rid(req);
	conn->req = req;
	http_conn_change_state(conn, HTTP_CONN_HANDLING);
	conn->cfg->handler(req, conn->cfg->handler_arg);
}

static void conn_head_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http_conn *conn = arg;
	if (conn->state != HTTP_CONN_READING)
		return;
	char detail[96];
	snprintf(detail, sizeof(detail), "request head not received within %d s",
		 conn->cfg->header_timeout_sec);
	struct evbuffer *in = stream_input(conn->stream);
	evbuffer_drain(in, evbuffer_get_length(in));
	stream_input_consumed(conn->stream);
	conn_fail(conn, 408, "request_timeout", detail);
}

static void conn_read_cb(void *arg)
{
	struct http_conn *conn = arg;
	if (conn->state == HTTP_CONN_READING)
		conn_try_request(conn);
}

/* The response left: next request, or close. */
static void conn_drained_cb(void *arg)
{
	struct http_conn *conn = arg;
	if (conn->state != HTTP_CONN_WRITING)
		return;
	if (conn->close_after_response || draining) {
		conn_close(conn);
		return;
	}
	http_conn_change_state(conn, HTTP_CONN_READING);
	conn_try_request(conn); /* a pipelined request may already be buffered */
}

static void conn_error_cb(void *arg, bool eof)
{
	struct http_conn *conn = arg;
	if (conn->state == HTTP_CONN_HANDLING) {
		/* The handler still holds the request: keep the object until it responds. */
		http_conn_change_state(conn, HTTP_CONN_ABANDONED);
		return;
	}
	if (conn->state == HTTP_CONN_ABANDONED || conn->state == HTTP_CONN_UPGRADED)
		return;
	conn_close(conn);
}

static void conn_timeout_cb(void *arg)
{
	struct http_conn *conn = arg;
	log_debug("http_conn_timeout", "conn=%llu state=%s", (unsigned long long)conn->id,
		  conn_state_names[conn->state]);
	if (conn->state == HTTP_CONN_READING || conn->state == HTTP_CONN_WRITING)
		conn_close(conn);
}

static const struct stream_handler conn_stream_handler = {
	.on_read = conn_read_cb,
	.on_drained = conn_drained_cb,
	.on_error = conn_error_cb,
	.on_timeout = conn_timeout_cb,
};

void http_conns_drain(void)
{
	draining = true;
	struct list_link *next;
	for (struct list_link *l = conns.head; l; l = next) {
		next = l->next;
		struct http_conn *conn = LIST_ITEM(l, struct http_conn, link);
		if (conn->state == HTTP_CONN_READING &&
		    evbuffer_get_length(stream_input(conn->stream)) == 0)
			conn_close(conn);
		else
			conn->close_after_response = true;
	}
}

void http_conns_close_all(void)
{
	while (conns.head)
		conn_close(LIST_ITEM(conns.head, struct http_conn, link));
	reaper_free(reaper);
	reaper = NULL;
}

static void free_body(const void *data, size_t len, void *arg)
{
	free(arg);
}

/* owned: body is malloc'd and ours to free (kept by reference until sent: no copy). */
static void respond(struct http_request *req, int status, const char *content_type,
		    const char *body, size_t body_len, char *owned)
{
	struct http_conn *conn = req->conn;
	double seconds = clock_seconds_since(&req->started);
	metrics_http_observe(req->route_id, status, seconds);
	log_info("http_request", "req=%llu rid=%s conn=%llu method=%.*s route=%s status=%d ms=%.2f%s%s",
		 (unsigned long long)req->id, req->rid, (unsigned long long)conn->id,
		 (int)req->head.method_str.len, req->head.method_str.ptr,
		 req->route_name ? req->route_name : "-", status, seconds * 1000.0,
		 req->user_id[0] ? " user=" : "", req->user_id);
	conn->req = NULL;
	if (conn->state == HTTP_CONN_ABANDONED) {
		request_free(req);
		free(owned);
		conn_close(conn);
		return;
	}
	bool head_only = req->head.method == HTTP_HEAD;
	bool keep_alive = !conn->close_after_response && !draining;
	if (!keep_alive)
		conn->close_after_response = true;
	/* Assembled without printf: this runs once per request (callgrind: a printf'd head cost
	 * about as much as the rest of the response). */
	struct strbuf head = { 0 };
	strbuf_puts(&head, "HTTP/1.1 ");
	strbuf_put_int(&head, status);
	strbuf_putc(&head, ' ');
	strbuf_puts(&head, http_status_reason(status));
	strbuf_puts(&head, "\r\nContent-Type: ");
	strbuf_puts(&head, content_type);
	strbuf_puts(&head, "\r\nContent-Length: ");
	strbuf_put_int(&head, (long long)body_len);
	strbuf_puts(&head, "\r\nCache-Control: no-store\r\nX-Request-Id: ");
	strbuf_puts(&head, req->rid);
	strbuf_puts(&head, keep_alive ? "\r\nConnection: keep-alive\r\n\r\n"
				      : "\r\nConnection: close\r\n\r\n");
	struct evbuffer *out = stream_output(conn->stream);
	evbuffer_add(out, head.data, head.len);
	strbuf_free(&head);
	if (head_only || !body_len)
		free(owned);
	else if (owned)
		evbuffer_add_reference(out, body, body_len, free_body, owned);
	else
		evbuffer_add(out, body, body_len);
	request_free(req);
	http_conn_change_state(conn, HTTP_CONN_WRITING);
	stream_flush_soon(conn->stream);
}

void http_respond(struct http_request *req, int status, const char *content_type,
		  const char *body, size_t body_len)
{
	respond(req, status, content_type, body, body_len, NULL);
}

void http_respond_take(struct http_request *req, int status, const char *content_type,
		       char *body, size_t body_len)
{
	respond(req, status, content_type, body, body_len, body);
}

struct stream *http_upgrade(struct http_request *req, const char *accept)
{
	struct http_conn *conn = req->conn;
	double seconds = clock_seconds_since(&req->started);
	metrics_http_observe(req->route_id, 101, seconds);
	log_info("http_request", "req=%llu conn=%llu method=GET route=%s status=101 ms=%.2f user=%s",
		 (unsigned long long)req->id, (unsigned long long)conn->id,
		 req->route_name ? req->route_name : "-", seconds * 1000.0, req->user_id);
	conn->req = NULL;
	request_free(req);
	if (conn->state == HTTP_CONN_ABANDONED) {
		conn_close(conn);
		return NULL;
	}
	struct stream *stream = conn->stream;
	evbuffer_add_printf(stream_output(stream),
			    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			    accept);
	stream_flush_soon(stream);
	http_conn_change_state(conn, HTTP_CONN_UPGRADED);
	stream_set_handler(stream, NULL, NULL);
	stream_set_timeout(stream, 0);
	conn->stream = NULL;
	conn_close(conn);
	return stream;
}

void http_respond_json_text(struct http_request *req, int status, const char *json, size_t len)
{
	http_respond(req, status, "application/json", json, len);
}

void http_respond_json(struct http_request *req, int status, json_t *body)
{
	if (!body) {
		/* json_pack fails only on invalid UTF-8 or a programming error: never echo it. */
		static const char fallback[] = "{\"detail\":\"internal error\",\"code\":\"internal\"}";
		http_respond_json_text(req, 500, fallback, sizeof(fallback) - 1);
		return;
	}
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	http_respond_json_text(req, status, text, strlen(text));
	free(text);
}

void http_respond_error(struct http_request *req, int status, const char *code,
			const char *detail)
{
	http_respond_json(req, status, json_pack("{s:s, s:s}", "detail", detail, "code", code));
}

void http_respond_errorf(struct http_request *req, int status, const char *code,
			 const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	http_respond_error(req, status, code, detail);
}

bool http_param(const struct http_request *req, size_t i, char *out, size_t out_size)
{
	if (i >= req->param_count || req->params[i].len >= out_size)
		return false;
	memcpy(out, req->params[i].ptr, req->params[i].len);
	out[req->params[i].len] = '\0';
	return true;
}
