/* Unit tests of linking across processes, held spans and the queue hop,
 * driven through the connection table with ring-buffer records as the
 * kernel writes them, in both orders the kernel can deliver them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/clock.h"
#include "base/ids.h"
#include "base/stats.h"
#include "proto/sessions.h"
#include "conn/conn.h"
#include "emit/sink.h"
#include "span/span.h"
#include "trace/alias.h"
#include "trace/link.h"
#include "trace/queuehop.h"

#define MAXS 64
static struct span got[MAXS];
static uint32_t ngot;

static void capture(struct sink *s, const struct span *sp)
{
	(void)s;
	assert_true(ngot < MAXS);
	span__copy(&got[ngot++], sp);
}

static struct sink capture_sink = {.name = "capture", .emit = capture};

/* a connection as one process sees it */
struct end {
	uint64_t id;
	uint32_t tgid, tid;
	uint8_t role;
	uint8_t proto;
	uint16_t lport, rport;
};

static uint8_t next_flags;		    /* for the next event only */
static const struct st_trace_ctx *next_ctx; /* the kernel's context, next event only */

static void ev(const struct end *e, int dir, uint64_t t_enter, uint64_t t_exit, const char *payload)
{
	static uint8_t rec[sizeof(struct st_event_hdr) + 1024];
	struct st_event_hdr *h = (struct st_event_hdr *)rec;
	size_t n = strlen(payload);

	memset(h, 0, sizeof(*h));
	h->type = ST_EV_DATA;
	h->dir = (uint8_t)dir;
	h->role = e->role;
	h->proto = e->proto;
	h->family = 4;
	h->flags = next_flags;
	next_flags = 0;
	if (next_ctx) {
		h->ctx = *next_ctx;
		h->flags |= ST_F_CTX | ST_F_START;
		next_ctx = NULL;
	}
	h->lport = e->lport;
	h->rport = e->rport;
	h->tgid = e->tgid;
	h->tid = e->tid;
	h->fd = (uint32_t)e->id;
	h->conn_id = e->id;
	h->ts_enter = t_enter;
	h->ts_exit = t_exit;
	h->len = n;
	h->cap_len = (uint32_t)n;
	h->laddr[0] = h->raddr[0] = 127;
	h->laddr[3] = h->raddr[3] = 1;
	memcpy(h->comm, "test", 5);
	memcpy(rec + sizeof(*h), payload, n);
	assert_int_equal(conn_table__handle(rec, sizeof(*h) + n), 0);
}

