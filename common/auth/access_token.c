#include "auth/access_token.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <jwt.h>

#include "auth/token.h"

#define JTI_BYTES 16
#define HS256_BYTES 32

/* libjwt takes claim integers as long. */
_Static_assert(sizeof(long) >= sizeof(long long), "long must hold Unix times");

bool access_token_issue(const unsigned char *secret, size_t secret_len, const char *subject,
	       const char *typ, long long now, long long ttl_seconds, char **out_token)
{
	unsigned char jti_raw[JTI_BYTES];
	char jti[2 * JTI_BYTES + 1];
	jwt_t *jwt = NULL;
	bool ok = false;

	*out_token = NULL;
	if (!secret || secret_len == 0 || secret_len > INT_MAX || !subject || !*subject || !typ ||
	    !*typ || ttl_seconds <= 0 || now < 0 || now > LLONG_MAX - ttl_seconds)
		return false;
	if (RAND_bytes(jti_raw, sizeof(jti_raw)) != 1)
		return false;
	token_hex(jti_raw, sizeof(jti_raw), jti);
	if (jwt_new(&jwt) != 0)
		return false;
	if (jwt_add_grant(jwt, "sub", subject) != 0 || jwt_add_grant(jwt, "typ", typ) != 0 ||
	    jwt_add_grant(jwt, "jti", jti) != 0 || jwt_add_grant_int(jwt, "iat", (long)now) != 0 ||
	    jwt_add_grant_int(jwt, "exp", (long)(now + ttl_seconds)) != 0)
		goto done;
	if (jwt_set_alg(jwt, JWT_ALG_HS256, secret, (int)secret_len) != 0)
		goto done;
	/* libjwt 1.10 allocates with malloc, so the caller's free() matches. */
	*out_token = jwt_encode_str(jwt);
	ok = *out_token != NULL;
done:
	jwt_free(jwt);
	return ok;
}

/* Decodes one base64url segment of the token into a JSON object (duplicate keys refused). */
static json_t *decode_segment(const char *seg, size_t len)
{
	unsigned char buf[ACCESS_TOKEN_MAX_LEN];
	size_t n;
	json_t *obj;

	if (len == 0 || !token_base64url_decode(seg, len, buf, sizeof(buf), &n))
		return NULL;
	obj = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
	if (obj && !json_is_object(obj)) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/*
 * The header must name HS256 exactly. Duplicate keys are refused by the decoder, so there is
 * no second "alg" that libjwt might read differently; "crit" names extensions we do not
 * implement, which RFC 7515 says must make the token invalid.
 */
static enum access_token_status check_header(const json_t *header)
{
	const json_t *alg = json_object_get(header, "alg");
	const json_t *typ = json_object_get(header, "typ");

	if (!json_is_string(alg))
		return ACCESS_TOKEN_MALFORMED;
	if (strcmp(json_string_value(alg), "HS256") != 0)
		return ACCESS_TOKEN_WRONG_ALG;
	if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0))
		return ACCESS_TOKEN_MALFORMED;
	if (json_object_get(header, "crit"))
		return ACCESS_TOKEN_MALFORMED;
	return ACCESS_TOKEN_OK;
}

/*
 * Recomputes the HMAC over "header.payload" and compares its canonical base64url spelling
 * with the token's in constant time ourselves rather than trust the linked libjwt's compare
 * (upstream used strcmp, CVE-2024-25189). Comparing spellings, not bytes, also refuses
 * non-canonical encodings.
 */
static bool signature_matches(const unsigned char *secret, size_t secret_len, const char *token,
			      size_t signed_len, const char *sig, size_t sig_len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	char expected[TOKEN_BASE64URL_LEN(HS256_BYTES) + 1];

	if (sig_len != TOKEN_BASE64URL_LEN(HS256_BYTES))
		return false;
	if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)token, signed_len,
		  mac, &mac_len) ||
	    mac_len != HS256_BYTES)
		return false;
	token_base64url_encode(mac, mac_len, expected, sizeof(expected));
	return CRYPTO_memcmp(expected, sig, sig_len) == 0;
}

