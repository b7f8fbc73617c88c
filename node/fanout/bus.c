#include "fanout/bus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libevent.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/strmap.h"
#include "core/metrics.h"

#define BUS_CHANNEL_PREFIX "fs:canvas:"
#define BUS_ALL_CHANNEL "fs:all"
#define BUS_BACKOFF_MIN_MS 100
#define BUS_BACKOFF_MAX_MS 5000
/* Publishes waiting for Redis's reply; past this Redis is too far behind to be useful and
 * further publishes are dropped (rooms repair from Postgres). */
#define BUS_MAX_IN_FLIGHT 100000

enum bus_conn_state { BUS_DOWN, BUS_CONNECTING, BUS_UP };

static const char *const bus_state_names[] = { "down", "connecting", "up" };

struct bus_conn {
	const char *name;
	redisAsyncContext *ac;
	enum bus_conn_state state;
	int backoff_ms;
	struct event *retry_timer;   /* DOWN: next attempt; CONNECTING: the connect deadline */
	double up_since;             /* monotonic, when it last became UP */
};

static struct {
	struct event_base *base;
	const struct config *cfg;
	bool running;
	struct bus_conn pub, sub;
	struct strmap *channels;          /* canvas ids we want subscribed */
	struct event *heartbeat_timer;
	double last_heartbeat_rx;         /* our heartbeat came back (never reset by a connect) */
	double last_publisher_reply;      /* Redis answered a command on the publisher */
	bus_message_fn on_message;
	bus_subscribed_fn on_subscribed;
	bus_all_fn on_all;
	char node_channel[160];
	char host[256];
	int port;
	char password[256];
	size_t in_flight;
} bus;

static void bus_connect(struct bus_conn *c);

/* The only function that changes a connection's state. */
static void bus_change_state(struct bus_conn *c, enum bus_conn_state state)
{
	if (c->state == state)
		return;
	log_info("bus_state", "conn=%s from=%s to=%s", c->name, bus_state_names[c->state],
		 bus_state_names[state]);
	if (c->state == BUS_UP)
		metrics_gauge_add(METRIC_BUS_CONNECTIONS_UP, -1);
	if (state == BUS_UP) {
		metrics_gauge_add(METRIC_BUS_CONNECTIONS_UP, 1);
		c->up_since = clock_mono_seconds();
	}
	c->state = state;
}

/* redis://[[user]:password@]host[:port][/db] */
static bool bus_parse_url(const char *url)
{
	const char *p = url;
	if (!strncmp(p, "redis://", 8))
		p += 8;
	const char *at = strrchr(p, '@');
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		const char *pw = colon ? colon + 1 : p;
		snprintf(bus.password, sizeof(bus.password), "%.*s", (int)(at - pw), pw);
		p = at + 1;
	}
	size_t hostlen = strcspn(p, ":/");
	if (hostlen == 0 || hostlen >= sizeof(bus.host))
		return false;
	memcpy(bus.host, p, hostlen);
	bus.host[hostlen] = '\0';
	bus.port = 6379;
	if (p[hostlen] == ':') {
		char *end;
		long port = strtol(p + hostlen + 1, &end, 10);
		if (port < 1 || port > 65535 || (*end && *end != '/'))
			return false;
		bus.port = (int)port;
	}
	return true;
}

static void bus_schedule_retry(struct bus_conn *c)
{
	if (!bus.running)
		return;
	struct timeval tv = { c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000 };
	evtimer_add(c->retry_timer, &tv);
	c->backoff_ms = c->backoff_ms * 2 > BUS_BACKOFF_MAX_MS ? BUS_BACKOFF_MAX_MS
							       : c->backoff_ms * 2;
}

/* Drops a connection that is not answering. A connected context reports through
 * bus_disconnect_cb (which schedules the retry); hiredis 0.14 calls no callback for one that
 * never connected, so that case is finished here. */
static void bus_drop(struct bus_conn *c)
{
	if (!c->ac)
		return;
	if (c->state == BUS_UP) {
		redisAsyncFree(c->ac);
		return;
	}
	redisAsyncContext *ac = c->ac;
	c->ac = NULL;
	redisAsyncFree(ac);
	bus_change_state(c, BUS_DOWN);
	bus_schedule_retry(c);
}

