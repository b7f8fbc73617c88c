#include "histogram.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/alloc.h"

/*
 * Bucket layout: indices 0..255 hold the values 0..255 exactly. Above that, a value with its
 * top bit at position m (m >= 8) is shifted right by m - 7 to a mantissa in [128, 255]; each
 * shift has 128 buckets. The largest shift is 56 (m = 63).
 */
#define SUB_BITS 7
#define SUB_COUNT (1u << SUB_BITS)
#define DIRECT_COUNT (2u * SUB_COUNT)
#define MAX_SHIFT (63 - SUB_BITS)
#define BUCKET_COUNT (DIRECT_COUNT + (MAX_SHIFT - 1) * SUB_COUNT + SUB_COUNT)

struct hist {
	uint64_t counts[BUCKET_COUNT];
	uint64_t total;
	uint64_t min, max;
	long double sum;
};

static unsigned bucket_of(uint64_t v)
{
	if (v < DIRECT_COUNT)
		return (unsigned)v;
	unsigned top = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = top - SUB_BITS;
	unsigned mantissa = (unsigned)(v >> shift);
	return DIRECT_COUNT + (shift - 1) * SUB_COUNT + (mantissa - SUB_COUNT);
}

/* The largest value that lands in bucket i. */
static uint64_t bucket_high(unsigned i)
{
	if (i < DIRECT_COUNT)
		return i;
	unsigned shift = (i - DIRECT_COUNT) / SUB_COUNT + 1;
	uint64_t mantissa = (i - DIRECT_COUNT) % SUB_COUNT + SUB_COUNT;
	/* (mantissa + 1) << shift would overflow in the top bucket. */
	return (mantissa << shift) + ((1ull << shift) - 1);
}

struct hist *hist_new(void)
{
	return xcalloc(1, sizeof(struct hist));
}

void hist_free(struct hist *h)
{
	free(h);
}

void hist_record(struct hist *h, uint64_t value)
{
	h->counts[bucket_of(value)]++;
	if (h->total == 0 || value < h->min)
		h->min = value;
	if (value > h->max)
		h->max = value;
	h->total++;
	h->sum += value;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	if (src->total == 0)
		return;
	for (unsigned i = 0; i < BUCKET_COUNT; i++)
		dst->counts[i] += src->counts[i];
	if (dst->total == 0 || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->total += src->total;
	dst->sum += src->sum;
}

uint64_t hist_count(const struct hist *h)
{
	return h->total;
}

uint64_t hist_min(const struct hist *h)
{
	return h->min;
}

uint64_t hist_max(const struct hist *h)
{
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->total ? (double)(h->sum / h->total) : 0.0;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	if (h->total == 0)
		return 0;
	if (p > 100.0)
		p = 100.0;
	uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->total);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < BUCKET_COUNT; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			uint64_t high = bucket_high(i);
			return high < h->max ? high : h->max;
		}
	}
	return h->max;
}

size_t hist_cdf(const struct hist *h, struct hist_cdf_point *out, size_t max)
{
	if (h->total == 0 || max < 4)
		return 0;
	/* Half of the points for steps in fraction, half for steps in value, plus the ends. */
	size_t steps = (max - 2) / 2;
	uint64_t count_step = (h->total + steps - 1) / steps;
	double lo = log((double)h->min + 1.0), hi = log((double)h->max + 1.0);
	double log_step = (hi - lo) / (double)steps;
	uint64_t seen = 0, last_seen = 0;
	double last_log = 0;
	size_t n = 0;
	for (unsigned i = 0; i < BUCKET_COUNT && seen < h->total; i++) {
		if (!h->counts[i])
			continue;
		seen += h->counts[i];
		uint64_t value = bucket_high(i) < h->max ? bucket_high(i) : h->max;
		double v_log = log((double)value + 1.0);
		bool last = seen == h->total;
		bool due = n == 0 || seen - last_seen >= count_step || v_log - last_log >= log_step;
		/* Keep the last slot for the maximum, whatever rounding did to the counts. */
		if (!last && (!due || n + 1 >= max))
			continue;
		out[n].value = value;
		out[n].fraction = (double)seen / (double)h->total;
		n++;
		last_seen = seen;
		last_log = v_log;
	}
	return n;
}
