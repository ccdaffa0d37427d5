/* userbench: spantap's user-space pipeline alone, on a synthetic stream of
 * ring-buffer records built exactly as the kernel sends them (bpf/spantap.h:
 * events of a header and its payload, a server's request start and its
 * response in one record, each 8-aligned), fed through the path main.c
 * uses: conn_table__handle per event, alias__tick and the sinks' flush per
 * poll, the Jaeger agent exporter's batcher and encoder, datagrams sent to
 * a UDP socket on 127.0.0.1 that nobody reads.
 *
 * Deterministic: ids come from a fixed seed and clocks from the stream's own
 * timestamps (getrandom and clock_gettime are replaced below), so under
 * `valgrind --tool=callgrind` instructions per span repeat exactly, and
 * --digest prints a hash of every datagram's bytes: an optimization that
 * changes no span leaves it unchanged (the datagrams carry spantap's
 * version: make bench-user-digest builds with a fixed one). It fails when spans go missing.
 * With --otlp the spans go through the OTLP exporter's batcher and encoder
 * instead, each request's bytes (head and spans) hashed rather than POSTed:
 * the event loop's share of OTLP export (the HTTP requests are made by the
 * exporter's own thread, one per batch of up to 256 KiB).
 *
 * --profile adds the latency profile sink and builds the Prometheus
 * exposition every 15 s of the stream's time, as a scrape would
 * (--profile-top: with the live view's windows too): make
 * bench-user-profile compares instructions per span with and without. */
#include "ingest/record.h"
#include "trace/alias.h"
#include "conn/conn.h"
#include "proto/sessions.h"
#include "export/export.h"
#include "export/otlp.h"
#include "trace/link.h"
#include "base/procinfo.h"
#include "trace/queuehop.h"
#include "emit/sink.h"
#include "emit/profile.h"
#include "export/metrics.h"
#include "span/span.h"
#include "base/clock.h"
#include "base/ids.h"
#include "base/stats.h"
#include "trace/stitch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#endif
#endif
#ifndef HAVE_CALLGRIND
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(s) ((void)(s))
#endif

/* ---- deterministic ids and clocks ---- */

static uint64_t fake_mono = 1000000000ULL;	/* the stream's "now" */
#define FAKE_WALL_OFFSET 1795364882000000000ULL /* realtime - monotonic */

int clock_gettime(clockid_t id, struct timespec *ts)
{
	uint64_t t = fake_mono + (id == CLOCK_REALTIME ? FAKE_WALL_OFFSET : 0);

	ts->tv_sec = (time_t)(t / 1000000000ULL);
	ts->tv_nsec = (long)(t % 1000000000ULL);
	return 0;
}

ssize_t getrandom(void *buf, size_t n, unsigned int flags)
{
	static uint64_t x = 0x5eed5eed5eed5eedULL;
	uint8_t *b = buf;

	(void)flags;
	for (size_t i = 0; i < n; i++) {
		x += 0x9e3779b97f4a7c15ULL; /* splitmix64 */
		uint64_t z = x;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		b[i] = (uint8_t)(z ^ (z >> 31));
	}
	return (ssize_t)n;
}

