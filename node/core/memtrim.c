#include "core/memtrim.h"

#include <malloc.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "base/clock.h"
#include "base/log.h"

static struct event *timer;

static void memtrim_tick(evutil_socket_t fd, short events, void *arg)
{
	double t0 = clock_mono_seconds();
	int released = malloc_trim(0);
	double ms = (clock_mono_seconds() - t0) * 1000.0;
	if (ms > 5.0)
		log_info("memtrim_slow", "ms=%.1f released=%d", ms, released);
}

/* At least glibc's FASTBIN_CONSOLIDATION_THRESHOLD (64 KiB), below M_MMAP_THRESHOLD (fixed at
 * 128 KiB below), so it comes from the arena and its free consolidates and trims it. */
#define MEMTRIM_PROBE_BYTES (96 * 1024)

void memtrim_thread(void)
{
	void *volatile probe = malloc(MEMTRIM_PROBE_BYTES);
	free(probe);
}

void memtrim_start(struct event_base *base, int threads)
{
	if (timer)
		return;
	if (!mallopt(M_MMAP_THRESHOLD, 128 * 1024) || !mallopt(M_ARENA_MAX, 1 + (threads > 0 ? threads : 0)))
		log_warn("mallopt_failed", "detail=\"malloc keeps its defaults\"");
	timer = event_new(base, -1, EV_PERSIST, memtrim_tick, NULL);
	if (!timer)
		abort();
	struct timeval every = { MEMTRIM_INTERVAL_S, 0 };
	event_add(timer, &every);
}

void memtrim_stop(void)
{
	if (timer)
		event_free(timer);
	timer = NULL;
}
