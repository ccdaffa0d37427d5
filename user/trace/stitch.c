/* Thread -> server request in flight, in a fixed open-addressing table
 * (linear probing, tombstone-free deletion by backward shift). A thread
 * with two requests in flight (an event loop) is ambiguous and lends no
 * context: a wrong parent is worse than none. */
#include "trace/sampler.h"
#include "trace/stitch.h"

#include "base/ids.h"
#include "conn/proto.h"
#include "span/span.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_SLOTS 16384 /* power of two; threads serving requests at once */

struct slot {
	uint32_t tid; /* 0: empty */
	uint32_t inflight;
	struct pending *p; /* the request when inflight == 1 */
};

static struct slot default_table[DEFAULT_SLOTS];
static struct slot *table = default_table;
static uint32_t SLOTS = DEFAULT_SLOTS;

int stitch__init(uint32_t threads)
{
	uint32_t n = 16;
	struct slot *t;

	while (n < threads)
		n <<= 1;
	if (n == SLOTS)
		return 0;
	if (!(t = calloc(n, sizeof(*t))))
		return -1;
	if (table != default_table)
		free(table);
	table = t;
	SLOTS = n;
	return 0;
}

static uint32_t hash(uint32_t tid)
{
	return (tid * 2654435761u) & (SLOTS - 1);
}

static struct slot *find(uint32_t tid)
{
	for (uint32_t i = hash(tid), n = 0; n < SLOTS; i = (i + 1) & (SLOTS - 1), n++) {
		if (table[i].tid == tid)
			return &table[i];
		if (!table[i].tid)
			return NULL;
	}
	return NULL;
}

static struct slot *insert(uint32_t tid)
{
	for (uint32_t i = hash(tid), n = 0; n < SLOTS; i = (i + 1) & (SLOTS - 1), n++) {
		if (table[i].tid == tid || !table[i].tid) {
			table[i].tid = tid;
			return &table[i];
		}
	}
	return NULL; /* full: this request lends no context */
}

static void erase(struct slot *s)
{
	uint32_t i = (uint32_t)(s - table), j = i;

	table[i].tid = 0;
	for (;;) {
		j = (j + 1) & (SLOTS - 1);
		if (!table[j].tid)
			return;
		uint32_t k = hash(table[j].tid);
		/* move j back to i if its home is not cyclically in (i, j] */
		if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		table[i] = table[j];
		table[j].tid = 0;
		i = j;
	}
}

static void server_begin(struct pending *p, uint32_t tid)
{
	struct slot *s;

	if (p->ctx.source != TCTX_NONE) {
		/* a header wins (the kernel read it too, unless it was past
		 * its window or in a form it does not parse) */
		memcpy(p->trace_id, p->ctx.trace_id, 16);
		p->parent_id = p->ctx.span_id;
		sampler__inherited(p->trace_id, p->ctx.sampled);
	} else if (p->has_kctx) {
		/* the TCP option's context, or a new trace the kernel already
		 * sampled (a root unless linked to its client: link.c) */
		memcpy(p->trace_id, p->kctx.trace_id, 16);
		p->parent_id = p->kctx.parent_id;
		if (p->kctx.src != ST_CTX_NEW)
			sampler__inherited(p->trace_id, p->kctx.flags & ST_CTXF_SAMPLED);
	} else {
		/* a root unless linked to its client: decided there (link.c) */
		ids__trace_id(p->trace_id);
		p->parent_id = 0;
	}
	/* the kernel's span id: the one its client calls name as parent */
	p->span_id = p->has_kctx ? p->kctx.span_id : ids__span_id();
	if (!tid || !(s = insert(tid)))
		return;
	p->window_tid = tid;
	s->inflight++;
	s->p = p;
}

void stitch__request(struct pending *p, int server, uint32_t tid)
{
	if (server) {
		server_begin(p, tid);
		return;
	}
	if (p->ctx.source != TCTX_NONE) {
		/* an instrumented caller named this span: be that span */
		memcpy(p->trace_id, p->ctx.trace_id, 16);
		p->span_id = p->ctx.span_id;
		p->parent_id = p->ctx.parent_id;
		sampler__inherited(p->trace_id, p->ctx.sampled);
		return;
	}
	if (p->has_kctx) {
		/* the ids the kernel wrote in the TCP option: be that span */
		uint8_t t[16];
		uint64_t parent;

		memcpy(p->trace_id, p->kctx.trace_id, 16);
		p->span_id = p->kctx.span_id;
		p->parent_id = p->kctx.parent_id;
		/* the parent's trace as this process knows it: a header the
		 * kernel did not read may have named it */
		if (p->kctx.src == ST_CTX_INHERITED && stitch__client_parent(tid, t, &parent) == 0 &&
		    parent == p->parent_id)
			memcpy(p->trace_id, t, 16);
		return;
	}
	p->span_id = ids__span_id();
	if (stitch__client_parent(tid, p->trace_id, &p->parent_id)) {
		ids__trace_id(p->trace_id);
		if (!p->batch_kept)
			sampler__root(p->trace_id, p->ts_start);
		p->parent_id = 0;
	}
}

void stitch__apply(struct span *s, const struct pending *p)
{
	memcpy(s->trace_id, p->trace_id, 16);
	s->span_id = p->span_id;
	s->parent_id = p->parent_id;
	s->follows_id = p->follows_set ? p->follows_id : 0;
	memcpy(s->follows_trace, p->follows_trace, 16);
}

void stitch__server_end(struct pending *p)
{
	struct slot *s;

	if (!p->window_tid)
		return;
	s = find(p->window_tid);
	p->window_tid = 0;
	if (!s)
		return;
	if (--s->inflight == 0)
		erase(s);
	else if (s->p == p)
		s->p = NULL; /* the other request's pointer is not known: ambiguous */
}

int stitch__client_parent(uint32_t tid, uint8_t trace_id[16], uint64_t *parent_id)
{
	struct slot *s = find(tid);

	if (!s || s->inflight != 1 || !s->p)
		return -1;
	memcpy(trace_id, s->p->trace_id, 16);
	*parent_id = s->p->span_id;
	s->p->lent |= LENT_CHILD;
	return 0;
}
