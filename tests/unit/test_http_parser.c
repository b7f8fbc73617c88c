#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "codec/http_parser.h"

#define MAX_HEAD 16384

struct parsed {
	enum http_parse_result r;
	struct http_request_head head;
	size_t head_len;
	int status;
	const char *detail;
};

static size_t off(const char *base, const char *p)
{
	return (size_t)(p - base);
}

/*
 * Parses buf whole, then every prefix of it from an exactly-sized heap copy (so ASan sees any
 * read past len), as the server does when bytes trickle in. Every prefix must agree with the
 * whole: NEED_MORE until the result is known, then the same DONE (same head, same offsets) or
 * the same ERROR (same status and reason) for every longer prefix.
 */
static struct parsed parse_with_limit(const char *buf, size_t len, size_t max_head)
{
	struct parsed w = { .status = -1 };
	w.r = http_parse_request_head(buf, len, max_head, &w.head, &w.head_len, &w.status,
				      &w.detail);
	if (w.r == HTTP_PARSE_ERROR)
		cr_assert(w.detail != NULL && w.detail[0] != '\0');
	if (w.r == HTTP_PARSE_DONE) {
		cr_assert(w.head_len <= len && w.head_len <= max_head);
		cr_assert(w.head_len >= 4 && memcmp(buf + w.head_len - 4, "\r\n\r\n", 4) == 0);
	}
	bool decided = false;
	for (size_t k = 0; k <= len; k++) {
		char *copy = xmalloc(k);
		memcpy(copy, buf, k);
		struct parsed p = { .status = -1 };
		p.r = http_parse_request_head(copy, k, max_head, &p.head, &p.head_len, &p.status,
					      &p.detail);
		if (p.r == HTTP_PARSE_NEED_MORE) {
			cr_assert(!decided, "prefix %zu went back to NEED_MORE", k);
			cr_assert(k < max_head);
		} else {
			decided = true;
			cr_assert_eq(p.r, w.r, "prefix %zu: result %d, whole: %d", k, p.r, w.r);
		}
		if (p.r == HTTP_PARSE_ERROR) {
			cr_assert_eq(p.status, w.status, "prefix %zu: status %d, whole %d", k,
				     p.status, w.status);
			cr_assert_str_eq(p.detail, w.detail);
		}
		if (p.r == HTTP_PARSE_DONE) {
			cr_assert_eq(p.head_len, w.head_len);
			cr_assert_eq(p.head.method, w.head.method);
			cr_assert_eq(off(copy, p.head.target.ptr), off(buf, w.head.target.ptr));
			cr_assert_eq(p.head.target.len, w.head.target.len);
			cr_assert_eq(p.head.header_count, w.head.header_count);
			for (size_t i = 0; i < p.head.header_count; i++) {
				cr_assert_eq(off(copy, p.head.headers[i].value.ptr),
					     off(buf, w.head.headers[i].value.ptr));
				cr_assert_eq(p.head.headers[i].value.len,
					     w.head.headers[i].value.len);
			}
			cr_assert_eq(p.head.content_length, w.head.content_length);
			cr_assert_eq(p.head.keep_alive, w.head.keep_alive);
		}
		if (w.r == HTTP_PARSE_DONE && k < w.head_len)
			cr_assert_eq(p.r, HTTP_PARSE_NEED_MORE, "prefix %zu of a valid head", k);
		free(copy);
	}
	return w;
}

static struct parsed parse(const char *s)
{
	return parse_with_limit(s, strlen(s), MAX_HEAD);
}

static struct parsed expect_done(const char *s)
{
	struct parsed p = parse(s);
	cr_assert_eq(p.r, HTTP_PARSE_DONE, "expected DONE for %s, got %d (%d %s)", s, p.r,
		     p.status, p.detail ? p.detail : "");
	return p;
}

static void expect_error(const char *s, int status)
{
	struct parsed p = parse(s);
	cr_assert_eq(p.r, HTTP_PARSE_ERROR, "expected ERROR %d for %s, got %d", status, s, p.r);
	cr_assert_eq(p.status, status, "expected %d for %s, got %d (%s)", status, s, p.status,
		     p.detail);
}

static bool slice_is(struct http_slice s, const char *str)
{
	return s.len == strlen(str) && memcmp(s.ptr, str, s.len) == 0;
}

#define HOST "Host: example.com\r\n"

/* ---- request-line ---- */

Test(http_parser, parses_simple_get_with_host)
{
	const char *req = "GET /api/v1/healthz HTTP/1.1\r\nHost: example.com\r\n\r\n";
	struct parsed p = expect_done(req);
	cr_assert_eq(p.head_len, strlen(req));
	cr_assert_eq(p.head.method, HTTP_GET);
	cr_assert(slice_is(p.head.method_str, "GET"));
	cr_assert(slice_is(p.head.target, "/api/v1/healthz"));
	cr_assert(slice_is(p.head.path, "/api/v1/healthz"));
	cr_assert_eq(p.head.query.len, 0);
	cr_assert_eq(p.head.version_minor, 1);
	cr_assert_eq(p.head.header_count, 1);
	cr_assert(slice_is(p.head.headers[0].name, "Host"));
	cr_assert(slice_is(p.head.headers[0].value, "example.com"));
	cr_assert_eq(p.head.content_length, -1);
	cr_assert(!p.head.chunked);
	cr_assert(p.head.keep_alive);
	cr_assert(!p.head.upgrade_websocket);
}

