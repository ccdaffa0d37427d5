/* Unit tests of the latency histograms, route collapsing, the profile sink
 * and the metrics endpoint's request handling. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/hist.h"
#include "base/stats.h"
#include "emit/profile.h"
#include "emit/sink.h"
#include "export/metrics.h"
#include "span/route.h"
#include "span/span.h"

/* ---- histograms ---- */

static void test_hist_buckets(void **state)
{
	(void)state;
	/* contiguous: every bucket starts where the one before ends */
	for (uint32_t i = 1; i < HIST_BUCKETS; i++)
		assert_true(hist__lower(i) == hist__lower(i - 1) + hist__width(i - 1));
	/* every value lands in the bucket that holds it, no wider than 1/32 of it */
	for (uint64_t v = 0; v < (1ULL << HIST_MAX_BITS); v = v < 4096 ? v + 1 : v + v / 7 + 3) {
		uint32_t i = hist__index(v);
		assert_true(i < HIST_BUCKETS);
		assert_true(hist__lower(i) <= v && v < hist__lower(i) + hist__width(i));
		if (v >= 2 * HIST_SUB)
			assert_true(hist__width(i) * HIST_SUB <= v);
	}
	assert_int_equal(hist__index(UINT64_MAX), HIST_BUCKETS - 1);
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_hist_quantiles(void **state)
{
	static struct hist h;
	static uint64_t v[10007];
	uint64_t x = 88172645463325252ULL;
	const double qs[] = {0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0};

	(void)state;
	assert_int_equal(hist__quantile(&h, 0.5), 0);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		/* log-uniform from 1 us to 10 s */
		v[i] = (uint64_t)(1000.0 * __builtin_exp((double)(rnd(&x) % 1000000) / 1e6 * 16.1));
		hist__add(&h, v[i]);
	}
	qsort(v, sizeof(v) / sizeof(v[0]), sizeof(v[0]), cmp_u64);
	for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
		size_t rank = (size_t)__builtin_ceil(qs[k] * (double)(sizeof(v) / sizeof(v[0])));
		uint64_t truth = v[rank - 1], got = hist__quantile(&h, qs[k]);
		double err = (double)(got > truth ? got - truth : truth - got) / (double)truth;
		assert_true(err <= 1.0 / 64);
	}
	assert_true(hist__quantile(&h, 1.0) == v[sizeof(v) / sizeof(v[0]) - 1]);
	assert_true(h.count == sizeof(v) / sizeof(v[0]));
	assert_true(hist__count_le(&h, UINT64_MAX >> 1) == h.count);
	assert_true(hist__count_le(&h, 0) == 0);
	/* merging two halves gives the whole */
	static struct hist a, b;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		hist__add(i % 2 ? &a : &b, v[i]);
	hist__merge(&a, &b);
	assert_memory_equal(&a, &h, sizeof(h));
}

/* ---- routes ---- */

static void check_route(const char *path, const char *want)
{
	char out[ROUTE_MAX];
	size_t n = route__collapse(out, sizeof(out), path, strlen(path));

	if (strcmp(out, want) || n != strlen(want))
		fail_msg("route of '%s': '%s', want '%s'", path, out, want);
}

