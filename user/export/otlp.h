/* OTLP's trace model in protobuf (opentelemetry/proto/trace/v1/trace.proto
 * and collector/trace/v1/trace_service.proto): spans as ScopeSpans.spans
 * records, and the ExportTraceServiceRequest around them, one Resource per
 * process. Written by hand into sized buffers: no allocation, no generated
 * code (see the commit that added it for the measurements against
 * libprotobuf-c). */
#ifndef SPANTAP_EXPORT_OTLP_H
#define SPANTAP_EXPORT_OTLP_H

#include "export/batch.h"

#include <stddef.h>
#include <stdint.h>

struct span;

/* Span.flags: W3C trace flags (sampled) and whether the parent is remote */
#define OTLP_FLAG_SAMPLED 0x01
#define OTLP_FLAG_HAS_IS_REMOTE 0x100
#define OTLP_FLAG_IS_REMOTE 0x200

/* One span, as the ScopeSpans message's field 2 (tag and length included).
 * String values are cut to max_value bytes (the span then gets the
 * attribute spantap.truncated = true, and *cut = 1); bytes that are not
 * UTF-8 become U+FFFD (protobuf strings must be UTF-8). Returns the bytes
 * written, 0 when they would pass cap. */
size_t otlp__encode_span(uint8_t *buf, size_t cap, const struct span *s, size_t max_value, int *cut);

/* The request's bytes before spans_len bytes of encoded spans (nothing
 * comes after them): returns their count, 0 when they would pass cap. */
size_t otlp__encode_head(uint8_t *buf, size_t cap, const struct export_process *p, size_t spans_len);

/* The batcher's view of the two above */
const struct batch_format *otlp__format(void);

/* Reads a collector's response body: for a 2xx, an ExportTraceServiceResponse
 * whose partial_success says how many spans were rejected (returned) and
 * why (msg); for another status, a google.rpc.Status whose message goes to
 * msg (or, if the body is no such message, its printable start). */
uint32_t otlp__parse_response(long status, const uint8_t *body, size_t len, char *msg, size_t msglen);

#endif
