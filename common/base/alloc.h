/*
 * Allocation policy for all of FlowState: these wrappers abort the process on out-of-memory.
 * A server that cannot allocate a few bytes cannot make progress safely, and a crash with a
 * clear message is better than a NULL check forgotten on some rarely-taken path. Every other
 * module allocates through these, never through malloc() directly.
 */
#ifndef FLOWSTATE_ALLOC_H
#define FLOWSTATE_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh allocation. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
