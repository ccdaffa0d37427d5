/* Trace and span ids (see ids.h). */
#include "base/ids.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* xoshiro256** seeded from getrandom: fast, and ids need not be secret */
static uint64_t rng_s[4];

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(void)
{
	uint64_t r = rotl(rng_s[1] * 5, 7) * 9, t = rng_s[1] << 17;

	rng_s[2] ^= rng_s[0];
	rng_s[3] ^= rng_s[1];
	rng_s[1] ^= rng_s[2];
	rng_s[0] ^= rng_s[3];
	rng_s[2] ^= t;
	rng_s[3] = rotl(rng_s[3], 45);
	return r;
}

void ids__init(void)
{
	if (getrandom(rng_s, sizeof(rng_s), 0) != sizeof(rng_s)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		rng_s[0] = (uint64_t)ts.tv_nsec ^ 0x9e3779b97f4a7c15ULL;
		rng_s[1] = (uint64_t)ts.tv_sec * 0xbf58476d1ce4e5b9ULL + 1;
		rng_s[2] = (uint64_t)getpid() * 0x94d049bb133111ebULL + 3;
		rng_s[3] = 0x2545f4914f6cdd1dULL;
	}
}

uint64_t ids__span_id(void)
{
	uint64_t v;

	while (!(v = rng_next()))
		;
	return v;
}

void ids__trace_id(uint8_t out[16])
{
	uint64_t a = ids__span_id(), b = rng_next();

	memcpy(out, &a, 8);
	memcpy(out + 8, &b, 8);
}
