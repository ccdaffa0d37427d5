/* FNV-1a, 64-bit: fast and good enough to index tables and to compare
 * requests (fingerprints) and list items (queue hop); not a defence against
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

/* Fingerprints of requests: FNV-1a over fields, each followed by a
 * separator byte, chained from FP_INIT. */
#define FP_INIT FNV_OFFSET

static inline uint64_t fp__add(uint64_t h, const void *p, size_t n)
{
	return (fnv1a(h, p, n) ^ 0xff) * FNV_PRIME; /* field separator */
}

#endif
