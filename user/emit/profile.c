/* The latency profile sink (profile.h): series found by a hash of their
 * key, histograms filled in place, the table grouped at print time. */
#include "emit/profile.h"

#include "base/clock.h"
#include "base/hash.h"
#include "base/stats.h"
#include "emit/sink.h"
#include "span/span.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static struct prof_series **series; /* [max + overflow] */
static uint32_t nseries, max_series, idx_mask;
static uint32_t *idx; /* open addressing: series index + 1, 0 empty */
static int with_windows;
static uint64_t start_ns;

/* the overflow series: one per side and protocol */
static struct prof_series *overflow[3][3];

uint32_t profile__nseries(void)
{
	return nseries;
}

const struct prof_series *profile__series(uint32_t i)
{
	return i < nseries ? series[i] : NULL;
}

uint64_t profile__start(void)
{
	return start_ns;
}

static void put(char *dst, size_t cap, const char *v, size_t n)
{
	if (n > cap - 1)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = 0;
}

#define KEYIS(t, lit) ((t)->klen == sizeof(lit) - 1 && memcmp((t)->key, lit, sizeof(lit) - 1) == 0)

/* what a span's series depends on, as slices into the span */
struct raw {
	const struct span_tag *method, *path, *op, *ns, *error, *peer;
	int status, port;
};

/* the tag a mark points at, when it is there and has the key expected */
static const struct span_tag *marked(const struct span *sp, uint8_t m, const char *key, size_t klen)
{
	const struct span_tag *t;

	if (!m || m > sp->ntags)
		return NULL;
	/* a mark is set just before its tag is added, and a tag that did not
	 * fit leaves it past ntags: the key's length is check enough */
	(void)key;
	t = &sp->tags[m - 1];
	return t->klen == klen ? t : NULL;
}

#define MARKED(sp, f, lit) marked(sp, (sp)->mark.f, lit, sizeof(lit) - 1)

/* the tags the protocols marked (span.h) that vary from one request to the
 * next; 0 when the span is neither HTTP nor Redis */
static int raw_of(const struct span *sp, struct raw *r)
{
	const struct span_tag *t;

	r->method = r->op = r->path = r->ns = r->error = r->peer = NULL;
	r->status = r->port = 0;
	t = MARKED(sp, op, "http.request.method");
	if (t && t->type == TAG_STR) {
		r->method = t;
		r->path = MARKED(sp, path, "url.path");
		if ((t = MARKED(sp, status, "http.response.status_code")) && t->type == TAG_INT)
			r->status = (int)t->i;
	} else if ((t = MARKED(sp, op, "db.operation.name")) && t->type == TAG_STR) {
		r->op = t;
		r->ns = MARKED(sp, ns, "db.namespace");
	} else {
		return 0;
	}
	r->error = MARKED(sp, error, "error.type");
	return 1;
}

/* what the connection fixes: a client's peer and port */
static void raw_conn(const struct span *sp, struct raw *r)
{
	const struct span_tag *t;

	if (sp->kind == SPAN_KIND_CLIENT) {
		r->peer = MARKED(sp, peer, "server.address");
		/* span__begin puts server.port last for a client */
		t = sp->nbegin ? &sp->tags[sp->nbegin - 1] : NULL;
		if (t && !KEYIS(t, "server.port")) {
			t = NULL;
			for (uint32_t i = 0; i < sp->nbegin; i++)
				if (KEYIS(&sp->tags[i], "server.port"))
					t = &sp->tags[i];
		}
		if (t && t->type == TAG_INT)
			r->port = (int)t->i;
	}
}

/* fp__add without its byte loop: short values (most here) in at most two
 * loads, 1 to 3 bytes as wyhash reads them */
