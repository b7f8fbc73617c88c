#include "ratelimit.h"

#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "alloc.h"
#include "server.h"
#include "strmap.h"

struct bucket {
	double tokens;
	double last;
};

static struct server *rl_server;
static struct strmap *buckets;
static struct event *sweep_timer;

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void refill(struct bucket *b, double now)
{
	double rate = rl_server->cfg.user_ops_per_second, burst = rl_server->cfg.user_ops_burst;
	b->tokens += (now - b->last) * rate;
	if (b->tokens > burst)
		b->tokens = burst;
	b->last = now;
}

bool ratelimit_take_user(const char *user_id, double cost)
{
	double now = now_seconds();
	struct bucket *b = strmap_get(buckets, user_id);
	if (!b) {
		b = xcalloc(1, sizeof(*b));
		b->tokens = rl_server->cfg.user_ops_burst;
		b->last = now;
		strmap_put(buckets, user_id, b);
	}
	refill(b, now);
	if (b->tokens < cost)
		return false;
	b->tokens -= cost;
	return true;
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
	struct bucket *b = value;
	refill(b, sw->now);
	/* A bucket that has refilled completely carries no information: forget it. */
	if (sw->all || b->tokens >= rl_server->cfg.user_ops_burst)
		sw->keys[sw->count++] = xstrdup(key);
}

static void sweep(bool all)
{
	struct sweep sw = { xcalloc(strmap_count(buckets) + 1, sizeof(char *)), 0, now_seconds(),
			    all };
	strmap_foreach(buckets, collect_idle, &sw);
	for (size_t i = 0; i < sw.count; i++) {
		free(strmap_remove(buckets, sw.keys[i]));
		free(sw.keys[i]);
	}
	free(sw.keys);
}

static void sweep_cb(evutil_socket_t fd, short events, void *arg)
{
	sweep(false);
}

void ratelimit_init(struct server *srv)
{
	rl_server = srv;
	buckets = strmap_new();
	sweep_timer = event_new(srv->base, -1, EV_PERSIST, sweep_cb, NULL);
	struct timeval every = { 60, 0 };
	event_add(sweep_timer, &every);
}

void ratelimit_shutdown(void)
{
	if (!buckets)
		return;
	sweep(true);
	strmap_free(buckets);
	buckets = NULL;
	event_free(sweep_timer);
	sweep_timer = NULL;
}
