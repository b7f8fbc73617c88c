/*
 * Input rules for user-supplied strings (emails, names, passwords, ids) shared by the REST
 * handlers, and a strict UTF-8 validator shared with the WebSocket codec.
 *
 * All functions are pure and thread-safe. On failure, *why (when why is not NULL) is set to a
 * short static English reason suitable for an error "detail"; it is never freed. Inputs are
 * NUL-terminated C strings unless a length is given; a NULL input is rejected, never
 * dereferenced.
 */
#ifndef FLOWSTATE_VALIDATE_H
#define FLOWSTATE_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#define VALIDATE_EMAIL_MAX 254
#define VALIDATE_EMAIL_LOCAL_MAX 64
/* Buffer size that always fits a normalized email. */
#define VALIDATE_EMAIL_SIZE (VALIDATE_EMAIL_MAX + 1)
#define VALIDATE_DISPLAY_NAME_MAX 100
#define VALIDATE_PASSWORD_MIN 8
#define VALIDATE_PASSWORD_MAX 256
/* Length of a canonical UUID string, without the NUL. */
#define VALIDATE_UUID_LEN 36

/*
 * Strict UTF-8 (Unicode 15, Table 3-7): no overlong forms, no surrogates (U+D800..U+DFFF),
 * nothing above U+10FFFF, no truncated sequences. NUL bytes are valid UTF-8 and are accepted.
 */
bool validate_utf8(const char *s, size_t len);

/*
 * The same check for a stream that arrives in pieces (WebSocket continuation frames): returns
 * false if s contains an invalid sequence; returns true if it is valid except that it may end
 * in the first bytes of a multi-byte sequence that could still be completed. *complete_len gets
 * the length of the prefix made of whole characters; the caller carries the rest (at most 3
 * bytes) over to the next piece.
 */
bool validate_utf8_partial(const char *s, size_t len, size_t *complete_len);

/*
 * Trims surrounding ASCII whitespace (space, \t, \n, \v, \f, \r) and lowercases ASCII letters
 * into out. Requires exactly one '@', a non-empty local part of at most 64 bytes, a domain with
 * a dot and no empty labels, no whitespace, control characters or address specials
 * ("(),:;<>[\]), valid UTF-8, and at most 254 bytes in total. Fails (with out set to "") if
 * out_size is too small for the result; VALIDATE_EMAIL_SIZE always suffices.
 */
bool validate_email_normalize(const char *in, char *out, size_t out_size, const char **why)
	__attribute__((warn_unused_result));

/*
 * A display name: 1..100 bytes after trimming surrounding whitespace, valid UTF-8, no control
 * characters (see validate_name). Store the trimmed form (validate_trim).
 */
bool validate_display_name(const char *s, const char **why) __attribute__((warn_unused_result));

/* A password: 8..256 bytes, any content (the KDF takes bytes). */
bool validate_password(const char *s, const char **why) __attribute__((warn_unused_result));

/*
 * A workspace, canvas or checkpoint name: 1..max bytes, not only whitespace, valid UTF-8, and
 * no control characters: C0, DEL, C1, the line/paragraph separators U+2028/U+2029, and the
 * bidirectional embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069), which let
 * a name display as something else in other users' clients.
 */
bool validate_name(const char *s, size_t max, const char **why)
	__attribute__((warn_unused_result));

/*
 * A calendar date as YYYY-MM-DD (exactly that: four-digit year 1970..9999, two-digit month and
 * day, a day the month has). *days gets the days since 1970-01-01 (proleptic Gregorian).
 */
bool validate_date(const char *s, long *days) __attribute__((warn_unused_result));
/* The YYYY-MM-DD form of days since 1970-01-01 (0 .. validate_date's maximum). */
void validate_date_format(long days, char out[11]);

/* The canonical 8-4-4-4-12 hex form of a UUID (any version, either case), nothing else. */
bool validate_uuid(const char *s);

/*
 * Returns a pointer to the first non-whitespace byte of s and stores in *len the length of s
 * without its surrounding ASCII whitespace. The result points into s (not NUL-terminated at
 * *len); nothing is allocated.
 */
const char *validate_trim(const char *s, size_t *len);

#endif
