/* libFuzzer: encode-then-decode round trip of the Jaeger Thrift encoders.
 * The input describes a span (ids, times, name, tags of every type, a
 * FOLLOWS_FROM reference) and a process; it is encoded with spantap's
 * writer in the compact or binary protocol, as an agent emitBatch message
 * or a bare Batch, then decoded by an independent reader written here from
 * the Thrift specification, which checks every field against the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/jaeger.h"
#include "export/thrift.h"
#include "span/span.h"

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

/* ---- reader ---- */

struct rd {
	const uint8_t *p;
	size_t n, off;
	int compact;
	int16_t last[16];
	int depth;
	int bool_pending; /* compact: a bool field's value lives in its header */
	int bool_val;
};

static uint8_t u8(struct rd *r)
{
	CHECK(r->off < r->n);
	return r->p[r->off++];
}

static uint64_t varint(struct rd *r)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 70; shift += 7) {
		uint8_t b = u8(r);
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	abort();
}

static int64_t zigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static uint64_t be(struct rd *r, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v = v << 8 | u8(r);
	return v;
}

static int64_t rd_i64(struct rd *r)
{
	return r->compact ? zigzag(varint(r)) : (int64_t)be(r, 8);
}

static int32_t rd_i32(struct rd *r)
{
	return r->compact ? (int32_t)zigzag(varint(r)) : (int32_t)be(r, 4);
}

static const uint8_t *rd_str(struct rd *r, size_t *len)
{
	size_t l = r->compact ? (size_t)varint(r) : (size_t)(uint32_t)be(r, 4);

	CHECK(l <= r->n - r->off);
	*len = l;
	r->off += l;
	return r->p + r->off - l;
}

/* compact type -> binary TType */
static int ttype(int ct)
{
	static const int map[] = {0, T_BOOL, T_BOOL, 3, 6, T_I32, T_I64, T_DOUBLE, T_STRING, T_LIST, 14, 13, T_STRUCT};

	CHECK(ct >= 0 && ct <= 12);
	return map[ct];
}

static void struct_begin(struct rd *r)
{
	CHECK(r->depth < 15);
	r->last[++r->depth] = 0;
}

/* next field: its type (0 at the stop field) and id */
static int field(struct rd *r, int16_t *id)
{
	uint8_t b = u8(r);

	if (!r->compact) {
		if (b == 0) {
			r->depth--;
			return 0;
		}
		*id = (int16_t)be(r, 2);
		return b;
	}
	if (b == 0) {
		r->depth--;
		return 0;
	}
	int d = b >> 4, ct = b & 15;
	*id = d ? (int16_t)(r->last[r->depth] + d) : (int16_t)zigzag(varint(r));
	r->last[r->depth] = *id;
	if (ct == 1 || ct == 2) {
		r->bool_pending = 1;
		r->bool_val = ct == 1;
	}
	return ttype(ct);
}

static uint32_t list(struct rd *r, int elem)
{
	if (r->compact) {
		uint8_t b = u8(r);
		uint32_t size = b >> 4;
		CHECK(ttype(b & 15) == elem);
		if (size == 15)
			size = (uint32_t)varint(r);
		return size;
	}
	CHECK(u8(r) == elem);
	return (uint32_t)be(r, 4);
}

static int rd_bool(struct rd *r)
{
	if (r->compact) {
		CHECK(r->bool_pending);
		r->bool_pending = 0;
		return r->bool_val;
	}
	uint8_t b = u8(r);
	CHECK(b <= 1);
	return b;
}

/* ---- the input ---- */

static const char *const keys[] = {"span.kind", "http.url", "db.statement", "error", "peer.port", "k"};

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t take8(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint64_t take64(struct in *in)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | take8(in);
	return v;
}

static size_t take_bytes(struct in *in, size_t max, const uint8_t **out)
{
	size_t l = take8(in) * 8u + take8(in);

	if (l > max)
		l = max;
	if (l > in->n)
		l = in->n;
	*out = in->p;
	in->p += l;
	in->n -= l;
	return l;
}

static int64_t be64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return (int64_t)v;
}