static void test_route(void **state)
{
	(void)state;
	check_route("/repos/1234/widgets", "/repos/{id}/widgets");
	check_route("/repos/1234/widgets?page=2&token=x", "/repos/{id}/widgets");
	check_route("/users/5/orders/77#frag", "/users/{id}/orders/{id}");
	check_route("/items/3f2504e0-4f89-11d3-9a0c-0305e82c3301", "/items/{id}");
	check_route("/commits/9fceb02d0ae598e95dc970b74767f19372d61af8", "/commits/{id}");
	check_route("/blobs/deadbeef", "/blobs/deadbeef"); /* hex, but no digit: a word */
	check_route("/blobs/deadbee5", "/blobs/{id}");
	check_route("/reports/2024-01-31/summary", "/reports/{id}/summary");
	check_route("/users/user_1234", "/users/{id}");
	check_route("/v1/oauth2/sha256/index.html", "/v1/oauth2/sha256/index.html");
	check_route("/u/alice@example.com", "/u/{id}");
	check_route("/search/hello%20world", "/search/{id}");
	check_route("/t/abcdefghijklmnopqrstuvwx1", "/t/{id}");
	check_route("/t/abcdefghijklmnopqrstuvwxyz", "/t/abcdefghijklmnopqrstuvwxyz");
	check_route("/a;jsessionid=0123/b", "/a/b");
	check_route("/docs/", "/docs/");
	check_route("//a//b", "/a/b");
	check_route("", "/");
	check_route("/", "/");
	check_route("?x=1", "/");
	check_route("*", "*");
	check_route("http://example.com:8080/repos/42?x", "/repos/{id}");
	check_route("http://example.com", "/");
	check_route("/1/2/3/4/5/6/7/8/9/10", "/{id}/{id}/{id}/{id}/{id}/{id}/{id}/{id}/{...}");
	/* too long: cut at a segment, and said so */
	char path[600], out[ROUTE_MAX];
	strcpy(path, "");
	for (int i = 0; i < 7; i++)
		strcat(path, "/abcdefghijklmnopqrstuvwxyz_abcdefghijklmnopq");
	size_t n = route__collapse(out, sizeof(out), path, strlen(path));
	assert_true(n < ROUTE_MAX && n == strlen(out));
	assert_string_equal(out + n - 6, "/{...}");
	/* small buffers */
	assert_int_equal(route__collapse(out, 4, "/a", 2), 0);
	assert_int_equal(route__collapse(out, 8, "/abcdefgh", 9), 6);
	assert_string_equal(out, "/{...}");
	/* not NUL-terminated input: only len bytes are read */
	assert_int_equal(route__collapse(out, sizeof(out), "/ab/12", 3), 3);
	assert_string_equal(out, "/ab");
}

/* ---- the profile sink ---- */

static struct span sp;

static void http_span(const char *svc, int kind, const char *method, const char *path, int status, uint64_t dur,
		      int err)
{
	memset(&sp, 0, sizeof(sp));
	sp.kind = (uint8_t)kind;
	sp.service = svc;
	sp.start_ns = 1700000000000000000ULL;
	sp.end_ns = sp.start_ns + dur;
	span__tag_int(&sp, "server.port", 8080);
	sp.nbegin = sp.ntags;
	SPAN_MARK(&sp, op);
	span__tag_str(&sp, "http.request.method", method, strlen(method));
	SPAN_MARK(&sp, path);
	span__tag_str(&sp, "url.path", path, strlen(path));
	SPAN_MARK(&sp, peer);
	span__tag_cstr(&sp, "server.address", "api.local");
	SPAN_MARK(&sp, status);
	span__tag_int(&sp, "http.response.status_code", status);
	if (err)
		span__error(&sp, "500", 3);
	span__finish(&sp);
}

static void redis_span(const char *cmd, uint64_t dur)
{
	memset(&sp, 0, sizeof(sp));
	sp.kind = SPAN_KIND_CLIENT;
	sp.service = "worker";
	sp.start_ns = 1700000000000000000ULL;
	sp.end_ns = sp.start_ns + dur;
	span__tag_int(&sp, "server.port", 6379);
	sp.nbegin = sp.ntags;
	span__tag_cstr(&sp, "db.system.name", "redis");
	SPAN_MARK(&sp, op);
	span__tag_str(&sp, "db.operation.name", cmd, strlen(cmd));
	SPAN_MARK(&sp, ns);
	span__tag_cstr(&sp, "db.namespace", "0");
	SPAN_MARK(&sp, peer);
	span__tag_cstr(&sp, "server.address", "10.0.0.5");
	span__finish(&sp);
}

