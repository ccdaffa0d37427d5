/* libFuzzer: the trace-context header parsers; a context they accept has
 * non-zero ids. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse/tracectx.h"

static void check(int r, const struct trace_ctx *c)
{
	static const uint8_t zero[16];

	if (r == 0 && (!c->span_id || !memcmp(c->trace_id, zero, 16) || c->source == TCTX_NONE))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct trace_ctx c;

	check(tracectx_parse_traceparent(s, size, &c), &c);
	check(tracectx_parse_uber(s, size, &c), &c);
	check(tracectx_parse_b3(s, size, &c), &c);
	size_t h = size / 2;
	check(tracectx_parse_b3_multi(s, h, s + h, size - h, NULL, 0, NULL, 0, &c), &c);
	return 0;
}