Test(http_parser, maps_known_methods_and_unknown_ones_to_other)
{
	static const struct {
		const char *name;
		enum http_method m;
	} cases[] = {
		{ "GET", HTTP_GET },	   { "HEAD", HTTP_HEAD },   { "POST", HTTP_POST },
		{ "PUT", HTTP_PUT },	   { "PATCH", HTTP_PATCH }, { "DELETE", HTTP_DELETE },
		{ "OPTIONS", HTTP_OPTIONS }, { "TRACE", HTTP_OTHER }, { "PROPFIND", HTTP_OTHER },
		{ "GETX", HTTP_OTHER },	   { "GE", HTTP_OTHER },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char req[128];
		snprintf(req, sizeof(req), "%s / HTTP/1.1\r\n" HOST "\r\n", cases[i].name);
		struct parsed p = expect_done(req);
		cr_assert_eq(p.head.method, cases[i].m, "%s", cases[i].name);
		cr_assert(slice_is(p.head.method_str, cases[i].name));
	}
}

Test(http_parser, methods_are_case_sensitive)
{
	struct parsed p = expect_done("get / HTTP/1.1\r\n" HOST "\r\n");
	cr_assert_eq(p.head.method, HTTP_OTHER);
}

Test(http_parser, splits_target_into_path_and_query_at_first_question_mark)
{
	struct parsed p = expect_done("GET /a/b?x=1&y=?2 HTTP/1.1\r\n" HOST "\r\n");
	cr_assert(slice_is(p.head.target, "/a/b?x=1&y=?2"));
	cr_assert(slice_is(p.head.path, "/a/b"));
	cr_assert(slice_is(p.head.query, "x=1&y=?2"));
}

Test(http_parser, query_is_empty_when_question_mark_ends_target)
{
	struct parsed p = expect_done("GET /a? HTTP/1.1\r\n" HOST "\r\n");
	cr_assert(slice_is(p.head.path, "/a"));
	cr_assert_eq(p.head.query.len, 0);
	cr_assert_not_null(p.head.query.ptr);
}

Test(http_parser, accepts_characters_browsers_send_raw_in_queries)
{
	struct parsed p = expect_done("GET /s?q={a}|b^c`d\\e[f]'g HTTP/1.1\r\n" HOST "\r\n");
	cr_assert(slice_is(p.head.query, "q={a}|b^c`d\\e[f]'g"));
}

Test(http_parser, rejects_non_token_character_in_method)
{
	expect_error("GE(T / HTTP/1.1\r\n" HOST "\r\n", 400);
	expect_error("GE:T / HTTP/1.1\r\n" HOST "\r\n", 400);
}

Test(http_parser, rejects_empty_method)
{
	expect_error(" / HTTP/1.1\r\n" HOST "\r\n", 400);
}

Test(http_parser, rejects_method_longer_than_32_bytes_with_501)
{
	char req[256];
	snprintf(req, sizeof(req), "%s / HTTP/1.1\r\n" HOST "\r\n",
		 "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG"); /* 33 */
	expect_error(req, 501);
	snprintf(req, sizeof(req), "%s / HTTP/1.1\r\n" HOST "\r\n",
		 "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF"); /* 32 */
	expect_done(req);
}

Test(http_parser, rejects_extra_whitespace_in_request_line)
{
	expect_error("GET  / HTTP/1.1\r\n" HOST "\r\n", 400);
	expect_error("GET /  HTTP/1.1\r\n" HOST "\r\n", 400);
	expect_error("GET / HTTP/1.1 \r\n" HOST "\r\n", 400);
	expect_error("GET\t/ HTTP/1.1\r\n" HOST "\r\n", 400);
	expect_error("GET /\tHTTP/1.1\r\n" HOST "\r\n", 400);
}

Test(http_parser, rejects_request_line_without_target)
{
	expect_error("GET\r\n" HOST "\r\n", 400);
	expect_error("GET \r\n" HOST "\r\n", 400);
}

Test(http_parser, rejects_absolute_form_target_with_400)
{
	expect_error("GET http://example.com/ HTTP/1.1\r\n" HOST "\r\n", 400);
}

Test(http_parser, rejects_authority_form_target_with_400)
{
	expect_error("CONNECT example.com:443 HTTP/1.1\r\n" HOST "\r\n", 400);
}

Test(http_parser, accepts_asterisk_target_for_options)
{
	struct parsed p = expect_done("OPTIONS * HTTP/1.1\r\n" HOST "\r\n");
	cr_assert_eq(p.head.method, HTTP_OPTIONS);
	cr_assert(slice_is(p.head.target, "*"));
	cr_assert(slice_is(p.head.path, "*"));
	cr_assert_eq(p.head.query.len, 0);
}

