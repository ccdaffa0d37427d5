/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Which (process, fd) pairs are followed: the task filter, fd -> TCP socket
 * through the task's file table (CO-RE), addresses, and the conn_info and
 * not_tcp caches that make the answer one lookup. */
#ifndef SOCK_BPF_H
#define SOCK_BPF_H

/* Cheapest test first: is this process one we trace at all? */
static __always_inline bool want_task(__u32 tgid)
{
	if (tgid == targ_self_tgid)
		return false;
	if (filter_pid && !bpf_map_lookup_elem(&filter_pids, &tgid))
		return false;
	return cgroup_wanted(tgid);
}

/* When the current process started: with the tgid, it names the process
 * across pid reuse. */
static __always_inline __u64 proc_start_of(struct task_struct *t)
{
	return t->group_leader->start_time;
}

static __always_inline __u64 proc_start(void)
{
	if (!targ_task_btf) {
		/* before 5.11: an untyped pointer, read with helper calls */
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();

		return BPF_CORE_READ(t, group_leader, start_time);
	}
	return proc_start_of(bpf_get_current_task_btf());
}

/* The connection on key's fd, unless the entry is a dead process's whose
 * pid was reused (the entry is then dropped); start: proc_start(). */
static __always_inline struct conn_info *conn_lookup_at(struct conn_key *key, __u64 start)
{
	struct conn_info *ci = bpf_map_lookup_elem(&conn_info, key);

	if (ci && ci->start != start) {
		bpf_map_delete_elem(&conn_info, key);
		return NULL;
	}
	return ci;
}

static __always_inline struct conn_info *conn_lookup(struct conn_key *key)
{
	return conn_lookup_at(key, proc_start());
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
static __always_inline bool not_tcp_known_at(struct conn_key *key, __u64 start)
{
	__u64 *s = bpf_map_lookup_elem(&not_tcp, key);

	return s && *s == start;
}

/* fd names something new: forget what it was */
static __always_inline void fd_forget(struct conn_key *key)
{
	bpf_map_delete_elem(&conn_info, key);
	bpf_map_delete_elem(&not_tcp, key);
}

/* a new connection's entry starts as this (no conn_info on the stack:
 * the programs that create one are near the 512-byte limit) */
static const struct conn_info conn_zero;

/* A connection id never handed out before, non-zero: this CPU's count and
 * the CPU. Callers are syscall tracepoint programs, which run with
 * preemption off and never nest on a CPU, so the count needs no atomic; a
 * fetching atomic on one shared counter would need 5.12 (BPF_FETCH) and
 * bounce its cache line between CPUs. */
static __always_inline __u64 conn_id_new(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&conn_ids, &zero);

	if (!n)
		return 0;
	*n += 1;
	return *n << 16 | bpf_get_smp_processor_id();
}

/* Start following (tgid, fd) if it is a TCP socket. */
static __always_inline struct conn_info *conn_new(struct conn_key *key, __u8 role)
{
	struct sock *sk = fd_tcp_sock(key->fd);
	struct conn_info *ci;
	__u64 id;

	if (!sk) {
		__u64 start = proc_start();
		bpf_map_update_elem(&not_tcp, key, &start, BPF_ANY);
		return NULL;
	}
	id = conn_id_new();
	if (!id)
		return NULL;
	if (bpf_map_update_elem(&conn_info, key, &conn_zero, BPF_ANY) || !(ci = bpf_map_lookup_elem(&conn_info, key))) {
		count(ST_C_CONN_FULL, 1);
		return NULL;
	}
	ci->conn_id = id;
	ci->start = proc_start();
	ci->role = role;
	ci->last_dir = 0xff;
	ci->sk = (__u64)sk;
	read_addrs(ci, sk);
	if (!port_wanted(ci))
		ci->proto = ST_PROTO_OTHER;
	return ci;
}

#endif
