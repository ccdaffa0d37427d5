/* Encodes spantap spans into Jaeger's Thrift structs. Ids: the 128-bit trace
 * id is split big-endian into traceIdHigh/Low, as its hex form reads; times
 * are microseconds since the epoch. */
#include "export/jaeger.h"

#include "span/span.h"

#include <stdint.h>
#include <string.h>

enum { TAG_T_STRING = 0, TAG_T_BOOL = 2, TAG_T_LONG = 3 };

static int64_t be64_at(const uint8_t *b)
{
	uint64_t v;

	memcpy(&v, b, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return (int64_t)v;
}

/* A Tag struct up to its value field; the caller writes the value. */
static void tag_begin(struct thrift_w *w, const char *k, size_t klen, int32_t vtype)
{
	thrift_struct_begin(w);
	thrift_field_begin(w, T_STRING, 1);
	thrift_string(w, k, klen);
	thrift_field_begin(w, T_I32, 2);
	thrift_i32(w, vtype);
}

static void tag_str(struct thrift_w *w, const char *k, size_t klen, const char *v, size_t vlen)
{
	tag_begin(w, k, klen, TAG_T_STRING);
	thrift_field_begin(w, T_STRING, 3);
	thrift_string(w, v, vlen);
	thrift_struct_end(w);
}

static void tag_long(struct thrift_w *w, const char *k, size_t klen, int64_t v)
{
	tag_begin(w, k, klen, TAG_T_LONG);
	thrift_field_begin(w, T_I64, 6);
	thrift_i64(w, v);
	thrift_struct_end(w);
}

static void tag_bool(struct thrift_w *w, const char *k, size_t klen, int v)
{
	tag_begin(w, k, klen, TAG_T_BOOL);
	thrift_field_bool(w, 5, v);
	thrift_struct_end(w);
}

#define TRUNCATED_KEY "spantap.truncated"

/* The Span struct through the field writers: every bounds check in place,
 * for a span that may not fit. */
static void encode_span_checked(struct thrift_w *w, const struct span *s, size_t max_value, int truncated)
{
	thrift_struct_begin(w);
	thrift_field_begin(w, T_I64, 1);
	thrift_i64(w, be64_at(s->trace_id + 8));
	thrift_field_begin(w, T_I64, 2);
	thrift_i64(w, be64_at(s->trace_id));
	thrift_field_begin(w, T_I64, 3);
	thrift_i64(w, (int64_t)s->span_id);
	thrift_field_begin(w, T_I64, 4);
	thrift_i64(w, (int64_t)s->parent_id);
	thrift_field_begin(w, T_STRING, 5);
	thrift_string(w, s->name, strnlen(s->name, sizeof(s->name)));
	if (s->follows_id) {
		/* references: one SpanRef, FOLLOWS_FROM */
		thrift_field_begin(w, T_LIST, 6);
		thrift_list_begin(w, T_STRUCT, 1);
		thrift_struct_begin(w);
		thrift_field_begin(w, T_I32, 1);
		thrift_i32(w, 1);
		thrift_field_begin(w, T_I64, 2);
		thrift_i64(w, be64_at(s->follows_trace + 8));
		thrift_field_begin(w, T_I64, 3);
		thrift_i64(w, be64_at(s->follows_trace));
		thrift_field_begin(w, T_I64, 4);
		thrift_i64(w, (int64_t)s->follows_id);
		thrift_struct_end(w);
	}
	thrift_field_begin(w, T_I32, 7);
	thrift_i32(w, 1); /* sampled */
	thrift_field_begin(w, T_I64, 8);
	thrift_i64(w, (int64_t)(s->start_ns / 1000));
	thrift_field_begin(w, T_I64, 9);
	thrift_i64(w, (int64_t)((s->end_ns - s->start_ns) / 1000));
	thrift_field_begin(w, T_LIST, 10);
	thrift_list_begin(w, T_STRUCT, s->ntags + (uint32_t)truncated);
	for (uint32_t i = 0; i < s->ntags; i++) {
		const struct span_tag *t = &s->tags[i];
		if (t->type == TAG_STR)
			tag_str(w, t->key, t->klen, t->s, t->slen < max_value ? t->slen : max_value);
		else if (t->type == TAG_INT)
			tag_long(w, t->key, t->klen, t->i);
		else
			tag_bool(w, t->key, t->klen, (int)t->i);
	}
	if (truncated)
		tag_bool(w, TRUNCATED_KEY, sizeof(TRUNCATED_KEY) - 1, 1);
	thrift_struct_end(w);
}

/* The same bytes written straight, for a span known to fit (most): one
 * bounds check per span instead of one per field. */
static uint8_t *c_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static uint8_t *c_i64(uint8_t *p, int64_t v)
{
	return c_varint(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static uint8_t *c_bytes(uint8_t *p, const void *v, size_t n)
{
	p = c_varint(p, n);
	span__copy_bytes(p, v, n);
	return p + n;
}

/* compact: field headers are (id delta << 4 | type); a Tag is key (1),
 * vType (2, an i32), then vStr (3), vBool (5) or vLong (6) */
static uint8_t *c_tag(uint8_t *p, const struct span_tag *t, size_t max_value)
{
	*p++ = 0x10 | THRIFT_C_BINARY;
	p = c_bytes(p, t->key, t->klen);
	*p++ = 0x10 | THRIFT_C_I32;
	if (t->type == TAG_STR) {
		*p++ = 2 * TAG_T_STRING;
		*p++ = 0x10 | THRIFT_C_BINARY;
		p = c_bytes(p, t->s, t->slen < max_value ? t->slen : max_value);
	} else if (t->type == TAG_INT) {
		*p++ = 2 * TAG_T_LONG;
		*p++ = 0x40 | THRIFT_C_I64;
		p = c_i64(p, t->i);
	} else {
		*p++ = 2 * TAG_T_BOOL;
		*p++ = 0x30 | (t->i ? THRIFT_C_TRUE : THRIFT_C_FALSE);
	}
	*p++ = 0;
	return p;
}

static uint8_t *b_tag(uint8_t *p, const struct span_tag *t, size_t max_value);

/* The tags span__begin wrote (a connection's addresses and ports) encode to
 * the same bytes in every span of the connection: kept here, per protocol,
 * by the span's begin_key, and copied. The key holds the connection's serial
 * number: the last BEGIN_CACHE_N connections opened never share a slot. */
#define BEGIN_CACHE_N 256 /* a power of two */
#define BEGIN_CACHE_BYTES 704

struct begin_enc {
	uint64_t key;
	size_t maxslen; /* the bytes hold for any max_value at least this */
	uint32_t ntags;
	uint32_t len;
	uint8_t bytes[BEGIN_CACHE_BYTES];
};

static struct begin_enc begin_cache[2][BEGIN_CACHE_N];

static uint8_t *begin_tags(uint8_t *p, const struct span *s, size_t max_value, enum thrift_proto proto)
{
	struct begin_enc *e = &begin_cache[proto == THRIFT_BINARY][(s->begin_key >> 2) & (BEGIN_CACHE_N - 1)];
	uint8_t *start = p;
	size_t maxslen = 0;

	if (e->key == s->begin_key && e->ntags == s->nbegin && max_value >= e->maxslen) {
		memcpy(p, e->bytes, e->len);
		return p + e->len;
	}
	for (uint32_t i = 0; i < s->nbegin; i++) {
		const struct span_tag *t = &s->tags[i];
		p = proto == THRIFT_COMPACT ? c_tag(p, t, max_value) : b_tag(p, t, max_value);
		if (t->type == TAG_STR && t->slen > maxslen)
			maxslen = t->slen;
	}
	if (maxslen <= max_value && (size_t)(p - start) <= sizeof(e->bytes)) {
		e->key = s->begin_key;
		e->ntags = s->nbegin;
		e->maxslen = maxslen;
		e->len = (uint32_t)(p - start);
		memcpy(e->bytes, start, e->len);
	}
	return p;
}

/* the first tag not written by begin_tags */
static uint32_t first_tag(const struct span *s)
{
	return s->begin_key && s->nbegin <= s->ntags ? s->nbegin : 0;
}

static uint8_t *c_span(uint8_t *p, const struct span *s, size_t max_value, int truncated)
{
	uint32_t n = s->ntags + (uint32_t)truncated;

	*p++ = 0x10 | THRIFT_C_I64;
	p = c_i64(p, be64_at(s->trace_id + 8));
	*p++ = 0x10 | THRIFT_C_I64;
	p = c_i64(p, be64_at(s->trace_id));
	*p++ = 0x10 | THRIFT_C_I64;
	p = c_i64(p, (int64_t)s->span_id);
	*p++ = 0x10 | THRIFT_C_I64;
	p = c_i64(p, (int64_t)s->parent_id);
	*p++ = 0x10 | THRIFT_C_BINARY;
	p = c_bytes(p, s->name, strnlen(s->name, sizeof(s->name)));
	if (s->follows_id) {
		*p++ = 0x10 | THRIFT_C_LIST;
		*p++ = 0x10 | THRIFT_C_STRUCT;
		*p++ = 0x10 | THRIFT_C_I32;
		*p++ = 2; /* FOLLOWS_FROM, zigzag */
		*p++ = 0x10 | THRIFT_C_I64;
		p = c_i64(p, be64_at(s->follows_trace + 8));
		*p++ = 0x10 | THRIFT_C_I64;
		p = c_i64(p, be64_at(s->follows_trace));
		*p++ = 0x10 | THRIFT_C_I64;
		p = c_i64(p, (int64_t)s->follows_id);
		*p++ = 0;
	}
	*p++ = (s->follows_id ? 0x10 : 0x20) | THRIFT_C_I32;
	*p++ = 2; /* sampled */
	*p++ = 0x10 | THRIFT_C_I64;
	p = c_i64(p, (int64_t)(s->start_ns / 1000));
	*p++ = 0x10 | THRIFT_C_I64;
	p = c_i64(p, (int64_t)((s->end_ns - s->start_ns) / 1000));
	*p++ = 0x10 | THRIFT_C_LIST;
	if (n < 15) {
		*p++ = (uint8_t)(n << 4 | THRIFT_C_STRUCT);
	} else {
		*p++ = 0xf0 | THRIFT_C_STRUCT;
		p = c_varint(p, n);
	}
	uint32_t i = first_tag(s);
	if (i)
		p = begin_tags(p, s, max_value, THRIFT_COMPACT);
	for (; i < s->ntags; i++)
		p = c_tag(p, &s->tags[i], max_value);
	if (truncated) {
		static const struct span_tag cut = {
			.key = TRUNCATED_KEY, .klen = sizeof(TRUNCATED_KEY) - 1, .type = TAG_BOOL, .i = 1};
		p = c_tag(p, &cut, max_value);
	}
	*p++ = 0;
	return p;
}

static uint8_t *b_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static uint8_t *b_be64(uint8_t *p, uint64_t v)
{
	return b_be32(b_be32(p, (uint32_t)(v >> 32)), (uint32_t)v);
}

static uint8_t *b_field(uint8_t *p, uint8_t type, uint8_t id)
{
	p[0] = type;
	p[1] = 0;
	p[2] = id;
	return p + 3;
}

static uint8_t *b_bytes(uint8_t *p, const void *v, size_t n)
{
	p = b_be32(p, (uint32_t)n);
	span__copy_bytes(p, v, n);
	return p + n;
}

static uint8_t *b_tag(uint8_t *p, const struct span_tag *t, size_t max_value)
{
	p = b_field(p, T_STRING, 1);
	p = b_bytes(p, t->key, t->klen);
	p = b_field(p, T_I32, 2);
	if (t->type == TAG_STR) {
		p = b_be32(p, TAG_T_STRING);
		p = b_field(p, T_STRING, 3);
		p = b_bytes(p, t->s, t->slen < max_value ? t->slen : max_value);
	} else if (t->type == TAG_INT) {
		p = b_be32(p, TAG_T_LONG);
		p = b_field(p, T_I64, 6);
		p = b_be64(p, (uint64_t)t->i);
	} else {
		p = b_be32(p, TAG_T_BOOL);
		p = b_field(p, T_BOOL, 5);
		*p++ = t->i ? 1 : 0;
	}
	*p++ = 0;
	return p;
}

static uint8_t *b_span(uint8_t *p, const struct span *s, size_t max_value, int truncated)
{
	p = b_be64(b_field(p, T_I64, 1), (uint64_t)be64_at(s->trace_id + 8));
	p = b_be64(b_field(p, T_I64, 2), (uint64_t)be64_at(s->trace_id));
	p = b_be64(b_field(p, T_I64, 3), s->span_id);
	p = b_be64(b_field(p, T_I64, 4), s->parent_id);
	p = b_bytes(b_field(p, T_STRING, 5), s->name, strnlen(s->name, sizeof(s->name)));
	if (s->follows_id) {
		p = b_field(p, T_LIST, 6);
		*p++ = T_STRUCT;
		p = b_be32(p, 1);
		p = b_be32(b_field(p, T_I32, 1), 1);
		p = b_be64(b_field(p, T_I64, 2), (uint64_t)be64_at(s->follows_trace + 8));
		p = b_be64(b_field(p, T_I64, 3), (uint64_t)be64_at(s->follows_trace));
		p = b_be64(b_field(p, T_I64, 4), s->follows_id);
		*p++ = 0;
	}
	p = b_be32(b_field(p, T_I32, 7), 1);
	p = b_be64(b_field(p, T_I64, 8), s->start_ns / 1000);
	p = b_be64(b_field(p, T_I64, 9), (s->end_ns - s->start_ns) / 1000);
	p = b_field(p, T_LIST, 10);
	*p++ = T_STRUCT;
	p = b_be32(p, s->ntags + (uint32_t)truncated);
	uint32_t i = first_tag(s);
	if (i)
		p = begin_tags(p, s, max_value, THRIFT_BINARY);
	for (; i < s->ntags; i++)
		p = b_tag(p, &s->tags[i], max_value);
	if (truncated) {
		static const struct span_tag cut = {
			.key = TRUNCATED_KEY, .klen = sizeof(TRUNCATED_KEY) - 1, .type = TAG_BOOL, .i = 1};
		p = b_tag(p, &cut, max_value);
	}
	*p++ = 0;
	return p;
}

/* the most any field but tag values and keys takes, in either protocol */
#define SPAN_FIXED_MAX 256
#define TAG_FIXED_MAX 40

int jaeger__encode_span(struct thrift_w *w, const struct span *s, size_t max_value)
{
	size_t bound = SPAN_FIXED_MAX + sizeof(s->name) + TAG_FIXED_MAX + sizeof(TRUNCATED_KEY) +
		       (size_t)s->ntags * TAG_FIXED_MAX + s->tagbytes;
	int truncated = s->maxslen > max_value;

	if (w->overflow || w->depth + 2 >= THRIFT_MAX_DEPTH || bound > w->cap - w->len) {
		encode_span_checked(w, s, max_value, truncated);
		return truncated;
	}
	uint8_t *p = w->buf + w->len;
	p = w->proto == THRIFT_COMPACT ? c_span(p, s, max_value, truncated) : b_span(p, s, max_value, truncated);
	w->len = (size_t)(p - w->buf);
	return truncated;
}

static void encode_batch(struct thrift_w *w, const struct export_process *p, const uint8_t *spans, size_t spans_len,
			 uint32_t nspans, int envelope, int32_t seqid, int64_t seqno, size_t *spans_at)
{
	if (envelope) {
		thrift_message_begin(w, "emitBatch", T_ONEWAY, seqid);
		thrift_struct_begin(w); /* emitBatch_args */
		thrift_field_begin(w, T_STRUCT, 1);
	}
	thrift_struct_begin(w); /* Batch */
	thrift_field_begin(w, T_STRUCT, 1);
	thrift_struct_begin(w); /* Process */
	thrift_field_begin(w, T_STRING, 1);
	thrift_string(w, p->service, strlen(p->service));
	thrift_field_begin(w, T_LIST, 2);
	thrift_list_begin(w, T_STRUCT, 6 + p->nattrs);
	tag_str(w, "hostname", 8, p->hostname, strlen(p->hostname));
	tag_str(w, "ip", 2, p->ip, strlen(p->ip));
	tag_long(w, "pid", 3, p->pid);
	tag_str(w, "process.executable.path", strlen("process.executable.path"), p->exe, strlen(p->exe));
	tag_str(w, "jaeger.version", strlen("jaeger.version"), "spantap-" SPANTAP_VERSION,
		strlen("spantap-" SPANTAP_VERSION));
	tag_str(w, "spantap.version", strlen("spantap.version"), SPANTAP_VERSION, strlen(SPANTAP_VERSION));
	for (uint32_t i = 0; i < p->nattrs; i++)
		tag_str(w, p->attrs[i].key, strlen(p->attrs[i].key), p->attrs[i].value, strlen(p->attrs[i].value));
	thrift_struct_end(w);
	thrift_field_begin(w, T_LIST, 2);
	thrift_list_begin(w, T_STRUCT, nspans);
	if (spans_at)
		*spans_at = w->len;
	thrift_raw(w, spans, spans_len);
	thrift_field_begin(w, T_I64, 3);
	thrift_i64(w, seqno);
	thrift_struct_end(w); /* Batch */
	if (envelope)
		thrift_struct_end(w); /* emitBatch_args */
}

void jaeger__encode_batch(struct thrift_w *w, const struct export_process *p, const uint8_t *spans, size_t spans_len,
			  uint32_t nspans, int envelope, int32_t seqid, int64_t seqno)
{
	encode_batch(w, p, spans, spans_len, nspans, envelope, seqid, seqno, NULL);
}

size_t jaeger__encode_batch_around(struct thrift_w *w, const struct export_process *p, uint32_t nspans, int envelope,
				   int32_t seqid, int64_t seqno)
{
	size_t at = 0;

	encode_batch(w, p, NULL, 0, nspans, envelope, seqid, seqno, &at);
	return at;
}

struct jaeger_format {
	struct batch_format base;
	enum thrift_proto proto;
	int envelope;
};

static size_t format_span(const struct batch_format *f, uint8_t *buf, size_t cap, const struct span *s,
			  size_t max_value, int *cut)
{
	const struct jaeger_format *jf = (const struct jaeger_format *)f;
	struct thrift_w w;

	thrift_w_init(&w, jf->proto, buf, cap);
	*cut = jaeger__encode_span(&w, s, max_value);
	return w.overflow ? 0 : w.len;
}

static size_t format_overhead(const struct batch_format *f, const struct export_process *p, uint8_t *scratch,
			      size_t cap)
{
	const struct jaeger_format *jf = (const struct jaeger_format *)f;
	struct thrift_w w;

	/* the largest sequence numbers: the most bytes they take */
	thrift_w_init(&w, jf->proto, scratch, cap);
	jaeger__encode_batch(&w, p, NULL, 0, 0, jf->envelope, INT32_MAX, INT64_MAX);
	return w.len;
}

#define JF(proto, envelope)                                     \
	{                                                       \
		{format_span, format_overhead}, proto, envelope \
	}
static const struct jaeger_format formats[2][2] = {
	{JF(THRIFT_COMPACT, 0), JF(THRIFT_COMPACT, 1)},
	{JF(THRIFT_BINARY, 0), JF(THRIFT_BINARY, 1)},
};

const struct batch_format *jaeger__format(enum thrift_proto proto, int envelope)
{
	return &formats[proto == THRIFT_BINARY][!!envelope].base;
}
