/* Push records (see queuehop.h): a 4-way set-associative table keyed by the
 * item's FNV-1a hash and the side (client or server) that saw the push. */
#include "trace/queuehop.h"

#include "base/stats.h"
#include "conn/conn.h"
#include "trace/alias.h"
#include "trace/link.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_SETS 4096 /* power of two */
#define WAYS 4
/* both ends of one pop (redis-server's and the client's) meet the record */
#define POPPED_GRACE_NS 5000000000ULL

enum { POP_NONE = 0, POP_ITEM_FIRST, POP_KEY_ITEM };

struct push {
	uint64_t hash; /* 0: empty */
	uint8_t role;
	uint8_t ambiguous;
	uint8_t popped;
	uint8_t ref; /* holds a reference on a provisional trace */
	uint8_t trace_id[16];
	uint64_t span_id;
	uint64_t ts, popped_ts;
};

static struct push default_table[DEFAULT_SETS][WAYS];
static struct push (*table)[WAYS] = default_table;
static uint32_t SETS = DEFAULT_SETS;
static uint32_t nrec;

static const char *const pushes[] = {"LPUSH", "RPUSH", "LPUSHX", "RPUSHX"};
static const char *const pops_item[] = {"RPOP", "LPOP", "LMOVE", "BLMOVE", "RPOPLPUSH", "BRPOPLPUSH"};
static const char *const pops_key_item[] = {"BRPOP", "BLPOP"};

static int in(const char *cmd, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (cmd[0] == set[i][0] && strcmp(cmd, set[i]) == 0)
			return 1;
	return 0;
}

#define IN(cmd, set) in(cmd, set, sizeof(set) / sizeof(set[0]))

static struct push *set_of(uint64_t hash, uint8_t role)
{
	return table[(uint32_t)((hash ^ role) * 0x9e3779b97f4a7c15ULL >> 40) & (SETS - 1)];
}

static void clear(struct push *r)
{
	if (r->hash)
		nrec--;
	if (r->ref)
		alias__unref_trace(r->trace_id);
	memset(r, 0, sizeof(*r));
}

static void record(uint64_t hash, uint8_t role, const struct pending *p, uint64_t ts)
{
	struct push *set = set_of(hash, role), *r = NULL;

	for (int w = 0; w < WAYS; w++) {
		if (set[w].hash == hash && set[w].role == role) {
			if (!set[w].popped) {
				/* the same item twice: which one a pop takes is unknown */
				set[w].ambiguous = 1;
				set[w].ts = ts;
				return;
			}
			r = &set[w];
			break;
		}
	}
	if (!r) {
		/* an empty way, else the oldest record makes room */
		r = &set[0];
		for (int w = 0; w < WAYS; w++) {
			if (!set[w].hash) {
				r = &set[w];
				break;
			}
			if (set[w].ts < r->ts)
				r = &set[w];
		}
	}
	clear(r);
	nrec++;
	r->hash = hash;
	r->role = role;
	memcpy(r->trace_id, p->trace_id, 16);
	r->span_id = p->span_id;
	r->ts = ts;
	r->ref = (uint8_t)alias__ref_trace(p->trace_id);
}

static struct push *lookup(uint64_t hash, uint8_t role, uint64_t ts)
{
	struct push *set = set_of(hash, role);

	for (int w = 0; w < WAYS; w++) {
		struct push *r = &set[w];
		if (r->hash != hash || r->role != role || r->ambiguous)
			continue;
		if (r->popped && ts - r->popped_ts > POPPED_GRACE_NS)
			return NULL;
		if (!r->popped) {
			r->popped = 1;
			r->popped_ts = ts;
		}
		return r;
	}
	return NULL;
}

void queuehop__command(const struct conn *c, struct pending *p, const struct resp_msg *m, uint64_t ts)
{
	const char *cmd = p->redis.cmd;

	if (IN(cmd, pushes)) {
		if (m->nargs >= 3 && m->arg[2].hash)
			record(m->arg[2].hash, c->role == ST_ROLE_CLIENT ? ST_ROLE_CLIENT : ST_ROLE_SERVER, p, ts);
		return;
	}
	if (IN(cmd, pops_key_item))
		p->redis.pop = POP_KEY_ITEM;
	else if (IN(cmd, pops_item))
		p->redis.pop = POP_ITEM_FIRST;
	else
		return;
	/* a pop that nothing else put in a trace waits for its reply to say
	 * which trace it continues */
	if (!p->parent_id && p->ctx.source == TCTX_NONE && !p->aliased)
		p->redis.pop_waited = alias__wait(p, 0, ALIAS_POP) == 0;
}

void queuehop__reply(const struct conn *c, struct pending *p, const struct resp_msg *m, uint64_t ts)
{
	struct push *r = NULL;
	uint64_t hash = 0;

	if (!p->redis.pop)
		return;
	if (m && p->redis.pop == POP_KEY_ITEM && m->type == '*' && m->count == 2 && m->nargs >= 2)
		hash = m->arg[1].hash;
	else if (m && p->redis.pop == POP_ITEM_FIRST && (m->type == '$' || m->type == '*') && m->nargs >= 1)
		hash = m->arg[0].hash;
	if (hash && !(r = lookup(hash, ST_ROLE_CLIENT, ts)))
		r = lookup(hash, ST_ROLE_SERVER, ts);
	/* a pop that waits (here, or at the client's end of this one) is
	 * decided by whichever end sees the reply first */
	if (alias__waiting(p->trace_id) == ALIAS_POP) {
		uint8_t t[16];
		memcpy(t, p->trace_id, 16);
		alias__resolve_id(t); /* the server's end may wait on its client's */
		if (r && alias__link(t, r->trace_id, 0, r->span_id) == 0)
			stats.queue_hops++;
		else
			alias__cut(t);
		return;
	}
	if (p->redis.pop_waited)
		return; /* decided at the other end */
	/* a pop inside a request keeps its trace and refers to the push; the
	 * server's end of a pop whose client is (or may be) traced leaves it to
	 * the client */
	if (r && (c->role == ST_ROLE_CLIENT || p->link == LS_NONE) && !p->follows_set) {
		p->follows_set = 1;
		p->follows_id = r->span_id;
		memcpy(p->follows_trace, r->trace_id, 16);
		alias__resolve_id(p->follows_trace);
		stats.queue_hops++;
	}
}

int queuehop__init(uint32_t max_pushes)
{
	uint32_t n = 16;
	struct push(*t)[WAYS];

	while (n * WAYS < max_pushes)
		n <<= 1;
	if (n == SETS)
		return 0;
	queuehop__reset();
	if (!(t = calloc(n, sizeof(*t))))
		return -1;
	if (table != default_table)
		free(table);
	table = t;
	SETS = n;
	return 0;
}

void queuehop__reset(void)
{
	for (uint32_t s = 0; nrec && s < SETS; s++)
		for (int w = 0; w < WAYS; w++)
			if (table[s][w].hash)
				clear(&table[s][w]);
}
