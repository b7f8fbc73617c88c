/* libevent's small allocations in a region of their own (node/core/evmem.h). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/evmem.h"

static void noop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

Test(evmem, small_blocks_are_cells_reused_after_free_and_large_ones_are_malloc)
{
	evmem_install();
	struct evmem_stats s0, s1;
	evmem_get_stats(&s0);
	char *a = evmem_malloc(16), *b = evmem_malloc(EVMEM_CELL);
	cr_assert(a && b && a != b);
	cr_assert_eq((uintptr_t)b - (uintptr_t)a, EVMEM_CELL, "consecutive cells, side by side");
	memset(a, 0xab, 16);
	memset(b, 0xcd, EVMEM_CELL);
	evmem_get_stats(&s1);
	cr_assert_eq(s1.cells_in_use, s0.cells_in_use + 2);
	evmem_free(a);
	char *c = evmem_malloc(8);
	cr_assert_eq(c, a, "a freed cell is handed out again");
	evmem_get_stats(&s1);
	cr_assert_eq(s1.cells_carved, s0.cells_carved + 2);
	char *big = evmem_malloc(EVMEM_CELL + 1);
	cr_assert(big);
	memset(big, 1, EVMEM_CELL + 1);
	evmem_free(big); /* to malloc's free (ASan checks it) */
	evmem_free(b);
	evmem_free(c);
	evmem_free(NULL);
	evmem_get_stats(&s1);
	cr_assert_eq(s1.cells_in_use, s0.cells_in_use);
}

Test(evmem, realloc_keeps_a_cell_while_it_fits_and_moves_the_contents_out_when_it_grows)
{
	evmem_install();
	char *p = evmem_realloc(NULL, 10);
	memcpy(p, "0123456789", 10);
	cr_assert_eq(evmem_realloc(p, 30), p, "still fits the cell");
	char *q = evmem_realloc(p, 100);
	cr_assert(q && q != p);
	cr_assert(memcmp(q, "0123456789", 10) == 0, "contents moved");
	struct evmem_stats s;
	evmem_get_stats(&s);
	char *again = evmem_malloc(4);
	cr_assert_eq(again, p, "the cell it left is free again");
	q = evmem_realloc(q, 200); /* a malloc block stays with malloc */
	cr_assert(q && memcmp(q, "0123456789", 10) == 0);
	evmem_free(q);
	evmem_free(again);
	char *z = evmem_malloc(4);
	cr_assert_null(evmem_realloc(z, 0), "realloc to 0 frees the cell");
}

/* What the module is for: libevent's per-descriptor records are cells, so many descriptors
 * watched once leave their records in the region, not between other heap blocks. */
Test(evmem, libevents_per_descriptor_records_land_in_the_region)
{
	evmem_install();
	struct event_base *base = event_base_new();
	cr_assert(base);
	struct evmem_stats before, during, after, reused;
	evmem_get_stats(&before);
	enum { PAIRS = 200 };
	int fds[PAIRS][2];
	struct event *evs[PAIRS];
	for (int i = 0; i < PAIRS; i++) {
		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds[i]), 0);
		evs[i] = event_new(base, fds[i][0], EV_READ | EV_PERSIST, noop, NULL);
		cr_assert_eq(event_add(evs[i], NULL), 0);
	}
	evmem_get_stats(&during);
	cr_assert_geq(during.cells_in_use, before.cells_in_use + PAIRS,
		      "one record per descriptor watched: %zu -> %zu", before.cells_in_use,
		      during.cells_in_use);
	cr_assert_eq(during.fallbacks, 0);
	for (int i = 0; i < PAIRS; i++) {
		event_free(evs[i]);
		close(fds[i][0]);
		close(fds[i][1]);
	}
	evmem_get_stats(&after);
	cr_assert_geq(after.cells_in_use, before.cells_in_use + PAIRS,
		      "libevent keeps a descriptor's record after its events go");
	/* The same descriptor numbers again: their records are reused, nothing new is carved. */
	for (int i = 0; i < PAIRS; i++) {
		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds[i]), 0);
		evs[i] = event_new(base, fds[i][0], EV_READ, noop, NULL);
		cr_assert_eq(event_add(evs[i], NULL), 0);
	}
	evmem_get_stats(&reused);
	cr_assert_leq(reused.cells_carved, after.cells_carved + 4, "%zu -> %zu", after.cells_carved,
		      reused.cells_carved);
	for (int i = 0; i < PAIRS; i++) {
		event_free(evs[i]);
		close(fds[i][0]);
		close(fds[i][1]);
	}
	event_base_free(base);
}