static void bus_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	struct bus_conn *c = arg;
	if (c->state == BUS_CONNECTING) {
		/* A silent link accepts nothing and refuses nothing: connect has a deadline. */
		log_warn("bus_connect_failed", "conn=%s error=\"connect timed out\"", c->name);
		bus_drop(c);
		return;
	}
	bus_connect(c);
}

/* ---- subscriber -------------------------------------------------------------------------------- */

static const char *canvas_of_channel(const char *channel)
{
	size_t n = sizeof(BUS_CHANNEL_PREFIX) - 1;
	return strncmp(channel, BUS_CHANNEL_PREFIX, n) == 0 ? channel + n : NULL;
}

static void bus_sub_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	redisReply *reply = r;
	if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
		return; /* NULL: disconnecting */
	redisReply *kind = reply->element[0], *channel = reply->element[1];
	if (kind->type != REDIS_REPLY_STRING || channel->type != REDIS_REPLY_STRING)
		return;
	if (!strcmp(kind->str, "subscribe")) {
		const char *canvas = canvas_of_channel(channel->str);
		if (canvas && bus.on_subscribed && strmap_get(bus.channels, canvas))
			bus.on_subscribed(canvas);
		return;
	}
	if (strcmp(kind->str, "message") != 0 || reply->element[2]->type != REDIS_REPLY_STRING)
		return;
	if (!strcmp(channel->str, bus.node_channel)) {
		bus.last_heartbeat_rx = clock_mono_seconds();
		return;
	}
	if (!strcmp(channel->str, BUS_ALL_CHANNEL)) {
		metrics_counter_inc(METRIC_BUS_RECEIVED);
		if (bus.on_all)
			bus.on_all(reply->element[2]->str, reply->element[2]->len);
		return;
	}
	const char *canvas = canvas_of_channel(channel->str);
	if (!canvas)
		return;
	metrics_counter_inc(METRIC_BUS_RECEIVED);
	bus.on_message(canvas, reply->element[2]->str, reply->element[2]->len);
}

static void bus_subscribe_channel(const char *canvas_id)
{
	if (bus.sub.state == BUS_UP)
		redisAsyncCommand(bus.sub.ac, bus_sub_cb, NULL, "SUBSCRIBE " BUS_CHANNEL_PREFIX "%s",
				  canvas_id);
}

static void resubscribe_one(const char *key, void *value, void *arg)
{
	bus_subscribe_channel(key);
}

/* ---- connections ------------------------------------------------------------------------------ */

static void bus_connect_cb(const redisAsyncContext *ac, int status)
{
	struct bus_conn *c = ac->data;
	if (status != REDIS_OK) {
		log_warn("bus_connect_failed", "conn=%s error=\"%s\"", c->name, ac->errstr);
		c->ac = NULL; /* hiredis frees a context whose connect failed */
		bus_change_state(c, BUS_DOWN);
		bus_schedule_retry(c);
		return;
	}
	evtimer_del(c->retry_timer);
	bus_change_state(c, BUS_UP);
	c->backoff_ms = BUS_BACKOFF_MIN_MS;
	if (c == &bus.sub) {
		/* Every room may have missed messages while we were away: resubscribing makes
		 * each one catch up from Postgres (on_subscribed). The heartbeat is not reset
		 * here: a connection that is up is not yet a path that works. */
		redisAsyncCommand(c->ac, bus_sub_cb, NULL, "SUBSCRIBE %s " BUS_ALL_CHANNEL,
				  bus.node_channel);
		strmap_foreach(bus.channels, resubscribe_one, NULL);
	}
}

static void bus_disconnect_cb(const redisAsyncContext *ac, int status)
{
	struct bus_conn *c = ac->data;
	log_warn("bus_disconnected", "conn=%s error=\"%s\"", c->name,
		 status == REDIS_OK ? "closed" : ac->errstr);
	c->ac = NULL; /* hiredis frees the context after this callback */
	bus_change_state(c, BUS_DOWN);
	if (c == &bus.pub)
		bus.in_flight = 0; /* their callbacks ran with NULL replies */
	if (bus.running) {
		metrics_counter_inc(METRIC_BUS_RECONNECTS);
		bus_schedule_retry(c);
	}
}

