/*
 * Access tokens: JWTs signed with HS256 (libjwt 1.10 for encoding and decoding).
 *
 * The algorithm is pinned. libjwt 1.10's jwt_decode() accepts a token signed with any HMAC
 * algorithm under the same key (HS384, HS512), and with a zero-length key it verifies nothing
 * at all and reports alg "none". So access_token_verify() reads the header itself, refuses every alg
 * but "HS256", checks the HMAC in constant time itself, and only then lets libjwt decode; an
 * empty secret verifies nothing.
 *
 * Claims issued: sub, iat, exp, typ ("access", ...) and a random jti. Times are Unix seconds
 * passed in by the caller, so tests control the clock.
 *
 * Ownership: access_token_issue() returns a string the caller frees with free(). Everything is
 * thread-safe (no shared state).
 */

#ifndef FLOWSTATE_AUTH_ACCESS_TOKEN_H
#define FLOWSTATE_AUTH_ACCESS_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

/* Longer tokens are refused before any parsing. */
#define ACCESS_TOKEN_MAX_LEN 4096

enum access_token_status {
	ACCESS_TOKEN_OK,
	ACCESS_TOKEN_MALFORMED,     /* not a JWT, bad JSON, missing/mistyped claims, subject too long */
	ACCESS_TOKEN_BAD_SIGNATURE, /* signature does not match (or the secret is empty) */
	ACCESS_TOKEN_WRONG_ALG,     /* header alg is anything but "HS256", including "none" */
	ACCESS_TOKEN_EXPIRED,       /* exp <= now */
	ACCESS_TOKEN_WRONG_TYPE,    /* typ claim differs from the one expected */
	ACCESS_TOKEN_BAD_LIFETIME,  /* iat missing or in the future, or exp - iat too long */
};

/* Clock skew tolerated between the issuing and the verifying node (seconds). */
#define ACCESS_TOKEN_LEEWAY 60

/*
 * Issues a token for subject with claim typ, valid from now for ttl_seconds (> 0). secret must
 * be non-empty. Fails on invalid arguments or if the CSPRNG fails; *out_token is then NULL.
 */
bool access_token_issue(const unsigned char *secret, size_t secret_len, const char *subject,
	       const char *typ, long long now, long long ttl_seconds, char **out_token)
	__attribute__((warn_unused_result));

/*
 * Verifies token and, on ACCESS_TOKEN_OK, copies its sub claim into subject_out (subject_size bytes,
 * NUL included; a longer subject is ACCESS_TOKEN_MALFORMED). subject_out is set to "" on any failure.
 * expected_typ must match the typ claim exactly.
 */
enum access_token_status access_token_verify(const unsigned char *secret, size_t secret_len,
				  const char *token, const char *expected_typ, long long now,
				  char *subject_out, size_t subject_size)
	__attribute__((warn_unused_result));

/* The exp claim of a token that access_token_verify accepted (0 when it has none). It checks
 * nothing: for caching what a verification established. */
long long access_token_expires(const char *token);

/*
 * As access_token_verify, and the token's times must be believable: an iat claim, not more
 * than ACCESS_TOKEN_LEEWAY seconds in the future, and exp - iat at most max_lifetime seconds
 * (the lifetime this deployment issues). Anything else is ACCESS_TOKEN_BAD_LIFETIME: a token
 * minted with the secret but outside the rules (a leaked secret, a forged long-lived token) is
 * refused rather than honoured for years.
 */
enum access_token_status access_token_verify_lifetime(const unsigned char *secret,
						      size_t secret_len, const char *token,
						      const char *expected_typ, long long now,
						      long long max_lifetime, char *subject_out,
						      size_t subject_size)
	__attribute__((warn_unused_result));

/* Stable lowercase name ("ok", "expired", ...) for logs and error codes. */
const char *access_token_status_name(enum access_token_status status);

#endif
