#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "base/validate.h"

/*
 * Reference decoder, written as the definition reads rather than for speed: decode the
 * sequence by its lead byte, then require the shortest form, no surrogate and <= U+10FFFF.
 */
static bool reference_utf8(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 2;
			cp = c & 0x1f;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 3;
			cp = c & 0x0f;
			min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 4;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return false;
		}
		if (i + n > len)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}

static size_t encode_utf8(uint32_t cp, unsigned char *out)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | (cp >> 6));
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | (cp >> 12));
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | (cp >> 18));
	out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

static bool utf8(const char *s)
{
	return validate_utf8(s, strlen(s));
}

/* ---- validate_utf8 ---- */

Test(utf8, accepts_ascii_and_multibyte_text)
{
	cr_assert(utf8(""));
	cr_assert(utf8("hello, world"));
	cr_assert(utf8("caf\xc3\xa9"));                 /* é */
	cr_assert(utf8("\xe2\x82\xac"));                /* € */
	cr_assert(utf8("\xf0\x9f\x98\x80"));            /* 😀 */
	cr_assert(utf8("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"));
}

Test(utf8, accepts_embedded_nul_within_the_given_length)
{
	cr_assert(validate_utf8("a\0b", 3));
}

Test(utf8, accepts_every_scalar_value_and_rejects_every_surrogate)
{
	unsigned char buf[4];

	for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
		size_t n = encode_utf8(cp, buf);
		bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
		if (validate_utf8((const char *)buf, n) == surrogate)
			cr_assert_fail("U+%04X: got %d", (unsigned)cp, !surrogate);
	}
}

Test(utf8, accepts_the_boundaries_of_each_length)
{
	cr_assert(utf8("\x7f"));
	cr_assert(utf8("\xc2\x80"));
	cr_assert(utf8("\xdf\xbf"));
	cr_assert(utf8("\xe0\xa0\x80"));
	cr_assert(utf8("\xed\x9f\xbf"));         /* U+D7FF */
	cr_assert(utf8("\xee\x80\x80"));         /* U+E000 */
	cr_assert(utf8("\xef\xbf\xbf"));         /* U+FFFF */
	cr_assert(utf8("\xf0\x90\x80\x80"));     /* U+10000 */
	cr_assert(utf8("\xf4\x8f\xbf\xbf"));     /* U+10FFFF */
}

Test(utf8, rejects_overlong_forms)
{
	cr_assert_not(utf8("\xc0\x80"));             /* NUL in 2 bytes */
	cr_assert_not(utf8("\xc1\xbf"));
	cr_assert_not(utf8("\xc0\xaf"));             /* '/' in 2 bytes */
	cr_assert_not(utf8("\xe0\x80\xaf"));
	cr_assert_not(utf8("\xe0\x9f\xbf"));         /* U+07FF in 3 bytes */
	cr_assert_not(utf8("\xf0\x80\x80\xaf"));
	cr_assert_not(utf8("\xf0\x8f\xbf\xbf"));     /* U+FFFF in 4 bytes */
}

Test(utf8, rejects_surrogates)
{
	cr_assert_not(utf8("\xed\xa0\x80"));         /* U+D800 */
	cr_assert_not(utf8("\xed\xbf\xbf"));         /* U+DFFF */
	cr_assert_not(utf8("\xed\xa0\xbd\xed\xb8\x80")); /* CESU-8 pair */
}

Test(utf8, rejects_code_points_above_10ffff)
{
	cr_assert_not(utf8("\xf4\x90\x80\x80"));     /* U+110000 */
	cr_assert_not(utf8("\xf5\x80\x80\x80"));
	cr_assert_not(utf8("\xf7\xbf\xbf\xbf"));
	cr_assert_not(utf8("\xf8\x88\x80\x80\x80")); /* old 5-byte form */
	cr_assert_not(utf8("\xfc\x84\x80\x80\x80\x80"));
}

