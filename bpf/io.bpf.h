/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Reads and writes on followed connections: syscall arguments (stashed at
 * entry or from the saved registers at exit), iovec and msghdr copies, the
 * classification of a message's first bytes, and the event for each. */
#ifndef IO_BPF_H
#define IO_BPF_H

/* First bytes of a message -> protocol; a request also tells the role of a
 * connection that was open before spantap started. User space validates. */
static __always_inline __u8 classify(const __u8 *b, __u8 dir, __u8 *role)
{
	int h = detect_http1(b);

	if (h) {
		if (*role == ST_ROLE_UNKNOWN)
			*role = ((h == 1) == (dir == ST_DIR_EGRESS)) ? ST_ROLE_CLIENT : ST_ROLE_SERVER;
		return ST_PROTO_HTTP1;
	}
	if (detect_redis_command(b)) {
		if (*role == ST_ROLE_UNKNOWN)
			*role = dir == ST_DIR_EGRESS ? ST_ROLE_CLIENT : ST_ROLE_SERVER;
		return ST_PROTO_REDIS;
	}
	return ST_PROTO_UNKNOWN;
}

static __always_inline void stash(__u8 kind, __u8 dir, __u32 fd, __u64 ptr, __u32 cnt)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct active_io a = {};

	if (!want_task(tgid))
		return;
	if (kind != IO_ACCEPT && kind != IO_CONNECT) {
		struct conn_key key = {.tgid = tgid, .fd = fd};
		struct conn_info *ci = conn_lookup(&key);

		if (ci) {
			if (ci->proto == ST_PROTO_OTHER)
				return;
			a.ts = bpf_ktime_get_ns();
			/* a client request starts: its ids are fixed now, before
			 * its first segment is built, so that the TCP option
			 * carries them (ctx.bpf.h) */
			if (ci->role == ST_ROLE_CLIENT && ci->last_dir != ST_DIR_EGRESS && !ci->npre)
				client_ctx(ci, (__u32)id, a.ts, true);
			/* the exit finds its arguments in the saved registers
			 * and its entry time here: no active_io entry (without
			 * bpf_task_pt_regs, all of them go to active_io) */
			if (targ_task_regs) {
				ci->wr_ts = a.ts;
				ci->wr_tid = (__u32)id;
				return;
			}
		} else if (not_tcp_known_at(&key, proc_start())) {
			return;
		}
	}
	a.ptr = ptr;
	if (!a.ts)
		a.ts = bpf_ktime_get_ns();
	a.fd = fd;
	a.cnt = cnt;
	a.kind = kind;
	a.dir = dir;
	bpf_map_update_elem(&active_io, &id, &a, BPF_ANY);
}

/* Copy up to cap bytes of the first iovecs into dst; returns bytes copied. */
static __always_inline __u32 copy_iov(__u8 *dst, const struct iovec *iov, __u32 cnt, __u64 total, __u32 cap)
{
	__u32 off = 0;

	for (int i = 0; i < ST_MAX_IOV; i++) {
		struct iovec v;
		__u64 n;

		if (i >= cnt || off >= cap || off >= total)
			break;
		if (bpf_probe_read_user(&v, sizeof(v), &iov[i]))
			break;
		n = v.iov_len;
		if (n > cap - off)
			n = cap - off;
		if (n > total - off)
			n = total - off;
		off &= ST_CAPTURE_MAX - 1;
		if (n > ST_CAPTURE_MAX)
			n = ST_CAPTURE_MAX;
		if (bpf_probe_read_user(dst + off, n, v.iov_base))
			break;
		off += n;
	}
	return off;
}

