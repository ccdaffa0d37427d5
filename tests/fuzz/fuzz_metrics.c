/* libFuzzer: the metrics endpoint's request handling (what a client on
 * --metrics-listen controls) and route collapsing (what traced requests
 * control). A response always starts with a status line; a route is a
 * NUL-terminated string no longer than it said, without '?' or '#'. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/metrics.h"
#include "span/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct mbuf m = {0};
	char out[ROUTE_MAX];
	int cl;
	size_t off = 0;

	/* requests back to back, as on a keep-alive connection */
	while (off < size) {
		m.len = 0;
		int n = metrics__respond(s + off, size - off, &m, &cl);
		if (n == -2)
			break;
		if (!m.p || strncmp(m.p, "HTTP/1.1 ", 9) != 0)
			abort();
		if (n < 0 || cl)
			break;
		if (n == 0 || (size_t)n > size - off)
			abort();
		off += (size_t)n;
	}
	mbuf__free(&m);
	size_t r = route__collapse(out, sizeof(out), s, size);
	if (r >= sizeof(out) || strlen(out) != r || memchr(out, '?', r) || memchr(out, '#', r))
		abort();
	return 0;
}
