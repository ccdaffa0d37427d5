/* Trace context carried in HTTP headers: W3C traceparent, Jaeger
 * uber-trace-id, B3 single and multi. Parsers are strict about the invalid
 * cases the specifications name; they never allocate. */
#ifndef SPANTAP_TRACECTX_H
#define SPANTAP_TRACECTX_H

#include <stddef.h>
#include <stdint.h>

struct http1_head;

enum tracectx_source { TCTX_NONE, TCTX_TRACEPARENT, TCTX_UBER, TCTX_B3, TCTX_B3_MULTI };

struct trace_ctx {
	uint8_t trace_id[16]; /* big-endian: as the hex reads */
	uint64_t span_id;     /* the sender's span: our server span's parent */
	uint64_t parent_id;   /* the sender's parent, when the header says (0 if not) */
	uint8_t sampled;
	uint8_t source; /* enum tracectx_source; TCTX_NONE: no valid context */
};

/* 0 and *out filled, or -1 when the value is not a valid context */
int tracectx_parse_traceparent(const char *v, size_t len, struct trace_ctx *out);
int tracectx_parse_uber(const char *v, size_t len, struct trace_ctx *out);
int tracectx_parse_b3(const char *v, size_t len, struct trace_ctx *out);
int tracectx_parse_b3_multi(const char *trace, size_t tlen, const char *span, size_t slen, const char *parent,
			    size_t plen, const char *sampled, size_t sdlen, struct trace_ctx *out);

/* The context of a request head: traceparent, else uber-trace-id, else b3
 * (single before multi); out->source is TCTX_NONE when there is none. */
void tracectx_from_head(const struct http1_head *h, struct trace_ctx *out);

#endif