Test(utf8, rejects_invalid_bytes_and_stray_continuations)
{
	cr_assert_not(utf8("\xfe"));
	cr_assert_not(utf8("\xff"));
	cr_assert_not(utf8("\x80"));
	cr_assert_not(utf8("\xbf"));
	cr_assert_not(utf8("a\x80" "b"));
	cr_assert_not(utf8("\xc3\xa9\xa9"));
}

Test(utf8, rejects_truncated_sequences)
{
	cr_assert_not(utf8("\xc3"));
	cr_assert_not(utf8("\xe2\x82"));
	cr_assert_not(utf8("\xf0\x9f\x98"));
	cr_assert_not(utf8("\xe2\x82" "a"));
	cr_assert_not(utf8("\xf0\x9f" "ab"));
	cr_assert_not(validate_utf8("\xc3\xa9", 1));
}

Test(utf8, agrees_with_the_reference_on_all_two_and_three_byte_inputs)
{
	unsigned char b[3];

	for (unsigned i = 0; i < 0x10000; i++) {
		b[0] = (unsigned char)(i >> 8);
		b[1] = (unsigned char)i;
		if (validate_utf8((const char *)b, 2) != reference_utf8(b, 2))
			cr_assert_fail("%02x %02x", b[0], b[1]);
	}
	/* Lead bytes E0..FF are the only ones whose 3-byte answers are not settled above. */
	for (unsigned i = 0xe00000; i < 0x1000000; i++) {
		b[0] = (unsigned char)(i >> 16);
		b[1] = (unsigned char)(i >> 8);
		b[2] = (unsigned char)i;
		if (validate_utf8((const char *)b, 3) != reference_utf8(b, 3))
			cr_assert_fail("%02x %02x %02x", b[0], b[1], b[2]);
	}
}

Test(utf8, agrees_with_the_reference_on_all_four_byte_heads)
{
	unsigned char b[4];

	/* Only the lead and the second byte have ranges narrower than 80..BF. */
	for (unsigned lead = 0xf0; lead <= 0xff; lead++)
		for (unsigned second = 0; second < 0x100; second++)
			for (unsigned third = 0x70; third < 0xd0; third += 0x10)
				for (unsigned fourth = 0x70; fourth < 0xd0; fourth += 0x10) {
					b[0] = (unsigned char)lead;
					b[1] = (unsigned char)second;
					b[2] = (unsigned char)third;
					b[3] = (unsigned char)fourth;
					if (validate_utf8((const char *)b, 4) != reference_utf8(b, 4))
						cr_assert_fail("%02x %02x %02x %02x", lead, second, third,
							 fourth);
				}
}

/* The eight-byte ASCII fast path must not skip a bad byte at any alignment. */
Test(utf8, finds_a_bad_byte_at_every_offset_of_a_long_ascii_run)
{
	char buf[80];

	for (size_t pos = 0; pos < sizeof(buf); pos++) {
		memset(buf, 'a', sizeof(buf));
		buf[pos] = (char)0x80;
		cr_assert_not(validate_utf8(buf, sizeof(buf)), "pos %zu", pos);
		buf[pos] = (char)0xc3;
		cr_assert_eq(validate_utf8(buf, sizeof(buf)), false, "truncated at pos %zu", pos);
		if (pos + 1 < sizeof(buf)) {
			buf[pos + 1] = (char)0xa9;
			cr_assert(validate_utf8(buf, sizeof(buf)), "valid at pos %zu", pos);
		}
	}
}

Test(utf8, agrees_with_the_reference_on_pseudorandom_mixed_text)
{
	static const char *const pieces[] = { "a", "bcdefghij", "\xc3\xa9", "\xe2\x82\xac",
					      "\xf0\x9f\x98\x80", "\x80", "\xed\xa0\x80",
					      "\xc0\xaf", "\xf4\x90\x80\x80", "\xe2\x82" };
	unsigned char buf[256];
	uint32_t x = 12345;

	for (int iter = 0; iter < 20000; iter++) {
		size_t len = 0;
		while (len < 200) {
			x = x * 1103515245u + 12345u;
			/* Mostly valid pieces so that long valid inputs get tested too. */
			unsigned pick = (x >> 16) % 100;
			const char *p = pieces[pick < 96 ? pick % 5 : 5 + pick % 5];
			memcpy(buf + len, p, strlen(p));
			len += strlen(p);
		}
		if (validate_utf8((const char *)buf, len) != reference_utf8(buf, len))
			cr_assert_fail("iteration %d disagrees", iter);
	}
}

