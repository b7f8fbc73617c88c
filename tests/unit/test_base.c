/* The small shared primitives of common/base: token bucket, intrusive list, clocks. */
#include <criterion/criterion.h>

#include "base/clock.h"
#include "base/list.h"
#include "base/tbucket.h"

Test(tbucket, starts_full_and_refuses_past_its_burst)
{
	struct tbucket b;
	tbucket_init(&b, 10.0, 3.0, 100.0);
	cr_assert(tbucket_take(&b, 1.0, 100.0));
	cr_assert(tbucket_take(&b, 2.0, 100.0));
	cr_assert_not(tbucket_take(&b, 1.0, 100.0), "empty bucket must refuse");
	cr_assert_float_eq(b.tokens, 0.0, 1e-9, "a refusal takes nothing");
}

Test(tbucket, refills_at_its_rate_and_caps_at_the_burst)
{
	struct tbucket b;
	tbucket_init(&b, 10.0, 3.0, 0.0);
	cr_assert(tbucket_take(&b, 3.0, 0.0));
	cr_assert_not(tbucket_take(&b, 1.0, 0.05), "0.5 tokens after 50 ms at 10/s");
	cr_assert(tbucket_take(&b, 1.0, 0.1), "1 token after 100 ms");
	tbucket_refill(&b, 1000.0);
	cr_assert_float_eq(b.tokens, 3.0, 1e-9, "never more than the burst");
	cr_assert(tbucket_full(&b, 1000.0));
}

Test(tbucket, wait_says_when_the_cost_is_there)
{
	struct tbucket b;
	tbucket_init(&b, 30.0, 3.0, 0.0);
	cr_assert(tbucket_take(&b, 3.0, 0.0));
	cr_assert_float_eq(tbucket_wait(&b, 1.0), 1.0 / 30.0, 1e-9);
	tbucket_refill(&b, 1.0 / 30.0);
	cr_assert(tbucket_wait(&b, 1.0) < 1e-9);
	cr_assert(tbucket_take(&b, 1.0, 1.0 / 30.0));
}

Test(tbucket, a_clock_that_goes_back_adds_nothing)
{
	struct tbucket b;
	tbucket_init(&b, 10.0, 5.0, 10.0);
	cr_assert(tbucket_take(&b, 5.0, 10.0));
	tbucket_refill(&b, 9.0);
	cr_assert_float_eq(b.tokens, 0.0, 1e-9);
}

struct item {
	int value;
	struct list_link link;
};

Test(list, push_remove_pop_keep_links_and_count_consistent)
{
	struct list l = { 0 };
	struct item items[5];
	for (int i = 0; i < 5; i++) {
		items[i].value = i;
		list_push(&l, &items[i].link);
	}
	cr_assert_eq(l.count, 5);
	list_remove(&l, &items[2].link);  /* middle */
	list_remove(&l, &items[4].link);  /* head (pushed last) */
	list_remove(&l, &items[0].link);  /* tail */
	cr_assert_eq(l.count, 2);
	int seen[2], n = 0;
	for (struct list_link *k = l.head; k; k = k->next)
		seen[n++] = LIST_ITEM(k, struct item, link)->value;
	cr_assert_eq(n, 2);
	cr_assert_eq(seen[0], 3);
	cr_assert_eq(seen[1], 1);
	cr_assert_eq(LIST_ITEM(list_pop(&l), struct item, link)->value, 3);
	cr_assert_eq(LIST_ITEM(list_pop(&l), struct item, link)->value, 1);
	cr_assert_null(list_pop(&l));
	cr_assert_eq(l.count, 0);
}

Test(clock, monotonic_time_does_not_go_back_and_spans_are_measured)
{
	struct timespec t;
	clock_mono_now(&t);
	double a = clock_mono_seconds();
	double b = clock_mono_seconds();
	cr_assert(b >= a);
	cr_assert(clock_seconds_since(&t) >= 0.0);
	long long ms = clock_wall_ms(), us = clock_wall_us();
	cr_assert(ms > 1700000000000ll, "wall clock in Unix milliseconds");
	cr_assert(us / 1000 >= ms);
}

Test(clock, monotonic_milliseconds_agree_with_seconds)
{
	long long before = clock_mono_ms();
	double seconds = clock_mono_seconds();
	long long after = clock_mono_ms();
	cr_assert(after >= before);
	long long ms = (long long)(seconds * 1000.0);
	cr_assert(ms >= before - 1 && ms <= after + 1, "%lld <= %.3f s <= %lld", before, seconds,
		  after);
}
