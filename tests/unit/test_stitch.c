/* Unit tests of thread-based nesting: only a thread serving exactly one
 * request lends its context, and windows close however a request ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/ids.h"
#include "conn/proto.h"
#include "span/span.h"
#include "trace/stitch.h"

static void test_unambiguous_only(void **state)
{
	struct pending a = {0}, b = {0}, cl = {0};
	uint8_t trace[16];
	uint64_t parent;

	(void)state;
	ids__init();
	/* no request on the thread: a client call is a root */
	assert_int_equal(stitch__client_parent(100, trace, &parent), -1);
	stitch__request(&a, 1, 100);
	assert_int_equal(stitch__client_parent(100, trace, &parent), 0);
	assert_true(parent == a.span_id && memcmp(trace, a.trace_id, 16) == 0);
	assert_int_equal(stitch__client_parent(101, trace, &parent), -1); /* another thread */
	stitch__request(&cl, 0, 100);
	assert_true(cl.parent_id == a.span_id && memcmp(cl.trace_id, a.trace_id, 16) == 0);
	assert_true(cl.span_id && cl.span_id != a.span_id);
	/* an event loop: two requests in flight, no guessing */
	stitch__request(&b, 1, 100);
	assert_int_equal(stitch__client_parent(100, trace, &parent), -1);
	stitch__server_end(&a);
	/* one left, and it is known: b */
	assert_int_equal(stitch__client_parent(100, trace, &parent), 0);
	assert_true(parent == b.span_id);
	stitch__server_end(&b);
	assert_int_equal(stitch__client_parent(100, trace, &parent), -1);
	/* the most recent of two ends first: the one left is not known */
	stitch__request(&a, 1, 100);
	stitch__request(&b, 1, 100);
	stitch__server_end(&b);
	assert_int_equal(stitch__client_parent(100, trace, &parent), -1);
	stitch__server_end(&a);
	/* ending twice is harmless */
	stitch__server_end(&b);
}

static void test_incoming_context(void **state)
{
	struct pending s = {0}, c = {0};

	(void)state;
	s.ctx.source = TCTX_TRACEPARENT;
	memset(s.ctx.trace_id, 0xab, 16);
	s.ctx.span_id = 42;
	stitch__request(&s, 1, 7);
	assert_true(s.parent_id == 42 && s.trace_id[0] == 0xab && s.span_id != 42);
	/* the client's own header wins over its thread's request */
	c.ctx.source = TCTX_B3;
	memset(c.ctx.trace_id, 0xcd, 16);
	c.ctx.span_id = 77;
	c.ctx.parent_id = 5;
	stitch__request(&c, 0, 7);
	assert_true(c.span_id == 77 && c.parent_id == 5 && c.trace_id[0] == 0xcd);
	stitch__server_end(&s);
}

static void test_many_threads(void **state)
{
	static struct pending p[3000];
	uint8_t trace[16];
	uint64_t parent;

	(void)state;
	for (uint32_t i = 0; i < 3000; i++)
		stitch__request(&p[i], 1, 1000 + i * 7);
	for (uint32_t i = 0; i < 3000; i += 2)
		stitch__server_end(&p[i]);
	/* deletions keep the others findable (backward-shift deletion) */
	for (uint32_t i = 1; i < 3000; i += 2) {
		assert_int_equal(stitch__client_parent(1000 + i * 7, trace, &parent), 0);
		assert_true(parent == p[i].span_id);
	}
	for (uint32_t i = 0; i < 3000; i += 2)
		assert_int_equal(stitch__client_parent(1000 + i * 7, trace, &parent), -1);
	for (uint32_t i = 1; i < 3000; i += 2)
		stitch__server_end(&p[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unambiguous_only),
		cmocka_unit_test(test_incoming_context),
		cmocka_unit_test(test_many_threads),
	};
	return cmocka_run_group_tests_name("stitch", tests, NULL, NULL);
}