static const char REQ_A[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
static const char REQ_B[] = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
static const char RESP[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

static int setup(void **state)
{
	static const struct conn_limits lim = {
		.max_conns = 64, .max_pending = 256, .max_reasm = 8, .reasm_size = 4096, .max_pending_per_conn = 16};
	static const struct alias_limits alim = {.max_traces = 64, .max_held = 3};

	(void)state;
	ids__init();
	clock__sync();
	assert_int_equal(conn_table__init(&lim), 0);
	sessions__register();
	assert_int_equal(alias__init(&alim), 0);
	link__reset();
	memset(&stats, 0, sizeof(stats));
	ngot = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	conn_table__close_all();
	alias__flush();
	queuehop__reset();
	/* nothing provisional outlives the requests and records naming it */
	assert_int_equal(alias__entries(), 0);
	conn_table__free();
	alias__free();
	return 0;
}

static const struct span *find(const char *name, uint32_t pid)
{
	for (uint32_t i = 0; i < ngot; i++)
		if (strcmp(got[i].name, name) == 0 && got[i].pid == pid)
			return &got[i];
	fail_msg("no span %s from pid %u", name, pid);
	return NULL;
}

/* curl (pid 10) -> front (pid 20, which calls back, pid 30) */
static const struct end curl = {1, 10, 10, ST_ROLE_CLIENT, ST_PROTO_HTTP1, 40000, 8080};
static const struct end front = {2, 20, 21, ST_ROLE_SERVER, ST_PROTO_HTTP1, 8080, 40000};
static const struct end front_out = {3, 20, 21, ST_ROLE_CLIENT, ST_PROTO_HTTP1, 40001, 9090};
static const struct end back = {4, 30, 31, ST_ROLE_SERVER, ST_PROTO_HTTP1, 9090, 40001};

static void test_client_seen_first(void **state)
{
	(void)state;
	ev(&curl, ST_DIR_EGRESS, 1000, 1100, REQ_A);
	ev(&front, ST_DIR_INGRESS, 1050, 1200, REQ_A);
	ev(&front, ST_DIR_EGRESS, 1300, 1400, RESP);
	ev(&curl, ST_DIR_INGRESS, 1150, 1500, RESP);
	assert_int_equal(ngot, 2);
	const struct span *c = find("GET", 10), *s = find("GET /a", 20);
	assert_int_equal(c->parent_id, 0);
	assert_int_equal(s->parent_id, c->span_id);
	assert_memory_equal(s->trace_id, c->trace_id, 16);
	assert_int_equal(stats.links, 1);
}

static void test_server_seen_first(void **state)
{
	(void)state;
	/* the server reads the request, and calls back, before curl's write
	 * event arrives: its spans wait, then join curl's trace */
	ev(&front, ST_DIR_INGRESS, 1050, 1200, REQ_A);
	ev(&front_out, ST_DIR_EGRESS, 1300, 1350, REQ_B);
	ev(&back, ST_DIR_INGRESS, 1310, 1400, REQ_B);
	ev(&back, ST_DIR_EGRESS, 1500, 1550, RESP);
	ev(&front_out, ST_DIR_INGRESS, 1360, 1600, RESP);
	assert_int_equal(ngot, 0); /* held: their trace is undecided */
	assert_int_equal(alias__held(), 2);
	ev(&curl, ST_DIR_EGRESS, 1000, 1700, REQ_A);
	ev(&front, ST_DIR_EGRESS, 1800, 1900, RESP);
	ev(&curl, ST_DIR_INGRESS, 1150, 2000, RESP);
	alias__tick(2000);
	assert_int_equal(ngot, 4);
	const struct span *c = find("GET", 10), *s = find("GET /a", 20), *o = find("GET", 20), *b = find("GET /b", 30);
	assert_int_equal(c->parent_id, 0);
	assert_int_equal(s->parent_id, c->span_id);
	assert_int_equal(o->parent_id, s->span_id);
	assert_int_equal(b->parent_id, o->span_id);
	assert_memory_equal(s->trace_id, c->trace_id, 16);
	assert_memory_equal(o->trace_id, c->trace_id, 16);
	assert_memory_equal(b->trace_id, c->trace_id, 16);
	assert_int_equal(stats.links, 2);
}

static void test_client_answered_before_server_seen(void **state)
{
	(void)state;
	/* the kernel sends the server's request with its response, when the
	 * response's write returns: on one CPU that can be after curl read it */
	ev(&curl, ST_DIR_EGRESS, 1000, 1100, REQ_A);
	ev(&curl, ST_DIR_INGRESS, 1150, 1500, RESP);
	assert_int_equal(ngot, 1);
	ev(&front, ST_DIR_INGRESS, 1050, 1200, REQ_A);
	ev(&front, ST_DIR_EGRESS, 1300, 1600, RESP);
	assert_int_equal(ngot, 2);
	const struct span *c = find("GET", 10), *s = find("GET /a", 20);
	assert_int_equal(c->parent_id, 0);
	assert_int_equal(s->parent_id, c->span_id);
	assert_memory_equal(s->trace_id, c->trace_id, 16);
	assert_int_equal(stats.links, 1);
	/* claimed once: the next request on the connection is not its child */
	ev(&front, ST_DIR_INGRESS, 1700, 1800, REQ_A);
	ev(&front, ST_DIR_EGRESS, 1900, 2000, RESP);
	alias__tick(1000 + LINK_WAIT_NS + 2000);
	assert_int_equal(ngot, 3);
	assert_int_equal(got[2].parent_id, 0);
}

static void test_no_client_in_time(void **state)
{
	(void)state;
	ev(&front, ST_DIR_INGRESS, 1050, 1200, REQ_A);
	ev(&front, ST_DIR_EGRESS, 1300, 1400, RESP);
	alias__tick(1500);
	assert_int_equal(ngot, 0);
	/* once events from past the deadline were read, it is a root */
	alias__tick(1200 + LINK_WAIT_NS + 1);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].parent_id, 0);
	assert_int_equal(stats.link_timeouts, 1);
	/* a client event arriving after that links nothing */
	ev(&curl, ST_DIR_EGRESS, 1000, 1100 + LINK_WAIT_NS, REQ_A);
	ev(&curl, ST_DIR_INGRESS, 1150, 1200 + LINK_WAIT_NS, RESP);
	assert_int_equal(ngot, 2);
	assert_int_equal(got[1].parent_id, 0);
	assert_memory_not_equal(got[0].trace_id, got[1].trace_id, 16);
	assert_int_equal(stats.links, 0);
}

