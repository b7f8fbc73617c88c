/*
 * Strict, bounded HTTP/1.1 request-head parser (RFC 9112). Pure: no sockets, no allocation.
 *
 * The parser keeps no state between calls: the server appends bytes to one buffer and calls
 * http_parse_request_head() on the whole buffer each time more arrive. The result for a
 * buffer depends only on its first min(len, max_head) bytes (and on whether len >= max_head),
 * so feeding a request byte by byte gives the same result as feeding it at once, and an
 * ERROR or DONE, once returned for a prefix, is returned unchanged for every longer buffer.
 * Errors are reported at the first offending byte, so garbage (a TLS ClientHello, a binary
 * protocol) is refused after a few bytes rather than after max_head.
 *
 * Ownership: every http_slice in a parsed head points into the caller's buffer and is valid
 * only as long as that buffer is unchanged. The parser never reads at or beyond buf[len] and
 * never examines bytes after the head (the body of a pipelined request may hold anything).
 *
 * Strictness decisions (interoperable with curl, python http.client, nginx proxy_pass and
 * browsers, which all send what is accepted here):
 * - Lines must end in CRLF. A bare LF or bare CR anywhere in the head is 400: RFC 9112 allows
 *   accepting a lone LF, but a parser that disagrees with a front proxy about where a line
 *   ends is the root of request smuggling, and no client we serve sends one.
 * - Empty lines (CRLF) before the request-line are skipped (RFC 9112 2.2; some clients send
 *   a CRLF after a POST body); they count in head_len.
 * - Exactly one SP between request-line parts. Method: a token of at most 32 bytes (longer is
 *   501). Methods are case-sensitive ("get" is HTTP_OTHER).
 * - request-target: origin-form ("/..."), at most HTTP_MAX_TARGET bytes of visible ASCII
 *   (0x21-0x7e) without '#'; "*" only for OPTIONS; absolute-form and authority-form are 400.
 *   Percent-escapes are not decoded or checked here (query_get does that for values).
 *   When the head limit is reached while still inside the request-target the answer is 414,
 *   not 431, because the target is what is too long.
 * - Version "HTTP/1.0" or "HTTP/1.1"; "HTTP/1.2".."HTTP/1.9" are treated as 1.1 (RFC 9110
 *   2.5); any other major version, and a request-line without a version (HTTP/0.9), is 505.
 * - Header names are tokens with no whitespace before ':'; values are trimmed of SP/HT and
 *   may contain SP, HT, visible ASCII and obs-text (0x80-0xff); other control bytes are 400.
 *   A line starting with SP/HT (obs-fold) is 400. More than HTTP_MAX_HEADERS is 431.
 * - Host: required in HTTP/1.1, at most one, characters of a URI authority host[:port] only.
 * - Content-Length: 1+ digits, <= 2^53; repeated identical values are accepted, differing
 *   values (or a list "5, 5") are 400.
 * - Transfer-Encoding: with Content-Length is 400, in HTTP/1.0 is 400 (RFC 9112 6.1), and
 *   anything but a single header whose value is "chunked" (case-insensitive) is 501.
 * - keep_alive: HTTP/1.1 unless Connection has "close"; HTTP/1.0 only with "keep-alive" and
 *   no "close". upgrade_websocket: HTTP/1.1 (an Upgrade in 1.0 must be ignored, RFC 9110
 *   7.8), Upgrade has the token "websocket" and Connection has "upgrade". Whether the method
 *   and the other WebSocket headers are right is the server's business.
 * - A NUL byte anywhere in the head is 400.
 */
#ifndef FLOWSTATE_HTTP_PARSER_H
#define FLOWSTATE_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEADERS 64
/* Longest request-target accepted; longer is 414. */
#define HTTP_MAX_TARGET 8192

struct http_slice {
	const char *ptr; /* points into the caller's buffer; never NUL-terminated */
	size_t len;
};

struct http_header {
	struct http_slice name, value;
};

enum http_method {
	HTTP_GET,
	HTTP_HEAD,
	HTTP_POST,
	HTTP_PUT,
	HTTP_PATCH,
	HTTP_DELETE,
	HTTP_OPTIONS,
	HTTP_OTHER,
};

struct http_request_head {
	enum http_method method;
	/* target = path[?query]; query excludes '?' and is empty (len 0) when absent. */
	struct http_slice method_str, target, path, query;
	int version_minor;                /* 0 or 1 (HTTP/1.0, HTTP/1.1) */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t header_count;
	long long content_length;         /* -1 when absent */
	bool chunked;                     /* Transfer-Encoding: chunked present */
	bool keep_alive;                  /* from version + Connection header */
	bool upgrade_websocket;           /* Upgrade: websocket and Connection contains upgrade */
};

enum http_parse_result { HTTP_PARSE_DONE, HTTP_PARSE_NEED_MORE, HTTP_PARSE_ERROR };

/*
 * Parses the head at buf[0..len). On DONE, *out is filled and *head_len = bytes of the head
 * including the final CRLFCRLF (and any skipped leading CRLFs); the body starts there.
 * On ERROR, *error_status = the HTTP status to answer (400, 414 URI too long, 431 headers too
 * large, 501 unsupported method length or transfer-encoding, 505 version) and *error_detail a
 * static human-readable reason. max_head bounds the head size: NEED_MORE with len >= max_head
 * becomes ERROR 431 (414 inside the request-target), and a head longer than max_head is never
 * DONE. A head of exactly max_head bytes is DONE, so a complete head can be re-parsed from an
 * exact copy with max_head = head_len. *out is unspecified unless DONE; head_len,
 * error_status and error_detail are written only on DONE/ERROR and may be NULL.
 */
/*
 * Moves every slice of a head parsed from old_base[0..len) onto new_base, an exact copy of
 * those bytes: a head parsed in place can then outlive the buffer it was parsed from.
 */
void http_request_head_rebase(struct http_request_head *h, const char *old_base,
			      const char *new_base, size_t len);

enum http_parse_result http_parse_request_head(const char *buf, size_t len, size_t max_head,
					       struct http_request_head *out, size_t *head_len,
					       int *error_status, const char **error_detail)
	__attribute__((warn_unused_result));

/* Case-insensitive header lookup; returns the first match or NULL. */
const struct http_slice *http_header_get(const struct http_request_head *h, const char *name);
/* How many times the header appears (case-insensitive): headers that must be unique (RFC 6455's
 * Sec-WebSocket-Key, say) are checked with it. */
size_t http_header_count(const struct http_request_head *h, const char *name);

/*
 * true when a comma-separated header value contains token (case-insensitive) as a whole
 * element, e.g. Connection: keep-alive, Upgrade. Elements are trimmed of SP/HT; "upgraded"
 * does not contain "upgrade". value may be NULL (false).
 */
bool http_header_has_token(const struct http_slice *value, const char *token);

/* Reason phrase for status ("OK", "Created", "Not Found", ...); never NULL. */
const char *http_status_reason(int status);

#endif