Test(utf8, null_pointer_is_valid_only_when_empty)
{
	cr_assert(validate_utf8(NULL, 0));
	cr_assert_not(validate_utf8(NULL, 1));
}

/* ---- validate_utf8_partial ---- */

Test(utf8_partial, reports_the_whole_length_for_complete_text)
{
	size_t n;

	cr_assert(validate_utf8_partial("ab\xc3\xa9", 4, &n));
	cr_assert_eq(n, 4);
}

Test(utf8_partial, holds_back_an_incomplete_final_character)
{
	size_t n;

	cr_assert(validate_utf8_partial("ab\xf0\x9f\x98", 5, &n));
	cr_assert_eq(n, 2);
	cr_assert(validate_utf8_partial("\xe2", 1, &n));
	cr_assert_eq(n, 0);
}

Test(utf8_partial, rejects_a_prefix_that_can_never_complete)
{
	size_t n;

	cr_assert_not(validate_utf8_partial("ab\xed\xa0", 4, &n)); /* surrogate already */
	cr_assert_not(validate_utf8_partial("\xe0\x80", 2, &n));   /* overlong already */
	cr_assert_not(validate_utf8_partial("\xf4\x90", 2, &n));   /* > U+10FFFF already */
	cr_assert_not(validate_utf8_partial("\xc3\xa9\x80", 3, &n));
}

Test(utf8_partial, splitting_valid_text_anywhere_and_carrying_the_tail_accepts_it)
{
	const char *text = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";
	size_t len = strlen(text);

	for (size_t cut = 0; cut <= len; cut++) {
		char second[32];
		size_t done, tail, n;
		cr_assert(validate_utf8_partial(text, cut, &done), "cut %zu", cut);
		tail = cut - done;
		cr_assert_leq(tail, 3);
		memcpy(second, text + done, tail);
		memcpy(second + tail, text + cut, len - cut);
		cr_assert(validate_utf8_partial(second, tail + len - cut, &n));
		cr_assert_eq(n, tail + len - cut, "cut %zu", cut);
	}
}

/* ---- validate_email_normalize ---- */

Test(email, normalizes_case_and_surrounding_whitespace)
{
	char out[VALIDATE_EMAIL_SIZE];
	const char *why = NULL;

	cr_assert(validate_email_normalize("  Alice.Smith+tag@Example.COM\t\n", out, sizeof(out),
					   &why));
	cr_assert_str_eq(out, "alice.smith+tag@example.com");
}

Test(email, leaves_non_ascii_bytes_as_they_are)
{
	char out[VALIDATE_EMAIL_SIZE];

	cr_assert(validate_email_normalize("J\xc3\xb6rg@Example.de", out, sizeof(out), NULL));
	cr_assert_str_eq(out, "j\xc3\xb6rg@example.de");
}

static void assert_email_rejected(const char *in, const char *why_part)
{
	char out[VALIDATE_EMAIL_SIZE];
	const char *why = NULL;

	memset(out, 'x', sizeof(out));
	cr_assert_not(validate_email_normalize(in, out, sizeof(out), &why), "accepted %s", in);
	cr_assert_not_null(why);
	cr_assert(strstr(why, why_part), "why for %s was '%s'", in, why);
	cr_assert_str_empty(out);
}

Test(email, rejects_empty_and_blank_input)
{
	assert_email_rejected("", "required");
	assert_email_rejected("   \t ", "required");
	assert_email_rejected(NULL, "required");
}

Test(email, rejects_missing_or_repeated_at_sign)
{
	assert_email_rejected("alice.example.com", "exactly one");
	assert_email_rejected("a@b@example.com", "exactly one");
}

