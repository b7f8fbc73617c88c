/*
 * Structured logging: one event per line, key=value pairs, level-gated.
 *
 *   log_info("http_request", "req=%llu route=%s status=%d ms=%.2f", id, route, status, ms);
 *
 * prints
 *
 *   ts=2026-11-21T10:00:00.123Z level=info node=n1 event=http_request req=1 route=... status=200
 *
 * The event name is a fixed identifier; the free-form part carries context (conn=, canvas=,
 * req=). Values that may hold spaces or user input go through log_quote().
 */
#ifndef FLOWSTATE_LOG_H
#define FLOWSTATE_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Returns false for an unknown level name. */
bool log_level_parse(const char *name, enum log_level *out);

void log_set_level(enum log_level level);
/* A short identifier of this process, printed as node=... on every line. */
void log_set_node(const char *node_id);
bool log_enabled(enum log_level level);

void log_write(enum log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Buffered mode: lines of the calling thread collect in memory and are written by
 * log_flush() (or when the buffer fills, or at once for warnings and errors; other threads'
 * lines always go at once); schedule_flush is called, on the calling thread, when the buffer
 * goes from empty to non-empty, so the owner can arrange a flush soon (the node: at the end
 * of the event-loop turn). Unbuffered (the default): one write per line.
 */
void log_set_buffered(bool buffered, void (*schedule_flush)(void));
void log_flush(void);

/* Renders s as a quoted, escaped log value into buf (always NUL-terminated, truncated). */
const char *log_quote(char *buf, size_t size, const char *s);

#define log_debug(event, ...) \
	do { if (log_enabled(LOG_DEBUG)) log_write(LOG_DEBUG, event, __VA_ARGS__); } while (0)
#define log_info(event, ...) \
	do { if (log_enabled(LOG_INFO)) log_write(LOG_INFO, event, __VA_ARGS__); } while (0)
#define log_warn(event, ...) \
	do { if (log_enabled(LOG_WARN)) log_write(LOG_WARN, event, __VA_ARGS__); } while (0)
#define log_error(event, ...) \
	do { if (log_enabled(LOG_ERROR)) log_write(LOG_ERROR, event, __VA_ARGS__); } while (0)

#endif
