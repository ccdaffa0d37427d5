/* libFuzzer: the HTTP/1.x head parsers and the chunked delimiter. Whatever
 * the bytes, no crash, and a parse never reports more than it was given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http1_head h;
	const char *b = (const char *)data;
	uint64_t len;
	int r;

	r = http1_parse_request(b, size, &h);
	if (r > 0) {
		if ((size_t)r > size)
			abort();
		for (size_t i = 0; i < h.num_headers; i++)
			if (h.headers[i].value.p + h.headers[i].value.len > b + size)
				abort();
		http1_body_kind(&h, 0, h.method, &len);
	} else if (r != -1 && r != -2) {
		abort();
	}
	r = http1_parse_response(b, size, &h);
	if (r > (int)size || (r <= 0 && r != -1 && r != -2))
		abort();
	if (r > 0)
		http1_body_kind(&h, 1, (struct http1_slice){"GET", 3}, &len);

	/* chunked: all at once equals byte at a time */
	struct http1_chunked a = {0}, c = {0};
	ssize_t whole = http1_chunked_feed(&a, b, size), step = -2;
	size_t i;
	for (i = 0; i < size && step == -2; i++)
		step = http1_chunked_feed(&c, b + i, 1);
	if (whole >= 0 ? (step != 1 || (size_t)whole != i) : (whole == -2 ? step != -2 : step != -1))
		abort();
	return 0;
}
