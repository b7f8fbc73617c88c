/*
 * A token bucket: `rate` tokens per second up to `burst`. Rate limits (per connection, per
 * user) and cursor coalescing are all this one mechanism. Pure: the caller passes the time
 * (monotonic seconds), so tests control the clock.
 */
#ifndef FLOWSTATE_BASE_TBUCKET_H
#define FLOWSTATE_BASE_TBUCKET_H

#include <stdbool.h>

struct tbucket {
	double tokens;
	double rate;    /* tokens per second, > 0 */
	double burst;   /* capacity */
	double last;    /* time of the last refill */
};

/* A full bucket at time now. */
void tbucket_init(struct tbucket *b, double rate, double burst, double now);
/* Adds what accrued since the last refill, capped at burst. */
void tbucket_refill(struct tbucket *b, double now);
/* Refills, then takes cost tokens if there are that many; false (nothing taken) otherwise. */
bool tbucket_take(struct tbucket *b, double cost, double now) __attribute__((warn_unused_result));
/* Seconds from the last refill until cost tokens are there (0 when they already are). */
double tbucket_wait(const struct tbucket *b, double cost);
/* The bucket is full (nothing to remember about its owner). */
bool tbucket_full(const struct tbucket *b, double now);

#endif
