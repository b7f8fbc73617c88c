#include "auth/password.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base/alloc.h"
#include "auth/token.h"
#include "base/validate.h"

#define SALT_BYTES 16
#define KEY_BYTES 32
#define PREFIX "scrypt$"

bool password_params_valid(const struct password_params *params)
{
	uint64_t n = params->n;

	return n >= (UINT64_C(1) << PASSWORD_LOG2N_MIN) && n <= (UINT64_C(1) << PASSWORD_LOG2N_MAX) &&
	       (n & (n - 1)) == 0 && params->r >= PASSWORD_R_MIN && params->r <= PASSWORD_R_MAX &&
	       params->p >= PASSWORD_P_MIN && params->p <= PASSWORD_P_MAX;
}

/*
 * EVP_PBE_scrypt refuses to use more than maxmem bytes and its default (32 MiB) is exactly the
 * V array of the default parameters, so the B array would not fit: give it what this N, r, p
 * need (the formula OpenSSL checks against) plus slack.
 */
static bool derive(const char *password, size_t password_len, const unsigned char *salt,
		   const struct password_params *params, unsigned char key[KEY_BYTES])
{
	uint64_t r = params->r, maxmem = 128 * r * (params->n + 2) + 128 * r * params->p +
					  (UINT64_C(1) << 20);

	return EVP_PBE_scrypt(password, password_len, salt, SALT_BYTES, params->n, params->r,
			      params->p, maxmem, key, KEY_BYTES) == 1;
}

static unsigned log2_u64(uint64_t n)
{
	unsigned l = 0;

	while (n > 1) {
		n >>= 1;
		l++;
	}
	return l;
}

bool password_hash(const char *password, const struct password_params *params,
		   char **out_encoded)
{
	const struct password_params defaults = PASSWORD_PARAMS_DEFAULT;
	unsigned char salt[SALT_BYTES], key[KEY_BYTES];
	char salt_b64[TOKEN_BASE64URL_LEN(SALT_BYTES) + 1], key_b64[TOKEN_BASE64URL_LEN(KEY_BYTES) + 1];
	bool ok = false;

	*out_encoded = NULL;
	if (!params)
		params = &defaults;
	if (!validate_password(password, NULL) || !password_params_valid(params))
		return false;
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		goto done;
	if (!derive(password, strlen(password), salt, params, key))
		goto done;
	token_base64url_encode(salt, sizeof(salt), salt_b64, sizeof(salt_b64));
	token_base64url_encode(key, sizeof(key), key_b64, sizeof(key_b64));
	*out_encoded = xasprintf(PREFIX "%u$%u$%u$%s$%s", log2_u64(params->n), params->r,
				 params->p, salt_b64, key_b64);
	ok = true;
done:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(key_b64, sizeof(key_b64));
	return ok;
}

/*
 * Parses a decimal in [min, max] without sign, leading zeros or spaces, ending at '$'; advances
 * *s past the '$'. strtoul would accept all of those, giving one hash several spellings.
 */
static bool parse_field(const char **s, uint32_t min, uint32_t max, uint32_t *out)
{
	const char *p = *s;
	uint32_t v = 0;

	if (*p < '0' || *p > '9' || (*p == '0' && p[1] != '$'))
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint32_t)(*p - '0');
		if (v > max)
			return false;
	}
	if (*p != '$' || v < min)
		return false;
	*out = v;
	*s = p + 1;
	return true;
}

bool password_verify(const char *password, const char *encoded)
{
	struct password_params params;
	unsigned char salt[SALT_BYTES], expected[KEY_BYTES], key[KEY_BYTES];
	const char *s, *dollar;
	size_t password_len, len;
	uint32_t log2n;
	bool ok = false;

	if (!password || !encoded)
		return false;
	password_len = strlen(password);
	if (password_len > VALIDATE_PASSWORD_MAX)
		return false;
	if (strncmp(encoded, PREFIX, strlen(PREFIX)) != 0)
		return false;
	s = encoded + strlen(PREFIX);
	if (!parse_field(&s, PASSWORD_LOG2N_MIN, PASSWORD_LOG2N_MAX, &log2n) ||
	    !parse_field(&s, PASSWORD_R_MIN, PASSWORD_R_MAX, &params.r) ||
	    !parse_field(&s, PASSWORD_P_MIN, PASSWORD_P_MAX, &params.p))
		return false;
	params.n = UINT64_C(1) << log2n;
	dollar = strchr(s, '$');
	if (!dollar)
		return false;
	if (!token_base64url_decode(s, (size_t)(dollar - s), salt, sizeof(salt), &len) ||
	    len != sizeof(salt))
		return false;
	s = dollar + 1;
	if (!token_base64url_decode(s, strlen(s), expected, sizeof(expected), &len) ||
	    len != sizeof(expected))
		return false;
	if (derive(password, password_len, salt, &params, key))
		ok = CRYPTO_memcmp(key, expected, sizeof(key)) == 0;
	OPENSSL_cleanse(key, sizeof(key));
	return ok;
}

/*
 * Not pthread_once: the params must reach the initializer, and a failed computation should be
 * retried by a later call. The lock is held while hashing so it is computed once.
 */
static pthread_mutex_t dummy_lock = PTHREAD_MUTEX_INITIALIZER;
static char *dummy_hash;

const char *password_dummy_hash(const struct password_params *params)
{
	char password[TOKEN_RANDOM_SIZE];
	const char *result;

	if (pthread_mutex_lock(&dummy_lock) != 0)
		abort();
	if (!dummy_hash && token_random(password, sizeof(password))) {
		if (!password_hash(password, params, &dummy_hash))
			dummy_hash = NULL;
		OPENSSL_cleanse(password, sizeof(password));
	}
	result = dummy_hash;
	pthread_mutex_unlock(&dummy_lock);
	return result;
}
