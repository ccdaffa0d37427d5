/* Unit tests of the HTTP/1.x parser: vectors, every prefix, one byte at a
 * time, invalid input, body framing and the chunked delimiter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "guard.h"
#include "parse/http1.h"

struct req_vec {
	const char *raw;
	const char *method, *target;
	int minor;
	size_t nheaders;
	size_t head_len; /* 0: the whole raw string */
};

static const struct req_vec reqs[] = {
	{"GET / HTTP/1.1\r\n\r\n", "GET", "/", 1, 0, 0},
	{"GET /repos/acme/widgets?page=2 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: curl/8\r\nAccept: "
	 "*/*\r\n\r\n",
	 "GET", "/repos/acme/widgets?page=2", 1, 3, 0},
	{"POST /submit HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "POST", "/submit", 1, 2, 53},
	{"HEAD /x HTTP/1.0\n\n", "HEAD", "/x", 0, 0, 0},
	{"\r\nDELETE /item/7 HTTP/1.1\r\nX-Empty:\r\n\r\n", "DELETE", "/item/7", 1, 1, 0},
	{"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n\r\n", "OPTIONS", "*", 1, 1, 31},
	{"GET /a HTTP/1.1\r\nX-Tab:\tv  \r\nX-Utf8: caf\xc3\xa9\r\n\r\n", "GET", "/a", 1, 2, 0},
};

static size_t head_len(const struct req_vec *v)
{
	return v->head_len ? v->head_len : strlen(v->raw);
}

static void check_req(const struct req_vec *v, const struct http1_head *h)
{
	assert_int_equal(h->method.len, strlen(v->method));
	assert_memory_equal(h->method.p, v->method, h->method.len);
	assert_int_equal(h->target.len, strlen(v->target));
	assert_memory_equal(h->target.p, v->target, h->target.len);
	assert_int_equal(h->minor_version, v->minor);
	assert_int_equal(h->num_headers, v->nheaders);
}

static void test_request_vectors(void **state)
{
	static struct http1_head h;

	(void)state;
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		const struct req_vec *v = &reqs[i];
		size_t n = strlen(v->raw);
		const char *b = guarded(v->raw, n);
		assert_int_equal(http1_parse_request(b, n, &h), (int)head_len(v));
		check_req(v, &h);
	}
}

static void test_request_every_prefix_incomplete(void **state)
{
	static struct http1_head h;

	(void)state;
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		const struct req_vec *v = &reqs[i];
		for (size_t n = 0; n < head_len(v); n++) {
			const char *b = guarded(v->raw, n);
			assert_int_equal(http1_parse_request(b, n, &h), -2);
		}
	}
}

/* bytes arriving one at a time give the same result as all at once */
static void test_request_byte_at_a_time(void **state)
{
	static struct http1_head h;

	(void)state;
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		const struct req_vec *v = &reqs[i];
		int r = -2;
		size_t n = 0;
		while (r == -2 && n < strlen(v->raw)) {
			n++;
			r = http1_parse_request(guarded(v->raw, n), n, &h);
		}
		assert_int_equal(r, (int)head_len(v));
		assert_int_equal(n, head_len(v));
		check_req(v, &h);
	}
}

static void test_request_invalid(void **state)
{
	static const char *const bad[] = {
		"GE\x01T / HTTP/1.1\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
		"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
		"GET / HTTP/1.1\r\n: novalue\r\n\r\n",
		"GET  / HTTP/1.1\r\n\r\n",
		"GET /\x7f HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
		" GET / HTTP/1.1\r\n\r\n",
		"GET\r\n\r\n",
		"GET / HTTP/1.1 extra\r\n\r\n",
		"GET / HTTP/1.1\r\nX: \x00\r\n\r\n",
	};
	static const size_t lens[] = {0, 0, 0, 0, 0, 0, 0, 0, 11, 0, 0, 0, 23};
	static struct http1_head h;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = lens[i] ? lens[i] : strlen(bad[i]);
		assert_int_equal(http1_parse_request(guarded(bad[i], n), n, &h), -1);
	}
}

