#include "codec/http_parser.h"

#include <stdint.h>
#include <string.h>

/*
 * One left-to-right pass over the buffer, restarted from byte 0 on every call (heads are
 * bounded by max_head, so re-scanning is cheap and needs no state in the connection). Each
 * check fires at a fixed position in the byte stream, the first failing one wins, and running
 * out of bytes is reported before any check that needs later bytes: that is what makes the
 * result for a prefix agree with the result for the whole buffer.
 */

#define HTTP_MAX_METHOD 32
#define CONTENT_LENGTH_MAX (1LL << 53)

enum step { STEP_OK, STEP_MORE, STEP_ERROR };

struct cursor {
	const char *buf;
	size_t pos, end;   /* end = min(len, max_head): bytes beyond it are never looked at */
	int status;
	const char *detail;
	bool in_target;    /* ran out of bytes inside the request-target (414 at the limit) */
};

/* What the per-line checks accumulate for the end-of-head checks. */
struct head_facts {
	size_t host_count;
	size_t te_count;
	const struct http_slice *te_value;
	bool asterisk_target;
};

static enum step fail(struct cursor *c, int status, const char *detail)
{
	c->status = status;
	c->detail = detail;
	return STEP_ERROR;
}

/* A byte that is wrong where it stands: NUL and LF get their own, more useful, reason. */
static enum step fail_byte(struct cursor *c, unsigned char byte, const char *detail)
{
	if (byte == '\0')
		return fail(c, 400, "NUL byte in request head");
	if (byte == '\n')
		return fail(c, 400, "bare LF in request head (lines must end in CRLF)");
	return fail(c, 400, detail);
}

static bool is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool is_target_char(unsigned char ch)
{
	return ch >= 0x21 && ch <= 0x7e && ch != '#';
}

/* Field-value bytes: HT, SP, VCHAR and obs-text; no other control bytes and no DEL. */
static bool is_value_char(unsigned char ch)
{
	return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

/* Characters of a URI authority's host[:port]: reg-name, IP literal, percent-escapes. */
static bool is_host_char(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	return ch != '\0' && strchr("-._~!$&'()*+,;=%:[]", ch) != NULL;
}

static unsigned char lower(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') ? (unsigned char)(ch + ('a' - 'A')) : ch;
}

static bool mem_eq_ci(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	}
	return true;
}

static bool slice_eq_ci(const struct http_slice *s, const char *str)
{
	size_t n = strlen(str);
	return s->len == n && mem_eq_ci(s->ptr, str, n);
}

static bool slice_eq(const struct http_slice *s, const char *str)
{
	size_t n = strlen(str);
	return s->len == n && memcmp(s->ptr, str, n) == 0;
}

/* At buf[pos] == '\r': consumes CRLF, or asks for more, or rejects a bare CR. */
static enum step expect_lf_after_cr(struct cursor *c)
{
	if (c->pos + 1 >= c->end)
		return STEP_MORE;
	if (c->buf[c->pos + 1] != '\n')
		return fail(c, 400, "bare CR in request head");
	c->pos += 2;
	return STEP_OK;
}

static enum http_method method_from_slice(const struct http_slice *m)
{
	static const struct {
		const char *name;
		enum http_method method;
	} methods[] = {
		{ "GET", HTTP_GET },	   { "HEAD", HTTP_HEAD },     { "POST", HTTP_POST },
		{ "PUT", HTTP_PUT },	   { "PATCH", HTTP_PATCH },   { "DELETE", HTTP_DELETE },
		{ "OPTIONS", HTTP_OPTIONS },
	};
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (slice_eq(m, methods[i].name))
			return methods[i].method;
	}
	return HTTP_OTHER;
}

static enum step parse_method(struct cursor *c, struct http_request_head *out)
{
	size_t start = c->pos;
	while (c->pos < c->end && is_tchar((unsigned char)c->buf[c->pos])) {
		if (c->pos - start >= HTTP_MAX_METHOD)
			return fail(c, 501, "method too long");
		c->pos++;
	}
	if (c->pos >= c->end)
		return STEP_MORE;
	unsigned char ch = (unsigned char)c->buf[c->pos];
	if (ch == '\r')
		return fail(c, 400, "malformed request-line");
	if (ch != ' ')
		return fail_byte(c, ch, c->pos == start ? "invalid request method"
						       : "invalid character in request method");
	if (c->pos == start)
		return fail(c, 400, "empty request method");
	out->method_str = (struct http_slice){ c->buf + start, c->pos - start };
	out->method = method_from_slice(&out->method_str);
	c->pos++;
	return STEP_OK;
}