static __always_inline void fill_hdr(struct event_buf *e, struct task_struct *t, struct conn_info *ci,
				     struct active_io *a, __u64 id, __u64 len, __u32 ncap, __u64 ts_enter,
				     __u64 ts_exit, __u8 flags)
{
	e->h.type = ST_EV_DATA;
	e->h.dir = a->dir;
	e->h.role = ci->role;
	e->h.proto = ci->proto;
	e->h.flags = (ci->gap ? ST_F_GAP : 0) | (ci->tls ? ST_F_TLS : 0) | flags;
	e->h.family = ci->family;
	e->h.lport = ci->lport;
	e->h.rport = ci->rport;
	e->h.tgid = id >> 32;
	e->h.tid = (__u32)id;
	e->h.fd = a->fd;
	e->h.cap_len = ncap;
	e->h.pad1 = 0;
	e->h.conn_id = ci->conn_id;
	e->h.ts_enter = ts_enter;
	e->h.ts_exit = ts_exit;
	e->h.len = len;
	__builtin_memcpy(e->h.laddr, ci->laddr, 16);
	__builtin_memcpy(e->h.raddr, ci->raddr, 16);
	/* the thread's name, read through its BTF pointer: no helper call
	 * (t is NULL before 5.11: a helper call then) */
	if (targ_task_btf)
		__builtin_memcpy(e->h.comm, t->comm, sizeof(e->h.comm));
	else
		bpf_get_current_comm(e->h.comm, sizeof(e->h.comm));
}

/* Returns 1 when e starts a message: the caller fixes its context and
 * sends it (see on_exit), 0 when it was sent or dropped here. */
static __always_inline int emit(struct task_struct *t, struct conn_info *ci, struct active_io *a, __u64 id, __u64 len,
				__u64 now)
{
	__u32 cpu = bpf_get_smp_processor_id(), cap = targ_capture, ncap = 0;
	struct event_buf *e = bpf_map_lookup_elem(&event_heap, &cpu);
	const struct iovec *iov = NULL;
	__u32 iovcnt = 0;
	__u8 head[8] = {};
	bool start;

	if (!e)
		return 0;
	if (cap > ST_CAPTURE_MAX)
		cap = ST_CAPTURE_MAX;

	if (a->kind == IO_IOV) {
		iov = (const struct iovec *)a->ptr;
		iovcnt = a->cnt;
	} else if (a->kind == IO_MSG) {
		struct user_msghdr *m = (struct user_msghdr *)a->ptr;
		iov = BPF_CORE_READ_USER(m, msg_iov);
		iovcnt = BPF_CORE_READ_USER(m, msg_iovlen);
	}

	/* a message starts when the direction changes */
	start = ci->last_dir != a->dir;
	ci->last_dir = a->dir;
	if (skipping(ci, a->dir, start, len))
		return 0;
	if (ci->proto == ST_PROTO_UNKNOWN) {
		__u32 npre = ci->npre & 7;

		if (start) {
			/* a kept start that never grew to 8 bytes: a short message */
			if (npre && ++ci->misses >= MAX_MISSES) {
				ci->proto = ST_PROTO_OTHER;
				return 0;
			}
			npre = ci->npre = 0;
		} else if (!npre) {
			return 0;
		}
		if (a->kind != IO_BUF && !iov)
			goto miss;
		if (a->kind == IO_BUF && npre + len < 8) {
			/* a start too short to tell (a client writing a byte at a
			 * time): keep it, and decide with the next bytes */
			__u32 n = len & 7;
			if (!npre)
				ci->pre_ts = a->ts;
			if (bpf_probe_read_user(&ci->pre[npre], n, (void *)a->ptr))
				goto miss;
			ci->npre = npre + n;
			return 0;
		}
		if (a->kind == IO_BUF) {
			__u64 p64, t64 = 0, h64;
			if (bpf_probe_read_user(&t64, len < 8 ? (len & 7) : 8, (void *)a->ptr))
				goto miss;
			/* little-endian: the kept bytes, then this buffer's */
			__builtin_memcpy(&p64, ci->pre, 8);
			h64 = npre ? (p64 & ((1ULL << (8 * npre)) - 1)) | (t64 << (8 * npre)) : t64;
			__builtin_memcpy(head, &h64, 8);
		} else {
			struct iovec v;
			if (npre || bpf_probe_read_user(&v, sizeof(v), iov) || v.iov_len < 8 ||
			    bpf_probe_read_user(head, sizeof(head), v.iov_base))
				goto miss;
		}
		ci->proto = classify(head, a->dir, &ci->role);
		if (ci->proto == ST_PROTO_UNKNOWN)
			goto miss;
		if (npre) {
			/* the kept start goes first, as its own event */
			fill_hdr(e, t, ci, a, id, npre, npre, ci->pre_ts, ci->pre_ts, ST_F_START);
			__builtin_memcpy(e->data, ci->pre, 8);
			start_ctx(e, ci, 0, (__u32)id, false); /* too short for a header */
			if (!sampled_out(e, ci))
				dispatch(e, ci, npre, (__u32)id);
			ci->npre = 0;
			start = false;
			if (skipping(ci, a->dir, false, len))
				return 0;
		}
	}

	if (a->kind == IO_BUF) {
		__u64 n = len < cap ? len : cap;
		if (n > ST_CAPTURE_MAX)
			n = ST_CAPTURE_MAX;
		if (bpf_probe_read_user(e->data, n, (void *)a->ptr) == 0)
			ncap = n;
	} else if (iov) {
		ncap = copy_iov(e->data, iov, iovcnt, len, cap);
	}
	if (ncap > ST_CAPTURE_MAX)
		ncap = ST_CAPTURE_MAX;
	fill_hdr(e, t, ci, a, id, len, ncap, a->ts, now,
		 (a->kind == IO_COUNT || a->kind == IO_MMSG ? ST_F_NO_DATA : 0) | (start ? ST_F_START : 0));
	if (start)
		return 1;
	dispatch(e, ci, ncap, (__u32)id);
	return 0;
miss:
	ci->npre = 0;
	if (++ci->misses >= MAX_MISSES)
		ci->proto = ST_PROTO_OTHER;
	return 0;
}