static inline uint64_t add_bytes(uint64_t h, const uint8_t *b, size_t n)
{
	uint64_t w = 0;
	uint32_t lo, hi;

	for (; n > 8; n -= 8, b += 8) {
		__builtin_memcpy(&w, b, 8);
		h = fp__mix(h, w);
	}
	if (n >= 4) {
		__builtin_memcpy(&lo, b, 4);
		__builtin_memcpy(&hi, b + n - 4, 4);
		w = (uint64_t)hi << 32 | lo;
	} else if (n) {
		w = (uint64_t)b[0] << 16 | (uint64_t)b[n >> 1] << 8 | b[n - 1];
	} else {
		w = 0;
	}
	return fp__mix(h, w ^ (uint64_t)n << 56);
}

static inline __attribute__((always_inline)) uint64_t add_tag(uint64_t h, const struct span_tag *t)
{
	return t && t->type == TAG_STR ? add_bytes(h, (const uint8_t *)t->s, t->slen) : fp__mix(h, 0x5a);
}

/* a fingerprint of the raw inputs: equal for spans of one series before
 * their route is even collapsed */
static uint64_t raw_fp(const struct span *sp, const struct raw *r)
{
	/* the service by its process and the address of its cached name: a
	 * hit checks the name itself (a pid reused by another program) */
	uint64_t h = fp__mix(FP_INIT, (uint64_t)sp->kind | (uint64_t)(uint16_t)r->status << 8 |
					      (uint64_t)(uint16_t)r->port << 24 | (uint64_t)sp->pid << 32);

	h = fp__mix(h, (uint64_t)(uintptr_t)sp->service);
	h = add_tag(h, r->method);
	h = add_tag(h, r->path);
	h = add_tag(h, r->op);
	h = add_tag(h, r->ns);
	h = add_tag(h, r->error);
	return add_tag(h, r->peer);
}

static void put_tag(char *dst, size_t cap, const struct span_tag *t)
{
	if (t && t->type == TAG_STR)
		put(dst, cap, t->s, t->slen);
}

static void key_of(const struct span *sp, const struct raw *r, struct prof_key *k)
{
	memset(k, 0, sizeof(*k));
	k->kind = sp->kind;
	put(k->service, sizeof(k->service), sp->service, strlen(sp->service));
	if (r->method && r->method->type == TAG_STR) {
		k->proto = PROF_HTTP;
		put_tag(k->method, sizeof(k->method), r->method);
		if (r->path && r->path->type == TAG_STR)
			route__collapse(k->route, sizeof(k->route), r->path->s, r->path->slen);
		k->status = (uint16_t)r->status;
	} else {
		k->proto = PROF_REDIS;
		put_tag(k->method, sizeof(k->method), r->op);
		put_tag(k->route, sizeof(k->route), r->ns);
	}
	put_tag(k->error, sizeof(k->error), r->error);
	put_tag(k->peer, sizeof(k->peer), r->peer);
	k->port = (uint16_t)r->port;
}

static uint64_t key_hash(const struct prof_key *k)
{
	uint64_t h = fp__mix(FP_INIT, (uint64_t)k->kind | (uint64_t)k->proto << 8 | (uint64_t)k->status << 16 |
					      (uint64_t)k->port << 32);

	h = fp__add(h, k->service, strlen(k->service));
	h = fp__add(h, k->method, strlen(k->method));
	h = fp__add(h, k->route, strlen(k->route));
	h = fp__add(h, k->peer, strlen(k->peer));
	return fp__add(h, k->error, strlen(k->error));
}

static struct prof_series *series_new(const struct prof_key *k, uint64_t h)
{
	struct prof_series *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (with_windows && !(s->slots = calloc(PROFILE_SLOTS, sizeof(*s->slots)))) {
		free(s);
		return NULL;
	}
	s->k = *k;
	s->hash = h;
	return s;
}

static struct prof_series *overflow_series(const struct prof_key *k)
{
	struct prof_series **o = &overflow[k->kind % 3][k->proto % 3];

	if (!*o) {
		struct prof_key ok = {.kind = k->kind, .proto = k->proto, .overflow = 1};
		if (!(*o = series_new(&ok, 0)))
			return NULL;
		series[nseries++] = *o;
	}
	return *o; /* the caller counts the span in profile_overflow */
}

