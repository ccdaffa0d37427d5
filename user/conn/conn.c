/* Connection table (see conn.h): a chained hash over a preallocated pool, an
 * LRU list for eviction, and the per-connection request queue and head
 * reassembly buffers that the protocol modules share. */
#include "conn/conn.h"

#include "base/addr.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/pool.h"
#include "base/procinfo.h"
#include "base/stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct pool *conn_pool, *pending_pool, *reasm_pool;
static struct conn **buckets, **tbuckets;
static uint32_t nbuckets, nconns;
static uint64_t serials;
static struct conn lru; /* sentinel: lru.lru_next is the least recent */
static struct conn_limits limits;

int conn_table__init(const struct conn_limits *lim)
{
	limits = *lim;
	for (nbuckets = 1; nbuckets < lim->max_conns; nbuckets <<= 1)
		;
	buckets = calloc(nbuckets, sizeof(*buckets));
	tbuckets = calloc(nbuckets, sizeof(*tbuckets));
	conn_pool = pool__new(sizeof(struct conn), lim->max_conns);
	pending_pool = pool__new(sizeof(struct pending), lim->max_pending);
	reasm_pool = pool__new(lim->reasm_size, lim->max_reasm);
	if (!buckets || !tbuckets || !conn_pool || !pending_pool || !reasm_pool) {
		conn_table__free();
		return -ENOMEM;
	}
	lru.lru_next = lru.lru_prev = &lru;
	return 0;
}

/* Processes that exited, closed a little later: the kernel sends a
 * thread's deferred request start when the thread exits, which may be
 * after its process's exit event (the leader is not always last). */
#define EXIT_GRACE_NS 100000000ULL
#define MAX_EXITS 256
static struct {
	uint32_t tgid;
	uint64_t ts;
} exits[MAX_EXITS];
static uint32_t exits_head, exits_n;

void conn_table__free(void)
{
	free(buckets);
	free(tbuckets);
	buckets = tbuckets = NULL;
	pool__free(conn_pool);
	pool__free(pending_pool);
	pool__free(reasm_pool);
	conn_pool = pending_pool = reasm_pool = NULL;
	nconns = 0;
	exits_head = exits_n = 0;
}

uint32_t conn_table__count(void)
{
	return nconns;
}

static uint32_t bucket_of(uint64_t id)
{
	return (uint32_t)((id * 0x9e3779b97f4a7c15ULL) >> 32) & (nbuckets - 1);
}

/* the 4-tuple as seen from the local end */
static uint32_t tuple_bucket(const uint8_t la[16], uint16_t lp, const uint8_t ra[16], uint16_t rp)
{
	uint64_t h = fp__add(FP_INIT, la, 16);

	h = fp__add(h, &lp, sizeof(lp));
	h = fp__add(h, ra, 16);
	h = fp__add(h, &rp, sizeof(rp));
	return (uint32_t)(h >> 32) & (nbuckets - 1);
}

static void norm_addr(uint8_t out[16], uint8_t family, const uint8_t a[16])
{
	if (family == 4) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, a, 4);
	} else {
		memcpy(out, a, 16);
	}
}

int conn_table__peers(const struct conn *c, struct conn **out, int max)
{
	int n = 0;

	if (!c->family)
		return 0;
	for (struct conn *p = tbuckets[c->peer_tbucket]; p && n < max; p = p->tnext)
		if (p != c && p->lport == c->rport && p->rport == c->lport && memcmp(p->nladdr, c->nraddr, 16) == 0 &&
		    memcmp(p->nraddr, c->nladdr, 16) == 0)
			out[n++] = p;
	return n;
}

static void lru_unlink(struct conn *c)
{
	c->lru_prev->lru_next = c->lru_next;
	c->lru_next->lru_prev = c->lru_prev;
}

static void lru_append(struct conn *c)
{
	c->lru_prev = lru.lru_prev;
	c->lru_next = &lru;
	lru.lru_prev->lru_next = c;
	lru.lru_prev = c;
}

