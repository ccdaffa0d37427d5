/* The interface between the connection table and protocol modules. A new
 * protocol needs a classifier in bpf/ and an ST_PROTO_* value, its state in
 * the unions here and in struct conn, and its case in conn_create. */
#ifndef SPANTAP_PROTO_H
#define SPANTAP_PROTO_H

#include <stdint.h>

#include "parse/http1.h"
#include "parse/resp.h"
#include "parse/tracectx.h"
#include "spantap.h"

struct conn;
struct pending;

/* A request waiting for its response: one pool object, whatever protocol. */
struct pending {
	struct pending *next;
	uint64_t ts_start; /* first byte of the request (monotonic ns) */
	uint32_t tid;
	uint32_t window_tid; /* a server request's thread while it is served */
	/* the span's ids, fixed when the request starts (see stitch.h) */
	uint8_t trace_id[16];
	uint64_t span_id, parent_id;
	struct trace_ctx ctx;	  /* from traceparent, uber-trace-id, b3 */
	struct st_trace_ctx kctx; /* the ids the kernel fixed (has_kctx) */
	uint8_t has_kctx;
	uint8_t batch_kept;  /* pipelined behind a request the kernel sampled: kept with it */
	uint64_t fp;	     /* request fingerprint: both ends of a connection agree */
	uint8_t link;	     /* enum link_state (link.h) */
	uint8_t aliased;     /* holds a reference on its trace's alias (alias.h) */
	uint8_t lent;	     /* enum lent: its ids were lent, it must be emitted */
	uint8_t follows_set; /* follows_* name the span this one follows from */
	uint64_t follows_id;
	uint8_t follows_trace[16];
	union {
		struct {
			char method[16];
			char target[320]; /* sanitized path?query */
			char host[128];
			char user_agent[128];
			uint16_t method_len, target_len, host_len, ua_len;
			uint8_t minor_version;
		} http;
		struct {
			char cmd[32];
			char key[RESP_ARG_CAP];
			uint16_t cmd_len, key_len;
			uint32_t nargs;
			uint32_t confirmations; /* (un)subscribe replies still owed */
			uint8_t emitted;	/* span already out (first confirmation) */
			uint8_t pop;		/* a list pop: its reply may carry a pushed item */
			uint8_t pop_waited;	/* its trace waits for the reply (queuehop.c) */
			int64_t db;
			uint64_t item_hash; /* a push's first item (FNV-1a), 0 if unknown */
		} redis;
	};
};

enum lent {
	LENT_CHILD = 1, /* to a call made while serving it (stitch.c) */
	LENT_PEER = 2,	/* to the server request it reached (link.c) */
};

enum http_dir_state { H_HEAD, H_BODY_LEN, H_CHUNKED, H_UNTIL_CLOSE, H_LOST };

struct http_dir {
	uint8_t state;
	uint64_t remaining;
	struct http1_chunked ch;
	char *reasm; /* partial message head, from the reassembly pool */
	uint32_t reasm_len;
	uint64_t first_ts; /* first byte of the message in progress */
	uint64_t last_ts;  /* last event in this direction */
	uint32_t tid;
};

struct http_conn {
	struct http_dir d[2];
	/* the response in progress */
	uint8_t resp_active;
	uint8_t upgraded; /* 101 Switching Protocols: no longer HTTP/1.x */
	int status;
};

struct redis_conn {
	struct resp_parser p[2];
	uint8_t lost[2]; /* parser out of step until the direction changes */
	uint8_t subscribed;
	int64_t db;	    /* SELECTed database */
	int64_t pending_db; /* db of a SELECT awaiting its reply */
	uint64_t first_ts[2];
	uint32_t tid[2];
	uint8_t in_msg[2];
};

struct proto_ops {
	const char *name;
	void (*init)(struct conn *c);
	/* one event's bytes: data[0..h->cap_len) then h->len - cap_len unseen */
	void (*data)(struct conn *c, const struct st_event_hdr *h, const uint8_t *data);
	/* the connection is gone (closed, evicted, process exited): end every
	 * request still queued (exchange__drop_all), the queue must be empty */
	void (*close)(struct conn *c, uint64_t ts);
	/* periodic: end what waited too long */
	void (*tick)(struct conn *c, uint64_t now);
};

/* request queue of a connection, shared by the protocols: a bounded queue
 * and nothing else (proto/exchange.h adds the tracer's bookkeeping) */
struct pending *pending__push(struct conn *c);
struct pending *pending__pop(struct conn *c);
void pending__free(struct pending *p);
void pending__drop_all(struct conn *c);

/* reassembly buffers for message heads split across events */
char *reasm__get(void);
void reasm__put(char *buf);
uint32_t reasm__size(void);

#endif
