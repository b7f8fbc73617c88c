#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "auth/password.h"

/* The smallest cost the bounds allow, so the suite stays fast. */
static const struct password_params fast = { .n = 1024, .r = 8, .p = 1 };

static char *hash_fast(const char *password)
{
	char *encoded = NULL;

	cr_assert(password_hash(password, &fast, &encoded));
	cr_assert_not_null(encoded);
	return encoded;
}

Test(password, hash_then_verify_accepts_the_same_password)
{
	char *h = hash_fast("correct horse battery staple");

	cr_assert(password_verify("correct horse battery staple", h));
	free(h);
}

Test(password, verify_rejects_a_different_password)
{
	char *h = hash_fast("correct horse battery staple");

	cr_assert_not(password_verify("correct horse battery stapl", h));
	cr_assert_not(password_verify("Correct horse battery staple", h));
	cr_assert_not(password_verify("", h));
	free(h);
}

Test(password, encoding_has_the_documented_shape)
{
	char *h = hash_fast("hunter22hunter22");
	char salt[64], key[64];
	unsigned log2n, r, p;

	cr_assert_eq(sscanf(h, "scrypt$%u$%u$%u$%63[^$]$%63s", &log2n, &r, &p, salt, key), 5,
		     "%s", h);
	cr_assert_eq(log2n, 10);
	cr_assert_eq(r, 8);
	cr_assert_eq(p, 1);
	cr_assert_eq(strlen(salt), 22, "16-byte salt, unpadded base64url");
	cr_assert_eq(strlen(key), 43, "32-byte key, unpadded base64url");
	free(h);
}

Test(password, same_password_hashes_differently_each_time)
{
	char *a = hash_fast("same password"), *b = hash_fast("same password");

	cr_assert_str_neq(a, b);
	cr_assert(password_verify("same password", a));
	cr_assert(password_verify("same password", b));
	free(a);
	free(b);
}

Test(password, default_params_hash_and_verify, .timeout = 30)
{
	char *h = NULL;

	cr_assert(password_hash("correct horse battery staple", NULL, &h));
	cr_assert(strncmp(h, "scrypt$15$8$1$", 14) == 0, "%s", h);
	cr_assert(password_verify("correct horse battery staple", h));
	cr_assert_not(password_verify("wrong horse battery staple", h));
	free(h);
}

/*
 * Known answer computed independently with Python's hashlib.scrypt (which reproduces the
 * RFC 7914 vectors): password "pleaseletmein", salt "SodiumChloride!!", N=1024, r=8, p=1,
 * 32 bytes. Proves the encoding's fields reach the KDF as documented.
 */
Test(password, verifies_an_independently_computed_hash)
{
	const char *known =
		"scrypt$10$8$1$U29kaXVtQ2hsb3JpZGUhIQ$JCuoisXDWnMRw1QkVC17679a7Kp9Mer3-lUbCCeUmAU";

	cr_assert(password_verify("pleaseletmein", known));
	cr_assert_not(password_verify("pleaseletmeim", known));
}

Test(password, hash_refuses_passwords_outside_8_to_256_bytes)
{
	char long_pw[300], *h = (char *)1;

	cr_assert_not(password_hash("short", &fast, &h));
	cr_assert_null(h);
	memset(long_pw, 'a', 257);
	long_pw[257] = '\0';
	cr_assert_not(password_hash(long_pw, &fast, &h));
	cr_assert_not(password_hash(NULL, &fast, &h));
	long_pw[256] = '\0';
	cr_assert(password_hash(long_pw, &fast, &h));
	cr_assert(password_verify(long_pw, h));
	free(h);
}

Test(password, hash_refuses_out_of_bounds_params)
{
	static const struct password_params bad[] = {
		{ .n = 512, .r = 8, .p = 1 },          /* log2 N below 10 */
		{ .n = 1u << 21, .r = 8, .p = 1 },     /* log2 N above 20 */
		{ .n = 1000, .r = 8, .p = 1 },         /* not a power of two */
		{ .n = 0, .r = 8, .p = 1 },
		{ .n = 1024, .r = 0, .p = 1 },
		{ .n = 1024, .r = 17, .p = 1 },
		{ .n = 1024, .r = 8, .p = 0 },
		{ .n = 1024, .r = 8, .p = 5 },
	};
	char *h = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_not(password_params_valid(&bad[i]), "params %zu", i);
		cr_assert_not(password_hash("long enough", &bad[i], &h), "params %zu", i);
		cr_assert_null(h);
	}
	cr_assert(password_params_valid(&fast));
	cr_assert(password_params_valid(&PASSWORD_PARAMS_DEFAULT));
}

