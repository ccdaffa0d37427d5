/* libFuzzer: the RESP parser, both directions, with and without skips of
 * uncaptured bytes: no crash, consumption within bounds, and all at once
 * equals byte at a time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse/resp.h"

static void run(const uint8_t *d, size_t n, int inline_ok)
{
	static struct resp_parser a, c;
	static struct resp_msg ma, mc;
	size_t off = 0, msgs_a = 0, msgs_c = 0;
	ssize_t r;

	resp_parser_init(&a, inline_ok);
	resp_parser_init(&c, inline_ok);
	/* all at once, message after message */
	while (off < n) {
		r = resp_feed(&a, d + off, n - off, &ma);
		if (r == -1 || r == -2)
			break;
		if (r <= 0 || (size_t)r > n - off)
			abort();
		off += (size_t)r;
		msgs_a++;
	}
	/* one byte at a time */
	for (size_t i = 0; i < n; i++) {
		r = resp_feed(&c, d + i, 1, &mc);
		if (r == -1)
			break;
		if (r == 1)
			msgs_c++;
		else if (r != -2)
			abort();
	}
	if (msgs_a != msgs_c)
		abort();
	/* a skip anywhere must be accepted or refused, never crash */
	resp_skip(&c, n, &mc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, 1);
	run(data, size, 0);
	return 0;
}
