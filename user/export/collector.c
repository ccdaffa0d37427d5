/* The Jaeger collector exporter: batches as bare Thrift-binary Batch bodies
 * POSTed to /api/traces through the shared HTTP queue (httpq.h: a sender
 * thread, bounded queue, retries with backoff, gzip, counters). */
#include "export/export.h"

#include "base/log.h"
#include "base/stats.h"
#include "export/httpq.h"
#include "export/jaeger.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_BATCH (256 << 10) /* one request's spans */
#define MAX_AROUND 16384      /* a Batch without its spans: the Process */

struct collector_sink {
	struct sink base;
	struct batcher *batcher;
	struct httpq *q;
	uint8_t around[MAX_AROUND];
};

/* The Batch is written around the spans' bytes; the queue copies both. */
static void collector_deliver(void *ctx, const struct export_process *p, const uint8_t *body, size_t len, uint32_t n)
{
	struct collector_sink *c = ctx;
	struct thrift_w w;
	size_t at;

	thrift_w_init(&w, THRIFT_BINARY, c->around, sizeof(c->around));
	at = jaeger__encode_batch_around(&w, p, n, 0, 0, 0);
	if (w.overflow) {
		stats__add(export_dropped, n);
		return;
	}
	struct iovec iov[3] = {
		{.iov_base = c->around, .iov_len = at},
		{.iov_base = (void *)body, .iov_len = len},
		{.iov_base = c->around + at, .iov_len = w.len - at},
	};
	httpq__push(c->q, iov, 3, n);
}

static void collector_emit(struct sink *base, const struct span *s)
{
	batcher__add(((struct collector_sink *)base)->batcher, s);
}

static void collector_flush(struct sink *base)
{
	batcher__tick(((struct collector_sink *)base)->batcher);
}

static void collector_destroy(struct sink *base)
{
	struct collector_sink *c = (struct collector_sink *)base;

	batcher__flush_all(c->batcher);
	httpq__free(c->q);
	batcher__free(c->batcher);
	free(c);
}

struct sink *sink_jaeger_collector__new(const char *url, int gzip)
{
	struct httpq_opts o = {
		.what = "jaeger collector",
		.url = url,
		.content_type = "application/vnd.apache.thrift.binary",
		.gzip = gzip,
	};
	struct collector_sink *c;

	if (export__check_url(url)) {
		fprintf(stderr,
			"spantap: invalid Jaeger collector URL '%s': expected http[s]://HOST[:PORT]/api/traces\n", url);
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->batcher = batcher__new(jaeger__format(THRIFT_BINARY, 0), MAX_BATCH, collector_deliver, c);
	if (!c->batcher) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->q = httpq__new(&o);
	if (!c->q) {
		int err = errno;
		batcher__free(c->batcher);
		free(c);
		errno = err;
		return NULL;
	}
	c->base.name = "jaeger-collector";
	c->base.emit = collector_emit;
	c->base.flush = collector_flush;
	c->base.destroy = collector_destroy;
	return &c->base;
}