Test(email, rejects_empty_local_part)
{
	assert_email_rejected("@example.com", "before '@'");
}

Test(email, rejects_a_local_part_over_64_bytes)
{
	char in[128];

	memset(in, 'a', 65);
	strcpy(in + 65, "@example.com");
	assert_email_rejected(in, "too long");
	in[64] = '@';
	in[65] = '\0';
	strcat(in, "example.com");
	cr_assert(validate_email_normalize(in, (char[VALIDATE_EMAIL_SIZE]){ 0 }, VALIDATE_EMAIL_SIZE,
					   NULL));
}

Test(email, rejects_a_domain_without_a_dot_or_with_empty_labels)
{
	assert_email_rejected("alice@localhost", "dot");
	assert_email_rejected("alice@", "domain");
	assert_email_rejected("alice@.example.com", "domain");
	assert_email_rejected("alice@example.com.", "domain");
	assert_email_rejected("alice@example..com", "domain");
}

Test(email, rejects_inner_spaces_and_control_characters)
{
	assert_email_rejected("al ice@example.com", "spaces");
	assert_email_rejected("alice@exa\tmple.com", "spaces");
	assert_email_rejected("alice\x01@example.com", "control");
	assert_email_rejected("alice\x7f@example.com", "control");
	assert_email_rejected("alice\xc2\x85@example.com", "control"); /* U+0085 (NEL) */
}

Test(email, rejects_address_specials)
{
	assert_email_rejected("\"alice\"@example.com", "not allowed");
	assert_email_rejected("alice<x>@example.com", "not allowed");
	assert_email_rejected("alice,bob@example.com", "not allowed");
	assert_email_rejected("alice@[127.0.0.1]", "not allowed");
	assert_email_rejected("alice;x@example.com", "not allowed");
}

Test(email, rejects_invalid_utf8)
{
	assert_email_rejected("al\xffice@example.com", "UTF-8");
	assert_email_rejected("al\xc0\xafice@example.com", "UTF-8");
}

Test(email, accepts_254_bytes_and_rejects_255)
{
	char in[300], out[VALIDATE_EMAIL_SIZE];
	size_t domain_len;

	/* 64-byte local part, '@', then labels of 'b' separated by dots to the target length. */
	memset(in, 'a', 64);
	in[64] = '@';
	domain_len = 254 - 65;
	for (size_t i = 0; i < domain_len; i++)
		in[65 + i] = (i % 50 == 49) ? '.' : 'b';
	in[254] = '\0';
	cr_assert(validate_email_normalize(in, out, sizeof(out), NULL));
	cr_assert_eq(strlen(out), 254);
	in[254] = 'c';
	in[255] = '\0';
	assert_email_rejected(in, "too long");
}

Test(email, length_limit_applies_after_trimming)
{
	char in[300], out[VALIDATE_EMAIL_SIZE];

	memset(in, ' ', 20);
	strcpy(in + 20, "alice@example.com");
	memset(in + 37, ' ', 240);
	in[277] = '\0';
	cr_assert(validate_email_normalize(in, out, sizeof(out), NULL));
	cr_assert_str_eq(out, "alice@example.com");
}

Test(email, refuses_an_output_buffer_too_small)
{
	char out[8];
	const char *why = NULL;

	cr_assert_not(validate_email_normalize("alice@example.com", out, sizeof(out), &why));
	cr_assert_not_null(why);
	cr_assert_str_empty(out);
}

/* ---- validate_display_name ---- */

Test(display_name, accepts_unicode_names)
{
	cr_assert(validate_display_name("Ada Lovelace", NULL));
	cr_assert(validate_display_name("  Zo\xc3\xab  ", NULL));
	cr_assert(validate_display_name("\xe5\xb1\xb1\xe7\x94\xb0 \xf0\x9f\x8e\xa8", NULL));
}

