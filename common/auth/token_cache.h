/*
 * Access tokens already verified, by their exact text: a client sends the same token with
 * every request for its whole lifetime (15 minutes), and verifying it — two base64 decodes,
 * two JSON parses, an HMAC and libjwt's second opinion — was 30% of a node's CPU under a REST
 * write load (callgrind). Only tokens that verified are stored, with their subject and expiry;
 * a hit past the expiry is a miss. Bounded: when full it starts over (tokens are re-verified).
 * Pure: the caller passes the time.
 */
#ifndef FLOWSTATE_AUTH_TOKEN_CACHE_H
#define FLOWSTATE_AUTH_TOKEN_CACHE_H

#include <stdbool.h>
#include <stddef.h>

struct token_cache;

struct token_cache *token_cache_new(size_t capacity);
void token_cache_free(struct token_cache *c);

/* The subject of a token verified before and not expired at now; false otherwise. */
bool token_cache_get(struct token_cache *c, const char *token, long long now, char *subject,
		     size_t subject_size) __attribute__((warn_unused_result));
/* Remembers a verified token until exp. */
void token_cache_put(struct token_cache *c, const char *token, const char *subject,
		     long long exp);
size_t token_cache_count(const struct token_cache *c);

#endif
