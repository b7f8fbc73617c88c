#include <criterion/criterion.h>
#include <stdio.h>

#include "base/strmap.h"

Test(strmap, put_get_remove_round_trip_across_growth)
{
	struct strmap *m = strmap_new();
	static int values[5000];
	char key[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "canvas-%d", i);
		cr_assert_null(strmap_put(m, key, &values[i]));
	}
	cr_assert_eq(strmap_count(m), 5000);
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "canvas-%d", i);
		cr_assert_eq(strmap_get(m, key), &values[i]);
	}
	for (int i = 0; i < 5000; i += 2) {
		snprintf(key, sizeof(key), "canvas-%d", i);
		cr_assert_eq(strmap_remove(m, key), &values[i]);
	}
	cr_assert_eq(strmap_count(m), 2500);
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "canvas-%d", i);
		cr_assert_eq(strmap_get(m, key), i % 2 ? &values[i] : NULL);
	}
	strmap_free(m);
}

Test(strmap, put_replaces_and_returns_previous_value)
{
	struct strmap *m = strmap_new();
	int a, b;
	cr_assert_null(strmap_put(m, "k", &a));
	cr_assert_eq(strmap_put(m, "k", &b), &a);
	cr_assert_eq(strmap_get(m, "k"), &b);
	cr_assert_eq(strmap_count(m), 1);
	cr_assert_null(strmap_remove(m, "missing"));
	strmap_free(m);
}

static void count_entry(const char *key, void *value, void *arg)
{
	(*(int *)arg)++;
}

Test(strmap, foreach_visits_every_entry_once)
{
	struct strmap *m = strmap_new();
	int v, n = 0;
	char key[16];
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "%d", i);
		strmap_put(m, key, &v);
	}
	strmap_foreach(m, count_entry, &n);
	cr_assert_eq(n, 100);
	strmap_free(m);
}
