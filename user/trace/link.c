/* Peer linking (see link.h). The peer of a connection is found through the
 * connection table's 4-tuple index; requests are paired by fingerprint
 * (method and target, or command and key) in order, and the client's
 * request must have started first: a wrong parent is worse than none. */
#include "trace/link.h"
#include "trace/sampler.h"

#include "base/hash.h"
#include "base/stats.h"
#include "conn/conn.h"
#include "trace/alias.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>

#define LOCAL_SLOTS 1024 /* power of two: addresses of this host */
#define LATE_SLOTS 256	 /* server requests that ended still waiting */

static uint8_t local[LOCAL_SLOTS][16];
static uint8_t local_used[LOCAL_SLOTS];
static uint32_t nlocal;

/* A server request may be over (answered, span held) before its client's
 * event arrives: what the client needs to find it is kept here. */
struct late {
	uint8_t laddr[16], raddr[16]; /* the server's end */
	uint16_t lport, rport;
	uint64_t fp, ts_start;
	uint8_t trace_id[16];
};
static struct late late[LATE_SLOTS];
static uint32_t late_next, late_live;
static int addr_links = 1;

void link__by_address(int on)
{
	addr_links = on;
}

/* And a client request may be answered (its span out) before its server's
 * request arrives: the kernel sends a server's request with its response,
 * when the response's write returns, which can be after the client's read
 * returned (seen on a one-CPU machine). What the server needs is kept here. */
#define DONE_SLOTS 256
struct done {
	uint8_t laddr[16], raddr[16]; /* the client's end */
	uint16_t lport, rport;
	uint64_t fp, ts_start, span_id;
	uint8_t trace_id[16];
};
static struct done done[DONE_SLOTS];
static uint32_t done_next;

/* Client spans a server request named as parent through the TCP option:
 * taken, whether their request was seen yet or not, so that the requests
 * pipelined behind that one, paired by address and order, skip it.
 * Direct-mapped by span id: an overwritten entry only loses that skip. */
#define TAKEN_SLOTS 1024
static uint64_t taken[TAKEN_SLOTS];

static int is_taken(uint64_t span_id)
{
	return taken[span_id & (TAKEN_SLOTS - 1)] == span_id;
}

static uint32_t addr_hash(const uint8_t a[16])
{
	return (uint32_t)(fp__add(FP_INIT, a, 16) >> 20) & (LOCAL_SLOTS - 1);
}

static void local_add(const uint8_t a[16])
{
	uint32_t i = addr_hash(a);

	if (nlocal >= LOCAL_SLOTS / 2)
		return; /* full: later addresses do not wait for their peer */
	for (; local_used[i]; i = (i + 1) & (LOCAL_SLOTS - 1))
		if (memcmp(local[i], a, 16) == 0)
			return;
	memcpy(local[i], a, 16);
	local_used[i] = 1;
	nlocal++;
}

