/* Groups spans per process into batches no larger than a limit and hands
 * each full or second-old batch to a delivery callback. The wire format is
 * the caller's (struct batch_format): Jaeger's Thrift for the agent and the
 * collector, OTLP protobuf for the OTLP exporter. */
#ifndef SPANTAP_EXPORT_BATCH_H
#define SPANTAP_EXPORT_BATCH_H

#include <stddef.h>
#include <stdint.h>

struct span;
struct batcher;

/* A resource attribute of a process beyond the fixed ones (string valued) */
struct export_attr {
	const char *key;
	const char *value;
};

/* The process a batch's spans belong to: Jaeger's Process, OTLP's Resource */
struct export_process {
	const char *service;
	uint32_t pid;
	const char *hostname;
	const char *ip;
	const char *exe; /* "" when unknown */
	/* more attributes (container.*, k8s.*), in both formats: set by
	 * process_of() in batch.c from what is known of the process */
	const struct export_attr *attrs;
	uint32_t nattrs;
};

/* A wire format, as the batcher needs it. */
struct batch_format {
	/* One span at buf (cap bytes), string values cut to max_value bytes
	 * (and the span then marked truncated). Returns the bytes written, or
	 * 0 when it did not fit; *cut = 1 when it cut anything. */
	size_t (*span)(const struct batch_format *f, uint8_t *buf, size_t cap, const struct span *s, size_t max_value,
		       int *cut);
	/* The bytes a message for p takes besides its spans, when it carries
	 * none (the caller allows 8 more for length fields that grow); scratch
	 * is cap bytes to encode into. */
	size_t (*overhead)(const struct batch_format *f, const struct export_process *p, uint8_t *scratch, size_t cap);
};

/* body holds n encoded spans; p describes their process */
typedef void (*batch_deliver_fn)(void *ctx, const struct export_process *p, const uint8_t *body, size_t len,
				 uint32_t n);

/* max_msg: the limit for the whole encoded message. NULL with errno set. */
struct batcher *batcher__new(const struct batch_format *f, size_t max_msg, batch_deliver_fn fn, void *ctx);
void batcher__add(struct batcher *b, const struct span *s);
/* delivers the batches opened at least a second ago */
void batcher__tick(struct batcher *b);
void batcher__flush_all(struct batcher *b);
void batcher__free(struct batcher *b);

#endif
