/*
 * Opaque random tokens and the byte encodings the security helpers share.
 *
 * Refresh tokens are 32 random bytes shown to the client as unpadded base64url; the database
 * stores only their SHA-256 (token_sha256_hex), so a leaked table cannot be replayed.
 *
 * Ownership: every function writes into a buffer the caller owns and sizes; nothing here
 * allocates, so all of it is safe to call from any thread.
 */
#ifndef FLOWSTATE_TOKEN_H
#define FLOWSTATE_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

/* Random bytes in a refresh token, and its encoded length (unpadded base64url). */
#define TOKEN_RANDOM_BYTES 32
#define TOKEN_RANDOM_LEN 43
/* Buffer size for token_random(): the encoded token plus its NUL. */
#define TOKEN_RANDOM_SIZE (TOKEN_RANDOM_LEN + 1)
/* Buffer size for token_sha256_hex(). */
#define TOKEN_SHA256_HEX_SIZE 65

/* Characters unpadded base64url needs for n bytes (without the NUL). */
#define TOKEN_BASE64URL_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))

/*
 * Writes TOKEN_RANDOM_BYTES bytes from the OpenSSL CSPRNG as unpadded base64url (43 chars and a
 * NUL). Fails if out_size < TOKEN_RANDOM_SIZE or the CSPRNG fails; out is then "" (if it has
 * room for that).
 */
bool token_random(char *out, size_t out_size) __attribute__((warn_unused_result));

/* Lowercase hex SHA-256 of len bytes of data, NUL-terminated (64 chars + NUL). */
void token_sha256_hex(const char *data, size_t len, char out[TOKEN_SHA256_HEX_SIZE]);

/* Lowercase hex of n bytes; out must hold 2 * n + 1 bytes. */
void token_hex(const unsigned char *in, size_t n, char *out);

/*
 * Unpadded base64url (RFC 4648 section 5) of n bytes into out, NUL-terminated. Returns the
 * number of characters written (TOKEN_BASE64URL_LEN(n)), or 0 with out set to "" (when
 * out_size > 0) if out_size < TOKEN_BASE64URL_LEN(n) + 1.
 */
size_t token_base64url_encode(const unsigned char *in, size_t n, char *out, size_t out_size);

/*
 * Strict decoder for unpadded base64url: only the url alphabet, no padding, no whitespace, and
 * the unused low bits of the last character must be zero, so every byte string has exactly one
 * accepted encoding. Writes at most out_size bytes and stores the decoded length in *out_len.
 * Fails on any invalid input or if out is too small.
 */
bool token_base64url_decode(const char *in, size_t in_len, unsigned char *out, size_t out_size,
			    size_t *out_len) __attribute__((warn_unused_result));

/* A random RFC 4122 version 4 UUID in canonical lower-case form (36 chars + NUL). */
#define TOKEN_UUID_SIZE 37
bool token_uuid_v4(char out[TOKEN_UUID_SIZE]) __attribute__((warn_unused_result));

#endif