static uint64_t real_ns(int clock)
{
	struct timespec ts;

	syscall(SYS_clock_gettime, clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(int sys)
{
	struct rusage ru;
	struct timeval *tv = sys ? &ru.ru_stime : &ru.ru_utime;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)tv->tv_sec * 1000000000ULL + (uint64_t)tv->tv_usec * 1000ULL;
}

/* ---- the stream: records as the ring buffer holds them ---- */

struct stream {
	uint8_t *buf;
	size_t len, cap;
	size_t rec_start; /* offset of the record being built (its length word) */
	uint32_t nrec;
	uint64_t dur;	/* synthetic time one pass of the stream covers */
	uint64_t shift; /* added to the timestamps built */
};

/* a record in the stream: [u32 size][u32 pad][size bytes, 8-aligned] */
static void rec_begin(struct stream *s)
{
	if (s->cap - s->len < 64 * 1024) {
		s->cap = s->cap ? s->cap * 2 : 1 << 20;
		s->buf = realloc(s->buf, s->cap);
		if (!s->buf) {
			perror("userbench: realloc");
			exit(1);
		}
	}
	s->rec_start = s->len;
	memset(s->buf + s->len, 0, 8);
	s->len += 8;
}

static void rec_end(struct stream *s)
{
	uint32_t size = (uint32_t)(s->len - s->rec_start - 8);

	memcpy(s->buf + s->rec_start, &size, 4);
	s->nrec++;
}

struct endpoint {
	uint64_t conn_id;
	uint32_t tgid, tid, fd;
	uint8_t role;
	uint8_t proto;
	uint16_t lport, rport;
	const char *comm;
};

static void ev_add(struct stream *s, const struct endpoint *e, uint8_t dir, uint64_t t_in, uint64_t t_out,
		   const void *data, size_t len)
{
	struct st_event_hdr h = {0};
	size_t n;

	h.type = ST_EV_DATA;
	h.dir = dir;
	h.role = e->role;
	h.proto = e->proto;
	h.flags = ST_F_START;
	h.family = 4;
	h.lport = e->lport;
	h.rport = e->rport;
	h.tgid = e->tgid;
	h.tid = e->tid;
	h.fd = e->fd;
	h.cap_len = (uint32_t)len;
	h.conn_id = e->conn_id;
	h.ts_enter = t_in;
	h.ts_exit = t_out;
	h.len = len;
	h.laddr[0] = h.raddr[0] = 127;
	h.laddr[3] = h.raddr[3] = 1;
	strncpy(h.comm, e->comm, sizeof(h.comm) - 1);
	memcpy(s->buf + s->len, &h, sizeof(h));
	memcpy(s->buf + s->len + sizeof(h), data, len);
	n = (sizeof(h) + len + 7) & ~(size_t)7;
	memset(s->buf + s->len + sizeof(h) + len, 0, n - sizeof(h) - len);
	s->len += n;
}

static void ev_close(struct stream *s, const struct endpoint *e, uint64_t t)
{
	struct st_event_hdr h = {0};

	h.type = ST_EV_CLOSE;
	h.role = e->role;
	h.proto = e->proto;
	h.tgid = e->tgid;
	h.tid = e->tid;
	h.conn_id = e->conn_id;
	h.ts_enter = h.ts_exit = t;
	memcpy(s->buf + s->len, &h, sizeof(h));
	s->len += sizeof(h);
}

/* One exchange on a connection traced at both ends: the client's write,
 * the server's record (request start deferred until its response), the
 * client's read. */
static void exchange(struct stream *s, const struct endpoint *cli, const struct endpoint *srv, uint64_t t,
		     const void *req, size_t reqlen, const void *resp, size_t resplen)
{
	rec_begin(s);
	ev_add(s, cli, ST_DIR_EGRESS, t, t + 4000, req, reqlen);
	rec_end(s);
	rec_begin(s);
	ev_add(s, srv, ST_DIR_INGRESS, t + 6000, t + 8000, req, reqlen);
	ev_add(s, srv, ST_DIR_EGRESS, t + 20000, t + 26000, resp, resplen);
	rec_end(s);
	rec_begin(s);
	ev_add(s, cli, ST_DIR_INGRESS, t + 5000, t + 30000, resp, resplen);
	rec_end(s);
}

#define NCONN_MAX 64
static struct endpoint clients[NCONN_MAX], servers[NCONN_MAX];

static void make_pair(int i, uint32_t proto, uint32_t cli_tgid, uint32_t cli_threads, const char *cli_comm,
		      uint32_t srv_tgid, const char *srv_comm, uint16_t srv_port, uint16_t cli_port0)
{
	uint16_t cport = (uint16_t)(cli_port0 + i);

	clients[i] = (struct endpoint){.conn_id = 1000 + 2 * (uint64_t)i,
				       .tgid = cli_tgid,
				       .tid = cli_tgid + 1 + (uint32_t)i % cli_threads,
				       .fd = 10 + (uint32_t)i,
				       .role = ST_ROLE_CLIENT,
				       .proto = (uint8_t)proto,
				       .lport = cport,
				       .rport = srv_port,
				       .comm = cli_comm};
	servers[i] = (struct endpoint){.conn_id = 1001 + 2 * (uint64_t)i,
				       .tgid = srv_tgid,
				       .tid = srv_tgid,
				       .fd = 20 + (uint32_t)i,
				       .role = ST_ROLE_SERVER,
				       .proto = (uint8_t)proto,
				       .lport = srv_port,
				       .rport = cport,
				       .comm = srv_comm};
}

/* pids above PID_MAX_LIMIT: /proc has none, services come from comm */
#define PID_BASE 5000000u
#define EXCH_GAP_NS 20000ULL /* between exchange starts: ~100k spans/s */

/* wrk/curl against nginx, keep-alive: a ~80-byte request, a ~150-byte
 * response head and a 12-byte body, both ends traced on loopback. */
static uint64_t build_http(struct stream *s, int nconn, int rounds)
{
	static const char *const req[] = {
		"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
		"GET /api/items?id=42 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: "
		"*/*\r\n\r\n",
		"GET /api/login?user=bob&token=abc HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\n\r\n",
		"GET /status HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
	};
	static const char resp[] = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 10:00:00 GMT\r\n"
				   "Content-Type: text/plain\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\n"
				   "hello world\n";
	static const char resp503[] = "HTTP/1.1 503 Service Temporarily Unavailable\r\nServer: nginx/1.22.1\r\n"
				      "Date: Sun, 22 Nov 2026 10:00:00 GMT\r\nContent-Type: text/plain\r\n"
				      "Content-Length: 12\r\nConnection: keep-alive\r\n\r\nhello world\n";
	uint64_t t = 0, spans = 0;

	for (int i = 0; i < nconn; i++)
		make_pair(i, ST_PROTO_HTTP1, PID_BASE + 100, 2, "wrk", PID_BASE + 200, "nginx", 8080, 40000);
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < nconn; i++, t += EXCH_GAP_NS) {
			int k = (r + i) & 3;
			const char *rs = (r * nconn + i) % 16 == 15 ? resp503 : resp;
			exchange(s, &clients[i], &servers[i], t, req[k], strlen(req[k]), rs, strlen(rs));
			spans += 2;
		}
	s->dur = t;
	return spans;
}

