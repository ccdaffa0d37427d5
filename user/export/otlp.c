/* Encodes spantap spans into OTLP protobuf (see otlp.h). Each message's
 * size is computed before it is written, so lengths are never patched:
 * a span is one pass to size it (string lengths after UTF-8 repair, noted
 * per tag) and one to write it. Field numbers are trace.proto's; fields go
 * out in their numbers' order, as protobuf's own encoders write them. */
#include "export/otlp.h"

#include "export/pb.h"
#include "span/span.h"

#include <string.h>

#ifndef SPANTAP_VERSION
#define SPANTAP_VERSION "dev"
#endif

/* Span, Link, Status, KeyValue, AnyValue field tags (one byte each but flags) */
enum {
	T_TRACE_ID = PB_TAG(1, PB_LEN),
	T_SPAN_ID = PB_TAG(2, PB_LEN),
	T_PARENT_ID = PB_TAG(4, PB_LEN),
	T_NAME = PB_TAG(5, PB_LEN),
	T_KIND = PB_TAG(6, PB_VARINT),
	T_START = PB_TAG(7, PB_I64),
	T_END = PB_TAG(8, PB_I64),
	T_ATTR = PB_TAG(9, PB_LEN),
	T_LINK = PB_TAG(13, PB_LEN),
	T_STATUS = PB_TAG(15, PB_LEN),
	T_LINK_FLAGS = PB_TAG(6, PB_I32),
	T_STATUS_MSG = PB_TAG(2, PB_LEN),
	T_STATUS_CODE = PB_TAG(3, PB_VARINT),
	T_KV_KEY = PB_TAG(1, PB_LEN),
	T_KV_VALUE = PB_TAG(2, PB_LEN),
	T_AV_STRING = PB_TAG(1, PB_LEN),
	T_AV_BOOL = PB_TAG(2, PB_VARINT),
	T_AV_INT = PB_TAG(3, PB_VARINT),
	T_SCOPE_SPANS_SPAN = PB_TAG(2, PB_LEN),
};
#define T_FLAGS PB_TAG(16, PB_I32) /* two bytes as a varint: 0x85 0x01 */

enum { KIND_SERVER = 2, KIND_CLIENT = 3 };
enum { STATUS_CODE_ERROR = 2 };

/* ---- UTF-8: protobuf strings must be valid; invalid bytes become U+FFFD */

static int is_ascii(const char *s, size_t n)
{
	uint64_t acc = 0, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		acc |= w;
	}
	for (; i < n; i++)
		acc |= (uint8_t)s[i];
	return !(acc & 0x8080808080808080ULL);
}

/* the length of the valid sequence at s, or 0 (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF) */
static size_t utf8_seq(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		uint8_t lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
		return n >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		uint8_t lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
		return n >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

/* n's length once repaired */
static size_t utf8_len(const char *s, size_t n)
{
	const uint8_t *u = (const uint8_t *)s;
	size_t out = 0;

	if (is_ascii(s, n))
		return n;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(u + i, n - i);
		out += k ? k : 3;
		i += k ? k : 1;
	}
	return out;
}

/* copies n bytes of s that take outlen once repaired */
static uint8_t *utf8_copy(uint8_t *p, const char *s, size_t n, size_t outlen)
{
	const uint8_t *u = (const uint8_t *)s;

	if (outlen == n) {
		span__copy_bytes(p, s, n);
		return p + n;
	}
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(u + i, n - i);
		if (k) {
			memcpy(p, u + i, k);
			p += k;
			i += k;
		} else {
			*p++ = 0xef;
			*p++ = 0xbf;
			*p++ = 0xbd;
			i++;
		}
	}
	return p;
}

static uint8_t *put_len_str(uint8_t *p, uint8_t tag, const char *s, size_t n, size_t outlen)
{
	*p++ = tag;
	p = pb_varint(p, outlen);
	return utf8_copy(p, s, n, outlen);
}

static uint8_t *put_id64(uint8_t *p, uint8_t tag, uint64_t id)
{
	p[0] = tag;
	p[1] = 8;
	for (int i = 0; i < 8; i++)
		p[2 + i] = (uint8_t)(id >> (56 - 8 * i));
	return p + 10;
}