static void test_different_request_not_linked(void **state)
{
	(void)state;
	ev(&curl, ST_DIR_EGRESS, 1000, 1100, REQ_B);
	ev(&front, ST_DIR_INGRESS, 1050, 1200, REQ_A); /* not what curl sent */
	ev(&front, ST_DIR_EGRESS, 1300, 1400, RESP);
	ev(&curl, ST_DIR_INGRESS, 1150, 1500, RESP);
	alias__tick(1200 + LINK_WAIT_NS + 1);
	assert_int_equal(ngot, 2);
	assert_int_equal(got[0].parent_id, 0);
	assert_int_equal(got[1].parent_id, 0);
	assert_int_equal(stats.links, 0);
}

static void test_hold_is_bounded(void **state)
{
	struct end s[4], c;

	(void)state;
	/* four servers wait for their clients; three spans can be held */
	for (int i = 0; i < 4; i++) {
		s[i] = front;
		s[i].id = 10 + (uint64_t)i;
		s[i].rport = (uint16_t)(41000 + i);
		ev(&s[i], ST_DIR_INGRESS, 1000 + (uint64_t)i, 1100 + (uint64_t)i, REQ_A);
		ev(&s[i], ST_DIR_EGRESS, 1200 + (uint64_t)i, 1300 + (uint64_t)i, RESP);
	}
	/* the oldest went out as it was, nothing was lost */
	assert_int_equal(ngot, 1);
	assert_int_equal(alias__held(), 3);
	assert_int_equal(stats.link_held_full, 1);
	assert_int_equal(got[0].parent_id, 0);
	/* the second's client arrives: it is linked */
	c = curl;
	c.id = 20;
	c.lport = 41001;
	ev(&c, ST_DIR_EGRESS, 900, 1500, REQ_A);
	alias__tick(1600);
	assert_int_equal(ngot, 2);
	assert_int_equal(got[1].parent_id != 0, 1);
	alias__flush();
	assert_int_equal(ngot, 4);
	assert_int_equal(alias__held(), 0);
}

static void test_abandoned_parent_still_emitted(void **state)
{
	(void)state;
	ev(&front, ST_DIR_INGRESS, 1050, 1200, REQ_A);
	ev(&front_out, ST_DIR_EGRESS, 1300, 1350, REQ_B);
	ev(&front_out, ST_DIR_INGRESS, 1360, 1600, RESP);
	/* events of the front connection are lost: its request cannot end
	 * normally, but its child names it as parent, so it is emitted */
	next_flags = ST_F_GAP;
	ev(&front, ST_DIR_INGRESS, 1700, 1800, REQ_B);
	alias__flush();
	assert_int_equal(ngot, 2);
	const struct span *o = find("GET", 20);
	int parent_seen = 0;
	for (uint32_t i = 0; i < ngot; i++)
		if (got[i].span_id == o->parent_id) {
			parent_seen = 1;
			assert_true(got[i].error);
			const struct span_tag *t = span__tag(&got[i], "error.type");
			assert_true(t && t->slen == 11 && memcmp(t->s, "events_lost", 11) == 0);
		}
	assert_true(parent_seen);
}

/* Redis: a pusher (pid 50), a worker (pid 60) and redis-server (pid 70) */
static const struct end pusher = {30, 50, 50, ST_ROLE_CLIENT, ST_PROTO_REDIS, 42000, 6379};
static const struct end r_push = {31, 70, 70, ST_ROLE_SERVER, ST_PROTO_REDIS, 6379, 42000};
static const struct end worker = {32, 60, 60, ST_ROLE_CLIENT, ST_PROTO_REDIS, 42001, 6379};
static const struct end r_pop = {33, 70, 70, ST_ROLE_SERVER, ST_PROTO_REDIS, 6379, 42001};

#define LPUSH(item) "*3\r\n$5\r\nLPUSH\r\n$4\r\njobs\r\n$5\r\n" item "\r\n"
#define BRPOP "*3\r\n$5\r\nBRPOP\r\n$4\r\njobs\r\n$1\r\n0\r\n"
#define POPPED(item) "*2\r\n$4\r\njobs\r\n$5\r\n" item "\r\n"

