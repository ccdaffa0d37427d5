/* Trace ids decided late. Some spans learn which trace they belong to only
 * after they started: a server request whose client's event arrives after
 * its own, or a list pop that learns from its reply which push it follows.
 * Such a request starts a provisional trace; everything that copies that
 * trace id (its children, their callees) is resolved when the span is
 * emitted, and spans of a trace still undecided are held, bounded in count
 * and time, so that no span is ever exported into the wrong trace or
 * pointing at a parent that is not in its trace. */
#ifndef SPANTAP_ALIAS_H
#define SPANTAP_ALIAS_H

#include <stdint.h>

struct pending;
struct span;

struct alias_limits {
	uint32_t max_traces; /* provisional traces at once (power of two) */
	uint32_t max_held;   /* spans held while their trace is undecided */
};

int alias__init(const struct alias_limits *lim);
void alias__free(void);

/* Makes p's trace provisional until alias__link/alias__cut or, if
 * deadline_mono is non-zero, until the stream of events passes it. Returns
 * 0, or -1 when the table is full (p's trace is then final as it is). */
enum alias_kind {
	ALIAS_PEER = 1, /* a server request waiting for its local client */
	ALIAS_POP = 2,	/* a list pop waiting for its reply's item */
};
int alias__wait(struct pending *p, uint64_t deadline_mono, enum alias_kind kind);
/* p's ids were fixed: if its trace is provisional, p keeps it alive. */
void alias__ref(struct pending *p);
void alias__unref(struct pending *p);
/* The kind of wait when this trace is undecided (deadline not passed), or 0. */
int alias__waiting(const uint8_t trace_id[16]);
/* Decides trace `from` (waiting): it joins trace `to`; its root span (the
 * request that waited) gets parent `parent` and/or follows `follows` in
 * `to`. Returns 0, or -1 if `from` is no longer waiting or would loop. */
int alias__link(const uint8_t from[16], const uint8_t to[16], uint64_t parent, uint64_t follows);
/* A reference on trace t's entry, if provisional, for a record that names
 * it: returns 1 when taken, to be given back with alias__unref_trace. */
int alias__ref_trace(const uint8_t t[16]);
void alias__unref_trace(const uint8_t t[16]);
/* Decides trace `from`: it stays as it is. */
void alias__cut(const uint8_t from[16]);
/* The trace id a span with this trace id will be exported under (as
 * decided so far). */
void alias__resolve_id(uint8_t trace_id[16]);

/* The gate between span assembly and the sinks: resolves s and delivers
 * it, or holds a copy while its trace is undecided. */
void alias__emit(struct span *s);
/* Is this trace decided and not sampled? (Then its spans need not be
 * built: counted as skipped.) */
int alias__skipped(const uint8_t trace_id[16]);
/* Everything before watermark_mono has been read from the kernel: passes
 * deadlines and delivers what was decided. */
void alias__tick(uint64_t watermark_mono);
/* At exit: decides everything as it is and delivers what is held. */
void alias__flush(void);
uint32_t alias__held(void);
uint32_t alias__entries(void); /* provisional traces alive (for tests) */

#endif
