/* Redis exchanges on one connection: commands and replies are paired in
 * order (pipelines, MULTI/EXEC, blocking pops); pub/sub pushes are set
 * aside; spans carry the command and key only, never values. */
#include "base/hash.h"
#include "base/stats.h"
#include "conn/conn.h"
#include "proto/exchange.h"
#include "proto/sessions.h"
#include "span/span.h"
#include "trace/alias.h"
#include "trace/queuehop.h"
#include "trace/stitch.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct span sp;

/* Commands whose first argument is a key name, safe to show. Everything
 * else (AUTH, HELLO, CONFIG SET, EVAL, ECHO...) shows only "?". Sorted. */
static const char *const keyed[] = {
	"APPEND",    "BITCOUNT",      "BITPOS",	      "BLMOVE",	  "BLMPOP",    "BLPOP",	    "BRPOP",	   "BRPOPLPUSH",
	"BZPOPMAX",  "BZPOPMIN",      "COPY",	      "DECR",	  "DECRBY",    "DEL",	    "DUMP",	   "EXISTS",
	"EXPIRE",    "EXPIREAT",      "EXPIRETIME",   "GEOADD",	  "GEODIST",   "GEOPOS",    "GEOSEARCH",   "GET",
	"GETBIT",    "GETDEL",	      "GETEX",	      "GETRANGE", "GETSET",    "HDEL",	    "HEXISTS",	   "HGET",
	"HGETALL",   "HINCRBY",	      "HINCRBYFLOAT", "HKEYS",	  "HLEN",      "HMGET",	    "HMSET",	   "HSCAN",
	"HSET",	     "HSETNX",	      "HSTRLEN",      "HVALS",	  "INCR",      "INCRBY",    "INCRBYFLOAT", "LINDEX",
	"LINSERT",   "LLEN",	      "LMOVE",	      "LPOP",	  "LPOS",      "LPUSH",	    "LPUSHX",	   "LRANGE",
	"LREM",	     "LSET",	      "LTRIM",	      "MGET",	  "MSET",      "MSETNX",    "PERSIST",	   "PEXPIRE",
	"PEXPIREAT", "PFADD",	      "PFCOUNT",      "PSETEX",	  "PTTL",      "PUBLISH",   "RENAME",	   "RENAMENX",
	"RPOP",	     "RPOPLPUSH",     "RPUSH",	      "RPUSHX",	  "SADD",      "SCARD",	    "SDIFF",	   "SET",
	"SETBIT",    "SETEX",	      "SETNX",	      "SETRANGE", "SINTER",    "SISMEMBER", "SMEMBERS",	   "SMOVE",
	"SPOP",	     "SRANDMEMBER",   "SREM",	      "SSCAN",	  "STRLEN",    "SUNION",    "TOUCH",	   "TTL",
	"TYPE",	     "UNLINK",	      "WATCH",	      "XACK",	  "XADD",      "XDEL",	    "XLEN",	   "XRANGE",
	"XREVRANGE", "XTRIM",	      "ZADD",	      "ZCARD",	  "ZCOUNT",    "ZINCRBY",   "ZPOPMAX",	   "ZPOPMIN",
	"ZRANGE",    "ZRANGEBYSCORE", "ZRANK",	      "ZREM",	  "ZREVRANGE", "ZREVRANK",  "ZSCAN",	   "ZSCORE",
};

/* keyed[] by fingerprint, open addressing: one hash and most often one
 * compare per command, built at the first lookup */
#define KEYED_SLOTS 256 /* a power of two, at least twice the commands */
_Static_assert(sizeof(keyed) / sizeof(keyed[0]) < KEYED_SLOTS / 2, "keyed[] outgrew its table");

static int is_keyed(const char *cmd, size_t len)
{
	static uint8_t slot[KEYED_SLOTS]; /* 1 + index into keyed, 0: empty */
	static int built;
	size_t j;

	if (!built) {
		for (size_t i = 0; i < sizeof(keyed) / sizeof(keyed[0]); i++) {
			for (j = fp__add(FP_INIT, keyed[i], strlen(keyed[i])) & (KEYED_SLOTS - 1); slot[j];
			     j = (j + 1) & (KEYED_SLOTS - 1))
				;
			slot[j] = (uint8_t)(i + 1);
		}
		built = 1;
	}
	for (j = fp__add(FP_INIT, cmd, len) & (KEYED_SLOTS - 1); slot[j]; j = (j + 1) & (KEYED_SLOTS - 1)) {
		const char *k = keyed[slot[j] - 1];
		if (strncmp(k, cmd, len) == 0 && k[len] == 0)
			return 1;
	}
	return 0;
}

