#include "net/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/list.h"

/* Bytes read per readiness event at most, so one busy peer cannot starve the others. */
#define STREAM_READ_PER_EVENT (256 * 1024)
#define STREAM_READ_CHUNK 16384
/* Bytes written per turn at most: a 9 MB answer goes out in slices between other clients'
 * events instead of one multi-millisecond writev loop (loopback takes megabytes at once). */
#define STREAM_WRITE_PER_TURN (256 * 1024)

struct stream {
	int fd;
	struct evbuffer *in, *out;
	struct event *read_ev;            /* persistent while reading */
	struct event *write_ev;           /* only while the socket's send buffer is full */
	struct event *timer;
	const struct stream_handler *h;
	void *owner;
	size_t max_input;
	bool reading;                     /* read_ev added */
	bool writing;                     /* write_ev added */
	bool failed;                      /* eof or error reported: no more I/O */
	bool queued;                      /* on the flush list */
	bool shut_pending, shut_done;
	int timeout;                      /* seconds without progress before on_timeout; 0: none */
	double last_progress;
	struct list_link flush_link;
};

static struct {
	struct list queued;               /* streams with output to write this turn */
	struct event *flush_ev;
} flusher;

static void stream_fail(struct stream *s, bool eof)
{
	if (s->failed)
		return;
	s->failed = true;
	if (s->reading) {
		event_del(s->read_ev);
		s->reading = false;
	}
	if (s->writing) {
		event_del(s->write_ev);
		s->writing = false;
	}
	if (s->queued) {
		list_remove(&flusher.queued, &s->flush_link);
		s->queued = false;
	}
	if (s->h && s->h->on_error)
		s->h->on_error(s->owner, eof);
}

static void stream_progress(struct stream *s)
{
	s->last_progress = clock_mono_seconds();
}

static void stream_update_reading(struct stream *s)
{
	bool want = !s->failed && evbuffer_get_length(s->in) < s->max_input;
	if (want && !s->reading)
		event_add(s->read_ev, NULL);
	else if (!want && s->reading)
		event_del(s->read_ev);
	s->reading = want;
}

static void stream_read_cb(evutil_socket_t fd, short events, void *arg)
{
	struct stream *s = arg;
	size_t total = 0;
	bool eof = false, error = false;
	while (total < STREAM_READ_PER_EVENT && evbuffer_get_length(s->in) < s->max_input) {
		struct evbuffer_iovec v[2];
		int n = evbuffer_reserve_space(s->in, STREAM_READ_CHUNK, v, 2);
		if (n <= 0)
			break;
		struct iovec iov[2];
		size_t room = 0;
		for (int i = 0; i < n; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
			room += v[i].iov_len;
		}
		ssize_t r = readv(s->fd, iov, n);
		if (r > 0) {
			size_t left = (size_t)r;
			for (int i = 0; i < n; i++) {
				size_t take = left < v[i].iov_len ? left : v[i].iov_len;
				v[i].iov_len = take;
				left -= take;
			}
			evbuffer_commit_space(s->in, v, n);
			total += (size_t)r;
			if ((size_t)r < room)
				break; /* a short read: the socket is (almost surely) drained */
			continue;
		}
		evbuffer_commit_space(s->in, v, 0);
		if (r == 0)
			eof = true;
		else if (errno == EINTR)
			continue;
		else if (errno != EAGAIN && errno != EWOULDBLOCK)
			error = true;
		break;
	}
	if (total) {
		stream_progress(s);
		stream_update_reading(s);
		if (s->h && s->h->on_read)
			s->h->on_read(s->owner);
	}
	if (eof || error)
		stream_fail(s, eof);
}

/* Write interest: the socket is full, or this turn's slice is used up (the socket is then
 * still writable, so the rest goes out next turn, after the other streams' events). */
static void stream_want_write(struct stream *s)
{
	if (!s->writing) {
		event_add(s->write_ev, NULL);
		s->writing = true;
	}
}

