#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/alloc.h"
#include "auth/access_token.h"
#include "auth/token.h"

static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
#define SECRET_LEN (sizeof(secret) - 1)
#define NOW 1700000000LL

static char *b64url(const void *data, size_t len)
{
	char *out = xmalloc(TOKEN_BASE64URL_LEN(len) + 1);

	token_base64url_encode(data, len, out, TOKEN_BASE64URL_LEN(len) + 1);
	return out;
}

/*
 * Builds "header.payload.signature" by hand from JSON text. md NULL leaves the signature
 * empty (the unsigned "x.y." form); otherwise it is the HMAC with md under key.
 */
static char *forge(const char *header, const char *payload, const EVP_MD *md,
		   const unsigned char *key, size_t key_len)
{
	char *h = b64url(header, strlen(header)), *p = b64url(payload, strlen(payload));
	char *signing_input = xasprintf("%s.%s", h, p), *sig, *token;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (md) {
		cr_assert_not_null(HMAC(md, key, (int)key_len, (unsigned char *)signing_input,
					strlen(signing_input), mac, &mac_len));
		sig = b64url(mac, mac_len);
	} else {
		sig = xstrdup("");
	}
	token = xasprintf("%s.%s", signing_input, sig);
	free(h);
	free(p);
	free(signing_input);
	free(sig);
	return token;
}

static char *claims(const char *sub, const char *typ, long long exp)
{
	return xasprintf("{\"sub\":\"%s\",\"typ\":\"%s\",\"iat\":%lld,\"exp\":%lld}", sub, typ,
			 NOW, exp);
}

static char *forge_hs256(const char *payload)
{
	return forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, EVP_sha256(), secret,
		     SECRET_LEN);
}

static enum access_token_status verify(const char *token, char *subject, size_t size)
{
	return access_token_verify(secret, SECRET_LEN, token, "access", NOW, subject, size);
}

static void assert_status(const char *token, enum access_token_status want)
{
	char subject[64] = "untouched";
	enum access_token_status got = verify(token, subject, sizeof(subject));

	cr_assert_eq(got, want, "token %s: got %s, want %s", token, access_token_status_name(got),
		     access_token_status_name(want));
	if (want != ACCESS_TOKEN_OK)
		cr_assert_str_empty(subject, "subject must be cleared on failure");
}

/* Replaces the segment (0 header, 1 payload, 2 signature) of token with text. */
static char *replace_segment(const char *token, int which, const char *text)
{
	const char *d1 = strchr(token, '.'), *d2 = strchr(d1 + 1, '.');

	if (which == 0)
		return xasprintf("%s%s", text, d1);
	if (which == 1)
		return xasprintf("%.*s.%s%s", (int)(d1 - token), token, text, d2);
	return xasprintf("%.*s.%s", (int)(d2 - token), token, text);
}

/* ---- issue and round trip ---- */

Test(jwt, issued_token_verifies_and_yields_its_subject)
{
	char *token = NULL, subject[64];

	cr_assert(access_token_issue(secret, SECRET_LEN, "user-42", "access", NOW, 900, &token));
	cr_assert_eq(verify(token, subject, sizeof(subject)), ACCESS_TOKEN_OK);
	cr_assert_str_eq(subject, "user-42");
	free(token);
}

