/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The kernel side's state: tunables set from user space before load, the
 * per-connection and per-thread structs, and every map. Sizes come from
 * spantap.h; user space may override max_entries before load. */
#ifndef MAPS_BPF_H
#define MAPS_BPF_H

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
/* Waking the reader costs more than the rest of a program: a CPU wakes it
 * once it has submitted this much since its last wakeup; the reader also
 * polls on a short timeout. */
const volatile __u32 targ_wakeup_bytes = 256 * 1024;
const volatile __u32 targ_capture = ST_CAPTURE_DEFAULT;
const volatile __u8 filter_pid = 0;
const volatile __u8 filter_port = 0;
/* trace context (ctx.bpf.h): hand client contexts to the TCP option writer */
const volatile __u8 targ_propagate = 0;
/* head sampling of new traces: kept when a 32-bit random number is below
 * targ_sample_below (1 << 32: every trace), then at most targ_max_tps
 * per second (0: no limit); a trace left out carries its mark
 * (user/trace/sampler.c) in its last 4 bytes, keyed by these */
const volatile __u64 targ_sample_below = 1ULL << 32;
const volatile __u64 targ_max_tps = 0;
const volatile __u64 targ_mark_key0 = 0;
const volatile __u64 targ_mark_key1 = 0;
/* What a new trace the kernel keeps costs its token bucket, in 256ths of a
 * trace: the traces user space found per kept root over the last second
 * (a pipelined batch of 16 Redis commands is one root here and 16 traces
 * there), written by user space while it runs (user/main.c). */
volatile __u32 sample_cost256 = 256;
/* Kernel features the loader probed (never read off the version string);
 * without them the programs take the fallback beside each use. */
const volatile __u8 targ_task_btf = 1;	/* bpf_get_current_task_btf (5.11) */
const volatile __u8 targ_task_regs = 1; /* bpf_task_pt_regs (5.15); implies targ_task_btf */

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
	__u8 tls;      /* TLS (tls.bpf.h): events are the plaintext of SSL calls */
	__u8 skip;     /* the exchange under way is of a trace not sampled: left out */
	__u8 skipped;  /* exchanges were left out since the last event sent */
	__u8 opt_seen; /* a server connection whose client sends the TCP option */
	__u32 wr_tid;  /* the thread whose write entered at wr_ts */
	__u32 defer_tid;
	__u64 wr_ts; /* entry of a write in flight: no active_io entry needed */
	__u64 start; /* the process's start time: a reused pid is not this one */
	__u64 pre_ts;
	__u8 pre[16]; /* at most 7 used; 16 lets the verifier bound offset + length */
	__u8 laddr[16];
	__u8 raddr[16];
	__u64 sk;      /* the struct sock: the TCP option maps' key */
	__u32 win_tid; /* a server connection: the thread serving its request */
	__u8 ctx_set;  /* a client connection: ctx was fixed at its write's entry */
	__u8 pad2[3];
	struct st_trace_ctx ctx; /* the request starting on a client connection; a
				  * server connection's last request */
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

/* The server request a thread is serving: client calls it makes while
 * exactly one is in flight are its children (the rule user space applied
 * before the kernel fixed ids). */
struct serving {
	struct st_trace_ctx ctx; /* the latest request started */
	__u64 conn_id;		 /* its connection */
	__u32 inflight;		 /* requests of different connections in flight */
	__u32 valid;		 /* ctx is one of them */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ST_MAX_SERVING);
	__type(key, __u32); /* tid */
	__type(value, struct serving);
} serving SEC(".maps");

/* A TCP option as it is on the wire: kind, length, trace id, span id
 * (big-endian), flags (27-byte form); b[27] is not part of it. */
struct tcp_opt {
	__u8 b[28];
};

/* The context of a client request, for the sock_ops writer: the segment
 * that carries the request's first bytes takes it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ST_MAX_OPT);
	__type(key, __u64); /* struct sock * */
	__type(value, struct st_trace_ctx);
} opt_out SEC(".maps");

/* The option a server socket's latest segment carried, for the read that
 * returns the request's first bytes. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ST_MAX_OPT);
	__type(key, __u64); /* struct sock * */
	__type(value, struct tcp_opt);
} opt_in SEC(".maps");

struct sample_tokens {
	__u64 tokens; /* in billionths of a trace */
	__u64 last;
};

/* one bucket for every CPU: a rate limit is a host-wide figure */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sample_tokens);
} sample_bucket SEC(".maps");

/* connection ids handed out on this CPU (see conn_id_new) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} conn_ids SEC(".maps");

#endif
