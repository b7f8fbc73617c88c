#include <criterion/criterion.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "codec/query.h"

static struct http_slice S(const char *s)
{
	return (struct http_slice){ s, strlen(s) };
}

static bool slice_is(struct http_slice s, const char *str)
{
	return s.len == strlen(str) && memcmp(s.ptr, str, s.len) == 0;
}

/* ---- query_get ---- */

Test(query, has_tells_a_present_key_from_an_absent_one_whatever_the_value)
{
	cr_assert(query_has(S("a=1&from_date=&b"), "from_date"));
	cr_assert(query_has(S("a=1&from_date=&b"), "b"));
	cr_assert(query_has(S("from%5Fdate=x"), "from_date"));
	cr_assert_not(query_has(S("a=1&from_dates=2"), "from_date"));
	cr_assert_not(query_has(S(""), "a"));
}

Test(query, decimal_takes_plain_numbers_in_range_only)
{
	double v = -1;
	bool present = true;
	cr_assert(query_get_decimal(S("a=1"), "scale", 0.01, 100, &v, &present));
	cr_assert(!present && v == -1, "absent: unchanged");
	static const struct {
		const char *q;
		double want;
	} good[] = { { "scale=2", 2 }, { "scale=0.5", 0.5 }, { "scale=1.25", 1.25 },
		     { "scale=100", 100 }, { "scale=0.01", 0.01 }, { "scale=007.50", 7.5 } };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cr_assert(query_get_decimal(S(good[i].q), "scale", 0.01, 100, &v, &present), "%s",
			  good[i].q);
		cr_assert(present && v == good[i].want, "%s gave %g", good[i].q, v);
	}
	static const char *const bad[] = { "scale=", "scale=0", "scale=-1", "scale=+1",
					   "scale=1e2", "scale=.5", "scale=2.", "scale=nan",
					   "scale=inf", "scale=1.2.3", "scale=100.0001",
					   "scale=0.001", "scale= 1", "scale=1%20",
					   "scale=12345678901234567" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = -1;
		cr_assert_not(query_get_decimal(S(bad[i]), "scale", 0.01, 100, &v, &present), "%s",
			      bad[i]);
		cr_assert(present && v == -1, "%s", bad[i]);
	}
}

Test(query, get_finds_first_value_of_key)
{
	char out[32];
	cr_assert(query_get(S("a=1&since=42&since=43"), "since", out, sizeof(out)));
	cr_assert_str_eq(out, "42");
	cr_assert(query_get(S("a=1&b=2"), "a", out, sizeof(out)));
	cr_assert_str_eq(out, "1");
}

Test(query, get_decodes_percent_escapes_and_plus)
{
	char out[64];
	cr_assert(query_get(S("q=a+b%20c%2Bd%3d%e2%82%AC%2f"), "q", out, sizeof(out)));
	cr_assert_str_eq(out, "a b c+d=\xe2\x82\xac/");
}

Test(query, get_keeps_equals_signs_inside_value)
{
	char out[64];
	cr_assert(query_get(S("token=abc.def==&x=1"), "token", out, sizeof(out)));
	cr_assert_str_eq(out, "abc.def==");
}

Test(query, get_returns_false_and_empty_string_for_absent_key)
{
	char out[16] = "junk";
	cr_assert(!query_get(S("a=1&b=2"), "c", out, sizeof(out)));
	cr_assert_str_eq(out, "");
	cr_assert(!query_get(S(""), "a", out, sizeof(out)));
	cr_assert(!query_get((struct http_slice){ NULL, 0 }, "a", out, sizeof(out)));
}

Test(query, get_does_not_match_key_prefixes_or_suffixes)
{
	char out[16];
	cr_assert(!query_get(S("sinceX=1&xsince=2&sinc=3"), "since", out, sizeof(out)));
	cr_assert(!query_get(S("since"), "sinc", out, sizeof(out)));
}