static enum access_token_status check_claims(const json_t *claims, const char *expected_typ,
					   long long now, long long max_lifetime,
					   char *subject_out, size_t subject_size)
{
	const json_t *exp = json_object_get(claims, "exp");
	const json_t *iat = json_object_get(claims, "iat");
	const json_t *sub = json_object_get(claims, "sub");
	const json_t *typ = json_object_get(claims, "typ");
	size_t sub_len;

	if (!json_is_integer(exp) || (iat && !json_is_integer(iat)) || !json_is_string(sub))
		return ACCESS_TOKEN_MALFORMED;
	sub_len = json_string_length(sub);
	/* An embedded NUL would truncate the subject into someone else's id. */
	if (sub_len == 0 || strlen(json_string_value(sub)) != sub_len)
		return ACCESS_TOKEN_MALFORMED;
	if (json_integer_value(exp) <= now)
		return ACCESS_TOKEN_EXPIRED;
	if (max_lifetime > 0) {
		if (!iat)
			return ACCESS_TOKEN_BAD_LIFETIME;
		long long issued = json_integer_value(iat), expires = json_integer_value(exp);
		/* Compared without overflow: any 64-bit values may come signed. */
		if (issued > now && issued - now > ACCESS_TOKEN_LEEWAY)
			return ACCESS_TOKEN_BAD_LIFETIME;
		if (expires < issued || (issued < 0 && expires > LLONG_MAX + issued) ||
		    expires - issued > max_lifetime)
			return ACCESS_TOKEN_BAD_LIFETIME;
	}
	if (!expected_typ || !json_is_string(typ) ||
	    strcmp(json_string_value(typ), expected_typ) != 0)
		return ACCESS_TOKEN_WRONG_TYPE;
	if (subject_out) {
		if (sub_len >= subject_size)
			return ACCESS_TOKEN_MALFORMED;
		memcpy(subject_out, json_string_value(sub), sub_len + 1);
	}
	return ACCESS_TOKEN_OK;
}

enum access_token_status access_token_verify(const unsigned char *secret, size_t secret_len,
				  const char *token, const char *expected_typ, long long now,
				  char *subject_out, size_t subject_size)
{
	return access_token_verify_lifetime(secret, secret_len, token, expected_typ, now, 0,
					    subject_out, subject_size);
}

enum access_token_status access_token_verify_lifetime(const unsigned char *secret,
						      size_t secret_len, const char *token,
						      const char *expected_typ, long long now,
						      long long max_lifetime, char *subject_out,
						      size_t subject_size)
{
	enum access_token_status status = ACCESS_TOKEN_MALFORMED;
	const char *dot1, *dot2;
	json_t *header = NULL, *claims = NULL;
	jwt_t *jwt = NULL;
	size_t len;

	if (subject_out && subject_size > 0)
		subject_out[0] = '\0';
	if (!token)
		return ACCESS_TOKEN_MALFORMED;
	len = strnlen(token, ACCESS_TOKEN_MAX_LEN + 1);
	if (len > ACCESS_TOKEN_MAX_LEN)
		return ACCESS_TOKEN_MALFORMED;
	dot1 = memchr(token, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
		return ACCESS_TOKEN_MALFORMED;

	header = decode_segment(token, (size_t)(dot1 - token));
	if (!header)
		goto done;
	status = check_header(header);
	if (status != ACCESS_TOKEN_OK)
		goto done;
	claims = decode_segment(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if (!claims) {
		status = ACCESS_TOKEN_MALFORMED;
		goto done;
	}

	status = ACCESS_TOKEN_BAD_SIGNATURE;
	if (!secret || secret_len == 0 || secret_len > INT_MAX)
		goto done;
	if (!signature_matches(secret, secret_len, token, (size_t)(dot2 - token), dot2 + 1,
			       len - (size_t)(dot2 + 1 - token)))
		goto done;
	/* Second opinion from libjwt, with the key so it verifies too; it must agree on alg. */
	if (jwt_decode(&jwt, token, secret, (int)secret_len) != 0 ||
	    jwt_get_alg(jwt) != JWT_ALG_HS256)
		goto done;

	status = check_claims(claims, expected_typ, now, max_lifetime, subject_out, subject_size);
done:
	if (status != ACCESS_TOKEN_OK && subject_out && subject_size > 0)
		subject_out[0] = '\0';
	jwt_free(jwt);
	json_decref(claims);
	json_decref(header);
	return status;
}

const char *access_token_status_name(enum access_token_status status)
{
	switch (status) {
	case ACCESS_TOKEN_OK:
		return "ok";
	case ACCESS_TOKEN_MALFORMED:
		return "malformed";
	case ACCESS_TOKEN_BAD_SIGNATURE:
		return "bad_signature";
	case ACCESS_TOKEN_WRONG_ALG:
		return "wrong_alg";
	case ACCESS_TOKEN_EXPIRED:
		return "expired";
	case ACCESS_TOKEN_WRONG_TYPE:
		return "wrong_type";
	case ACCESS_TOKEN_BAD_LIFETIME:
		return "bad_lifetime";
	}
	return "unknown";
}

long long access_token_expires(const char *token)
{
	size_t len = token ? strnlen(token, ACCESS_TOKEN_MAX_LEN + 1) : 0;
	const char *dot1 = len && len <= ACCESS_TOKEN_MAX_LEN ? memchr(token, '.', len) : NULL;
	const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (!dot2)
		return 0;
	json_t *claims = decode_segment(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	json_t *exp = json_object_get(claims, "exp");
	long long value = json_is_integer(exp) ? (long long)json_integer_value(exp) : 0;
	json_decref(claims);
	return value;
}
