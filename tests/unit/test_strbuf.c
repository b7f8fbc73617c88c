#include <criterion/criterion.h>
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
