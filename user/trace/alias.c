/* Provisional traces (see alias.h): an open-addressing table keyed by the
 * first 8 bytes of the trace id (random and non-zero: ids__trace_id), with
 * reference counts from the requests that carry the id, and a fixed array
 * of held spans. */
#include "trace/alias.h"
#include "trace/sampler.h"

#include "base/stats.h"
#include "conn/proto.h"
#include "emit/sink.h"
#include "span/span.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { A_WAITING = 1, A_LINKED, A_CUT };

#define MAX_HOPS 8

struct alias {
	uint64_t key;  /* 0: empty slot */
	uint64_t key2; /* the trace id's other half: a lookalike is not this one */
	uint8_t state;
	uint8_t kind;	    /* enum alias_kind */
	uint8_t target_ref; /* holds a reference on the target's entry */
	uint32_t refs;
	uint64_t deadline; /* A_WAITING: 0 for none */
	uint8_t target[16];
	uint64_t root_span, root_parent, root_follows;
};

struct held {
	struct span s;
	char service[64];
	uint8_t ref_trace[16]; /* the provisional trace it keeps alive */
	uint64_t seq;	       /* order of holding: the oldest goes first when full */
};

/* A span leaves the gate: dropped if its trace is not sampled, else
 * counted and to every sink; a root says how its trace was chosen. */
static void deliver(struct span *s)
{
	if (!sampler__keep(s->trace_id)) {
		stats.spans_skipped++;
		return;
	}
	if (!s->parent_id && !s->follows_id)
		sampler__tag_root(s);
	stats.spans++;
	sink__emit_all(s);
}

int alias__skipped(const uint8_t trace_id[16])
{
	uint8_t t[16];

	memcpy(t, trace_id, 16);
	alias__resolve_id(t);
	if (alias__waiting(t) || sampler__keep(t))
		return 0;
	stats.spans_skipped++;
	return 1;
}

static struct alias *table;
static uint32_t mask, nentries;
static struct held *held;
static uint8_t *held_used;
static uint32_t max_held, nheld;
static uint64_t held_seq, watermark;

int alias__init(const struct alias_limits *lim)
{
	uint32_t n = 16;

	while (n < lim->max_traces)
		n <<= 1;
	table = calloc(n, sizeof(*table));
	max_held = lim->max_held ? lim->max_held : 1;
	held = calloc(max_held, sizeof(*held));
	held_used = calloc(max_held, 1);
	if (!table || !held || !held_used) {
		alias__free();
		return -ENOMEM;
	}
	mask = n - 1;
	nentries = nheld = 0;
	watermark = 0;
	return 0;
}

void alias__free(void)
{
	free(table);
	free(held);
	free(held_used);
	table = NULL;
	held = NULL;
	held_used = NULL;
}

static uint64_t key_of(const uint8_t t[16])
{
	uint64_t k;

	memcpy(&k, t, 8);
	return k;
}

static uint32_t home(uint64_t k)
{
	return (uint32_t)((k * 0x9e3779b97f4a7c15ULL) >> 40) & mask;
}

static uint64_t key2_of(const uint8_t t[16])
{
	uint64_t k;

	memcpy(&k, t + 8, 8);
	return k;
}

static struct alias *find(const uint8_t t[16])
{
	uint64_t k = key_of(t), k2;

	if (!nentries || !k)
		return NULL;
	k2 = key2_of(t);
	for (uint32_t i = home(k);; i = (i + 1) & mask) {
		if (table[i].key == k && table[i].key2 == k2)
			return &table[i];
		if (!table[i].key)
			return NULL;
	}
}

static void erase(struct alias *a)
{
	uint32_t i = (uint32_t)(a - table), j = i;

	table[i].key = 0;
	nentries--;
	for (;;) {
		j = (j + 1) & mask;
		if (!table[j].key)
			return;
		uint32_t k = home(table[j].key);
		if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		table[i] = table[j];
		table[j].key = 0;
		i = j;
	}
}

/* the state, with a passed deadline applied */
static uint8_t state_of(struct alias *a)
{
	if (a->state == A_WAITING && a->deadline && watermark > a->deadline) {
		a->state = A_CUT;
		stats.link_timeouts++;
	}
	return a->state;
}

static void unref_entry(struct alias *a)
{
	while (a && --a->refs == 0) {
		uint8_t tgt[16];
		int chained = a->target_ref;

		memcpy(tgt, a->target, 16);
		erase(a);
		/* erase moved entries: look the target up again */
		a = chained ? find(tgt) : NULL;
	}
}

int alias__wait(struct pending *p, uint64_t deadline, enum alias_kind kind)
{
	uint64_t k = key_of(p->trace_id);
	uint32_t i;

	if (!k || p->aliased || nentries >= mask - mask / 4) {
		stats.link_table_full += k && !p->aliased;
		return -1;
	}
	for (i = home(k); table[i].key; i = (i + 1) & mask)
		if (table[i].key == k && table[i].key2 == key2_of(p->trace_id))
			return -1; /* already provisional */
	memset(&table[i], 0, sizeof(table[i]));
	table[i].key = k;
	table[i].key2 = key2_of(p->trace_id);
	table[i].state = A_WAITING;
	table[i].deadline = deadline;
	table[i].kind = (uint8_t)kind;
	table[i].refs = 1;
	table[i].root_span = p->span_id;
	nentries++;
	p->aliased = 1;
	return 0;
}