Test(display_name, rejects_empty_or_blank)
{
	const char *why = NULL;

	cr_assert_not(validate_display_name("", &why));
	cr_assert_not_null(why);
	cr_assert_not(validate_display_name(" \t\n ", NULL));
	cr_assert_not(validate_display_name(NULL, NULL));
}

Test(display_name, counts_100_bytes_after_trimming)
{
	char s[200];

	memset(s, 'x', 100);
	s[100] = '\0';
	cr_assert(validate_display_name(s, NULL));
	memset(s, ' ', 10);
	memset(s + 10, 'x', 100);
	memset(s + 110, ' ', 10);
	s[120] = '\0';
	cr_assert(validate_display_name(s, NULL));
	memset(s, 'x', 101);
	s[101] = '\0';
	cr_assert_not(validate_display_name(s, NULL));
}

Test(display_name, rejects_control_characters)
{
	const char *why = NULL;

	cr_assert_not(validate_display_name("Ada\nLovelace", &why));
	cr_assert(strstr(why, "control"));
	cr_assert_not(validate_display_name("Ada\tLovelace", NULL));
	cr_assert_not(validate_display_name("Ada\x7f", NULL));
	cr_assert_not(validate_display_name("Ada\xc2\x9b", NULL));          /* C1 CSI */
	cr_assert_not(validate_display_name("Ada\xe2\x80\xa8x", NULL));     /* U+2028 */
	cr_assert_not(validate_display_name("Ada\xe2\x80\xae" "evil", NULL)); /* RLO */
	cr_assert_not(validate_display_name("Ada\xe2\x81\xa6x", NULL));     /* LRI */
}

Test(display_name, rejects_invalid_utf8)
{
	const char *why = NULL;

	cr_assert_not(validate_display_name("Ada\xff", &why));
	cr_assert(strstr(why, "UTF-8"));
	cr_assert_not(validate_display_name("Ada\xed\xa0\x80", NULL));
}

/* ---- validate_password ---- */

Test(password_rule, accepts_8_to_256_bytes)
{
	char s[300];

	memset(s, 'p', 256);
	s[256] = '\0';
	cr_assert(validate_password(s, NULL));
	cr_assert(validate_password("12345678", NULL));
	cr_assert(validate_password("\xff\xfe\x01 spaces ok", NULL));
}

Test(password_rule, rejects_shorter_than_8_bytes)
{
	const char *why = NULL;

	cr_assert_not(validate_password("1234567", &why));
	cr_assert(strstr(why, "short"));
	cr_assert_not(validate_password("", NULL));
	cr_assert_not(validate_password(NULL, NULL));
}

Test(password_rule, rejects_longer_than_256_bytes)
{
	char s[300];
	const char *why = NULL;

	memset(s, 'p', 257);
	s[257] = '\0';
	cr_assert_not(validate_password(s, &why));
	cr_assert(strstr(why, "long"));
}

/* ---- validate_name ---- */

Test(name, accepts_1_to_max_bytes)
{
	cr_assert(validate_name("x", 10, NULL));
	cr_assert(validate_name("Sprint board", 12, NULL));
	cr_assert(validate_name("Caf\xc3\xa9 plans", 64, NULL));
}

Test(name, rejects_empty_blank_and_null)
{
	const char *why = NULL;

	cr_assert_not(validate_name("", 10, &why));
	cr_assert(strstr(why, "empty"));
	cr_assert_not(validate_name("   ", 10, NULL));
	cr_assert_not(validate_name(NULL, 10, NULL));
}

Test(name, rejects_more_than_max_bytes)
{
	const char *why = NULL;

	cr_assert_not(validate_name("Sprint board", 11, &why));
	cr_assert(strstr(why, "long"));
	cr_assert_not(validate_name("\xc3\xa9", 1, NULL)); /* 1 character, 2 bytes */
}

Test(name, rejects_control_characters_and_invalid_utf8)
{
	cr_assert_not(validate_name("a\x1b[31m", 64, NULL));
	cr_assert_not(validate_name("a\rb", 64, NULL));
	cr_assert_not(validate_name("a\xe2\x80\xaeb", 64, NULL));
	cr_assert_not(validate_name("a\x80", 64, NULL));
	cr_assert_not(validate_name("\xc0\x80", 64, NULL));
}