static struct prof_series *lookup(const struct prof_key *k)
{
	uint64_t h = key_hash(k);
	uint32_t i = (uint32_t)h & idx_mask;

	for (;; i = (i + 1) & idx_mask) {
		uint32_t e = idx[i];
		if (!e)
			break;
		struct prof_series *s = series[e - 1];
		if (s->hash == h && memcmp(&s->k, k, sizeof(*k)) == 0)
			return s;
	}
	if (stats.profile_series >= max_series)
		return overflow_series(k);
	struct prof_series *s = series_new(k, h);
	if (!s)
		return overflow_series(k);
	series[nseries] = s;
	idx[i] = ++nseries;
	stats.profile_series++;
	return s;
}

/* The series of recent raw fingerprints, direct-mapped: a hit skips the
 * route, the key and its comparison. The fingerprint is 64 bits of the
 * raw fields; a collision would count a span in another series. */
#define MEMO_SIZE 4096
static struct memo {
	uint64_t fp;
	struct prof_series *s;
} memo[MEMO_SIZE];

static void profile_emit(struct sink *base, const struct span *sp)
{
	struct prof_key k;
	struct prof_series *s;
	struct raw r;
	uint64_t d = sp->end_ns - sp->start_ns;

	(void)base;
	if (!raw_of(sp, &r))
		return;
	/* first by connection (span__begin's key: one process, one peer, one
	 * side), so only what varies per request is hashed */
	struct memo *mc = NULL;
	uint64_t fc = 0;
	if (sp->begin_key) {
		fc = fp__mix(FP_INIT ^ 0xc0, sp->begin_key ^ (uint64_t)(uint16_t)r.status << 48);
		fc = add_tag(fc, r.method);
		fc = add_tag(fc, r.path);
		fc = add_tag(fc, r.op);
		fc = add_tag(fc, r.ns);
		fc = add_tag(fc, r.error);
		mc = &memo[fc & (MEMO_SIZE - 1)];
		if (mc->s && mc->fp == fc) {
			s = mc->s;
			goto found;
		}
	}
	raw_conn(sp, &r);
	uint64_t fp = raw_fp(sp, &r);
	struct memo *m = &memo[fp & (MEMO_SIZE - 1)];
	if (m->s && m->fp == fp && strcmp(m->s->k.service, sp->service) == 0) {
		s = m->s;
	} else {
		key_of(sp, &r, &k);
		if (!(s = lookup(&k)))
			return;
		m->fp = fp;
		m->s = s;
	}
	if (mc) {
		mc->fp = fc;
		mc->s = s;
	}
found:
	if (s->k.overflow)
		stats.profile_overflow++;
	hist__add(&s->h, d);
	s->errors += sp->error;
	if (s->slots) {
		uint64_t epoch = sp->end_ns / PROFILE_SLOT_NS;
		struct prof_slot *sl = &s->slots[epoch % PROFILE_SLOTS];
		if (sl->epoch != epoch) {
			memset(sl, 0, sizeof(*sl));
			sl->epoch = epoch;
		}
		hist32__add(&sl->h, d);
		sl->errors += sp->error;
	}
}

static void profile_destroy(struct sink *base)
{
	for (uint32_t i = 0; i < nseries; i++) {
		free(series[i]->slots);
		free(series[i]);
	}
	free(series);
	free(idx);
	series = NULL;
	idx = NULL;
	nseries = 0;
	memset(memo, 0, sizeof(memo));
	memset(overflow, 0, sizeof(overflow));
	free(base);
}

struct sink *profile__new(uint32_t max, int windows)
{
	struct sink *s = calloc(1, sizeof(*s));
	uint32_t cap = 16;

