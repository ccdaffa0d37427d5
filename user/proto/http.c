/* HTTP/1.x exchanges on one connection: reassembles message heads, follows
 * body framing through bytes the kernel did not capture, pairs responses
 * with requests in order (keep-alive and pipelining) and builds the spans. */
#include "base/hash.h"
#include "base/log.h"
#include "base/stats.h"
#include "conn/conn.h"
#include "proto/exchange.h"
#include "proto/sessions.h"
#include "span/span.h"
#include "trace/alias.h"
#include "trace/stitch.h"

#include <stdio.h>
#include <string.h>

/* a response whose end cannot be told is over after this much quiet */
#define LOST_RESPONSE_IDLE_NS 1000000000ULL

static struct http1_head head; /* parse scratch: one event at a time */
static struct span sp;

static int req_dir(const struct conn *c)
{
	return c->role == ST_ROLE_CLIENT ? ST_DIR_EGRESS : ST_DIR_INGRESS;
}

static void dir_release(struct http_dir *d)
{
	if (d->reasm) {
		reasm__put(d->reasm);
		d->reasm = NULL;
	}
	d->reasm_len = 0;
}

static void dir_reset(struct http_dir *d)
{
	dir_release(d);
	d->state = H_HEAD;
	d->remaining = 0;
	memset(&d->ch, 0, sizeof(d->ch));
}

static void dir_lost(struct http_dir *d)
{
	dir_release(d);
	d->state = H_LOST;
}

