#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "base/strbuf.h"

Test(strbuf, appends_grow_and_stay_nul_terminated)
{
	struct strbuf b = { 0 };
	cr_assert_str_eq(strbuf_str(&b), "");
	for (int i = 0; i < 1000; i++)
		strbuf_printf(&b, "%d,", i);
	cr_assert_eq(b.len, strlen(strbuf_str(&b)));
	cr_assert(strncmp(strbuf_str(&b), "0,1,2,", 6) == 0);
	cr_assert(strstr(strbuf_str(&b), ",999,") != NULL);
	strbuf_putc(&b, 'x');
	strbuf_append(&b, "yz!", 2);
	cr_assert(b.len >= 3 && !strcmp(strbuf_str(&b) + b.len - 3, "xyz"));
	size_t cap = b.cap;
	strbuf_reset(&b);
	cr_assert_str_eq(strbuf_str(&b), "");
	cr_assert_eq(b.cap, cap, "reset keeps the capacity");
	strbuf_printf(&b, "%s-%0500d", "long", 7);
	cr_assert_eq(b.len, 5 + 500);
	strbuf_free(&b);
	cr_assert_null(b.data);
}

Test(strbuf, integers_without_printf)
{
	struct strbuf b = { 0 };
	long long values[] = { 0, 7, -7, 1234567890123ll, -9223372036854775807ll - 1,
			       9223372036854775807ll };
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		strbuf_reset(&b);
		strbuf_put_int(&b, values[i]);
		char expected[32];
		snprintf(expected, sizeof(expected), "%lld", values[i]);
		cr_assert_str_eq(strbuf_str(&b), expected);
	}
	strbuf_free(&b);
}
