#include "base/tbucket.h"

void tbucket_init(struct tbucket *b, double rate, double burst, double now)
{
	b->rate = rate;
	b->burst = burst;
	b->tokens = burst;
	b->last = now;
}

void tbucket_refill(struct tbucket *b, double now)
{
	if (now > b->last)
		b->tokens += (now - b->last) * b->rate;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	b->last = now;
}

bool tbucket_take(struct tbucket *b, double cost, double now)
{
	tbucket_refill(b, now);
	if (b->tokens < cost)
		return false;
	b->tokens -= cost;
	return true;
}

double tbucket_wait(const struct tbucket *b, double cost)
{
	return b->tokens >= cost ? 0.0 : (cost - b->tokens) / b->rate;
}

bool tbucket_full(const struct tbucket *b, double now)
{
	double tokens = b->tokens + (now > b->last ? (now - b->last) * b->rate : 0.0);
	return tokens >= b->burst;
}
