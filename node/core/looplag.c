#include "core/looplag.h"

#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "base/clock.h"
#include "core/metrics.h"

static struct event *tick;
static double due; /* monotonic seconds the current tick is due at */

static void looplag_arm(void)
{
	struct timeval tv = { 0, LOOPLAG_INTERVAL_MS * 1000 };
	due = clock_mono_seconds() + LOOPLAG_INTERVAL_MS / 1000.0;
	evtimer_add(tick, &tv);
}

/* A fresh one-shot timer each time, so the lag is measured against when this tick asked to
 * run, with libevent's own catch-up rules out of the picture. */
static void looplag_tick(evutil_socket_t fd, short events, void *arg)
{
	double lag = clock_mono_seconds() - due;
	metrics_histogram_observe(METRIC_HIST_EVENT_LOOP_LAG_SECONDS, lag > 0 ? lag : 0);
	looplag_arm();
}

void looplag_start(struct event_base *base)
{
	if (tick)
		return;
	tick = evtimer_new(base, looplag_tick, NULL);
	if (!tick)
		abort();
	looplag_arm();
}

void looplag_stop(void)
{
	if (tick)
		event_free(tick);
	tick = NULL;
}
