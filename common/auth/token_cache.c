#include "auth/token_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/strmap.h"

struct entry {
	char subject[64];
	long long exp;
};

struct token_cache {
	struct strmap *map;
	size_t capacity;
};

struct token_cache *token_cache_new(size_t capacity)
{
	struct token_cache *c = xcalloc(1, sizeof(*c));
	c->map = strmap_new();
	c->capacity = capacity ? capacity : 1;
	return c;
}

static void free_entry(const char *key, void *value, void *arg)
{
	free(value);
}

static void token_cache_clear(struct token_cache *c)
{
	strmap_foreach(c->map, free_entry, NULL);
	strmap_free(c->map);
	c->map = strmap_new();
}

void token_cache_free(struct token_cache *c)
{
	if (!c)
		return;
	strmap_foreach(c->map, free_entry, NULL);
	strmap_free(c->map);
	free(c);
}

bool token_cache_get(struct token_cache *c, const char *token, long long now, char *subject,
		     size_t subject_size)
{
	struct entry *e = strmap_get(c->map, token);
	if (!e || e->exp <= now || strlen(e->subject) >= subject_size)
		return false;
	memcpy(subject, e->subject, strlen(e->subject) + 1);
	return true;
}

void token_cache_put(struct token_cache *c, const char *token, const char *subject,
		     long long exp)
{
	if (strlen(subject) >= sizeof(((struct entry *)0)->subject))
		return;
	if (strmap_count(c->map) >= c->capacity && !strmap_get(c->map, token))
		token_cache_clear(c);
	struct entry *e = xcalloc(1, sizeof(*e));
	snprintf(e->subject, sizeof(e->subject), "%s", subject);
	e->exp = exp;
	free(strmap_put(c->map, token, e));
}

size_t token_cache_count(const struct token_cache *c)
{
	return strmap_count(c->map);
}