static uint8_t *put_id128(uint8_t *p, uint8_t tag, const uint8_t *id)
{
	p[0] = tag;
	p[1] = 16;
	memcpy(p + 2, id, 16);
	return p + 18;
}

/* ---- attributes: KeyValue { key, AnyValue { string | bool | int } } */

/* AnyValue's size: vlen is a string's repaired length */
static size_t any_size(uint8_t type, int64_t i, size_t vlen)
{
	if (type == TAG_STR)
		return pb_len_field(vlen);
	if (type == TAG_INT)
		return 1 + pb_varint_len((uint64_t)i);
	return 2;
}

/* the attribute's record in its parent message, tag and length included */
static size_t attr_size(size_t klen, size_t any)
{
	return pb_len_field(pb_len_field(klen) + pb_len_field(any));
}

static uint8_t *put_attr(uint8_t *p, uint8_t tag, const char *key, size_t klen, uint8_t type, int64_t i, const char *v,
			 size_t n, size_t vlen)
{
	size_t any = any_size(type, i, vlen);

	*p++ = tag;
	p = pb_varint(p, pb_len_field(klen) + pb_len_field(any));
	*p++ = T_KV_KEY;
	p = pb_varint(p, klen);
	span__copy_bytes(p, key, klen);
	p += klen;
	*p++ = T_KV_VALUE;
	p = pb_varint(p, any);
	if (type == TAG_STR)
		return put_len_str(p, T_AV_STRING, v, n, vlen);
	if (type == TAG_INT) {
		*p++ = T_AV_INT;
		return pb_varint(p, (uint64_t)i);
	}
	*p++ = T_AV_BOOL;
	*p++ = i ? 1 : 0;
	return p;
}

/* tags that OTLP carries in fields of its own: the kind, the status */
static int native_tag(const struct span_tag *t)
{
	return (t->klen == 9 && memcmp(t->key, "span.kind", 9) == 0) ||
	       (t->klen == 5 && t->type == TAG_BOOL && memcmp(t->key, "error", 5) == 0);
}

#define TRUNCATED_KEY "spantap.truncated"
#define THREAD_KEY "thread.id"
#define ERROR_TYPE_KEY "error.type"

/* ---- the span */

/* The attributes span__begin wrote (a connection's addresses and ports)
 * encode to the same bytes in every span of the connection and kind: kept
 * here by the span's begin_key, whose connection serial number is never
 * reused, and copied (as the Jaeger encoder does). */
#define BEGIN_CACHE_N 256 /* a power of two */
#define BEGIN_CACHE_BYTES 1024

struct begin_enc {
	uint64_t key;
	size_t maxslen; /* the bytes hold for any max_value at least this */
	uint32_t ntags;
	uint32_t len;
	uint8_t bytes[BEGIN_CACHE_BYTES];
};

static struct begin_enc begin_cache[BEGIN_CACHE_N];

/* A tag's sizes, from the sizing pass to the writing one */
struct tag_size {
	uint32_t vlen; /* a string's length once repaired; UINT32_MAX: not an attribute */
	uint32_t any;  /* AnyValue */
	uint32_t kv;   /* KeyValue */
};

static size_t tag_sizes(const struct span_tag *t, size_t max_value, int ascii, struct tag_size *z)
{
	size_t n = 0;

	if (native_tag(t)) {
		z->vlen = UINT32_MAX;
		return 0;
	}
	if (t->type == TAG_STR) {
		n = t->slen < max_value ? t->slen : max_value;
		if (!ascii)
			n = utf8_len(t->s, n);
	}
	z->vlen = (uint32_t)n;
	z->any = (uint32_t)any_size(t->type, t->i, n);
	z->kv = (uint32_t)(pb_len_field(t->klen) + pb_len_field(z->any));
	return pb_len_field(z->kv);
}

static uint8_t *put_tag(uint8_t *p, const struct span_tag *t, size_t max_value, const struct tag_size *z)
{
	*p++ = T_ATTR;
	p = pb_varint(p, z->kv);
	*p++ = T_KV_KEY;
	p = pb_varint(p, t->klen);
	span__copy_bytes(p, t->key, t->klen);
	p += t->klen;
	*p++ = T_KV_VALUE;
	p = pb_varint(p, z->any);
	if (t->type == TAG_STR)
		return put_len_str(p, T_AV_STRING, t->s, t->slen < max_value ? t->slen : max_value, z->vlen);
	if (t->type == TAG_INT) {
		*p++ = T_AV_INT;
		return pb_varint(p, (uint64_t)t->i);
	}
	*p++ = T_AV_BOOL;
	*p++ = t->i ? 1 : 0;
	return p;
}