Test(http_parser, rejects_asterisk_target_for_other_methods)
{
	expect_error("GET * HTTP/1.1\r\n" HOST "\r\n", 400);
	expect_error("DELETE * HTTP/1.1\r\n" HOST "\r\n", 400);
}

Test(http_parser, rejects_asterisk_followed_by_more_characters)
{
	expect_error("OPTIONS */x HTTP/1.1\r\n" HOST "\r\n", 400);
	expect_error("OPTIONS ** HTTP/1.1\r\n" HOST "\r\n", 400);
}

Test(http_parser, rejects_fragment_in_target)
{
	expect_error("GET /a#frag HTTP/1.1\r\n" HOST "\r\n", 400);
}

Test(http_parser, rejects_control_and_non_ascii_bytes_in_target)
{
	expect_error("GET /a\x01 HTTP/1.1\r\n" HOST "\r\n", 400);
	expect_error("GET /a\x7f HTTP/1.1\r\n" HOST "\r\n", 400);
	expect_error("GET /caf\xc3\xa9 HTTP/1.1\r\n" HOST "\r\n", 400);
}

static char *request_with_target_len(size_t target_len)
{
	char *target = xmalloc(target_len + 1);
	target[0] = '/';
	memset(target + 1, 'a', target_len - 1);
	target[target_len] = '\0';
	char *req = xasprintf("GET %s HTTP/1.1\r\n" HOST "\r\n", target);
	free(target);
	return req;
}

Test(http_parser, accepts_target_of_exactly_8192_bytes)
{
	char *req = request_with_target_len(HTTP_MAX_TARGET);
	struct parsed p = expect_done(req);
	cr_assert_eq(p.head.target.len, HTTP_MAX_TARGET);
	free(req);
}

Test(http_parser, rejects_target_over_8192_bytes_with_414)
{
	char *req = request_with_target_len(HTTP_MAX_TARGET + 1);
	expect_error(req, 414);
	free(req);
}

Test(http_parser, rejects_long_target_with_414_before_the_line_ends)
{
	char *req = request_with_target_len(HTTP_MAX_TARGET + 100);
	/* The first byte past the limit decides it; the rest of the line never arrives. */
	size_t cut = strlen("GET ") + HTTP_MAX_TARGET + 1;
	struct parsed p = parse_with_limit(req, cut, MAX_HEAD);
	cr_assert_eq(p.r, HTTP_PARSE_ERROR);
	cr_assert_eq(p.status, 414);
	free(req);
}

Test(http_parser, answers_414_when_head_limit_is_reached_inside_target)
{
	char *req = request_with_target_len(3000);
	struct parsed p = parse_with_limit(req, strlen(req), 1024);
	cr_assert_eq(p.r, HTTP_PARSE_ERROR);
	cr_assert_eq(p.status, 414);
	free(req);
}

Test(http_parser, accepts_http_1_0_without_host)
{
	struct parsed p = expect_done("GET / HTTP/1.0\r\n\r\n");
	cr_assert_eq(p.head.version_minor, 0);
	cr_assert_eq(p.head.header_count, 0);
}

Test(http_parser, treats_higher_http_1_minor_versions_as_1_1)
{
	struct parsed p = expect_done("GET / HTTP/1.2\r\n" HOST "\r\n");
	cr_assert_eq(p.head.version_minor, 1);
	expect_error("GET / HTTP/1.9\r\n\r\n", 400); /* so Host is required */
}

Test(http_parser, rejects_http_2_and_later_with_505)
{
	expect_error("GET / HTTP/2.0\r\n" HOST "\r\n", 505);
	expect_error("GET / HTTP/3.0\r\n" HOST "\r\n", 505);
	expect_error("GET / HTTP/9.9\r\n" HOST "\r\n", 505);
}