Test(jwt, issued_token_carries_sub_iat_exp_typ_and_a_random_jti)
{
	char *token = NULL;
	unsigned char buf[1024];
	size_t n;
	const char *d1, *d2;
	json_t *payload, *header;

	cr_assert(access_token_issue(secret, SECRET_LEN, "user-42", "access", NOW, 900, &token));
	d1 = strchr(token, '.');
	d2 = strchr(d1 + 1, '.');
	cr_assert(token_base64url_decode(token, (size_t)(d1 - token), buf, sizeof(buf), &n));
	header = json_loadb((char *)buf, n, 0, NULL);
	cr_assert_str_eq(json_string_value(json_object_get(header, "alg")), "HS256");
	cr_assert(token_base64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), buf, sizeof(buf), &n));
	payload = json_loadb((char *)buf, n, 0, NULL);
	cr_assert_not_null(payload);
	cr_assert_str_eq(json_string_value(json_object_get(payload, "sub")), "user-42");
	cr_assert_str_eq(json_string_value(json_object_get(payload, "typ")), "access");
	cr_assert_eq(json_integer_value(json_object_get(payload, "iat")), NOW);
	cr_assert_eq(json_integer_value(json_object_get(payload, "exp")), NOW + 900);
	cr_assert_eq(strlen(json_string_value(json_object_get(payload, "jti"))), 32);
	cr_assert_eq(strspn(json_string_value(json_object_get(payload, "jti")), "0123456789abcdef"),
		     32);
	json_decref(header);
	json_decref(payload);
	free(token);
}

Test(jwt, two_tokens_for_the_same_claims_differ_by_jti)
{
	char *a = NULL, *b = NULL;

	cr_assert(access_token_issue(secret, SECRET_LEN, "u", "access", NOW, 60, &a));
	cr_assert(access_token_issue(secret, SECRET_LEN, "u", "access", NOW, 60, &b));
	cr_assert_str_neq(a, b);
	free(a);
	free(b);
}

Test(jwt, issue_refuses_invalid_arguments)
{
	char *token = (char *)1;

	cr_assert_not(access_token_issue(secret, 0, "u", "access", NOW, 60, &token));
	cr_assert_null(token);
	cr_assert_not(access_token_issue(NULL, SECRET_LEN, "u", "access", NOW, 60, &token));
	cr_assert_not(access_token_issue(secret, SECRET_LEN, "", "access", NOW, 60, &token));
	cr_assert_not(access_token_issue(secret, SECRET_LEN, NULL, "access", NOW, 60, &token));
	cr_assert_not(access_token_issue(secret, SECRET_LEN, "u", "", NOW, 60, &token));
	cr_assert_not(access_token_issue(secret, SECRET_LEN, "u", NULL, NOW, 60, &token));
	cr_assert_not(access_token_issue(secret, SECRET_LEN, "u", "access", NOW, 0, &token));
	cr_assert_not(access_token_issue(secret, SECRET_LEN, "u", "access", NOW, -5, &token));
	cr_assert_not(access_token_issue(secret, SECRET_LEN, "u", "access", LLONG_MAX - 10, 60, &token));
	cr_assert_null(token);
}

Test(jwt, subject_with_json_special_characters_round_trips)
{
	char *token = NULL, subject[64];

	cr_assert(access_token_issue(secret, SECRET_LEN, "a\"b\\c", "access", NOW, 60, &token));
	cr_assert_eq(verify(token, subject, sizeof(subject)), ACCESS_TOKEN_OK);
	cr_assert_str_eq(subject, "a\"b\\c");
	free(token);
}

Test(jwt, hand_built_hs256_token_verifies)
{
	char *payload = claims("user-1", "access", NOW + 60);
	char *token = forge_hs256(payload);

	assert_status(token, ACCESS_TOKEN_OK);
	free(payload);
	free(token);
}

/* ---- algorithm pinning ---- */

Test(jwt, rejects_token_signed_with_alg_none)
{
	char *payload = claims("admin", "access", NOW + 60);
	/* The unsigned "x.y." form, as libjwt itself emits for alg none. */
	char *none = forge("{\"alg\":\"none\"}", payload, NULL, NULL, 0);
	char *none_typ = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, NULL, NULL, 0);
	/* alg none but with a valid HS256 signature attached: still refused. */
	char *none_signed = forge("{\"alg\":\"none\"}", payload, EVP_sha256(), secret, SECRET_LEN);

	assert_status(none, ACCESS_TOKEN_WRONG_ALG);
	assert_status(none_typ, ACCESS_TOKEN_WRONG_ALG);
	assert_status(none_signed, ACCESS_TOKEN_WRONG_ALG);
	free(payload);
	free(none);
	free(none_typ);
	free(none_signed);
}