static size_t resp_cmd(char *out, const char *cmd, const char *key, const char *val)
{
	if (val)
		return (size_t)sprintf(out, "*3\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n", strlen(cmd), cmd,
				       strlen(key), key, strlen(val), val);
	return (size_t)sprintf(out, "*2\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n", strlen(cmd), cmd, strlen(key), key);
}

/* redis-benchmark -t set,get -P depth against redis-server */
static uint64_t build_redis(struct stream *s, int nconn, int rounds, int depth)
{
	static char req[16 * 128], rep[16 * 64];
	uint64_t t = 0, spans = 0;

	for (int i = 0; i < nconn; i++)
		make_pair(i, ST_PROTO_REDIS, PID_BASE + 300, 1, "redis-benchmar", PID_BASE + 400, "redis-server", 6379,
			  50000);
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < nconn; i++, t += EXCH_GAP_NS * (uint64_t)depth) {
			size_t rl = 0, pl = 0;
			for (int d = 0; d < depth; d++) {
				char key[32];
				int set = ((r * nconn + i) * depth + d) & 1;
				snprintf(key, sizeof(key), "key:%012d", (r * 7919 + i * 104729 + d) % 100000);
				rl += resp_cmd(req + rl, set ? "SET" : "GET", key, set ? "xxx" : NULL);
				pl += (size_t)sprintf(rep + pl, "%s", set ? "+OK\r\n" : "$3\r\nxxx\r\n");
				spans += 2;
			}
			exchange(s, &clients[i], &servers[i], t, req, rl, rep, pl);
		}
	s->dur = t;
	return spans;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* ---- feeding, as main.c's on_event and event loop do ---- */

static int digest_mode;
static int rx_fd = -1;
static uint64_t digest = 0xcbf29ce484222325ULL, rx_datagrams;

static void hash(const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		digest = (digest ^ d[i]) * 0x100000001b3ULL;
}

static void drain(void)
{
	static uint8_t d[65536];
	ssize_t n;

	if (!digest_mode)
		return;
	while ((n = recv(rx_fd, d, sizeof(d), MSG_DONTWAIT)) > 0) {
		hash(d, (size_t)n);
		rx_datagrams++;
	}
}