/* Keepalive after a third of FLOWSTATE_BUS_DEAD_MS idle, and unacknowledged data dropped
 * after FLOWSTATE_BUS_DEAD_MS: the kernel's view of a dead peer matches the heartbeat's. */
static void bus_set_socket_timeouts(struct bus_conn *c, int fd)
{
	int on = 1, count = 3;
	int idle = bus.cfg->bus_dead_ms / 3000 > 0 ? bus.cfg->bus_dead_ms / 3000 : 1;
	unsigned user_timeout = (unsigned)bus.cfg->bus_dead_ms;
	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof(idle)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout)) != 0)
		log_debug("bus_sockopt_failed", "conn=%s fd=%d", c->name, fd);
}

/* Starts a non-blocking connect. bus.host should be an IP address or a name the local
 * resolver answers at once: hiredis resolves it with a blocking getaddrinfo(). */
static void bus_connect(struct bus_conn *c)
{
	if (!bus.running || c->ac)
		return;
	redisAsyncContext *ac = redisAsyncConnect(bus.host, bus.port);
	if (!ac || ac->err) {
		log_warn("bus_connect_failed", "conn=%s error=\"%s\"", c->name,
			 ac ? ac->errstr : "out of memory");
		if (ac)
			redisAsyncFree(ac);
		bus_change_state(c, BUS_DOWN);
		bus_schedule_retry(c);
		return;
	}
	ac->data = c;
	c->ac = ac;
	/* The kernel gives up on a silent peer too: keepalive probes on an idle connection, and
	 * unacknowledged data (probes included) for at most FLOWSTATE_BUS_DEAD_MS. */
	bus_set_socket_timeouts(c, ac->c.fd);
	redisLibeventAttach(ac, bus.base);
	redisAsyncSetConnectCallback(ac, bus_connect_cb);
	redisAsyncSetDisconnectCallback(ac, bus_disconnect_cb);
	if (bus.password[0])
		redisAsyncCommand(ac, NULL, NULL, "AUTH %s", bus.password);
	bus_change_state(c, BUS_CONNECTING);
	int ms = bus.cfg->bus_dead_ms;
	struct timeval deadline = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(c->retry_timer, &deadline);
}

/* ---- heartbeat ------------------------------------------------------------------------------- */

static void bus_publisher_replied(redisAsyncContext *ac, void *reply, void *privdata)
{
	if (reply)
		bus.last_publisher_reply = clock_mono_seconds();
}

/* The later of two instants: how long a connection has had to prove itself. */
static double bus_later(double a, double b)
{
	return a > b ? a : b;
}

/*
 * Probes both connections once per FLOWSTATE_BUS_HEARTBEAT_MS. A silent link (packets dropped,
 * nothing closed) shows as a publisher whose commands get no reply and a subscriber that does
 * not receive our own heartbeat: each is dropped and reconnected after FLOWSTATE_BUS_DEAD_MS of
 * that, counted from when it came up (a fresh connection gets its full chance).
 */
static void bus_heartbeat_cb(evutil_socket_t fd, short events, void *arg)
{
	double now = clock_mono_seconds();
	double dead = bus.cfg->bus_dead_ms / 1000.0;
	if (bus.pub.state == BUS_UP) {
		redisAsyncCommand(bus.pub.ac, bus_publisher_replied, NULL, "PUBLISH %s hb",
				  bus.node_channel);
		double quiet = now - bus_later(bus.last_publisher_reply, bus.pub.up_since);
		if (quiet > dead) {
			log_warn("bus_publisher_silent", "seconds=%.1f", quiet);
			metrics_counter_inc(METRIC_BUS_SILENT_PUBLISHER);
			bus_drop(&bus.pub);
		}
	}
	if (bus.sub.state == BUS_UP && bus.pub.state == BUS_UP) {
		double quiet = now - bus_later(bus.last_heartbeat_rx,
					       bus_later(bus.sub.up_since, bus.pub.up_since));
		if (quiet > dead) {
			/* Our own heartbeats stopped coming back: the subscriber is not receiving. */
			log_warn("bus_subscriber_silent", "seconds=%.1f", quiet);
			metrics_counter_inc(METRIC_BUS_DEAD_SUBSCRIBER);
			bus_drop(&bus.sub);
		}
	}
}