	while (cap < 2 * max)
		cap <<= 1;
	series = calloc(max + 9, sizeof(*series));
	idx = calloc(cap, sizeof(*idx));
	if (!s || !series || !idx) {
		free(s);
		free(series);
		free(idx);
		return NULL;
	}
	idx_mask = cap - 1;
	max_series = max;
	with_windows = windows;
	start_ns = clock__to_wall(clock__mono_now());
	s->name = "profile";
	s->emit = profile_emit;
	s->destroy = profile_destroy;
	return s;
}

/* ---- reading: rows grouped by service, side, operation ---- */

static int group_cmp(const struct prof_key *a, const struct prof_key *b)
{
	int c = strcmp(a->service, b->service);

	if (c)
		return c;
	if (a->kind != b->kind)
		return a->kind - b->kind;
	if (a->proto != b->proto)
		return a->proto - b->proto;
	if (a->overflow != b->overflow)
		return a->overflow - b->overflow;
	if ((c = strcmp(a->method, b->method)))
		return c;
	return a->proto == PROF_HTTP ? strcmp(a->route, b->route) : 0;
}

static int series_cmp(const void *x, const void *y)
{
	const struct prof_series *a = *(struct prof_series *const *)x, *b = *(struct prof_series *const *)y;

	return group_cmp(&a->k, &b->k);
}

static void op_name(char *out, size_t cap, const struct prof_key *k)
{
	if (k->overflow)
		snprintf(out, cap, "(other: series limit)");
	else if (k->proto == PROF_HTTP)
		snprintf(out, cap, "%s %s", k->method, k->route);
	else
		snprintf(out, cap, "%s", k->method);
}

static void row_finish(struct prof_row *r, const struct hist *h, double secs)
{
	r->count = h->count;
	r->sum_ns = h->sum_ns;
	r->p50 = hist__quantile(h, 0.50);
	r->p90 = hist__quantile(h, 0.90);
	r->p99 = hist__quantile(h, 0.99);
	r->max = h->max_ns;
	r->rate = secs > 0 ? (double)h->count / secs : 0;
}

int profile__rows(struct prof_row *rows, int max, int window, uint64_t now_ns)
{
	struct prof_series **sorted = malloc((nseries + 1) * sizeof(*sorted));
	struct hist *h = malloc(sizeof(*h));
	uint64_t cur = now_ns / PROFILE_SLOT_NS;
	double secs;
	int n = 0;

	if (!sorted || !h) {
		free(sorted);
		free(h);
		return -ENOMEM;
	}
	if (window) {
		/* the current slot so far and the four before it, or since the start */
		uint64_t from = (cur - (PROFILE_SLOTS - 1)) * PROFILE_SLOT_NS;
		if (from < start_ns)
			from = start_ns;
		secs = now_ns > from ? (double)(now_ns - from) / 1e9 : 0;
	} else {
		secs = now_ns > start_ns ? (double)(now_ns - start_ns) / 1e9 : 0;
	}
	memcpy(sorted, series, nseries * sizeof(*sorted));
	qsort(sorted, nseries, sizeof(*sorted), series_cmp);
	for (uint32_t i = 0; i < nseries && n < max;) {
		struct prof_row *r = &rows[n];
		uint32_t j = i;

		memset(r, 0, sizeof(*r));
		memset(h, 0, sizeof(*h));
		r->k = &sorted[i]->k;
		op_name(r->op, sizeof(r->op), r->k);
		for (; j < nseries && group_cmp(&sorted[i]->k, &sorted[j]->k) == 0; j++) {
			const struct prof_series *s = sorted[j];
			if (!window) {
				hist__merge(h, &s->h);
				r->errors += s->errors;
				continue;
			}
			for (int k = 0; s->slots && k < PROFILE_SLOTS; k++) {
				const struct prof_slot *sl = &s->slots[k];
				if (sl->epoch + PROFILE_SLOTS > cur && sl->epoch <= cur) {
					hist__merge32(h, &sl->h);
					r->errors += sl->errors;
				}
			}
		}
		row_finish(r, h, secs);
		i = j;
		if (r->count || !window)
			n++;
	}
	free(sorted);
	free(h);
	return n;
}