static void on_one(void *ctx, const struct st_event_hdr *h, size_t size)
{
	(void)ctx;
	if (conn_table__handle(h, size))
		stats.parse_errors++;
}

static void on_record(const uint8_t *p, size_t size)
{
	if (record__for_each(p, size, on_one, NULL))
		stats.parse_errors++;
}

/* ---- --otlp: the OTLP exporter's batching and encoding, without HTTP ---- */

struct otlp_null {
	struct sink base;
	struct batcher *b;
	uint8_t head[16384];
};

static void otlp_null_deliver(void *ctx, const struct export_process *p, const uint8_t *body, size_t len, uint32_t n)
{
	struct otlp_null *o = ctx;
	size_t hl = otlp__encode_head(o->head, sizeof(o->head), p, len);

	if (digest_mode) {
		hash(o->head, hl);
		hash(body, len);
	}
	rx_datagrams++;
	stats__add(export_spans, n);
	stats__add(export_batches, 1);
}

static void otlp_null_emit(struct sink *base, const struct span *sp)
{
	batcher__add(((struct otlp_null *)base)->b, sp);
}

static void otlp_null_flush(struct sink *base)
{
	batcher__tick(((struct otlp_null *)base)->b);
}

static void otlp_null_destroy(struct sink *base)
{
	struct otlp_null *o = (struct otlp_null *)base;

	batcher__flush_all(o->b);
	batcher__free(o->b);
	free(o);
}

static struct sink *otlp_null__new(void)
{
	struct otlp_null *o = calloc(1, sizeof(*o));

	if (!o || !(o->b = batcher__new(otlp__format(), 256 << 10, otlp_null_deliver, o)))
		return NULL;
	o->base.name = "otlp-null";
	o->base.emit = otlp_null_emit;
	o->base.flush = otlp_null_flush;
	o->base.destroy = otlp_null_destroy;
	return &o->base;
}

#define POLL_BATCH 128 /* records per ring_buffer__poll under load */

/* a Prometheus scrape every 15 s of the stream's time (the README's scrape
 * config; Prometheus's own default is 1 min) */
#define SCRAPE_NS (15 * 1000000000ULL)
static uint64_t last_tick, last_expose;
static int profile_mode, profile_on = 1, quiet;
static struct sink *profile_sink;

/* --ab: the profile switched on and off between runs */
static void gate_emit(struct sink *g, const struct span *sp)
{
	(void)g;
	if (profile_on)
		profile_sink->emit(profile_sink, sp);
}

static void gate_destroy(struct sink *g)
{
	(void)g;
	profile_sink->destroy(profile_sink);
}

static struct sink gate = {.name = "gate", .emit = gate_emit, .destroy = gate_destroy};

static void poll_done(uint64_t watermark)
{
	fake_mono = watermark;
	alias__tick(watermark);
	if (watermark - last_tick > 250000000ULL) {
		conn_table__tick(watermark);
		last_tick = watermark;
	}
	sink__flush_all();
	drain();
	if (profile_mode && profile_on && watermark - last_expose >= SCRAPE_NS) {
		struct mbuf m = {0};
		metrics__expose(&m);
		mbuf__free(&m);
		last_expose = watermark;
	}
}

/* one pass over the stream, its timestamps shifted to start at base */
static void feed(struct stream *s, uint64_t base)
{
	uint64_t wm = 0, delta = base - s->shift;
	uint32_t k = 0;

	s->shift = base;
	for (size_t off = 0; off < s->len;) {
		uint32_t size;
		memcpy(&size, s->buf + off, 4);
		uint8_t *r = s->buf + off + 8;
		/* the kernel stamps them now */
		for (size_t e = 0; e + sizeof(struct st_event_hdr) <= size;) {
			struct st_event_hdr *h = (void *)(r + e);
			h->ts_enter += delta;
			h->ts_exit += delta;
			if (h->ts_exit > wm)
				wm = h->ts_exit;
			e += (sizeof(*h) + h->cap_len + 7) & ~(size_t)7;
		}
		on_record(r, size);
		off += 8 + size;
		if (++k % POLL_BATCH == 0)
			poll_done(wm);
	}
	poll_done(wm);
}

struct scenario {
	const char *name;
	int nconn, depth; /* depth 0: HTTP */
};

