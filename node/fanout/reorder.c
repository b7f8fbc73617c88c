#include "fanout/reorder.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

long long reorder_op_version(const json_t *op)
{
	return json_integer_value(json_object_get(op, "version"));
}

static long long position(const struct reorder *q, const json_t *op)
{
	return json_integer_value(json_object_get(op, q->key));
}

void reorder_init_keyed(struct reorder *q, size_t max, const char *key)
{
	memset(q, 0, sizeof(*q));
	q->max = max;
	q->key = key;
}

void reorder_init(struct reorder *q, size_t max)
{
	reorder_init_keyed(q, max, "version");
}

void reorder_clear(struct reorder *q)
{
	for (size_t i = 0; i < q->count; i++)
		json_decref(q->ops[i]);
	free(q->ops);
	q->ops = NULL;
	q->count = 0;
}

enum reorder_result reorder_offer(struct reorder *q, json_t *op, long long delivered)
{
	long long v = position(q, op);
	if (v <= 0 || (delivered >= 0 && v <= delivered))
		return REORDER_DUPLICATE;
	size_t lo = 0, hi = q->count;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (position(q, q->ops[mid]) < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < q->count && position(q, q->ops[lo]) == v)
		return REORDER_DUPLICATE;
	if (q->count == q->max) {
		reorder_clear(q);
		return REORDER_OVERFLOW;
	}
	q->ops = xrealloc(q->ops, (q->count + 1) * sizeof(*q->ops));
	memmove(q->ops + lo + 1, q->ops + lo, (q->count - lo) * sizeof(*q->ops));
	q->ops[lo] = json_incref(op);
	q->count++;
	return REORDER_HELD;
}

long long reorder_release(struct reorder *q, long long delivered,
			  void (*deliver)(json_t *op, long long version, void *arg), void *arg)
{
	size_t i = 0;
	while (i < q->count && position(q, q->ops[i]) <= delivered + 1) {
		json_t *op = q->ops[i++];
		long long v = position(q, op);
		if (v == delivered + 1) {
			deliver(op, v, arg);
			delivered = v;
		}
		json_decref(op);
	}
	if (i > 0) {
		memmove(q->ops, q->ops + i, (q->count - i) * sizeof(*q->ops));
		q->count -= i;
	}
	return delivered;
}

long long reorder_first(const struct reorder *q)
{
	return q->count ? position(q, q->ops[0]) : -1;
}
