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

struct workers *workers_new(struct event_base *base, int threads);
void workers_submit(struct workers *w, workers_fn work, workers_fn done, void *arg);
/* Finishes queued jobs (running their done callbacks), joins the threads, frees. */
void workers_free(struct workers *w);

#endif