static const struct scenario scenarios[] = {
	{"http-keepalive", 32, 0},
	{"redis-P1", 50, 1},
	{"redis-P16", 50, 16},
};

static uint64_t stream_time = 1000000000ULL; /* the stream's clock, across passes */

static int run(const struct scenario *sc, uint64_t min_spans, double *ns_out, double *cpu_out)
{
	struct stream s = {0};
	uint64_t per_pass = sc->depth ? build_redis(&s, sc->nconn, 4, sc->depth) : build_http(&s, sc->nconn, 8);
	uint64_t passes = (min_spans + per_pass - 1) / per_pass, expect = passes * per_pass;
	struct stats before = stats;
	uint64_t w0, u0, s0, w1, u1, s1;
	int bad = 0;

	w0 = real_ns(CLOCK_MONOTONIC);
	u0 = cpu_ns(0);
	s0 = cpu_ns(1);
	CALLGRIND_ZERO_STATS;
	for (uint64_t i = 0; i < passes; i++) {
		feed(&s, stream_time);
		stream_time += s.dur + EXCH_GAP_NS;
	}
	/* the batches still open go out (the exporter's flush after 1 s) */
	stream_time += 2000000000ULL;
	poll_done(stream_time);
	CALLGRIND_DUMP_STATS_AT(sc->name);
	w1 = real_ns(CLOCK_MONOTONIC);
	u1 = cpu_ns(0);
	s1 = cpu_ns(1);

	/* the connections end: nothing may be pending */
	s.len = 0;
	rec_begin(&s);
	for (int i = 0; i < sc->nconn; i++) {
		ev_close(&s, &clients[i], stream_time);
		ev_close(&s, &servers[i], stream_time);
	}
	for (size_t off = 8; off < s.len; off += sizeof(struct st_event_hdr))
		conn_table__handle(s.buf + off, sizeof(struct st_event_hdr));
	stream_time += 2000000000ULL;
	poll_done(stream_time);

#define DELTA(f) (stats.f - before.f)
	*cpu_out = (double)(u1 - u0 + s1 - s0) / (double)expect;
	if (!quiet)
		printf("%-15s %8llu spans %8.1f ns/span wall %8.1f user %8.1f sys  (%llu datagrams)\n", sc->name,
	       (unsigned long long)DELTA(spans), (double)(w1 - w0) / (double)expect, (double)(u1 - u0) / (double)expect,
	       (double)(s1 - s0) / (double)expect, (unsigned long long)DELTA(export_batches));
	if (DELTA(spans) != expect || DELTA(export_spans) != expect || DELTA(export_dropped) || DELTA(parse_errors) ||
	    DELTA(unmatched) || DELTA(no_response) || DELTA(links) != expect / 2 || alias__held()) {
		fprintf(stderr,
			"userbench: %s: expected %llu spans and %llu links; got %llu spans, %llu exported, %llu "
			"dropped, %llu links, %llu parse errors, %llu unmatched, %llu without response, %u held\n",
			sc->name, (unsigned long long)expect, (unsigned long long)expect / 2,
			(unsigned long long)DELTA(spans), (unsigned long long)DELTA(export_spans),
			(unsigned long long)DELTA(export_dropped), (unsigned long long)DELTA(links),
			(unsigned long long)DELTA(parse_errors), (unsigned long long)DELTA(unmatched),
			(unsigned long long)DELTA(no_response), alias__held());
		bad = 1;
	}
#undef DELTA
	*ns_out = (double)(w1 - w0);
	free(s.buf);
	return bad;
}

