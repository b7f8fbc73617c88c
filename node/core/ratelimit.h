/*
 * Per-user token buckets (DESIGN §7), shared by every connection of a user on this node and by
 * REST and WebSocket writes alike, on top of each WebSocket connection's own bucket. A user
 * opening many tabs or scripting the REST API gets one budget per node.
 *
 * Buckets live in a map keyed by user id; a sweep every minute forgets the full ones.
 */
#ifndef FLOWSTATE_CORE_RATELIMIT_H
#define FLOWSTATE_CORE_RATELIMIT_H

#include <stdbool.h>

struct event_base;

/* rate: tokens per second per user, burst: bucket size. */
void ratelimit_init(struct event_base *base, double rate, double burst);
void ratelimit_shutdown(void);
/* Takes cost tokens from the user's bucket; false (nothing taken) when it has too few. */
bool ratelimit_take_user(const char *user_id, double cost) __attribute__((warn_unused_result));

#endif
