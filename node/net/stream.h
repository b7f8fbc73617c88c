/*
 * A connected, non-blocking TCP socket on the event loop, with an input and an output buffer:
 * the transport under HTTP connections and WebSocket connections (after the upgrade the same
 * stream changes owner).
 *
 * Why not libevent's bufferevents: syscalls are dear on a virtual machine, and a bufferevent
 * spends them freely. Measured with `strace -c -f` on a node under REST load, every request
 * cost about 4.5 epoll_ctl (read interest switched off and on around each request, write
 * interest added and removed around each response), an ioctl(FIONREAD) before every read, a
 * readv and a writev. A stream instead:
 *   - keeps read interest for its whole life (a request being handled just leaves later bytes
 *     in the input buffer, bounded: past max_input reading pauses until the owner consumes);
 *   - reads into reserved buffer space without asking how much is readable;
 *   - writes at the end of the loop turn: stream_flush_soon() marks the stream, and one flush
 *     per turn writes every marked stream's output with one writev (redis's
 *     handleClientsWithPendingWrites); write interest is registered only when the socket's
 *     send buffer is full, and dropped once the output has drained.
 *
 * Callbacks (the handler the owner sets) run from the loop, never from inside a stream_*
 * call, so the owner may call anything from them (stream_free included, which it should defer
 * to a reaper as every owner here does). on_read: bytes were appended to the input. on_drained:
 * the output became empty after a flush. on_error: end of stream (eof) or a socket error;
 * reading stops; the owner frees the stream. on_timeout: no progress (bytes read or written)
 * for the timeout the owner set.
 *
 * Ownership: the stream owns the socket (closed by stream_free) and its buffers.
 */
#ifndef FLOWSTATE_NET_STREAM_H
#define FLOWSTATE_NET_STREAM_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct evbuffer;
struct stream;

struct stream_handler {
	void (*on_read)(void *owner);
	void (*on_drained)(void *owner);
	void (*on_error)(void *owner, bool eof);
	void (*on_timeout)(void *owner);
};

/* Takes the connected, non-blocking socket fd (the listener accepts with SOCK_NONBLOCK).
 * Reading starts at once. */
struct stream *stream_new(struct event_base *base, int fd, size_t max_input);
/* Callbacks go to handler (borrowed for good) with owner; NULL handler: none. */
void stream_set_handler(struct stream *s, const struct stream_handler *handler, void *owner);

struct evbuffer *stream_input(struct stream *s);
struct evbuffer *stream_output(struct stream *s);
size_t stream_output_len(const struct stream *s);
/* The socket, for options only (SO_SNDBUF): reading and writing belong to the stream. */
int stream_fd(const struct stream *s);

/* The output was appended to: write it at the end of this loop turn. */
void stream_flush_soon(struct stream *s);
/* The owner consumed input: reading resumes if it had paused at max_input. */
void stream_input_consumed(struct stream *s);
/* on_timeout after `seconds` without progress (0: never). Re-arming is cheap. */
void stream_set_timeout(struct stream *s, int seconds);
/* Half-close: no more output will be written (shutdown(SHUT_WR) once the output drained). */
void stream_shutdown_write(struct stream *s);
/* Discards unsent output (a client that stopped reading gets its close frame next). */
void stream_drop_output(struct stream *s);

/* Closes the socket and frees everything; pending callbacks are cancelled. NULL: no-op. */
void stream_free(struct stream *s);

/* The loop-turn flush needs one event per loop: created on the first stream_new. Frees it
 * (process exit, after every stream is gone). */
void streams_shutdown(void);

#endif
