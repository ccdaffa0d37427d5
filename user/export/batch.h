/* Groups spans per process into Jaeger batches no larger than a limit and
 * hands each full or second-old batch to a delivery callback. Shared by the
 * Jaeger agent (datagrams) and collector (HTTP bodies) exporters. */
#ifndef SPANTAP_EXPORT_BATCH_H
#define SPANTAP_EXPORT_BATCH_H

#include "export/jaeger.h"

struct span;
struct batcher;

/* body holds n encoded Span structs; p describes their process */
typedef void (*batch_deliver_fn)(void *ctx, const struct jaeger_process *p, const uint8_t *body, size_t len,
				 uint32_t n);

/* max_msg: the limit for the whole encoded message (envelope included when
 * envelope is set). NULL with errno set. */
struct batcher *batcher__new(enum thrift_proto proto, size_t max_msg, int envelope, batch_deliver_fn fn, void *ctx);
void batcher__add(struct batcher *b, const struct span *s);
/* delivers the batches opened at least a second ago */
void batcher__tick(struct batcher *b);
void batcher__flush_all(struct batcher *b);
void batcher__free(struct batcher *b);

#endif
