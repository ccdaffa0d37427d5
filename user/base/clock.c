/* The two clocks (see clock.h): the offset between them is sampled, not
 * assumed, and resampled by the caller to follow NTP. */
#include "base/clock.h"

#include <time.h>

static int64_t wall_offset;

uint64_t clock__mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* offset = realtime - monotonic, from the tightest of a few samples */
void clock__sync(void)
{
	int64_t best_gap = INT64_MAX;

	for (int i = 0; i < 5; i++) {
		struct timespec r;
		uint64_t m1 = clock__mono_now();
		clock_gettime(CLOCK_REALTIME, &r);
		uint64_t m2 = clock__mono_now();
		int64_t gap = (int64_t)(m2 - m1);
		if (gap < best_gap) {
			best_gap = gap;
			wall_offset = (int64_t)((uint64_t)r.tv_sec * 1000000000ULL + (uint64_t)r.tv_nsec) -
				      (int64_t)(m1 + (m2 - m1) / 2);
		}
	}
}

uint64_t clock__to_wall(uint64_t mono_ns)
{
	return (uint64_t)((int64_t)mono_ns + wall_offset);
}