/*
 * Healthy: both connections up and a heartbeat came back within three heartbeat periods (at
 * most FLOWSTATE_BUS_DEAD_MS). This is the whole path a relayed message takes, so a silent
 * link reads as unhealthy within seconds, and healthy again by itself once heartbeats return.
 */
bool bus_healthy(void)
{
	if (!bus.cfg || bus.pub.state != BUS_UP || bus.sub.state != BUS_UP)
		return false;
	double window = 3.0 * bus.cfg->bus_heartbeat_ms / 1000.0;
	double dead = bus.cfg->bus_dead_ms / 1000.0;
	if (window > dead)
		window = dead;
	return bus.last_heartbeat_rx > 0 && clock_mono_seconds() - bus.last_heartbeat_rx <= window;
}

/* ---- API ------------------------------------------------------------------------------------- */

void bus_init(struct event_base *base, const struct config *cfg, bus_message_fn on_message,
	      bus_subscribed_fn on_subscribed)
{
	memset(&bus, 0, sizeof(bus));
	bus.base = base;
	bus.cfg = cfg;
	bus.on_message = on_message;
	bus.on_subscribed = on_subscribed;
	bus.channels = strmap_new();
	bus.pub.name = "publisher";
	bus.sub.name = "subscriber";
	bus.pub.backoff_ms = bus.sub.backoff_ms = BUS_BACKOFF_MIN_MS;
	bus.pub.retry_timer = evtimer_new(base, bus_retry_cb, &bus.pub);
	bus.sub.retry_timer = evtimer_new(base, bus_retry_cb, &bus.sub);
	snprintf(bus.node_channel, sizeof(bus.node_channel), "fs:node:%s", cfg->node_id);
	if (!bus_parse_url(cfg->redis_url)) {
		log_error("bus_bad_url", "detail=\"cannot parse FLOWSTATE_REDIS_URL\"");
		return; /* stays down; /readyz says so */
	}
	bus.running = true;
	bus.heartbeat_timer = event_new(base, -1, EV_PERSIST, bus_heartbeat_cb, NULL);
	int ms = cfg->bus_heartbeat_ms;
	struct timeval every = { ms / 1000, (ms % 1000) * 1000 };
	event_add(bus.heartbeat_timer, &every);
	bus_connect(&bus.pub);
	bus_connect(&bus.sub);
}

void bus_shutdown(void)
{
	bus.running = false;
	if (bus.pub.ac)
		redisAsyncFree(bus.pub.ac);
	if (bus.sub.ac)
		redisAsyncFree(bus.sub.ac);
	if (bus.heartbeat_timer)
		event_free(bus.heartbeat_timer);
	if (bus.pub.retry_timer)
		event_free(bus.pub.retry_timer);
	if (bus.sub.retry_timer)
		event_free(bus.sub.retry_timer);
	strmap_free(bus.channels);
	memset(&bus, 0, sizeof(bus));
}

void bus_subscribe(const char *canvas_id)
{
	if (!bus.channels || strmap_get(bus.channels, canvas_id))
		return;
	strmap_put(bus.channels, canvas_id, (void *)1);
	bus_subscribe_channel(canvas_id);
}

void bus_unsubscribe(const char *canvas_id)
{
	if (!bus.channels || !strmap_remove(bus.channels, canvas_id))
		return;
	if (bus.sub.state == BUS_UP)
		redisAsyncCommand(bus.sub.ac, bus_sub_cb, NULL, "UNSUBSCRIBE " BUS_CHANNEL_PREFIX "%s",
				  canvas_id);
}

void bus_set_all_handler(bus_all_fn on_all)
{
	bus.on_all = on_all;
}