/* Each malformed variant of a valid hash of "long enough" must be refused, never crash. */
Test(password, verify_rejects_malformed_encodings)
{
	char *h = hash_fast("long enough");
	char *salt = strchr(h + strlen("scrypt$10$8$1$"), '$');
	char variant[256];
	static const char *const bad[] = {
		"",
		"scrypt",
		"scrypt$",
		"scrypt$10$8$1$",
		"scrypt$10$8$1$$",
		"bcrypt$10$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"scrypt$10$8$1$AAAAAAAAAAAAAAAAAAAAAA",
		"scrypt$10$8$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"scrypt$9$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"scrypt$21$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"scrypt$99999999999$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"scrypt$10$0$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"scrypt$10$17$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"scrypt$10$8$0$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"scrypt$10$8$5$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"scrypt$-10$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"scrypt$+10$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"scrypt$ 10$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"scrypt$010$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"scrypt$10$8$1$AAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"scrypt$10$8$1$AAAAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"scrypt$10$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"scrypt$10$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"scrypt$10$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"scrypt$10$8$1$AAAAAAAAAAAAAAAAAAAAA+$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};

	cr_assert_not_null(salt);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_not(password_verify("long enough", bad[i]), "accepted '%s'", bad[i]);
	cr_assert_not(password_verify("long enough", NULL));
	cr_assert_not(password_verify(NULL, h));

	/* The real hash with a trailing byte, or with its key truncated, no longer verifies. */
	snprintf(variant, sizeof(variant), "%s$", h);
	cr_assert_not(password_verify("long enough", variant));
	snprintf(variant, sizeof(variant), "%s", h);
	variant[strlen(variant) - 1] = '\0';
	cr_assert_not(password_verify("long enough", variant));
	/* A salt or key changed in one character no longer verifies. */
	snprintf(variant, sizeof(variant), "%s", h);
	variant[salt - h + 1] = variant[salt - h + 1] == 'A' ? 'B' : 'A';
	cr_assert_not(password_verify("long enough", variant));
	snprintf(variant, sizeof(variant), "%s", h);
	variant[strlen(variant) - 2] = variant[strlen(variant) - 2] == 'A' ? 'B' : 'A';
	cr_assert_not(password_verify("long enough", variant));
	/* A parameter changed, with salt and key kept, no longer verifies. */
	snprintf(variant, sizeof(variant), "scrypt$11%s", h + strlen("scrypt$10"));
	cr_assert_not(password_verify("long enough", variant));
	cr_assert(password_verify("long enough", h));
	free(h);
}

/*
 * Other spellings of a valid hash of "long enough": a lenient parser (strtoul, a decoder that
 * skips padding or trailing bytes) would accept each and make the password match, so each
 * must be refused by the parser itself.
 */
Test(password, verify_accepts_only_the_canonical_spelling)
{
	char *h = hash_fast("long enough");
	const char *rest = h + strlen("scrypt$10$8$1$"); /* "<salt>$<key>" */
	const char *key = strchr(rest, '$') + 1;
	int salt_len = (int)(key - 1 - rest);
	char *variants[12];
	size_t n = 0;

	cr_assert(strncmp(h, "scrypt$10$8$1$", 14) == 0);
	variants[n++] = xasprintf("scrypt$010$8$1$%s", rest);
	variants[n++] = xasprintf("scrypt$+10$8$1$%s", rest);
	variants[n++] = xasprintf("scrypt$ 10$8$1$%s", rest);
	variants[n++] = xasprintf("scrypt$10$08$1$%s", rest);
	variants[n++] = xasprintf("scrypt$10$8$01$%s", rest);
	variants[n++] = xasprintf("SCRYPT$10$8$1$%s", rest);
	variants[n++] = xasprintf("scrypt$10$8$1$%.*s==$%s", salt_len, rest, key);
	variants[n++] = xasprintf("scrypt$10$8$1$%s=", rest);
	variants[n++] = xasprintf("scrypt$10$8$1$%s$", rest);
	variants[n++] = xasprintf("scrypt$10$8$1$%s ", rest);
	variants[n++] = xasprintf(" scrypt$10$8$1$%s", rest);
	variants[n++] = xasprintf("scrypt$10$8$1$$%s", rest);
	for (size_t i = 0; i < n; i++) {
		cr_assert_not(password_verify("long enough", variants[i]), "accepted '%s'",
			      variants[i]);
		free(variants[i]);
	}
	cr_assert(password_verify("long enough", h));
	free(h);
}

Test(password, dummy_hash_is_a_valid_hash_computed_once)
{
	const char *a = password_dummy_hash(&fast);
	const char *b = password_dummy_hash(&fast);

	cr_assert_not_null(a);
	cr_assert_eq(a, b, "the same string every time");
	cr_assert(strncmp(a, "scrypt$10$8$1$", 14) == 0, "%s", a);
	/* Well-formed, so verifying against it costs a full KDF run like a real account. */
	cr_assert_not(password_verify("long enough", a));
}

static void *dummy_thread(void *arg)
{
	(void)arg;
	return (void *)password_dummy_hash(&fast);
}

Test(password, dummy_hash_is_the_same_from_concurrent_first_calls)
{
	pthread_t threads[4];
	void *results[4];

	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&threads[i], NULL, dummy_thread, NULL), 0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_join(threads[i], &results[i]), 0);
	cr_assert_not_null(results[0]);
	for (int i = 1; i < 4; i++)
		cr_assert_eq(results[i], results[0]);
}

struct verify_job {
	const char *password;
	const char *encoded;
	bool ok;
};

static void *verify_thread(void *arg)
{
	struct verify_job *job = arg;

	job->ok = password_verify(job->password, job->encoded);
	return NULL;
}

Test(password, verify_is_correct_from_concurrent_threads)
{
	char *h1 = hash_fast("first password"), *h2 = hash_fast("second password");
	struct verify_job jobs[6] = {
		{ "first password", h1, false },  { "second password", h2, false },
		{ "first password", h2, true },   { "second password", h1, true },
		{ "first password", h1, false },  { "second password", h2, false },
	};
	pthread_t threads[6];

	for (int i = 0; i < 6; i++)
		cr_assert_eq(pthread_create(&threads[i], NULL, verify_thread, &jobs[i]), 0);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(pthread_join(threads[i], NULL), 0);
	cr_assert(jobs[0].ok && jobs[1].ok && jobs[4].ok && jobs[5].ok);
	cr_assert(!jobs[2].ok && !jobs[3].ok);
	free(h1);
	free(h2);
}
