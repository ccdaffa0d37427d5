/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Trace context fixed in the kernel. When a request's first bytes move, the
 * ids of the span it makes are decided here, so that the TCP option written
 * with those bytes (sockops.bpf.h) names that span on the wire:
 *   - a server request continues the context of a traceparent, uber-trace-id
 *     or b3 header in its first bytes, else of the TCP option its first
 *     segment carried, else starts a new trace;
 *   - a client request made while its thread serves exactly one request is
 *     that request's child, else it starts a new trace.
 * A new trace is sampled here too (ratio, then a rate limit), so that the
 * decision travels with the context. User space adopts these ids. */
#ifndef CTX_BPF_H
#define CTX_BPF_H

#define NS_PER_SEC 1000000000ULL
/* request bytes searched for a trace-context header */
#define HDR_SCAN 512 /* a power of two */

static __always_inline __u64 rand64(void)
{
	__u64 v = ((__u64)bpf_get_prandom_u32() << 32) | bpf_get_prandom_u32();

	return v ? v : 1;
}

/* Head sampling of a new trace (the rule of user/trace/sampler.c): the
 * ratio first, then a token bucket shared by every CPU. Two CPUs taking a
 * token at once may both get it: a rate limit, not an exact count. */
static __always_inline bool sample_root(__u64 now)
{
	__u32 zero = 0;
	struct sample_tokens *b;
	__u64 cap, cost;

	if (targ_sample_below < (1ULL << 32) && bpf_get_prandom_u32() >= targ_sample_below)
		return false;
	if (!targ_max_tps)
		return true;
	b = bpf_map_lookup_elem(&sample_bucket, &zero);
	if (!b)
		return true;
	cap = targ_max_tps * NS_PER_SEC; /* a burst of one second's worth */
	if (!b->last) {
		b->tokens = cap;
	} else if (now > b->last) {
		__u64 dt = now - b->last;

		if (dt > NS_PER_SEC)
			dt = NS_PER_SEC;
		b->tokens += dt * targ_max_tps;
		if (b->tokens > cap)
			b->tokens = cap;
	}
	if (now > b->last)
		b->last = now;
	/* a root costs the traces it turns into in user space (a pipelined
	 * batch is one root here): sample_cost256, in 256ths */
	cost = (NS_PER_SEC / 256) * (sample_cost256 & 0x3ffff);
	if (cost < NS_PER_SEC)
		cost = NS_PER_SEC;
	if (b->tokens < cost)
		return false;
	b->tokens -= cost;
	return true;
}

/* New trace ids; one left out by the sampler carries the mark user space
 * recognises (a keyed hash of its first 12 bytes in its last 4). */
static __always_inline void new_trace(struct st_trace_ctx *c, __u64 now)
{
	__u64 a = rand64(), m;
	__u32 b = bpf_get_prandom_u32(), mark;

	__builtin_memcpy(c->trace_id, &a, 8);
	__builtin_memcpy(c->trace_id + 8, &b, 4);
	mark = st_sample_mark(a, b, targ_mark_key0, targ_mark_key1);
	c->parent_id = 0;
	c->src = ST_CTX_NEW;
	if (sample_root(now)) {
		c->flags = ST_CTXF_SAMPLED;
		m = bpf_get_prandom_u32();
		if ((__u32)m == mark)
			m ^= 1; /* the mark drawn by chance: not left out */
	} else {
		c->flags = 0;
		m = mark;
		count(ST_C_ROOTS_SKIPPED, 1);
	}
	__builtin_memcpy(c->trace_id + 12, &m, 4);
}

/* --- trace-context headers, read from a server request's first bytes --- */

/* an offset into an event's data, bounded for the verifier */
#define IDX(i) ((i) & (2 * ST_CAPTURE_MAX - 1))

/* a hex digit's value plus one, 0 for anything else: a load, not three
 * branches, per character (the verifier walks every branch of every
 * iteration) */
