/*
 * Event-loop lag: how late the loop runs a timer that asked to run every LOOPLAG_INTERVAL_MS.
 * Anything that holds the loop (a long callback, a blocking call) delays every socket of the
 * node by as much; this makes it visible as the histogram flowstate_event_loop_lag_seconds
 * (one observation per tick: a stall of 1 s is one sample of about 1 s).
 */
#ifndef FLOWSTATE_CORE_LOOPLAG_H
#define FLOWSTATE_CORE_LOOPLAG_H

struct event_base;

#define LOOPLAG_INTERVAL_MS 50

/* Starts measuring on base (once per process); looplag_stop() releases the timer. */
void looplag_start(struct event_base *base);
void looplag_stop(void);

#endif
