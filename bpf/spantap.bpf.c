// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Kernel side of spantap: syscall tracepoints follow TCP sockets per
 * (process, fd), classify each message's first bytes as HTTP/1.x or Redis,
 * and send a bounded prefix of every read/write on such connections to user
 * space over one ring buffer. Everything else is filtered out first. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "spantap.h"

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EINPROGRESS 115
/* unclassified message starts before a connection is ignored for good */
#define MAX_MISSES 4

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 targ_self_tgid = 0;
const volatile __u32 targ_capture = ST_CAPTURE_DEFAULT;
const volatile __u8 filter_pid = 0;
const volatile __u8 filter_port = 0;

struct conn_key {
	__u32 tgid;
	__u32 fd;
};

struct conn_info {
	__u64 conn_id;
	__u8 role;
	__u8 proto;
	__u8 last_dir; /* 0xff before the first byte */
	__u8 misses;
	__u8 family;
	__u8 gap; /* an event was lost: flag the next one */
	__u16 lport;
	__u16 rport;
	__u8 npre;     /* bytes in pre: a message's start too short to classify yet */
	__u8 deferred; /* this connection's request waits in defer_tid's slot */
	__u8 pad[4];
	__u32 wr_tid; /* the thread whose write entered at wr_ts */
	__u32 defer_tid;
	__u64 wr_ts; /* entry of a write in flight: no active_io entry needed */
	__u64 start; /* the process's start time: a reused pid is not this one */
	__u64 pre_ts;
	__u8 pre[16]; /* at most 7 used; 16 lets the verifier bound offset + length */
	__u8 laddr[16];
	__u8 raddr[16];
};

enum io_kind {
	IO_BUF = 1, /* read/write/recvfrom/sendto: args[1] is the buffer */
	IO_IOV,	    /* readv/writev: args[1] iovec, args[2] count */
	IO_MSG,	    /* recvmsg/sendmsg: args[1] is a user_msghdr */
	IO_MMSG,    /* recvmmsg/sendmmsg: bytes counted, no payload */
	IO_COUNT,   /* sendfile: bytes counted, no payload */
	IO_ACCEPT,
	IO_CONNECT,
};

struct active_io {
	__u64 ptr;
	__u64 ts;
	__u32 fd;
	__u32 cnt;
	__u8 kind;
	__u8 dir;
	__u8 pad[6];
};

/* A request start waiting for its response, one per thread: sent in the
 * same ring-buffer record as the next event of its connection. */
struct defer_slot {
	__u64 conn_id; /* 0: empty */
	__u32 len;     /* bytes of ev in use: header + payload, rounded up to 8 */
	__u32 pad;
	__u8 ev[ST_DEFER_SLOT];
};

struct event_buf {
	/* a deferred event is copied in right before h: one record, both */
	__u8 pre[ST_DEFER_SLOT];
	struct st_event_hdr h;
	/* twice the capture limit so the verifier can bound offset + length */
	__u8 data[2 * ST_CAPTURE_MAX];
};

/* One ring buffer per CPU (user space creates them and merges their
 * records by time): producers on different CPUs never share a lock. */
struct ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, ST_RINGBUF_DEFAULT);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1); /* set to the number of CPUs before load */
	__type(key, __u32);
	__array(values, struct ring);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ST_MAX_CONNS);
	__type(key, struct conn_key);
	__type(value, struct conn_info);
} conn_info SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_MAX_ACTIVE);
	__type(key, __u64);
	__type(value, struct active_io);
} active_io SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_MAX_DEFER);
	__type(key, __u32); /* tid */
	__type(value, struct defer_slot);
} deferred SEC(".maps");

/* an all-zero slot to create entries of deferred from */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct defer_slot);
} defer_zero SEC(".maps");

/* (process, fd) pairs known not to be TCP sockets: files, pipes, unix and
 * UDP sockets cost one lookup per syscall, not a walk of the fd table */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ST_MAX_NOT_TCP);
	__type(key, struct conn_key);
	__type(value, __u64); /* the process's start time */
} not_tcp SEC(".maps");

/* bytes submitted on this CPU since the last wakeup */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} wake_acc SEC(".maps");

/* one entry per CPU (set from user space): too big for a per-CPU map */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event_buf);
} event_heap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* value 1: a pid given with --pid; 2: a process forked from one of those */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_MAX_FILTER_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} filter_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_MAX_FILTER);
	__type(key, __u16);
	__type(value, __u8);
} filter_ports SEC(".maps");

static __u64 next_conn_id;