static int subscribe_kind(const char *cmd)
{
	/* each of these has S, U or N second: most commands are out at once */
	if (cmd[0] && cmd[1] != 'S' && cmd[1] != 'U' && cmd[1] != 'N')
		return 0;
	return strcmp(cmd, "SUBSCRIBE") == 0 || strcmp(cmd, "PSUBSCRIBE") == 0 || strcmp(cmd, "SSUBSCRIBE") == 0 ||
	       strcmp(cmd, "UNSUBSCRIBE") == 0 || strcmp(cmd, "PUNSUBSCRIBE") == 0 || strcmp(cmd, "SUNSUBSCRIBE") == 0;
}

static int arg_is(const struct resp_arg *a, const char *s)
{
	size_t n = strlen(s);

	return a->len == n && strncasecmp(a->s, s, n) == 0;
}

static int req_dir(const struct conn *c)
{
	return c->role == ST_ROLE_CLIENT ? ST_DIR_EGRESS : ST_DIR_INGRESS;
}

static void redis_init(struct conn *c)
{
	struct redis_conn *r = &c->u.redis;
	int rq = req_dir(c);

	exchange__conn_new(c);
	resp_parser_init(&r->p[rq], 1);
	resp_parser_init(&r->p[!rq], 0);
	r->pending_db = -1;
}

/* Appends up to n bytes of v, stopping at a NUL, to out[*len] while there
 * is room (cap includes a terminating NUL, as snprintf's "%.*s"). */
static void put(char *out, size_t cap, size_t *len, const char *v, size_t n)
{
	size_t room = cap - 1 - *len;

	n = strnlen(v, n < room ? n : room);
	memcpy(out + *len, v, n);
	*len += n;
	out[*len] = 0;
}

/* v in decimal, as "%lld" */
static size_t i64toa(char out[24], int64_t v)
{
	char tmp[24], *e = tmp + sizeof(tmp), *d = e;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	size_t n;

	do
		*--d = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--d = '-';
	n = (size_t)(e - d);
	memcpy(out, d, n);
	out[n] = 0;
	return n;
}

static void emit_span(struct conn *c, struct pending *p, const struct resp_msg *reply, uint64_t end_ts, const char *err)
{
	enum span_kind kind = c->role == ST_ROLE_CLIENT ? SPAN_KIND_CLIENT : SPAN_KIND_SERVER;
	char stmt[RESP_ARG_CAP + 64], db[24];
	size_t n = 0, dblen;

	queuehop__reply(c, p, reply, end_ts);
	if (alias__skipped(p->trace_id))
		return;
	span__begin(&sp, c, kind, p->ts_start, end_ts, p->tid);
	stitch__apply(&sp, p);
	if (c->tls)
		span__tag_bool(&sp, "tls.established", true);
	span__set_name(&sp, p->redis.cmd, p->redis.cmd_len, "", 0);
	put(stmt, sizeof(stmt), &n, p->redis.cmd, p->redis.cmd_len);
	for (uint32_t i = 1; i < p->redis.nargs && n < sizeof(stmt) - 8; i++) {
		if (i == 1 && p->redis.key_len) {
			put(stmt, sizeof(stmt), &n, " ", 1);
			put(stmt, sizeof(stmt), &n, p->redis.key, p->redis.key_len);
		} else if (i > 6) {
			put(stmt, sizeof(stmt), &n, " ...", 4);
			break;
		} else {
			put(stmt, sizeof(stmt), &n, " ?", 2);
		}
	}
	dblen = i64toa(db, p->redis.db);
	span__tag_cstr(&sp, "db.system.name", "redis");
	span__tag_cstr(&sp, "db.system", "redis");
	span__tag_cstr(&sp, "db.type", "redis");
	SPAN_MARK(&sp, op);
	span__tag_str(&sp, "db.operation.name", p->redis.cmd, p->redis.cmd_len);
	span__tag_str(&sp, "db.query.text", stmt, n);
	span__tag_str(&sp, "db.statement", stmt, n);
	SPAN_MARK(&sp, ns);
	span__tag_str(&sp, "db.namespace", db, dblen);
	span__tag_str(&sp, "db.instance", db, dblen);
	span__tag_int(&sp, "db.redis.database_index", p->redis.db);
	if (c->role == ST_ROLE_CLIENT) {
		SPAN_MARK(&sp, peer);
		span__tag_str(&sp, "server.address", c->rip, c->rip_len);
	}
	if (reply && (reply->type == '-' || reply->type == '!')) {
		/* the error's code is its first word: ERR, WRONGTYPE, NOAUTH... */
		const char *t = reply->type == '-' ? reply->line : (reply->nargs ? reply->arg[0].s : "");
		size_t len = reply->type == '-' ? reply->line_len : (reply->nargs ? reply->arg[0].len : 0), w = 0;
		while (w < len && t[w] != ' ')
			w++;
		span__error(&sp, t, w ? w : len);
		span__tag_str(&sp, "db.response.status_code", t, w ? w : len);
	}
	if (err)
		span__error(&sp, err, strlen(err));
	span__finish(&sp);
	alias__emit(&sp);
}

