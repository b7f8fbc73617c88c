#include <criterion/criterion.h>
#include <string.h>

#include "auth/token.h"
#include "base/validate.h"

static bool is_base64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

Test(token, random_is_43_base64url_chars)
{
	char out[TOKEN_RANDOM_SIZE];

	cr_assert(token_random(out, sizeof(out)));
	cr_assert_eq(strlen(out), 43);
	for (size_t i = 0; i < 43; i++)
		cr_assert(is_base64url_char(out[i]), "char %zu is %c", i, out[i]);
}

Test(token, random_decodes_to_32_bytes)
{
	char out[TOKEN_RANDOM_SIZE];
	unsigned char raw[64];
	size_t n;

	cr_assert(token_random(out, sizeof(out)));
	cr_assert(token_base64url_decode(out, strlen(out), raw, sizeof(raw), &n));
	cr_assert_eq(n, 32);
}

Test(token, random_differs_between_calls)
{
	char a[TOKEN_RANDOM_SIZE], b[TOKEN_RANDOM_SIZE];

	cr_assert(token_random(a, sizeof(a)));
	cr_assert(token_random(b, sizeof(b)));
	cr_assert_str_neq(a, b);
}

Test(token, random_refuses_a_buffer_too_small)
{
	char out[TOKEN_RANDOM_SIZE - 1];

	memset(out, 'x', sizeof(out));
	cr_assert_not(token_random(out, sizeof(out)));
	cr_assert_str_empty(out);
	cr_assert_not(token_random(NULL, 0));
}

Test(token, sha256_hex_matches_known_vectors)
{
	char out[TOKEN_SHA256_HEX_SIZE];

	token_sha256_hex("", 0, out);
	cr_assert_str_eq(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	token_sha256_hex("abc", 3, out);
	cr_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(token, sha256_hex_uses_the_given_length_not_the_nul)
{
	char a[TOKEN_SHA256_HEX_SIZE], b[TOKEN_SHA256_HEX_SIZE];

	token_sha256_hex("abcdef", 3, a);
	token_sha256_hex("abc", 3, b);
	cr_assert_str_eq(a, b);
}

Test(token, hex_is_lowercase_and_nul_terminated)
{
	const unsigned char in[] = { 0x00, 0x01, 0xab, 0xff, 0x7f };
	char out[2 * sizeof(in) + 1];

	memset(out, 'x', sizeof(out));
	token_hex(in, sizeof(in), out);
	cr_assert_str_eq(out, "0001abff7f");
	token_hex(in, 0, out);
	cr_assert_str_empty(out);
}

/* RFC 4648 section 10 vectors, in the url alphabet without padding. */
Test(token, base64url_encode_matches_rfc4648_vectors)
{
	static const char *const in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const want[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE",
					    "Zm9vYmFy" };
	char out[16];

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		size_t n = token_base64url_encode((const unsigned char *)in[i], strlen(in[i]), out,
						  sizeof(out));
		cr_assert_str_eq(out, want[i]);
		cr_assert_eq(n, strlen(want[i]));
		cr_assert_eq(n, TOKEN_BASE64URL_LEN(strlen(in[i])));
	}
}

Test(token, base64url_encode_uses_dash_and_underscore)
{
	const unsigned char in[] = { 0xfb, 0xff, 0xbf };
	char out[8];

	token_base64url_encode(in, sizeof(in), out, sizeof(out));
	cr_assert_str_eq(out, "-_-_");
}

Test(token, base64url_encode_refuses_a_buffer_too_small)
{
	const unsigned char in[] = "foo";
	char out[4];

	memset(out, 'x', sizeof(out));
	cr_assert_eq(token_base64url_encode(in, 3, out, sizeof(out)), 0);
	cr_assert_str_empty(out);
	cr_assert_eq(token_base64url_encode(in, 3, out, 0), 0);
}

Test(token, base64url_round_trips_every_length_and_byte)
{
	unsigned char in[256], back[256];
	char enc[400];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(255 - i);
	for (size_t n = 0; n <= sizeof(in); n++) {
		size_t len = token_base64url_encode(in, n, enc, sizeof(enc)), got;
		cr_assert(token_base64url_decode(enc, len, back, sizeof(back), &got), "n=%zu", n);
		cr_assert_eq(got, n);
		cr_assert_arr_eq(back, in, n);
	}
}

Test(token, base64url_decode_rejects_padding_and_foreign_characters)
{
	unsigned char out[16];
	size_t n;
	static const char *const bad[] = { "Zg==", "Zm9v+g", "Zm9v/g", "Zm 9v", "Zm9v\n", "Zm9v.",
					   "Z" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_not(token_base64url_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n),
			      "accepted %s", bad[i]);
}

Test(token, base64url_decode_rejects_nonzero_trailing_bits)
{
	unsigned char out[4];
	size_t n;

	/* "Zg" is the canonical spelling of "f"; "Zh" has the same 8 bits plus a stray one. */
	cr_assert(token_base64url_decode("Zg", 2, out, sizeof(out), &n));
	cr_assert_not(token_base64url_decode("Zh", 2, out, sizeof(out), &n));
	cr_assert_not(token_base64url_decode("Zm9", 3, out, sizeof(out), &n));
}

Test(token, base64url_decode_refuses_an_output_too_small)
{
	unsigned char out[2];
	size_t n;

	cr_assert_not(token_base64url_decode("Zm9v", 4, out, sizeof(out), &n));
	cr_assert(token_base64url_decode("Zm8", 3, out, sizeof(out), &n));
	cr_assert_eq(n, 2);
}

Test(token, base64url_decode_respects_the_given_length)
{
	unsigned char out[8];
	size_t n;

	cr_assert(token_base64url_decode("Zm9v!!!", 4, out, sizeof(out), &n));
	cr_assert_eq(n, 3);
	cr_assert(token_base64url_decode("", 0, out, sizeof(out), &n));
	cr_assert_eq(n, 0);
}

Test(token, uuid_v4_is_canonical_versioned_and_random)
{
	char a[TOKEN_UUID_SIZE], b[TOKEN_UUID_SIZE];
	cr_assert(token_uuid_v4(a));
	cr_assert(token_uuid_v4(b));
	cr_assert_eq(strlen(a), 36);
	cr_assert(validate_uuid(a), "%s", a);
	cr_assert_eq(a[14], '4', "version nibble: %s", a);
	cr_assert(strchr("89ab", a[19]) != NULL, "variant: %s", a);
	cr_assert_str_neq(a, b);
}
