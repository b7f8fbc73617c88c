/*
 * A log-linear latency histogram in the manner of HdrHistogram: values below 256 are counted
 * exactly, larger ones in 128 linear sub-buckets per power of two, so any reported percentile
 * is within 1/128 (0.8%) of the true value, over the whole 64-bit range, in a fixed 58 KiB.
 * Load generators record nanoseconds in it; recording is O(1) and never allocates.
 *
 * Ownership: hist_new returns a histogram the caller owns and releases with hist_free.
 */
#ifndef FLOWSTATE_HISTOGRAM_H
#define FLOWSTATE_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

struct hist;

struct hist *hist_new(void);
void hist_free(struct hist *h);

void hist_record(struct hist *h, uint64_t value);
/* Adds every count of src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);

uint64_t hist_count(const struct hist *h);
uint64_t hist_min(const struct hist *h);   /* 0 when empty */
uint64_t hist_max(const struct hist *h);   /* exact */
double hist_mean(const struct hist *h);    /* exact (from the running sum); 0 when empty */

/*
 * The value at percentile p (0 < p <= 100): the highest value equivalent to the bucket that
 * holds the ceil(p/100 * count)-th smallest recording, capped at the exact maximum. It never
 * understates: the true value is at most this and more than this * (1 - 1/128). 0 when empty.
 */
uint64_t hist_percentile(const struct hist *h, double p);

/* One point of the cumulative distribution: the share of recordings that are <= value. */
struct hist_cdf_point {
	uint64_t value;
	double fraction;
};

/*
 * Up to max points (max >= 4) of the cumulative distribution, for plotting, written to the
 * caller's array out; returns how many. Each point is the top of a non-empty bucket (the last
 * one capped at the exact maximum) with the exact share of recordings at or below it; values
 * strictly increase, fractions rise to 1.0 at the last point. A bucket becomes a point when
 * the fraction rose by 2/max or the value by a factor of (max/min)^(2/max) since the previous
 * point, so a long tail keeps its shape on a log axis even when it holds 1 % of the counts.
 * 0 when empty.
 */
size_t hist_cdf(const struct hist *h, struct hist_cdf_point *out, size_t max);

#endif