static void test_too_many_headers(void **state)
{
	static char buf[8192];
	static struct http1_head h;
	size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n");

	(void)state;
	for (int i = 0; i <= HTTP1_MAX_HEADERS; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: v\r\n", i);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
	assert_int_equal(http1_parse_request(guarded(buf, n), n, &h), -1);
}

static void test_response(void **state)
{
	static const char raw[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nServer: nginx\r\n\r\nnot found";
	static struct http1_head h;
	size_t hl = strlen(raw) - 9;

	(void)state;
	assert_int_equal(http1_parse_response(guarded(raw, strlen(raw)), strlen(raw), &h), (int)hl);
	assert_int_equal(h.status, 404);
	assert_int_equal(h.minor_version, 1);
	assert_int_equal(h.reason.len, 9);
	assert_int_equal(h.num_headers, 2);
	assert_non_null(http1_header(&h, "content-length"));
	assert_null(http1_header(&h, "transfer-encoding"));
	for (size_t n = 0; n < hl; n++)
		assert_int_equal(http1_parse_response(guarded(raw, n), n, &h), -2);
	/* no reason phrase at all is allowed */
	assert_int_equal(http1_parse_response(guarded("HTTP/1.0 200\r\n\r\n", 16), 16, &h), 16);
	assert_int_equal(h.status, 200);
}

static void test_response_invalid(void **state)
{
	static const char *const bad[] = {
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 099 Low\r\n\r\n",
		"HTTP/1.1 200OK\r\n\r\n",
		"SSH-2.0-OpenSSH\r\n",
		"HTTP/1.1 200 OK\r\nX y: z\r\n\r\n",
		"+OK\r\n",
	};
	static struct http1_head h;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(http1_parse_response(guarded(bad[i], strlen(bad[i])), strlen(bad[i]), &h), -1);
	/* even a prefix of garbage is rejected at once, not "incomplete" */
	assert_int_equal(http1_parse_response(guarded("HTTQ", 4), 4, &h), -1);
}

static enum http1_body body_of(const char *raw, int resp, const char *method, uint64_t *len)
{
	static struct http1_head h;
	struct http1_slice m = {method, method ? strlen(method) : 0};
	int r = resp ? http1_parse_response(raw, strlen(raw), &h) : http1_parse_request(raw, strlen(raw), &h);

	assert_true(r > 0);
	return http1_body_kind(&h, resp, m, len);
}

static void test_body_kinds(void **state)
{
	uint64_t len;

	(void)state;
	assert_int_equal(body_of("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", 1, "GET", &len), HTTP1_BODY_LENGTH);
	assert_int_equal(len, 12);
	assert_int_equal(body_of("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", 1, "HEAD", &len), HTTP1_BODY_NONE);
	assert_int_equal(body_of("HTTP/1.1 204 No Content\r\n\r\n", 1, "GET", &len), HTTP1_BODY_NONE);
	assert_int_equal(body_of("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", 1, "GET", &len),
			 HTTP1_BODY_NONE);
	assert_int_equal(body_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 1, "GET", &len),
			 HTTP1_BODY_CHUNKED);
	assert_int_equal(body_of("HTTP/1.0 200 OK\r\n\r\n", 1, "GET", &len), HTTP1_BODY_UNTIL_CLOSE);
	assert_int_equal(body_of("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 1, "GET", &len),
			 HTTP1_BODY_INVALID);
	assert_int_equal(body_of("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 1, "GET", &len), HTTP1_BODY_INVALID);
	assert_int_equal(body_of("GET / HTTP/1.1\r\n\r\n", 0, NULL, &len), HTTP1_BODY_NONE);
	assert_int_equal(body_of("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 0, NULL, &len),
			 HTTP1_BODY_INVALID);
	assert_int_equal(body_of("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 0, NULL, &len), HTTP1_BODY_NONE);
}

static const char chunked[] = "5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: x\r\n\r\nNEXT";

static void test_chunked_all_at_once(void **state)
{
	struct http1_chunked c = {0};
	size_t n = strlen(chunked);

	(void)state;
	assert_int_equal(http1_chunked_feed(&c, guarded(chunked, n), n), (ssize_t)(n - 4));
}

static void test_chunked_byte_at_a_time(void **state)
{
	struct http1_chunked c = {0};
	size_t n = strlen(chunked) - 4;

	(void)state;
	for (size_t i = 0; i + 1 < n; i++)
		assert_int_equal(http1_chunked_feed(&c, guarded(chunked + i, 1), 1), -2);
	assert_int_equal(http1_chunked_feed(&c, guarded(chunked + n - 1, 1), 1), 1);
}

static void test_chunked_skip(void **state)
{
	struct http1_chunked c = {0};

	(void)state;
	/* the kernel captured the chunk header and 2 bytes of a 1000-byte chunk */
	assert_int_equal(http1_chunked_feed(&c, "3e8\r\nab", 7), -2);
	assert_int_equal(http1_chunked_skip(&c, 998), 0);
	assert_int_equal(http1_chunked_feed(&c, "\r\n0\r\n\r\n", 7), 7);
	/* a gap over framing bytes loses the position */
	memset(&c, 0, sizeof(c));
	assert_int_equal(http1_chunked_feed(&c, "3\r\nabc", 6), -2);
	assert_int_equal(http1_chunked_skip(&c, 1), -1);
}

static void test_chunked_invalid(void **state)
{
	static const char *const bad[] = {"zz\r\n", "5\r\nhelloX", "\r\n", "12345678901234567\r\n", "0\r\n\x01"};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct http1_chunked c = {0};
		assert_int_equal(http1_chunked_feed(&c, guarded(bad[i], strlen(bad[i])), strlen(bad[i])), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_vectors),	       cmocka_unit_test(test_request_every_prefix_incomplete),
		cmocka_unit_test(test_request_byte_at_a_time), cmocka_unit_test(test_request_invalid),
		cmocka_unit_test(test_too_many_headers),       cmocka_unit_test(test_response),
		cmocka_unit_test(test_response_invalid),       cmocka_unit_test(test_body_kinds),
		cmocka_unit_test(test_chunked_all_at_once),    cmocka_unit_test(test_chunked_byte_at_a_time),
		cmocka_unit_test(test_chunked_skip),	       cmocka_unit_test(test_chunked_invalid),
	};
	return cmocka_run_group_tests_name("http1", tests, NULL, NULL);
}