void alias__ref(struct pending *p)
{
	struct alias *a;

	if (p->aliased || !(a = find(p->trace_id)))
		return;
	a->refs++;
	p->aliased = 1;
}

void alias__unref(struct pending *p)
{
	if (!p->aliased)
		return;
	p->aliased = 0;
	unref_entry(find(p->trace_id));
}

int alias__ref_trace(const uint8_t t[16])
{
	struct alias *a = find(t);

	if (!a)
		return 0;
	a->refs++;
	return 1;
}

void alias__unref_trace(const uint8_t t[16])
{
	unref_entry(find(t));
}

int alias__waiting(const uint8_t t[16])
{
	struct alias *a;
	uint8_t cur[16];

	memcpy(cur, t, 16);
	for (int hop = 0; hop < MAX_HOPS && (a = find(cur)); hop++) {
		uint8_t st = state_of(a);
		if (st == A_WAITING)
			return a->kind;
		if (st == A_CUT)
			return 0;
		memcpy(cur, a->target, 16);
	}
	return 0;
}

void alias__resolve_id(uint8_t t[16])
{
	struct alias *a;

	for (int hop = 0; hop < MAX_HOPS && (a = find(t)) && state_of(a) == A_LINKED; hop++)
		memcpy(t, a->target, 16);
}

static void release_decided(void);

int alias__link(const uint8_t from[16], const uint8_t to[16], uint64_t parent, uint64_t follows)
{
	struct alias *a = find(from), *b;
	uint8_t end[16];

	if (!a || state_of(a) != A_WAITING)
		return -1;
	memcpy(end, to, 16);
	alias__resolve_id(end);
	if (memcmp(end, from, 16) == 0)
		return -1; /* a trace cannot continue itself */
	a->state = A_LINKED;
	memcpy(a->target, to, 16);
	a->root_parent = parent;
	a->root_follows = follows;
	if ((b = find(to))) {
		b->refs++;
		a->target_ref = 1;
	}
	/* out now, in the order the requests came, not at the next tick */
	release_decided();
	return 0;
}

void alias__cut(const uint8_t from[16])
{
	struct alias *a = find(from);

	if (a && a->state == A_WAITING) {
		a->state = A_CUT;
		release_decided();
	}
}

/* Rewrites s as far as decided; returns the entry it waits on, or NULL. */
static struct alias *resolve(struct span *s)
{
	struct alias *a;

	for (int hop = 0; hop < MAX_HOPS && (a = find(s->trace_id)); hop++) {
		uint8_t st = state_of(a);
		if (st == A_WAITING)
			return a;
		if (st == A_CUT)
			break;
		if (s->span_id == a->root_span) {
			if (!s->parent_id)
				s->parent_id = a->root_parent;
			if (a->root_follows && !s->follows_id) {
				s->follows_id = a->root_follows;
				memcpy(s->follows_trace, a->target, 16);
			}
		}
		memcpy(s->trace_id, a->target, 16);
	}
	if (s->follows_id)
		alias__resolve_id(s->follows_trace);
	return NULL;
}

/* Delivers held span i; its trace is decided, or is decided now as it is. */
static void release(uint32_t i)
{
	struct held *h = &held[i];
	struct alias *a = resolve(&h->s);

	if (a) {
		a->state = A_CUT;
		resolve(&h->s);
	}
	held_used[i] = 0;
	nheld--;
	h->s.service = h->service;
	deliver(&h->s);
	unref_entry(find(h->ref_trace));
}

static void hold(struct span *s, struct alias *a)
{
	uint32_t i, oldest = 0;

	if (nheld == max_held) {
		/* full: the oldest held span's trace is decided as it is */
		for (i = 0; i < max_held; i++)
			if (held[i].seq < held[oldest].seq)
				oldest = i;
		stats.link_held_full++;
		release(oldest);
		if (!(a = resolve(s))) {
			deliver(s);
			return;
		}
	}
	for (i = 0; held_used[i]; i++)
		;
	span__copy(&held[i].s, s);
	strncpy(held[i].service, s->service ? s->service : "", sizeof(held[i].service) - 1);
	held[i].service[sizeof(held[i].service) - 1] = 0;
	memcpy(held[i].ref_trace, s->trace_id, 16);
	held[i].seq = ++held_seq;
	held_used[i] = 1;
	nheld++;
	a->refs++;
}

void alias__emit(struct span *s)
{
	struct alias *a;

	if (!nentries) {
		deliver(s);
		return;
	}
	if ((a = resolve(s)))
		hold(s, a);
	else
		deliver(s);
}

/* Delivers the held spans whose trace is decided, oldest first. */
static void release_decided(void)
{
	for (;;) {
		uint32_t best = max_held;
		for (uint32_t i = 0; nheld && i < max_held; i++)
			if (held_used[i] && !resolve(&held[i].s) && (best == max_held || held[i].seq < held[best].seq))
				best = i;
		if (best == max_held)
			return;
		release(best);
	}
}

void alias__tick(uint64_t wm)
{
	if (wm > watermark)
		watermark = wm;
	if (nheld)
		release_decided();
}

void alias__flush(void)
{
	/* every deadline passes; what waits without one is cut by release */
	watermark = UINT64_MAX;
	for (uint32_t i = 0; nheld && i < max_held; i++)
		if (held_used[i])
			release(i);
}

uint32_t alias__held(void)
{
	return nheld;
}

uint32_t alias__entries(void)
{
	return nentries;
}