/* Drops what is pending; one whose ids were lent is emitted (see http). */
static void abandon(struct conn *c, uint64_t ts, const char *why, uint8_t lent_mask)
{
	struct pending *p;

	while ((p = exchange__pop(c))) {
		if ((p->lent & lent_mask) && !p->redis.emitted)
			emit_span(c, p, NULL, ts, why);
		exchange__end(p);
	}
}

static void on_command(struct conn *c, const struct resp_msg *m, uint64_t ts, uint32_t tid)
{
	struct redis_conn *r = &c->u.redis;
	struct pending *p;

	if (m->nargs == 0 || m->arg[0].len == 0)
		return;
	if (!(p = pending__push(c)))
		return;
	p->ts_start = ts;
	p->tid = tid;
	for (uint32_t i = 0; i < m->arg[0].len && i < sizeof(p->redis.cmd) - 1; i++)
		p->redis.cmd[i] = (char)toupper((unsigned char)m->arg[0].s[i]);
	p->redis.cmd_len = (uint16_t)strlen(p->redis.cmd);
	p->redis.nargs = m->type == 'I' ? (uint32_t)m->count : (uint32_t)(m->count > 0 ? m->count : 0);
	p->redis.db = r->db;
	if (m->nargs > 1 && is_keyed(p->redis.cmd, p->redis.cmd_len)) {
		size_t n = m->arg[1].len < sizeof(p->redis.key) ? m->arg[1].len : sizeof(p->redis.key);
		memcpy(p->redis.key, m->arg[1].s, n);
		p->redis.key_len = (uint16_t)n;
	}
	if (strcmp(p->redis.cmd, "SELECT") == 0 && m->nargs > 1) {
		char num[24];
		snprintf(num, sizeof(num), "%.*s", (int)m->arg[1].len, m->arg[1].s);
		r->pending_db = strtoll(num, NULL, 10);
	}
	if (subscribe_kind(p->redis.cmd))
		p->redis.confirmations = p->redis.nargs > 1 ? p->redis.nargs - 1 : 1;
	p->fp = fp__add(fp__add(fp__add(FP_INIT, p->redis.cmd, p->redis.cmd_len), p->redis.key, p->redis.key_len),
			&p->redis.nargs, sizeof(p->redis.nargs));
	exchange__start(c, p);
	queuehop__command(c, p, m, ts);
}

