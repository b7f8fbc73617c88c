/*
 * A growable byte string, always NUL-terminated: for building statements' array parameters,
 * log lines and other text whose size is not known up front. Allocation follows alloc.h
 * (abort on out-of-memory). A buffer is reused by strbuf_reset, which keeps its capacity.
 */
#ifndef FLOWSTATE_BASE_STRBUF_H
#define FLOWSTATE_BASE_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *data;    /* NULL until the first append */
	size_t len;
	size_t cap;
};

void strbuf_append(struct strbuf *b, const char *s, size_t n);
void strbuf_puts(struct strbuf *b, const char *s);
void strbuf_putc(struct strbuf *b, char c);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A decimal integer, without printf's machinery (hot paths). */
void strbuf_put_int(struct strbuf *b, long long v);
void strbuf_vprintf(struct strbuf *b, const char *fmt, va_list ap);
/* The text so far ("" when empty; valid until the next append). */
const char *strbuf_str(const struct strbuf *b);
void strbuf_reset(struct strbuf *b);
void strbuf_free(struct strbuf *b);

#endif
