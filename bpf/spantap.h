/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The event ABI between the BPF programs and the user-space loader: plain
 * fixed-size types only, shared by both sides. Every event starts with a
 * struct st_event_hdr; data events are followed by cap_len payload bytes. */
#ifndef SPANTAP_H
#define SPANTAP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Largest prefix of one syscall's payload copied into an event. */
#define ST_CAPTURE_MAX 16384
#define ST_CAPTURE_DEFAULT 4096
/* iovecs of readv/writev/sendmsg/recvmsg that are looked at for the prefix */
#define ST_MAX_IOV 8
#define ST_COMM_LEN 16

/* Default map sizes; each can be overridden from user space before load. */
#define ST_MAX_CONNS 65536	/* conn_info: TCP sockets being followed */
#define ST_MAX_ACTIVE 16384	/* active_io: syscalls in flight */
#define ST_MAX_FILTER 64	/* filter_ports; pids given with --pid */
#define ST_MAX_FILTER_PIDS 4096 /* filter_pids: those and their descendants */
#define ST_MAX_DEFER 4096	/* deferred: threads with a request waiting for its response */
#define ST_MAX_NOT_TCP 16384	/* not_tcp: descriptors known not to be TCP sockets */
#define ST_MAX_SERVING 16384	/* serving: threads serving a request */
#define ST_MAX_OPT 16384	/* opt_out, opt_in: TCP options in flight */
#define ST_RINGBUF_DEFAULT (16u << 20)
/* cgroup_verdict: cgroups seen while --cgroup filters (LRU) */
#define ST_MAX_CGROUP_VERDICTS 4096
/* filter_cgroups with --container or --namespace: their containers' cgroups */
#define ST_MAX_FILTER_CGROUPS 4096

/* A request start of at most ST_DEFER_MAX captured bytes waits in the kernel
 * for the first event after it on its connection (the response, most often)
 * and both go to user space in one ring-buffer record: a record is one or
 * more events, each a header and cap_len bytes, each starting 8-aligned. */
#define ST_DEFER_MAX 2048
#define ST_DEFER_SLOT (152 + ST_DEFER_MAX) /* a header and its payload */

enum st_event_type {
	ST_EV_DATA = 1,	 /* bytes moved on a followed connection */
	ST_EV_CLOSE = 2, /* the fd of a followed connection was closed */
	ST_EV_EXIT = 3,	 /* a process (thread-group leader) exited */
	ST_EV_EXEC = 4,	 /* a process exec()ed: user space looks for OpenSSL in it (tgid) */
};

enum st_dir {
	ST_DIR_INGRESS = 0, /* the traced process read these bytes */
	ST_DIR_EGRESS = 1,  /* the traced process wrote these bytes */
};

enum st_role {
	ST_ROLE_UNKNOWN = 0,
	ST_ROLE_CLIENT = 1, /* the process connect()ed */
	ST_ROLE_SERVER = 2, /* the process accept()ed */
};

enum st_proto {
	ST_PROTO_UNKNOWN = 0, /* not classified yet */
	ST_PROTO_HTTP1 = 1,
	ST_PROTO_REDIS = 2,
	ST_PROTO_OTHER = 3, /* classified as neither: ignored from now on */
};

enum st_event_flags {
	ST_F_GAP = 1,	   /* events of this connection were lost before this one */
	ST_F_NO_DATA = 2,  /* bytes counted only (sendfile, mmsg): no payload */
	ST_F_START = 4,	   /* the first bytes after a change of direction */
	ST_F_CTX = 8,	   /* ctx holds the trace context the kernel fixed for this message */
	ST_F_TLS = 16,	   /* TLS plaintext, from OpenSSL's SSL_read/SSL_write (tls.bpf.h) */
	ST_F_SKIPPED = 32, /* exchanges of traces not sampled were left out before this one */
};

/* Where the kernel took a request's trace context from (st_trace_ctx.src). */
enum st_ctx_src {
	ST_CTX_NEW = 1,	      /* new trace ids: a root */
	ST_CTX_INHERITED = 2, /* a client call made while its thread serves one request: its child */
	ST_CTX_OPTION = 3,    /* a server request: the TCP option its first segment carried */
	ST_CTX_HEADER = 4,    /* a server request: traceparent, uber-trace-id or b3, read in the kernel */
};

enum st_ctx_flags {
	ST_CTXF_SAMPLED = 1, /* the trace is sampled (exported) */
	ST_CTXF_OPTION = 2,  /* a client request: its context was handed to the TCP option writer */
};

/* The ids of the span a request makes, fixed when its first byte moves so
 * that the TCP option written with those bytes names the same span. */
struct st_trace_ctx {
	__u8 trace_id[16]; /* big-endian, as the hex reads */
	__u64 span_id;	   /* this request's span */
	__u64 parent_id;   /* 0: a root */
	__u8 src;	   /* enum st_ctx_src */
	__u8 flags;	   /* enum st_ctx_flags */
	__u8 pad[6];
};
_Static_assert(sizeof(struct st_trace_ctx) == 40, "trace context ABI changed");