/* ---- validate_uuid ---- */

Test(uuid, accepts_canonical_form_in_either_case)
{
	cr_assert(validate_uuid("123e4567-e89b-12d3-a456-426614174000"));
	cr_assert(validate_uuid("123E4567-E89B-12D3-A456-426614174ABC"));
	cr_assert(validate_uuid("00000000-0000-0000-0000-000000000000"));
}

Test(uuid, rejects_every_other_shape)
{
	static const char *const bad[] = {
		"",
		"123e4567e89b12d3a456426614174000",         /* no dashes */
		"{123e4567-e89b-12d3-a456-426614174000}",   /* braces */
		"123e4567-e89b-12d3-a456-42661417400",      /* short */
		"123e4567-e89b-12d3-a456-4266141740000",    /* long */
		"123e4567-e89b-12d3-a456-42661417400g",     /* non-hex */
		"123e4567_e89b-12d3-a456-426614174000",     /* wrong separator */
		"123e456-7e89b-12d3-a456-426614174000",     /* dash misplaced */
		" 123e4567-e89b-12d3-a456-426614174000",    /* leading space */
		"123e4567-e89b-12d3-a456-426614174000\n",
		"urn:uuid:123e4567-e89b-12d3-a456-426614174000",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_not(validate_uuid(bad[i]), "accepted '%s'", bad[i]);
	cr_assert_not(validate_uuid(NULL));
}

/* ---- validate_trim ---- */

Test(trim, strips_surrounding_ascii_whitespace_only)
{
	size_t len;
	const char *t = validate_trim(" \t\r\n\v\fa b\n ", &len);

	cr_assert_eq(len, 3);
	cr_assert(strncmp(t, "a b", 3) == 0);
	t = validate_trim("   ", &len);
	cr_assert_eq(len, 0);
	t = validate_trim("\xc2\xa0x", &len); /* NBSP is not ASCII whitespace */
	cr_assert_eq(len, 3);
}

/* ---- validate_date ---- */

Test(date, accepts_real_calendar_dates_and_counts_days_from_the_epoch)
{
	long days = -1;
	cr_assert(validate_date("1970-01-01", &days));
	cr_assert_eq(days, 0);
	cr_assert(validate_date("2000-02-29", &days)); /* divisible by 400: leap */
	cr_assert_eq(days, 11016);
	cr_assert(validate_date("2024-02-29", &days));
	cr_assert_eq(days, 19782);
	cr_assert(validate_date("9999-12-31", &days));
	cr_assert_eq(days, 2932896);
}

Test(date, refuses_everything_but_yyyy_mm_dd_of_a_day_that_exists)
{
	static const char *const bad[] = {
		"", "1969-12-31", "2023-02-29", "1900-02-29", "2024-04-31", "2024-00-10",
		"2024-13-01", "2024-01-00", "2024-1-01", "2024-01-1", "24-01-01", "2024/01/01",
		"2024-01-01T00:00", " 2024-01-01", "2024-01-01 ", "+024-01-01", "2024-0a-01",
		"10000-01-01",
	};
	long days = 7;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_not(validate_date(bad[i], &days), "accepted '%s'", bad[i]);
	cr_assert_not(validate_date(NULL, &days));
	cr_assert_eq(days, 7, "a refused date left *days alone");
}

Test(date, formats_back_what_it_parsed_for_every_day_of_four_centuries)
{
	/* 1970..2370 covers every leap rule (4, 100, 400) several times. */
	char text[11];
	for (long d = 0; d < 146097; d++) {
		validate_date_format(d, text);
		long back = -1;
		cr_assert(validate_date(text, &back), "formatted %ld as unparsable '%s'", d, text);
		cr_assert_eq(back, d, "'%s' parsed to %ld, not %ld", text, back, d);
	}
	validate_date_format(2932896, text);
	cr_assert_str_eq(text, "9999-12-31");
}
