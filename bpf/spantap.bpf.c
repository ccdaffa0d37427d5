// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Kernel side of spantap: the programs, each a thin entry point. Syscall
 * tracepoints follow TCP sockets per (process, fd) (sock.bpf.h), classify
 * each message's first bytes as HTTP/1.x or Redis (detect_*.bpf.h) and send
 * a bounded prefix of every read/write on such connections (io.bpf.h) to
 * user space, a record per exchange where it can (output.bpf.h). Everything
 * else is filtered out first. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "spantap.h"
#include "maps.bpf.h"
#include "output.bpf.h"
#include "cgroup.bpf.h"
#include "sock.bpf.h"
#include "detect_http1.bpf.h"
#include "detect_redis.bpf.h"
#include "ctx.bpf.h"
#include "tls.bpf.h"
#include "io.bpf.h"
#include "sockops.bpf.h"

#define ARG(i) (((struct trace_event_raw_sys_enter *)ctx)->args[i])
#define RET() (((struct trace_event_raw_sys_exit *)ctx)->ret)

/* Where bpf_task_pt_regs is missing (before 5.15) the exits take their
 * arguments from what the entry kept: a second variant of each read and
 * write program, named *_saved; the loader loads one variant or the other. */
#define SAVED_EXIT_PROG(name, kind, dir)                     \
	SEC("tracepoint/syscalls/sys_exit_" #name)           \
	int exit_##name##_saved(void *ctx)                   \
	{                                                    \
		return on_exit_saved(ctx, RET(), kind, dir); \
	}

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

#define WRITE_PROGS(name, kind, cnt_arg)             \
	IO_PROGS(name, kind, ST_DIR_EGRESS, cnt_arg) \
	SAVED_EXIT_PROG(name, kind, ST_DIR_EGRESS)

/* Reads need no entry program: their bytes exist only at exit, a read's
 * span time is its exit, and the arguments are in the saved registers
 * (before 5.15, enter_*_saved keeps them). */
#define READ_PROG(name, kind)                                                      \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                 \
	int exit_##name(void *ctx)                                                 \
	{                                                                          \
		return on_exit(ctx, RET(), kind, ST_DIR_INGRESS);                  \
	}                                                                          \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                \
	int enter_##name##_saved(void *ctx)                                        \
	{                                                                          \
		stash(kind, ST_DIR_INGRESS, (__u32)ARG(0), ARG(1), (__u32)ARG(2)); \
		return 0;                                                          \
	}                                                                          \
	SAVED_EXIT_PROG(name, kind, ST_DIR_INGRESS)

READ_PROG(read, IO_BUF)
READ_PROG(recvfrom, IO_BUF)
READ_PROG(readv, IO_IOV)
READ_PROG(recvmsg, IO_MSG)
READ_PROG(recvmmsg, IO_MMSG)
WRITE_PROGS(write, IO_BUF, 0)
WRITE_PROGS(sendto, IO_BUF, 0)
WRITE_PROGS(writev, IO_IOV, (__u32)ARG(2))
WRITE_PROGS(sendmsg, IO_MSG, 0)
WRITE_PROGS(sendmmsg, IO_MMSG, (__u32)ARG(2))
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
SAVED_EXIT_PROG(sendfile64, IO_COUNT, ST_DIR_EGRESS)

/* fd of the current process stops naming its socket */
static __always_inline void fd_gone(__u32 fd)
{
	struct conn_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd};
	struct conn_info *ci = conn_lookup(&key);

	if (!ci) {
		bpf_map_delete_elem(&not_tcp, &key);
		return;
	}
	/* a request still deferred goes out first, in the same record */
	if (ci->proto == ST_PROTO_HTTP1 || ci->proto == ST_PROTO_REDIS)
		emit_simple(ST_EV_CLOSE, key.tgid, key.fd, ci->conn_id, conn_slot(ci));
	window_close(ci);
	if (ci->ctx.flags & ST_CTXF_OPTION)
		bpf_map_delete_elem(&opt_out, &ci->sk); /* not sent: not for the next socket here */
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

		if (s->conn_id && l <= ST_DEFER_SLOT)
			send_record(s->ev, l, NULL, 1);
		bpf_map_delete_elem(&deferred, &tid);
	}
	bpf_map_delete_elem(&serving, &tid);
	/* the whole process is gone when its leader exits */
	if (tgid != (__u32)id || tgid == targ_self_tgid)
		return 0;
	bool wanted = want_task(tgid);

	cgroup_forget(tgid); /* pids are reused */
	if (!wanted)
		return 0;
	emit_simple(ST_EV_EXIT, tgid, 0, 0, NULL);
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

/* a task moved to another cgroup: its process's --cgroup answer may change
 * (transfer_tasks: cgroup v1's cpuset emptying a cgroup) */
SEC("raw_tp/cgroup_attach_task")
int BPF_PROG(cgroup_attach, struct cgroup *dst, const char *path, struct task_struct *task, bool threadgroup)
{
	cgroup_forget(BPF_CORE_READ(task, tgid));
	return 0;
}

SEC("raw_tp/cgroup_transfer_tasks")
int BPF_PROG(cgroup_transfer, struct cgroup *dst, const char *path, struct task_struct *task, bool threadgroup)
{
	cgroup_forget(BPF_CORE_READ(task, tgid));
	return 0;
}
/* ---- TLS: OpenSSL's plaintext calls (tls.bpf.h) ----------------------------
 * Attached by user space (user/ingest/tls.c) to each libssl, and to each
 * executable that exports OpenSSL's symbols; never auto-attached. */
SEC("uprobe")
int BPF_KPROBE(ssl_write_enter)
{
	return tls_enter(ctx, ST_DIR_EGRESS, false);
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_enter)
{
	return tls_enter(ctx, ST_DIR_EGRESS, true);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_enter)
{
	return tls_enter(ctx, ST_DIR_INGRESS, false);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter)
{
	return tls_enter(ctx, ST_DIR_INGRESS, true);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_exit)
{
	return tls_exit(ctx, false);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_ex_exit)
{
	return tls_exit(ctx, true);
}

/* A process exec()ed: user space looks for OpenSSL in its new image. */
SEC("raw_tp/sched_process_exec")
int BPF_PROG(sched_exec)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (targ_tls && want_task(tgid))
		emit_simple(ST_EV_EXEC, tgid, 0, 0, NULL);
	return 0;
}
/* ---- end of TLS ---------------------------------------------------------- */
