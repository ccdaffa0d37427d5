/* Per-process span batching for the Jaeger exporters (see export_batch.h).
 * A fixed set of open batches, each a preallocated buffer: no allocation
 * per span. */
#include "export/batch.h"

#include "base/clock.h"
#include "base/procinfo.h"
#include "base/stats.h"
#include "export/export.h"
#include "span/span.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPEN 32 /* processes with a batch being filled */
#define FLUSH_NS 1000000000ULL

struct open_batch {
	uint32_t pid;
	char service[PROCINFO_SERVICE_MAX];
	/* the process as it was when the batch opened: it may exit before
	 * the batch goes */
	char exe[256];
	char tags[PROCINFO_TAGS_MAX];
	size_t tags_len;
	uint32_t n;
	size_t len, max_body;
	uint64_t opened;
	uint8_t *body;
};

struct batcher {
	enum thrift_proto proto;
	size_t max_msg;
	int envelope;
	batch_deliver_fn deliver;
	void *ctx;
	struct open_batch open[MAX_OPEN];
	uint8_t *tmp;	  /* one span, encoded */
	uint8_t *scratch; /* envelope sizing */
};

struct batcher *batcher__new(enum thrift_proto proto, size_t max_msg, int envelope, batch_deliver_fn fn, void *ctx)
{
	struct batcher *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->proto = proto;
	b->max_msg = max_msg;
	b->envelope = envelope;
	b->deliver = fn;
	b->ctx = ctx;
	b->tmp = malloc(max_msg);
	b->scratch = malloc(max_msg);
	for (int i = 0; i < MAX_OPEN; i++)
		if (!(b->open[i].body = malloc(max_msg)))
			goto nomem;
	if (!b->tmp || !b->scratch)
		goto nomem;
	return b;
nomem:
	batcher__free(b);
	errno = ENOMEM;
	return NULL;
}

void batcher__free(struct batcher *b)
{
	if (!b)
		return;
	for (int i = 0; i < MAX_OPEN; i++)
		free(b->open[i].body);
	free(b->tmp);
	free(b->scratch);
	free(b);
}

static void process_of(const struct open_batch *o, struct jaeger_process *p)
{
	p->service = o->service;
	p->pid = o->pid;
	p->hostname = export__hostname();
	p->ip = export__host_ip();
	p->exe = o->exe;
	p->tags = o->tags;
	p->tags_len = o->tags_len;
}

static void deliver(struct batcher *b, struct open_batch *o)
{
	struct jaeger_process p;

	if (!o->n)
		return;
	process_of(o, &p);
	b->deliver(b->ctx, &p, o->body, o->len, o->n);
	o->n = 0;
	o->len = 0;
}

static struct open_batch *batch_for(struct batcher *b, const struct span *s)
{
	struct open_batch *o = NULL, *oldest = NULL;
	struct jaeger_process p;
	struct thrift_w w;

	for (int i = 0; i < MAX_OPEN; i++) {
		struct open_batch *c = &b->open[i];
		if (c->n && c->pid == s->pid && strcmp(c->service, s->service) == 0)
			return c;
		if (!c->n && !o)
			o = c;
		if (c->n && (!oldest || c->opened < oldest->opened))
			oldest = c;
	}
	if (!o) {
		deliver(b, oldest);
		o = oldest;
	}
	o->pid = s->pid;
	snprintf(o->service, sizeof(o->service), "%s", s->service);
	snprintf(o->exe, sizeof(o->exe), "%s", procinfo__exe(o->pid, ""));
	const char *tags = procinfo__tags(o->pid, &o->tags_len);
	memcpy(o->tags, tags, o->tags_len);
	/* room for spans: the message less this process's envelope, less the
	 * list header's growth with the count */
	process_of(o, &p);
	thrift_w_init(&w, b->proto, b->scratch, b->max_msg);
	jaeger__encode_batch(&w, &p, NULL, 0, 0, b->envelope, INT32_MAX, INT64_MAX);
	o->max_body = b->max_msg - w.len - 8;
	o->opened = clock__mono_now();
	return o;
}

void batcher__add(struct batcher *b, const struct span *s)
{
	static const size_t limits[] = {SIZE_MAX, 1024, 128, 16};
	struct open_batch *o = batch_for(b, s);
	struct thrift_w w;
	int cut = 0;

	/* most spans go straight into the batch, whole */
	thrift_w_init(&w, b->proto, o->body + o->len, o->max_body - o->len);
	jaeger__encode_span(&w, s, SIZE_MAX);
	if (!w.overflow) {
		o->len += w.len;
		o->n++;
		return;
	}
	/* a span too big for one message loses the ends of long values */
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		thrift_w_init(&w, b->proto, b->tmp, o->max_body);
		cut = jaeger__encode_span(&w, s, limits[i]);
		if (!w.overflow)
			break;
	}
	if (w.overflow) {
		stats__add(export_dropped, 1);
		return;
	}
	stats__add(export_truncated, cut);
	if (o->len + w.len > o->max_body) {
		uint32_t pid = o->pid;
		char service[PROCINFO_SERVICE_MAX];
		size_t max_body = o->max_body;
		memcpy(service, o->service, sizeof(service));
		deliver(b, o);
		/* the slot stays this process's */
		o->pid = pid;
		memcpy(o->service, service, sizeof(service));
		o->max_body = max_body;
		o->opened = clock__mono_now();
	}
	memcpy(o->body + o->len, b->tmp, w.len);
	o->len += w.len;
	o->n++;
}

void batcher__tick(struct batcher *b)
{
	uint64_t now = clock__mono_now();

	for (int i = 0; i < MAX_OPEN; i++)
		if (b->open[i].n && now - b->open[i].opened >= FLUSH_NS)
			deliver(b, &b->open[i]);
}

void batcher__flush_all(struct batcher *b)
{
	for (int i = 0; i < MAX_OPEN; i++)
		deliver(b, &b->open[i]);
}