/* Leaves pos on the SP after the target, or fails (HTTP/0.9 lines end right after it). */
static enum step parse_target(struct cursor *c, struct http_request_head *out,
			      struct head_facts *facts)
{
	size_t start = c->pos;
	c->in_target = true;
	if (c->pos >= c->end)
		return STEP_MORE;
	unsigned char first = (unsigned char)c->buf[c->pos];
	if (first == '*') {
		facts->asterisk_target = true;
	} else if (first != '/') {
		if (!is_target_char(first))
			return fail_byte(c, first, "invalid request-target");
		return fail(c, 400, "request-target must be origin-form (start with '/')");
	}
	c->pos++;
	size_t query_at = 0; /* offset of '?' + 1, 0 when none yet */
	while (c->pos < c->end) {
		unsigned char ch = (unsigned char)c->buf[c->pos];
		if (ch == ' ')
			break;
		if (ch == '\r') {
			/* "GET /\r\n" is an HTTP/0.9 simple request. */
			enum step s = expect_lf_after_cr(c);
			if (s == STEP_OK)
				return fail(c, 505, "HTTP/0.9 requests are not supported");
			return s;
		}
		if (!is_target_char(ch))
			return fail_byte(c, ch, "invalid character in request-target");
		if (facts->asterisk_target)
			return fail(c, 400, "asterisk-form request-target must be exactly \"*\"");
		if (c->pos - start >= HTTP_MAX_TARGET)
			return fail(c, 414, "request-target too long");
		if (ch == '?' && query_at == 0)
			query_at = c->pos + 1;
		c->pos++;
	}
	if (c->pos >= c->end)
		return STEP_MORE;
	c->in_target = false;
	out->target = (struct http_slice){ c->buf + start, c->pos - start };
	if (query_at) {
		out->path = (struct http_slice){ c->buf + start, query_at - 1 - start };
		out->query = (struct http_slice){ c->buf + query_at, c->pos - query_at };
	} else {
		out->path = out->target;
		out->query = (struct http_slice){ c->buf + c->pos, 0 };
	}
	c->pos++; /* SP */
	return STEP_OK;
}

/* "HTTP/" DIGIT "." DIGIT CRLF; the version's meaning is judged once the line is complete. */
static enum step parse_version(struct cursor *c, struct http_request_head *out,
			       const struct head_facts *facts)
{
	static const char shape[] = "HTTP/D.D";
	int major = 0, minor = 0;
	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		if (c->pos >= c->end)
			return STEP_MORE;
		unsigned char ch = (unsigned char)c->buf[c->pos];
		if (shape[i] == 'D') {
			if (ch < '0' || ch > '9')
				return fail_byte(c, ch, "malformed HTTP version");
			if (i == 5)
				major = ch - '0';
			else
				minor = ch - '0';
		} else if (ch != (unsigned char)shape[i]) {
			return fail_byte(c, ch, "malformed HTTP version");
		}
		c->pos++;
	}
	if (c->pos >= c->end)
		return STEP_MORE;
	unsigned char ch = (unsigned char)c->buf[c->pos];
	if (ch != '\r')
		return fail_byte(c, ch, "malformed HTTP version");
	enum step s = expect_lf_after_cr(c);
	if (s != STEP_OK)
		return s;
	if (major != 1)
		return fail(c, 505, "HTTP version not supported (only HTTP/1.0 and HTTP/1.1)");
	out->version_minor = minor == 0 ? 0 : 1;
	if (facts->asterisk_target && out->method != HTTP_OPTIONS)
		return fail(c, 400, "asterisk-form request-target is only allowed for OPTIONS");
	return STEP_OK;
}

static enum step parse_request_line(struct cursor *c, struct http_request_head *out,
				    struct head_facts *facts)
{
	/* RFC 9112 2.2: ignore empty lines before the request-line. */
	while (c->pos < c->end && c->buf[c->pos] == '\r') {
		enum step s = expect_lf_after_cr(c);
		if (s != STEP_OK)
			return s;
	}
	enum step s = parse_method(c, out);
	if (s == STEP_OK)
		s = parse_target(c, out, facts);
	if (s == STEP_OK)
		s = parse_version(c, out, facts);
	return s;
}

/* Digits only, <= 2^53; a repeat must carry the same value. */
static enum step check_content_length(struct cursor *c, struct http_request_head *out,
				      const struct http_slice *v)
{
	if (v->len == 0)
		return fail(c, 400, "empty Content-Length");
	long long n = 0;
	bool too_large = false;
	for (size_t i = 0; i < v->len; i++) {
		unsigned char ch = (unsigned char)v->ptr[i];
		if (ch < '0' || ch > '9')
			return fail(c, 400, "Content-Length must be decimal digits only");
		if (!too_large) {
			n = n * 10 + (ch - '0');
			too_large = n > CONTENT_LENGTH_MAX;
		}
	}
	if (too_large)
		return fail(c, 400, "Content-Length too large");
	if (out->content_length >= 0 && out->content_length != n)
		return fail(c, 400, "conflicting Content-Length headers");
	out->content_length = n;
	return STEP_OK;
}