/* An event for bytes moved on ci (emit), sent; a message start is sent from
 * here, where the state is the same whichever way emit went, so that the
 * verifier walks start_ctx once. scan: a constant, true where a request head
 * may be read (ctx.bpf.h). */
static __always_inline void emit_out(struct task_struct *t, struct conn_info *ci, struct active_io *a, __u64 id,
				     __u64 len, __u64 now, bool scan)
{
	if (emit(t, ci, a, id, len, now)) {
		__u32 cpu = bpf_get_smp_processor_id();
		struct event_buf *e = bpf_map_lookup_elem(&event_heap, &cpu);
		__u32 ncap;

		if (!e)
			return;
		ncap = *(volatile __u32 *)&e->h.cap_len;
		start_ctx(e, ci, ncap, (__u32)id, scan);
		if (!sampled_out(e, ci))
			dispatch(e, ci, ncap & 0x7fff, (__u32)id);
	}
}

/* Bytes moved by recvmmsg/sendmmsg: the sum of the first messages' lengths. */
static __always_inline __u64 mmsg_bytes(const struct mmsghdr *v, __u32 n)
{
	__u64 sum = 0;

	for (int i = 0; i < ST_MAX_IOV; i++) {
		if (i >= n)
			break;
		sum += BPF_CORE_READ_USER(&v[i], msg_len);
	}
	return sum;
}

/* The arguments of a read or write at its exit, from the saved user
 * registers (they hold them until the syscall returns), and the followed
 * connection they name. A write's entry time was kept in conn_info, or in
 * active_io while its descriptor was not known yet. A read that began
 * before spantap attached (a server blocked in recv) is caught here too. */
static __always_inline struct conn_info *io_from_regs(struct task_struct *t, struct active_io *io, __u8 kind, __u8 dir,
						      __u64 id, __u64 now)
{
	struct pt_regs *regs;
	struct conn_key key = {.tgid = id >> 32};
	struct conn_info *ci;
	struct active_io *a;
	__u64 start;

	if (!want_task(key.tgid))
		return NULL;
	regs = (struct pt_regs *)bpf_task_pt_regs(t);
	start = proc_start_of(t);
	if (!regs)
		return NULL;
	/* a BTF pointer: plain loads, no helper call per argument */
	io->fd = (__u32)PT_REGS_PARM1_SYSCALL(regs); /* arm64: orig_x0, x0 is the return value */
	key.fd = io->fd;
	ci = conn_lookup_at(&key, start);
	if (!ci) {
		if (not_tcp_known_at(&key, start))
			return NULL;
		ci = conn_new(&key, ST_ROLE_UNKNOWN);
		if (!ci)
			return NULL;
	}
	/* TLS ciphertext is dropped here, even on a connection classified
	 * "other"; a syscall during an SSL call names its socket (tls.bpf.h) */
	if (tls_ciphertext(ci, key.fd, id))
		return NULL;
	if (ci->proto == ST_PROTO_OTHER)
		return NULL;
	io->ptr = PT_REGS_PARM2_SYSCALL(regs);
	io->cnt = (__u32)PT_REGS_PARM3_SYSCALL(regs);
	io->ts = now;
	io->kind = kind;
	io->dir = dir;
	if (dir == ST_DIR_EGRESS) {
		if (ci->wr_ts && ci->wr_tid == (__u32)id) {
			io->ts = ci->wr_ts;
			ci->wr_ts = 0;
		} else if ((a = bpf_map_lookup_elem(&active_io, &id))) {
			io->ts = a->ts;
			bpf_map_delete_elem(&active_io, &id);
		}
	}
	return ci;
}