int main(int argc, char **argv)
{
	struct conn_limits lim = {.max_conns = 32768,
				  .max_pending = 65536,
				  .max_reasm = 1024,
				  .reasm_size = 16384,
				  .max_pending_per_conn = 1024};
	struct alias_limits alim = {.max_traces = 16384, .max_held = 512};
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	enum thrift_proto proto = THRIFT_COMPACT;
	uint64_t min_spans = 200000;
	double ns, cpu, total_ns = 0;
	int ab_rounds = 0;
	const char *only = NULL;
	char port[16];
	struct sink *agent;
	int bad = 0, rcv = 32 << 20, otlp = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--spans") == 0 && i + 1 < argc)
			min_spans = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--binary") == 0)
			proto = THRIFT_BINARY;
		else if (strcmp(argv[i], "--otlp") == 0)
			otlp = 1;
		else if (strcmp(argv[i], "--digest") == 0)
			digest_mode = 1;
		else if (strcmp(argv[i], "--profile") == 0)
			profile_mode = 1;
		else if (strcmp(argv[i], "--profile-top") == 0)
			profile_mode = 2;
		else if (strcmp(argv[i], "--ab") == 0 && i + 1 < argc)
			ab_rounds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		else {
			fprintf(stderr,
				"usage: userbench [--spans N (per scenario, default 200000)] [--binary | --otlp] [--digest] "
				"[--only NAME] [--profile|--profile-top] [--ab ROUNDS]\n");
			return 2;
		}
	}
	rx_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (rx_fd < 0 || bind(rx_fd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    getsockname(rx_fd, (struct sockaddr *)&sin, &sl)) {
		perror("userbench: failed to bind the receiving socket");
		return 1;
	}
	if (digest_mode && setsockopt(rx_fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)))
		setsockopt(rx_fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	snprintf(port, sizeof(port), "%u", ntohs(sin.sin_port));

	ids__init();
	clock__sync();
	if (conn_table__init(&lim) || alias__init(&alim) || stitch__init(16384) || queuehop__init(16384) ||
	    procinfo__init(4096)) {
		fprintf(stderr, "userbench: failed to allocate spantap's tables\n");
		return 1;
	}
	link__init();
	sessions__register();
	agent = otlp ? otlp_null__new() : sink_jaeger_agent__new("127.0.0.1", port, proto);
	if (!agent || sink__add(agent))
		return 1;
	if (ab_rounds && !profile_mode)
		profile_mode = 1;
	if (profile_mode) {
		profile_sink = profile__new(PROFILE_DEFAULT_SERIES, profile_mode > 1);
		if (!profile_sink || sink__add(&gate))
			return 1;
	}
	if (ab_rounds) {
		/* CPU (user + system) per span, the profile off and on in turn;
		 * the median of each, and their ratio */
		static double off[64], on[64];
		int bad_ab = 0;
		if (ab_rounds > 64)
			ab_rounds = 64;
		quiet = 1;
		for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
			if (only && strcmp(only, scenarios[i].name))
				continue;
			for (int r = 0; r < ab_rounds; r++) {
				profile_on = 0;
				bad_ab |= run(&scenarios[i], min_spans, &ns, &off[r]);
				profile_on = 1;
				bad_ab |= run(&scenarios[i], min_spans, &ns, &on[r]);
			}
			qsort(off, (size_t)ab_rounds, sizeof(double), cmp_double);
			qsort(on, (size_t)ab_rounds, sizeof(double), cmp_double);
			printf("%-15s CPU per span, median of %d: %7.1f ns without, %7.1f ns with the %s: %+5.1f%%\n",
			       scenarios[i].name, ab_rounds, off[ab_rounds / 2], on[ab_rounds / 2],
			       profile_mode > 1 ? "profile and live view" : "profile and metrics",
			       100.0 * (on[ab_rounds / 2] / off[ab_rounds / 2] - 1));
		}
		sink__destroy_all();
		conn_table__free();
		queuehop__reset();
		alias__free();
		return bad_ab;
	}

	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		if (only && strcmp(only, scenarios[i].name))
			continue;
		bad |= run(&scenarios[i], min_spans, &ns, &cpu);
		total_ns += ns;
	}
	printf("%-15s %8llu spans %8.1f ns/span wall\n", "all", (unsigned long long)stats.spans,
	       total_ns / (double)stats.spans);
	if (digest_mode) {
		printf("digest %016llx over %llu datagrams\n", (unsigned long long)digest,
		       (unsigned long long)rx_datagrams);
		if (rx_datagrams != stats.export_batches) {
			fprintf(stderr, "userbench: %llu datagrams sent, %llu received\n",
				(unsigned long long)stats.export_batches, (unsigned long long)rx_datagrams);
			bad = 1;
		}
	}
	sink__destroy_all();
	conn_table__free();
	queuehop__reset();
	alias__free();
	if (bad)
		fprintf(stderr, "userbench: FAILED\n");
	return bad;
}
