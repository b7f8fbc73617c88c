/*
 * A small pool of threads for CPU-heavy work that must not run on the event loop (password
 * hashing with scrypt takes tens of milliseconds by design).
 *
 * Ownership: work(arg) runs on a worker thread and may touch only arg; done(arg) runs later on
 * the event loop thread, exactly once per submitted job, also when the pool is being freed
 * (after the work ran). The caller owns arg throughout.
 */
#ifndef FLOWSTATE_WORKERS_H
#define FLOWSTATE_WORKERS_H

#include <event2/event.h>

struct workers;

typedef void (*workers_fn)(void *arg);

/* nice: the threads' nice value relative to the process (0: the same as the loop). Work that
 * grows with the input (a canvas of megabytes) runs at a higher one, so that on a busy machine
 * the scheduler prefers the event loop thread to it: the loop is what every client waits on. */
struct workers *workers_new(struct event_base *base, int threads, int nice);
#define WORKERS_NICE_CANVAS 10
void workers_submit(struct workers *w, workers_fn work, workers_fn done, void *arg);
/* Finishes queued jobs (running their done callbacks), joins the threads, frees. */
void workers_free(struct workers *w);

#endif
