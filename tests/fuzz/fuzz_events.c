/* libFuzzer: the whole user-space pipeline (connection table, protocol
 * modules, span assembly, stitching, Jaeger encoding, the latency profile) fed a synthetic
 * ring-buffer event stream. Each record: a few header bytes from the input
 * choose type, direction, role, protocol, connection and lengths; the rest
 * is payload. Hostile streams must never crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/ids.h"
#include "proto/sessions.h"
#include "conn/conn.h"
#include "emit/profile.h"
#include "emit/sink.h"
#include "export/jaeger.h"
#include "span/span.h"
#include "trace/alias.h"
#include "trace/queuehop.h"

static struct batcher *batcher;

static void discard(void *ctx, const struct export_process *p, const uint8_t *b, size_t len, uint32_t n)
{
	(void)ctx, (void)p, (void)b, (void)len, (void)n;
}

static void to_batcher(struct sink *s, const struct span *sp)
{
	(void)s;
	batcher__add(batcher, sp);
}

static struct sink jaeger_sink = {.name = "fuzz", .emit = to_batcher};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct alias_limits alim = {.max_traces = 64, .max_held = 4};
	struct conn_limits lim = {
		.max_conns = 16, .max_pending = 64, .max_reasm = 4, .reasm_size = 4096, .max_pending_per_conn = 16};

	(void)argc, (void)argv;
	ids__init();
	clock__sync();
	if (conn_table__init(&lim) || alias__init(&alim))
		abort();
	sessions__register();
	batcher = batcher__new(jaeger__format(THRIFT_COMPACT, 1), 65000, discard, NULL);
	sink__add(&jaeger_sink);
	/* the latency profile too, with the live view's windows, and few
	 * series: overflow reached */
	struct sink *prof = profile__new(16, 1);
	if (!prof || sink__add(prof))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t rec[sizeof(struct st_event_hdr) + ST_CAPTURE_MAX];
	struct st_event_hdr *h = (struct st_event_hdr *)rec;
	uint64_t ts = 1000000;

	while (size >= 6) {
		uint16_t cap = (uint16_t)(data[4] | data[5] << 8) % 600;
		int gap = data[1] & 0x20, tick = data[1] & 0x40, late = data[0] & 0x80;

		memset(h, 0, sizeof(*h));
		h->type = 1 + data[0] % 3;
		h->dir = data[1] & 1;
		h->role = 1 + ((data[1] >> 1) & 1);
		h->proto = 1 + ((data[1] >> 2) & 1);
		h->flags = (data[1] >> 3) & 3;
		h->family = 4;
		h->tgid = 1; /* one process: /proc stays out of the loop */
		h->tid = 1 + (data[2] & 3);
		h->conn_id = 1 + (data[3] & 7);
		/* connections 2k-1 and 2k are the two ends of one TCP connection */
		h->lport = h->conn_id & 1 ? 80 : (uint16_t)(1000 + h->conn_id / 2);
		h->rport = h->conn_id & 1 ? (uint16_t)(1000 + (h->conn_id + 1) / 2) : 80;
		h->laddr[0] = h->raddr[0] = 127;
		h->laddr[3] = h->raddr[3] = 1;
		data += 6;
		size -= 6;
		if (cap > size)
			cap = (uint16_t)size;
		h->cap_len = h->flags & ST_F_NO_DATA ? 0 : cap;
		/* some syscalls moved more than was captured */
		h->len = (uint64_t)cap + (gap ? (uint64_t)cap * 1000 + 1 : 0);
		h->ts_enter = ts;
		h->ts_exit = ts += 1000;
		memcpy(rec + sizeof(*h), data, h->cap_len);
		conn_table__handle(rec, sizeof(*h) + h->cap_len);
		data += cap;
		size -= cap;
		if (tick) {
			conn_table__tick(ts + 5000000000ULL);
			alias__tick(ts + (late ? 5000000000ULL : 0));
		}
	}
	/* every run starts from an empty table, and nothing may leak */
	conn_table__close_all();
	alias__flush();
	queuehop__reset();
	if (alias__entries() || alias__held())
		abort(); /* a provisional trace outlived everything naming it */
	batcher__flush_all(batcher);
	return 0;
}