static __always_inline int on_exit(void *ctx, long ret, __u8 kind, __u8 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct active_io *a, io = {};
	struct conn_key key;
	struct conn_info *ci;

	if (kind == IO_ACCEPT || kind == IO_CONNECT) {
		a = bpf_map_lookup_elem(&active_io, &id);
		if (!a)
			return 0;
		io = *a;
		bpf_map_delete_elem(&active_io, &id);
		if (kind == IO_ACCEPT && ret < 0)
			return 0;
		if (kind == IO_CONNECT && ret != 0 && ret != -EINPROGRESS)
			return 0;
		key.tgid = id >> 32;
		key.fd = kind == IO_ACCEPT ? (__u32)ret : io.fd;
		/* a fresh socket on this fd: forget what the fd was before */
		fd_forget(&key);
		conn_new(&key, kind == IO_ACCEPT ? ST_ROLE_SERVER : ST_ROLE_CLIENT);
		return 0;
	}
	if (ret <= 0) {
		/* a failed write stashed on an unknown descriptor */
		if (dir == ST_DIR_EGRESS && bpf_map_lookup_elem(&active_io, &id))
			bpf_map_delete_elem(&active_io, &id);
		return 0;
	}
	__u64 now = bpf_ktime_get_ns();
	struct task_struct *t = bpf_get_current_task_btf();

	ci = io_from_regs(t, &io, kind, dir, id, now);
	if (!ci)
		return 0;
	if (io.kind == IO_MMSG)
		ret = mmsg_bytes((const struct mmsghdr *)io.ptr, ret);
	emit_out(t, ci, &io, id, ret, now, dir == ST_DIR_INGRESS && kind != IO_MMSG);
	return 0;
}

/* The exit of a read or write where bpf_task_pt_regs is missing (before
 * 5.15; these programs are loaded only there): its arguments are the ones
 * its entry program kept in active_io. A read that was waiting when spantap
 * attached has no entry there and is missed. */
static __always_inline int on_exit_saved(void *ctx, long ret, __u8 kind, __u8 dir)
{
	__u64 id = bpf_get_current_pid_tgid(), now, start;
	struct active_io *a = bpf_map_lookup_elem(&active_io, &id), io;
	struct conn_key key = {.tgid = id >> 32};
	struct task_struct *t;
	struct conn_info *ci;

	if (!a)
		return 0;
	io = *a;
	bpf_map_delete_elem(&active_io, &id);
	if (ret <= 0 || io.kind != kind)
		return 0; /* failed, or left by a syscall whose exit was not seen */
	now = bpf_ktime_get_ns();
	start = proc_start();
	key.fd = io.fd;
	ci = conn_lookup_at(&key, start);
	if (!ci) {
		if (not_tcp_known_at(&key, start))
			return 0;
		ci = conn_new(&key, ST_ROLE_UNKNOWN);
		if (!ci)
			return 0;
	}
	if (ci->proto == ST_PROTO_OTHER)
		return 0;
	if (dir == ST_DIR_INGRESS)
		io.ts = now; /* a read's span time is its exit */
	if (io.kind == IO_MMSG)
		ret = mmsg_bytes((const struct mmsghdr *)io.ptr, ret);
	/* before 5.11 there is no BTF pointer: fill_hdr uses a helper */
	t = targ_task_btf ? bpf_get_current_task_btf() : NULL;
	emit_out(t, ci, &io, id, ret, now, dir == ST_DIR_INGRESS && kind != IO_MMSG);
	return 0;
}

#endif
