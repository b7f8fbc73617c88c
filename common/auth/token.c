#include "auth/token.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

static const char base64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

bool token_random(char *out, size_t out_size)
{
	unsigned char raw[TOKEN_RANDOM_BYTES];
	bool ok = false;

	if (out_size > 0)
		out[0] = '\0';
	if (out_size < TOKEN_RANDOM_SIZE)
		return false;
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		goto done;
	ok = token_base64url_encode(raw, sizeof(raw), out, out_size) == TOKEN_RANDOM_LEN;
done:
	OPENSSL_cleanse(raw, sizeof(raw));
	return ok;
}

void token_sha256_hex(const char *data, size_t len, char out[TOKEN_SHA256_HEX_SIZE])
{
	unsigned char digest[32];
	unsigned int digest_len = 0;

	/* EVP_Digest with SHA-256 cannot fail short of memory corruption or a broken provider;
	 * a zero digest would silently match other tokens, so treat that as fatal. */
	if (EVP_Digest(data, len, digest, &digest_len, EVP_sha256(), NULL) != 1 ||
	    digest_len != sizeof(digest))
		abort();
	token_hex(digest, sizeof(digest), out);
}

void token_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

size_t token_base64url_encode(const unsigned char *in, size_t n, char *out, size_t out_size)
{
	size_t need = n > SIZE_MAX / 2 ? SIZE_MAX : TOKEN_BASE64URL_LEN(n);
	size_t i = 0, o = 0;

	if (out_size == 0)
		return 0;
	if (need == SIZE_MAX || out_size < need + 1) {
		out[0] = '\0';
		return 0;
	}
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = base64url_alphabet[v >> 18];
		out[o++] = base64url_alphabet[(v >> 12) & 63];
		out[o++] = base64url_alphabet[(v >> 6) & 63];
		out[o++] = base64url_alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = base64url_alphabet[v >> 18];
		out[o++] = base64url_alphabet[(v >> 12) & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = base64url_alphabet[v >> 18];
		out[o++] = base64url_alphabet[(v >> 12) & 63];
		out[o++] = base64url_alphabet[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

/* 0..63 for a base64url character, -1 for anything else. */
static int base64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

bool token_base64url_decode(const char *in, size_t in_len, unsigned char *out, size_t out_size,
			    size_t *out_len)
{
	size_t rem = in_len % 4;
	size_t need = in_len / 4 * 3 + (rem ? rem - 1 : 0);
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	*out_len = 0;
	/* One leftover character carries only 6 bits: never a whole byte. */
	if (rem == 1 || need > out_size)
		return false;
	for (size_t i = 0; i < in_len; i++) {
		int v = base64url_value((unsigned char)in[i]);
		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Non-zero padding bits would give a second spelling of the same bytes. */
	if (acc != 0)
		return false;
	*out_len = o;
	return true;
}

bool token_uuid_v4(char out[TOKEN_UUID_SIZE])
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof(b)) != 1)
		return false;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, TOKEN_UUID_SIZE,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
	return true;
}
