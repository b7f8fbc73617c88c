/*
 * Access tokens: JWTs signed with HS256 (libjwt 1.10 for encoding and decoding).
 *
 * The algorithm is pinned. libjwt 1.10's jwt_decode() accepts a token signed with any HMAC
 * algorithm under the same key (HS384, HS512), and with a zero-length key it verifies nothing
 * at all and reports alg "none". So jwt_verify() reads the header itself, refuses every alg
 * but "HS256", checks the HMAC in constant time itself, and only then lets libjwt decode; an
 * empty secret verifies nothing.
 *
 * Claims issued: sub, iat, exp, typ ("access", ...) and a random jti. Times are Unix seconds
 * passed in by the caller, so tests control the clock.
 *
 * Ownership: jwt_issue() returns a string the caller frees with free(). Everything is
 * thread-safe (no shared state).
 */

/*
 * This file shares its name with libjwt's <jwt.h>. common/jwt.c defines
 * FLOWSTATE_JWT_INCLUDE_LIBJWT and includes <jwt.h>, which finds this file through the
 * common/ include directory; #include_next then pulls in libjwt's header from the directories
 * after it. Everyone else gets only the API below.
 */
#if defined(FLOWSTATE_JWT_INCLUDE_LIBJWT) && !defined(FLOWSTATE_LIBJWT_INCLUDED)
#define FLOWSTATE_LIBJWT_INCLUDED
#include_next <jwt.h>
#endif

#ifndef FLOWSTATE_JWT_H
#define FLOWSTATE_JWT_H

#include <stdbool.h>
#include <stddef.h>

/* Longer tokens are refused before any parsing. */
#define JWT_MAX_TOKEN_LEN 4096

enum jwt_verify_status {
	JWT_OK,
	JWT_MALFORMED,     /* not a JWT, bad JSON, missing/mistyped claims, subject too long */
	JWT_BAD_SIGNATURE, /* signature does not match (or the secret is empty) */
	JWT_WRONG_ALG,     /* header alg is anything but "HS256", including "none" */
	JWT_EXPIRED,       /* exp <= now */
	JWT_WRONG_TYPE,    /* typ claim differs from the one expected */
};

/*
 * Issues a token for subject with claim typ, valid from now for ttl_seconds (> 0). secret must
 * be non-empty. Fails on invalid arguments or if the CSPRNG fails; *out_token is then NULL.
 */
bool jwt_issue(const unsigned char *secret, size_t secret_len, const char *subject,
	       const char *typ, long long now, long long ttl_seconds, char **out_token)
	__attribute__((warn_unused_result));

/*
 * Verifies token and, on JWT_OK, copies its sub claim into subject_out (subject_size bytes,
 * NUL included; a longer subject is JWT_MALFORMED). subject_out is set to "" on any failure.
 * expected_typ must match the typ claim exactly.
 */
enum jwt_verify_status jwt_verify(const unsigned char *secret, size_t secret_len,
				  const char *token, const char *expected_typ, long long now,
				  char *subject_out, size_t subject_size)
	__attribute__((warn_unused_result));

/* Stable lowercase name ("ok", "expired", ...) for logs and error codes. */
const char *jwt_verify_status_name(enum jwt_verify_status status);

#endif