static void on_reply(struct conn *c, const struct resp_msg *m, uint64_t ts)
{
	struct redis_conn *r = &c->u.redis;
	struct pending *p = c->pq_head;
	int confirm = m->nargs > 0 && (m->type == '*' || m->type == '>') &&
		      (arg_is(&m->arg[0], "subscribe") || arg_is(&m->arg[0], "psubscribe") ||
		       arg_is(&m->arg[0], "ssubscribe") || arg_is(&m->arg[0], "unsubscribe") ||
		       arg_is(&m->arg[0], "punsubscribe") || arg_is(&m->arg[0], "sunsubscribe"));

	/* pub/sub deliveries and RESP3 pushes answer no command */
	if (m->type == '>' && !confirm)
		return;
	if (r->subscribed && m->type == '*' && m->nargs > 0 &&
	    (arg_is(&m->arg[0], "message") || arg_is(&m->arg[0], "pmessage") || arg_is(&m->arg[0], "smessage")))
		return;
	if (!p) {
		stats.unmatched++;
		return;
	}
	if (p->redis.confirmations) {
		if (!confirm) {
			/* not the confirmation we wait for: pairing is off */
			stats.unmatched++;
			return;
		}
		if (!strstr(p->redis.cmd, "UNSUB"))
			r->subscribed = 1;
		if (!p->redis.emitted)
			emit_span(c, p, m, ts, NULL);
		p->redis.emitted = 1;
		if (--p->redis.confirmations)
			return;
		exchange__end(exchange__pop(c));
		return;
	}
	if (strcmp(p->redis.cmd, "SELECT") == 0 && m->type == '+' && r->pending_db >= 0)
		r->db = r->pending_db;
	emit_span(c, p, m, ts, NULL);
	exchange__end(exchange__pop(c));
}

static void on_message(struct conn *c, int dir, const struct resp_msg *m, uint64_t ts)
{
	struct redis_conn *r = &c->u.redis;

	r->in_msg[dir] = 0;
	if (dir == req_dir(c))
		on_command(c, m, r->first_ts[dir], r->tid[dir]);
	else
		on_reply(c, m, ts);
}

static void redis_data(struct conn *c, const struct st_event_hdr *h, const uint8_t *data)
{
	static struct resp_msg msg;
	struct redis_conn *r = &c->u.redis;
	int dir = h->dir & 1;
	const uint8_t *p = data;
	size_t n = h->flags & ST_F_NO_DATA ? 0 : h->cap_len;
	uint64_t g = h->len - h->cap_len;

	if (h->flags & (ST_F_GAP | ST_F_SKIPPED)) {
		/* lost, or left out by sampling: resume at a message start */
		abandon(c, h->ts_enter, h->flags & ST_F_GAP ? "events_lost" : "exchange_skipped",
			LENT_CHILD | LENT_PEER);
		r->lost[0] = r->lost[1] = 1;
		/* the kernel saw where messages start, lost events included */
		if (h->flags & ST_F_START)
			c->last_dir = 0xff;
	}
	if (c->last_dir != dir && r->lost[dir]) {
		/* resume at the start of the next message */
		resp_parser_init(&r->p[dir], dir == req_dir(c));
		r->lost[dir] = 0;
		r->in_msg[dir] = 0;
	}
	c->last_dir = (uint8_t)dir;
	if (r->lost[dir] || c->bad)
		return;
	while (n > 0) {
		if (!r->in_msg[dir]) {
			r->in_msg[dir] = 1;
			r->first_ts[dir] = dir == ST_DIR_EGRESS ? h->ts_enter : h->ts_exit;
			r->tid[dir] = h->tid;
		}
		ssize_t k = resp_feed(&r->p[dir], p, n, &msg);
		if (k == -2)
			break;
		if (k == -1) {
			stats.parse_errors++;
			r->lost[dir] = 1;
			if (dir != req_dir(c)) {
				/* replies that are not RESP: never a Redis exchange */
				c->bad = 1;
				abandon(c, h->ts_exit, "unparsed_response", LENT_CHILD);
			}
			return;
		}
		on_message(c, dir, &msg, h->ts_exit);
		p += k;
		n -= (size_t)k;
	}
	if (g) {
		int k = resp_skip(&r->p[dir], g, &msg);
		if (k < 0) {
			stats.truncated_heads++;
			r->lost[dir] = 1;
		} else if (k == 1) {
			on_message(c, dir, &msg, h->ts_exit);
		}
	}
}

static void redis_close(struct conn *c, uint64_t ts)
{
	struct pending *p;

	while (!c->bad && (p = exchange__pop(c))) {
		/* a subscription's span was emitted with its first confirmation */
		if (!p->redis.emitted) {
			stats.no_response++;
			emit_span(c, p, NULL, ts, "no_response");
		}
		exchange__end(p);
	}
	exchange__drop_all(c);
}

const struct proto_ops proto_redis = {
	.name = "redis",
	.init = redis_init,
	.data = redis_data,
	.close = redis_close,
	.tick = NULL,
};