Test(jwt, rejects_alg_none_in_any_spelling)
{
	static const char *const headers[] = { "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}",
					       "{\"alg\":\"nOnE\"}", "{\"alg\":\"\"}" };
	char *payload = claims("admin", "access", NOW + 60);

	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		char *token = forge(headers[i], payload, NULL, NULL, 0);
		assert_status(token, ACCESS_TOKEN_WRONG_ALG);
		free(token);
	}
	free(payload);
}

/* libjwt 1.10 alone accepts these: any HMAC alg verifies under the same key. */
Test(jwt, rejects_hs384_and_hs512_signed_with_the_right_secret)
{
	char *payload = claims("user-1", "access", NOW + 60);
	char *hs384 = forge("{\"alg\":\"HS384\",\"typ\":\"JWT\"}", payload, EVP_sha384(), secret,
			    SECRET_LEN);
	char *hs512 = forge("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload, EVP_sha512(), secret,
			    SECRET_LEN);

	assert_status(hs384, ACCESS_TOKEN_WRONG_ALG);
	assert_status(hs512, ACCESS_TOKEN_WRONG_ALG);
	free(payload);
	free(hs384);
	free(hs512);
}

Test(jwt, rejects_asymmetric_algs_even_when_hmac_signed)
{
	/* Key confusion: an RS256/ES256 header with an HMAC under our secret as "signature". */
	static const char *const headers[] = { "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
					       "{\"alg\":\"ES256\",\"typ\":\"JWT\"}",
					       "{\"alg\":\"PS256\",\"typ\":\"JWT\"}" };
	char *payload = claims("user-1", "access", NOW + 60);

	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		char *token = forge(headers[i], payload, EVP_sha256(), secret, SECRET_LEN);
		assert_status(token, ACCESS_TOKEN_WRONG_ALG);
		free(token);
	}
	free(payload);
}

Test(jwt, rejects_alg_hs256_in_another_case)
{
	char *payload = claims("user-1", "access", NOW + 60);
	char *token = forge("{\"alg\":\"hs256\"}", payload, EVP_sha256(), secret, SECRET_LEN);

	assert_status(token, ACCESS_TOKEN_WRONG_ALG);
	free(payload);
	free(token);
}

Test(jwt, rejects_missing_or_non_string_alg)
{
	char *payload = claims("user-1", "access", NOW + 60);
	char *missing = forge("{\"typ\":\"JWT\"}", payload, EVP_sha256(), secret, SECRET_LEN);
	char *number = forge("{\"alg\":256}", payload, EVP_sha256(), secret, SECRET_LEN);
	char *null = forge("{\"alg\":null}", payload, EVP_sha256(), secret, SECRET_LEN);

	assert_status(missing, ACCESS_TOKEN_MALFORMED);
	assert_status(number, ACCESS_TOKEN_MALFORMED);
	assert_status(null, ACCESS_TOKEN_MALFORMED);
	free(payload);
	free(missing);
	free(number);
	free(null);
}

Test(jwt, rejects_duplicate_header_keys)
{
	char *payload = claims("user-1", "access", NOW + 60);
	char *t1 = forge("{\"alg\":\"none\",\"alg\":\"HS256\"}", payload, EVP_sha256(), secret,
			 SECRET_LEN);
	char *t2 = forge("{\"alg\":\"HS256\",\"alg\":\"none\"}", payload, EVP_sha256(), secret,
			 SECRET_LEN);

	assert_status(t1, ACCESS_TOKEN_MALFORMED);
	assert_status(t2, ACCESS_TOKEN_MALFORMED);
	free(payload);
	free(t1);
	free(t2);
}

