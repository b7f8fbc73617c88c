/*
 * A string-keyed hash map with chaining, for the node's per-canvas tables (commit queues, and
 * rooms). Keys are copied; values are borrowed pointers the caller owns. Grows by doubling.
 */
#ifndef FLOWSTATE_STRMAP_H
#define FLOWSTATE_STRMAP_H

#include <stddef.h>

struct strmap;

struct strmap *strmap_new(void);
/* Frees the map and its keys, not the values. */
void strmap_free(struct strmap *map);
void *strmap_get(const struct strmap *map, const char *key);
/* Inserts or replaces; returns the previous value or NULL. */
void *strmap_put(struct strmap *map, const char *key, void *value);
/* Removes; returns the value or NULL. */
void *strmap_remove(struct strmap *map, const char *key);
size_t strmap_count(const struct strmap *map);
/* Calls fn for every entry; fn must not modify the map. */
void strmap_foreach(const struct strmap *map, void (*fn)(const char *key, void *value, void *arg),
		    void *arg);

#endif
