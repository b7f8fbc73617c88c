#include <criterion/criterion.h>
#include <stdio.h>

#include "auth/access_token.h"
#include "auth/token_cache.h"

Test(token_cache, a_verified_token_hits_until_it_expires)
{
	struct token_cache *c = token_cache_new(16);
	char sub[64];
	cr_assert_not(token_cache_get(c, "tok", 100, sub, sizeof(sub)));
	token_cache_put(c, "tok", "user-1", 200);
	cr_assert(token_cache_get(c, "tok", 199, sub, sizeof(sub)));
	cr_assert_str_eq(sub, "user-1");
	cr_assert_not(token_cache_get(c, "tok", 200, sub, sizeof(sub)), "expired at exp");
	cr_assert_not(token_cache_get(c, "tok2", 100, sub, sizeof(sub)), "only the exact text");
	char small[4];
	cr_assert_not(token_cache_get(c, "tok", 100, small, sizeof(small)));
	token_cache_free(c);
}

Test(token_cache, a_full_cache_starts_over)
{
	struct token_cache *c = token_cache_new(3);
	char key[16], sub[64];
	for (int i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "t%d", i);
		token_cache_put(c, key, "u", 1000);
	}
	cr_assert_eq(token_cache_count(c), 3);
	token_cache_put(c, "t0", "u", 2000); /* a refresh of a known token fits */
	cr_assert_eq(token_cache_count(c), 3);
	token_cache_put(c, "t3", "u", 1000);
	cr_assert_eq(token_cache_count(c), 1);
	cr_assert(token_cache_get(c, "t3", 10, sub, sizeof(sub)));
	cr_assert_not(token_cache_get(c, "t1", 10, sub, sizeof(sub)));
	token_cache_free(c);
}

Test(token_cache, the_expiry_comes_from_the_token_itself)
{
	static const unsigned char secret[] = "a-secret-of-enough-length-for-the-test";
	char *token = NULL;
	cr_assert(access_token_issue(secret, sizeof(secret) - 1, "u-7", "access", 1000, 900, &token));
	cr_assert_eq(access_token_expires(token), 1900);
	cr_assert_eq(access_token_expires("not.a-token"), 0);
	cr_assert_eq(access_token_expires(NULL), 0);
	free(token);
}