static struct conn *lookup(uint64_t id)
{
	for (struct conn *c = buckets[bucket_of(id)]; c; c = c->hnext)
		if (c->conn_id == id)
			return c;
	return NULL;
}

static void conn_destroy(struct conn *c, uint64_t ts)
{
	struct conn **pp = &buckets[bucket_of(c->conn_id)];

	c->ops->close(c, ts);
	pending__drop_all(c); /* empty: close ended every request */
	while (*pp != c)
		pp = &(*pp)->hnext;
	*pp = c->hnext;
	pp = &tbuckets[c->tbucket];
	while (*pp != c)
		pp = &(*pp)->tnext;
	*pp = c->tnext;
	lru_unlink(c);
	pool__put(conn_pool, c);
	nconns--;
}

/* the session of each protocol the kernel classifies, registered from above */
static const struct proto_ops *protos[ST_PROTO_OTHER];

void conn_table__set_proto(uint8_t proto, const struct proto_ops *ops)
{
	if (proto < ST_PROTO_OTHER)
		protos[proto] = ops;
}

static struct conn *conn_create(const struct st_event_hdr *h)
{
	const struct proto_ops *ops = h->proto < ST_PROTO_OTHER ? protos[h->proto] : NULL;
	struct conn *c;

	if (!ops)
		return NULL;
	c = pool__get(conn_pool);
	if (!c) {
		/* full: the least recently active connection makes room */
		conn_destroy(lru.lru_next, h->ts_enter);
		stats.conns_evicted++;
		c = pool__get(conn_pool);
		if (!c)
			return NULL;
	}
	c->conn_id = h->conn_id;
	c->serial = ++serials;
	c->ops = ops;
	c->tgid = h->tgid;
	c->fd = h->fd;
	c->role = h->role;
	c->proto = h->proto;
	c->tls = (h->flags & ST_F_TLS) != 0; /* a TLS connection's events all are */
	c->last_dir = 0xff;
	c->family = h->family;
	c->lport = h->lport;
	c->rport = h->rport;
	memcpy(c->laddr, h->laddr, 16);
	memcpy(c->raddr, h->raddr, 16);
	memcpy(c->comm, h->comm, ST_COMM_LEN);
	c->comm[ST_COMM_LEN - 1] = 0;
	norm_addr(c->nladdr, c->family, c->laddr);
	norm_addr(c->nraddr, c->family, c->raddr);
	addr__format(c->rip, sizeof(c->rip), c->family, c->raddr);
	addr__format(c->lip, sizeof(c->lip), c->family, c->laddr);
	c->rip_len = (uint8_t)strlen(c->rip);
	c->lip_len = (uint8_t)strlen(c->lip);
	c->v6 = strchr(c->rip, ':') != NULL;
	c->peer_len = (uint8_t)snprintf(c->peer, sizeof(c->peer), c->v6 ? "[%s]:%u" : "%s:%u", c->rip, c->rport);
	c->hnext = buckets[bucket_of(c->conn_id)];
	buckets[bucket_of(c->conn_id)] = c;
	/* hashed once: the peers are looked up at every request */
	c->tbucket = tuple_bucket(c->nladdr, c->lport, c->nraddr, c->rport);
	c->peer_tbucket = tuple_bucket(c->nraddr, c->rport, c->nladdr, c->lport);
	c->tnext = tbuckets[c->tbucket];
	tbuckets[c->tbucket] = c;
	lru_append(c);
	nconns++;
	stats.conns_opened++;
	/* read /proc now, while a short-lived client is still alive */
	procinfo__service(c->tgid, c->comm);
	ops->init(c);
	return c;
}

static void close_process(uint32_t tgid, uint64_t ts);

static void exit_pop(void)
{
	close_process(exits[exits_head].tgid, exits[exits_head].ts);
	exits_head = (exits_head + 1) % MAX_EXITS;
	exits_n--;
}

