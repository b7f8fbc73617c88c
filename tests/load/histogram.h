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

#endif