static void test_queue_hop(void **state)
{
	(void)state;
	/* the worker blocks first */
	ev(&worker, ST_DIR_EGRESS, 1000, 1010, BRPOP);
	ev(&r_pop, ST_DIR_INGRESS, 1005, 1020, BRPOP);
	ev(&pusher, ST_DIR_EGRESS, 2000, 2010, LPUSH("job-1"));
	ev(&r_push, ST_DIR_INGRESS, 2005, 2020, LPUSH("job-1"));
	ev(&r_push, ST_DIR_EGRESS, 2030, 2040, ":1\r\n");
	ev(&r_pop, ST_DIR_EGRESS, 2050, 2060, POPPED("job-1"));
	ev(&pusher, ST_DIR_INGRESS, 2015, 2070, ":0\r\n");
	ev(&worker, ST_DIR_INGRESS, 1015, 2080, POPPED("job-1"));
	alias__tick(3000);
	assert_int_equal(ngot, 4);
	const struct span *push = find("LPUSH", 50), *pop = find("BRPOP", 60), *spush = find("LPUSH", 70),
			  *spop = find("BRPOP", 70);
	/* the push: client, then redis-server's end as its child */
	assert_int_equal(push->parent_id, 0);
	assert_int_equal(spush->parent_id, push->span_id);
	/* the worker's pop joins the push's trace, following from it */
	assert_memory_equal(pop->trace_id, push->trace_id, 16);
	assert_int_equal(pop->parent_id, 0);
	assert_int_equal(pop->follows_id, push->span_id);
	assert_memory_equal(pop->follows_trace, push->trace_id, 16);
	/* redis-server's end of the pop stays the worker's pop's child */
	assert_memory_equal(spop->trace_id, push->trace_id, 16);
	assert_int_equal(spop->parent_id, pop->span_id);
	assert_int_equal(spop->follows_id, 0);
	assert_int_equal(stats.queue_hops, 1);
}

static void test_queue_hop_server_end_seen_first(void **state)
{
	(void)state;
	/* redis-server's read of the BRPOP arrives before the worker's write,
	 * and its reply before the worker's read: the same trace comes out */
	ev(&pusher, ST_DIR_EGRESS, 500, 510, LPUSH("job-3"));
	ev(&r_push, ST_DIR_INGRESS, 505, 520, LPUSH("job-3"));
	ev(&r_push, ST_DIR_EGRESS, 530, 540, ":1\r\n");
	ev(&pusher, ST_DIR_INGRESS, 515, 550, ":1\r\n");
	ev(&r_pop, ST_DIR_INGRESS, 1005, 1020, BRPOP);
	ev(&worker, ST_DIR_EGRESS, 1000, 1030, BRPOP);
	ev(&r_pop, ST_DIR_EGRESS, 1050, 1060, POPPED("job-3"));
	ev(&worker, ST_DIR_INGRESS, 1015, 1080, POPPED("job-3"));
	alias__tick(2000);
	assert_int_equal(ngot, 4);
	const struct span *push = find("LPUSH", 50), *pop = find("BRPOP", 60), *spop = find("BRPOP", 70);
	assert_memory_equal(pop->trace_id, push->trace_id, 16);
	assert_int_equal(pop->follows_id, push->span_id);
	assert_int_equal(pop->parent_id, 0);
	assert_memory_equal(spop->trace_id, push->trace_id, 16);
	assert_int_equal(spop->parent_id, pop->span_id);
	assert_int_equal(spop->follows_id, 0);
	assert_int_equal(stats.queue_hops, 1);
	assert_int_equal(stats.links, 2);
}

static void test_queue_hop_ambiguous_or_unknown(void **state)
{
	(void)state;
	/* the same item pushed twice before a pop: no guess */
	ev(&pusher, ST_DIR_EGRESS, 1000, 1010, LPUSH("dup-1"));
	ev(&pusher, ST_DIR_INGRESS, 1015, 1020, ":1\r\n");
	ev(&pusher, ST_DIR_EGRESS, 1030, 1040, LPUSH("dup-1"));
	ev(&pusher, ST_DIR_INGRESS, 1045, 1050, ":2\r\n");
	ev(&worker, ST_DIR_EGRESS, 1100, 1110, BRPOP);
	ev(&worker, ST_DIR_INGRESS, 1115, 1120, POPPED("dup-1"));
	/* an item nobody was seen pushing */
	ev(&worker, ST_DIR_EGRESS, 1200, 1210, BRPOP);
	ev(&worker, ST_DIR_INGRESS, 1215, 1220, POPPED("new-1"));
	/* a timeout: nil */
	ev(&worker, ST_DIR_EGRESS, 1300, 1310, BRPOP);
	ev(&worker, ST_DIR_INGRESS, 1315, 1320, "*-1\r\n");
	assert_int_equal(ngot, 5);
	for (uint32_t i = 0; i < ngot; i++) {
		assert_int_equal(got[i].follows_id, 0);
		assert_int_equal(got[i].parent_id, 0);
	}
	assert_int_equal(stats.queue_hops, 0);
}

