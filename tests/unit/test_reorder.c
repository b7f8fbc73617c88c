/* The room's reorder buffer (node/fanout/reorder.h): in order, exactly once, bounded. */
#include <criterion/criterion.h>

#include "fanout/reorder.h"

static json_t *op(long long v)
{
	return json_pack("{s:I}", "version", (json_int_t)v);
}

struct delivered {
	long long versions[64];
	size_t count;
};

static void record(json_t *o, long long version, void *arg)
{
	struct delivered *d = arg;
	cr_assert_eq(reorder_op_version(o), version);
	d->versions[d->count++] = version;
}

static void offer(struct reorder *q, long long v, long long delivered,
		  enum reorder_result expected)
{
	json_t *o = op(v);
	cr_assert_eq(reorder_offer(q, o, delivered), expected, "version %lld", v);
	json_decref(o);
}

Test(reorder, out_of_order_arrivals_are_released_in_order_exactly_once)
{
	struct reorder q;
	reorder_init(&q, 16);
	struct delivered d = { 0 };
	long long delivered = 10;
	long long arrivals[] = { 13, 12, 15, 12, 14, 11, 13 };
	enum reorder_result want[] = { REORDER_HELD,      REORDER_HELD, REORDER_HELD,
				       REORDER_DUPLICATE, REORDER_HELD, REORDER_HELD,
				       REORDER_DUPLICATE };
	for (size_t i = 0; i < 7; i++)
		offer(&q, arrivals[i], delivered, want[i]);
	cr_assert_eq(reorder_first(&q), 11);
	delivered = reorder_release(&q, delivered, record, &d);
	cr_assert_eq(delivered, 15);
	cr_assert_eq(d.count, 5);
	for (size_t i = 0; i < 5; i++)
		cr_assert_eq(d.versions[i], 11 + (long long)i);
	cr_assert_eq(q.count, 0);
	reorder_clear(&q);
}

Test(reorder, a_gap_holds_everything_after_it)
{
	struct reorder q;
	reorder_init(&q, 16);
	struct delivered d = { 0 };
	offer(&q, 3, 1, REORDER_HELD);
	offer(&q, 4, 1, REORDER_HELD);
	cr_assert_eq(reorder_release(&q, 1, record, &d), 1, "2 is missing");
	cr_assert_eq(d.count, 0);
	cr_assert_eq(reorder_first(&q), 3);
	/* The gap is filled from Postgres, which also returns what was held. */
	offer(&q, 2, 1, REORDER_HELD);
	offer(&q, 3, 1, REORDER_DUPLICATE);
	cr_assert_eq(reorder_release(&q, 1, record, &d), 4);
	cr_assert_eq(d.count, 3);
	reorder_clear(&q);
}

Test(reorder, delivered_or_invalid_versions_are_dropped)
{
	struct reorder q;
	reorder_init(&q, 16);
	offer(&q, 5, 5, REORDER_DUPLICATE);
	offer(&q, 4, 5, REORDER_DUPLICATE);
	offer(&q, 0, -1, REORDER_DUPLICATE);
	json_t *no_version = json_object();
	cr_assert_eq(reorder_offer(&q, no_version, -1), REORDER_DUPLICATE);
	json_decref(no_version);
	cr_assert_eq(q.count, 0);
}

Test(reorder, held_ops_at_or_below_a_delivered_version_learned_later_are_dropped)
{
	/* While the head is unknown (-1) everything is kept; the head read may then cover it. */
	struct reorder q;
	reorder_init(&q, 16);
	struct delivered d = { 0 };
	offer(&q, 7, -1, REORDER_HELD);
	offer(&q, 9, -1, REORDER_HELD);
	offer(&q, 10, -1, REORDER_HELD);
	cr_assert_eq(reorder_release(&q, 9, record, &d), 10);
	cr_assert_eq(d.count, 1);
	cr_assert_eq(d.versions[0], 10);
	cr_assert_eq(q.count, 0);
}

Test(reorder, a_full_buffer_overflows_and_empties)
{
	struct reorder q;
	reorder_init(&q, 4);
	for (long long v = 3; v < 7; v++)
		offer(&q, v, 1, REORDER_HELD);
	offer(&q, 8, 1, REORDER_OVERFLOW);
	cr_assert_eq(q.count, 0, "cleared: the room refetches from Postgres");
	offer(&q, 2, 1, REORDER_HELD);
	reorder_clear(&q);
}

static void record_seq(json_t *o, long long seq, void *arg)
{
	struct delivered *d = arg;
	cr_assert_eq(json_integer_value(json_object_get(o, "seq")), seq);
	d->versions[d->count++] = seq;
}

Test(reorder, a_keyed_buffer_orders_comment_events_by_seq)
{
	struct reorder q;
	reorder_init_keyed(&q, 8, "seq");
	json_t *e3 = json_pack("{s:I, s:s}", "seq", (json_int_t)3, "action", "created");
	json_t *e2 = json_pack("{s:I, s:s}", "seq", (json_int_t)2, "action", "updated");
	json_t *versioned = json_pack("{s:I}", "version", (json_int_t)4); /* no seq: refused */
	cr_assert_eq(reorder_offer(&q, e3, 1), REORDER_HELD);
	cr_assert_eq(reorder_offer(&q, e3, 1), REORDER_DUPLICATE);
	cr_assert_eq(reorder_offer(&q, versioned, 1), REORDER_DUPLICATE);
	cr_assert_eq(reorder_first(&q), 3);
	cr_assert_eq(reorder_offer(&q, e2, 1), REORDER_HELD);
	struct delivered d = { 0 };
	cr_assert_eq(reorder_release(&q, 1, record_seq, &d), 3);
	cr_assert_eq(d.count, 2);
	cr_assert_eq(d.versions[0], 2);
	cr_assert_eq(d.versions[1], 3);
	json_decref(e3);
	json_decref(e2);
	json_decref(versioned);
	reorder_clear(&q);
}
