/* libFuzzer: the OTLP encoder and the reader of collectors' answers. The
 * input describes a span (ids, times, a name and tags of any bytes, a link,
 * an error) and a room to encode it in; what is written is walked by a
 * reader written here from the protobuf encoding specification: every
 * length exact, every wire type the field's, every string valid UTF-8,
 * every attribute accounted for. The input's tail is also read as a
 * collector's response, for a 200 and for a refusal. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/otlp.h"
#include "span/span.h"

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static const char *const keys[] = {"span.kind", "http.url", "error.type", "error", "peer.port", "k"};

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

/* ---- an independent reader */

struct rd {
	const uint8_t *p, *end;
};

static uint64_t varint(struct rd *r)
{
	uint64_t v = 0;

	for (int shift = 0;; shift += 7) {
		CHECK(shift < 70 && r->p < r->end);
		uint8_t b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
}

static struct rd sub(struct rd *r)
{
	uint64_t n = varint(r);
	CHECK(n <= (uint64_t)(r->end - r->p));
	struct rd s = {r->p, r->p + n};
	r->p += n;
	return s;
}

static void utf8(struct rd s)
{
	const uint8_t *p = s.p;

	while (p < s.end) {
		uint32_t c = *p,
			 n = c < 0x80	 ? 0
			     : c >= 0xf0 ? 3
			     : c >= 0xe0 ? 2
					 : 1,
			 min[] = {0, 0x80, 0x800, 0x10000};
		CHECK(c < 0x80 || (c >= 0xc2 && c <= 0xf4));
		CHECK((size_t)(s.end - p) > n);
		c &= n ? 0x3f >> n : 0x7f;
		for (uint32_t i = 1; i <= n; i++) {
			CHECK((p[i] & 0xc0) == 0x80);
			c = c << 6 | (p[i] & 0x3f);
		}
		CHECK(c >= min[n] && c <= 0x10ffff && (c < 0xd800 || c > 0xdfff));
		p += n + 1;
	}
}

static int attribute(struct rd kv)
{
	CHECK(varint(&kv) == (1 << 3 | 2));
	utf8(sub(&kv));
	CHECK(varint(&kv) == (2 << 3 | 2));
	struct rd any = sub(&kv);
	CHECK(kv.p == kv.end);
	uint64_t tag = varint(&any);
	if (tag == (1 << 3 | 2))
		utf8(sub(&any));
	else if (tag == (2 << 3 | 0))
		CHECK(varint(&any) <= 1);
	else
		CHECK(tag == (3 << 3 | 0) && (varint(&any), 1));
	CHECK(any.p == any.end);
	return 1;
}

static void walk(const uint8_t *buf, size_t len, const struct span *s, uint32_t want_attrs)
{
	struct rd r = {buf, buf + len};
	uint32_t attrs = 0, last = 0;

	CHECK(varint(&r) == (2 << 3 | 2));
	struct rd sp = sub(&r);
	CHECK(r.p == r.end);
	while (sp.p < sp.end) {
		uint64_t tag = varint(&sp);
		uint32_t f = (uint32_t)(tag >> 3), wire = tag & 7;
		CHECK(f >= last);
		last = f;
		if (f == 7 || f == 8) {
			CHECK(wire == 1 && sp.end - sp.p >= 8);
			sp.p += 8;
		} else if (f == 16) {
			CHECK(wire == 5 && sp.end - sp.p >= 4);
			sp.p += 4;
		} else if (f == 6) {
			CHECK(wire == 0 && varint(&sp) == (s->kind == SPAN_KIND_SERVER ? 2u : 3u));
		} else {
			CHECK(wire == 2);
			struct rd b = sub(&sp);
			size_t n = (size_t)(b.end - b.p);
			if (f == 1)
				CHECK(n == 16 && memcmp(b.p, s->trace_id, 16) == 0);
			else if (f == 2 || f == 4)
				CHECK(n == 8);
			else if (f == 5)
				utf8(b);
			else if (f == 9)
				attrs += (uint32_t)attribute(b);
			else if (f == 13)
				CHECK(s->follows_id && n == 33);
			else if (f == 15) {
				CHECK(s->error);
				while (b.p < b.end) {
					uint64_t t = varint(&b);
					if (t == (2 << 3 | 2))
						utf8(sub(&b));
					else
						CHECK(t == (3 << 3 | 0) && varint(&b) == 2);
				}
			} else
				abort();
		}
	}
	CHECK(attrs == want_attrs);
}

static uint8_t full[1 << 17], part[1 << 17];
static struct span s;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = {data, size};
	uint8_t mode = take8(&in);
	size_t max_value = 16 + take8(&in) * 8u, room = take8(&in) * 16u, l;
	const uint8_t *b;
	uint32_t want = 1; /* thread.id */
	int cut, cut2;
	char msg[32];

	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 16; i++)
		s.trace_id[i] = take8(&in);
	s.span_id = take64(&in);
	s.parent_id = take64(&in);
	s.kind = mode & 1 ? SPAN_KIND_SERVER : SPAN_KIND_CLIENT;
	s.error = (mode >> 1) & 1;
	if (mode & 4) {
		s.follows_id = take64(&in) | 1;
		for (int i = 0; i < 16; i++)
			s.follows_trace[i] = take8(&in);
	}
	s.tid = (uint32_t)take64(&in);
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
	for (uint32_t i = 0; i < s.ntags; i++) {
		const struct span_tag *t = &s.tags[i];
		int native = strcmp(t->key, "span.kind") == 0 || (strcmp(t->key, "error") == 0 && t->type == TAG_BOOL);
		want += !native;
	}
	if (mode & 8) {
		/* a connection's serial number is never reused: the encoder's
		 * cache of these tags holds for the key (the second encoding
		 * below reads it) */
		static uint64_t serial;
		s.begin_key = ++serial << 2 | s.kind;
		s.nbegin = s.ntags < 3 ? s.ntags : 3;
	}

	size_t n = otlp__encode_span(full, sizeof(full), &s, max_value, &cut);
	CHECK(n > 0);
	walk(full, n, &s, want + (uint32_t)cut);
	/* any room: the same bytes, or nothing written past it */
	memset(part, 0xa5, sizeof(part));
	size_t m = otlp__encode_span(part, room, &s, max_value, &cut2);
	CHECK(m == (room < n ? 0 : n));
	CHECK(!m || (memcmp(part, full, n) == 0 && cut2 == cut));
	for (size_t i = room; i < room + 64; i++)
		CHECK(part[i] == 0xa5);

	/* the rest as a collector's answer */
	for (long status = 200; status <= 400; status += 200) {
		otlp__parse_response(status, in.p, in.n, msg, sizeof(msg));
		CHECK(strlen(msg) < sizeof(msg));
		for (size_t i = 0; msg[i]; i++)
			CHECK(msg[i] >= 0x20 && msg[i] < 0x7f);
	}
	return 0;
}