static void check_tag_list(struct rd *r, const struct span *s, size_t max_value, int truncated)
{
	uint32_t n = list(r, T_STRUCT);

	CHECK(n == s->ntags + (uint32_t)truncated);
	for (uint32_t i = 0; i < n; i++) {
		const struct span_tag *t = i < s->ntags ? &s->tags[i] : NULL;
		const uint8_t *key = NULL, *v = NULL;
		size_t klen = 0, vlen = 0;
		int32_t vtype = -1;
		int64_t vlong = 0;
		int vbool = -1, ft;
		int16_t id;

		struct_begin(r);
		while ((ft = field(r, &id))) {
			if (id == 1 && ft == T_STRING)
				key = rd_str(r, &klen);
			else if (id == 2 && ft == T_I32)
				vtype = rd_i32(r);
			else if (id == 3 && ft == T_STRING)
				v = rd_str(r, &vlen);
			else if (id == 5 && ft == T_BOOL)
				vbool = rd_bool(r);
			else if (id == 6 && ft == T_I64)
				vlong = rd_i64(r);
			else
				abort(); /* nothing else is ever written */
		}
		CHECK(key);
		if (!t) {
			CHECK(klen == 17 && memcmp(key, "spantap.truncated", 17) == 0 && vtype == 2 && vbool == 1);
			continue;
		}
		CHECK(klen == strlen(t->key) && memcmp(key, t->key, klen) == 0);
		if (t->type == TAG_STR) {
			size_t want = t->slen < max_value ? t->slen : max_value;
			CHECK(vtype == 0 && v && vlen == want && memcmp(v, t->s, want) == 0);
		} else if (t->type == TAG_INT) {
			CHECK(vtype == 3 && vlong == t->i);
		} else {
			CHECK(vtype == 2 && vbool == (int)t->i);
		}
	}
}

static void check_span(struct rd *r, const struct span *s, size_t max_value, int truncated)
{
	int seen[11] = {0}, ft;
	int16_t id;

	struct_begin(r);
	while ((ft = field(r, &id))) {
		CHECK(id >= 1 && id <= 10 && !seen[id]);
		seen[id] = 1;
		switch (id) {
		case 1:
			CHECK(ft == T_I64 && rd_i64(r) == be64(s->trace_id + 8));
			break;
		case 2:
			CHECK(ft == T_I64 && rd_i64(r) == be64(s->trace_id));
			break;
		case 3:
			CHECK(ft == T_I64 && (uint64_t)rd_i64(r) == s->span_id);
			break;
		case 4:
			CHECK(ft == T_I64 && (uint64_t)rd_i64(r) == s->parent_id);
			break;
		case 5: {
			size_t l;
			const uint8_t *name = rd_str(r, &l);
			CHECK(ft == T_STRING && l == strlen(s->name) && memcmp(name, s->name, l) == 0);
			break;
		}
		case 6: {
			CHECK(ft == T_LIST && s->follows_id && list(r, T_STRUCT) == 1);
			int rt = -1, f2;
			int64_t lo = 0, hi = 0, sid = 0;
			struct_begin(r);
			while ((f2 = field(r, &id))) {
				if (id == 1 && f2 == T_I32)
					rt = rd_i32(r);
				else if (id == 2 && f2 == T_I64)
					lo = rd_i64(r);
				else if (id == 3 && f2 == T_I64)
					hi = rd_i64(r);
				else if (id == 4 && f2 == T_I64)
					sid = rd_i64(r);
				else
					abort();
			}
			CHECK(rt == 1 && lo == be64(s->follows_trace + 8) && hi == be64(s->follows_trace) &&
			      (uint64_t)sid == s->follows_id);
			break;
		}
		case 7:
			CHECK(ft == T_I32 && rd_i32(r) == 1);
			break;
		case 8:
			CHECK(ft == T_I64 && rd_i64(r) == (int64_t)(s->start_ns / 1000));
			break;
		case 9:
			CHECK(ft == T_I64 && rd_i64(r) == (int64_t)((s->end_ns - s->start_ns) / 1000));
			break;
		case 10:
			CHECK(ft == T_LIST);
			check_tag_list(r, s, max_value, truncated);
			break;
		}
	}
	for (int i = 1; i <= 10; i++)
		CHECK(seen[i] == (i != 6 || s->follows_id != 0));
}

static void check_process(struct rd *r, const struct export_process *p)
{
	int ft, got_name = 0, got_tags = 0;
	int16_t id;

	struct_begin(r);
	while ((ft = field(r, &id))) {
		if (id == 1 && ft == T_STRING) {
			size_t l;
			const uint8_t *name = rd_str(r, &l);
			CHECK(l == strlen(p->service) && memcmp(name, p->service, l) == 0);
			got_name = 1;
		} else if (id == 2 && ft == T_LIST) {
			uint32_t n = list(r, T_STRUCT);
			for (uint32_t i = 0; i < n; i++) {
				int f2;
				struct_begin(r);
				while ((f2 = field(r, &id))) {
					size_t l;
					if (f2 == T_STRING)
						rd_str(r, &l);
					else if (f2 == T_I32)
						rd_i32(r);
					else if (f2 == T_I64)
						rd_i64(r);
					else
						abort();
				}
			}
			got_tags = 1;
		} else {
			abort();
		}
	}
	CHECK(got_name && got_tags);
}

