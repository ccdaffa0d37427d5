/* Unit tests of ring-buffer records (ingest/record.c) and of the sampler's
 * decisions (trace/sampler.c): what the kernel bundles is split back into
 * the same events, and a trace's decision is the same wherever its id goes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/ids.h"
#include "ingest/record.h"
#include "trace/sampler.h"

struct seen {
	int n;
	uint64_t conn[4];
	size_t size[4];
};

static void on_ev(void *ctx, const struct st_event_hdr *h, size_t size)
{
	struct seen *s = ctx;

	assert_true(s->n < 4);
	s->conn[s->n] = h->conn_id;
	s->size[s->n++] = size;
}

/* an event of cap payload bytes at off in buf; returns the next 8-aligned offset */
static size_t put(uint8_t *buf, size_t off, uint64_t conn, uint32_t cap, uint64_t ts)
{
	struct st_event_hdr h = {.type = ST_EV_DATA, .conn_id = conn, .cap_len = cap, .len = cap, .ts_exit = ts};

	memcpy(buf + off, &h, sizeof(h));
	memset(buf + off + sizeof(h), 'x', cap);
	return (off + sizeof(h) + cap + 7) & ~(size_t)7;
}

static void test_record_split(void **state)
{
	uint8_t buf[1024] __attribute__((aligned(8)));
	struct seen s = {0};
	size_t off;

	(void)state;
	/* a deferred request start (padded to 8) and its response */
	off = put(buf, 0, 7, 61, 100);
	assert_int_equal(off, (sizeof(struct st_event_hdr) + 61 + 7) & ~(size_t)7);
	put(buf, off, 7, 40, 200);
	assert_int_equal(record__for_each(buf, off + sizeof(struct st_event_hdr) + 40, on_ev, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.size[0], sizeof(struct st_event_hdr) + 61);
	assert_int_equal(s.size[1], sizeof(struct st_event_hdr) + 40);
	/* its time is the event that sent it */
	assert_int_equal(record__ts(buf, off + sizeof(struct st_event_hdr) + 40), 200);

	/* a slot flushed alone at thread exit: padded to 8, one event */
	memset(&s, 0, sizeof(s));
	assert_int_equal(record__for_each(buf, off, on_ev, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(record__ts(buf, off), 100);

	/* truncated: the second event's payload is cut: only the first is
	 * passed on, and the rest is reported */
	memset(&s, 0, sizeof(s));
	assert_true(record__for_each(buf, off + sizeof(struct st_event_hdr) + 10, on_ev, &s) > 0);
	assert_int_equal(s.n, 1);

	/* shorter than a header: nothing */
	memset(&s, 0, sizeof(s));
	assert_int_equal(record__for_each(buf, 20, on_ev, &s), 20);
	assert_int_equal(s.n, 0);
}

static void test_sampler_decision_travels_in_the_id(void **state)
{
	struct sampler_config c = {.ratio = 0.5, .max_tps = 0};
	int kept = 0, skipped = 0;
	double param;

	(void)state;
	ids__init();
	sampler__configure(&c);
	assert_string_equal(sampler__type(&param), "probabilistic");
	for (int i = 0; i < 2000; i++) {
		uint8_t t[16], copy[16];

		ids__trace_id(t);
		sampler__root(t, 1000 + (uint64_t)i);
		memcpy(copy, t, 16); /* a child, a linked server: the same id */
		assert_int_equal(sampler__keep(t), sampler__keep(copy));
		if (sampler__keep(t))
			kept++;
		else
			skipped++;
	}
	/* binomial(2000, 0.5): 3.5 sigma either side */
	assert_true(kept > 920 && kept < 1080);
	assert_int_equal(kept + skipped, 2000);

	/* a header's "not sampled" is honoured, "sampled" kept */
	uint8_t a[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, b[16];
	memcpy(b, a, 16);
	b[0] = 99;
	sampler__inherited(a, 0);
	sampler__inherited(b, 1);
	assert_false(sampler__keep(a));
	assert_true(sampler__keep(b));

	/* a rate limit of 10 a second: a burst of 10, then one per 100 ms */
	c = (struct sampler_config){.ratio = 1.0, .max_tps = 10};
	sampler__configure(&c);
	kept = 0;
	for (int i = 0; i < 100; i++) {
		uint8_t t[16];
		ids__trace_id(t);
		sampler__root(t, 1000000000ULL + (uint64_t)i * 1000000ULL); /* 100 in 100 ms */
		kept += sampler__keep(t);
	}
	assert_true(kept >= 10 && kept <= 11);
	assert_string_equal(sampler__type(&param), "ratelimiting");
	assert_true(param == 10.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_split),
		cmocka_unit_test(test_sampler_decision_travels_in_the_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