Test(jwt, rejects_unknown_crit_extensions_and_foreign_typ_header)
{
	char *payload = claims("user-1", "access", NOW + 60);
	char *crit = forge("{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", payload,
			   EVP_sha256(), secret, SECRET_LEN);
	char *typ = forge("{\"alg\":\"HS256\",\"typ\":\"JWE\"}", payload, EVP_sha256(), secret,
			  SECRET_LEN);
	char *lower = forge("{\"alg\":\"HS256\",\"typ\":\"jwt\"}", payload, EVP_sha256(), secret,
			    SECRET_LEN);

	assert_status(crit, ACCESS_TOKEN_MALFORMED);
	assert_status(typ, ACCESS_TOKEN_MALFORMED);
	assert_status(lower, ACCESS_TOKEN_OK); /* RFC 7519 5.1: "JWT" is compared case-insensitively */
	free(payload);
	free(crit);
	free(typ);
	free(lower);
}

/* ---- signature ---- */

Test(jwt, rejects_tampered_payload)
{
	char *token = NULL, *evil_payload, *evil_b64, *tampered;

	cr_assert(access_token_issue(secret, SECRET_LEN, "user-1", "access", NOW, 60, &token));
	evil_payload = claims("admin", "access", NOW + 60);
	evil_b64 = b64url(evil_payload, strlen(evil_payload));
	tampered = replace_segment(token, 1, evil_b64);
	assert_status(tampered, ACCESS_TOKEN_BAD_SIGNATURE);
	free(token);
	free(evil_payload);
	free(evil_b64);
	free(tampered);
}

Test(jwt, rejects_tampered_header)
{
	char *token = NULL, *header, *tampered;
	const char *h = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"x\"}";

	cr_assert(access_token_issue(secret, SECRET_LEN, "user-1", "access", NOW, 60, &token));
	header = b64url(h, strlen(h));
	tampered = replace_segment(token, 0, header);
	assert_status(tampered, ACCESS_TOKEN_BAD_SIGNATURE);
	free(token);
	free(header);
	free(tampered);
}

Test(jwt, rejects_tampered_signature_in_any_position)
{
	char *token = NULL;

	cr_assert(access_token_issue(secret, SECRET_LEN, "user-1", "access", NOW, 60, &token));
	const char *sig = strrchr(token, '.') + 1;
	size_t sig_len = strlen(sig);
	cr_assert_eq(sig_len, 43);
	for (size_t i = 0; i < sig_len; i++) {
		char *copy = xstrdup(token);
		char *c = copy + (sig - token) + i;
		*c = *c == 'A' ? 'B' : 'A';
		assert_status(copy, ACCESS_TOKEN_BAD_SIGNATURE);
		free(copy);
	}
	free(token);
}

/* The last of 43 characters has 2 unused bits: flipping them must not give a second spelling. */
Test(jwt, rejects_non_canonical_signature_spelling)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *token = NULL;

	cr_assert(access_token_issue(secret, SECRET_LEN, "user-1", "access", NOW, 60, &token));
	char *last = token + strlen(token) - 1;
	int v = (int)(strchr(alphabet, *last) - alphabet);
	*last = alphabet[v ^ 1];
	assert_status(token, ACCESS_TOKEN_BAD_SIGNATURE);
	free(token);
}

Test(jwt, rejects_truncated_extended_or_empty_signature)
{
	char *token = NULL, *truncated, *extended, *empty;

	cr_assert(access_token_issue(secret, SECRET_LEN, "user-1", "access", NOW, 60, &token));
	truncated = xstrndup(token, strlen(token) - 1);
	extended = xasprintf("%sA", token);
	empty = replace_segment(token, 2, "");
	assert_status(truncated, ACCESS_TOKEN_BAD_SIGNATURE);
	assert_status(extended, ACCESS_TOKEN_BAD_SIGNATURE);
	assert_status(empty, ACCESS_TOKEN_BAD_SIGNATURE);
	free(token);
	free(truncated);
	free(extended);
	free(empty);
}

