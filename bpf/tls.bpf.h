/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* TLS plaintext from OpenSSL's SSL_read/SSL_write (and the _ex variants),
 * caught with uprobes that user space attaches (user/ingest/tls.c). Each
 * SSL object is tied to its socket by the syscall it makes on the same
 * thread while the SSL call is in flight (the socket BIO), remembered per
 * SSL object for reads served from OpenSSL's own buffer; an SSL object that
 * never makes a syscall (a memory BIO, as node.js uses) is tied to the last
 * socket whose ciphertext its thread moved. That socket's conn_info is then
 * marked tls: its ciphertext syscalls are dropped before anything else, and
 * the plaintext goes through emit_out() as if the socket had carried it, with
 * ST_F_TLS set, so the same parsers and spans apply. */
#ifndef TLS_BPF_H
#define TLS_BPF_H

#define ST_MAX_TLS_SSL 16384 /* tls_fds: SSL objects and their socket */

const volatile __u8 targ_tls = 0;

/* An SSL call in flight on a thread. */
struct tls_call {
	__u64 ssl;
	__u64 buf;
	__u64 out; /* size_t * of the _ex variants (bytes moved); 0 otherwise */
	__u64 ts;
	__u32 fd;    /* the socket of a syscall made during the call */
	__u8 has_fd; /* fd is set */
	__u8 dir;    /* enum st_dir */
	__u8 pad[2];
};

struct tls_ssl_key {
	__u64 ssl;
	__u32 tgid;
	__u32 pad;
};

/* The socket a thread last moved ciphertext on (read or write on a TCP
 * socket not classified as plain HTTP or Redis). */
struct tls_last {
	__u32 tgid;
	__u32 fd;
};

/* LRU: a thread killed inside an SSL call leaves its entry to be evicted */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ST_MAX_ACTIVE);
	__type(key, __u32); /* tid */
	__type(value, struct tls_call);
} tls_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ST_MAX_TLS_SSL);
	__type(key, struct tls_ssl_key);
	__type(value, __u32); /* fd */
} tls_fds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ST_MAX_ACTIVE);
	__type(key, __u32); /* tid */
	__type(value, struct tls_last);
} tls_last SEC(".maps");

/* From io.bpf.h (defined after this header). */
static __always_inline void emit_out(struct task_struct *t, struct conn_info *ci, struct active_io *a, __u64 id,
				     __u64 len, __u64 now, bool scan);

/* ci carries TLS: classification starts over on the plaintext. A socket
 * outside --port stays ignored. */
static __always_inline void tls_mark(struct conn_info *ci)
{
	ci->tls = 1;
	count(ST_C_TLS_CONNS, 1);
	if (!port_wanted(ci))
		return;
	ci->proto = ST_PROTO_UNKNOWN;
	ci->misses = 0;
	ci->npre = 0;
	ci->last_dir = 0xff;
}

/* The hook in io_from_regs: true for a syscall that moves ciphertext of a
 * TLS connection (dropped: its plaintext makes the events). A syscall
 * during an SSL call tells that call its socket. Plain HTTP and Redis
 * connections pay two byte compares. */
static __always_inline bool tls_ciphertext(struct conn_info *ci, __u32 fd, __u64 id)
{
	__u32 tid = (__u32)id;
	struct tls_call *c;

	if (!targ_tls || (!ci->tls && (ci->proto == ST_PROTO_HTTP1 || ci->proto == ST_PROTO_REDIS)))
		return false;
	c = bpf_map_lookup_elem(&tls_calls, &tid);
	if (c) {
		c->fd = fd;
		c->has_fd = 1;
		if (!ci->tls)
			tls_mark(ci);
		return true;
	}
	if (!ci->tls) {
		struct tls_last l = {.tgid = id >> 32, .fd = fd};

		bpf_map_update_elem(&tls_last, &tid, &l, BPF_ANY);
	}
	return ci->tls;
}

