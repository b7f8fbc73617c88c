/*
 * Password hashing with scrypt (memory-hard, OpenSSL's EVP_PBE_scrypt).
 *
 * Encoded form, self-describing so parameters can be raised later without a migration:
 *
 *   scrypt$<log2 N>$<r>$<p>$<salt>$<hash>
 *
 * with a 16-byte random salt and a 32-byte derived key, both unpadded base64url. Hashing at the
 * default parameters takes tens of milliseconds and 32 MiB, so callers run these on worker
 * threads, never on the event loop. Every function is thread-safe.
 *
 * Ownership: password_hash() returns a string the caller frees with free(); the string from
 * password_dummy_hash() is owned by this module and lives until exit.
 */
#ifndef FLOWSTATE_PASSWORD_H
#define FLOWSTATE_PASSWORD_H

#include <stdbool.h>
#include <stdint.h>

struct password_params {
	uint64_t n; /* CPU/memory cost: a power of two, 2^10..2^20 */
	uint32_t r; /* block size, 1..16 */
	uint32_t p; /* parallelism, 1..4 */
};

/* N = 2^15, r = 8, p = 1: 32 MiB per hash, OWASP's scrypt recommendation. */
#define PASSWORD_PARAMS_DEFAULT ((struct password_params){ .n = 32768, .r = 8, .p = 1 })

#define PASSWORD_LOG2N_MIN 10
#define PASSWORD_LOG2N_MAX 20
#define PASSWORD_R_MIN 1
#define PASSWORD_R_MAX 16
#define PASSWORD_P_MIN 1
#define PASSWORD_P_MAX 4

/* True if params are within the bounds above (the bounds password_verify() accepts). */
bool password_params_valid(const struct password_params *params);

/*
 * Hashes password (which must pass validate_password: 8..256 bytes) with params (NULL means
 * PASSWORD_PARAMS_DEFAULT) and a fresh salt. Fails on an invalid password or params, or if
 * the CSPRNG or the KDF fails; *out_encoded is then NULL.
 */
bool password_hash(const char *password, const struct password_params *params,
		   char **out_encoded) __attribute__((warn_unused_result));

/*
 * True only if encoded is a well-formed hash within the parameter bounds and password matches
 * it (compared in constant time). A malformed or out-of-bounds encoding is false, never an
 * error, so a corrupt row cannot make the KDF run with an attacker-chosen cost. Passwords
 * over 256 bytes never match (password_hash refuses them). Not warn_unused_result: the
 * unknown-email path calls it only for its timing and discards the answer.
 */
bool password_verify(const char *password, const char *encoded);

/*
 * A valid hash of a random password, computed once with the params of the first successful
 * call (NULL means the defaults). Login verifies against it when the email is unknown, so the
 * response time does not reveal which emails have accounts; pass the same params as for real
 * hashes. Returns NULL only if computing it failed (a later call retries).
 */
const char *password_dummy_hash(const struct password_params *params);

#endif