Test(jwt, rejects_token_signed_with_another_secret)
{
	static const unsigned char other[] = "another-secret-another-secret-xx";
	char *token = NULL;

	cr_assert(access_token_issue(other, sizeof(other) - 1, "user-1", "access", NOW, 60, &token));
	assert_status(token, ACCESS_TOKEN_BAD_SIGNATURE);
	free(token);
}

/* libjwt 1.10 verifies nothing when given a zero-length key. */
Test(jwt, empty_secret_verifies_nothing)
{
	char *payload = claims("user-1", "access", NOW + 60);
	char *forged = forge("{\"alg\":\"HS256\"}", payload, EVP_sha256(), (const unsigned char *)"",
			     0);
	char *token = NULL;

	cr_assert(access_token_issue(secret, SECRET_LEN, "user-1", "access", NOW, 60, &token));
	cr_assert_eq(access_token_verify(secret, 0, token, "access", NOW, NULL, 0), ACCESS_TOKEN_BAD_SIGNATURE);
	cr_assert_eq(access_token_verify((const unsigned char *)"", 0, forged, "access", NOW, NULL, 0),
		     ACCESS_TOKEN_BAD_SIGNATURE);
	cr_assert_eq(access_token_verify(NULL, 0, forged, "access", NOW, NULL, 0), ACCESS_TOKEN_BAD_SIGNATURE);
	free(payload);
	free(forged);
	free(token);
}

/* ---- claims ---- */

Test(jwt, rejects_expired_token_at_and_after_exp)
{
	char *token = NULL, subject[64];

	cr_assert(access_token_issue(secret, SECRET_LEN, "user-1", "access", NOW, 60, &token));
	cr_assert_eq(access_token_verify(secret, SECRET_LEN, token, "access", NOW + 59, subject, 64), ACCESS_TOKEN_OK);
	cr_assert_eq(access_token_verify(secret, SECRET_LEN, token, "access", NOW + 60, subject, 64),
		     ACCESS_TOKEN_EXPIRED);
	cr_assert_str_empty(subject);
	cr_assert_eq(access_token_verify(secret, SECRET_LEN, token, "access", NOW + 100000, subject, 64),
		     ACCESS_TOKEN_EXPIRED);
	free(token);
}

Test(jwt, rejects_missing_or_mistyped_exp)
{
	static const char *const payloads[] = {
		"{\"sub\":\"u\",\"typ\":\"access\"}",
		"{\"sub\":\"u\",\"typ\":\"access\",\"exp\":\"9999999999\"}",
		"{\"sub\":\"u\",\"typ\":\"access\",\"exp\":9999999999.5}",
		"{\"sub\":\"u\",\"typ\":\"access\",\"exp\":null}",
		"{\"sub\":\"u\",\"typ\":\"access\",\"exp\":true}",
	};

	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		char *token = forge_hs256(payloads[i]);
		assert_status(token, ACCESS_TOKEN_MALFORMED);
		free(token);
	}
}

Test(jwt, rejects_missing_empty_or_mistyped_sub)
{
	static const char *const payloads[] = {
		"{\"typ\":\"access\",\"exp\":9999999999}",
		"{\"sub\":\"\",\"typ\":\"access\",\"exp\":9999999999}",
		"{\"sub\":42,\"typ\":\"access\",\"exp\":9999999999}",
		"{\"sub\":null,\"typ\":\"access\",\"exp\":9999999999}",
		"{\"sub\":\"admin\\u0000x\",\"typ\":\"access\",\"exp\":9999999999}",
	};

	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		char *token = forge_hs256(payloads[i]);
		assert_status(token, ACCESS_TOKEN_MALFORMED);
		free(token);
	}
}