#define HX(c) [c] = (c) - '0' + 1
#define HL(c) [c] = (c) - 'a' + 11
#define HU(c) [c] = (c) - 'A' + 11
static const __u8 hex_tab[256] = {
	HX('0'), HX('1'), HX('2'), HX('3'), HX('4'), HX('5'), HX('6'), HX('7'), HX('8'), HX('9'), HL('a'),
	HL('b'), HL('c'), HL('d'), HL('e'), HL('f'), HU('A'), HU('B'), HU('C'), HU('D'), HU('E'), HU('F'),
};

/* Up to max hex digits at d[p...] into hi:lo (right-aligned, as a shorter
 * id is left-padded); the number of digits read, stopping at a non-digit. */
static __always_inline __u32 hex_run(const __u8 *d, __u32 p, __u32 max, __u64 *hi, __u64 *lo)
{
	__u64 h = 0, l = 0;
	__u32 i;

	for (i = 0; i < 32; i++) {
		__u8 v;

		if (i >= max)
			break;
		v = hex_tab[d[IDX(p + i)]];
		if (!v)
			break;
		h = (h << 4) | (l >> 60);
		l = (l << 4) | (__u64)(v - 1);
	}
	*hi = h;
	*lo = l;
	return i;
}

static __always_inline void put_be64(__u8 *out, __u64 v)
{
	v = __builtin_bswap64(v);
	__builtin_memcpy(out, &v, 8);
}

/* v through map memory: the verifier forgets its exact value, so the paths
 * after a variable-length field merge instead of multiplying */
static __always_inline __u32 forget(struct st_trace_ctx *c, __u32 v)
{
	*(volatile __u64 *)&c->span_id = v;
	return (__u32) * (volatile __u64 *)&c->span_id & (2 * ST_CAPTURE_MAX - 1);
}

/* The value of a header at d[p...] (n bytes in d): traceparent (kind 3),
 * uber-trace-id (2) or b3 (1) into c; false when it is not a valid
 * context. The rules of user/parse/tracectx.c, minus URL-encoded values. */
static __noinline bool parse_ctx_value(const __u8 *d, __u32 p, __u32 n, __u32 kind, struct st_trace_ctx *c)
{
	__u64 thi, tlo, slo, x, y;
	__u32 k;
	bool sampled;

	for (k = 0; k < 4; k++) { /* optional whitespace */
		__u8 ch = d[IDX(p)];
		if (ch != ' ' && ch != '\t')
			break;
		p++;
	}
	if (p >= n || p > 2 * ST_CAPTURE_MAX - 128)
		return false;
	if (kind == 3) {
		/* 00-<32 hex>-<16 hex>-<2 hex>; version ff is invalid */
		if (hex_run(d, p, 2, &x, &y) != 2 || y == 0xff || d[IDX(p + 2)] != '-')
			return false;
		if (hex_run(d, p + 3, 32, &thi, &tlo) != 32 || d[IDX(p + 35)] != '-')
			return false;
		if (hex_run(d, p + 36, 16, &x, &slo) != 16 || d[IDX(p + 52)] != '-')
			return false;
		if (hex_run(d, p + 53, 2, &x, &y) != 2)
			return false;
		sampled = y & 1;
	} else if (kind == 2) {
		/* {trace}:{span}:{parent}:{flags}, 1-32 and 1-16 hex digits */
		k = hex_run(d, p, 32, &thi, &tlo);
		if (!k || d[IDX(p + k)] != ':')
			return false;
		p = forget(c, p + k + 1);
		k = hex_run(d, p, 16, &x, &slo);
		if (!k || d[IDX(p + k)] != ':')
			return false;
		p = forget(c, p + k + 1);
		k = hex_run(d, p, 16, &x, &y); /* the sender's parent */
		if (d[IDX(p + k)] != ':')
			return false;
		p = forget(c, p + k + 1);
		if (!hex_run(d, p, 2, &x, &y))
			return false;
		sampled = y & 1;
	} else {
		/* {trace}-{span}[-{sampled}[-{parent}]], a 16 or 32 digit trace */
		k = hex_run(d, p, 32, &thi, &tlo);
		if ((k != 16 && k != 32) || d[IDX(p + k)] != '-')
			return false;
		p += k + 1;
		if (hex_run(d, p, 16, &x, &slo) != 16)
			return false;
		sampled = !(d[IDX(p + 16)] == '-' && d[IDX(p + 17)] == '0');
	}
	if ((!thi && !tlo) || !slo)
		return false;
	put_be64(c->trace_id, thi);
	put_be64(c->trace_id + 8, tlo);
	c->parent_id = slo;
	c->src = ST_CTX_HEADER;
	c->flags = sampled ? ST_CTXF_SAMPLED : 0;
	return true;
}