Test(query, get_key_without_equals_has_empty_value)
{
	char out[16] = "junk";
	cr_assert(query_get(S("a=1&flag&b=2"), "flag", out, sizeof(out)));
	cr_assert_str_eq(out, "");
	cr_assert(query_get(S("flag="), "flag", out, sizeof(out)));
	cr_assert_str_eq(out, "");
}

Test(query, get_skips_empty_pairs)
{
	char out[16];
	cr_assert(query_get(S("&&a=1&&"), "a", out, sizeof(out)));
	cr_assert_str_eq(out, "1");
	cr_assert(!query_get(S("&&&"), "", out, sizeof(out)));
}

Test(query, get_compares_decoded_keys)
{
	char out[16];
	cr_assert(query_get(S("%73ince=5"), "since", out, sizeof(out)));
	cr_assert_str_eq(out, "5");
	cr_assert(query_get(S("a+b=5"), "a b", out, sizeof(out)));
	/* A key with a broken escape is not the key asked for. */
	cr_assert(query_get(S("%zz=1&a=2"), "a", out, sizeof(out)));
	cr_assert_str_eq(out, "2");
}

Test(query, get_rejects_malformed_percent_escapes)
{
	static const char *const bad[] = { "v=%", "v=%4", "v=%zz", "v=%4g", "v=%g4", "v=a%",
					   "v=%%41", "v=%-1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char out[16] = "junk";
		cr_assert(!query_get(S(bad[i]), "v", out, sizeof(out)), "%s", bad[i]);
		cr_assert_str_eq(out, "");
	}
}

Test(query, get_rejects_decoded_nul_byte)
{
	char out[16];
	cr_assert(!query_get(S("v=a%00b"), "v", out, sizeof(out)));
}

Test(query, get_only_considers_first_match_even_when_malformed)
{
	char out[16];
	cr_assert(!query_get(S("v=%zz&v=ok"), "v", out, sizeof(out)));
}

Test(query, get_rejects_value_too_long_for_buffer)
{
	char out[4];
	cr_assert(query_get(S("v=abc"), "v", out, sizeof(out)));
	cr_assert_str_eq(out, "abc");
	cr_assert(!query_get(S("v=abcd"), "v", out, sizeof(out)));
	cr_assert_str_eq(out, "");
	/* Decoded length is what counts: three escapes fit in four bytes. */
	cr_assert(query_get(S("v=%41%42%43"), "v", out, sizeof(out)));
	cr_assert_str_eq(out, "ABC");
	cr_assert(!query_get(S("v="), "v", out, 0));
}

Test(query, get_never_reads_past_the_slice)
{
	/* The query slice ends before "&v=2"; an exact heap copy lets ASan see overreads. */
	const char *text = "v=%4";
	char *q = xmalloc(strlen(text));
	memcpy(q, text, strlen(text));
	char out[16];
	cr_assert(!query_get((struct http_slice){ q, strlen(text) }, "v", out, sizeof(out)));
	cr_assert(!query_get((struct http_slice){ q, 3 }, "v", out, sizeof(out)));
	cr_assert(query_get((struct http_slice){ q, 2 }, "v", out, sizeof(out)));
	cr_assert_str_eq(out, "");
	free(q);
}

/* ---- query_get_int64 ---- */

Test(query, get_int64_parses_value_in_range)
{
	long long v = -7;
	bool present = false;
	cr_assert(query_get_int64(S("since=42&limit=5"), "since", 0, 100, &v, &present));
	cr_assert(present);
	cr_assert_eq(v, 42);
	cr_assert(query_get_int64(S("x=-5"), "x", -10, 10, &v, &present));
	cr_assert_eq(v, -5);
	cr_assert(query_get_int64(S("x=007"), "x", 0, 10, &v, NULL));
	cr_assert_eq(v, 7);
	cr_assert(query_get_int64(S("x=%31%32"), "x", 0, 100, &v, NULL));
	cr_assert_eq(v, 12);
}

