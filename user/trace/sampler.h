/* Head-based sampling: each trace is kept or skipped once, where it starts
 * (a root request), and every span of it, in every process, on every path
 * its ids take (nesting, same-host links, the queue hop), follows. */
#ifndef SPANTAP_SAMPLER_H
#define SPANTAP_SAMPLER_H

#include <stdint.h>

/* Default --max-traces-per-sec: a saturated two-core host stays fully
 * traced below it (nginx ~60k, redis -P 1 ~80k traces/s); pipelined floods
 * (redis -P 16: 1.2M commands/s) are cut to it. */
#define SAMPLER_DEFAULT_MAX_TPS 100000.0

struct sampler_config {
	double ratio;	/* --sample: probability a new trace is kept, (0, 1] */
	double max_tps; /* --max-traces-per-sec: new traces kept per second; 0: no limit */
};

void sampler__configure(const struct sampler_config *c);
/* The keys of the mark a skipped trace's id carries: the kernel marks the
 * new traces it leaves out with them. */
void sampler__mark_keys(uint64_t key[2]);
/* A new trace's id was drawn for a root request at ts (ns, monotonic):
 * decides, and marks the id when the trace is skipped. */
void sampler__root(uint8_t trace_id[16], uint64_t ts);
/* A trace id that came with the request (a header): its sender decided;
 * sampled 0 is honoured. */
void sampler__inherited(const uint8_t trace_id[16], int sampled);
/* Is this (resolved) trace kept? */
int sampler__keep(const uint8_t trace_id[16]);
/* sampler.type and sampler.param for root spans; NULL type when every
 * trace is kept and nothing limits it. */
const char *sampler__type(double *param);
struct span;
/* Adds sampler.type and sampler.param to a root span (the ratio as it was
 * formatted once, at configuration). */
void sampler__tag_root(struct span *s);

/* What a root the kernel keeps costs its rate limit, in 256ths of a trace,
 * from the running totals of the roots it kept and of the requests
 * pipelined behind them, both as parsed here (stats.batch_roots and
 * stats.batch_followers, counted from the same records): a batch of 16
 * pipelined commands is one root in the kernel and 16 traces here. Called
 * on every turn of the event loop (cheap: it measures once 64 more roots
 * were seen); 256 until then. */
uint32_t sampler__root_cost(uint64_t kept_roots, uint64_t followers);

#endif