/* The TCP header option that carries a request's context to its server:
 * the layout OpenTelemetry eBPF Instrumentation (Beyla) writes, so that a
 * mixed fleet links both ways. 26 bytes (sampled implied) or 27 (a flags
 * byte, bit 0 sampled); spantap writes 27 and reads both. */
#define ST_TCPOPT_KIND 25
#define ST_TCPOPT_LEN 27
#define ST_TCPOPT_LEN_SHORT 26

struct st_event_hdr {
	__u8 type;   /* enum st_event_type */
	__u8 dir;    /* enum st_dir */
	__u8 role;   /* enum st_role */
	__u8 proto;  /* enum st_proto */
	__u8 flags;  /* enum st_event_flags */
	__u8 family; /* 4 or 6; 0 when unknown */
	__u16 lport; /* local port, host order */
	__u16 rport; /* remote port, host order */
	__u16 pad0;
	__u32 tgid;
	__u32 tid;
	__u32 fd;
	__u32 cap_len; /* payload bytes that follow this header */
	__u32 pad1;
	__u64 conn_id;	/* unique per followed connection, never reused */
	__u64 ts_enter; /* CLOCK_MONOTONIC ns at syscall entry */
	__u64 ts_exit;	/* CLOCK_MONOTONIC ns at syscall exit */
	__u64 len;	/* bytes the syscall moved */
	__u8 laddr[16]; /* IPv4 in the first 4 bytes, or IPv6 */
	__u8 raddr[16];
	char comm[ST_COMM_LEN];
	struct st_trace_ctx ctx; /* valid with ST_F_CTX (a message start) */
};
_Static_assert(sizeof(struct st_event_hdr) == 152, "event ABI changed: update both sides");
_Static_assert(ST_DEFER_SLOT == sizeof(struct st_event_hdr) + ST_DEFER_MAX,
	       "a deferred event is a header and its payload");
_Static_assert(ST_DEFER_SLOT % 8 == 0, "events in a record are 8-aligned");

/* Head sampling's mark (one definition for both sides): a trace left out
 * carries in its last 4 bytes a keyed hash of its first 12, a (bytes 0-7)
 * and b (bytes 8-11) read little-endian. The kernel writes it on the new
 * traces it leaves out (bpf/ctx.bpf.h); user space writes and recognises it
 * (user/trace/sampler.c), with the same keys. */
static inline __attribute__((always_inline)) __u64 st_mix64(__u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

static inline __attribute__((always_inline)) __u32 st_sample_mark(__u64 a, __u32 b, __u64 key0, __u64 key1)
{
	return (__u32)(st_mix64(a ^ key0) ^ st_mix64((__u64)b ^ key1));
}

/* Counters kept per CPU in the `counters` array. */
enum st_counter {
	ST_C_EVENTS = 0,    /* events submitted */
	ST_C_LOST = 1,	    /* events lost: ring buffer full */
	ST_C_BYTES = 2,	    /* payload bytes moved on followed connections */
	ST_C_CONN_FULL = 3, /* conn_info could not take a new connection */
	ST_C_RECORDS = 4,   /* ring-buffer records submitted */
	ST_C_DEFERRED = 5,  /* request starts that waited for the next event */
	/* trace context (ctx.bpf.h, sockops) */
	ST_C_OPT_WRITTEN = 6,	 /* TCP options written with a request's first segment */
	ST_C_OPT_NOROOM = 7,	 /* no room in the TCP header (SACK blocks): not written */
	ST_C_OPT_READ = 8,	 /* server requests whose context came from a TCP option */
	ST_C_CTX_HEADER = 9,	 /* server requests whose context came from a header read in the kernel */
	ST_C_NO_CTX = 10,	 /* server requests that arrived with neither: new traces */
	ST_C_ROOTS_SKIPPED = 11, /* new traces the kernel's sampler left out */
	ST_C_OPT_BAD = 12,	 /* options of kind 25 with an unknown length: ignored */
	/* 14..17 TLS, 18..19 kernel fallbacks, 20 containers, 21..22 sampling */

	/* cgroups whose ancestors were looked at (--cgroup) */
	ST_C_CGROUP_WALKS = 20,
	/* sampling in the kernel (ctx.bpf.h): an exchange of a trace not
	 * sampled is left out whole, nothing copied, no record */
	ST_C_SKIP_EXCH = 21,  /* request starts left out */
	ST_C_SKIP_BYTES = 22, /* the bytes of their reads and writes */
	/* TLS (tls.bpf.h): indices 14..17 */
	ST_C_TLS_EVENTS = 14, /* plaintext events from SSL_read/SSL_write */
	ST_C_TLS_CONNS = 15,  /* sockets found to carry an SSL object: ciphertext dropped */
	ST_C_TLS_NOFD = 16,   /* SSL calls dropped: no socket known for the SSL object */
	ST_C_TLS_GUESS = 17,  /* SSL objects tied to the thread's last ciphertext socket (memory BIO) */
	ST_C_MAX = 32,
};

#endif /* SPANTAP_H */
