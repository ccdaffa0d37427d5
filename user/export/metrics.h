/* Prometheus metrics (--metrics-listen ADDR:PORT): GET /metrics serves the
 * profile's series (emit/profile.h) as OpenTelemetry-named histograms in the
 * Prometheus text format, spantap's own counters and process metrics.
 *
 * A small HTTP/1.1 server polled from the event loop: non-blocking sockets,
 * at most METRICS_MAX_CONNS clients, requests parsed by parse/http1 (which
 * is fuzzed), and a response written as far as the socket takes it, the
 * rest on later passes. It never waits on a client. */
#ifndef SPANTAP_METRICS_H
#define SPANTAP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_CONNS 8
#define METRICS_MAX_REQUEST 8192

/* A growable byte buffer for responses. */
struct mbuf {
	char *p;
	size_t len, cap;
	int oom;
};
void mbuf__printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mbuf__free(struct mbuf *b);

/* Listens on ADDR:PORT ("127.0.0.1:9464", "[::1]:9464", ":9464" for every
 * address); 0 or -errno, with one line on stderr saying why. */
int metrics__listen(const char *addr_port);
/* Accepts, reads and writes what is ready, without blocking; call on every
 * pass of the event loop (it looks at the sockets every 10 ms at most). */
void metrics__poll(uint64_t mono_ns);
void metrics__close(void);
/* The port listened on (the kernel's choice for port 0). */
int metrics__port(void);

/* One request at the start of req[0..len): the whole response appended to
 * out, and *close set when the connection must end after it. Returns the
 * bytes of the request consumed, -2 when more are needed, -1 when it is not
 * HTTP (out then holds a 400 response). Exposed for the fuzz target. */
int metrics__respond(const char *req, size_t len, struct mbuf *out, int *close);
/* The exposition alone. */
void metrics__expose(struct mbuf *out);

#endif
