/*
 * The reorder buffer of a room: committed ops (JSON objects with a "version") arrive from local
 * commits, Redis and Postgres, out of order, duplicated or not at all; the buffer holds those
 * above the delivered version, sorted, without duplicates, and releases them strictly in
 * version order. Pure: no loop, no I/O (the room times gaps and refetches). The same buffer
 * orders comment events by their "seq" (reorder_init_keyed).
 *
 * Ownership: the buffer holds a reference to every op it keeps.
 */
#ifndef FLOWSTATE_FANOUT_REORDER_H
#define FLOWSTATE_FANOUT_REORDER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct reorder {
	json_t **ops;          /* sorted by version, all > the delivered version */
	size_t count;
	size_t max;            /* bound: past it the buffer overflows */
	const char *key;       /* the member holding the position: "version" (static) */
};

enum reorder_result {
	REORDER_HELD,          /* kept until its turn */
	REORDER_DUPLICATE,     /* delivered or held already (or no valid version): dropped */
	REORDER_OVERFLOW,      /* the buffer is full: it was cleared, refetch from the source */
};

void reorder_init(struct reorder *q, size_t max);
/* Items positioned by another integer member (e.g. "seq"; key must outlive q). */
void reorder_init_keyed(struct reorder *q, size_t max, const char *key);
void reorder_clear(struct reorder *q);

/* Offers op (borrowed) given the delivered version (-1: not known yet, keep everything). */
enum reorder_result reorder_offer(struct reorder *q, json_t *op, long long delivered);

/* Releases, in order, every held op that directly follows `delivered`, calling deliver for
 * each; drops held ops at or below it. Returns the new delivered version. */
long long reorder_release(struct reorder *q, long long delivered,
			  void (*deliver)(json_t *op, long long version, void *arg), void *arg);

/* Version of the lowest held op (-1 when empty): the start of the gap being waited on. */
long long reorder_first(const struct reorder *q);

long long reorder_op_version(const json_t *op);

#endif
