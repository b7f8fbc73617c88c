#include "core/evmem.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <event2/event.h>

/* Virtual space reserved for cells: 512 Ki cells, far above one record per descriptor of a
 * node's connection limit. MAP_NORESERVE: only the pages cells were carved from are resident. */
#define EVMEM_REGION_BYTES ((size_t)16 << 20)

static struct {
	pthread_mutex_t lock;
	char *base;          /* NULL: no region (mmap failed): everything goes to malloc */
	size_t carved;       /* bytes of the region handed out at least once */
	void *free_cells;    /* singly linked through the cells' first bytes */
	size_t in_use, fallbacks;
	bool installed;
} ev = { .lock = PTHREAD_MUTEX_INITIALIZER };

static bool in_region(const void *p)
{
	return ev.base && (const char *)p >= ev.base && (const char *)p < ev.base + EVMEM_REGION_BYTES;
}

static void *cell_alloc(void)
{
	void *cell = NULL;
	pthread_mutex_lock(&ev.lock);
	if (ev.free_cells) {
		cell = ev.free_cells;
		memcpy(&ev.free_cells, cell, sizeof(void *));
	} else if (ev.base && ev.carved + EVMEM_CELL <= EVMEM_REGION_BYTES) {
		cell = ev.base + ev.carved;
		ev.carved += EVMEM_CELL;
	}
	if (cell)
		ev.in_use++;
	else
		ev.fallbacks++;
	pthread_mutex_unlock(&ev.lock);
	return cell;
}

static void cell_free(void *cell)
{
	pthread_mutex_lock(&ev.lock);
	memcpy(cell, &ev.free_cells, sizeof(void *));
	ev.free_cells = cell;
	ev.in_use--;
	pthread_mutex_unlock(&ev.lock);
}

void *evmem_malloc(size_t size)
{
	if (size > 0 && size <= EVMEM_CELL) {
		void *cell = cell_alloc();
		if (cell)
			return cell;
	}
	return malloc(size);
}

void *evmem_realloc(void *ptr, size_t size)
{
	if (!ptr)
		return evmem_malloc(size);
	if (!in_region(ptr))
		return realloc(ptr, size);
	if (size == 0) {
		cell_free(ptr);
		return NULL;
	}
	if (size <= EVMEM_CELL)
		return ptr;
	void *moved = malloc(size);
	if (!moved)
		return NULL; /* realloc's contract: the old block stays valid */
	memcpy(moved, ptr, EVMEM_CELL);
	cell_free(ptr);
	return moved;
}

void evmem_free(void *ptr)
{
	if (in_region(ptr))
		cell_free(ptr);
	else
		free(ptr);
}

void evmem_install(void)
{
	pthread_mutex_lock(&ev.lock);
	bool first = !ev.installed;
	ev.installed = true;
	if (first) {
		void *p = mmap(NULL, EVMEM_REGION_BYTES, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		ev.base = p == MAP_FAILED ? NULL : p;
	}
	pthread_mutex_unlock(&ev.lock);
	if (first)
		event_set_mem_functions(evmem_malloc, evmem_realloc, evmem_free);
}

void evmem_get_stats(struct evmem_stats *out)
{
	pthread_mutex_lock(&ev.lock);
	out->cells_in_use = ev.in_use;
	out->cells_carved = ev.carved / EVMEM_CELL;
	out->fallbacks = ev.fallbacks;
	pthread_mutex_unlock(&ev.lock);
}