static uint8_t spans_buf[1 << 17], out[1 << 18];
static struct span s;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = {data, size};
	struct thrift_w w;
	struct rd r = {0};
	uint8_t mode = take8(&in);
	enum thrift_proto proto = mode & 1 ? THRIFT_BINARY : THRIFT_COMPACT;
	int envelope = (mode >> 1) & 1;
	size_t max_value = 16 + take8(&in) * 8u;
	const uint8_t *b;
	size_t l;

	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 16; i++)
		s.trace_id[i] = take8(&in);
	s.span_id = take64(&in);
	s.parent_id = take64(&in);
	if (mode & 4) {
		s.follows_id = take64(&in) | 1;
		for (int i = 0; i < 16; i++)
			s.follows_trace[i] = take8(&in);
	}
	s.start_ns = take64(&in) >> 2;
	s.end_ns = s.start_ns + (take64(&in) >> 20);
	l = take_bytes(&in, SPAN_NAME_MAX - 1, &b);
	memcpy(s.name, b, l);
	for (size_t i = 0; i < l; i++)
		if (!s.name[i])
			s.name[i] = '0'; /* names are C strings */
	uint8_t ntags = take8(&in) % SPAN_MAX_TAGS;
	for (uint8_t i = 0; i < ntags; i++) {
		uint8_t k = take8(&in);
		const char *key = keys[k % (sizeof(keys) / sizeof(keys[0]))];
		if (k & 0x40)
			span__tag_int(&s, key, (int64_t)take64(&in));
		else if (k & 0x80)
			span__tag_bool(&s, key, take8(&in) & 1);
		else {
			l = take_bytes(&in, 3000, &b);
			span__tag_str(&s, key, (const char *)b, l);
		}
	}
	struct export_process p = {.service = "svc", .pid = 42, .hostname = "h", .ip = "10.0.0.1", .exe = "/bin/x"};

	/* encode: the span, then its batch */
	thrift_w_init(&w, proto, spans_buf, sizeof(spans_buf));
	int truncated = jaeger__encode_span(&w, &s, max_value);
	CHECK(!w.overflow);
	size_t slen = w.len;
	thrift_w_init(&w, proto, out, sizeof(out));
	jaeger__encode_batch(&w, &p, spans_buf, slen, 1, envelope, 7, 9);
	CHECK(!w.overflow);

	/* decode and compare */
	r.p = out;
	r.n = w.len;
	r.compact = proto == THRIFT_COMPACT;
	int16_t id;
	int ft;
	if (envelope) {
		if (r.compact) {
			CHECK(u8(&r) == 0x82 && u8(&r) == (1 | T_ONEWAY << 5));
			CHECK(varint(&r) == 7);
			const uint8_t *name = rd_str(&r, &l);
			CHECK(l == 9 && memcmp(name, "emitBatch", 9) == 0);
		} else {
			CHECK((uint32_t)be(&r, 4) == (0x80010000u | T_ONEWAY));
			const uint8_t *name = rd_str(&r, &l);
			CHECK(l == 9 && memcmp(name, "emitBatch", 9) == 0);
			CHECK(be(&r, 4) == 7);
		}
		struct_begin(&r); /* emitBatch_args */
		CHECK(field(&r, &id) == T_STRUCT && id == 1);
	}
	struct_begin(&r); /* Batch */
	int got_process = 0, got_spans = 0, got_seq = 0;
	while ((ft = field(&r, &id))) {
		if (id == 1 && ft == T_STRUCT) {
			check_process(&r, &p);
			got_process = 1;
		} else if (id == 2 && ft == T_LIST) {
			CHECK(list(&r, T_STRUCT) == 1);
			check_span(&r, &s, max_value, truncated);
			got_spans = 1;
		} else if (id == 3 && ft == T_I64) {
			CHECK(rd_i64(&r) == 9);
			got_seq = 1;
		} else {
			abort();
		}
	}
	CHECK(got_process && got_spans && got_seq);
	if (envelope)
		CHECK(field(&r, &id) == 0); /* end of emitBatch_args */
	CHECK(r.off == r.n);		    /* nothing after the message */
	return 0;
}