static void test_pop_inside_a_request_refers_to_push(void **state)
{
	/* a server request (pid 60) pops while serving: the pop keeps the
	 * request's trace and refers to the push */
	struct end srv = {40, 60, 61, ST_ROLE_SERVER, ST_PROTO_HTTP1, 8081, 43000};
	struct end w = worker;

	(void)state;
	w.tid = 61;
	ev(&pusher, ST_DIR_EGRESS, 1000, 1010, LPUSH("job-2"));
	ev(&pusher, ST_DIR_INGRESS, 1015, 1020, ":1\r\n");
	ev(&srv, ST_DIR_INGRESS, 1100, 1110, REQ_A);
	ev(&w, ST_DIR_EGRESS, 1200, 1210, BRPOP);
	ev(&w, ST_DIR_INGRESS, 1215, 1220, POPPED("job-2"));
	ev(&srv, ST_DIR_EGRESS, 1300, 1310, RESP);
	alias__flush();
	const struct span *push = find("LPUSH", 50), *pop = find("BRPOP", 60), *req = find("GET /a", 60);
	assert_int_equal(pop->parent_id, req->span_id);
	assert_memory_equal(pop->trace_id, req->trace_id, 16);
	assert_int_equal(pop->follows_id, push->span_id);
	assert_memory_equal(pop->follows_trace, push->trace_id, 16);
}

/* A client writes two like requests in one write (a Redis batch: one
 * fingerprint); the kernel fixed the first
 * one's ids and sent them in the TCP option, so the server's first request
 * is linked by the option: the second one, paired by address and order,
 * must take the client's second request, not its first (which the option
 * already took), in either order of delivery. */
static void pipelined_after_option(int server_first)
{
	static const uint8_t trace[16] = {0xab, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	struct st_trace_ctx cctx = {.span_id = 0x1111, .src = ST_CTX_NEW, .flags = ST_CTXF_SAMPLED};
	struct st_trace_ctx sctx = {
		.span_id = 0x2222, .parent_id = 0x1111, .src = ST_CTX_OPTION, .flags = ST_CTXF_SAMPLED};
	char two[128];

	memcpy(cctx.trace_id, trace, 16);
	memcpy(sctx.trace_id, trace, 16);
	strcpy(two, REQ_A);
	strcat(two, REQ_A);
	if (server_first) {
		next_ctx = &sctx;
		ev(&front, ST_DIR_INGRESS, 1050, 1200, two);
		next_ctx = &cctx;
		ev(&curl, ST_DIR_EGRESS, 1000, 1100, two);
	} else {
		next_ctx = &cctx;
		ev(&curl, ST_DIR_EGRESS, 1000, 1100, two);
		next_ctx = &sctx;
		ev(&front, ST_DIR_INGRESS, 1050, 1200, two);
	}
	ev(&front, ST_DIR_EGRESS, 1300, 1400, RESP);
	ev(&front, ST_DIR_EGRESS, 1410, 1420, RESP);
	ev(&curl, ST_DIR_INGRESS, 1150, 1500, RESP);
	ev(&curl, ST_DIR_INGRESS, 1510, 1520, RESP);
	assert_int_equal(ngot, 4);
	const struct span *ca = NULL, *cb = NULL, *sa = NULL, *sb = NULL;
	for (uint32_t i = 0; i < ngot; i++) {
		if (got[i].pid == 10)
			*(got[i].span_id == 0x1111 ? &ca : &cb) = &got[i];
		else
			*(got[i].parent_id == 0x1111 ? (sa ? &sb : &sa) : &sb) = &got[i];
	}
	assert_non_null(ca);
	assert_non_null(cb);
	assert_non_null(sa);
	assert_non_null(sb);
	assert_int_equal(sa->parent_id, 0x1111);
	assert_int_equal(sb->parent_id, cb->span_id); /* not 0x1111 again */
	assert_memory_equal(sb->trace_id, cb->trace_id, 16);
	assert_int_equal(stats.links_option, 1);
	assert_int_equal(stats.links, 1);
}

static void test_pipelined_after_option_client_first(void **state)
{
	(void)state;
	pipelined_after_option(0);
}

static void test_pipelined_after_option_server_first(void **state)
{
	(void)state;
	pipelined_after_option(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_client_seen_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_seen_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_answered_before_server_seen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_client_in_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_different_request_not_linked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abandoned_parent_still_emitted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_hop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_hop_server_end_seen_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_hop_ambiguous_or_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pop_inside_a_request_refers_to_push, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_after_option_client_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_after_option_server_first, setup, teardown),
	};

	sink__add(&capture_sink);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
