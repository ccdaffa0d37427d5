/* Unit tests of the RESP parser: commands and replies of every type, every
 * prefix incomplete, byte at a time, invalid input, skipping uncaptured
 * bulk bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "guard.h"
#include "parse/resp.h"

struct vec {
	const char *raw;
	size_t len; /* 0: strlen */
	int inline_ok;
	char type;
	int64_t count;
	uint32_t nargs;
	const char *arg0, *arg1;
	const char *line;
};

static const struct vec vecs[] = {
	{"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", 0, 1, '*', 3, 3, "SET", "key", ""},
	{"*2\r\n$3\r\nGET\r\n$0\r\n\r\n", 0, 1, '*', 2, 2, "GET", "", ""},
	{"PING\r\n", 0, 1, 'I', 1, 1, "PING", NULL, ""},
	{"SET  k   v\n", 0, 1, 'I', 3, 3, "SET", "k", ""},
	{"+OK\r\n", 0, 0, '+', 0, 0, NULL, NULL, "OK"},
	{"-WRONGTYPE Operation against a key\r\n", 0, 0, '-', 0, 0, NULL, NULL, "WRONGTYPE Operation against a key"},
	{":1000\r\n", 0, 0, ':', 0, 0, NULL, NULL, "1000"},
	{"$-1\r\n", 0, 0, '$', 0, 0, NULL, NULL, ""},
	{"*-1\r\n", 0, 0, '*', -1, 0, NULL, NULL, ""},
	{"*0\r\n", 0, 0, '*', 0, 0, NULL, NULL, ""},
	{"$5\r\nhe\r\no\r\n", 0, 0, '$', 0, 1, "he\r\no", NULL, ""}, /* a bulk reply is arg 0 */
	{"*2\r\n*2\r\n:1\r\n$1\r\na\r\n$1\r\nb\r\n", 0, 0, '*', 2, 2, "", "b", ""},
	{"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$4\r\nbody\r\n", 0, 0, '*', 3, 3, "message", "ch", ""},
	{"%1\r\n+k\r\n:1\r\n", 0, 0, '%', 1, 0, NULL, NULL, ""},
	{"|1\r\n+ttl\r\n:3\r\n+OK\r\n", 0, 0, '+', 0, 0, NULL, NULL, "OK"}, /* attribute, then the reply */
	{">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n", 0, 0, '>', 3, 3, "message", "c", ""},
	{"_\r\n", 0, 0, '_', 0, 0, NULL, NULL, ""},
	{"$3\r\na\0b\r\n", 9, 0, '$', 0, 1, NULL, NULL, ""},
};

static size_t vlen(const struct vec *v)
{
	return v->len ? v->len : strlen(v->raw);
}

static void check(const struct vec *v, const struct resp_msg *m)
{
	assert_int_equal(m->type, v->type);
	assert_int_equal(m->count, v->count);
	assert_int_equal(m->nargs, v->nargs);
	if (v->arg0) {
		assert_int_equal(m->arg[0].len, strlen(v->arg0));
		assert_memory_equal(m->arg[0].s, v->arg0, m->arg[0].len);
	}
	if (v->arg1) {
		assert_int_equal(m->arg[1].len, strlen(v->arg1));
		assert_memory_equal(m->arg[1].s, v->arg1, m->arg[1].len);
	}
	assert_int_equal(m->line_len, strlen(v->line));
	assert_memory_equal(m->line, v->line, m->line_len);
}

static void test_vectors_all_at_once(void **state)
{
	static struct resp_parser p;
	static struct resp_msg m;

	(void)state;
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const struct vec *v = &vecs[i];
		resp_parser_init(&p, v->inline_ok);
		assert_int_equal(resp_feed(&p, (const uint8_t *)guarded(v->raw, vlen(v)), vlen(v), &m),
				 (ssize_t)vlen(v));
		check(v, &m);
	}
}

/* every split point: a prefix is incomplete, the rest completes the same message */
static void test_vectors_every_split(void **state)
{
	static struct resp_parser p;
	static struct resp_msg m;

	(void)state;
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const struct vec *v = &vecs[i];
		size_t n = vlen(v);
		for (size_t cut = 1; cut < n; cut++) {
			resp_parser_init(&p, v->inline_ok);
			assert_int_equal(resp_feed(&p, (const uint8_t *)guarded(v->raw, cut), cut, &m), -2);
			assert_int_equal(resp_feed(&p, (const uint8_t *)guarded(v->raw + cut, n - cut), n - cut, &m),
					 (ssize_t)(n - cut));
			check(v, &m);
		}
	}
}

static void test_vectors_byte_at_a_time(void **state)
{
	static struct resp_parser p;
	static struct resp_msg m;

	(void)state;
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const struct vec *v = &vecs[i];
		size_t n = vlen(v);
		resp_parser_init(&p, v->inline_ok);
		for (size_t k = 0; k + 1 < n; k++)
			assert_int_equal(resp_feed(&p, (const uint8_t *)guarded(v->raw + k, 1), 1, &m), -2);
		assert_int_equal(resp_feed(&p, (const uint8_t *)guarded(v->raw + n - 1, 1), 1, &m), 1);
		check(v, &m);
	}
}