/* Waking the reader costs more than the rest of a program: wake it once
 * this CPU has submitted this much since its last wakeup; the reader also
 * polls on a short timeout. Counted per CPU: asking the ring how much is
 * waiting touches a cache line the reader writes, on every event. */
#define WAKEUP_BYTES (256 * 1024)

static __always_inline __u64 rb_flags(__u32 size)
{
	__u32 zero = 0;
	__u64 *acc = bpf_map_lookup_elem(&wake_acc, &zero);

	if (!acc)
		return 0;
	*acc += size;
	if (*acc < WAKEUP_BYTES)
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

/* Cheapest test first: is this process one we trace at all? */
static __always_inline bool want_task(__u32 tgid)
{
	if (tgid == targ_self_tgid)
		return false;
	if (filter_pid && !bpf_map_lookup_elem(&filter_pids, &tgid))
		return false;
	return true;
}

/* When the current process started: with the tgid, it names the process
 * across pid reuse. */
static __always_inline __u64 proc_start(void)
{
	struct task_struct *t = bpf_get_current_task_btf();

	return t->group_leader->start_time;
}

/* The connection on key's fd, unless the entry is a dead process's whose
 * pid was reused (the entry is then dropped). */
static __always_inline struct conn_info *conn_lookup(struct conn_key *key)
{
	struct conn_info *ci = bpf_map_lookup_elem(&conn_info, key);

	if (ci && ci->start != proc_start()) {
		bpf_map_delete_elem(&conn_info, key);
		return NULL;
	}
	return ci;
}

/* The struct sock behind fd of the current task if it is a TCP socket. */
static __always_inline struct sock *fd_tcp_sock(__u32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *f;
	struct socket *sock;
	struct sock *sk;
	__u32 mode;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return NULL;
	mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(f, private_data);
	if (!sock || BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return NULL;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return NULL;
	__u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (fam != AF_INET && fam != AF_INET6)
		return NULL;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return NULL;
	return sk;
}

static __always_inline void read_addrs(struct conn_info *ci, struct sock *sk)
{
	__u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);

	ci->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	ci->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (fam == AF_INET) {
		ci->family = 4;
		BPF_CORE_READ_INTO((__u32 *)ci->laddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)ci->raddr, sk, __sk_common.skc_daddr);
	} else {
		ci->family = 6;
		BPF_CORE_READ_INTO((struct in6_addr *)ci->laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO((struct in6_addr *)ci->raddr, sk, __sk_common.skc_v6_daddr);
	}
}

static __always_inline bool port_wanted(const struct conn_info *ci)
{
	if (!filter_port)
		return true;
	return bpf_map_lookup_elem(&filter_ports, &ci->lport) || bpf_map_lookup_elem(&filter_ports, &ci->rport);
}

/* Known not to be a TCP socket (an entry of a reused pid does not count). */
static __always_inline bool not_tcp_known(struct conn_key *key)
{
	__u64 *start = bpf_map_lookup_elem(&not_tcp, key);

	return start && *start == proc_start();
}

/* fd names something new: forget what it was */
static __always_inline void fd_forget(struct conn_key *key)
{
	bpf_map_delete_elem(&conn_info, key);
	bpf_map_delete_elem(&not_tcp, key);
}

/* Start following (tgid, fd) if it is a TCP socket. */
static __always_inline struct conn_info *conn_new(struct conn_key *key, __u8 role)
{
	struct conn_info ci = {};
	struct sock *sk = fd_tcp_sock(key->fd);

	if (!sk) {
		__u64 start = proc_start();
		bpf_map_update_elem(&not_tcp, key, &start, BPF_ANY);
		return NULL;
	}
	ci.conn_id = __sync_fetch_and_add(&next_conn_id, 1) + 1;
	ci.start = proc_start();
	ci.role = role;
	ci.last_dir = 0xff;
	read_addrs(&ci, sk);
	if (!port_wanted(&ci))
		ci.proto = ST_PROTO_OTHER;
	if (bpf_map_update_elem(&conn_info, key, &ci, BPF_ANY)) {
		count(ST_C_CONN_FULL, 1);
		return NULL;
	}
	return bpf_map_lookup_elem(&conn_info, key);
}

static __always_inline bool is_digit(__u8 c)
{
	return c >= '0' && c <= '9';
}

/* First bytes of a message -> protocol; a request also tells the role of a
 * connection that was open before spantap started. User space validates. */
static __always_inline __u8 classify(const __u8 *b, __u8 dir, __u8 *role)
{
	__u32 w = b[0] | b[1] << 8 | b[2] << 16 | (__u32)b[3] << 24;
	bool req = false, resp = false;

#define W(a, b, c, d) ((a) | (b) << 8 | (c) << 16 | (__u32)(d) << 24)
	switch (w) {
	case W('G', 'E', 'T', ' '):
	case W('P', 'O', 'S', 'T'):
	case W('P', 'U', 'T', ' '):
	case W('H', 'E', 'A', 'D'):
	case W('D', 'E', 'L', 'E'):
	case W('P', 'A', 'T', 'C'):
	case W('O', 'P', 'T', 'I'):
	case W('T', 'R', 'A', 'C'):
	case W('C', 'O', 'N', 'N'):
		req = true;
		break;
	case W('H', 'T', 'T', 'P'):
		resp = b[4] == '/';
		break;
	}
#undef W
	if (req || resp) {
		if (*role == ST_ROLE_UNKNOWN)
			*role = (req == (dir == ST_DIR_EGRESS)) ? ST_ROLE_CLIENT : ST_ROLE_SERVER;
		return ST_PROTO_HTTP1;
	}
	/* a RESP command is an array of bulk strings: "*<n>\r\n$" */
	if (b[0] == '*' && is_digit(b[1]) && (b[2] == '\r' || (is_digit(b[2]) && (b[3] == '\r' || is_digit(b[3]))))) {
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
			/* the exit finds its arguments in the saved registers
			 * and its entry time here: no active_io entry */
			ci->wr_ts = bpf_ktime_get_ns();
			ci->wr_tid = (__u32)id;
			return;
		}
		if (not_tcp_known(&key))
			return;
	}
	a.ptr = ptr;
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

static __always_inline void fill_hdr(struct event_buf *e, struct conn_info *ci, struct active_io *a, __u64 id,
				     __u64 len, __u32 ncap, __u64 ts_enter, __u64 ts_exit, __u8 flags)
{
	e->h.type = ST_EV_DATA;
	e->h.dir = a->dir;
	e->h.role = ci->role;
	e->h.proto = ci->proto;
	e->h.flags = (ci->gap ? ST_F_GAP : 0) | flags;
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
	bpf_get_current_comm(e->h.comm, sizeof(e->h.comm));
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
		off = ST_DEFER_SLOT - l;
		if (off > ST_DEFER_SLOT || bpf_probe_read_kernel(e->pre + off, l, s->ev))
			off = ST_DEFER_SLOT; /* cannot happen; the event alone then */
		else
			n += l, nev = 2;
		s->conn_id = 0;
	}
	asm volatile("" : "+r"(n));
	n &= 0x7fff; /* at most ST_DEFER_SLOT + 112 + ST_CAPTURE_MAX: off + n stays in e */
	if (ring_output((__u8 *)e + off, n)) {
		if (ci)
			ci->gap = 1;
		count(ST_C_LOST, nev);
		return;
	}
	count(ST_C_RECORDS, 1);
	if (ci)
		ci->gap = 0;
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
 * the next request its thread starts (a client call must follow the server
 * request it is made for), at close, or when the thread exits. */
static __always_inline void dispatch(struct event_buf *e, struct conn_info *ci, __u32 ncap, __u32 tid)
{
	struct defer_slot *s = conn_slot(ci), *t;
	bool server = ci->role == ST_ROLE_SERVER;

	if (!s && (e->h.flags & ST_F_START) && server == (e->h.dir == ST_DIR_INGRESS)) {
		t = slot_of(tid);
		if (t && t->conn_id) {
			s = t; /* the thread's earlier request goes first */
		} else if (server && ncap <= ST_DEFER_MAX && !(e->h.flags & ST_F_NO_DATA)) {
			__u32 l = sizeof(e->h) + ncap;

			if (!t)
				t = slot_new(tid);
			/* bound l in the register the verifier sees */
			asm volatile("" : "+r"(l));
			l &= 0xfff;
			if (l <= ST_DEFER_SLOT && t && !bpf_probe_read_kernel(t->ev, l, &e->h)) {
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

static __always_inline void emit(void *ctx, struct conn_info *ci, struct active_io *a, __u64 id, __u64 len, __u64 now)
{
	__u32 cpu = bpf_get_smp_processor_id(), cap = targ_capture, ncap = 0;
	struct event_buf *e = bpf_map_lookup_elem(&event_heap, &cpu);
	const struct iovec *iov = NULL;
	__u32 iovcnt = 0;
	__u8 head[8] = {};
	bool start;

	if (!e)
		return;
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
	if (ci->proto == ST_PROTO_UNKNOWN) {
		__u32 npre = ci->npre & 7;

		if (start) {
			/* a kept start that never grew to 8 bytes: a short message */
			if (npre && ++ci->misses >= MAX_MISSES) {
				ci->proto = ST_PROTO_OTHER;
				return;
			}
			npre = ci->npre = 0;
		} else if (!npre) {
			return;
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
			return;
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
			fill_hdr(e, ci, a, id, npre, npre, ci->pre_ts, ci->pre_ts, ST_F_START);
			__builtin_memcpy(e->data, ci->pre, 8);
			dispatch(e, ci, npre, (__u32)id);
			ci->npre = 0;
			start = false;
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
	fill_hdr(e, ci, a, id, len, ncap, a->ts, now,
		 (a->kind == IO_COUNT || a->kind == IO_MMSG ? ST_F_NO_DATA : 0) | (start ? ST_F_START : 0));
	dispatch(e, ci, ncap, (__u32)id);
	return;
miss:
	ci->npre = 0;
	if (++ci->misses >= MAX_MISSES)
		ci->proto = ST_PROTO_OTHER;
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
static __always_inline struct conn_info *io_from_regs(struct active_io *io, __u8 kind, __u8 dir, __u64 id, __u64 now)
{
	struct pt_regs *regs;
	struct conn_key key = {.tgid = id >> 32};
	struct conn_info *ci;
	struct active_io *a;

	if (!want_task(key.tgid))
		return NULL;
	regs = (struct pt_regs *)bpf_task_pt_regs((struct task_struct *)bpf_get_current_task_btf());
	if (!regs)
		return NULL;
	io->fd = (__u32)PT_REGS_PARM1_CORE(regs);
	key.fd = io->fd;
	ci = conn_lookup(&key);
	if (!ci) {
		if (not_tcp_known(&key))
			return NULL;
		ci = conn_new(&key, ST_ROLE_UNKNOWN);
		if (!ci)
			return NULL;
	}
	if (ci->proto == ST_PROTO_OTHER)
		return NULL;
	io->ptr = PT_REGS_PARM2_CORE(regs);
	io->cnt = (__u32)PT_REGS_PARM3_CORE(regs);
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
	__u64 now = bpf_ktime_get_ns();
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
	ci = io_from_regs(&io, kind, dir, id, now);
	if (!ci)
		return 0;
	if (io.kind == IO_MMSG)
		ret = mmsg_bytes((const struct mmsghdr *)io.ptr, ret);
	emit(ctx, ci, &io, id, ret, now);
	return 0;
}

#define ARG(i) (((struct trace_event_raw_sys_enter *)ctx)->args[i])
#define RET() (((struct trace_event_raw_sys_exit *)ctx)->ret)

#define IO_PROGS(name, kind, dir, cnt_arg)                        \
	SEC("tracepoint/syscalls/sys_enter_" #name)               \
	int enter_##name(void *ctx)                               \
	{                                                         \
		stash(kind, dir, (__u32)ARG(0), ARG(1), cnt_arg); \
		return 0;                                         \
	}                                                         \
	SEC("tracepoint/syscalls/sys_exit_" #name)                \
	int exit_##name(void *ctx)                                \
	{                                                         \
		return on_exit(ctx, RET(), kind, dir);            \
	}

/* Reads need no entry program: their bytes exist only at exit, a read's
 * span time is its exit, and the arguments are in the saved registers. */
#define READ_PROG(name, kind)                                     \
	SEC("tracepoint/syscalls/sys_exit_" #name)                \
	int exit_##name(void *ctx)                                \
	{                                                         \
		return on_exit(ctx, RET(), kind, ST_DIR_INGRESS); \
	}

READ_PROG(read, IO_BUF)
READ_PROG(recvfrom, IO_BUF)
READ_PROG(readv, IO_IOV)
READ_PROG(recvmsg, IO_MSG)
READ_PROG(recvmmsg, IO_MMSG)
IO_PROGS(write, IO_BUF, ST_DIR_EGRESS, 0)
IO_PROGS(sendto, IO_BUF, ST_DIR_EGRESS, 0)
IO_PROGS(writev, IO_IOV, ST_DIR_EGRESS, (__u32)ARG(2))
IO_PROGS(sendmsg, IO_MSG, ST_DIR_EGRESS, 0)
IO_PROGS(sendmmsg, IO_MMSG, ST_DIR_EGRESS, (__u32)ARG(2))
IO_PROGS(accept, IO_ACCEPT, 0, 0)
IO_PROGS(accept4, IO_ACCEPT, 0, 0)
IO_PROGS(connect, IO_CONNECT, 0, 0)

/* sendfile(out_fd, in_fd, ...): the socket is the first argument */
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int enter_sendfile64(void *ctx)
{
	stash(IO_COUNT, ST_DIR_EGRESS, (__u32)ARG(0), 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int exit_sendfile64(void *ctx)
{
	return on_exit(ctx, RET(), IO_COUNT, ST_DIR_EGRESS);
}

static __always_inline void emit_simple(__u8 type, __u32 tgid, __u32 fd, __u64 conn_id)
{
	void *rb = ring();
	struct st_event_hdr *h = rb ? bpf_ringbuf_reserve(rb, sizeof(*h), 0) : NULL;

	if (!h) {
		count(ST_C_LOST, 1);
		return;
	}
	__builtin_memset(h, 0, sizeof(*h));
	h->type = type;
	h->tgid = tgid;
	h->fd = fd;
	h->conn_id = conn_id;
	h->ts_enter = h->ts_exit = bpf_ktime_get_ns();
	bpf_ringbuf_submit(h, rb_flags(sizeof(*h)));
}

/* fd of the current process stops naming its socket */
static __always_inline void fd_gone(__u32 fd)
{
	struct conn_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd};
	struct conn_info *ci = conn_lookup(&key);

	struct defer_slot *s;

	if (!ci) {
		bpf_map_delete_elem(&not_tcp, &key);
		return;
	}
	if (ci->proto == ST_PROTO_HTTP1 || ci->proto == ST_PROTO_REDIS) {
		__u32 cpu = bpf_get_smp_processor_id();
		struct event_buf *e;

		s = conn_slot(ci);
		if (s && (e = bpf_map_lookup_elem(&event_heap, &cpu))) {
			__builtin_memset(&e->h, 0, sizeof(e->h));
			e->h.type = ST_EV_CLOSE;
			e->h.tgid = key.tgid;
			e->h.fd = key.fd;
			e->h.conn_id = ci->conn_id;
			e->h.ts_enter = e->h.ts_exit = bpf_ktime_get_ns();
			output(e, NULL, 0, s);
		} else {
			emit_simple(ST_EV_CLOSE, key.tgid, key.fd, ci->conn_id);
		}
	}
	bpf_map_delete_elem(&conn_info, &key);
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(void *ctx)
{
	fd_gone((__u32)ARG(0));
	return 0;
}

/* dup2/dup3(old, new) close new first: its connection ends there */
SEC("tracepoint/syscalls/sys_enter_dup2")
int enter_dup2(void *ctx)
{
	if (ARG(0) != ARG(1))
		fd_gone((__u32)ARG(1));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_dup3")
int enter_dup3(void *ctx)
{
	fd_gone((__u32)ARG(1));
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int sched_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct defer_slot *s = slot_of(tid);

	/* what this thread deferred goes out before it is gone */
	if (s) {
		__u32 l = s->len & 0xfff;

		if (s->conn_id && l <= ST_DEFER_SLOT) {
			if (ring_output(s->ev, l))
				count(ST_C_LOST, 1);
			else
				count(ST_C_RECORDS, 1);
		}
		bpf_map_delete_elem(&deferred, &tid);
	}
	/* the whole process is gone when its leader exits */
	if (tgid != (__u32)id || tgid == targ_self_tgid)
		return 0;
	if (!want_task(tgid))
		return 0;
	emit_simple(ST_EV_EXIT, tgid, 0, 0);
	if (filter_pid) {
		__u8 *v = bpf_map_lookup_elem(&filter_pids, &tgid);
		if (v && *v == 2)
			bpf_map_delete_elem(&filter_pids, &tgid);
	}
	return 0;
}

/* --pid follows the processes it names into their children: pre-fork
 * servers (gunicorn, nginx, Apache) serve from workers forked later. */
SEC("raw_tp/sched_process_fork")
int BPF_PROG(sched_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid, ctgid;
	__u8 two = 2;

	if (!filter_pid)
		return 0;
	ptgid = BPF_CORE_READ(parent, tgid);
	ctgid = BPF_CORE_READ(child, tgid);
	if (ptgid == ctgid || !bpf_map_lookup_elem(&filter_pids, &ptgid))
		return 0; /* a new thread, or a process not followed */
	bpf_map_update_elem(&filter_pids, &ctgid, &two, BPF_NOEXIST);
	return 0;
}
