#include "base/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

struct strmap_entry {
	char *key;
	void *value;
	uint64_t hash;
	struct strmap_entry *next;
};

struct strmap {
	struct strmap_entry **buckets;
	size_t nbuckets;
	size_t count;
};

/* FNV-1a: keys are short ids, not attacker-chosen at scale (they are validated UUIDs). */
static uint64_t strmap_hash(const char *key)
{
	uint64_t h = 1469598103934665603ull;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= 1099511628211ull;
	}
	return h;
}

struct strmap *strmap_new(void)
{
	struct strmap *map = xcalloc(1, sizeof(*map));
	map->nbuckets = 16;
	map->buckets = xcalloc(map->nbuckets, sizeof(*map->buckets));
	return map;
}

void strmap_free(struct strmap *map)
{
	if (!map)
		return;
	for (size_t i = 0; i < map->nbuckets; i++) {
		struct strmap_entry *e = map->buckets[i];
		while (e) {
			struct strmap_entry *next = e->next;
			free(e->key);
			free(e);
			e = next;
		}
	}
	free(map->buckets);
	free(map);
}

static struct strmap_entry **strmap_slot(const struct strmap *map, const char *key, uint64_t h)
{
	struct strmap_entry **slot = &map->buckets[h & (map->nbuckets - 1)];
	while (*slot && ((*slot)->hash != h || strcmp((*slot)->key, key) != 0))
		slot = &(*slot)->next;
	return slot;
}

void *strmap_get(const struct strmap *map, const char *key)
{
	struct strmap_entry *e = *strmap_slot(map, key, strmap_hash(key));
	return e ? e->value : NULL;
}

static void strmap_grow(struct strmap *map)
{
	size_t n = map->nbuckets * 2;
	struct strmap_entry **buckets = xcalloc(n, sizeof(*buckets));
	for (size_t i = 0; i < map->nbuckets; i++) {
		struct strmap_entry *e = map->buckets[i];
		while (e) {
			struct strmap_entry *next = e->next;
			e->next = buckets[e->hash & (n - 1)];
			buckets[e->hash & (n - 1)] = e;
			e = next;
		}
	}
	free(map->buckets);
	map->buckets = buckets;
	map->nbuckets = n;
}

void *strmap_put(struct strmap *map, const char *key, void *value)
{
	uint64_t h = strmap_hash(key);
	struct strmap_entry **slot = strmap_slot(map, key, h);
	if (*slot) {
		void *old = (*slot)->value;
		(*slot)->value = value;
		return old;
	}
	struct strmap_entry *e = xcalloc(1, sizeof(*e));
	e->key = xstrdup(key);
	e->value = value;
	e->hash = h;
	*slot = e;
	if (++map->count > map->nbuckets)
		strmap_grow(map);
	return NULL;
}

void *strmap_remove(struct strmap *map, const char *key)
{
	struct strmap_entry **slot = strmap_slot(map, key, strmap_hash(key));
	struct strmap_entry *e = *slot;
	if (!e)
		return NULL;
	void *value = e->value;
	*slot = e->next;
	free(e->key);
	free(e);
	map->count--;
	return value;
}

size_t strmap_count(const struct strmap *map)
{
	return map->count;
}

void strmap_foreach(const struct strmap *map, void (*fn)(const char *key, void *value, void *arg),
		    void *arg)
{
	for (size_t i = 0; i < map->nbuckets; i++)
		for (struct strmap_entry *e = map->buckets[i]; e; e = e->next)
			fn(e->key, e->value, arg);
}