void profile__fmt_ns(char *out, size_t outlen, uint64_t ns)
{
	double v = (double)ns;

	if (ns < 1000)
		snprintf(out, outlen, "%" PRIu64 "ns", ns);
	else if (ns < 1000000)
		snprintf(out, outlen, v < 1e4 ? "%.2fus" : v < 1e5 ? "%.1fus" : "%.0fus", v / 1e3);
	else if (ns < 1000000000)
		snprintf(out, outlen, v < 1e7 ? "%.2fms" : v < 1e8 ? "%.1fms" : "%.0fms", v / 1e6);
	else
		snprintf(out, outlen, v < 1e10 ? "%.2fs" : v < 1e11 ? "%.1fs" : "%.0fs", v / 1e9);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static const char *side(const struct prof_key *k)
{
	return k->kind == SPAN_KIND_SERVER ? "server" : "client";
}

void profile__print(FILE *f, int json, uint64_t now_ns)
{
	struct prof_row *rows = calloc(nseries + 1, sizeof(*rows));
	double secs = now_ns > start_ns ? (double)(now_ns - start_ns) / 1e9 : 0;
	uint64_t total = 0;
	int n;

	if (!rows || (n = profile__rows(rows, (int)nseries, 0, now_ns)) < 0) {
		fprintf(stderr, "spantap: failed to build the latency profile: %s\n", strerror(ENOMEM));
		free(rows);
		return;
	}
	for (int i = 0; i < n; i++)
		total += rows[i].count;
	if (json) {
		fprintf(f,
			"{\"profile\":{\"duration_s\":%.3f,\"spans\":%" PRIu64 ",\"series\":%" PRIu64
			",\"series_overflow_spans\":%" PRIu64 ",\"operations\":[",
			secs, total, stats.profile_series, stats.profile_overflow);
		for (int i = 0; i < n; i++) {
			const struct prof_row *r = &rows[i];
			fprintf(f, "%s{\"service\":", i ? "," : "");
			json_str(f, r->k->service);
			fprintf(f, ",\"side\":\"%s\",\"protocol\":\"%s\",\"operation\":", side(r->k),
				r->k->proto == PROF_HTTP ? "http" : "redis");
			json_str(f, r->op);
			fprintf(f,
				",\"count\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"rate\":%.3f,\"sum_us\":%" PRIu64
				",\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}",
				r->count, r->errors, r->rate, r->sum_ns / 1000, (double)r->p50 / 1e3,
				(double)r->p90 / 1e3, (double)r->p99 / 1e3, (double)r->max / 1e3);
		}
		fputs("]}}\n", f);
		fflush(f);
		free(rows);
		return;
	}
	fprintf(f, "spantap: latency profile over %.1f s: %" PRIu64 " spans, %d operations\n", secs, total, n);
	fprintf(f, "%-16s %-6s %-34s %8s %7s %9s %8s %8s %8s %8s\n", "SERVICE", "SIDE", "OPERATION", "COUNT", "ERRORS",
		"RATE/s", "P50", "P90", "P99", "MAX");
	for (int i = 0; i < n; i++) {
		const struct prof_row *r = &rows[i];
		char p50[16], p90[16], p99[16], mx[16];

		profile__fmt_ns(p50, sizeof(p50), r->p50);
		profile__fmt_ns(p90, sizeof(p90), r->p90);
		profile__fmt_ns(p99, sizeof(p99), r->p99);
		profile__fmt_ns(mx, sizeof(mx), r->max);
		fprintf(f, "%-16s %-6s %-34s %8" PRIu64 " %7" PRIu64 " %9.2f %8s %8s %8s %8s\n", r->k->service,
			side(r->k), r->op, r->count, r->errors, r->rate, p50, p90, p99, mx);
	}
	if (stats.profile_overflow)
		fprintf(f, "(%" PRIu64 " spans counted as \"other\": more than %u series; --limit series=N)\n",
			stats.profile_overflow, max_series);
	fflush(f);
	free(rows);
}
