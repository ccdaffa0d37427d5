/* Jaeger's Thrift model (jaeger.thrift / agent.thrift): spans, processes,
 * batches and the agent's emitBatch message, in either Thrift protocol. */
#ifndef SPANTAP_JAEGER_H
#define SPANTAP_JAEGER_H

#include "export/batch.h"
#include "export/thrift.h"

struct span;

#define JAEGER_MAX_DATAGRAM 65000

/* The batcher's view of the format: spans as Span structs, a message being
 * a Batch, in emitBatch's envelope (the agent) or bare (the collector). */
const struct batch_format *jaeger__format(enum thrift_proto proto, int envelope);

/* One Span struct (no field header); string values longer than max_value
 * bytes are cut and the span gets a "spantap.truncated" tag. Returns 1 when
 * it cut anything. */
int jaeger__encode_span(struct thrift_w *w, const struct span *s, size_t max_value);
/* A Batch carrying already-encoded spans, wrapped in the agent's emitBatch
 * message when envelope is set (UDP) or bare (collector HTTP). */
void jaeger__encode_batch(struct thrift_w *w, const struct export_process *p, const uint8_t *spans, size_t spans_len,
			  uint32_t nspans, int envelope, int32_t seqid, int64_t seqno);
/* The same message without the spans' bytes, for a sender that gathers
 * them from where they are: returns the offset at which they belong. */
size_t jaeger__encode_batch_around(struct thrift_w *w, const struct export_process *p, uint32_t nspans, int envelope,
				   int32_t seqid, int64_t seqno);

#endif
