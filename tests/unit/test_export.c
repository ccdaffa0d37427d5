/* Unit tests of Jaeger batching: messages never exceed the limit, a span
 * too large alone is cut and marked rather than dropped, and every span
 * added is delivered exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/ids.h"
#include "base/stats.h"
#include "export/jaeger.h"
#include "span/span.h"

#define MAX_MSG 700

static uint32_t delivered, messages;
static size_t largest;

static void on_batch(void *ctx, const struct export_process *p, const uint8_t *body, size_t len, uint32_t n)
{
	static uint8_t out[MAX_MSG * 2];
	struct thrift_w w;

	(void)ctx;
	thrift_w_init(&w, THRIFT_COMPACT, out, sizeof(out));
	jaeger__encode_batch(&w, p, body, len, n, 1, 1, 1);
	assert_false(w.overflow);
	if (w.len > largest)
		largest = w.len;
	delivered += n;
	messages++;
	/* a cut span says so */
	if (memmem(body, len, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 70))
		assert_non_null(memmem(body, len, "spantap.truncated", 17));
}

static void make_span(struct span *s, uint32_t pid, size_t value_len)
{
	static char big[3000];

	memset(s, 0, sizeof(*s));
	memset(big, 'A', sizeof(big));
	ids__trace_id(s->trace_id);
	s->span_id = ids__span_id();
	s->pid = pid;
	s->service = pid == 1 ? "one" : "two";
	s->kind = SPAN_KIND_SERVER;
	s->start_ns = 1700000000000000000ULL;
	s->end_ns = s->start_ns + 1000;
	strcpy(s->name, "GET /x");
	span__tag_cstr(s, "span.kind", "server");
	span__tag_str(s, "http.url", big, value_len);
	span__tag_int(s, "http.status_code", 200);
}

static void test_limits_and_truncation(void **state)
{
	static struct span s;
	struct batcher *b = batcher__new(jaeger__format(THRIFT_COMPACT, 1), MAX_MSG, on_batch, NULL);
	uint32_t added = 0;

	(void)state;
	ids__init();
	assert_non_null(b);
	stats.export_truncated = stats.export_dropped = 0;
	for (int i = 0; i < 50; i++) {
		make_span(&s, i % 2 ? 1 : 2, i % 10 == 0 ? 2500 : 20);
		batcher__add(b, &s);
		added++;
	}
	batcher__flush_all(b);
	assert_int_equal(delivered, added);
	assert_true(largest <= MAX_MSG);
	assert_true(messages > 50 * 100 / MAX_MSG);
	assert_int_equal(stats.export_truncated, 5);
	assert_int_equal(stats.export_dropped, 0);
	batcher__free(b);
}

/* A span that fits is written in one go, one that may not through the
 * checked field writers: whatever room is left, the bytes are the same. */
static void test_room_does_not_change_bytes(void **state)
{
	static struct span s;
	static uint8_t full[8192], part[8192];
	size_t limits[] = {SIZE_MAX, 16};

	(void)state;
	ids__init();
	make_span(&s, 1, 30);
	span__tag_bool(&s, "error", true);
	span__tag_int(&s, "peer.port", -12345678901LL);
	for (int i = 0; i < 16; i++)
		span__tag_str(&s, "k", "value", 5); /* a list header of more than 14 */
	for (int follows = 0; follows < 2; follows++) {
		s.follows_id = follows ? 0x1234567890abcdefULL : 0;
		memset(s.follows_trace, 0xab, sizeof(s.follows_trace));
		for (int proto = THRIFT_COMPACT; proto <= THRIFT_BINARY; proto++) {
			for (size_t l = 0; l < 2; l++) {
				struct thrift_w w;
				thrift_w_init(&w, (enum thrift_proto)proto, full, sizeof(full));
				int cut = jaeger__encode_span(&w, &s, limits[l]);
				size_t n = w.len;
				assert_false(w.overflow);
				assert_int_equal(cut, l == 1);
				for (size_t cap = 0; cap <= n + 600; cap++) {
					memset(part, 0x55, sizeof(part));
					thrift_w_init(&w, (enum thrift_proto)proto, part, cap);
					assert_int_equal(jaeger__encode_span(&w, &s, limits[l]), cut);
					assert_int_equal(w.overflow, cap < n);
					if (!w.overflow) {
						assert_int_equal(w.len, n);
						assert_memory_equal(part, full, n);
					}
				}
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limits_and_truncation),
		cmocka_unit_test(test_room_does_not_change_bytes),
	};
	return cmocka_run_group_tests_name("export", tests, NULL, NULL);
}