static void test_pipeline(void **state)
{
	static const char raw[] = "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$4\r\nQUIT\r\n";
	static struct resp_parser p;
	static struct resp_msg m;
	const uint8_t *b = (const uint8_t *)raw;
	size_t n = strlen(raw);
	const char *want[] = {"PING", "GET", "QUIT"};

	(void)state;
	resp_parser_init(&p, 1);
	for (int i = 0; i < 3; i++) {
		ssize_t r = resp_feed(&p, b, n, &m);
		assert_true(r > 0);
		assert_int_equal(m.arg[0].len, strlen(want[i]));
		assert_memory_equal(m.arg[0].s, want[i], m.arg[0].len);
		b += r;
		n -= (size_t)r;
	}
	assert_int_equal(n, 0);
}

static void test_invalid(void **state)
{
	static const char *const bad_reply[] = {"*x\r\n",   "$3\r\nabcd\r\n",	"\x16\x03\x01", "GET / HTTP/1.1\r\n",
						"$--1\r\n", "*1\r\n$1\r\na\rX", ":12\n"};
	static struct resp_parser p;
	static struct resp_msg m;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_reply) / sizeof(bad_reply[0]); i++) {
		resp_parser_init(&p, 0);
		assert_int_equal(resp_feed(&p, (const uint8_t *)guarded(bad_reply[i], strlen(bad_reply[i])),
					   strlen(bad_reply[i]), &m),
				 -1);
	}
	/* inline commands are only accepted where commands are expected */
	resp_parser_init(&p, 1);
	assert_int_equal(resp_feed(&p, (const uint8_t *)"\x01\x02", 2, &m), -1);
	/* nesting deeper than the parser tracks is refused, not overflowed */
	char deep[4 * (RESP_MAX_DEPTH + 2) + 1];
	size_t n = 0;
	for (int i = 0; i < RESP_MAX_DEPTH + 2; i++)
		n += (size_t)sprintf(deep + n, "*1\r\n");
	resp_parser_init(&p, 0);
	assert_int_equal(resp_feed(&p, (const uint8_t *)deep, n, &m), -1);
}

static uint64_t fnv(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 0x100000001b3ULL;
	return h;
}

static void test_skip_large_bulk(void **state)
{
	static struct resp_parser p;
	static struct resp_msg m;
	static const char head[] = "*3\r\n$5\r\nLPUSH\r\n$1\r\nq\r\n$1000\r\nabcdef";

	(void)state;
	resp_parser_init(&p, 1);
	/* the kernel captured the head and 6 payload bytes of 1000 */
	assert_int_equal(resp_feed(&p, (const uint8_t *)head, strlen(head), &m), -2);
	assert_int_equal(resp_skip(&p, 994, &m), 0);
	assert_int_equal(resp_feed(&p, (const uint8_t *)"\r\n", 2, &m), 2);
	assert_int_equal(m.nargs, 3);
	assert_int_equal(m.arg[2].full_len, 1000);
	assert_int_equal(m.arg[2].hash, 0); /* not all of it was seen */
	assert_int_equal(m.arg[1].hash, fnv("q", 1));
	/* a gap that also covers the closing CR LF completes the message */
	resp_parser_init(&p, 1);
	assert_int_equal(resp_feed(&p, (const uint8_t *)head, strlen(head), &m), -2);
	assert_int_equal(resp_skip(&p, 996, &m), 1);
	assert_int_equal(m.nargs, 3);
	/* a gap over framing loses the position */
	resp_parser_init(&p, 1);
	assert_int_equal(resp_feed(&p, (const uint8_t *)head, strlen(head), &m), -2);
	assert_int_equal(resp_skip(&p, 997, &m), -1);
	resp_parser_init(&p, 1);
	assert_int_equal(resp_skip(&p, 1, &m), -1);
}

static void test_long_arg_truncated_but_hashed(void **state)
{
	static char raw[600];
	static struct resp_parser p;
	static struct resp_msg m;
	char val[300];

	(void)state;
	memset(val, 'x', sizeof(val));
	int n = snprintf(raw, sizeof(raw), "*2\r\n$3\r\nGET\r\n$300\r\n%.300s\r\n", val);
	resp_parser_init(&p, 1);
	assert_int_equal(resp_feed(&p, (const uint8_t *)raw, (size_t)n, &m), n);
	assert_int_equal(m.arg[1].len, RESP_ARG_CAP);
	assert_int_equal(m.arg[1].full_len, 300);
	assert_int_equal(m.arg[1].hash, fnv(val, 300));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_all_at_once),
		cmocka_unit_test(test_vectors_every_split),
		cmocka_unit_test(test_vectors_byte_at_a_time),
		cmocka_unit_test(test_pipeline),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_skip_large_bulk),
		cmocka_unit_test(test_long_arg_truncated_but_hashed),
	};
	return cmocka_run_group_tests_name("redis", tests, NULL, NULL);
}