/* Writes what the output holds, up to STREAM_WRITE_PER_TURN bytes. */
static void stream_write(struct stream *s)
{
	if (s->failed)
		return;
	size_t written = 0;
	while (evbuffer_get_length(s->out) > 0) {
		if (written >= STREAM_WRITE_PER_TURN) {
			stream_want_write(s);
			return;
		}
		int n = evbuffer_write_atmost(s->out, s->fd,
					      (ev_ssize_t)(STREAM_WRITE_PER_TURN - written));
		if (n > 0) {
			written += (size_t)n;
			stream_progress(s);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			stream_want_write(s);
			return;
		}
		stream_fail(s, false);
		return;
	}
	if (s->writing) {
		event_del(s->write_ev);
		s->writing = false;
	}
	if (s->shut_pending && !s->shut_done) {
		s->shut_done = true;
		shutdown(s->fd, SHUT_WR);
	}
	if (s->h && s->h->on_drained)
		s->h->on_drained(s->owner);
}

static void stream_write_cb(evutil_socket_t fd, short events, void *arg)
{
	stream_write(arg);
}

static void flush_cb(evutil_socket_t fd, short events, void *arg)
{
	struct list_link *link;
	while ((link = list_pop(&flusher.queued))) {
		struct stream *s = LIST_ITEM(link, struct stream, flush_link);
		s->queued = false;
		stream_write(s);
	}
}

static void stream_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct stream *s = arg;
	if (s->timeout <= 0 || s->failed)
		return;
	double idle = clock_mono_seconds() - s->last_progress;
	if (idle >= s->timeout) {
		if (s->h && s->h->on_timeout)
			s->h->on_timeout(s->owner);
		return;
	}
	double left = s->timeout - idle;
	struct timeval tv = { (time_t)left, (suseconds_t)((left - (time_t)left) * 1e6) };
	evtimer_add(s->timer, &tv);
}

struct stream *stream_new(struct event_base *base, int fd, size_t max_input)
{
	if (!flusher.flush_ev)
		flusher.flush_ev = event_new(base, -1, 0, flush_cb, NULL);
	struct stream *s = xcalloc(1, sizeof(*s));
	s->fd = fd;
	s->in = evbuffer_new();
	s->out = evbuffer_new();
	s->max_input = max_input;
	s->read_ev = event_new(base, fd, EV_READ | EV_PERSIST, stream_read_cb, s);
	s->write_ev = event_new(base, fd, EV_WRITE | EV_PERSIST, stream_write_cb, s);
	s->timer = evtimer_new(base, stream_timer_cb, s);
	stream_progress(s);
	stream_update_reading(s);
	return s;
}

void stream_set_handler(struct stream *s, const struct stream_handler *handler, void *owner)
{
	s->h = handler;
	s->owner = owner;
}

struct evbuffer *stream_input(struct stream *s)
{
	return s->in;
}

struct evbuffer *stream_output(struct stream *s)
{
	return s->out;
}

size_t stream_output_len(const struct stream *s)
{
	return evbuffer_get_length(s->out);
}

int stream_fd(const struct stream *s)
{
	return s->fd;
}

void stream_flush_soon(struct stream *s)
{
	if (s->queued || s->writing || s->failed)
		return; /* written this turn already, or when the socket has room */
	s->queued = true;
	list_push(&flusher.queued, &s->flush_link);
	event_active(flusher.flush_ev, 0, 0);
}

void stream_input_consumed(struct stream *s)
{
	stream_update_reading(s);
}

void stream_set_timeout(struct stream *s, int seconds)
{
	s->timeout = seconds;
	stream_progress(s);
	if (seconds <= 0) {
		evtimer_del(s->timer);
		return;
	}
	struct timeval tv = { seconds, 0 };
	evtimer_add(s->timer, &tv);
}

void stream_shutdown_write(struct stream *s)
{
	s->shut_pending = true;
	if (evbuffer_get_length(s->out) == 0 && !s->shut_done && !s->failed) {
		s->shut_done = true;
		shutdown(s->fd, SHUT_WR);
	}
}

void stream_drop_output(struct stream *s)
{
	evbuffer_drain(s->out, evbuffer_get_length(s->out));
}

void stream_free(struct stream *s)
{
	if (!s)
		return;
	if (s->queued)
		list_remove(&flusher.queued, &s->flush_link);
	event_free(s->read_ev);
	event_free(s->write_ev);
	event_free(s->timer);
	evbuffer_free(s->in);
	evbuffer_free(s->out);
	close(s->fd);
	free(s);
}

void streams_shutdown(void)
{
	if (flusher.flush_ev)
		event_free(flusher.flush_ev);
	flusher.flush_ev = NULL;
}
