/*
 * Giving memory back. glibc's malloc keeps freed memory for reuse: after a burst (10,000
 * WebSockets that closed, a large canvas that was served, a backlog that was flushed) the
 * process holds on to it, and its RSS stays at the peak (63 MB after 10,000 idle connections
 * closed, against 35 MB while they were open). This module sets malloc up to return large
 * blocks at once and trims the heaps periodically.
 *
 * - M_MMAP_THRESHOLD fixed at 128 KiB: blocks that size and larger (frames of big states,
 *   socket buffers of a backlog) are mmapped and unmapped when freed. glibc's default
 *   threshold adapts upwards after such a free, up to 32 MiB, after which big blocks live
 *   in the heap and are never returned.
 * - M_ARENA_MAX 2: the loop and the worker threads share two arenas instead of one per
 *   thread (8 per core by default): fewer half-empty heaps to keep.
 * - malloc_trim(0) every MEMTRIM_INTERVAL_S: returns the free pages at the top of every heap
 *   and, since glibc 2.8, the free whole pages inside them. It runs on the loop (it must not
 *   race the loop's own frees for the main arena's lock for long) and is logged when it
 *   takes more than 5 ms.
 */
#ifndef FLOWSTATE_CORE_MEMTRIM_H
#define FLOWSTATE_CORE_MEMTRIM_H

struct event_base;

#define MEMTRIM_INTERVAL_S 5

/* Sets malloc's policy (call before threads start) and starts the periodic trim. */
void memtrim_start(struct event_base *base);
void memtrim_stop(void);

#endif
