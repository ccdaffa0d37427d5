/* Prometheus exposition and its embedded HTTP server (metrics.h). */
#include "export/metrics.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/stats.h"
#include "conn/conn.h"
#include "emit/profile.h"
#include "parse/http1.h"
#include "span/span.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SPANTAP_VERSION
#define SPANTAP_VERSION "dev"
#endif

/* ---- a growable buffer ---- */

static int mbuf_reserve(struct mbuf *b, size_t n)
{
	if (b->oom)
		return -1;
	if (b->len + n + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void mbuf__printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	/* into the room there is; a second time only when it did not fit */
	if (mbuf_reserve(b, 256))
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		if (mbuf_reserve(b, (size_t)n))
			return;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

static void mbuf_put(struct mbuf *b, const char *s, size_t n)
{
	if (mbuf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void mbuf__free(struct mbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ---- the exposition ---- */

/* a label value: backslash, quote and newline escaped; bytes that are not
 * printable ASCII (wire bytes need not be UTF-8) as '?' */
static void label(struct mbuf *b, int *first, const char *name, const char *v)
{
	mbuf__printf(b, "%s%s=\"", *first ? "" : ",", name);
	*first = 0;
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (c == '\\' || c == '"')
			mbuf__printf(b, "\\%c", c);
		else if (c == '\n')
			mbuf_put(b, "\\n", 2);
		else if (c < 0x20 || c >= 0x7f)
			mbuf_put(b, "?", 1);
		else
			mbuf_put(b, (const char *)&c, 1);
	}
	mbuf_put(b, "\"", 1);
}

/* the bucket bounds, seconds: OpenTelemetry's advice for HTTP durations,
 * with finer ones below 5 ms for Redis and fast endpoints */
static const double bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075,
				0.1,	0.25,	 0.5,	 0.75,	1,	2.5,   5,    7.5,   10};

#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

struct family {
	uint8_t kind, proto;
	const char *name, *help;
};

static const struct family families[] = {
	{SPAN_KIND_SERVER, PROF_HTTP, "http_server_request_duration_seconds",
	 "Duration of HTTP server requests, as spantap saw them on the server's sockets."},
	{SPAN_KIND_CLIENT, PROF_HTTP, "http_client_request_duration_seconds",
	 "Duration of HTTP client requests, as spantap saw them on the client's sockets."},
	{SPAN_KIND_CLIENT, PROF_REDIS, "db_client_operation_duration_seconds",
	 "Duration of database client operations (Redis commands), as spantap saw them."},
	{SPAN_KIND_SERVER, PROF_REDIS, "db_server_operation_duration_seconds",
	 "Duration of database operations as the server (redis-server) handled them, as spantap saw them."},
};

/* the labels of a series, without braces */
static void series_labels(struct mbuf *b, const struct prof_key *k)
{
	char num[8];
	int first = 1;

	if (k->overflow) {
		label(b, &first, "otel_metric_overflow", "true");
		return;
	}
	label(b, &first, "service_name", k->service);
	if (k->proto == PROF_HTTP) {
		label(b, &first, "http_request_method", k->method);
		label(b, &first, k->kind == SPAN_KIND_SERVER ? "http_route" : "url_template", k->route);
		if (k->status) {
			snprintf(num, sizeof(num), "%u", k->status);
			label(b, &first, "http_response_status_code", num);
		}
	} else {
		label(b, &first, "db_system_name", "redis");
		label(b, &first, "db_operation_name", k->method);
		label(b, &first, "db_namespace", k->route);
	}
	if (k->kind == SPAN_KIND_CLIENT) {
		label(b, &first, "server_address", k->peer);
		snprintf(num, sizeof(num), "%u", k->port);
		label(b, &first, "server_port", num);
	}
	if (k->error[0])
		label(b, &first, "error_type", k->error);
}

static void expose_family(struct mbuf *b, const struct family *f)
{
	struct mbuf lb = {0};
	uint64_t bounds_ns[NBOUNDS], le[NBOUNDS];
	int any = 0;

	for (size_t j = 0; j < NBOUNDS; j++)
		bounds_ns[j] = (uint64_t)(bounds[j] * 1e9 + 0.5);

	for (uint32_t i = 0; i < profile__nseries(); i++) {
		const struct prof_series *s = profile__series(i);
		if (s->k.kind != f->kind || s->k.proto != f->proto || !s->h.count)
			continue;
		if (!any++) {
			mbuf__printf(b, "# HELP %s %s\n# TYPE %s histogram\n", f->name, f->help, f->name);
		}
		lb.len = 0;
		series_labels(&lb, &s->k);
		if (lb.oom || !lb.p)
			break;
		hist__count_le_many(&s->h, bounds_ns, NBOUNDS, le);
		for (size_t j = 0; j < NBOUNDS; j++)
			mbuf__printf(b, "%s_bucket{%s,le=\"%g\"} %" PRIu64 "\n", f->name, lb.p, bounds[j], le[j]);
		mbuf__printf(b, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n", f->name, lb.p, s->h.count);
		mbuf__printf(b, "%s_sum{%s} %.9f\n", f->name, lb.p, (double)s->h.sum_ns / 1e9);
		mbuf__printf(b, "%s_count{%s} %" PRIu64 "\n", f->name, lb.p, s->h.count);
	}
	mbuf__free(&lb);
}

/* counters under the names users look for first */
static const char *counter_name(const char *field)
{
	if (strcmp(field, "lost_events") == 0)
		return "events_lost";
	return field;
}

static void expose_process(struct mbuf *b)
{
	char buf[1024];
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	unsigned long utime = 0, stime = 0, vsize = 0;
	unsigned long long starttime = 0, btime = 0;
	long rss = 0;
	int fd, nfds = 0;
	ssize_t n;
	struct rlimit rl;

	fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0) {
		buf[n] = 0;
		/* after the command's closing parenthesis: state is field 3 */
		char *p = strrchr(buf, ')');
		if (p && sscanf(p + 2,
				"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %llu "
				"%lu %ld",
				&utime, &stime, &starttime, &vsize, &rss) == 5) {
			mbuf__printf(
				b,
				"# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
				"# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.2f\n",
				(double)(utime + stime) / (double)tck);
			mbuf__printf(b,
				     "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
				     "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %ld\n",
				     rss * page);
			mbuf__printf(b,
				     "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
				     "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %lu\n",
				     vsize);
		}
	}
	FILE *f = fopen("/proc/stat", "re");
	if (f) {
		while (fgets(buf, sizeof(buf), f))
			if (sscanf(buf, "btime %llu", &btime) == 1)
				break;
		fclose(f);
	}
	if (btime && starttime)
		mbuf__printf(
			b,
			"# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
			"# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.2f\n",
			(double)btime + (double)starttime / (double)tck);
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				nfds++;
		closedir(d);
		mbuf__printf(b,
			     "# HELP process_open_fds Number of open file descriptors.\n"
			     "# TYPE process_open_fds gauge\nprocess_open_fds %d\n",
			     nfds - 1); /* the directory's own */
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		mbuf__printf(b,
			     "# HELP process_max_fds Maximum number of open file descriptors.\n"
			     "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n",
			     (unsigned long long)rl.rlim_cur);
}

void metrics__expose(struct mbuf *b)
{
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		expose_family(b, &families[i]);
#define X(name, desc)                                                                                                 \
	if (strcmp(#name, "profile_series") == 0)                                                                     \
		mbuf__printf(b, "# HELP spantap_%s %s\n# TYPE spantap_%s gauge\nspantap_%s %" PRIu64 "\n", #name,     \
			     desc, #name, #name, stats.name);                                                         \
	else                                                                                                          \
		mbuf__printf(b,                                                                                       \
			     "# HELP spantap_%s_total %s\n# TYPE spantap_%s_total counter\nspantap_%s_total %" PRIu64 \
			     "\n",                                                                                    \
			     counter_name(#name), desc, counter_name(#name), counter_name(#name),                     \
			     __atomic_load_n(&stats.name, __ATOMIC_RELAXED));
	STATS_FIELDS(X)
#undef X
	mbuf__printf(b,
		     "# HELP spantap_connections_open Connections spantap follows now.\n"
		     "# TYPE spantap_connections_open gauge\nspantap_connections_open %u\n",
		     conn_table__count());
	mbuf__printf(b,
		     "# HELP spantap_build_info spantap's version.\n# TYPE spantap_build_info gauge\n"
		     "spantap_build_info{version=\"%s\"} 1\n",
		     SPANTAP_VERSION);
	expose_process(b);
}

/* ---- HTTP ---- */

static void respond_plain(struct mbuf *out, int head, const char *status, const char *ctype, const char *body,
			  size_t len, int close)
{
	mbuf__printf(out, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n", status, ctype, len,
		     close ? "Connection: close\r\n" : "");
	if (!head)
		mbuf_put(out, body, len);
}

int metrics__respond(const char *req, size_t len, struct mbuf *out, int *close)
{
	struct http1_head h;
	struct http1_slice none = {0};
	uint64_t blen = 0;
	int n = http1_parse_request(req, len, &h);

	*close = 0;
	if (n == -2 && len >= METRICS_MAX_REQUEST)
		n = -1;
	if (n == -2)
		return -2;
	if (n < 0) {
		*close = 1;
		respond_plain(out, 0, "400 Bad Request", "text/plain", "bad request\n", 12, 1);
		return -1;
	}
	enum http1_body bk = http1_body_kind(&h, 0, none, &blen);
	if (bk != HTTP1_BODY_NONE && !(bk == HTTP1_BODY_LENGTH && blen == 0)) {
		/* no request here has a body: not worth reading one */
		*close = 1;
		respond_plain(out, 0, "400 Bad Request", "text/plain", "unexpected body\n", 16, 1);
		return n;
	}
	const struct http1_slice *conn = http1_header(&h, "connection");
	if (h.minor_version == 0 ? !(conn && http1_slice_eq(*conn, "keep-alive"))
				 : (conn && http1_slice_eq(*conn, "close")))
		*close = 1;
	int get = http1_slice_eq(h.method, "GET"), head = http1_slice_eq(h.method, "HEAD");
	size_t plen = h.target.len;
	for (size_t i = 0; i < h.target.len; i++)
		if (h.target.p[i] == '?') {
			plen = i;
			break;
		}
	if (!get && !head) {
		respond_plain(out, 0, "405 Method Not Allowed", "text/plain", "use GET\n", 8, *close);
		return n;
	}
	if (plen == 8 && memcmp(h.target.p, "/metrics", 8) == 0) {
		struct mbuf body = {0};
		metrics__expose(&body);
		if (body.oom) {
			respond_plain(out, 0, "503 Service Unavailable", "text/plain", "out of memory\n", 14, 1);
			*close = 1;
		} else {
			respond_plain(out, head, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body.p, body.len,
				      *close);
		}
		mbuf__free(&body);
		stats__add(metrics_scrapes, 1);
		return n;
	}
	if (plen == 1 && h.target.p[0] == '/') {
		static const char idx[] = "spantap: metrics at /metrics\n";
		respond_plain(out, head, "200 OK", "text/plain", idx, sizeof(idx) - 1, *close);
		return n;
	}
	respond_plain(out, head, "404 Not Found", "text/plain", "not found\n", 10, *close);
	return n;
}

/* ---- the server ---- */

struct mconn {
	int fd;
	int closing; /* after the response is out */
	uint64_t last;
	size_t inlen, off;
	struct mbuf out;
	char in[METRICS_MAX_REQUEST];
};

static int lfd = -1, lport;
static struct mconn conns[METRICS_MAX_CONNS];
static uint64_t last_poll;

#define IDLE_NS (30ULL * 1000000000ULL)

int metrics__port(void)
{
	return lport;
}

int metrics__listen(const char *ap)
{
	char host[256];
	const char *colon = strrchr(ap, ':'), *h = ap;
	size_t hl;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res = NULL;
	int one = 1, err;

	for (int i = 0; i < METRICS_MAX_CONNS; i++)
		conns[i].fd = -1;
	if (!colon || !colon[1]) {
		fprintf(stderr, "spantap: invalid value '%s' for --metrics-listen: expected ADDR:PORT\n", ap);
		return -EINVAL;
	}
	hl = (size_t)(colon - ap);
	if (hl >= 2 && ap[0] == '[' && ap[hl - 1] == ']') {
		h = ap + 1;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		fprintf(stderr, "spantap: invalid value '%s' for --metrics-listen: expected ADDR:PORT\n", ap);
		return -EINVAL;
	}
	memcpy(host, h, hl);
	host[hl] = 0;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535) {
		fprintf(stderr, "spantap: invalid value '%s' for --metrics-listen: expected ADDR:PORT\n", ap);
		return -EINVAL;
	}
	if ((err = getaddrinfo(hl ? host : NULL, colon + 1, &hints, &res))) {
		fprintf(stderr, "spantap: failed to resolve metrics address '%s': %s\n", ap, gai_strerror(err));
		return -EINVAL;
	}
	lfd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, res->ai_addr, res->ai_addrlen) || listen(lfd, 16)) {
		err = -errno;
		fprintf(stderr, "spantap: failed to listen on metrics address '%s': %s\n", ap, strerror(-err));
		if (lfd >= 0)
			close(lfd);
		lfd = -1;
		freeaddrinfo(res);
		return err;
	}
	freeaddrinfo(res);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0) {
		char pb[16];
		if (getnameinfo((struct sockaddr *)&ss, sl, NULL, 0, pb, sizeof(pb), NI_NUMERICSERV) == 0)
			lport = atoi(pb);
	}
	pr_info("serving Prometheus metrics on http://%s/metrics\n", ap);
	return 0;
}

static void conn_close(struct mconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	mbuf__free(&c->out);
	c->inlen = c->off = 0;
	c->closing = 0;
}

/* writes what the socket takes; 1 when the connection is done with */
static int conn_write(struct mconn *c)
{
	while (c->off < c->out.len) {
		ssize_t w = send(c->fd, c->out.p + c->off, c->out.len - c->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : 1;
		c->off += (size_t)w;
	}
	c->out.len = c->off = 0;
	return c->closing;
}

static void conn_service(struct mconn *c, uint64_t now)
{
	/* idle, or a client that stopped reading: its slot is needed */
	if (now - c->last > IDLE_NS) {
		conn_close(c);
		return;
	}
	size_t sent = c->off;
	if (c->out.len && conn_write(c)) {
		conn_close(c);
		return;
	}
	if (c->off != sent)
		c->last = now;
	for (;;) {
		if (c->out.len)
			return; /* one response at a time */
		/* the requests already read */
		while (c->inlen && !c->out.len) {
			int cl, n = metrics__respond(c->in, c->inlen, &c->out, &cl);
			if (n == -2)
				break;
			if (n < 0 || cl) {
				c->closing = 1;
				c->inlen = 0;
			} else {
				memmove(c->in, c->in + n, c->inlen - (size_t)n);
				c->inlen -= (size_t)n;
			}
			c->last = now;
			if (conn_write(c)) {
				conn_close(c);
				return;
			}
		}
		if (c->out.len || c->closing)
			return;
		ssize_t r = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			conn_close(c);
			return;
		}
		if (r < 0)
			break;
		c->inlen += (size_t)r;
		c->last = now;
	}
}

void metrics__poll(uint64_t now)
{
	if (lfd < 0 || now - last_poll < 10000000ULL)
		return;
	last_poll = now;
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		int i = 0;
		while (i < METRICS_MAX_CONNS && conns[i].fd >= 0)
			i++;
		if (i == METRICS_MAX_CONNS) {
			/* busy: the newcomer goes (Prometheus keeps one connection) */
			close(fd);
			continue;
		}
		conns[i].fd = fd;
		conns[i].last = now;
	}
	for (int i = 0; i < METRICS_MAX_CONNS; i++)
		if (conns[i].fd >= 0)
			conn_service(&conns[i], now);
}

void metrics__close(void)
{
	if (lfd < 0)
		return;
	for (int i = 0; i < METRICS_MAX_CONNS; i++)
		if (conns[i].fd >= 0)
			conn_close(&conns[i]);
	if (lfd >= 0)
		close(lfd);
	lfd = -1;
}
