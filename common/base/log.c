#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

static enum log_level current_level = LOG_INFO;
static char node_name[64] = "-";

static const char *const level_names[] = { "debug", "info", "warn", "error" };

bool log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	return false;
}

void log_set_level(enum log_level level)
{
	current_level = level;
}

void log_set_node(const char *node_id)
{
	snprintf(node_name, sizeof(node_name), "%s", node_id);
}

bool log_enabled(enum log_level level)
{
	return level >= current_level;
}

/*
 * Buffering. A busy node logs a line per request; a write(2) per line was a measurable share
 * of its CPU (syscalls are dear on virtual machines). Buffered, lines collect here and go out
 * in one write when the owner flushes (the node: once per event-loop turn), when the buffer
 * fills, and at once for warnings and errors. Each write holds whole lines only, so lines from
 * several processes appending to one file stay intact. A mutex: worker threads log too.
 */
#define LOG_BUFFER_BYTES 65536

static struct {
	pthread_mutex_t lock;
	bool buffered;
	pthread_t owner;           /* the thread that buffers (the event loop) */
	void (*schedule_flush)(void);
	char data[LOG_BUFFER_BYTES];
	size_t used;
	time_t stamp_sec;          /* the second stamp_text formats */
	char stamp_text[24];
} out = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void flush_locked(void)
{
	size_t done = 0;
	while (done < out.used) {
		ssize_t n = write(STDERR_FILENO, out.data + done, out.used - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* nowhere to report it: drop the lines */
		done += (size_t)n;
	}
	out.used = 0;
}

void log_set_buffered(bool buffered, void (*schedule_flush)(void))
{
	pthread_mutex_lock(&out.lock);
	flush_locked();
	out.buffered = buffered;
	out.owner = pthread_self();
	out.schedule_flush = schedule_flush;
	pthread_mutex_unlock(&out.lock);
}

void log_flush(void)
{
	pthread_mutex_lock(&out.lock);
	flush_locked();
	pthread_mutex_unlock(&out.lock);
}

static void emit(enum log_level level, const char *line, size_t len)
{
	pthread_mutex_lock(&out.lock);
	if (!out.buffered) {
		memcpy(out.data, line, len);
		out.used = len;
		flush_locked();
		pthread_mutex_unlock(&out.lock);
		return;
	}
	if (out.used + len > sizeof(out.data))
		flush_locked();
	bool was_empty = out.used == 0;
	memcpy(out.data + out.used, line, len);
	out.used += len;
	/* Other threads' lines go out at once: only the owner's flush is scheduled. */
	if (level >= LOG_WARN || !pthread_equal(pthread_self(), out.owner))
		flush_locked();
	void (*schedule)(void) = was_empty && out.used ? out.schedule_flush : NULL;
	pthread_mutex_unlock(&out.lock);
	if (schedule)
		schedule();
}

/* "YYYY-MM-DDTHH:MM:SS" of a Unix second, formatted once per second. */
static const char *log_stamp(time_t sec, char buf[24])
{
	pthread_mutex_lock(&out.lock);
	if (sec != out.stamp_sec || !out.stamp_text[0]) {
		struct tm tm;
		gmtime_r(&sec, &tm);
		strftime(out.stamp_text, sizeof(out.stamp_text), "%Y-%m-%dT%H:%M:%S", &tm);
		out.stamp_sec = sec;
	}
	memcpy(buf, out.stamp_text, 24);
	pthread_mutex_unlock(&out.lock);
	return buf;
}

void log_write(enum log_level level, const char *event, const char *fmt, ...)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	char stamp[24];
	char line[4096];
	int n = snprintf(line, sizeof(line), "ts=%s.%03dZ level=%s node=%s event=%s ",
			 log_stamp(tv.tv_sec, stamp), (int)(tv.tv_usec / 1000), level_names[level],
			 node_name, event);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	emit(level, line, len);
}

const char *log_quote(char *buf, size_t size, const char *s)
{
	size_t o = 0;
	if (size < 3) {
		if (size)
			buf[0] = '\0';
		return buf;
	}
	buf[o++] = '"';
	for (; s && *s && o + 3 < size; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			buf[o++] = '?';
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