static void test_profile_sink(void **state)
{
	struct sink *s = profile__new(8, 1);
	struct prof_row rows[16];
	struct mbuf m = {0};
	int n;

	(void)state;
	assert_non_null(s);
	for (int i = 0; i < 100; i++) {
		char p[32];
		snprintf(p, sizeof(p), "/repos/%d/widgets", i);
		http_span("api", SPAN_KIND_SERVER, "GET", p, 200, 10000000 + (uint64_t)i * 1000, 0);
		s->emit(s, &sp);
	}
	for (int i = 0; i < 10; i++) {
		http_span("api", SPAN_KIND_SERVER, "GET", "/repos/7/widgets", 500, 100000000, 1);
		s->emit(s, &sp);
	}
	redis_span("GET", 50000);
	s->emit(s, &sp);
	assert_int_equal(profile__nseries(), 3);
	/* marks that do not point at the tag they name count nothing */
	http_span("api", SPAN_KIND_SERVER, "GET", "/x", 200, 1000, 0);
	sp.mark.op = sp.mark.path;
	s->emit(s, &sp);
	sp.mark.op = (uint8_t)(sp.ntags + 1);
	s->emit(s, &sp);
	assert_int_equal(profile__nseries(), 3);
	n = profile__rows(rows, 16, 0, sp.end_ns + 1000000000ULL);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].op, "GET /repos/{id}/widgets");
	assert_true(rows[0].count == 110 && rows[0].errors == 10);
	assert_true(rows[0].max == 100000000);
	assert_true(rows[0].p50 >= 10040000 * 63 / 64 && rows[0].p50 <= 10060000 * 65 / 64);
	assert_string_equal(rows[1].op, "GET");
	assert_string_equal(rows[1].k->service, "worker");
	/* the window sees the same spans */
	n = profile__rows(rows, 16, 1, sp.end_ns + 1000000000ULL);
	assert_true(n == 2 && rows[0].count == 110);
	/* ten seconds later, nothing */
	n = profile__rows(rows, 16, 1, sp.end_ns + 11000000000ULL);
	assert_int_equal(n, 0);
	/* the exposition: labels, buckets, counts */
	metrics__expose(&m);
	assert_non_null(strstr(m.p, "# TYPE http_server_request_duration_seconds histogram\n"));
	assert_non_null(strstr(m.p, "http_server_request_duration_seconds_count{service_name=\"api\","
				    "http_request_method=\"GET\",http_route=\"/repos/{id}/widgets\","
				    "http_response_status_code=\"200\"} 100\n"));
	assert_non_null(strstr(m.p, "http_response_status_code=\"500\",error_type=\"500\",le=\"0.075\"} 0\n"));
	assert_non_null(strstr(m.p, "http_response_status_code=\"500\",error_type=\"500\",le=\"0.1\"} 10\n"));
	assert_non_null(strstr(m.p, "db_client_operation_duration_seconds_count{service_name=\"worker\","
				    "db_system_name=\"redis\",db_operation_name=\"GET\",db_namespace=\"0\","
				    "server_address=\"10.0.0.5\",server_port=\"6379\"} 1\n"));
	assert_non_null(strstr(m.p, "spantap_events_lost_total "));
	mbuf__free(&m);
	/* past the series bound: the overflow series, counted */
	uint64_t before = stats.profile_overflow;
	for (int i = 0; i < 20; i++) {
		char p[32];
		snprintf(p, sizeof(p), "/route%c", 'a' + i);
		http_span("api", SPAN_KIND_SERVER, "GET", p, 200, 1000, 0);
		s->emit(s, &sp);
	}
	assert_true(stats.profile_series == 8);
	assert_true(stats.profile_overflow - before == 15);
	metrics__expose(&m);
	assert_non_null(strstr(m.p, "http_server_request_duration_seconds_count{otel_metric_overflow=\"true\"} 15\n"));
	mbuf__free(&m);
	s->destroy(s);
	stats.profile_series = 0;
}

/* ---- the metrics endpoint's requests ---- */

static int respond(const char *req, struct mbuf *m, int *cl)
{
	m->len = 0;
	return metrics__respond(req, strlen(req), m, cl);
}

