/* Log-linear latency histograms (HdrHistogram's layout): exact below 64 ns,
 * then 32 buckets per power of two up to 2^40 ns (18 minutes; longer values
 * land in the last bucket, the exact max is kept). A bucket is at most 1/32
 * of its values wide, so its midpoint is within 1/64 (1.6%) of any value in
 * it. Fixed size, no allocation: add is a shift, a count-leading-zeros and
 * an increment. */
#ifndef SPANTAP_HIST_H
#define SPANTAP_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_MAX_BITS 40
#define HIST_BUCKETS ((HIST_MAX_BITS - HIST_SUB_BITS) * HIST_SUB + HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t max_ns;
	uint64_t b[HIST_BUCKETS];
};

/* the same layout with 32-bit counts: windows of a few seconds */
struct hist32 {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t max_ns;
	uint32_t b[HIST_BUCKETS];
};

static inline uint32_t hist__index(uint64_t v)
{
	if (v < 2 * HIST_SUB)
		return (uint32_t)v;
	if (v >> HIST_MAX_BITS)
		return HIST_BUCKETS - 1;
	uint32_t e = 63u - (uint32_t)__builtin_clzll(v), shift = e - HIST_SUB_BITS;
	return shift * HIST_SUB + (uint32_t)(v >> shift);
}

/* the smallest value of bucket i, and its width */
static inline uint64_t hist__lower(uint32_t i)
{
	if (i < 2 * HIST_SUB)
		return i;
	uint32_t shift = (i >> HIST_SUB_BITS) - 1;
	return (uint64_t)((i & (HIST_SUB - 1)) + HIST_SUB) << shift;
}

static inline uint64_t hist__width(uint32_t i)
{
	return i < 2 * HIST_SUB ? 1 : 1ULL << ((i >> HIST_SUB_BITS) - 1);
}

static inline void hist__add(struct hist *h, uint64_t ns)
{
	h->b[hist__index(ns)]++;
	h->count++;
	h->sum_ns += ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

static inline void hist32__add(struct hist32 *h, uint64_t ns)
{
	h->b[hist__index(ns)]++;
	h->count++;
	h->sum_ns += ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

void hist__merge(struct hist *dst, const struct hist *src);
void hist__merge32(struct hist *dst, const struct hist32 *src);
/* The value at quantile q (0..1): the midpoint of the bucket holding the
 * ceil(q * count)-th smallest value, never above the exact max; 0 when
 * empty. q = 1 gives the max. */
uint64_t hist__quantile(const struct hist *h, double q);
/* How many values are at most le_ns, counting a bucket that straddles
 * le_ns by where its midpoint falls (Prometheus buckets). */
uint64_t hist__count_le(const struct hist *h, uint64_t le_ns);
/* The same for n ascending bounds at once, in one pass: out[i] for le[i]. */
void hist__count_le_many(const struct hist *h, const uint64_t *le, uint32_t n, uint64_t *out);

#endif