static void bus_publish_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	if (bus.in_flight)
		bus.in_flight--;
	if (reply)
		bus.last_publisher_reply = clock_mono_seconds();
}

void bus_publish(const char *canvas_id, const char *data, size_t len)
{
	if (bus.pub.state != BUS_UP || bus.in_flight >= BUS_MAX_IN_FLIGHT) {
		metrics_counter_inc(METRIC_BUS_PUBLISH_DROPPED);
		return;
	}
	if (redisAsyncCommand(bus.pub.ac, bus_publish_cb, NULL, "PUBLISH " BUS_CHANNEL_PREFIX "%s %b",
			      canvas_id, data, len) == REDIS_OK) {
		bus.in_flight++;
		metrics_counter_inc(METRIC_BUS_PUBLISHED);
	}
}

void bus_publish_all(const char *data, size_t len)
{
	if (bus.pub.state != BUS_UP || bus.in_flight >= BUS_MAX_IN_FLIGHT) {
		metrics_counter_inc(METRIC_BUS_PUBLISH_DROPPED);
		return;
	}
	if (redisAsyncCommand(bus.pub.ac, bus_publish_cb, NULL, "PUBLISH " BUS_ALL_CHANNEL " %b",
			      data, len) == REDIS_OK) {
		bus.in_flight++;
		metrics_counter_inc(METRIC_BUS_PUBLISHED);
	}
}

/* ---- hashes (presence) ---------------------------------------------------------------------- */

void bus_hash_set(const char *key, const char *const *names, const char *const *values,
		  size_t count)
{
	if (bus.pub.state != BUS_UP || count == 0)
		return;
	size_t argc = 2 + 2 * count;
	const char **argv = xcalloc(argc, sizeof(*argv));
	size_t *lens = xcalloc(argc, sizeof(*lens));
	argv[0] = "HSET";
	argv[1] = key;
	for (size_t i = 0; i < count; i++) {
		argv[2 + 2 * i] = names[i];
		argv[3 + 2 * i] = values[i];
	}
	for (size_t i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	redisAsyncCommandArgv(bus.pub.ac, NULL, NULL, (int)argc, argv, lens);
	free(lens);
	free(argv);
}

void bus_hash_del(const char *key, const char *name)
{
	if (bus.pub.state == BUS_UP)
		redisAsyncCommand(bus.pub.ac, NULL, NULL, "HDEL %s %s", key, name);
}

void bus_expire(const char *key, int seconds)
{
	if (bus.pub.state == BUS_UP)
		redisAsyncCommand(bus.pub.ac, NULL, NULL, "EXPIRE %s %d", key, seconds);
}

struct hash_request {
	bus_hash_fn cb;
	char *tag;
};

/* hiredis calls this once per command sent: with the reply, or with NULL when the connection
 * goes away first; either way the request is freed here. */
static void hash_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct hash_request *req = privdata;
	redisReply *reply = r;
	struct bus_field *fields = NULL;
	size_t count = 0;
	if (reply && reply->type == REDIS_REPLY_ARRAY) {
		fields = xcalloc(reply->elements / 2 + 1, sizeof(*fields));
		for (size_t i = 0; i + 1 < reply->elements; i += 2) {
			redisReply *name = reply->element[i], *value = reply->element[i + 1];
			if (name->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING)
				continue;
			fields[count++] = (struct bus_field){ name->str, name->len, value->str,
							      value->len };
		}
	}
	req->cb(req->tag, fields, count);
	free(fields);
	free(req->tag);
	free(req);
}

void bus_hash_getall(const char *key, bus_hash_fn cb, const char *tag)
{
	struct hash_request *req = xcalloc(1, sizeof(*req));
	req->cb = cb;
	req->tag = xstrdup(tag);
	/* A command hiredis refuses (the context is disconnecting) never reaches the callback:
	 * answer and free here, or the request would leak. */
	if (bus.pub.state != BUS_UP ||
	    redisAsyncCommand(bus.pub.ac, hash_reply_cb, req, "HGETALL %s", key) != REDIS_OK) {
		cb(req->tag, NULL, 0);
		free(req->tag);
		free(req);
	}
}
