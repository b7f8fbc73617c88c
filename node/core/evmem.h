/*
 * libevent's small allocations, kept together.
 *
 * libevent keeps a 16-byte record (evmap_io) for every file descriptor number it has ever
 * watched, for the life of the event base. A descriptor number is first used during a burst
 * of connections, so these records land in malloc's heap between the connections' own
 * allocations, and once the connections close each one pins a page of an otherwise free
 * heap, which malloc_trim cannot return: after 10,000 WebSockets closed, 13,069 such records
 * held 5,070 pages (20 MB) of a heap with 1.4 MB in use (heap walk in docs/benchmarks.md).
 *
 * Installed before the first libevent call, this gives libevent's allocations of at most
 * EVMEM_CELL bytes cells in a region of their own (reserved once, resident as used, cells
 * reused through a free list), and everything larger to malloc. 13,000 records take 416 KB of
 * that region instead of pinning 20 MB of the heap. Thread-safe (a mutex: libevent allocates
 * from the loop thread in practice).
 */
#ifndef FLOWSTATE_CORE_EVMEM_H
#define FLOWSTATE_CORE_EVMEM_H

#include <stddef.h>

#define EVMEM_CELL 32

/* Call before any other libevent function (server_init does, first thing). Idempotent. */
void evmem_install(void);

/* Cells handed out and not freed, and cells ever carved from the region (for tests). */
struct evmem_stats {
	size_t cells_in_use;
	size_t cells_carved;
	size_t fallbacks;        /* small allocations served by malloc: the region was full */
};
void evmem_get_stats(struct evmem_stats *out);

/* The allocator itself, for unit tests (what libevent is given). */
void *evmem_malloc(size_t size);
void *evmem_realloc(void *ptr, size_t size);
void evmem_free(void *ptr);

#endif