Test(query, get_int64_absent_is_success_without_presence_and_keeps_default)
{
	long long v = 99;
	bool present = true;
	cr_assert(query_get_int64(S("a=1"), "since", 0, 100, &v, &present));
	cr_assert(!present);
	cr_assert_eq(v, 99);
	cr_assert(query_get_int64(S(""), "since", 0, 100, &v, NULL));
	cr_assert_eq(v, 99);
}

Test(query, get_int64_rejects_out_of_range)
{
	long long v = 99;
	bool present = false;
	cr_assert(!query_get_int64(S("limit=101"), "limit", 1, 100, &v, &present));
	cr_assert(present);
	cr_assert_eq(v, 99);
	cr_assert(!query_get_int64(S("limit=0"), "limit", 1, 100, &v, &present));
	cr_assert(query_get_int64(S("limit=1"), "limit", 1, 100, &v, &present));
	cr_assert(query_get_int64(S("limit=100"), "limit", 1, 100, &v, &present));
	cr_assert_eq(v, 100);
}

Test(query, get_int64_rejects_non_decimal_text)
{
	static const char *const bad[] = { "x=",	"x=-",	 "x=+1",  "x=%201", "x=1%20",
					   "x=1.0", "x=0x1", "x=1e3", "x=--1",  "x=1-",
					   "x=one", "x=+",   "x=1+",  "x=%zz",  "x=1%00" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long long v = 99;
		bool present = false;
		cr_assert(!query_get_int64(S(bad[i]), "x", LLONG_MIN, LLONG_MAX, &v, &present),
			  "%s", bad[i]);
		cr_assert(present);
		cr_assert_eq(v, 99);
	}
}

Test(query, get_int64_handles_extremes_and_rejects_overflow)
{
	long long v = 0;
	const long long lo = LLONG_MIN, hi = LLONG_MAX;
	cr_assert(query_get_int64(S("x=9223372036854775807"), "x", lo, hi, &v, NULL));
	cr_assert_eq(v, LLONG_MAX);
	cr_assert(query_get_int64(S("x=-9223372036854775808"), "x", lo, hi, &v, NULL));
	cr_assert_eq(v, LLONG_MIN);
	cr_assert(!query_get_int64(S("x=9223372036854775808"), "x", lo, hi, &v, NULL));
	cr_assert(!query_get_int64(S("x=-9223372036854775809"), "x", lo, hi, &v, NULL));
	cr_assert(!query_get_int64(S("x=99999999999999999999999"), "x", lo, hi, &v, NULL));
}

/* ---- path_match ---- */

Test(path, matches_literal_path_exactly)
{
	size_t n = 9;
	cr_assert(path_match(S("/api/v1/healthz"), "/api/v1/healthz", NULL, 0, &n));
	cr_assert_eq(n, 0);
	cr_assert(path_match(S("/"), "/", NULL, 0, NULL));
	cr_assert(!path_match(S("/api/v1/healthzz"), "/api/v1/healthz", NULL, 0, NULL));
	cr_assert(!path_match(S("/api/v1/health"), "/api/v1/healthz", NULL, 0, NULL));
	cr_assert(!path_match(S("/API/v1/healthz"), "/api/v1/healthz", NULL, 0, NULL));
}

Test(path, captures_segments)
{
	struct http_slice caps[4];
	size_t n = 0;
	cr_assert(path_match(S("/api/v1/workspaces/17/members"), "/api/v1/workspaces/{}/members",
			     caps, 4, &n));
	cr_assert_eq(n, 1);
	cr_assert(slice_is(caps[0], "17"));
	cr_assert(path_match(S("/a/x-1/b/y%202"), "/a/{}/b/{}", caps, 4, &n));
	cr_assert_eq(n, 2);
	cr_assert(slice_is(caps[0], "x-1"));
	cr_assert(slice_is(caps[1], "y%202")); /* raw, not decoded */
	cr_assert(path_match(S("/canvases/5/export.svg"), "/canvases/{}/export.svg", caps, 4, &n));
	cr_assert(slice_is(caps[0], "5"));
}

