/* Head-based sampling (see sampler.h). The decision travels in the trace id
 * itself: a skipped trace's last 4 bytes are a keyed hash of its first 12,
 * a mark no other id carries but by chance (2^-32), so any span that holds
 * the id, however it got it, knows without a table. Ids that arrived with a
 * "not sampled" header cannot be marked: they are remembered in a small
 * direct-mapped table. Rate limiting is a token bucket in event time. */
#include "trace/sampler.h"

#include "base/ids.h"
#include "base/stats.h"
#include "span/span.h"
#include "spantap.h"

#include <string.h>

#define INHERITED_SLOTS 4096

static struct sampler_config cfg = {.ratio = 1.0};
static int configured;
static char ratio_str[16]; /* cfg.ratio as users write it: "0.25" */
static uint64_t key0, key1;
static double tokens;
static uint64_t last_ts;
static uint8_t inherited[INHERITED_SLOTS][16];
/* nothing was ever skipped: every trace is kept, nothing to compute */
static int any_skipped;

static uint32_t mark_of(const uint8_t t[16])
{
	uint64_t a;
	uint32_t b;

	memcpy(&a, t, 8);
	memcpy(&b, t + 8, 4);
	return st_sample_mark(a, b, key0, key1);
}

static int marked(const uint8_t t[16])
{
	uint32_t m;

	memcpy(&m, t + 12, 4);
	return m == mark_of(t);
}

static uint32_t slot_of(const uint8_t t[16])
{
	uint64_t a;

	memcpy(&a, t, 8);
	return (uint32_t)(st_mix64(a ^ key1) % INHERITED_SLOTS);
}

/* "0.25": a ratio at most 1, to 6 decimals, trailing zeros dropped. */
static void fmt_ratio(char buf[16], double r)
{
	uint32_t micro = (uint32_t)(r * 1e6 + 0.5), n;

	buf[0] = '0';
	buf[1] = '.';
	for (n = 0; n < 6; n++) {
		buf[2 + 5 - n] = (char)('0' + micro % 10);
		micro /= 10;
	}
	for (n = 7; n > 2 && buf[n] == '0'; n--)
		;
	buf[n + 1] = 0;
}

void sampler__configure(const struct sampler_config *c)
{
	cfg = *c;
	configured = 1;
	fmt_ratio(ratio_str, cfg.ratio);
	key0 = ids__span_id();
	key1 = ids__span_id();
	tokens = cfg.max_tps;
	last_ts = 0;
	any_skipped = 0;
	memset(inherited, 0, sizeof(inherited));
}

void sampler__mark_keys(uint64_t key[2])
{
	key[0] = key0;
	key[1] = key1;
	any_skipped |= cfg.ratio < 1.0 || cfg.max_tps > 0; /* the kernel may skip */
}

static int decide(uint64_t ts)
{
	if (cfg.ratio < 1.0 && (double)(ids__span_id() >> 11) * 0x1.0p-53 >= cfg.ratio)
		return 0;
	if (cfg.max_tps <= 0)
		return 1;
	if (last_ts && ts > last_ts) {
		tokens += (double)(ts - last_ts) * 1e-9 * cfg.max_tps;
		if (tokens > cfg.max_tps)
			tokens = cfg.max_tps; /* a burst of at most one second's worth */
	}
	if (ts > last_ts)
		last_ts = ts;
	if (tokens < 1.0)
		return 0;
	tokens -= 1.0;
	return 1;
}

uint32_t sampler__root_cost(uint64_t kept_roots, uint64_t followers)
{
	static uint64_t last_roots, last_followers;
	static uint32_t cost = 256;
	uint64_t dr = kept_roots - last_roots, df = followers - last_followers;

	if (kept_roots < last_roots || followers < last_followers) {
		/* counters restarted (a test's fresh instance) */
		last_roots = kept_roots;
		last_followers = followers;
		return cost = 256;
	}
	if (dr < 64)
		return cost; /* too few to measure: keep the last figure */
	last_roots = kept_roots;
	last_followers = followers;
	/* the batch shape, not the rate: no feedback loop to damp */
	cost = (uint32_t)(256 * (dr + df) / dr);
	if (cost > 256 * 1024)
		cost = 256 * 1024;
	return cost;
}

void sampler__root(uint8_t trace_id[16], uint64_t ts)
{
	uint32_t m;

	if (decide(ts)) {
		if (marked(trace_id))
			trace_id[12] ^= 1; /* drawn with the mark by chance: not skipped */
		return;
	}
	m = mark_of(trace_id);
	memcpy(trace_id + 12, &m, 4);
	stats.traces_skipped++;
	any_skipped = 1;
}

void sampler__inherited(const uint8_t trace_id[16], int sampled)
{
	uint8_t(*s)[16] = &inherited[slot_of(trace_id)];

	if (!sampled) {
		memcpy(*s, trace_id, 16);
		any_skipped = 1;
	} else if (!memcmp(*s, trace_id, 16))
		memset(*s, 0, 16);
}

int sampler__keep(const uint8_t trace_id[16])
{
	if (!any_skipped)
		return 1;
	if (marked(trace_id))
		return 0;
	return memcmp(inherited[slot_of(trace_id)], trace_id, 16) != 0;
}

const char *sampler__type(double *param)
{
	if (!configured)
		return NULL;
	if (cfg.ratio < 1.0) {
		*param = cfg.ratio; /* a rate limit, if any, caps it */
		return "probabilistic";
	}
	if (cfg.max_tps > 0) {
		*param = cfg.max_tps;
		return "ratelimiting";
	}
	*param = 1;
	return "const";
}

void sampler__tag_root(struct span *s)
{
	double param;
	const char *type = sampler__type(&param);

	if (!type)
		return;
	span__tag_cstr(s, "sampler.type", type);
	if (param < 1.0)
		span__tag_cstr(s, "sampler.param", ratio_str);
	else
		span__tag_int(s, "sampler.param", (int64_t)param);
}