static void test_metrics_requests(void **state)
{
	struct mbuf m = {0};
	int cl;
	const char *get = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

	(void)state;
	assert_int_equal(respond(get, &m, &cl), (int)strlen(get));
	assert_int_equal(cl, 0);
	assert_true(strncmp(m.p, "HTTP/1.1 200 OK\r\n", 17) == 0);
	assert_non_null(strstr(m.p, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	/* every prefix: incomplete */
	for (size_t i = 0; i < strlen(get); i++) {
		m.len = 0;
		assert_int_equal(metrics__respond(get, i, &m, &cl), -2);
	}
	respond("HEAD /metrics HTTP/1.1\r\n\r\n", &m, &cl);
	assert_non_null(strstr(m.p, "\r\n\r\n"));
	assert_true(strstr(m.p, "\r\n\r\n")[4] == 0); /* no body */
	respond("GET /metrics HTTP/1.0\r\n\r\n", &m, &cl);
	assert_int_equal(cl, 1);
	respond("GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n", &m, &cl);
	assert_int_equal(cl, 1);
	respond("GET /nope HTTP/1.1\r\n\r\n", &m, &cl);
	assert_true(strncmp(m.p, "HTTP/1.1 404", 12) == 0);
	respond("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &m, &cl);
	assert_true(strncmp(m.p, "HTTP/1.1 405", 12) == 0);
	respond("POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", &m, &cl);
	assert_true(strncmp(m.p, "HTTP/1.1 400", 12) == 0 && cl == 1);
	assert_int_equal(respond("\x16\x03\x01 not http\r\n\r\n", &m, &cl), -1);
	assert_true(strncmp(m.p, "HTTP/1.1 400", 12) == 0 && cl == 1);
	/* a head that never ends is cut off at the bound */
	char *big = malloc(METRICS_MAX_REQUEST + 1);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	memset(big + 19, 'a', METRICS_MAX_REQUEST - 19);
	m.len = 0;
	assert_int_equal(metrics__respond(big, METRICS_MAX_REQUEST, &m, &cl), -1);
	free(big);
	mbuf__free(&m);
}

/* the server itself on loopback: a request in pieces, keep-alive, a
 * client that does not read, one that goes away, more clients than slots */
static int connect_to(int port)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static uint64_t now_ns = 1000000000ULL;

static void pump(void)
{
	now_ns += 20000000ULL;
	metrics__poll(now_ns);
}

static size_t read_response(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	for (int i = 0; i < 200; i++) {
		pump();
		ssize_t r = recv(fd, buf + n, cap - 1 - n, MSG_DONTWAIT);
		if (r > 0)
			n += (size_t)r;
		buf[n] = 0;
		char *body = strstr(buf, "\r\n\r\n");
		const char *cl = strstr(buf, "Content-Length: ");
		if (body && cl && n >= (size_t)(body + 4 - buf) + strtoul(cl + 16, NULL, 10))
			break;
		if (r == 0)
			break;
	}
	return n;
}

static void test_metrics_server(void **state)
{
	static char buf[1 << 20];
	const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	int fds[METRICS_MAX_CONNS + 2];

	(void)state;
	assert_int_equal(metrics__listen("127.0.0.1:0"), 0);
	int port = metrics__port();
	assert_true(port > 0);
	int fd = connect_to(port);
	/* a request in two pieces, then a second one on the same connection */
	assert_true(send(fd, req, 10, 0) == 10);
	pump();
	assert_true(send(fd, req + 10, strlen(req) - 10, 0) == (ssize_t)(strlen(req) - 10));
	size_t n = read_response(fd, buf, sizeof(buf));
	assert_true(n > 0 && strncmp(buf, "HTTP/1.1 200 OK", 15) == 0);
	assert_non_null(strstr(buf, "spantap_spans_total"));
	const char *last = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
	assert_true(send(fd, last, strlen(last), 0) == (ssize_t)strlen(last));
	n = read_response(fd, buf, sizeof(buf));
	assert_true(strncmp(buf, "HTTP/1.1 200 OK", 15) == 0 && strstr(buf, "metrics at /metrics"));
	pump();
	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 0); /* closed after it */
	close(fd);
	/* more clients than slots: the extra ones are closed, the others served */
	for (int i = 0; i < METRICS_MAX_CONNS + 2; i++)
		fds[i] = connect_to(port);
	pump();
	for (int i = 0; i < METRICS_MAX_CONNS + 2; i++) {
		if (i < METRICS_MAX_CONNS) {
			assert_true(send(fds[i], req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
			n = read_response(fds[i], buf, sizeof(buf));
			assert_true(strncmp(buf, "HTTP/1.1 200 OK", 15) == 0);
		} else {
			send(fds[i], req, strlen(req), MSG_NOSIGNAL);
			n = read_response(fds[i], buf, sizeof(buf));
			assert_int_equal(n, 0);
		}
		close(fds[i]);
	}
	/* a client that never reads cannot hold the loop: poll returns */
	fd = connect_to(port);
	int small = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	for (int i = 0; i < 50; i++)
		send(fd, req, strlen(req), MSG_NOSIGNAL | MSG_DONTWAIT);
	for (int i = 0; i < 50; i++)
		pump();
	/* idle past 30 s: closed */
	now_ns += 31000000000ULL;
	pump();
	pump();
	ssize_t r;
	while ((r = recv(fd, buf, sizeof(buf), 0)) > 0)
		;
	/* an end, or a reset: spantap closed with requests unread */
	assert_true(r == 0 || errno == ECONNRESET);
	close(fd);
	/* a client that says nothing: closed after 30 s too */
	fd = connect_to(port);
	pump();
	now_ns += 29000000000ULL;
	pump();
	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	now_ns += 2000000000ULL;
	pump();
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
	close(fd);
	metrics__close();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_buckets),
		cmocka_unit_test(test_hist_quantiles),
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_profile_sink),
		cmocka_unit_test(test_metrics_requests),
		cmocka_unit_test(test_metrics_server),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