static void copy_slice(char *dst, size_t cap, uint16_t *len, struct http1_slice s)
{
	size_t n = s.len < cap ? s.len : cap;

	memcpy(dst, s.p, n);
	*len = (uint16_t)n;
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

/* decimal digits of v into out (at least 21 bytes), backwards; returns the start */
static char *utoa(char *end, uint64_t v)
{
	do
		*--end = (char)('0' + v % 10);
	while (v /= 10);
	return end;
}

static void emit_span(struct conn *c, const struct pending *p, int status, uint64_t end_ts, const char *err)
{
	enum span_kind kind = c->role == ST_ROLE_CLIENT ? SPAN_KIND_CLIENT : SPAN_KIND_SERVER;
	const char *t = p->http.target, *q = memchr(t, '?', p->http.target_len);
	size_t pathlen = q ? (size_t)(q - t) : p->http.target_len;
	char url[512], ver[8], host[130], num[24];
	size_t hostlen = 0, n = 0;

	if (alias__skipped(p->trace_id))
		return;
	span__begin(&sp, c, kind, p->ts_start, end_ts, p->tid);
	stitch__apply(&sp, p);
	if (c->tls)
		span__tag_bool(&sp, "tls.established", true);
	if (kind == SPAN_KIND_SERVER)
		span__set_name(&sp, p->http.method, p->http.method_len, t, pathlen);
	else
		span__set_name(&sp, p->http.method, p->http.method_len, "", 0);
	SPAN_MARK(&sp, op);
	span__tag_str(&sp, "http.request.method", p->http.method, p->http.method_len);
	span__tag_str(&sp, "http.method", p->http.method, p->http.method_len);
	SPAN_MARK(&sp, path);
	span__tag_str(&sp, "url.path", t, pathlen);
	if (q)
		span__tag_str(&sp, "url.query", q + 1, p->http.target_len - pathlen - 1);
	span__tag_str(&sp, "http.target", t, p->http.target_len);
	if (p->http.host_len) {
		put(host, sizeof(host), &hostlen, p->http.host, p->http.host_len);
	} else {
		/* no Host header (HTTP/1.0): the address the client connected to */
		int server = kind == SPAN_KIND_SERVER;
		const char *ip = server ? c->lip : c->rip;
		size_t iplen = server ? c->lip_len : c->rip_len;
		char *port = utoa(num + sizeof(num), server ? c->lport : c->rport);
		int v6 = memchr(ip, ':', iplen) != NULL;
		if (v6)
			put(host, sizeof(host), &hostlen, "[", 1);
		put(host, sizeof(host), &hostlen, ip, iplen);
		put(host, sizeof(host), &hostlen, v6 ? "]:" : ":", v6 ? 2 : 1);
		put(host, sizeof(host), &hostlen, port, (size_t)(num + sizeof(num) - port));
	}
	if (c->tls)
		put(url, sizeof(url), &n, "https://", 8);
	else
		put(url, sizeof(url), &n, "http://", 7);
	put(url, sizeof(url), &n, host, hostlen);
	put(url, sizeof(url), &n, t, p->http.target_len);
	if (kind == SPAN_KIND_CLIENT)
		span__tag_str(&sp, "url.full", url, n);
	span__tag_str(&sp, "http.url", url, n);
	/* server.address: the host name without its port */
	const char *colon = memrchr(host, ':', hostlen);
	SPAN_MARK(&sp, peer);
	if (colon && host[hostlen - 1] != ']' && colon > host)
		span__tag_str(&sp, "server.address", host, (size_t)(colon - host));
	else
		span__tag_str(&sp, "server.address", host, hostlen);
	if (kind == SPAN_KIND_SERVER || c->tls)
		span__tag_cstr(&sp, "url.scheme", c->tls ? "https" : "http");
	span__tag_cstr(&sp, "network.protocol.name", "http");
	ver[0] = '1';
	ver[1] = '.';
	n = 2;
	char *minor = utoa(num + sizeof(num), p->http.minor_version);
	put(ver, sizeof(ver), &n, minor, (size_t)(num + sizeof(num) - minor));
	span__tag_str(&sp, "network.protocol.version", ver, n);
	if (p->http.ua_len)
		span__tag_str(&sp, "user_agent.original", p->http.user_agent, p->http.ua_len);
	if (status > 0) {
		SPAN_MARK(&sp, status);
		span__tag_int(&sp, "http.response.status_code", status);
		span__tag_int(&sp, "http.status_code", status);
		/* a server's 4xx is the client's fault, not the server's */
		if (status >= 500 || (kind == SPAN_KIND_CLIENT && status >= 400)) {
			char *code = utoa(num + sizeof(num), (uint64_t)status);
			span__error(&sp, code, (size_t)(num + sizeof(num) - code));
		}
	}
	if (err)
		span__error(&sp, err, strlen(err));
	span__finish(&sp);
	alias__emit(&sp);
}

/* Drops what is pending; a request whose ids a call made while serving it
 * already took (or, when events were lost, the server it reached) is
 * emitted all the same, with error.type why, so that no exported span
 * points at a parent that never was. A reply that does not parse is the
 * same bytes at the server's end: its span is never emitted either. */
static void abandon(struct conn *c, uint64_t ts, const char *why, uint8_t lent_mask)
{
	struct pending *p;

	while ((p = exchange__pop(c))) {
		if (p->lent & lent_mask)
			emit_span(c, p, 0, ts, why);
		exchange__end(p);
	}
}

static void finish_response(struct conn *c, uint64_t end_ts)
{
	struct http_conn *s = &c->u.http;
	struct pending *p;

	if (!s->resp_active)
		return;
	s->resp_active = 0;
	p = exchange__pop(c);
	if (!p) {
		stats.unmatched++;
		return;
	}
	emit_span(c, p, s->status, end_ts, NULL);
	exchange__end(p);
}

static void msg_end(struct conn *c, struct http_dir *d, int is_req, uint64_t ts)
{
	d->state = H_HEAD;
	if (!is_req)
		finish_response(c, ts);
}

static void on_request(struct conn *c, struct http_dir *d, const struct http1_head *hd, int framing_known)
{
	static const struct http1_slice none;
	const struct http1_slice *v;
	struct pending *p;
	uint64_t len = 0;
	enum http1_body body = framing_known ? http1_body_kind(hd, 0, none, &len) : HTTP1_BODY_UNTIL_CLOSE;

	if (body == HTTP1_BODY_INVALID) {
		stats.parse_errors++;
		dir_lost(d);
		return;
	}
	p = pending__push(c);
	if (p) {
		p->ts_start = d->first_ts;
		p->tid = d->tid;
		copy_slice(p->http.method, sizeof(p->http.method), &p->http.method_len, hd->method);
		p->http.target_len =
			(uint16_t)sanitize_target(p->http.target, sizeof(p->http.target), hd->target.p, hd->target.len);
		p->http.minor_version = (uint8_t)hd->minor_version;
		if ((v = http1_header_known(hd, H1_HOST)))
			copy_slice(p->http.host, sizeof(p->http.host), &p->http.host_len, *v);
		if ((v = http1_header_known(hd, H1_USER_AGENT)))
			copy_slice(p->http.user_agent, sizeof(p->http.user_agent), &p->http.ua_len, *v);
		if (framing_known) /* a salvaged head has its request line only */
			tracectx_from_head(hd, &p->ctx);
		p->fp = fp__add(fp__add(FP_INIT, p->http.method, p->http.method_len), p->http.target,
				p->http.target_len);
		exchange__start(c, p);
	}
	if (!framing_known)
		dir_lost(d);
	else if (body == HTTP1_BODY_LENGTH)
		d->state = H_BODY_LEN, d->remaining = len;
	else if (body == HTTP1_BODY_CHUNKED)
		d->state = H_CHUNKED, memset(&d->ch, 0, sizeof(d->ch));
	else
		d->state = H_HEAD;
}

static void on_response(struct conn *c, struct http_dir *d, const struct http1_head *hd, uint64_t ts, int framing_known)
{
	struct http_conn *s = &c->u.http;
	struct http1_slice method = {0};
	uint64_t len = 0;
	enum http1_body body;

	/* interim responses (100 Continue...) precede the real one */
	if (hd->status >= 100 && hd->status < 200 && hd->status != 101) {
		d->state = H_HEAD;
		return;
	}
	if (c->pq_head) {
		method.p = c->pq_head->http.method;
		method.len = c->pq_head->http.method_len;
	}
	s->resp_active = 1;
	s->status = hd->status;
	if (hd->status == 101) {
		/* the connection now speaks another protocol */
		finish_response(c, ts);
		dir_lost(&s->d[0]);
		dir_lost(&s->d[1]);
		s->upgraded = 1;
		return;
	}
	body = framing_known ? http1_body_kind(hd, 1, method, &len) : HTTP1_BODY_UNTIL_CLOSE;
	if (!framing_known) {
		dir_lost(d);
	} else if (body == HTTP1_BODY_INVALID) {
		stats.parse_errors++;
		finish_response(c, ts);
		dir_lost(d);
	} else if (body == HTTP1_BODY_NONE) {
		msg_end(c, d, 0, ts);
	} else if (body == HTTP1_BODY_LENGTH) {
		d->state = H_BODY_LEN;
		d->remaining = len;
	} else if (body == HTTP1_BODY_CHUNKED) {
		d->state = H_CHUNKED;
		memset(&d->ch, 0, sizeof(d->ch));
	} else {
		d->state = H_UNTIL_CLOSE;
	}
}

static int parse_head(int is_req, const char *b, size_t n)
{
	return is_req ? http1_parse_request(b, n, &head) : http1_parse_response(b, n, &head);
}

static void on_head(struct conn *c, struct http_dir *d, int is_req, uint64_t ts, int framing_known)
{
	if (is_req)
		on_request(c, d, &head, framing_known);
	else
		on_response(c, d, &head, ts, framing_known);
}

/* A head longer than the capture window: keep what its first line says. */
static void salvage_head(struct conn *c, struct http_dir *d, int is_req, uint64_t ts)
{
	char line[1024];
	const char *lf = d->reasm_len ? memchr(d->reasm, '\n', d->reasm_len) : NULL;
	size_t n;

	stats.truncated_heads++;
	if (lf && (n = (size_t)(lf - d->reasm) + 1) + 2 <= sizeof(line)) {
		memcpy(line, d->reasm, n);
		memcpy(line + n, "\r\n", 2);
		if (parse_head(is_req, line, n + 2) > 0) {
			on_head(c, d, is_req, ts, 0);
			return;
		}
	}
	dir_lost(d);
}

static void feed(struct conn *c, struct http_dir *d, int is_req, const struct st_event_hdr *h, const char *p, size_t n)
{
	while (n > 0) {
		size_t used;
		ssize_t r;

		switch (d->state) {
		case H_HEAD:
			if (!d->reasm_len) {
				d->first_ts = h->dir == ST_DIR_EGRESS ? h->ts_enter : h->ts_exit;
				d->tid = h->tid;
				r = parse_head(is_req, p, n);
				if (r == -2) {
					/* keep the partial head for the next event */
					if (n > reasm__size() || !(d->reasm = reasm__get())) {
						stats.truncated_heads += n > reasm__size();
						dir_lost(d);
						return;
					}
					memcpy(d->reasm, p, n);
					d->reasm_len = (uint32_t)n;
					return;
				}
				used = (size_t)r;
			} else {
				size_t old = d->reasm_len, room = reasm__size() - old, k = n < room ? n : room;
				memcpy(d->reasm + old, p, k);
				d->reasm_len += (uint32_t)k;
				r = parse_head(is_req, d->reasm, d->reasm_len);
				if (r == -2) {
					if (k < n || d->reasm_len == reasm__size())
						salvage_head(c, d, is_req, h->ts_exit);
					return;
				}
				if (r >= 0 && (size_t)r <= old)
					r = -1; /* cannot end inside bytes that did not parse */
				used = (size_t)r - old;
			}
			if (r == -1) {
				stats.parse_errors++;
				dir_lost(d);
				if (!is_req) {
					/* the peer does not answer in HTTP: what is pending
					 * was never an HTTP exchange */
					c->bad = 1;
					c->u.http.resp_active = 0;
					abandon(c, h->ts_exit, "unparsed_response", LENT_CHILD);
				}
				return;
			}
			on_head(c, d, is_req, h->ts_exit, 1);
			dir_release(d);
			p += used;
			n -= used;
			break;
		case H_BODY_LEN:
			used = n < d->remaining ? n : (size_t)d->remaining;
			d->remaining -= used;
			p += used;
			n -= used;
			if (!d->remaining)
				msg_end(c, d, is_req, h->ts_exit);
			break;
		case H_CHUNKED:
			r = http1_chunked_feed(&d->ch, p, n);
			if (r == -2)
				return;
			if (r == -1) {
				stats.parse_errors++;
				dir_lost(d);
				return;
			}
			p += r;
			n -= (size_t)r;
			msg_end(c, d, is_req, h->ts_exit);
			break;
		default: /* H_UNTIL_CLOSE, H_LOST: nothing to delimit */
			return;
		}
	}
}

/* g bytes of this event were not captured */
static void gap(struct conn *c, struct http_dir *d, int is_req, uint64_t ts, uint64_t g)
{
	if (!g)
		return;
	switch (d->state) {
	case H_HEAD:
		if (d->reasm_len)
			salvage_head(c, d, is_req, ts);
		else
			dir_lost(d);
		break;
	case H_BODY_LEN:
		if (g <= d->remaining) {
			d->remaining -= g;
			if (!d->remaining)
				msg_end(c, d, is_req, ts);
		} else {
			msg_end(c, d, is_req, ts);
			dir_lost(d);
		}
		break;
	case H_CHUNKED:
		if (http1_chunked_skip(&d->ch, g))
			dir_lost(d);
		break;
	default:
		break;
	}
}

static void http_init(struct conn *c)
{
	exchange__conn_new(c);
}

static void http_data(struct conn *c, const struct st_event_hdr *h, const uint8_t *data)
{
	struct http_conn *s = &c->u.http;
	int dir = h->dir & 1, is_req = dir == req_dir(c);
	struct http_dir *d = &s->d[dir], *o = &s->d[!dir];

	if (s->upgraded || c->bad)
		return;
	if (h->flags & (ST_F_GAP | ST_F_SKIPPED)) {
		/* events were lost, or left out by sampling: nothing pending
		 * can be paired reliably */
		s->resp_active = 0;
		abandon(c, h->ts_enter, h->flags & ST_F_GAP ? "events_lost" : "exchange_skipped",
			LENT_CHILD | LENT_PEER);
		dir_lost(d);
		dir_lost(o);
		/* the kernel saw where messages start, lost events included */
		if (h->flags & ST_F_START)
			c->last_dir = 0xff;
	}
	if (c->last_dir != dir) {
		/* the peer speaks: a response of unknown length is over */
		if (is_req && s->resp_active && o->state == H_LOST)
			finish_response(c, o->last_ts);
		if (d->state == H_LOST)
			dir_reset(d);
	}
	c->last_dir = (uint8_t)dir;
	d->last_ts = h->ts_exit;
	if (!(h->flags & ST_F_NO_DATA))
		feed(c, d, is_req, h, (const char *)data, h->cap_len);
	gap(c, d, is_req, h->ts_exit, h->len - h->cap_len);
}

static void http_close(struct conn *c, uint64_t ts)
{
	struct http_conn *s = &c->u.http;
	struct pending *p;

	if (s->resp_active)
		finish_response(c, s->d[!req_dir(c)].last_ts);
	/* requests that never got an answer still happened */
	while (!c->bad && (p = exchange__pop(c))) {
		stats.no_response++;
		emit_span(c, p, 0, ts, "no_response");
		exchange__end(p);
	}
	dir_release(&s->d[0]);
	dir_release(&s->d[1]);
	exchange__drop_all(c);
}

static void http_tick(struct conn *c, uint64_t now)
{
	struct http_conn *s = &c->u.http;
	struct http_dir *d = &s->d[!req_dir(c)];

	if (s->resp_active && d->state == H_LOST && now - d->last_ts > LOST_RESPONSE_IDLE_NS)
		finish_response(c, d->last_ts);
}

const struct proto_ops proto_http1 = {
	.name = "http1",
	.init = http_init,
	.data = http_data,
	.close = http_close,
	.tick = http_tick,
};