size_t otlp__encode_span(uint8_t *buf, size_t cap, const struct span *s, size_t max_value, int *cut)
{
	struct tag_size z[SPAN_MAX_TAGS];
	size_t name_n = strnlen(s->name, sizeof(s->name)), name_len = utf8_len(s->name, name_n);
	const struct span_tag *etype = NULL;
	size_t body, link = 0, status = 0, emsg = 0;
	int truncated = s->maxslen > max_value;
	/* the tags' strings are in strbuf, but for span__begin's constants */
	int ascii = is_ascii(s->strbuf, s->strused);
	struct begin_enc *e = &begin_cache[(s->begin_key >> 2) & (BEGIN_CACHE_N - 1)];
	uint32_t first = 0;
	uint8_t *p = buf, *begin_at;

	/* the sizes */
	body = 18 + 10 + (s->parent_id ? 10 : 0) + pb_len_field(name_len) + 2 + 9 + 9;
	if (s->begin_key && s->nbegin <= s->ntags && e->key == s->begin_key && e->ntags == s->nbegin &&
	    max_value >= e->maxslen) {
		first = s->nbegin;
		body += e->len;
	}
	for (uint32_t i = first; i < s->ntags; i++)
		body += tag_sizes(&s->tags[i], max_value, ascii, &z[i]);
	body += attr_size(sizeof(THREAD_KEY) - 1, any_size(TAG_INT, s->tid, 0));
	if (truncated)
		body += attr_size(sizeof(TRUNCATED_KEY) - 1, 2);
	if (s->follows_id) {
		link = 18 + 10 + 5;
		body += pb_len_field(link);
	}
	if (s->error) {
		/* the status message: the error's type */
		for (uint32_t i = s->ntags; i-- > 0;) {
			const struct span_tag *t = &s->tags[i];
			if (t->type == TAG_STR && t->klen == sizeof(ERROR_TYPE_KEY) - 1 &&
			    memcmp(t->key, ERROR_TYPE_KEY, t->klen) == 0) {
				etype = t;
				emsg = t->slen < max_value ? t->slen : max_value;
				emsg = ascii ? emsg : utf8_len(t->s, emsg);
				break;
			}
		}
		status = (etype ? pb_len_field(emsg) : 0) + 2;
		body += pb_len_field(status);
	}
	body += 2 + 4; /* flags */
	if (1 + pb_varint_len(body) + body > cap)
		return 0;

	/* the bytes */
	*p++ = T_SCOPE_SPANS_SPAN;
	p = pb_varint(p, body);
	p = put_id128(p, T_TRACE_ID, s->trace_id);
	p = put_id64(p, T_SPAN_ID, s->span_id);
	if (s->parent_id)
		p = put_id64(p, T_PARENT_ID, s->parent_id);
	p = put_len_str(p, T_NAME, s->name, name_n, name_len);
	*p++ = T_KIND;
	*p++ = s->kind == SPAN_KIND_SERVER ? KIND_SERVER : KIND_CLIENT;
	*p++ = T_START;
	p = pb_fixed64(p, s->start_ns);
	*p++ = T_END;
	p = pb_fixed64(p, s->end_ns);
	begin_at = p;
	if (first) {
		memcpy(p, e->bytes, e->len);
		p += e->len;
	}
	if (!first && s->begin_key && s->nbegin <= s->ntags) {
		/* span__begin's tags, kept for the connection's next spans */
		size_t maxslen = 0;
		for (; first < s->nbegin; first++) {
			const struct span_tag *t = &s->tags[first];
			if (t->type == TAG_STR && t->slen > maxslen)
				maxslen = t->slen;
			if (z[first].vlen != UINT32_MAX)
				p = put_tag(p, t, max_value, &z[first]);
		}
		if (maxslen <= max_value && (size_t)(p - begin_at) <= sizeof(e->bytes)) {
			e->key = s->begin_key;
			e->ntags = s->nbegin;
			e->maxslen = maxslen;
			e->len = (uint32_t)(p - begin_at);
			memcpy(e->bytes, begin_at, e->len);
		}
	}
	for (uint32_t i = first; i < s->ntags; i++)
		if (z[i].vlen != UINT32_MAX)
			p = put_tag(p, &s->tags[i], max_value, &z[i]);
	p = put_attr(p, T_ATTR, THREAD_KEY, sizeof(THREAD_KEY) - 1, TAG_INT, s->tid, NULL, 0, 0);
	if (truncated)
		p = put_attr(p, T_ATTR, TRUNCATED_KEY, sizeof(TRUNCATED_KEY) - 1, TAG_BOOL, 1, NULL, 0, 0);
	if (s->follows_id) {
		/* FOLLOWS_FROM: a link to the span it follows, sampled */
		*p++ = T_LINK;
		*p++ = (uint8_t)link;
		p = put_id128(p, T_TRACE_ID, s->follows_trace);
		p = put_id64(p, T_SPAN_ID, s->follows_id);
		*p++ = T_LINK_FLAGS;
		p = pb_fixed32(p, OTLP_FLAG_SAMPLED);
	}
	if (s->error) {
		*p++ = T_STATUS;
		p = pb_varint(p, status);
		if (etype)
			p = put_len_str(p, T_STATUS_MSG, etype->s, etype->slen > max_value ? max_value : etype->slen,
					emsg);
		*p++ = T_STATUS_CODE;
		*p++ = STATUS_CODE_ERROR;
	}
	/* a server span's parent is the caller's span: in another process */
	*p++ = (uint8_t)(T_FLAGS | 0x80);
	*p++ = (uint8_t)(T_FLAGS >> 7);
	p = pb_fixed32(p, OTLP_FLAG_SAMPLED | OTLP_FLAG_HAS_IS_REMOTE |
				  (s->kind == SPAN_KIND_SERVER && s->parent_id ? OTLP_FLAG_IS_REMOTE : 0));
	*cut = truncated;
	return (size_t)(p - buf);
}

