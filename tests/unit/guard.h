/* Test helper: copies bytes so that they end exactly at a PROT_NONE page, so
 * any read past the end of the input crashes the test. */
#ifndef SPANTAP_TEST_GUARD_H
#define SPANTAP_TEST_GUARD_H

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUARD_AREA (1 << 17)

static inline char *guard_area(void)
{
	static char *area;
	long pg = sysconf(_SC_PAGESIZE);

	if (!area) {
		area = mmap(NULL, GUARD_AREA + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (area == MAP_FAILED)
			abort();
		mprotect(area + GUARD_AREA, pg, PROT_NONE);
	}
	return area;
}

/* returns a pointer to a copy of b[0..n) that ends at the guard page */
static inline const char *guarded(const void *b, size_t n)
{
	char *dst = guard_area() + GUARD_AREA - n;

	memcpy(dst, b, n);
	return dst;
}

#endif