Test(jwt, rejects_mistyped_iat)
{
	char *token = forge_hs256("{\"sub\":\"u\",\"typ\":\"access\",\"exp\":9999999999,\"iat\":\"x\"}");

	assert_status(token, ACCESS_TOKEN_MALFORMED);
	free(token);
}

Test(jwt, rejects_wrong_or_missing_typ)
{
	char *refresh = NULL, *missing = forge_hs256("{\"sub\":\"u\",\"exp\":9999999999}");
	char *number = forge_hs256("{\"sub\":\"u\",\"typ\":1,\"exp\":9999999999}");
	char *prefix = forge_hs256("{\"sub\":\"u\",\"typ\":\"accessx\",\"exp\":9999999999}");

	cr_assert(access_token_issue(secret, SECRET_LEN, "user-1", "refresh", NOW, 60, &refresh));
	assert_status(refresh, ACCESS_TOKEN_WRONG_TYPE);
	assert_status(missing, ACCESS_TOKEN_WRONG_TYPE);
	assert_status(number, ACCESS_TOKEN_WRONG_TYPE);
	assert_status(prefix, ACCESS_TOKEN_WRONG_TYPE);
	cr_assert_eq(access_token_verify(secret, SECRET_LEN, refresh, NULL, NOW, NULL, 0), ACCESS_TOKEN_WRONG_TYPE);
	cr_assert_eq(access_token_verify(secret, SECRET_LEN, refresh, "refresh", NOW, NULL, 0), ACCESS_TOKEN_OK);
	free(refresh);
	free(missing);
	free(number);
	free(prefix);
}

Test(jwt, rejects_subject_longer_than_the_buffer)
{
	char *token = NULL, subject[8];

	cr_assert(access_token_issue(secret, SECRET_LEN, "1234567", "access", NOW, 60, &token));
	cr_assert_eq(verify(token, subject, sizeof(subject)), ACCESS_TOKEN_OK);
	cr_assert_str_eq(subject, "1234567");
	free(token);
	cr_assert(access_token_issue(secret, SECRET_LEN, "12345678", "access", NOW, 60, &token));
	memset(subject, 'x', sizeof(subject));
	cr_assert_eq(verify(token, subject, sizeof(subject)), ACCESS_TOKEN_MALFORMED);
	cr_assert_str_empty(subject);
	cr_assert_eq(verify(token, subject, 0), ACCESS_TOKEN_MALFORMED);
	free(token);
}

Test(jwt, null_subject_buffer_only_verifies)
{
	char *token = NULL;

	cr_assert(access_token_issue(secret, SECRET_LEN, "user-1", "access", NOW, 60, &token));
	cr_assert_eq(verify(token, NULL, 0), ACCESS_TOKEN_OK);
	free(token);
}

/* ---- shape and size ---- */

