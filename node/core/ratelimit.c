#include "core/ratelimit.h"

#include <stdlib.h>

#include <event2/event.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/strmap.h"
#include "base/tbucket.h"

static struct {
	double rate, burst;
	struct strmap *buckets;   /* user id → struct tbucket */
	struct event *sweep_timer;
} rl;

bool ratelimit_take_user(const char *user_id, double cost)
{
	double now = clock_mono_seconds();
	struct tbucket *b = strmap_get(rl.buckets, user_id);
	if (!b) {
		b = xcalloc(1, sizeof(*b));
		tbucket_init(b, rl.rate, rl.burst, now);
		strmap_put(rl.buckets, user_id, b);
	}
	return tbucket_take(b, cost, now);
}

struct sweep {
	char **keys;
	size_t count;
	double now;
	bool all;
};

static void collect_idle(const char *key, void *value, void *arg)
{
	struct sweep *sw = arg;
	/* A bucket that has refilled completely carries no information: forget it. */
	if (sw->all || tbucket_full(value, sw->now))
		sw->keys[sw->count++] = xstrdup(key);
}

static void sweep(bool all)
{
	struct sweep sw = { xcalloc(strmap_count(rl.buckets) + 1, sizeof(char *)), 0,
			    clock_mono_seconds(), all };
	strmap_foreach(rl.buckets, collect_idle, &sw);
	for (size_t i = 0; i < sw.count; i++) {
		free(strmap_remove(rl.buckets, sw.keys[i]));
		free(sw.keys[i]);
	}
	free(sw.keys);
}

static void sweep_cb(evutil_socket_t fd, short events, void *arg)
{
	sweep(false);
}

void ratelimit_init(struct event_base *base, double rate, double burst)
{
	rl.rate = rate;
	rl.burst = burst;
	rl.buckets = strmap_new();
	rl.sweep_timer = event_new(base, -1, EV_PERSIST, sweep_cb, NULL);
	struct timeval every = { 60, 0 };
	event_add(rl.sweep_timer, &every);
}

void ratelimit_shutdown(void)
{
	if (!rl.buckets)
		return;
	sweep(true);
	strmap_free(rl.buckets);
	rl.buckets = NULL;
	event_free(rl.sweep_timer);
	rl.sweep_timer = NULL;
}
