/* Unit tests of the trace-context parsers: valid vectors of each format and
 * the invalid cases the specifications name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "guard.h"
#include "parse/http1.h"
#include "parse/tracectx.h"

static void hex16(const struct trace_ctx *c, char out[33])
{
	for (int i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", c->trace_id[i]);
}

#define TP(s) tracectx_parse_traceparent(guarded(s, strlen(s)), strlen(s), &c)

static void test_traceparent(void **state)
{
	struct trace_ctx c;
	char t[33];

	(void)state;
	assert_int_equal(TP("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), 0);
	hex16(&c, t);
	assert_string_equal(t, "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_true(c.span_id == 0x00f067aa0ba902b7ULL);
	assert_int_equal(c.sampled, 1);
	assert_int_equal(c.source, TCTX_TRACEPARENT);
	assert_int_equal(TP("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"), 0);
	assert_int_equal(c.sampled, 0);
	/* a later version may append fields after a dash */
	assert_int_equal(TP("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future"), 0);

	static const char *const bad[] = {
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version ff */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", /* 00 with trailing data */
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  /* no dash before more */
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",   /* zero trace id */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   /* zero parent id */
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   /* uppercase */
		"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",    /* short trace id */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",    /* short parent */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",   /* non-hex flags */
		"0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(TP(bad[i]), -1);
		assert_int_equal(c.source, TCTX_NONE);
	}
}

#define UB(s) tracectx_parse_uber(guarded(s, strlen(s)), strlen(s), &c)

static void test_uber(void **state)
{
	struct trace_ctx c;
	char t[33];

	(void)state;
	/* clients write unpadded ids */
	assert_int_equal(UB("abc:def:0:1"), 0);
	hex16(&c, t);
	assert_string_equal(t, "00000000000000000000000000000abc");
	assert_true(c.span_id == 0xdef && c.parent_id == 0 && c.sampled == 1);
	assert_int_equal(UB("4bf92f3577b34da6a3ce929d0e0e4736%3A00f067aa0ba902b7%3a1234%3A0"), 0);
	hex16(&c, t);
	assert_string_equal(t, "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_true(c.parent_id == 0x1234 && c.sampled == 0);
	static const char *const bad[] = {"0:def:0:1",	 "abc:0:0:1",
					  "abc:def:0",	 "abc:def:0:1:2",
					  "xyz:def:0:1", "4bf92f3577b34da6a3ce929d0e0e47361:def:0:1",
					  "abc::0:1",	 ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(UB(bad[i]), -1);
}

#define B3(s) tracectx_parse_b3(guarded(s, strlen(s)), strlen(s), &c)

static void test_b3(void **state)
{
	struct trace_ctx c;
	char t[33];

	(void)state;
	assert_int_equal(B3("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"), 0);
	hex16(&c, t);
	assert_string_equal(t, "80f198ee56343ba864fe8b2a57d3eff7");
	assert_true(c.span_id == 0xe457b5a2e4d86bd1ULL && c.parent_id == 0x05e3ac9a4f6e3b90ULL && c.sampled);
	assert_int_equal(B3("64fe8b2a57d3eff7-e457b5a2e4d86bd1"), 0);
	hex16(&c, t);
	assert_string_equal(t, "000000000000000064fe8b2a57d3eff7");
	assert_int_equal(B3("64fe8b2a57d3eff7-e457b5a2e4d86bd1-d"), 0);
	static const char *const bad[] = {"0",
					  "1",
					  "d",
					  "64fe8b2a57d3eff7",
					  "64fe8b2a57d3eff7-e457b5a2e4d86bd",
					  "64fe8b2a57d3eff-e457b5a2e4d86bd1",
					  "64fe8b2a57d3eff7-e457b5a2e4d86bd1-x",
					  "0000000000000000-e457b5a2e4d86bd1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(B3(bad[i]), -1);
}

static void ctx_of(const char *req, struct trace_ctx *c)
{
	static struct http1_head h;

	assert_true(http1_parse_request(req, strlen(req), &h) > 0);
	tracectx_from_head(&h, c);
}

static void test_precedence(void **state)
{
	struct trace_ctx c;

	(void)state;
	/* b3 single wins over multi */
	ctx_of("GET / HTTP/1.1\r\nX-B3-TraceId: 0000000000000001\r\nX-B3-SpanId: 0000000000000002\r\n"
	       "b3: 0000000000000003-0000000000000004\r\n\r\n",
	       &c);
	assert_int_equal(c.source, TCTX_B3);
	assert_true(c.span_id == 4);
	ctx_of("GET / HTTP/1.1\r\nX-B3-TraceId: 0000000000000001\r\nX-B3-SpanId: 0000000000000002\r\n"
	       "X-B3-ParentSpanId: 0000000000000009\r\nX-B3-Sampled: 0\r\n\r\n",
	       &c);
	assert_int_equal(c.source, TCTX_B3_MULTI);
	assert_true(c.span_id == 2 && c.parent_id == 9 && c.sampled == 0);
	/* traceparent first; an invalid one falls back to the next format */
	ctx_of("GET / HTTP/1.1\r\nuber-trace-id: abc:def:0:1\r\n"
	       "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n",
	       &c);
	assert_int_equal(c.source, TCTX_TRACEPARENT);
	ctx_of("GET / HTTP/1.1\r\nuber-trace-id: abc:def:0:1\r\n"
	       "traceparent: ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n",
	       &c);
	assert_int_equal(c.source, TCTX_UBER);
	ctx_of("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &c);
	assert_int_equal(c.source, TCTX_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_traceparent),
		cmocka_unit_test(test_uber),
		cmocka_unit_test(test_b3),
		cmocka_unit_test(test_precedence),
	};
	return cmocka_run_group_tests_name("tracectx", tests, NULL, NULL);
}
