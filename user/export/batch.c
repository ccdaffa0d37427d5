/* Per-process span batching for the exporters (see batch.h), whatever
 * their wire format. A fixed set of open batches, each a preallocated
 * buffer: no allocation per span. */
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

#define BATCH_MAX_ATTRS 32 /* container.*, k8s.*, OTEL_RESOURCE_ATTRIBUTES */

struct open_batch {
	uint32_t pid;
	char service[PROCINFO_SERVICE_MAX];
	/* the process as it was when the batch opened: it may exit before
	 * the batch goes */
	char exe[256];
	char tags[PROCINFO_TAGS_MAX];
	size_t tags_len;
	/* the tags as attributes: pointers into tags */
	struct export_attr attrs[BATCH_MAX_ATTRS];
	uint32_t nattrs;
	uint32_t n;
	size_t len, max_body;
	uint64_t opened;
	uint8_t *body;
};

struct batcher {
	const struct batch_format *fmt;
	size_t max_msg;
	batch_deliver_fn deliver;
	void *ctx;
	struct open_batch open[MAX_OPEN];
	uint8_t *tmp;	  /* one span, encoded */
	uint8_t *scratch; /* envelope sizing */
};

struct batcher *batcher__new(const struct batch_format *f, size_t max_msg, batch_deliver_fn fn, void *ctx)
{
	struct batcher *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->fmt = f;
	b->max_msg = max_msg;
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

static void process_of(const struct open_batch *o, struct export_process *p)
{
	p->service = o->service;
	p->pid = o->pid;
	p->hostname = export__hostname();
	p->ip = export__host_ip();
	p->exe = o->exe;
	p->attrs = o->attrs;
	p->nattrs = o->nattrs;
}

static void deliver(struct batcher *b, struct open_batch *o)
{
	struct export_process p;

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
	struct export_process p;

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
	o->nattrs = 0;
	for (size_t i = 0; i < o->tags_len && o->nattrs < BATCH_MAX_ATTRS;) {
		const char *k = o->tags + i, *v = k + strlen(k) + 1;

		if ((size_t)(v - o->tags) >= o->tags_len)
			break;
		o->attrs[o->nattrs++] = (struct export_attr){.key = k, .value = v};
		i = (size_t)(v - o->tags) + strlen(v) + 1;
	}
	/* room for spans: the message less this process's envelope, less the
	 * list header's growth with the count */
	process_of(o, &p);
	o->max_body = b->max_msg - b->fmt->overhead(b->fmt, &p, b->scratch, b->max_msg) - 8;
	o->opened = clock__mono_now();
	return o;
}

void batcher__add(struct batcher *b, const struct span *s)
{
	static const size_t limits[] = {SIZE_MAX, 1024, 128, 16};
	struct open_batch *o = batch_for(b, s);
	const struct batch_format *f = b->fmt;
	size_t len;
	int cut = 0;

	/* most spans go straight into the batch, whole */
	len = f->span(f, o->body + o->len, o->max_body - o->len, s, SIZE_MAX, &cut);
	if (len) {
		o->len += len;
		o->n++;
		return;
	}
	/* a span too big for one message loses the ends of long values */
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		cut = 0;
		len = f->span(f, b->tmp, o->max_body, s, limits[i], &cut);
		if (len)
			break;
	}
	if (!len) {
		stats__add(export_dropped, 1);
		return;
	}
	stats__add(export_truncated, cut);
	if (o->len + len > o->max_body) {
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
	memcpy(o->body + o->len, b->tmp, len);
	o->len += len;
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
