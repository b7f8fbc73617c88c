/*
 * HTTP/1.1 connections of the node: one state machine per client connection on a stream
 * (net/stream.h), one request in flight per connection (pipelined requests wait in the input
 * buffer), bounded head and body sizes, keep-alive with an idle timeout.
 *
 * Ownership: a request belongs to its connection. A handler receives it, may start any amount
 * of asynchronous work, and must finish it exactly once with one of the http_respond*()
 * functions; after that call the request (and possibly the connection) is gone. If the peer
 * disconnects while a handler is still working, the connection is kept (state
 * HTTP_CONN_ABANDONED) until the handler responds, so a database callback never sees a freed
 * request: the response is then discarded and the connection freed.
 */
#ifndef FLOWSTATE_NET_HTTP_H
#define FLOWSTATE_NET_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "codec/http_parser.h"

struct event_base;
struct http_conn;
struct stream;

#define HTTP_MAX_PARAMS 4

struct http_request {
	struct http_conn *conn;
	uint64_t id;
	char rid[48];                   /* X-Request-Id: the gateway's when it sent a sane one,
					   else this node's counter; logged and echoed */
	struct http_request_head head;  /* slices point into head_buf */
	char *head_buf;
	char *body;                     /* NUL-terminated copy, body_len bytes */
	size_t body_len;
	int route_id;                   /* set by the handler's routing: metrics label index, -1 */
	const char *route_name;         /* route pattern for the log line, NULL when unmatched */
	struct http_slice params[HTTP_MAX_PARAMS];  /* captured path segments */
	size_t param_count;
	char user_id[64];               /* authenticated user, set by the handler, "" when
					   anonymous; logged */
	struct timespec started;
};

/* Handles one parsed request; must end it with one http_respond*() (or http_upgrade). */
typedef void (*http_handler_fn)(struct http_request *req, void *arg);

struct http_listener_config {
	size_t max_head_bytes;
	size_t max_body_bytes;
	int idle_timeout_sec;
	int header_timeout_sec;         /* a request head must arrive whole within this (408) */
	int max_connections;
	http_handler_fn handler;        /* the application: http.c knows nothing of routes */
	void *handler_arg;
};

/* Accepts a new client socket (called by the listener). cfg is borrowed for good. */
void http_conn_accept(struct event_base *base, int fd, const struct http_listener_config *cfg);
/* Closes idle keep-alive connections now and makes busy ones close after their response;
 * from now on every response closes its connection. */
void http_conns_drain(void);
size_t http_conns_open(void);
/* Frees every connection (process exit, after handlers have answered). */
void http_conns_close_all(void);

void http_respond(struct http_request *req, int status, const char *content_type,
		  const char *body, size_t body_len);
/* As http_respond, taking body (malloc'd): it is sent without a copy and freed once sent. A
 * large answer (a canvas state of megabytes) then costs the loop no memcpy. */
void http_respond_take(struct http_request *req, int status, const char *content_type,
		       char *body, size_t body_len);
/* Responds with body text that is already JSON. */
void http_respond_json_text(struct http_request *req, int status, const char *json, size_t len);
/* Serializes and releases body. */
void http_respond_json(struct http_request *req, int status, json_t *body);
/* Error body {"detail": ..., "code": ...}. */
void http_respond_error(struct http_request *req, int status, const char *code,
			const char *detail);
void http_respond_errorf(struct http_request *req, int status, const char *code,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Ends the request with 101 Switching Protocols (Sec-WebSocket-Accept: accept) and hands the
 * socket over: returns the stream (net/stream.h), with no handler set and the 101 queued, for
 * the new protocol to own; the request and the HTTP connection are gone. NULL when the peer
 * already left.
 */
struct stream *http_upgrade(struct http_request *req, const char *accept);

/* Copies path parameter i NUL-terminated into out; false if missing or too long. */
bool http_param(const struct http_request *req, size_t i, char *out, size_t out_size);

#endif
