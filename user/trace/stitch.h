/* Trace stitching within a process: which server request a thread is
 * serving, so that the client calls it makes nest under it. Only an
 * unambiguous thread (exactly one request in flight) lends its context. */
#ifndef SPANTAP_STITCH_H
#define SPANTAP_STITCH_H

#include <stdint.h>

struct pending;
struct span;

/* Threads serving a request at once (rounded up to a power of two); the
 * default is 16384. 0 or -1 (no memory). */
int stitch__init(uint32_t threads);
/* A request starts on thread tid (p->ctx holds any header context): fix
 * the ids of its span. A server request continues incoming context and
 * opens its thread's window; a client request adopts the context its own
 * headers carry, else nests under its thread's one server request. */
void stitch__request(struct pending *p, int server, uint32_t tid);
/* Copies the ids fixed for p into a span begun with span__begin. */
void stitch__apply(struct span *s, const struct pending *p);
/* Its response is complete (or it was dropped): close the window. */
void stitch__server_end(struct pending *p);
/* A client request starts on thread tid: the trace and parent it nests
 * under; 0 when the thread serves exactly one request, -1 otherwise. */
int stitch__client_parent(uint32_t tid, uint8_t trace_id[16], uint64_t *parent_id);

#endif
