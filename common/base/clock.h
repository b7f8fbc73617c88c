/*
 * Clocks, in one place. Durations, timeouts and rates use the monotonic clock (it never jumps
 * when the wall clock is set); only values that cross processes or machines (a publish time
 * compared on another node, presence expiry in Redis) use the wall clock.
 */
#ifndef FLOWSTATE_BASE_CLOCK_H
#define FLOWSTATE_BASE_CLOCK_H

#include <time.h>

/* Monotonic time in seconds (arbitrary origin). */
double clock_mono_seconds(void);
/* Monotonic time in whole milliseconds (arbitrary origin), for deadlines. */
long long clock_mono_ms(void);
/* Monotonic time as a timespec, for spans measured with clock_seconds_since. */
void clock_mono_now(struct timespec *out);
/* Seconds elapsed on the monotonic clock since t. */
double clock_seconds_since(const struct timespec *t);

/* Wall clock: Unix time in milliseconds and in microseconds. */
long long clock_wall_ms(void);
long long clock_wall_us(void);

#endif