#define LE8(a, b, c, d, e, f, g, h)                                                                                 \
	((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24 | (__u64)(e) << 32 | (__u64)(f) << 40 | \
	 (__u64)(g) << 48 | (__u64)(h) << 56)
#define LOWER8 0x2020202020202020ULL

/* Where a trace-context header starts among the first HDR_SCAN bytes of a
 * request head (n bytes at d), into c->src (its kind; 0: none) and
 * c->parent_id (its value's offset): traceparent wins over uber-trace-id
 * over b3, as in user space. Lines are found 8 bytes at a time; only a line
 * start is compared. For the verifier: the results live in map memory, whose
 * values it does not track, the inner loop always runs to its end, and the
 * caller's state is the same however this returns, so that paths merge
 * instead of multiplying (one state per line start would not load). */
static const __u8 debruijn64[64] = {
	0,  1,	48, 2,	57, 49, 28, 3,	61, 58, 50, 42, 38, 29, 17, 4,	62, 55, 59, 36, 53, 51,
	43, 22, 45, 39, 33, 30, 24, 18, 12, 5,	63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21,
	44, 32, 23, 11, 46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9,	13, 8,	7,  6,
};

static __noinline void header_scan(const __u8 *d, __u32 n, struct st_trace_ctx *c)
{
	volatile __u64 *lim = &c->span_id, *pos = &c->parent_id;
	volatile __u8 *best = &c->src;

	*lim = n < HDR_SCAN ? n : HDR_SCAN;
	*best = 0;
	*pos = 0;
	for (__u32 w = 0; w < HDR_SCAN / 8; w++) {
		__u32 off = w * 8;
		__u64 x, y, m;

		if (off >= *lim)
			break;
		x = *(const __u64 *)(d + off);
		y = x ^ 0x0a0a0a0a0a0a0a0aULL;
		/* 0x80 in each byte of x that is '\n', exactly */
		m = ~(((y & 0x7f7f7f7f7f7f7f7fULL) + 0x7f7f7f7f7f7f7f7fULL) | y | 0x7f7f7f7f7f7f7f7fULL);
		/* at most two line starts in 8 bytes: a header line is longer */
		for (__u32 k = 0; k < 2; k++) {
			__u32 p, kind = 0, hl = 0;
			__u64 h, t;

			if (!m)
				break;
			/* the lowest '\n': its bit index by de Bruijn multiply */
			p = off + (debruijn64[((m & -m) * 0x03f79d71b4cb0a89ULL) >> 58] >> 3) + 1;
			m &= m - 1;
			if (p + 16 > *lim)
				break;
			h = *(const __u64 *)(d + (p & (2 * HDR_SCAN - 1))) | LOWER8;
			t = *(const __u64 *)(d + (p & (2 * HDR_SCAN - 1)) + 8) | LOWER8;
			if (h == LE8('t', 'r', 'a', 'c', 'e', 'p', 'a', 'r') &&
			    (t & 0xffffffff) == LE8('e', 'n', 't', ':', 0, 0, 0, 0))
				kind = 3, hl = 12;
			else if (h == LE8('u', 'b', 'e', 'r', '-', 't', 'r', 'a') &&
				 (t & 0xffffffffffffULL) == LE8('c', 'e', '-', 'i', 'd', ':', 0, 0))
				kind = 2, hl = 14;
			else if ((h & 0xffffff) == LE8('b', '3', ':', 0, 0, 0, 0, 0))
				kind = 1, hl = 3;
			if (kind > *best) {
				*best = kind;
				*pos = p + hl;
			}
		}
	}
}

/* A trace-context header in a request head's first bytes, into c. */
static __noinline bool header_ctx(const __u8 *d, __u32 n, struct st_trace_ctx *c)
{
	__u32 best, pos;

	header_scan(d, n, c);
	best = c->src;
	pos = (__u32)c->parent_id & (2 * HDR_SCAN - 1);
	if (!best)
		return false;
	return parse_ctx_value(d, pos, forget(c, n), best, c);
}

/* --- the request a thread is serving --- */

/* ci's request was answered (its response started) or ci is gone. */
static __always_inline void window_close(struct conn_info *ci)
{
	struct serving *s;

	if (!ci->win_tid)
		return;
	s = bpf_map_lookup_elem(&serving, &ci->win_tid);
	if (s) {
		if (s->conn_id == ci->conn_id)
			s->valid = 0; /* the one named is over: ambiguous until all are */
		if (s->inflight)
			s->inflight--;
	}
	ci->win_tid = 0;
}

/* the thread's entry, made once (kept until the thread exits) */
static const struct serving serving_zero;

static __always_inline void window_open(struct conn_info *ci, __u32 tid, const struct st_trace_ctx *c)
{
	struct serving *s;

	if (ci->win_tid && ci->win_tid != tid)
		window_close(ci); /* the connection moved to another thread */
	s = bpf_map_lookup_elem(&serving, &tid);
	if (!s) {
		bpf_map_update_elem(&serving, &tid, &serving_zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&serving, &tid);
		if (!s)
			return;
	}
	if (ci->win_tid != tid)
		s->inflight++; /* a request of another connection: counted once */
	s->ctx = *c;
	s->conn_id = ci->conn_id;
	s->valid = 1;
	ci->win_tid = tid;
}

/* A server request's first bytes (ncap of them in e->data) were read:
 * false when they are the rest of the client's last write (below). */
static __always_inline bool server_ctx(struct event_buf *e, struct conn_info *ci, __u32 ncap, __u32 tid, __u64 now,
				       bool scan)
{
	struct st_trace_ctx *c = &e->h.ctx;
	struct tcp_opt *o = NULL;

	if (ci->sk)
		o = bpf_map_lookup_elem(&opt_in, &ci->sk);
	if (scan && ci->proto == ST_PROTO_HTTP1 && header_ctx(e->data, ncap, c)) {
		count(ST_C_CTX_HEADER, 1);
	} else if (o) {
		__u64 span;

		__builtin_memcpy(c->trace_id, o->b + 2, 16);
		__builtin_memcpy(&span, o->b + 18, 8);
		c->parent_id = __builtin_bswap64(span);
		c->src = ST_CTX_OPTION;
		c->flags = o->b[1] == ST_TCPOPT_LEN_SHORT || (o->b[26] & 1) ? ST_CTXF_SAMPLED : 0;
	} else if (ci->opt_seen) {
		/* a client that sends the option sent none: these bytes are
		 * the rest of its last write (a pipelined batch the server
		 * reads in parts), under that write's context and sampling */
		window_open(ci, tid, &ci->ctx);
		return false;
	} else {
		new_trace(c, now);
		count(ST_C_NO_CTX, 1);
	}
	if (o) {
		count(ST_C_OPT_READ, 1);
		bpf_map_delete_elem(&opt_in, &ci->sk);
		ci->opt_seen = 1;
	}
	c->span_id = rand64();
	ci->ctx = *c;
	window_open(ci, tid, c);
	return true;
}

/* A client request starts (its write entered, or exited when its entry was
 * not seen): its ids, and its TCP option for the segment that carries it. */
static __always_inline void client_ctx(struct conn_info *ci, __u32 tid, __u64 now, bool option)
{
	struct serving *s = bpf_map_lookup_elem(&serving, &tid);
	struct st_trace_ctx *c = &ci->ctx;

	if (s && s->inflight == 1 && s->valid) {
		__builtin_memcpy(c->trace_id, s->ctx.trace_id, 16);
		c->parent_id = s->ctx.span_id;
		c->src = ST_CTX_INHERITED;
		c->flags = s->ctx.flags & ST_CTXF_SAMPLED;
	} else {
		new_trace(c, now);
	}
	c->span_id = rand64();
	ci->ctx_set = 1;
	if (option && targ_propagate && ci->sk) {
		c->flags |= ST_CTXF_OPTION;
		if (bpf_map_update_elem(&opt_out, &ci->sk, c, BPF_ANY))
			c->flags &= ~ST_CTXF_OPTION;
	}
}

/* e (header filled, ncap bytes in e->data) starts a message on ci: the
 * context of the request it starts goes with it; a response start ends
 * its request's window. scan: a constant, false in the programs that never
 * read a request head (writes, recvmmsg), which the verifier then walks
 * without the header scan: loading stays fast. */
static __noinline void start_ctx(struct event_buf *e, struct conn_info *ci, __u32 ncap, __u32 tid, bool scan)
{
	__u64 now = e->h.ts_exit;

	if (ci->role == ST_ROLE_SERVER) {
		if (e->h.dir == ST_DIR_INGRESS) {
			if (server_ctx(e, ci, ncap, tid, now, scan))
				e->h.flags |= ST_F_CTX;
		} else {
			window_close(ci);
		}
	} else if (ci->role == ST_ROLE_CLIENT && e->h.dir == ST_DIR_EGRESS) {
		if (!ci->ctx_set)
			client_ctx(ci, tid, now, false);
		e->h.ctx = ci->ctx;
		ci->ctx_set = 0;
		e->h.flags |= ST_F_CTX;
	}
}

/* An exchange of a trace not sampled is left out whole in the kernel:
 * nothing copied past the request's first read or write, no record. The
 * decision is the request start's (e->h.ctx, fixed by start_ctx); the
 * reads and writes after it follow it until the next request starts, and
 * the first event sent after it says that some were left out (user space
 * resumes at that message's start, as after a loss). */
static __always_inline bool sampled_out(struct event_buf *e, struct conn_info *ci)
{
	if (e->h.flags & ST_F_CTX)
		ci->skip = !(e->h.ctx.flags & ST_CTXF_SAMPLED);
	if (ci->skip) {
		if (e->h.flags & ST_F_CTX)
			count(ST_C_SKIP_EXCH, 1);
		count(ST_C_SKIP_BYTES, e->h.len);
		ci->skipped = 1;
		return true;
	}
	if (ci->skipped) {
		e->h.flags |= ST_F_SKIPPED;
		ci->skipped = 0;
	}
	return false;
}

/* Is a message starting in direction dir on ci a request? */
static __always_inline bool request_dir(const struct conn_info *ci, __u8 dir)
{
	return ci->role == ST_ROLE_SERVER ? dir == ST_DIR_INGRESS : ci->role == ST_ROLE_CLIENT && dir == ST_DIR_EGRESS;
}

/* A read or write on ci while its exchange is left out (sampled_out), seen
 * before anything is copied: true when it is left out too. A response's
 * start still ends its request's window. */
static __always_inline bool skipping(struct conn_info *ci, __u8 dir, bool start, __u64 len)
{
	if (!ci->skip || (start && request_dir(ci, dir)))
		return false;
	if (start && ci->role == ST_ROLE_SERVER)
		window_close(ci);
	count(ST_C_SKIP_BYTES, len);
	return true;
}

#endif
