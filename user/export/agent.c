/* The Jaeger agent exporter: batches become emitBatch datagrams (Thrift
 * compact on 6831 or binary on 6832) of at most 65000 bytes, sent over a
 * connected UDP socket. A peer that is down costs only the spans of the
 * datagrams it missed, counted. */
#include "export/export.h"

#include "base/log.h"
#include "base/stats.h"
#include "export/jaeger.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct agent_sink {
	struct sink base;
	int fd;
	enum thrift_proto proto;
	int32_t seqid;
	int64_t seqno;
	struct batcher *batcher;
	uint8_t out[JAEGER_MAX_DATAGRAM];
};

/* The message is written around the batch's body and sent gathered from
 * both: the body is not copied. */
static void agent_deliver(void *ctx, const struct export_process *p, const uint8_t *body, size_t len, uint32_t n)
{
	struct agent_sink *a = ctx;
	struct thrift_w w;
	struct iovec iov[3];
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 3};
	size_t at, total;
	int too_large;

	thrift_w_init(&w, a->proto, a->out, sizeof(a->out));
	at = jaeger__encode_batch_around(&w, p, n, 1, a->seqid++, a->seqno++);
	total = w.len + len;
	too_large = w.overflow || total > sizeof(a->out);
	iov[0] = (struct iovec){.iov_base = a->out, .iov_len = at};
	iov[1] = (struct iovec){.iov_base = (void *)body, .iov_len = len};
	iov[2] = (struct iovec){.iov_base = a->out + at, .iov_len = w.len - at};
	if (too_large || sendmsg(a->fd, &msg, MSG_DONTWAIT) != (ssize_t)total) {
		/* ECONNREFUSED (no agent), EAGAIN (socket full): these are lost */
		stats__add(export_dropped, n);
		pr_debug("failed to send datagram to jaeger agent: %s\n", too_large ? "too large" : strerror(errno));
		return;
	}
	stats__add(export_spans, n);
	stats__add(export_batches, 1);
}

static void agent_emit(struct sink *base, const struct span *s)
{
	batcher__add(((struct agent_sink *)base)->batcher, s);
}

static void agent_flush(struct sink *base)
{
	batcher__tick(((struct agent_sink *)base)->batcher);
}

static void agent_destroy(struct sink *base)
{
	struct agent_sink *a = (struct agent_sink *)base;

	batcher__flush_all(a->batcher);
	batcher__free(a->batcher);
	close(a->fd);
	free(a);
}

struct sink *sink_jaeger_agent__new(const char *host, const char *port, enum thrift_proto proto)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *res = NULL;
	struct agent_sink *a;
	int err, sndbuf = 4 << 20;

	err = getaddrinfo(host, port, &hints, &res);
	if (err) {
		pr_err("failed to resolve jaeger agent '%s:%s': %s\n", host, port, gai_strerror(err));
		errno = EINVAL;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		freeaddrinfo(res);
		errno = ENOMEM;
		return NULL;
	}
	a->fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (a->fd < 0 || connect(a->fd, res->ai_addr, res->ai_addrlen)) {
		err = errno;
		pr_err("failed to connect to jaeger agent '%s:%s': %s\n", host, port, strerror(err));
		goto fail;
	}
	a->proto = proto;
	a->batcher = batcher__new(jaeger__format(proto, 1), JAEGER_MAX_DATAGRAM, agent_deliver, a);
	if (!a->batcher) {
		err = ENOMEM;
		goto fail;
	}
	freeaddrinfo(res);
	/* a burst of datagrams waits here rather than being dropped */
	setsockopt(a->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	a->base.name = "jaeger-agent";
	a->base.emit = agent_emit;
	a->base.flush = agent_flush;
	a->base.destroy = agent_destroy;
	return &a->base;
fail:
	if (a->fd >= 0)
		close(a->fd);
	free(a);
	freeaddrinfo(res);
	errno = err;
	return NULL;
}