static __always_inline int tls_enter(struct pt_regs *ctx, __u8 dir, bool ex)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct tls_call c = {};

	if (!want_task(id >> 32))
		return 0;
	c.ssl = PT_REGS_PARM1(ctx);
	c.buf = PT_REGS_PARM2(ctx);
	c.out = ex ? PT_REGS_PARM4(ctx) : 0;
	c.ts = bpf_ktime_get_ns();
	c.dir = dir;
	bpf_map_update_elem(&tls_calls, &tid, &c, BPF_ANY);
	return 0;
}

/* The socket of an SSL call that returned: the one its syscall used, else
 * the one its SSL object used before, else the thread's last ciphertext
 * socket. -1 when none is known. */
static __always_inline long tls_fd(struct tls_call *c, __u64 id)
{
	struct tls_ssl_key k = {.ssl = c->ssl, .tgid = id >> 32};
	__u32 tid = (__u32)id, *f;
	struct tls_last *l;

	if (c->has_fd) {
		f = bpf_map_lookup_elem(&tls_fds, &k);
		if (!f || *f != c->fd)
			bpf_map_update_elem(&tls_fds, &k, &c->fd, BPF_ANY);
		return c->fd;
	}
	f = bpf_map_lookup_elem(&tls_fds, &k);
	if (f)
		return *f;
	l = bpf_map_lookup_elem(&tls_last, &tid);
	if (!l || l->tgid != k.tgid)
		return -1;
	bpf_map_update_elem(&tls_fds, &k, &l->fd, BPF_ANY);
	count(ST_C_TLS_GUESS, 1);
	return l->fd;
}

static __always_inline int tls_exit(struct pt_regs *ctx, bool ex)
{
	__u64 id = bpf_get_current_pid_tgid(), len, now;
	struct active_io a = {};
	struct task_struct *t;
	struct conn_key key;
	struct conn_info *ci;
	__u32 tid = (__u32)id;
	struct tls_call c, *p;
	long ret, fd;

	p = bpf_map_lookup_elem(&tls_calls, &tid);
	if (!p)
		return 0;
	c = *p;
	bpf_map_delete_elem(&tls_calls, &tid);
	ret = PT_REGS_RC(ctx);
	if (ex) {
		__u64 n = 0;

		if ((int)ret != 1 || !c.out || bpf_probe_read_user(&n, sizeof(n), (void *)c.out))
			return 0;
		len = n;
	} else {
		if ((int)ret <= 0)
			return 0;
		len = (__u64)(int)ret;
	}
	/* hide len's range from the compiler: emit() masks it where the
	 * verifier must see the mask */
	asm volatile("" : "+r"(len));
	if (!len)
		return 0;
	fd = tls_fd(&c, id);
	if (fd < 0) {
		count(ST_C_TLS_NOFD, 1);
		return 0;
	}
	key.tgid = id >> 32;
	key.fd = (__u32)fd;
	ci = conn_lookup(&key);
	if (!ci)
		ci = conn_new(&key, ST_ROLE_UNKNOWN); /* opened before spantap */
	if (!ci) {
		count(ST_C_TLS_NOFD, 1);
		return 0;
	}
	if (!ci->tls)
		tls_mark(ci);
	if (ci->proto == ST_PROTO_OTHER)
		return 0;
	now = bpf_ktime_get_ns();
	a.ptr = c.buf;
	/* a read's bytes exist at its return, as for a syscall */
	a.ts = c.dir == ST_DIR_INGRESS ? now : c.ts;
	a.fd = key.fd;
	a.kind = IO_BUF;
	a.dir = c.dir;
	t = targ_task_btf ? bpf_get_current_task_btf() : NULL; /* 5.11; fill_hdr copes */
	count(ST_C_TLS_EVENTS, 1);
	emit_out(t, ci, &a, id, len, now, false); /* no header scan: loading stays fast */
	return 0;
}

#endif