static enum step check_host(struct cursor *c, struct head_facts *facts,
			    const struct http_slice *v)
{
	if (++facts->host_count > 1)
		return fail(c, 400, "more than one Host header");
	for (size_t i = 0; i < v->len; i++) {
		if (!is_host_char((unsigned char)v->ptr[i]))
			return fail(c, 400, "invalid Host header");
	}
	return STEP_OK;
}

/* Checks that need only this header line run as soon as it is complete. */
static enum step check_header(struct cursor *c, struct http_request_head *out,
			      struct head_facts *facts, const struct http_header *h)
{
	if (slice_eq_ci(&h->name, "content-length"))
		return check_content_length(c, out, &h->value);
	if (slice_eq_ci(&h->name, "host"))
		return check_host(c, facts, &h->value);
	if (slice_eq_ci(&h->name, "transfer-encoding")) {
		if (facts->te_count++ == 0)
			facts->te_value = &h->value;
	}
	return STEP_OK;
}

/* One header line, or the empty line ending the head (*end_of_head = true). */
static enum step parse_header_line(struct cursor *c, struct http_request_head *out,
				   struct head_facts *facts, bool *end_of_head)
{
	if (c->pos >= c->end)
		return STEP_MORE;
	unsigned char ch = (unsigned char)c->buf[c->pos];
	if (ch == '\r') {
		enum step s = expect_lf_after_cr(c);
		if (s == STEP_OK)
			*end_of_head = true;
		return s;
	}
	if (ch == ' ' || ch == '\t')
		return fail(c, 400, "obsolete line folding (header line starts with whitespace)");
	if (out->header_count == HTTP_MAX_HEADERS)
		return fail(c, 431, "too many header fields");

	size_t name_start = c->pos;
	while (c->pos < c->end && is_tchar((unsigned char)c->buf[c->pos]))
		c->pos++;
	if (c->pos >= c->end)
		return STEP_MORE;
	ch = (unsigned char)c->buf[c->pos];
	if (ch != ':') {
		if (ch == ' ' || ch == '\t')
			return fail(c, 400, "whitespace between header name and colon");
		if (ch == '\r')
			return fail(c, 400, "header line without colon");
		return fail_byte(c, ch, c->pos == name_start ? "invalid header line"
							      : "invalid character in header name");
	}
	if (c->pos == name_start)
		return fail(c, 400, "empty header name");
	size_t name_end = c->pos++;

	while (c->pos < c->end && (c->buf[c->pos] == ' ' || c->buf[c->pos] == '\t'))
		c->pos++;
	size_t value_start = c->pos;
	while (c->pos < c->end) {
		ch = (unsigned char)c->buf[c->pos];
		if (ch == '\r')
			break;
		if (!is_value_char(ch))
			return fail_byte(c, ch, "control character in header value");
		c->pos++;
	}
	if (c->pos >= c->end)
		return STEP_MORE;
	size_t value_end = c->pos;
	enum step s = expect_lf_after_cr(c);
	if (s != STEP_OK)
		return s;
	while (value_end > value_start &&
	       (c->buf[value_end - 1] == ' ' || c->buf[value_end - 1] == '\t'))
		value_end--;

	struct http_header *h = &out->headers[out->header_count++];
	h->name = (struct http_slice){ c->buf + name_start, name_end - name_start };
	h->value = (struct http_slice){ c->buf + value_start, value_end - value_start };
	return check_header(c, out, facts, h);
}

/* true when any header named name has token in its comma-separated value. */
static bool any_header_has_token(const struct http_request_head *h, const char *name,
				 const char *token)
{
	for (size_t i = 0; i < h->header_count; i++) {
		if (slice_eq_ci(&h->headers[i].name, name) &&
		    http_header_has_token(&h->headers[i].value, token))
			return true;
	}
	return false;
}

