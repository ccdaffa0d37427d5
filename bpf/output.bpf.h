/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Getting events to user space: this CPU's ring buffer, wakeups, counters,
 * and the deferral of a server's request start until the next event of its
 * connection, so that an exchange is one record. */
#ifndef OUTPUT_BPF_H
#define OUTPUT_BPF_H

/* Wakeups (see targ_wakeup_bytes), counted per CPU: asking the ring how
 * much is waiting touches a cache line the reader writes, on every event. */
static __always_inline __u64 rb_flags(__u32 size)
{
	__u32 zero = 0;
	__u64 *acc = bpf_map_lookup_elem(&wake_acc, &zero);

	if (!acc)
		return 0;
	*acc += size;
	if (*acc < targ_wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	*acc = 0;
	return BPF_RB_FORCE_WAKEUP;
}

/* This CPU's ring buffer. */
static __always_inline void *ring(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&events, &cpu);
}

/* One record out, or counted as lost. */
static __always_inline long ring_output(void *data, __u32 size)
{
	void *rb = ring();

	if (!rb)
		return -1;
	return bpf_ringbuf_output(rb, data, size, rb_flags(size));
}

static __always_inline void count(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		*v += n;
}

/* One record of nev events out, counted; a loss flags ci's next event. */
static __always_inline void send_record(void *data, __u32 n, struct conn_info *ci, __u32 nev)
{
	if (ring_output(data, n)) {
		if (ci)
			ci->gap = 1;
		count(ST_C_LOST, nev);
		return;
	}
	count(ST_C_RECORDS, 1);
	if (ci)
		ci->gap = 0;
}

/* l (at most ST_DEFER_SLOT) bounded again in the register the call takes:
 * verifiers before 6.8 or so lose a bound checked on a copy that the
 * compiler spilled to the stack (6.1 refused to load without this) */
static __always_inline __u32 defer_len(__u32 l)
{
	asm volatile("if %[l] <= %[max] goto defer_len_%=; %[l] = %[max]; defer_len_%=:"
		     : [l] "+r"(l)
		     : [max] "i"(ST_DEFER_SLOT));
	return l;
}

/* Send e (header filled in, ncap payload bytes) as one record, after the
 * deferred event in s when there is one (s is emptied). */
static __always_inline void output(struct event_buf *e, struct conn_info *ci, __u32 ncap, struct defer_slot *s)
{
	__u32 off = ST_DEFER_SLOT, n, nev = 1;

	if (ncap > ST_CAPTURE_MAX)
		ncap = ST_CAPTURE_MAX;
	n = sizeof(e->h) + ncap;
	if (s) {
		__u32 l = s->len;

		asm volatile("" : "+r"(l));
		l &= 0xfff; /* a bound the verifier keeps on every copy of l */
		if (l > ST_DEFER_SLOT)
			l = ST_DEFER_SLOT;
		off = defer_len(ST_DEFER_SLOT - l); /* bounded in the register used (6.1) */
		if (off > ST_DEFER_SLOT || bpf_probe_read_kernel(e->pre + defer_len(off), defer_len(l), s->ev))
			off = ST_DEFER_SLOT; /* cannot happen; the event alone then */
		else
			n += l, nev = 2;
		s->conn_id = 0;
	}
	asm volatile("" : "+r"(n));
	n &= 0x7fff; /* at most ST_DEFER_SLOT + 112 + ST_CAPTURE_MAX: off + n stays in e */
	send_record((__u8 *)e + off, n, ci, nev);
}

static __always_inline struct defer_slot *slot_of(__u32 tid)
{
	return bpf_map_lookup_elem(&deferred, &tid);
}

static __always_inline struct defer_slot *slot_new(__u32 tid)
{
	__u32 zero = 0;
	struct defer_slot *z = bpf_map_lookup_elem(&defer_zero, &zero);

	if (!z || bpf_map_update_elem(&deferred, &tid, z, BPF_NOEXIST))
		return NULL; /* full: the request goes out at once */
	return bpf_map_lookup_elem(&deferred, &tid);
}

/* The deferred event of ci, if it is still waiting. */
static __always_inline struct defer_slot *conn_slot(struct conn_info *ci)
{
	struct defer_slot *s;

	if (!ci->deferred)
		return NULL;
	ci->deferred = 0;
	s = slot_of(ci->defer_tid);
	return s && s->conn_id == ci->conn_id ? s : NULL;
}

/* Send e, or keep it. A server's request start waits in its thread's slot
 * for the connection's next event (the response, most often), so that an
 * exchange costs one ring-buffer record instead of two. What waits goes out
 * first, in the same record, with the next event of its connection, with
 * the next message its thread starts on any connection (a client call must
 * follow the server request it is made for, a pop's reply the push that
 * unblocked it), at close, or when the thread exits. */
static __always_inline void dispatch(struct event_buf *e, struct conn_info *ci, __u32 ncap, __u32 tid)
{
	struct defer_slot *s = conn_slot(ci), *t;
	bool server = ci->role == ST_ROLE_SERVER;

	if (!s && (e->h.flags & ST_F_START)) {
		t = slot_of(tid);
		if (t && t->conn_id) {
			/* the thread's earlier request goes first: a message
			 * this thread starts on another connection (a call, or
			 * a reply it unblocks, as a push does a pop's) may
			 * depend on it */
			s = t;
		} else if (server && e->h.dir == ST_DIR_INGRESS && ncap <= ST_DEFER_MAX &&
			   !(e->h.flags & ST_F_NO_DATA)) {
			__u32 l = sizeof(e->h) + ncap;

			if (!t)
				t = slot_new(tid);
			/* bound l in the register the verifier sees */
			asm volatile("" : "+r"(l));
			l &= 0xfff;
			if (l <= ST_DEFER_SLOT && t && !bpf_probe_read_kernel(t->ev, defer_len(l), &e->h)) {
				t->len = (l + 7) & ~7;
				t->conn_id = ci->conn_id;
				ci->deferred = 1;
				ci->defer_tid = tid;
				ci->gap = 0; /* the deferred event carries the flag */
				count(ST_C_DEFERRED, 1);
				return;
			}
		}
	}
	output(e, ci, ncap, s);
}

/* A close or exit event (no payload), after the deferred event in s if any. */
static __always_inline void emit_simple(__u8 type, __u32 tgid, __u32 fd, __u64 conn_id, struct defer_slot *s)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct event_buf *e = bpf_map_lookup_elem(&event_heap, &cpu);

	if (!e) {
		count(ST_C_LOST, s ? 2 : 1);
		return;
	}
	__builtin_memset(&e->h, 0, sizeof(e->h));
	e->h.type = type;
	e->h.tgid = tgid;
	e->h.fd = fd;
	e->h.conn_id = conn_id;
	e->h.ts_enter = e->h.ts_exit = bpf_ktime_get_ns();
	output(e, NULL, 0, s);
}

#endif
