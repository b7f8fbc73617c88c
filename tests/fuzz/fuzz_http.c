/*
 * libFuzzer target for the HTTP request-head parser and the query/path helpers.
 *
 * Each input is parsed whole, then every prefix (bounded) is parsed from an exactly-sized
 * heap copy, as the server does when bytes trickle in; ASan catches any read past len. The
 * prefix must agree with the whole: NEED_MORE, or the same DONE / the same ERROR, and once
 * decided it stays decided. Two head limits are used so the 414/431 paths are reached too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/http_parser.h"
#include "codec/query.h"

#define PREFIX_CHECKS 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
	enum http_parse_result r;
	struct http_request_head head;
	size_t head_len;
	int status;
	const char *detail;
};

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_http invariant violated: %s\n", what);
		abort();
	}
}

static void run(const char *buf, size_t len, size_t max_head, struct outcome *o)
{
	o->head_len = (size_t)-1;
	o->status = -1;
	o->detail = NULL;
	o->r = http_parse_request_head(buf, len, max_head, &o->head, &o->head_len, &o->status,
				       &o->detail);
}

static bool slice_within(struct http_slice s, const char *base, size_t len)
{
	return s.ptr >= base && s.len <= len && (size_t)(s.ptr - base) <= len - s.len;
}

static void check_outcome(const char *buf, size_t len, size_t max_head, const struct outcome *o)
{
	switch (o->r) {
	case HTTP_PARSE_DONE: {
		const struct http_request_head *h = &o->head;
		check(o->head_len <= len && o->head_len <= max_head, "head_len within bounds");
		check(o->head_len >= 4 && memcmp(buf + o->head_len - 4, "\r\n\r\n", 4) == 0,
		      "head ends in CRLFCRLF");
		check(memchr(buf, '\0', o->head_len) == NULL, "no NUL in accepted head");
		check(slice_within(h->method_str, buf, o->head_len), "method within head");
		check(slice_within(h->target, buf, o->head_len), "target within head");
		check(slice_within(h->path, buf, o->head_len), "path within head");
		check(slice_within(h->query, buf, o->head_len), "query within head");
		check(h->target.len >= 1 && h->target.len <= HTTP_MAX_TARGET, "target length");
		check(h->target.ptr[0] == '/' || (h->target.len == 1 && h->target.ptr[0] == '*' &&
						  h->method == HTTP_OPTIONS),
		      "origin-form or OPTIONS *");
		check(h->version_minor == 0 || h->version_minor == 1, "version");
		check(h->header_count <= HTTP_MAX_HEADERS, "header count");
		check(h->content_length >= -1 && h->content_length <= (1LL << 53),
		      "content length");
		check(!(h->chunked && h->content_length >= 0), "never both framings");
		check(!(h->chunked && h->version_minor == 0), "no chunked HTTP/1.0");
		check(h->version_minor == 0 || http_header_get(h, "host") != NULL, "1.1 has Host");
		for (size_t i = 0; i < h->header_count; i++) {
			const struct http_header *hd = &h->headers[i];
			check(slice_within(hd->name, buf, o->head_len) && hd->name.len > 0,
			      "header name");
			check(slice_within(hd->value, buf, o->head_len), "header value");
			for (size_t j = 0; j < hd->value.len; j++) {
				unsigned char ch = (unsigned char)hd->value.ptr[j];
				check(ch == '\t' || (ch >= 0x20 && ch != 0x7f), "value bytes");
			}
			(void)http_header_has_token(&hd->value, "close");
		}
		/* Exercise the routing helpers on what a router would see. */
		char out[64];
		long long v = 0;
		bool present;
		if (query_get(h->query, "token", out, sizeof(out)))
			check(strlen(out) < sizeof(out), "decoded value terminated");
		if (query_get_int64(h->query, "since", 0, 1000000, &v, &present) && present)
			check(v >= 0 && v <= 1000000, "int in range");
		struct http_slice caps[2];
		size_t n = 0;
		if (path_match(h->path, "/api/v1/canvases/{}/ws", caps, 2, &n)) {
			check(n == 1 && caps[0].len > 0, "one capture");
			check(memchr(caps[0].ptr, '/', caps[0].len) == NULL, "capture has no '/'");
		}
		if (path_match(h->path, "/{}/{}", caps, 2, &n))
			check(n == 2, "two captures");
		break;
	}
	case HTTP_PARSE_ERROR:
		check(o->status == 400 || o->status == 414 || o->status == 431 ||
			      o->status == 501 || o->status == 505,
		      "error status");
		check(o->detail != NULL && o->detail[0] != '\0', "error detail");
		break;
	case HTTP_PARSE_NEED_MORE:
		check(len < max_head, "NEED_MORE only below max_head");
		break;
	default:
		check(false, "result value");
	}
}

static void check_prefixes(const char *whole_buf, size_t size, size_t max_head)
{
	struct outcome w;
	run(whole_buf, size, max_head, &w);
	check_outcome(whole_buf, size, max_head, &w);

	size_t step = size / PREFIX_CHECKS + 1;
	bool decided = false;
	for (size_t k = 0; k <= size; k += step) {
		char *copy = malloc(k ? k : 1);
		check(copy != NULL, "malloc");
		memcpy(copy, whole_buf, k);
		struct outcome p;
		run(copy, k, max_head, &p);
		check_outcome(copy, k, max_head, &p);
		if (p.r == HTTP_PARSE_NEED_MORE) {
			check(!decided, "prefix went back to NEED_MORE");
		} else {
			decided = true;
			check(p.r == w.r, "prefix and whole agree on the result");
		}
		if (p.r == HTTP_PARSE_ERROR)
			check(p.status == w.status && strcmp(p.detail, w.detail) == 0,
			      "prefix and whole agree on the error");
		if (p.r == HTTP_PARSE_DONE) {
			check(p.head_len == w.head_len, "same head_len");
			check(p.head.method == w.head.method, "same method");
			check(p.head.header_count == w.head.header_count, "same header count");
			check(p.head.target.ptr - copy == w.head.target.ptr - whole_buf &&
				      p.head.target.len == w.head.target.len,
			      "same target");
			check(p.head.content_length == w.head.content_length &&
				      p.head.chunked == w.head.chunked &&
				      p.head.keep_alive == w.head.keep_alive &&
				      p.head.upgrade_websocket == w.head.upgrade_websocket,
			      "same semantics");
		}
		if (w.r == HTTP_PARSE_DONE && k < w.head_len)
			check(p.r == HTTP_PARSE_NEED_MORE,
			      "valid head is incomplete before head_len");
		free(copy);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	/* An exact copy so that reads past size are caught even for the whole input. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	check_prefixes(buf, size, 16384);
	/* A small limit, so that hitting it mid-line (414/431) is common. */
	check_prefixes(buf, size, size / 2 + 1);
	free(buf);
	return 0;
}