/* ---- the request around the spans:
 * ExportTraceServiceRequest { 1: ResourceSpans { 1: Resource { 1: attributes },
 *                                                2: ScopeSpans { 1: scope, 2: spans } } } */

#define SCOPE_NAME "spantap"

struct res_attr {
	const char *key;
	uint8_t type;
	int64_t i;
	const char *v;
	size_t n, vlen;
};

static size_t resource_attrs(const struct export_process *p, struct res_attr *a, size_t max)
{
	size_t n = 0;

#define STR(k, val) (a[n++] = (struct res_attr){.key = (k), .type = TAG_STR, .v = (val), .n = strlen(val)})
	STR("service.name", p->service);
	a[n++] = (struct res_attr){.key = "process.pid", .type = TAG_INT, .i = p->pid};
	/* host.name: the process's own (NODE_NAME in a pod) wins */
	for (uint32_t i = 0; i < p->nattrs; i++)
		if (strcmp(p->attrs[i].key, "host.name") == 0)
			goto host_given;
	STR("host.name", p->hostname);
host_given:
	if (p->exe && p->exe[0])
		STR("process.executable.path", p->exe);
	for (uint32_t i = 0; i < p->nattrs && n < max; i++)
		STR(p->attrs[i].key, p->attrs[i].value);
#undef STR
	for (size_t i = 0; i < n; i++)
		a[i].vlen = a[i].type == TAG_STR ? utf8_len(a[i].v, a[i].n) : 0;
	return n;
}

#define MAX_RES_ATTRS 64