static void exit_push(uint32_t tgid, uint64_t ts)
{
	if (exits_n == MAX_EXITS)
		exit_pop();
	exits[(exits_head + exits_n) % MAX_EXITS].tgid = tgid;
	exits[(exits_head + exits_n) % MAX_EXITS].ts = ts;
	exits_n++;
}

void conn_table__flush_exits(void)
{
	while (exits_n)
		exit_pop();
}

static void close_process(uint32_t tgid, uint64_t ts)
{
	struct conn *c = lru.lru_next, *next;

	for (; c != &lru; c = next) {
		next = c->lru_next;
		if (c->tgid == tgid)
			conn_destroy(c, ts);
	}
	procinfo__forget(tgid);
}

int conn_table__handle(const void *data, size_t size)
{
	const struct st_event_hdr *h = data;
	struct conn *c;

	if (size < sizeof(*h) || h->cap_len > size - sizeof(*h) || h->cap_len > h->len || h->cap_len > ST_CAPTURE_MAX)
		return -EINVAL;
	switch (h->type) {
	case ST_EV_DATA:
		stats.events++;
		stats.bytes += h->len;
		c = lookup(h->conn_id);
		if (!c && !(c = conn_create(h)))
			return 0;
		if (h->flags & ST_F_GAP)
			stats.gaps++;
		lru_unlink(c);
		lru_append(c);
		c->last_ts = h->ts_exit;
		if (h->flags & ST_F_CTX) {
			c->kctx = h->ctx;
			c->kctx_valid = 1;
			c->kbatch = !(h->ctx.flags & ST_CTXF_SAMPLED) ? KBATCH_NONE
				    : h->ctx.src == ST_CTX_NEW	      ? KBATCH_NEW_ROOT
								      : KBATCH_KEPT;
		}
		if (h->flags & ST_F_SKIPPED)
			stats.kernel_skip_resumes++;
		c->ops->data(c, h, (const uint8_t *)(h + 1));
		return 0;
	case ST_EV_CLOSE:
		c = lookup(h->conn_id);
		if (c)
			conn_destroy(c, h->ts_exit);
		return 0;
	case ST_EV_EXIT:
		exit_push(h->tgid, h->ts_exit);
		return 0;
	default:
		return -EINVAL;
	}
}

void conn_table__tick(uint64_t now)
{
	while (exits_n && exits[exits_head].ts + EXIT_GRACE_NS <= now)
		exit_pop();
	for (struct conn *c = lru.lru_next; c != &lru; c = c->lru_next)
		if (c->ops->tick)
			c->ops->tick(c, now);
}

void conn_table__close_all(void)
{
	conn_table__flush_exits();
	while (lru.lru_next != &lru)
		conn_destroy(lru.lru_next, lru.lru_next->last_ts);
}

struct pending *pending__push(struct conn *c)
{
	struct pending *p;

	if (c->npending >= limits.max_pending_per_conn || !(p = pool__get(pending_pool))) {
		stats.pending_full++;
		return NULL;
	}
	if (c->pq_tail)
		c->pq_tail->next = p;
	else
		c->pq_head = p;
	c->pq_tail = p;
	c->npending++;
	return p;
}

/* The caller owns the result and gives it back with pending__free. */
struct pending *pending__pop(struct conn *c)
{
	struct pending *p = c->pq_head;

	if (!p)
		return NULL;
	c->pq_head = p->next;
	if (!c->pq_head)
		c->pq_tail = NULL;
	c->npending--;
	p->next = NULL;
	return p;
}

void pending__free(struct pending *p)
{
	if (p)
		pool__put(pending_pool, p);
}

void pending__drop_all(struct conn *c)
{
	struct pending *p;

	while ((p = pending__pop(c)))
		pending__free(p);
}

char *reasm__get(void)
{
	char *b = pool__get(reasm_pool);

	if (!b)
		stats.reasm_full++;
	return b;
}

void reasm__put(char *b)
{
	pool__put(reasm_pool, b);
}

uint32_t reasm__size(void)
{
	return limits.reasm_size;
}