Test(jwt, rejects_garbage)
{
	static const char *const bad[] = {
		"", ".", "..", "...", "abc", "a.b", "a.b.c.d", "x.y.", ".y.z", "x..z",
		"eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJIUzI1NiJ9.", "eyJhbGciOiJIUzI1NiJ9..",
		"not a token at all", "ey!!.ey!!.sig", "eyJhbGciOiJIUzI1NiJ9=.e30.x",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_status(bad[i], ACCESS_TOKEN_MALFORMED);
	assert_status(NULL, ACCESS_TOKEN_MALFORMED);
}

Test(jwt, rejects_segments_that_are_not_json_objects)
{
	char *payload = claims("u", "access", NOW + 60);
	char *not_json = forge("{\"alg\":\"HS256\"", payload, EVP_sha256(), secret, SECRET_LEN);
	char *array = forge("[\"HS256\"]", payload, EVP_sha256(), secret, SECRET_LEN);
	char *payload_array = forge_hs256("[1,2,3]");
	char *payload_string = forge_hs256("\"sub\"");
	char *payload_trailing = forge_hs256("{\"sub\":\"u\",\"typ\":\"access\",\"exp\":9999999999}x");
	char *payload_dup = forge_hs256(
		"{\"sub\":\"u\",\"sub\":\"admin\",\"typ\":\"access\",\"exp\":9999999999}");

	assert_status(not_json, ACCESS_TOKEN_MALFORMED);
	assert_status(array, ACCESS_TOKEN_MALFORMED);
	assert_status(payload_array, ACCESS_TOKEN_MALFORMED);
	assert_status(payload_string, ACCESS_TOKEN_MALFORMED);
	assert_status(payload_trailing, ACCESS_TOKEN_MALFORMED);
	assert_status(payload_dup, ACCESS_TOKEN_MALFORMED);
	free(payload);
	free(not_json);
	free(array);
	free(payload_array);
	free(payload_string);
	free(payload_trailing);
	free(payload_dup);
}

Test(jwt, rejects_whitespace_around_the_token)
{
	char *token = NULL, *leading, *trailing;

	cr_assert(access_token_issue(secret, SECRET_LEN, "user-1", "access", NOW, 60, &token));
	leading = xasprintf(" %s", token);
	trailing = xasprintf("%s\n", token);
	cr_assert_neq(verify(leading, NULL, 0), ACCESS_TOKEN_OK);
	cr_assert_neq(verify(trailing, NULL, 0), ACCESS_TOKEN_OK);
	free(token);
	free(leading);
	free(trailing);
}

/* Builds a validly signed token of exactly total_len bytes by padding an extra claim. */
static char *signed_token_of_length(size_t total_len)
{
	for (size_t pad = 0; pad < 4096; pad++) {
		char *filler = xmalloc(pad + 1), *payload, *token;
		memset(filler, 'p', pad);
		filler[pad] = '\0';
		payload = xasprintf("{\"sub\":\"u\",\"typ\":\"access\",\"exp\":9999999999,\"pad\":\"%s\"}",
				    filler);
		token = forge_hs256(payload);
		free(filler);
		free(payload);
		if (strlen(token) == total_len)
			return token;
		free(token);
	}
	return NULL;
}

Test(jwt, accepts_4096_bytes_and_rejects_longer_tokens)
{
	char *at_limit = signed_token_of_length(ACCESS_TOKEN_MAX_LEN);
	char *over = signed_token_of_length(ACCESS_TOKEN_MAX_LEN + 1);
	char *huge = xmalloc(100000);

	cr_assert_not_null(at_limit);
	cr_assert_not_null(over);
	assert_status(at_limit, ACCESS_TOKEN_OK);
	assert_status(over, ACCESS_TOKEN_MALFORMED);
	memset(huge, 'a', 99999);
	huge[99999] = '\0';
	assert_status(huge, ACCESS_TOKEN_MALFORMED);
	free(at_limit);
	free(over);
	free(huge);
}

Test(jwt, status_names_are_stable)
{
	cr_assert_str_eq(access_token_status_name(ACCESS_TOKEN_OK), "ok");
	cr_assert_str_eq(access_token_status_name(ACCESS_TOKEN_MALFORMED), "malformed");
	cr_assert_str_eq(access_token_status_name(ACCESS_TOKEN_BAD_SIGNATURE), "bad_signature");
	cr_assert_str_eq(access_token_status_name(ACCESS_TOKEN_WRONG_ALG), "wrong_alg");
	cr_assert_str_eq(access_token_status_name(ACCESS_TOKEN_EXPIRED), "expired");
	cr_assert_str_eq(access_token_status_name(ACCESS_TOKEN_WRONG_TYPE), "wrong_type");
	cr_assert_str_eq(access_token_status_name((enum access_token_status)99), "unknown");
}

/* ---- believable times (access_token_verify_lifetime) ---- */

static enum access_token_status verify_lifetime(const char *payload, long long max_lifetime)
{
	char *token = forge_hs256(payload);
	char subject[64] = "untouched";
	enum access_token_status st = access_token_verify_lifetime(
		secret, SECRET_LEN, token, "access", NOW, max_lifetime, subject, sizeof(subject));
	if (st != ACCESS_TOKEN_OK)
		cr_expect_str_empty(subject, "subject must be cleared on failure");
	free(token);
	return st;
}

Test(jwt, lifetime_rules_accept_a_token_as_this_node_issues_it)
{
	char *token = NULL, subject[64];
	cr_assert(access_token_issue(secret, SECRET_LEN, "user-1", "access", NOW, 900, &token));
	cr_expect_eq(access_token_verify_lifetime(secret, SECRET_LEN, token, "access", NOW + 10,
						  900, subject, sizeof(subject)),
		     ACCESS_TOKEN_OK);
	cr_expect_str_eq(subject, "user-1");
	free(token);
}

Test(jwt, lifetime_rules_refuse_an_iat_beyond_the_leeway_in_the_future)
{
	char *at_leeway = xasprintf("{\"sub\":\"u\",\"typ\":\"access\",\"iat\":%lld,\"exp\":%lld}",
				    NOW + ACCESS_TOKEN_LEEWAY, NOW + ACCESS_TOKEN_LEEWAY + 60);
	char *beyond = xasprintf("{\"sub\":\"u\",\"typ\":\"access\",\"iat\":%lld,\"exp\":%lld}",
				 NOW + ACCESS_TOKEN_LEEWAY + 1, NOW + ACCESS_TOKEN_LEEWAY + 61);
	cr_expect_eq(verify_lifetime(at_leeway, 900), ACCESS_TOKEN_OK, "clock skew is tolerated");
	cr_expect_eq(verify_lifetime(beyond, 900), ACCESS_TOKEN_BAD_LIFETIME);
	free(at_leeway);
	free(beyond);
}

Test(jwt, lifetime_rules_refuse_exp_minus_iat_longer_than_the_configured_lifetime)
{
	char *exact = xasprintf("{\"sub\":\"u\",\"typ\":\"access\",\"iat\":%lld,\"exp\":%lld}", NOW,
				NOW + 900);
	char *longer = xasprintf("{\"sub\":\"u\",\"typ\":\"access\",\"iat\":%lld,\"exp\":%lld}", NOW,
				 NOW + 901);
	char *years = xasprintf("{\"sub\":\"u\",\"typ\":\"access\",\"iat\":%lld,\"exp\":%lld}",
				-9000000000000000000LL, 9000000000000000000LL);
	char *backwards = xasprintf("{\"sub\":\"u\",\"typ\":\"access\",\"iat\":%lld,\"exp\":%lld}",
				    NOW + 30, NOW + 10);
	cr_expect_eq(verify_lifetime(exact, 900), ACCESS_TOKEN_OK);
	cr_expect_eq(verify_lifetime(longer, 900), ACCESS_TOKEN_BAD_LIFETIME);
	cr_expect_eq(verify_lifetime(years, 900), ACCESS_TOKEN_BAD_LIFETIME);
	cr_expect_eq(verify_lifetime(backwards, 900), ACCESS_TOKEN_BAD_LIFETIME);
	/* Without lifetime rules the same long token is only checked for expiry. */
	char *token = forge_hs256(longer);
	cr_expect_eq(verify(token, NULL, 0), ACCESS_TOKEN_OK);
	free(token);
	free(exact);
	free(longer);
	free(years);
	free(backwards);
}

Test(jwt, lifetime_rules_refuse_a_token_without_iat)
{
	char *payload = xasprintf("{\"sub\":\"u\",\"typ\":\"access\",\"exp\":%lld}", NOW + 60);
	cr_expect_eq(verify_lifetime(payload, 900), ACCESS_TOKEN_BAD_LIFETIME);
	free(payload);
}