size_t otlp__encode_head(uint8_t *buf, size_t cap, const struct export_process *proc, size_t spans_len)
{
	struct res_attr a[MAX_RES_ATTRS];
	size_t na = resource_attrs(proc, a, MAX_RES_ATTRS), res = 0, scope, ss, rs, total;
	size_t vl = strlen(SPANTAP_VERSION);
	uint8_t *p = buf;

	for (size_t i = 0; i < na; i++)
		res += attr_size(strlen(a[i].key), any_size(a[i].type, a[i].i, a[i].vlen));
	scope = pb_len_field(sizeof(SCOPE_NAME) - 1) + pb_len_field(vl);
	ss = pb_len_field(scope) + spans_len;
	rs = pb_len_field(res) + pb_len_field(ss);
	total = 1 + pb_varint_len(rs) + pb_len_field(res) + 1 + pb_varint_len(ss) + pb_len_field(scope);
	if (total > cap)
		return 0;
	*p++ = PB_TAG(1, PB_LEN); /* resource_spans */
	p = pb_varint(p, rs);
	*p++ = PB_TAG(1, PB_LEN); /* resource */
	p = pb_varint(p, res);
	for (size_t i = 0; i < na; i++)
		p = put_attr(p, PB_TAG(1, PB_LEN), a[i].key, strlen(a[i].key), a[i].type, a[i].i, a[i].v, a[i].n,
			     a[i].vlen);
	*p++ = PB_TAG(2, PB_LEN); /* scope_spans */
	p = pb_varint(p, ss);
	*p++ = PB_TAG(1, PB_LEN); /* scope */
	p = pb_varint(p, scope);
	p = put_len_str(p, PB_TAG(1, PB_LEN), SCOPE_NAME, sizeof(SCOPE_NAME) - 1, sizeof(SCOPE_NAME) - 1);
	p = put_len_str(p, PB_TAG(2, PB_LEN), SPANTAP_VERSION, vl, vl);
	return (size_t)(p - buf);
}

static size_t format_span(const struct batch_format *f, uint8_t *buf, size_t cap, const struct span *s,
			  size_t max_value, int *cut)
{
	(void)f;
	return otlp__encode_span(buf, cap, s, max_value, cut);
}

static size_t format_overhead(const struct batch_format *f, const struct export_process *p, uint8_t *scratch,
			      size_t cap)
{
	(void)f;
	return otlp__encode_head(scratch, cap, p, 0);
}

static const struct batch_format format = {format_span, format_overhead};

const struct batch_format *otlp__format(void)
{
	return &format;
}

/* ---- responses */

static void printable(char *msg, size_t msglen, const uint8_t *s, size_t n)
{
	size_t o = 0;

	if (!msglen)
		return;
	for (size_t i = 0; i < n && o + 1 < msglen; i++)
		msg[o++] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : ' ';
	while (o && msg[o - 1] == ' ')
		o--;
	msg[o] = 0;
}

uint32_t otlp__parse_response(long status, const uint8_t *body, size_t len, char *msg, size_t msglen)
{
	struct pb_r r = {.p = body, .end = body + len}, sub;
	enum pb_wire wire;
	uint64_t rejected = 0;
	uint32_t f;
	int found = 0;

	if (msglen)
		msg[0] = 0;
	if (status >= 200 && status < 300) {
		/* ExportTraceServiceResponse { 1: partial_success { 1: rejected_spans, 2: error_message } } */
		while ((f = pb_r_field(&r, &wire))) {
			if (f != 1 || wire != PB_LEN) {
				pb_r_skip(&r, wire);
				continue;
			}
			sub = pb_r_bytes(&r);
			while (!r.bad && (f = pb_r_field(&sub, &wire))) {
				if (f == 1 && wire == PB_VARINT) {
					rejected = pb_r_varint(&sub);
				} else if (f == 2 && wire == PB_LEN) {
					struct pb_r m = pb_r_bytes(&sub);
					if (!m.bad)
						printable(msg, msglen, m.p, (size_t)(m.end - m.p));
				} else {
					pb_r_skip(&sub, wire);
				}
			}
		}
		/* int64 on the wire: a negative count is nonsense, and so is one that is not a span count */
		return r.bad || rejected > UINT32_MAX ? 0 : (uint32_t)rejected;
	}
	/* google.rpc.Status { 1: code, 2: message, 3: details } */
	while ((f = pb_r_field(&r, &wire))) {
		if (f == 2 && wire == PB_LEN) {
			sub = pb_r_bytes(&r);
			if (!sub.bad) {
				printable(msg, msglen, sub.p, (size_t)(sub.end - sub.p));
				found = 1;
			}
		} else {
			pb_r_skip(&r, wire);
		}
	}
	if (r.bad || !found)
		printable(msg, msglen, body, len < 200 ? len : 200);
	return 0;
}