Test(path, requires_exact_segment_count)
{
	struct http_slice caps[4];
	cr_assert(!path_match(S("/api/v1/workspaces/17"), "/api/v1/workspaces/{}/members", caps, 4,
			      NULL));
	cr_assert(!path_match(S("/api/v1/workspaces/17/members/3"), "/api/v1/workspaces/{}/members",
			      caps, 4, NULL));
	cr_assert(!path_match(S("/api/v1/workspaces/1/2/members"), "/api/v1/workspaces/{}/members",
			      caps, 4, NULL));
}

Test(path, does_not_tolerate_trailing_slash)
{
	struct http_slice caps[4];
	cr_assert(!path_match(S("/api/v1/workspaces/"), "/api/v1/workspaces", caps, 4, NULL));
	cr_assert(!path_match(S("/api/v1/workspaces/17/"), "/api/v1/workspaces/{}", caps, 4, NULL));
	cr_assert(!path_match(S("/api/v1/workspaces"), "/api/v1/workspaces/", caps, 4, NULL));
}

Test(path, capture_must_be_non_empty)
{
	struct http_slice caps[4];
	cr_assert(!path_match(S("/api/v1/workspaces//members"), "/api/v1/workspaces/{}/members",
			      caps, 4, NULL));
	cr_assert(!path_match(S("/a/"), "/a/{}", caps, 4, NULL));
}

Test(path, capture_is_never_a_dot_segment)
{
	struct http_slice caps[4];
	cr_assert(!path_match(S("/canvases/../state"), "/canvases/{}/state", caps, 4, NULL));
	cr_assert(!path_match(S("/canvases/./state"), "/canvases/{}/state", caps, 4, NULL));
	cr_assert(path_match(S("/canvases/.x/state"), "/canvases/{}/state", caps, 4, NULL));
	cr_assert(path_match(S("/canvases/.../state"), "/canvases/{}/state", caps, 4, NULL));
}

Test(path, pattern_with_more_captures_than_room_never_matches)
{
	struct http_slice caps[1];
	size_t n = 5;
	cr_assert(!path_match(S("/a/1/b/2"), "/a/{}/b/{}", caps, 1, &n));
	cr_assert_eq(n, 0);
	cr_assert(path_match(S("/a/1/b"), "/a/{}/b", caps, 1, &n));
	cr_assert_eq(n, 1);
}

Test(path, braces_inside_a_segment_are_literal)
{
	struct http_slice caps[2];
	size_t n = 9;
	cr_assert(path_match(S("/a{}"), "/a{}", caps, 2, &n));
	cr_assert_eq(n, 0);
	cr_assert(!path_match(S("/ax"), "/a{}", caps, 2, &n));
	cr_assert(path_match(S("/{}x"), "/{}x", caps, 2, &n));
	cr_assert_eq(n, 0);
}

Test(path, never_reads_past_the_slice)
{
	const char *text = "/api/v1/canvases/12";
	size_t len = strlen(text);
	char *p = xmalloc(len);
	memcpy(p, text, len);
	struct http_slice caps[2];
	size_t n = 0;
	cr_assert(path_match((struct http_slice){ p, len }, "/api/v1/canvases/{}", caps, 2, &n));
	cr_assert(slice_is(caps[0], "12"));
	cr_assert(path_match((struct http_slice){ p, len - 1 }, "/api/v1/canvases/{}", caps, 2,
			     &n));
	cr_assert(slice_is(caps[0], "1"));
	cr_assert(!path_match((struct http_slice){ p, len }, "/api/v1/canvases/{}/state", caps, 2,
			      &n));
	free(p);
}
