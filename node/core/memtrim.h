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
 * - M_ARENA_MAX = 1 + the worker threads: the loop keeps the main arena to itself and every
 *   worker thread gets an arena of its own (glibc hands out a new arena per thread until the
 *   limit, then makes threads share). A shared arena is shared lock: with two arenas for the
 *   loop and six workers, a canvas worker building a 9 MiB state (0.5 GB of small blocks)
 *   allocated from the loop's arena, and the loop waited on that arena's lock (futex in
 *   __lll_lock_wait_private) while the worker, at nice 10, was preempted holding it, and
 *   consolidated the worker's freed blocks on its own next large malloc: a loop-lag p99 of
 *   20-50 ms while the largest canvas was read. Each arena costs only what its heap holds,
 *   and the trim below returns that.
 * - malloc_trim(0) every MEMTRIM_INTERVAL_S: returns the free pages at the top of every heap
 *   and, since glibc 2.8, the free whole pages inside them. It runs on the loop (it must not
 *   race the loop's own frees for the main arena's lock for long) and is logged when it
 *   takes more than 5 ms.
 */
#ifndef FLOWSTATE_CORE_MEMTRIM_H
#define FLOWSTATE_CORE_MEMTRIM_H

struct event_base;

#define MEMTRIM_INTERVAL_S 5

/*
 * For a worker thread, after a job: gives its arena's free memory back. malloc_trim (the
 * periodic trim) releases free pages inside every arena's bins but shrinks only the main
 * arena's top; a worker's arena keeps the top it grew, and a canvas worker's jobs end by
 * freeing millions of small blocks (jansson's tree of a state) that sit in fastbins and merge
 * into that top only when consolidated: 11.6 MB stayed resident per worker after reading the
 * largest canvas. Freeing a block of MEMTRIM_PROBE_BYTES (a 64 KiB free is glibc's trigger)
 * consolidates the thread's arena and trims its top heap.
 */
void memtrim_thread(void);

/* Sets malloc's policy (call before threads start: `threads` is how many threads besides the
 * loop will allocate) and starts the periodic trim. */
void memtrim_start(struct event_base *base, int threads);
void memtrim_stop(void);

#endif