static int is_local(const uint8_t a[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t lo6[16] = {[15] = 1};

	if ((memcmp(a, mapped, 12) == 0 && a[12] == 127) || memcmp(a, lo6, 16) == 0)
		return 1;
	for (uint32_t i = addr_hash(a); local_used[i]; i = (i + 1) & (LOCAL_SLOTS - 1))
		if (memcmp(local[i], a, 16) == 0)
			return 1;
	return 0;
}

void link__init(void)
{
	struct ifaddrs *ifa, *i;
	uint8_t a[16];

	if (getifaddrs(&ifa))
		return;
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			memset(a, 0, 10);
			a[10] = a[11] = 0xff;
			memcpy(a + 12, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
			local_add(a);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			local_add(((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr.s6_addr);
		}
	}
	freeifaddrs(ifa);
}

void link__reset(void)
{
	memset(late, 0, sizeof(late));
	memset(done, 0, sizeof(done));
	memset(taken, 0, sizeof(taken));
	late_next = late_live = done_next = 0;
}

void link__conn_new(const struct conn *c)
{
	local_add(c->nladdr);
}

static void done_add(const struct conn *c, const struct pending *p)
{
	struct done *d = &done[done_next++ % DONE_SLOTS];

	memcpy(d->laddr, c->nladdr, 16);
	memcpy(d->raddr, c->nraddr, 16);
	d->lport = c->lport;
	d->rport = c->rport;
	d->fp = p->fp;
	d->ts_start = p->ts_start;
	d->span_id = p->span_id;
	memcpy(d->trace_id, p->trace_id, 16);
}

/* The answered client request of server request p on c, claimed; within
 * LINK_WAIT_NS, as a server request waits for its client no longer. */
static struct done *done_claim(const struct conn *c, const struct pending *p)
{
	for (uint32_t i = 0; i < DONE_SLOTS; i++) {
		struct done *d = &done[i];

		if (!d->fp || d->fp != p->fp || d->lport != c->rport || d->rport != c->lport ||
		    d->ts_start > p->ts_start || p->ts_start - d->ts_start > LINK_WAIT_NS || is_taken(d->span_id) ||
		    memcmp(d->laddr, c->nraddr, 16) || memcmp(d->raddr, c->nladdr, 16))
			continue;
		d->fp = 0;
		return d;
	}
	return NULL;
}

void link__pending_out(const struct conn *c, const struct pending *p)
{
	struct late *l;

	if (p->link == LS_OPEN && c->role == ST_ROLE_CLIENT && p->fp)
		done_add(c, p);
	if (p->link != LS_WAIT || !alias__waiting(p->trace_id))
		return;
	l = &late[late_next++ % LATE_SLOTS];
	memcpy(l->laddr, c->nladdr, 16);
	memcpy(l->raddr, c->nraddr, 16);
	l->lport = c->lport;
	l->rport = c->rport;
	l->fp = p->fp;
	l->ts_start = p->ts_start;
	memcpy(l->trace_id, p->trace_id, 16);
	if (late_live < LATE_SLOTS)
		late_live++;
}

static int late_link(const struct conn *c, struct pending *p)
{
	uint32_t live = 0;

	for (uint32_t i = 0; i < LATE_SLOTS && late_live; i++) {
		struct late *l = &late[i];
		if (!l->fp)
			continue;
		if (!alias__waiting(l->trace_id)) {
			l->fp = 0; /* decided since */
			late_live--;
			continue;
		}
		live++;
		if (l->fp != p->fp || l->lport != c->rport || l->rport != c->lport || p->ts_start > l->ts_start ||
		    memcmp(l->laddr, c->nraddr, 16) || memcmp(l->raddr, c->nladdr, 16))
			continue;
		l->fp = 0;
		late_live--;
		if (alias__link(l->trace_id, p->trace_id, p->span_id, 0) == 0)
			return 0;
	}
	if (!live)
		late_live = 0;
	return -1;
}

/* A server request: adopt the ids of its client's request, or wait. */
static void server_request(struct conn *c, struct pending *p)
{
	struct conn *peers[4];
	int n;

	if (p->ctx.source != TCTX_NONE)
		return; /* the caller said who it is */
	if (p->has_kctx && p->kctx.src == ST_CTX_OPTION) {
		p->link = LS_LINKED; /* its client's ids came in the TCP option */
		taken[p->parent_id & (TAKEN_SLOTS - 1)] = p->parent_id;
		stats.links_option++;
		return;
	}
	n = addr_links ? conn_table__peers(c, peers, 4) : 0;
	for (int i = 0; i < n; i++) {
		if (peers[i]->role != ST_ROLE_CLIENT)
			continue;
		for (struct pending *q = peers[i]->pq_head; q; q = q->next) {
			if (q->link != LS_OPEN || q->fp != p->fp || q->ts_start > p->ts_start || is_taken(q->span_id))
				continue;
			memcpy(p->trace_id, q->trace_id, 16);
			p->parent_id = q->span_id;
			p->link = q->link = LS_LINKED;
			q->lent |= LENT_PEER;
			stats.links++;
			return;
		}
	}
	struct done *d = is_local(c->nraddr) ? done_claim(c, p) : NULL;
	if (d) {
		memcpy(p->trace_id, d->trace_id, 16);
		p->parent_id = d->span_id;
		p->link = LS_LINKED;
		stats.links++;
		return;
	}
	/* a root, for now: its sampling is decided here (a link later makes
	 * it its client's, decision included) */
	if (!p->has_kctx && !p->batch_kept)
		sampler__root(p->trace_id, p->ts_start); /* else the kernel decided */
	if (!addr_links)
		return;
	if (is_local(c->nraddr) && alias__wait(p, p->ts_start + LINK_WAIT_NS, ALIAS_PEER) == 0)
		p->link = LS_WAIT;
}

/* A client request: a server request may already wait for it. */
static void client_request(struct conn *c, struct pending *p)
{
	struct conn *peers[4];
	int n;

	if (is_taken(p->span_id)) {
		/* its server request came first, linked by the TCP option */
		p->link = LS_LINKED;
		p->lent |= LENT_PEER;
		return;
	}
	if (!addr_links)
		return;
	n = conn_table__peers(c, peers, 4);
	p->link = LS_OPEN;
	for (int i = 0; i < n; i++) {
		if (peers[i]->role == ST_ROLE_CLIENT)
			continue;
		for (struct pending *q = peers[i]->pq_head; q; q = q->next) {
			if (q->link != LS_WAIT || q->fp != p->fp || p->ts_start > q->ts_start)
				continue;
			if (alias__link(q->trace_id, p->trace_id, p->span_id, 0)) {
				q->link = LS_NONE; /* too late: it stays a root */
				continue;
			}
			p->link = q->link = LS_LINKED;
			p->lent |= LENT_PEER;
			stats.links++;
			return;
		}
	}
	if (late_live && late_link(c, p) == 0) {
		p->link = LS_LINKED;
		p->lent |= LENT_PEER;
		stats.links++;
	}
}

void link__request(struct conn *c, struct pending *p)
{
	if (c->role == ST_ROLE_CLIENT)
		client_request(c, p);
	else
		server_request(c, p);
	alias__ref(p);
}
