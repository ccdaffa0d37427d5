/* Request lifecycle (see exchange.h): conn/'s queue plus the trace stage's
 * bookkeeping, in the order the tracer needs it. */
#include "proto/exchange.h"
#include "proto/sessions.h"

#include "base/stats.h"
#include "conn/conn.h"
#include "trace/alias.h"
#include "trace/link.h"
#include "trace/stitch.h"

#include <stddef.h>

void exchange__conn_new(const struct conn *c)
{
	link__conn_new(c);
}

void exchange__start(struct conn *c, struct pending *p)
{
	/* the first request of the bytes the kernel fixed a context for;
	 * requests pipelined behind it get ids in user space */
	if (c->kctx_valid) {
		p->kctx = c->kctx;
		p->has_kctx = 1;
		c->kctx_valid = 0;
		if (c->kbatch == KBATCH_NEW_ROOT)
			stats.batch_roots++;
	} else if (c->kbatch) {
		/* the kernel's decision covers its whole batch: it left out
		 * the batches it did not sample, whole (bpf/ctx.bpf.h) */
		p->batch_kept = 1;
		if (c->kbatch == KBATCH_NEW_ROOT)
			stats.batch_followers++;
	}
	stitch__request(p, c->role != ST_ROLE_CLIENT, p->tid);
	link__request(c, p);
}

struct pending *exchange__pop(struct conn *c)
{
	struct pending *p = pending__pop(c);

	if (p)
		link__pending_out(c, p);
	return p;
}

void exchange__end(struct pending *p)
{
	if (!p)
		return;
	stitch__server_end(p);
	alias__unref(p);
	pending__free(p);
}

void exchange__drop_all(struct conn *c)
{
	struct pending *p;

	while ((p = exchange__pop(c)))
		exchange__end(p);
}

void sessions__register(void)
{
	conn_table__set_proto(ST_PROTO_HTTP1, &proto_http1);
	conn_table__set_proto(ST_PROTO_REDIS, &proto_redis);
}