/* Checks that need the whole head: required Host, framing, connection semantics. */
static enum step finish_head(struct cursor *c, struct http_request_head *out,
			     const struct head_facts *facts)
{
	if (out->version_minor == 1 && facts->host_count == 0)
		return fail(c, 400, "HTTP/1.1 request without Host header");
	if (facts->te_count > 0) {
		/* Two framings invite request smuggling: refuse rather than pick one. */
		if (out->content_length >= 0)
			return fail(c, 400, "both Content-Length and Transfer-Encoding present");
		if (out->version_minor == 0)
			return fail(c, 400, "Transfer-Encoding in an HTTP/1.0 request");
		if (facts->te_count > 1 || !slice_eq_ci(facts->te_value, "chunked"))
			return fail(c, 501, "unsupported Transfer-Encoding (only \"chunked\")");
		out->chunked = true;
	}
	bool close = any_header_has_token(out, "connection", "close");
	if (out->version_minor == 1)
		out->keep_alive = !close;
	else
		out->keep_alive = !close && any_header_has_token(out, "connection", "keep-alive");
	out->upgrade_websocket = out->version_minor == 1 &&
				 any_header_has_token(out, "upgrade", "websocket") &&
				 any_header_has_token(out, "connection", "upgrade");
	return STEP_OK;
}

enum http_parse_result http_parse_request_head(const char *buf, size_t len, size_t max_head,
					       struct http_request_head *out, size_t *head_len,
					       int *error_status, const char **error_detail)
{
	struct cursor c = { .buf = buf, .pos = 0, .end = len < max_head ? len : max_head };
	struct head_facts facts = { 0 };
	memset(out, 0, sizeof(*out));
	out->content_length = -1;

	enum step s = parse_request_line(&c, out, &facts);
	bool end_of_head = false;
	while (s == STEP_OK && !end_of_head)
		s = parse_header_line(&c, out, &facts, &end_of_head);
	if (s == STEP_OK)
		s = finish_head(&c, out, &facts);

	if (s == STEP_MORE) {
		if (len < max_head)
			return HTTP_PARSE_NEED_MORE;
		if (c.in_target)
			fail(&c, 414, "request-target too long");
		else
			fail(&c, 431, "request head too large");
		s = STEP_ERROR;
	}
	if (s == STEP_ERROR) {
		if (error_status)
			*error_status = c.status;
		if (error_detail)
			*error_detail = c.detail;
		return HTTP_PARSE_ERROR;
	}
	if (head_len)
		*head_len = c.pos;
	return HTTP_PARSE_DONE;
}

const struct http_slice *http_header_get(const struct http_request_head *h, const char *name)
{
	for (size_t i = 0; i < h->header_count; i++) {
		if (slice_eq_ci(&h->headers[i].name, name))
			return &h->headers[i].value;
	}
	return NULL;
}

size_t http_header_count(const struct http_request_head *h, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < h->header_count; i++)
		n += slice_eq_ci(&h->headers[i].name, name);
	return n;
}

bool http_header_has_token(const struct http_slice *value, const char *token)
{
	if (!value)
		return false;
	size_t token_len = strlen(token);
	size_t i = 0;
	while (i <= value->len) {
		size_t start = i;
		while (i < value->len && value->ptr[i] != ',')
			i++;
		size_t end = i;
		while (start < end && (value->ptr[start] == ' ' || value->ptr[start] == '\t'))
			start++;
		while (end > start && (value->ptr[end - 1] == ' ' || value->ptr[end - 1] == '\t'))
			end--;
		if (end - start == token_len && mem_eq_ci(value->ptr + start, token, token_len))
			return true;
		i++; /* past ',' (or past the end, which ends the loop) */
	}
	return false;
}

const char *http_status_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 425: return "Too Early";
	case 426: return "Upgrade Required";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	/* A reason phrase is informative only (RFC 9112 4): any text is valid. */
	if (status >= 100 && status < 200)
		return "Informational";
	if (status >= 200 && status < 300)
		return "Success";
	if (status >= 300 && status < 400)
		return "Redirection";
	if (status >= 400 && status < 500)
		return "Client Error";
	if (status >= 500 && status < 600)
		return "Server Error";
	return "Unknown";
}

static void slice_rebase(struct http_slice *s, const char *old_base, const char *new_base,
			 size_t len)
{
	uintptr_t p = (uintptr_t)s->ptr, lo = (uintptr_t)old_base;
	if (s->ptr && p >= lo && p <= lo + len)
		s->ptr = new_base + (p - lo);
}

void http_request_head_rebase(struct http_request_head *h, const char *old_base,
			      const char *new_base, size_t len)
{
	slice_rebase(&h->method_str, old_base, new_base, len);
	slice_rebase(&h->target, old_base, new_base, len);
	slice_rebase(&h->path, old_base, new_base, len);
	slice_rebase(&h->query, old_base, new_base, len);
	for (size_t i = 0; i < h->header_count; i++) {
		slice_rebase(&h->headers[i].name, old_base, new_base, len);
		slice_rebase(&h->headers[i].value, old_base, new_base, len);
	}
}
