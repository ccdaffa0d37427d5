/* The Jaeger agent exporter: spans grouped per process into emitBatch
 * datagrams (Thrift compact on 6831 or binary on 6832), each at most 65000
 * bytes, sent over a connected UDP socket at least once a second. A peer
 * that is down costs only the spans of the datagrams it missed, counted. */
#include "export.h"

#include "jaeger.h"
#include "log.h"
#include "procinfo.h"
#include "span.h"
#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_OPEN 32 /* processes with a batch being filled */
#define FLUSH_NS 1000000000ULL

struct open_batch {
	uint32_t pid; /* 0: slot free */
	char service[PROCINFO_SERVICE_MAX];
	uint32_t n;
	size_t len, max_body;
	uint64_t opened;
	uint8_t body[JAEGER_MAX_DATAGRAM];
};

struct agent_sink {
	struct sink base;
	int fd;
	enum thrift_proto proto;
	int32_t seqid;
	int64_t seqno;
	struct open_batch *batches; /* MAX_OPEN */
	uint8_t out[JAEGER_MAX_DATAGRAM + 1024];
	uint8_t tmp[JAEGER_MAX_DATAGRAM + 1024];
};

static void process_of(const struct open_batch *b, struct jaeger_process *p)
{
	p->service = b->service;
	p->pid = b->pid;
	p->hostname = export__hostname();
	p->ip = export__host_ip();
	p->exe = procinfo__exe(b->pid, "");
}

static void batch_flush(struct agent_sink *a, struct open_batch *b)
{
	struct jaeger_process p;
	struct thrift_w w;

	if (!b->n)
		return;
	process_of(b, &p);
	thrift_w_init(&w, a->proto, a->out, JAEGER_MAX_DATAGRAM);
	jaeger__encode_batch(&w, &p, b->body, b->len, b->n, 1, a->seqid++, a->seqno++);
	if (w.overflow || send(a->fd, a->out, w.len, MSG_DONTWAIT) != (ssize_t)w.len) {
		/* ECONNREFUSED (no agent), EAGAIN (socket full): these are lost */
		stats.export_dropped += b->n;
		pr_debug("failed to send datagram to jaeger agent: %s\n", w.overflow ? "too large" : strerror(errno));
	} else {
		stats.export_spans += b->n;
		stats.export_batches++;
	}
	b->n = 0;
	b->len = 0;
}

static struct open_batch *batch_for(struct agent_sink *a, const struct span *s)
{
	struct open_batch *free_slot = NULL, *oldest = NULL;

	for (int i = 0; i < MAX_OPEN; i++) {
		struct open_batch *b = &a->batches[i];
		if (b->pid == s->pid && strcmp(b->service, s->service) == 0)
			return b;
		if (!b->n && !free_slot)
			free_slot = b;
		if (b->n && (!oldest || b->opened < oldest->opened))
			oldest = b;
	}
	if (!free_slot) {
		batch_flush(a, oldest);
		free_slot = oldest;
	}
	struct open_batch *b = free_slot;
	struct jaeger_process p;
	struct thrift_w w;

	b->pid = s->pid;
	snprintf(b->service, sizeof(b->service), "%s", s->service);
	b->n = 0;
	b->len = 0;
	/* room for spans: the datagram less this process's envelope, less the
	 * list header's growth with the count */
	process_of(b, &p);
	thrift_w_init(&w, a->proto, a->out, sizeof(a->out));
	jaeger__encode_batch(&w, &p, NULL, 0, 0, 1, INT32_MAX, INT64_MAX);
	b->max_body = JAEGER_MAX_DATAGRAM - w.len - 8;
	return b;
}

static void agent_emit(struct sink *base, const struct span *s)
{
	static const size_t limits[] = {SIZE_MAX, 1024, 128, 16};
	struct agent_sink *a = (struct agent_sink *)base;
	struct open_batch *b = batch_for(a, s);
	struct thrift_w w;
	int cut = 0;

	/* a span too big for one datagram loses the ends of long values */
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		thrift_w_init(&w, a->proto, a->tmp, b->max_body);
		cut = jaeger__encode_span(&w, s, limits[i]);
		if (!w.overflow)
			break;
	}
	if (w.overflow) {
		stats.export_dropped++;
		return;
	}
	stats.export_truncated += (uint64_t)cut;
	if (b->len + w.len > b->max_body)
		batch_flush(a, b);
	if (!b->n)
		b->opened = clock__mono_now();
	memcpy(b->body + b->len, a->tmp, w.len);
	b->len += w.len;
	b->n++;
}

static void agent_flush(struct sink *base)
{
	struct agent_sink *a = (struct agent_sink *)base;
	uint64_t now = clock__mono_now();

	for (int i = 0; i < MAX_OPEN; i++)
		if (a->batches[i].n && now - a->batches[i].opened >= FLUSH_NS)
			batch_flush(a, &a->batches[i]);
}

static void agent_destroy(struct sink *base)
{
	struct agent_sink *a = (struct agent_sink *)base;

	for (int i = 0; i < MAX_OPEN; i++)
		batch_flush(a, &a->batches[i]);
	close(a->fd);
	free(a->batches);
	free(a);
}

struct sink *sink_jaeger_agent__new(const char *host, const char *port, enum thrift_proto proto)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *res = NULL;
	struct agent_sink *a = NULL;
	int err, sndbuf = 4 << 20;

	err = getaddrinfo(host, port, &hints, &res);
	if (err) {
		pr_err("failed to resolve jaeger agent '%s:%s': %s\n", host, port, gai_strerror(err));
		errno = EINVAL;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a || !(a->batches = calloc(MAX_OPEN, sizeof(*a->batches))))
		goto nomem;
	a->fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (a->fd < 0 || connect(a->fd, res->ai_addr, res->ai_addrlen)) {
		err = errno;
		pr_err("failed to connect to jaeger agent '%s:%s': %s\n", host, port, strerror(err));
		if (a->fd >= 0)
			close(a->fd);
		free(a->batches);
		free(a);
		freeaddrinfo(res);
		errno = err;
		return NULL;
	}
	freeaddrinfo(res);
	/* a burst of datagrams waits here rather than being dropped */
	setsockopt(a->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	a->proto = proto;
	a->base.name = "jaeger-agent";
	a->base.emit = agent_emit;
	a->base.flush = agent_flush;
	a->base.destroy = agent_destroy;
	return &a->base;
nomem:
	if (a)
		free(a->batches);
	free(a);
	freeaddrinfo(res);
	errno = ENOMEM;
	return NULL;
}
