/* Merging and reading the log-linear histograms (hist.h). */
#include "base/hist.h"

#include <math.h>

void hist__merge(struct hist *dst, const struct hist *src)
{
	for (uint32_t i = 0; i < HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->sum_ns += src->sum_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
}

void hist__merge32(struct hist *dst, const struct hist32 *src)
{
	if (!src->count)
		return;
	for (uint32_t i = 0; i < HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->sum_ns += src->sum_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
}

static uint64_t mid(uint32_t i)
{
	return hist__lower(i) + (hist__width(i) - 1) / 2;
}

uint64_t hist__quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (!h->count)
		return 0;
	if (q >= 1.0)
		return h->max_ns;
	rank = (uint64_t)ceil(q * (double)h->count);
	if (rank < 1)
		rank = 1;
	for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t v = mid(i);
			return v > h->max_ns ? h->max_ns : v;
		}
	}
	return h->max_ns;
}

void hist__count_le_many(const struct hist *h, const uint64_t *le, uint32_t n, uint64_t *out)
{
	uint64_t seen = 0;
	uint32_t k = 0;

	for (uint32_t i = 0; i < HIST_BUCKETS && k < n; i++) {
		uint64_t m = mid(i);
		/* the bounds this bucket's midpoint passes have all before it */
		while (k < n && le[k] < m)
			out[k++] = seen;
		seen += h->b[i];
	}
	while (k < n)
		out[k++] = seen;
}

uint64_t hist__count_le(const struct hist *h, uint64_t le_ns)
{
	uint64_t n;

	hist__count_le_many(h, &le_ns, 1, &n);
	return n;
}