Test(http_parser, rejects_http_2_connection_preface_with_505)
{
	expect_error("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
}

Test(http_parser, rejects_http_0_9_with_505)
{
	expect_error("GET / HTTP/0.9\r\n\r\n", 505);
	expect_error("GET /index.html\r\n", 505);
}

Test(http_parser, rejects_malformed_versions_with_400)
{
	expect_error("GET / HTTP/1\r\n" HOST "\r\n", 400);
	expect_error("GET / HTTP/1.10\r\n" HOST "\r\n", 400);
	expect_error("GET / HTTP/11\r\n" HOST "\r\n", 400);
	expect_error("GET / http/1.1\r\n" HOST "\r\n", 400);
	expect_error("GET / HTTPS/1.1\r\n" HOST "\r\n", 400);
	expect_error("GET / HTTP/1.x\r\n" HOST "\r\n", 400);
	expect_error("GET / HTTP/\r\n" HOST "\r\n", 400);
}

/* ---- line endings ---- */

Test(http_parser, rejects_bare_lf_line_endings)
{
	expect_error("GET / HTTP/1.1\n" HOST "\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nHost: a\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\n" HOST "\n", 400);
	expect_error("GET / HTTP/1.1\nHost: a\n\n", 400);
	expect_error("\nGET / HTTP/1.1\r\n" HOST "\r\n", 400);
}

Test(http_parser, rejects_bare_cr)
{
	expect_error("GET / HTTP/1.1\r" HOST "\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\n" HOST "\rX", 400);
	expect_error("GET /a\rb HTTP/1.1\r\n" HOST "\r\n", 400);
	expect_error("\rGET / HTTP/1.1\r\n" HOST "\r\n", 400);
}

Test(http_parser, skips_empty_lines_before_request_line)
{
	const char *req = "\r\n\r\nGET /x HTTP/1.1\r\n" HOST "\r\n";
	struct parsed p = expect_done(req);
	cr_assert_eq(p.head_len, strlen(req));
	cr_assert(slice_is(p.head.target, "/x"));
	cr_assert_eq(off(req, p.head.method_str.ptr), 4);
}

/* ---- header fields ---- */

Test(http_parser, trims_optional_whitespace_around_header_values)
{
	struct parsed p = expect_done("GET / HTTP/1.1\r\nHost:example.com\r\n"
				      "X-A: \t one two \t \r\nX-B:\t\r\nX-C:   \r\n\r\n");
	cr_assert(slice_is(p.head.headers[0].value, "example.com"));
	cr_assert(slice_is(p.head.headers[1].value, "one two"));
	cr_assert(slice_is(p.head.headers[2].value, ""));
	cr_assert(slice_is(p.head.headers[3].value, ""));
	cr_assert(slice_is(p.head.headers[3].name, "X-C"));
}

Test(http_parser, keeps_header_names_and_order_as_sent)
{
	struct parsed p =
		expect_done("GET / HTTP/1.1\r\nhOsT: h\r\nX-Thing: 1\r\nX-Thing: 2\r\n\r\n");
	cr_assert_eq(p.head.header_count, 3);
	cr_assert(slice_is(p.head.headers[0].name, "hOsT"));
	cr_assert(slice_is(p.head.headers[1].value, "1"));
	cr_assert(slice_is(p.head.headers[2].value, "2"));
}

Test(http_parser, accepts_tab_and_obs_text_in_header_values)
{
	struct parsed p = expect_done("GET / HTTP/1.1\r\n" HOST "X-Name: Jos\xc3\xa9\tM\r\n\r\n");
	cr_assert(slice_is(p.head.headers[1].value, "Jos\xc3\xa9\tM"));
}

Test(http_parser, rejects_whitespace_between_header_name_and_colon)
{
	expect_error("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\n" HOST "X-A\t: b\r\n\r\n", 400);
}

Test(http_parser, rejects_non_token_header_names)
{
	expect_error("GET / HTTP/1.1\r\n" HOST "X(A): b\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\n" HOST "X\x80: b\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\n" HOST "X A: b\r\n\r\n", 400);
}

Test(http_parser, rejects_empty_header_name)
{
	expect_error("GET / HTTP/1.1\r\n" HOST ": b\r\n\r\n", 400);
}

Test(http_parser, rejects_header_line_without_colon)
{
	expect_error("GET / HTTP/1.1\r\n" HOST "NoColon\r\n\r\n", 400);
}

Test(http_parser, rejects_obs_fold_continuation_lines)
{
	expect_error("GET / HTTP/1.1\r\n" HOST "X-A: one\r\n two\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\n" HOST "X-A: one\r\n\ttwo\r\n\r\n", 400);
}

Test(http_parser, rejects_whitespace_before_first_header)
{
	expect_error("GET / HTTP/1.1\r\n " HOST "\r\n", 400);
}

Test(http_parser, rejects_control_characters_in_header_values)
{
	for (int ch = 1; ch < 0x20; ch++) {
		if (ch == '\t' || ch == '\r' || ch == '\n')
			continue;
		char req[128];
		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\n" HOST "X-A: a%cb\r\n\r\n", ch);
		expect_error(req, 400);
	}
	expect_error("GET / HTTP/1.1\r\n" HOST "X-A: a\x7f\r\n\r\n", 400);
}

static char *request_with_headers(size_t n)
{
	size_t cap = 64 + n * 32;
	char *req = xmalloc(cap);
	size_t o = (size_t)snprintf(req, cap, "GET / HTTP/1.1\r\n" HOST);
	for (size_t i = 1; i < n; i++)
		o += (size_t)snprintf(req + o, cap - o, "X-H%zu: %zu\r\n", i, i);
	snprintf(req + o, cap - o, "\r\n");
	return req;
}

Test(http_parser, accepts_exactly_64_headers)
{
	char *req = request_with_headers(HTTP_MAX_HEADERS);
	struct parsed p = expect_done(req);
	cr_assert_eq(p.head.header_count, HTTP_MAX_HEADERS);
	cr_assert(slice_is(p.head.headers[63].name, "X-H63"));
	free(req);
}

Test(http_parser, rejects_65_headers_with_431)
{
	char *req = request_with_headers(HTTP_MAX_HEADERS + 1);
	expect_error(req, 431);
	free(req);
}

Test(http_parser, rejects_nul_byte_at_any_position_of_the_head)
{
	const char *base = "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nX-A: v v\r\n\r\n";
	size_t len = strlen(base);
	for (size_t i = 0; i < len; i++) {
		char *req = xmalloc(len);
		memcpy(req, base, len);
		req[i] = '\0';
		struct parsed p = parse_with_limit(req, len, MAX_HEAD);
		cr_assert_eq(p.r, HTTP_PARSE_ERROR, "NUL at %zu", i);
		cr_assert_eq(p.status, 400, "NUL at %zu", i);
		free(req);
	}
}

Test(http_parser, nul_byte_error_says_nul)
{
	static const char req[] = "GET /a\0b HTTP/1.1\r\n" HOST "\r\n";
	struct parsed p = parse_with_limit(req, sizeof(req) - 1, MAX_HEAD);
	cr_assert_eq(p.r, HTTP_PARSE_ERROR);
	cr_assert(strstr(p.detail, "NUL") != NULL);
}

/* ---- Host ---- */

Test(http_parser, rejects_http_1_1_request_without_host)
{
	expect_error("GET / HTTP/1.1\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", 400);
}

Test(http_parser, rejects_more_than_one_host_header)
{
	expect_error("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
	expect_error("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400);
}

Test(http_parser, rejects_host_values_that_are_not_an_authority)
{
	expect_error("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400);
}

Test(http_parser, accepts_host_with_port_ipv6_literal_or_empty)
{
	expect_done("GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n");
	expect_done("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
	expect_done("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	expect_done("GET / HTTP/1.1\r\nHost:\r\n\r\n");
}

/* ---- Content-Length ---- */

Test(http_parser, parses_content_length)
{
	struct parsed p = expect_done("POST /x HTTP/1.1\r\n" HOST "Content-Length: 42\r\n\r\n");
	cr_assert_eq(p.head.content_length, 42);
	p = expect_done("POST /x HTTP/1.1\r\n" HOST "content-length: 0\r\n\r\n");
	cr_assert_eq(p.head.content_length, 0);
	p = expect_done("POST /x HTTP/1.1\r\n" HOST "Content-Length: 007\r\n\r\n");
	cr_assert_eq(p.head.content_length, 7);
}

Test(http_parser, content_length_is_minus_one_when_absent)
{
	struct parsed p = expect_done("POST /x HTTP/1.1\r\n" HOST "\r\n");
	cr_assert_eq(p.head.content_length, -1);
}

Test(http_parser, rejects_content_length_that_is_not_only_digits)
{
	static const char *const bad[] = { "+5", "-1", "5 5", "0x10", "", "5,5", "5, 5",
					   "1e3", "5.0", "five" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char req[128];
		snprintf(req, sizeof(req), "POST / HTTP/1.1\r\n" HOST "Content-Length: %s\r\n\r\n",
			 bad[i]);
		expect_error(req, 400);
	}
}

Test(http_parser, accepts_content_length_up_to_2_pow_53)
{
	struct parsed p =
		expect_done("POST / HTTP/1.1\r\n" HOST "Content-Length: 9007199254740992\r\n\r\n");
	cr_assert_eq(p.head.content_length, 9007199254740992LL);
}

Test(http_parser, rejects_content_length_above_2_pow_53)
{
	expect_error("POST / HTTP/1.1\r\n" HOST "Content-Length: 9007199254740993\r\n\r\n", 400);
	expect_error("POST / HTTP/1.1\r\n" HOST
		     "Content-Length: 99999999999999999999999999999999999999\r\n\r\n",
		     400);
}

Test(http_parser, accepts_repeated_identical_content_length)
{
	struct parsed p = expect_done("POST / HTTP/1.1\r\n" HOST
				      "Content-Length: 5\r\nContent-Length: 05\r\n\r\n");
	cr_assert_eq(p.head.content_length, 5);
}

Test(http_parser, rejects_differing_duplicate_content_length)
{
	expect_error("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
		     400);
	expect_error("POST / HTTP/1.1\r\n" HOST "Content-Length: 0\r\nContent-Length: 1\r\n\r\n",
		     400);
}

/* ---- Transfer-Encoding ---- */

Test(http_parser, parses_chunked_transfer_encoding_case_insensitively)
{
	struct parsed p =
		expect_done("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n");
	cr_assert(p.head.chunked);
	cr_assert_eq(p.head.content_length, -1);
	p = expect_done("POST / HTTP/1.1\r\n" HOST "transfer-encoding:  Chunked \r\n\r\n");
	cr_assert(p.head.chunked);
}

Test(http_parser, rejects_content_length_together_with_transfer_encoding)
{
	expect_error("POST / HTTP/1.1\r\n" HOST
		     "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		     400);
	expect_error("POST / HTTP/1.1\r\n" HOST
		     "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
		     400);
	/* Smuggling check wins over "unsupported coding". */
	expect_error("POST / HTTP/1.1\r\n" HOST
		     "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n",
		     400);
}

Test(http_parser, rejects_transfer_codings_other_than_chunked_with_501)
{
	static const char *const bad[] = { "gzip", "gzip, chunked", "chunked, gzip", "identity",
					   "chunked, chunked", "", "chunkedx", "\"chunked\"" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char req[128];
		snprintf(req, sizeof(req),
			 "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: %s\r\n\r\n", bad[i]);
		expect_error(req, 501);
	}
}

Test(http_parser, rejects_repeated_transfer_encoding_headers_with_501)
{
	expect_error("POST / HTTP/1.1\r\n" HOST
		     "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
		     501);
}

Test(http_parser, rejects_transfer_encoding_in_http_1_0)
{
	expect_error("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

/* ---- connection semantics ---- */

Test(http_parser, http_1_1_keeps_alive_by_default)
{
	cr_assert(expect_done("GET / HTTP/1.1\r\n" HOST "\r\n").head.keep_alive);
	cr_assert(expect_done("GET / HTTP/1.1\r\n" HOST "Connection: keep-alive\r\n\r\n")
			  .head.keep_alive);
}

Test(http_parser, http_1_1_closes_on_connection_close)
{
	cr_assert(!expect_done("GET / HTTP/1.1\r\n" HOST "Connection: close\r\n\r\n")
			   .head.keep_alive);
	cr_assert(!expect_done("GET / HTTP/1.1\r\n" HOST "Connection: Keep-Alive, CLOSE\r\n\r\n")
			   .head.keep_alive);
	cr_assert(!expect_done("GET / HTTP/1.1\r\n" HOST
			       "Connection: te\r\nConnection: close\r\n\r\n")
			   .head.keep_alive);
	cr_assert(expect_done("GET / HTTP/1.1\r\n" HOST "Connection: closed\r\n\r\n")
			  .head.keep_alive);
}

Test(http_parser, http_1_0_closes_by_default)
{
	cr_assert(!expect_done("GET / HTTP/1.0\r\n\r\n").head.keep_alive);
}

Test(http_parser, http_1_0_keeps_alive_with_connection_keep_alive)
{
	cr_assert(expect_done("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").head.keep_alive);
	cr_assert(!expect_done("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n")
			   .head.keep_alive);
}

Test(http_parser, detects_websocket_upgrade)
{
	struct parsed p = expect_done("GET /ws HTTP/1.1\r\n" HOST "Upgrade: websocket\r\n"
				      "Connection: Upgrade\r\n\r\n");
	cr_assert(p.head.upgrade_websocket);
	/* Firefox sends both tokens. */
	p = expect_done("GET /ws HTTP/1.1\r\n" HOST "Connection: keep-alive, Upgrade\r\n"
			"Upgrade: WebSocket\r\n\r\n");
	cr_assert(p.head.upgrade_websocket);
}

Test(http_parser, websocket_upgrade_needs_connection_upgrade_token)
{
	cr_assert(!expect_done("GET /ws HTTP/1.1\r\n" HOST "Upgrade: websocket\r\n\r\n")
			   .head.upgrade_websocket);
	cr_assert(!expect_done("GET /ws HTTP/1.1\r\n" HOST
			       "Upgrade: websocket\r\nConnection: keep-alive\r\n\r\n")
			   .head.upgrade_websocket);
}

Test(http_parser, upgrade_to_another_protocol_is_not_websocket)
{
	cr_assert(!expect_done("GET / HTTP/1.1\r\n" HOST
			       "Upgrade: h2c\r\nConnection: Upgrade\r\n\r\n")
			   .head.upgrade_websocket);
}

Test(http_parser, upgrade_is_ignored_in_http_1_0)
{
	cr_assert(!expect_done("GET /ws HTTP/1.0\r\nUpgrade: websocket\r\n"
			       "Connection: upgrade\r\n\r\n")
			   .head.upgrade_websocket);
}

/* ---- incremental feeding, limits, pipelining ---- */

Test(http_parser, real_client_heads_parse_identically_byte_by_byte)
{
	/* What curl, python http.client, nginx proxy_pass and a browser actually send. */
	static const char *const heads[] = {
		"GET /api/v1/healthz HTTP/1.1\r\nHost: localhost:8080\r\n"
		"User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
		"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
		"Accept-Encoding: identity\r\nContent-Length: 40\r\n"
		"Content-Type: application/json\r\n\r\n",
		"GET /api/v1/canvases/7/ws?token=abc.def.ghi&since=12 HTTP/1.1\r\n"
		"Host: flowstate_nodes\r\nX-Real-IP: 10.0.0.1\r\nUpgrade: websocket\r\n"
		"Connection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		"Sec-WebSocket-Version: 13\r\n\r\n",
		"GET /api/v1/me HTTP/1.0\r\nHost: flowstate_nodes\r\nConnection: close\r\n"
		"Authorization: Bearer x.y.z\r\n\r\n",
		"GET /api/v1/canvases/1/state HTTP/1.1\r\nHost: localhost\r\n"
		"sec-ch-ua: \"Chromium\";v=\"120\", \"Not?A_Brand\";v=\"8\"\r\n"
		"Accept-Language: en-US,en;q=0.9\r\nCookie: a=b; c=d\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++)
		expect_done(heads[i]);
}

Test(http_parser, rejects_garbage_after_first_bytes_without_waiting_for_more)
{
	/* Start of a TLS ClientHello: refused at byte 1, not after max_head. */
	static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
	struct parsed p = parse_with_limit(tls, 1, MAX_HEAD);
	cr_assert_eq(p.r, HTTP_PARSE_ERROR);
	cr_assert_eq(p.status, 400);
	p = parse_with_limit("GET /x HTTP/1.1\r\nBad Header", 27, MAX_HEAD);
	cr_assert_eq(p.r, HTTP_PARSE_ERROR);
}

Test(http_parser, incomplete_head_needs_more)
{
	static const char *const prefixes[] = { "", "G", "GET", "GET ", "GET /", "GET / HTTP/1.",
						"GET / HTTP/1.1\r", "GET / HTTP/1.1\r\n",
						"GET / HTTP/1.1\r\nHost: a\r\n",
						"GET / HTTP/1.1\r\nHost: a\r\n\r" };
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		struct parsed p = parse(prefixes[i]);
		cr_assert_eq(p.r, HTTP_PARSE_NEED_MORE, "%s", prefixes[i]);
	}
}

Test(http_parser, need_more_at_max_head_becomes_431)
{
	const char *req = "GET / HTTP/1.1\r\nHost: example.com\r\nX-Long: aaaaaaaaaaaaaaaa\r\n\r\n";
	struct parsed p = parse_with_limit(req, 40, 40);
	cr_assert_eq(p.r, HTTP_PARSE_ERROR);
	cr_assert_eq(p.status, 431);
	p = parse_with_limit(req, 39, 40);
	cr_assert_eq(p.r, HTTP_PARSE_NEED_MORE);
}

Test(http_parser, head_of_exactly_max_head_bytes_is_accepted)
{
	const char *req = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\nBODY";
	size_t head = strlen(req) - 4;
	struct parsed p = parse_with_limit(req, strlen(req), head);
	cr_assert_eq(p.r, HTTP_PARSE_DONE);
	cr_assert_eq(p.head_len, head);
	/* The server re-parses an exact copy of the head with max_head = head_len. */
	p = parse_with_limit(req, head, head);
	cr_assert_eq(p.r, HTTP_PARSE_DONE);
}

Test(http_parser, complete_head_longer_than_max_head_is_431_like_when_fed_slowly)
{
	const char *req = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
	struct parsed p = parse_with_limit(req, strlen(req), strlen(req) - 1);
	cr_assert_eq(p.r, HTTP_PARSE_ERROR);
	cr_assert_eq(p.status, 431);
}

Test(http_parser, head_len_stops_at_first_of_pipelined_requests)
{
	const char *first = "GET /one HTTP/1.1\r\n" HOST "\r\n";
	const char *both = "GET /one HTTP/1.1\r\n" HOST "\r\n"
			   "GET /two HTTP/1.1\r\n" HOST "Connection: close\r\n\r\n";
	struct parsed p = expect_done(both);
	cr_assert_eq(p.head_len, strlen(first));
	cr_assert(slice_is(p.head.target, "/one"));
	cr_assert(p.head.keep_alive);
	struct parsed q = expect_done(both + p.head_len);
	cr_assert(slice_is(q.head.target, "/two"));
	cr_assert(!q.head.keep_alive);
}

Test(http_parser, body_bytes_after_head_are_not_examined)
{
	static const char req[] = "POST / HTTP/1.1\r\n" HOST "Content-Length: 4\r\n\r\n\0\r\n\x01";
	struct parsed p = parse_with_limit(req, sizeof(req) - 1, MAX_HEAD);
	cr_assert_eq(p.r, HTTP_PARSE_DONE);
	cr_assert_eq(p.head_len, sizeof(req) - 1 - 4);
}

Test(http_parser, optional_out_pointers_may_be_null)
{
	struct http_request_head h;
	cr_assert_eq(http_parse_request_head("GET / HTTP/1.1\r\n\r\n", 18, MAX_HEAD, &h, NULL,
					     NULL, NULL),
		     HTTP_PARSE_ERROR);
	cr_assert_eq(http_parse_request_head("GET / HTTP/1.0\r\n\r\n", 18, MAX_HEAD, &h, NULL,
					     NULL, NULL),
		     HTTP_PARSE_DONE);
}

/* ---- helpers ---- */

Test(http_parser, header_get_is_case_insensitive_and_returns_first_match)
{
	struct parsed p = expect_done("GET / HTTP/1.1\r\n" HOST "X-Dup: 1\r\nx-dup: 2\r\n\r\n");
	const struct http_slice *v = http_header_get(&p.head, "X-DUP");
	cr_assert_not_null(v);
	cr_assert(slice_is(*v, "1"));
	cr_assert(slice_is(*http_header_get(&p.head, "host"), "example.com"));
}

Test(http_parser, header_get_returns_null_when_absent)
{
	struct parsed p = expect_done("GET / HTTP/1.1\r\n" HOST "X-Dup: 1\r\n\r\n");
	cr_assert_null(http_header_get(&p.head, "X-Du"));
	cr_assert_null(http_header_get(&p.head, "X-Dupe"));
	cr_assert_null(http_header_get(&p.head, ""));
}

Test(http_parser, header_count_counts_every_spelling_of_a_name)
{
	struct parsed p = expect_done("GET / HTTP/1.1\r\n" HOST "Sec-WebSocket-Key: a\r\n"
				      "X-Other: 1\r\nsec-websocket-key: b\r\n\r\n");
	cr_expect_eq(http_header_count(&p.head, "Sec-WebSocket-Key"), 2);
	cr_expect_eq(http_header_count(&p.head, "SEC-WEBSOCKET-KEY"), 2);
	cr_expect_eq(http_header_count(&p.head, "X-Other"), 1);
	cr_expect_eq(http_header_count(&p.head, "Sec-WebSocket-Version"), 0);
	cr_expect_eq(http_header_count(&p.head, "Sec-WebSocket-Ke"), 0);
}

static bool has_token(const char *value, const char *token)
{
	struct http_slice s = { value, strlen(value) };
	return http_header_has_token(&s, token);
}

Test(http_parser, header_has_token_matches_whole_list_elements_case_insensitively)
{
	cr_assert(has_token("Upgrade", "upgrade"));
	cr_assert(has_token("keep-alive, Upgrade", "upgrade"));
	cr_assert(has_token("keep-alive,upgrade", "UPGRADE"));
	cr_assert(has_token(" \tclose\t ", "close"));
	cr_assert(has_token("a, , ,close,", "close"));
}

Test(http_parser, header_has_token_does_not_match_substrings)
{
	cr_assert(!has_token("upgraded", "upgrade"));
	cr_assert(!has_token("xupgrade", "upgrade"));
	cr_assert(!has_token("keep-alive upgrade", "upgrade"));
	cr_assert(!has_token("", "close"));
	cr_assert(!has_token(",,", "close"));
	cr_assert(!http_header_has_token(NULL, "close"));
}

Test(http_parser, status_reason_covers_common_codes)
{
	cr_assert_str_eq(http_status_reason(200), "OK");
	cr_assert_str_eq(http_status_reason(201), "Created");
	cr_assert_str_eq(http_status_reason(101), "Switching Protocols");
	cr_assert_str_eq(http_status_reason(404), "Not Found");
	cr_assert_str_eq(http_status_reason(414), "URI Too Long");
	cr_assert_str_eq(http_status_reason(431), "Request Header Fields Too Large");
	cr_assert_str_eq(http_status_reason(505), "HTTP Version Not Supported");
	static const int codes[] = { 200, 201, 204, 304, 400, 401, 403, 404, 405, 409, 411,
				     413, 422, 426, 429, 500, 501, 503, 504 };
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *r = http_status_reason(codes[i]);
		cr_assert(strcmp(r, "Client Error") && strcmp(r, "Server Error") &&
				  strcmp(r, "Success") && strcmp(r, "Redirection"),
			  "%d has no specific reason", codes[i]);
	}
	cr_assert_not_null(http_status_reason(799));
	cr_assert_not_null(http_status_reason(-1));
}

Test(http_parser, a_rebased_head_reads_the_same_from_its_copy)
{
	char buf[] = "POST /api/v1/canvases/abc/operations?since=4 HTTP/1.1\r\nHost: x\r\n"
		     "Content-Length: 2\r\nX-Request-Id: r1\r\n\r\n{}";
	struct http_request_head h;
	size_t head_len = 0;
	cr_assert_eq(http_parse_request_head(buf, sizeof(buf) - 1, 8192, &h, &head_len, NULL, NULL),
		     HTTP_PARSE_DONE);
	char *copy = malloc(head_len);
	memcpy(copy, buf, head_len);
	http_request_head_rebase(&h, buf, copy, head_len);
	memset(buf, 'Z', sizeof(buf) - 1); /* the original is gone */
	cr_assert_eq(h.method, HTTP_POST);
	cr_assert_eq(h.path.len, strlen("/api/v1/canvases/abc/operations"));
	cr_assert_eq(memcmp(h.path.ptr, "/api/v1/canvases/abc/operations", h.path.len), 0);
	cr_assert_eq(memcmp(h.query.ptr, "since=4", h.query.len), 0);
	cr_assert_eq(memcmp(h.method_str.ptr, "POST", 4), 0);
	const struct http_slice *rid = http_header_get(&h, "X-Request-Id");
	cr_assert_not_null(rid);
	cr_assert_eq(memcmp(rid->ptr, "r1", 2), 0);
	cr_assert_eq(h.content_length, 2);
	free(copy);
}
