/* The connection table: one entry per followed TCP connection, keyed by the
 * kernel's conn_id, preallocated and bounded; least recently used entries
 * are evicted (and their open exchanges closed) when it is full. */
#ifndef SPANTAP_CONN_H
#define SPANTAP_CONN_H

#include <stdint.h>

#include "conn/proto.h"
#include "spantap.h"

/* the kernel's sampling decision for a batch of pipelined requests */
enum kbatch {
	KBATCH_NONE = 0,     /* none known, or not sampled */
	KBATCH_KEPT = 1,     /* sampled: a context that came with the request */
	KBATCH_NEW_ROOT = 2, /* sampled: a new trace the kernel started */
};

struct conn {
	uint64_t conn_id;
	uint64_t serial;    /* never reused, unlike the struct: names its span tags */
	struct conn *hnext; /* hash chain */
	struct conn *tnext; /* 4-tuple index chain */
	struct conn *lru_prev, *lru_next;
	const struct proto_ops *ops;
	uint32_t tgid, fd;
	uint8_t role, proto, last_dir, family;
	uint8_t bad; /* replies did not parse: not this protocol, no spans */
	uint8_t tls; /* its bytes are TLS plaintext (ST_F_TLS) */
	uint16_t lport, rport;
	uint8_t laddr[16], raddr[16];
	uint8_t nladdr[16], nraddr[16]; /* the same as IPv6 (v4-mapped) */
	uint32_t tbucket, peer_tbucket; /* 4-tuple buckets: its own, its peer's */
	/* formatted once: "ip" of each end, and "ip:port" / "[ip6]:port" of
	 * the peer (span assembly would otherwise format them per span) */
	char rip[48], lip[48], peer[56];
	uint8_t rip_len, lip_len, peer_len, v6;
	char comm[ST_COMM_LEN];
	uint64_t last_ts;
	struct pending *pq_head, *pq_tail;
	uint32_t npending;
	/* the trace context the kernel fixed for the request whose first
	 * bytes came last (ST_F_CTX): the next request parsed takes it */
	struct st_trace_ctx kctx;
	uint8_t kctx_valid;
	/* the kernel's sampling decision for the requests pipelined behind
	 * the one that took kctx (enum kbatch) */
	uint8_t kbatch;
	union {
		struct http_conn http;
		struct redis_conn redis;
	} u;
};

struct conn_limits {
	uint32_t max_conns;
	uint32_t max_pending;
	uint32_t max_reasm;
	uint32_t reasm_size;
	uint32_t max_pending_per_conn;
};

struct proto_ops;
int conn_table__init(const struct conn_limits *lim);
/* The session that handles connections of a protocol (enum st_proto): the
 * protocol layer above registers itself, the table never names it. */
void conn_table__set_proto(uint8_t proto, const struct proto_ops *ops);
void conn_table__free(void);
/* Routes one event (a record holds one or more: ingest/record.h); returns
 * 0 or -EINVAL for a malformed one. */
int conn_table__handle(const void *data, size_t size);
/* Ends exchanges that waited too long; call a few times a second. */
void conn_table__tick(uint64_t now_mono);
/* Closes now the processes whose exit still waits out its grace period. */
void conn_table__flush_exits(void);
/* Closes every connection (at exit, so their spans are not lost). */
void conn_table__close_all(void);
uint32_t conn_table__count(void);
/* Up to max connections on this host whose 4-tuple is c's reversed: the
 * other end of c, when a traced process holds it. */
int conn_table__peers(const struct conn *c, struct conn **out, int max);

#endif
