/*
 * Request routing helpers over the slices produced by http_parser: query-string lookup with
 * percent-decoding, and path matching with captured segments. Pure; no allocation.
 *
 * Ownership: inputs are borrowed slices; captures point into the path slice's buffer; decoded
 * values are copied into the caller's buffer.
 *
 * Query strings are "k=v&k=v" (application/x-www-form-urlencoded as browsers send it):
 * pairs are split on '&', empty pairs are skipped, a pair without '=' has an empty value,
 * keys are compared after percent-decoding, '+' decodes to a space. Values are bytes, not
 * checked to be UTF-8.
 *
 * Path patterns are literal text in which a whole segment "{}" captures one non-empty segment
 * (no '/'). Matching is exact: same number of segments, no trailing-slash tolerance
 * ("/a/b/" does not match "/a/b": one resource has one URL, and a stray slash is a 404
 * rather than a silent alias), no empty segments. Captures are raw (not percent-decoded),
 * and a capture is never "." or ".." so a dot-segment cannot stand in for an id.
 */
#ifndef FLOWSTATE_QUERY_H
#define FLOWSTATE_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "codec/http_parser.h"

/*
 * Finds the first pair whose key is key and percent-decodes its value into out (always
 * NUL-terminated when out_size > 0; "" on failure). false when the key is absent, the value
 * has a malformed %-escape or decodes to a NUL byte, or does not fit in out_size - 1 bytes.
 * Only the first matching pair is considered, even if it is malformed.
 */
bool query_get(struct http_slice query, const char *key, char *out, size_t out_size)
	__attribute__((warn_unused_result));

/* Whether a pair with this key is present (whatever its value). */
bool query_has(struct http_slice query, const char *key);

/*
 * Reads key as a strict decimal integer ([-]digits, no '+', no spaces, no other characters)
 * in [min, max]. Absent: true with *present = false and *out unchanged (preset a default).
 * Present and valid: true, *present = true, *out = value. Present but empty, malformed or out
 * of range: false (*present = true, *out unchanged). present may be NULL.
 */
bool query_get_int64(struct http_slice query, const char *key, long long min, long long max,
		     long long *out, bool *present) __attribute__((warn_unused_result));

/*
 * Reads key as a plain decimal number: digits, optionally a '.' and more digits ("2", "0.5",
 * "1.25"; no sign, exponent, spaces, "inf" or "nan"), at most 16 characters, in [min, max].
 * Absent, present and valid, present but bad: as query_get_int64.
 */
bool query_get_decimal(struct http_slice query, const char *key, double min, double max,
		       double *out, bool *present) __attribute__((warn_unused_result));

/*
 * Matches path against pattern (e.g. "/api/v1/workspaces/{}/members"). On a match stores
 * the captured segments in captures[0..*ncaptures) and returns true. A pattern with more
 * "{}" than max_captures never matches. ncaptures may be NULL.
 */
bool path_match(struct http_slice path, const char *pattern, struct http_slice *captures,
		size_t max_captures, size_t *ncaptures) __attribute__((warn_unused_result));

#endif
