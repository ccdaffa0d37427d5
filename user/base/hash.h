/* FNV-1a, 64-bit, byte by byte (list items of the queue hop, hashed as they
 * arrive in pieces), and a word-at-a-time fingerprint (requests, 4-tuples):
 * fast and good enough to index tables and to compare; not a defence against
 * inputs built to collide, which only ever cost a wrong or a missed link. */
#ifndef SPANTAP_HASH_H
#define SPANTAP_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static inline uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * FNV_PRIME;
	return h;
}

/* Fingerprints of requests (and 4-tuple buckets): fields taken a word at
 * a time, each word and each field's length mixed in by a multiply and a
 * shift, chained from FP_INIT. Both ends of a connection fingerprint a
 * request with this one function, so their views compare equal. */
#define FP_INIT FNV_OFFSET
#define FP_MUL 0x9e3779b97f4a7c15ULL

static inline uint64_t fp__mix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * FP_MUL;
	return h ^ (h >> 32);
}

static inline uint64_t fp__add(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t left = n;
	uint64_t w = 0;

	for (; left >= 8; left -= 8, b += 8) {
		__builtin_memcpy(&w, b, 8);
		h = fp__mix(h, w);
	}
	if (left >= 4) {
		/* two loads that overlap cover 4 to 7 bytes */
		uint32_t lo, hi;
		__builtin_memcpy(&lo, b, 4);
		__builtin_memcpy(&hi, b + left - 4, 4);
		w = (uint64_t)hi << 32 | lo;
	} else {
		w = 0;
		for (size_t i = 0; i < left; i++)
			w |= (uint64_t)b[i] << (8 * i);
	}
	return fp__mix(fp__mix(h, w), n); /* the length separates the fields */
}

#endif
