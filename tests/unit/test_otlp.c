/* Unit tests of the OTLP protobuf encoder: varints at every length
 * boundary, nested lengths that add up (walked with the bounded reader),
 * no byte past the room given, UTF-8 repair, value cuts, batches within
 * their limit, and collectors' answers read safely. `test_otlp --golden
 * FILE` writes a request of edge-case spans for tests/e2e/test_otlp.py to
 * decode with OpenTelemetry's own generated code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/ids.h"
#include "base/stats.h"
#include "export/otlp.h"
#include "export/pb.h"
#include "span/span.h"

static void test_varints(void **state)
{
	static const struct {
		uint64_t v;
		size_t len;
	} vec[] = {
		{0, 1},
		{1, 1},
		{127, 1},
		{128, 2},
		{16383, 2},
		{16384, 3},
		{(1u << 21) - 1, 3},
		{1u << 21, 4},
		{(1u << 28) - 1, 4},
		{1u << 28, 5},
		{UINT32_MAX, 5},
		{(1ULL << 35) - 1, 5},
		{1ULL << 35, 6},
		{(1ULL << 63) - 1, 9},
		{1ULL << 63, 10},
		{(uint64_t)-5, 10}, /* a negative int64: ten bytes, as protobuf writes it */
		{UINT64_MAX, 10},
	};
	uint8_t buf[16];

	(void)state;
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		memset(buf, 0xee, sizeof(buf));
		uint8_t *end = pb_varint(buf, vec[i].v);
		assert_int_equal(end - buf, vec[i].len);
		assert_int_equal(pb_varint_len(vec[i].v), vec[i].len);
		assert_int_equal(buf[vec[i].len], 0xee);
		for (size_t k = 0; k + 1 < vec[i].len; k++)
			assert_true(buf[k] & 0x80);
		assert_false(buf[vec[i].len - 1] & 0x80);
		struct pb_r r = {.p = buf, .end = end};
		assert_true(pb_r_varint(&r) == vec[i].v);
		assert_false(r.bad);
		assert_ptr_equal(r.p, end);
		/* every prefix is incomplete */
		for (size_t k = 0; k < vec[i].len; k++) {
			struct pb_r t = {.p = buf, .end = buf + k};
			pb_r_varint(&t);
			assert_true(t.bad);
		}
	}
	/* eleven bytes: not a varint */
	memset(buf, 0x80, 11);
	struct pb_r r = {.p = buf, .end = buf + 11};
	pb_r_varint(&r);
	assert_true(r.bad);
	/* fixed widths are little-endian */
	pb_fixed64(buf, 0x0102030405060708ULL);
	assert_memory_equal(buf, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
}

/* ---- a span with every kind of field */

static char long_value[300];

static void make_span(struct span *s, int variant)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 16; i++)
		s->trace_id[i] = (uint8_t)(0xa0 + i);
	s->span_id = 0x0102030405060708ULL;
	s->pid = 4242;
	s->tid = 4243;
	s->service = "checkout";
	s->start_ns = 1795364882405323123ULL;
	s->end_ns = s->start_ns + 712345;
	memset(long_value, 'v', sizeof(long_value));
	if (variant == 0) {
		s->kind = SPAN_KIND_SERVER;
		s->parent_id = 0x1112131415161718ULL;
		strcpy(s->name, "GET /caf\xc3\xa9/\xff");
		span__tag_cstr(s, "span.kind", "server");
		span__tag_cstr(s, "http.request.method", "GET");
		span__tag_str(s, "url.query", long_value, sizeof(long_value));
		span__tag_int(s, "http.response.status_code", 503);
		span__tag_int(s, "peer.port", -5);
		span__tag_int(s, "zero", 0);
		span__tag_int(s, "big", 1LL << 62);
		span__tag_bool(s, "flag.false", false);
		span__tag_cstr(s, "bad.utf8",
			       "a\xc0\xaf"
			       "b\xed\xa0\x80"
			       "c\xf0\x9f\x98\x80"
			       "d\xe2\x82");
		span__error(s, "503", 3);
		span__finish(s);
		s->follows_id = 0x2122232425262728ULL;
		for (int i = 0; i < 16; i++)
			s->follows_trace[i] = (uint8_t)(0xb0 + i);
	} else {
		s->kind = SPAN_KIND_CLIENT;
		strcpy(s->name, "SET");
		span__tag_cstr(s, "span.kind", "client");
		span__tag_cstr(s, "db.system.name", "redis");
	}
}

/* what a walk over an encoded span finds */
struct walked {
	uint8_t trace[16], parent[8];
	uint64_t span_id, kind, start, end, status_code;
	uint32_t flags, link_flags;
	char name[200], status_msg[64];
	int nattrs, has_parent, has_status, nlinks;
	struct {
		char key[64];
		int type; /* 1 string, 2 bool, 3 int */
		char s[400];
		int64_t i;
	} attrs[48];
};

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void copy_str(char *dst, size_t cap, struct pb_r b)
{
	size_t n = (size_t)(b.end - b.p);
	assert_true(n < cap);
	memcpy(dst, b.p, n);
	dst[n] = 0;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void walk_kv(struct pb_r kv, struct walked *w)
{
	enum pb_wire wire;
	uint32_t f, last = 0;
	int i = w->nattrs++;

	assert_true(i < 48);
	while ((f = pb_r_field(&kv, &wire))) {
		assert_true(f > last); /* fields in their numbers' order */
		last = f;
		assert_int_equal(wire, PB_LEN);
		struct pb_r b = pb_r_bytes(&kv);
		assert_false(kv.bad);
		if (f == 1) {
			copy_str(w->attrs[i].key, sizeof(w->attrs[i].key), b);
			continue;
		}
		assert_int_equal(f, 2);
		uint32_t g = pb_r_field(&b, &wire);
		w->attrs[i].type = (int)g;
		if (g == 1) {
			assert_int_equal(wire, PB_LEN);
			copy_str(w->attrs[i].s, sizeof(w->attrs[i].s), pb_r_bytes(&b));
		} else {
			assert_true(g == 2 || g == 3);
			assert_int_equal(wire, PB_VARINT);
			w->attrs[i].i = (int64_t)pb_r_varint(&b);
		}
		assert_false(b.bad);
		assert_ptr_equal(b.p, b.end); /* AnyValue's length was exact */
	}
	assert_false(kv.bad);
}

/* one ScopeSpans.spans record: tag, length, then the Span's fields */
static size_t walk_span(const uint8_t *buf, size_t len, struct walked *w)
{
	struct pb_r r = {.p = buf, .end = buf + len};
	enum pb_wire wire;
	uint32_t f, last = 0;

	memset(w, 0, sizeof(*w));
	assert_int_equal(pb_r_field(&r, &wire), 2);
	assert_int_equal(wire, PB_LEN);
	struct pb_r s = pb_r_bytes(&r);
	assert_false(r.bad);
	while ((f = pb_r_field(&s, &wire))) {
		assert_true(f >= last);
		last = f;
		if (f == 7 || f == 8) {
			assert_int_equal(wire, PB_I64);
			assert_true(s.end - s.p >= 8);
			*(f == 7 ? &w->start : &w->end) = le64(s.p);
			s.p += 8;
			continue;
		}
		if (f == 16) {
			assert_int_equal(wire, PB_I32);
			w->flags = le32(s.p);
			s.p += 4;
			continue;
		}
		if (f == 6) {
			assert_int_equal(wire, PB_VARINT);
			w->kind = pb_r_varint(&s);
			continue;
		}
		assert_int_equal(wire, PB_LEN);
		struct pb_r b = pb_r_bytes(&s);
		assert_false(s.bad);
		size_t n = (size_t)(b.end - b.p);
		switch (f) {
		case 1:
			assert_int_equal(n, 16);
			memcpy(w->trace, b.p, 16);
			break;
		case 2:
			assert_int_equal(n, 8);
			w->span_id = be64(b.p);
			break;
		case 4:
			assert_int_equal(n, 8);
			memcpy(w->parent, b.p, 8);
			w->has_parent = 1;
			break;
		case 5:
			copy_str(w->name, sizeof(w->name), b);
			break;
		case 9:
			walk_kv(b, w);
			break;
		case 13: {
			uint32_t g;
			w->nlinks++;
			assert_int_equal(pb_r_field(&b, &wire), 1);
			assert_int_equal(pb_r_bytes(&b).end - b.p + 16, 16); /* 16 bytes, consumed */
			assert_int_equal(pb_r_field(&b, &wire), 2);
			assert_int_equal(pb_r_bytes(&b).end - b.p + 8, 8);
			g = pb_r_field(&b, &wire);
			assert_int_equal(g, 6);
			assert_int_equal(wire, PB_I32);
			w->link_flags = le32(b.p);
			b.p += 4;
			assert_ptr_equal(b.p, b.end);
			break;
		}
		case 15: {
			uint32_t g;
			w->has_status = 1;
			while ((g = pb_r_field(&b, &wire))) {
				if (g == 2)
					copy_str(w->status_msg, sizeof(w->status_msg), pb_r_bytes(&b));
				else if (g == 3)
					w->status_code = pb_r_varint(&b);
				else
					fail();
			}
			assert_false(b.bad);
			break;
		}
		default:
			fail_msg("unexpected Span field %u", f);
		}
	}
	assert_false(s.bad);
	assert_ptr_equal(s.p, s.end);
	return (size_t)(r.p - buf);
}

static const char *attr_s(const struct walked *w, const char *key)
{
	for (int i = 0; i < w->nattrs; i++)
		if (strcmp(w->attrs[i].key, key) == 0 && w->attrs[i].type == 1)
			return w->attrs[i].s;
	return NULL;
}

static int attr_i(const struct walked *w, const char *key, int type, int64_t *v)
{
	for (int i = 0; i < w->nattrs; i++)
		if (strcmp(w->attrs[i].key, key) == 0 && w->attrs[i].type == type) {
			*v = w->attrs[i].i;
			return 1;
		}
	return 0;
}

static void test_span_fields(void **state)
{
	static struct span s;
	static uint8_t buf[8192];
	static struct walked w;
	int64_t v;
	int cut = -1;

	(void)state;
	make_span(&s, 0);
	size_t n = otlp__encode_span(buf, sizeof(buf), &s, SIZE_MAX, &cut);
	assert_true(n > 300);
	assert_int_equal(cut, 0);
	assert_int_equal(walk_span(buf, n, &w), n);
	assert_memory_equal(w.trace, s.trace_id, 16);
	assert_true(w.span_id == s.span_id);
	assert_true(w.has_parent && be64(w.parent) == s.parent_id);
	assert_string_equal(w.name, "GET /caf\xc3\xa9/\xef\xbf\xbd");
	assert_int_equal(w.kind, 2);
	assert_true(w.start == s.start_ns && w.end == s.end_ns);
	/* span.kind and error are Span fields, thread.id is added */
	assert_null(attr_s(&w, "span.kind"));
	assert_false(attr_i(&w, "error", 2, &v));
	assert_true(attr_i(&w, "thread.id", 3, &v) && v == 4243);
	assert_string_equal(attr_s(&w, "http.request.method"), "GET");
	assert_int_equal(strlen(attr_s(&w, "url.query")), sizeof(long_value));
	assert_true(attr_i(&w, "http.response.status_code", 3, &v) && v == 503);
	assert_true(attr_i(&w, "peer.port", 3, &v) && v == -5);
	assert_true(attr_i(&w, "zero", 3, &v) && v == 0);
	assert_true(attr_i(&w, "big", 3, &v) && v == 1LL << 62);
	assert_true(attr_i(&w, "flag.false", 2, &v) && v == 0);
	/* overlong, surrogate and cut sequences: one U+FFFD per byte; the emoji stays */
	assert_string_equal(attr_s(&w, "bad.utf8"), "a\xef\xbf\xbd\xef\xbf\xbd"
						    "b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
						    "c\xf0\x9f\x98\x80"
						    "d\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(attr_s(&w, "error.type"), "503");
	assert_null(attr_s(&w, "spantap.truncated"));
	assert_int_equal(w.nattrs, 10);
	assert_true(w.has_status && w.status_code == 2);
	assert_string_equal(w.status_msg, "503");
	assert_int_equal(w.nlinks, 1);
	assert_int_equal(w.link_flags, 1);
	assert_int_equal(w.flags, 0x301);

	make_span(&s, 1);
	n = otlp__encode_span(buf, sizeof(buf), &s, SIZE_MAX, &cut);
	assert_int_equal(walk_span(buf, n, &w), n);
	assert_false(w.has_parent || w.has_status || w.nlinks);
	assert_int_equal(w.kind, 3);
	assert_int_equal(w.flags, 0x101);
	assert_int_equal(w.nattrs, 2);
}

/* whatever room is given, a span is written whole or not at all, and
 * nothing past the room is touched */
static void test_room(void **state)
{
	static struct span s;
	static uint8_t full[8192], part[8192 + 64];
	int cut;

	(void)state;
	for (int variant = 0; variant < 2; variant++) {
		make_span(&s, variant);
		size_t n = otlp__encode_span(full, sizeof(full), &s, SIZE_MAX, &cut);
		for (size_t cap = 0; cap <= n + 16; cap++) {
			memset(part, 0x55, sizeof(part));
			size_t m = otlp__encode_span(part, cap, &s, SIZE_MAX, &cut);
			assert_int_equal(m, cap < n ? 0 : n);
			if (m)
				assert_memory_equal(part, full, n);
			for (size_t k = cap; k < sizeof(part); k++)
				assert_int_equal(part[k], 0x55);
		}
	}
}

/* span__begin's tags are encoded once per connection and copied: the
 * bytes are those of a span without the cache, cut or not */
static void test_begin_cache(void **state)
{
	static struct span s;
	static uint8_t ref[8192], got[8192];
	size_t limits[] = {SIZE_MAX, 16, SIZE_MAX};
	int cut;

	(void)state;
	make_span(&s, 0);
	for (int l = 0; l < 3; l++) {
		s.begin_key = 0;
		size_t n = otlp__encode_span(ref, sizeof(ref), &s, limits[l], &cut);
		s.begin_key = 7 << 2 | SPAN_KIND_SERVER;
		s.nbegin = 3; /* span.kind, http.request.method, url.query */
		for (int twice = 0; twice < 2; twice++) {
			memset(got, 0, sizeof(got));
			assert_int_equal(otlp__encode_span(got, sizeof(got), &s, limits[l], &cut), n);
			assert_memory_equal(got, ref, n);
		}
	}
}

static void test_cut_values(void **state)
{
	static struct span s;
	static uint8_t buf[8192];
	static struct walked w;
	int64_t v;
	int cut = 0;

	(void)state;
	make_span(&s, 0);
	size_t n = otlp__encode_span(buf, sizeof(buf), &s, 16, &cut);
	assert_int_equal(cut, 1);
	assert_int_equal(walk_span(buf, n, &w), n);
	assert_string_equal(attr_s(&w, "url.query"), "vvvvvvvvvvvvvvvv");
	assert_true(attr_i(&w, "spantap.truncated", 2, &v) && v == 1);
}

/* ---- the request around the spans */

static const struct export_attr pod_attrs[] = {{"k8s.pod.name", "checkout-7d9f"}, {"container.id", "abc123"}};

static const struct export_process proc = {
	.service = "checkout",
	.pid = 4242,
	.hostname = "node-1",
	.ip = "10.0.0.1",
	.exe = "/usr/bin/python3.11",
	.attrs = pod_attrs,
	.nattrs = 2,
};

/* a request with the spans in body: every length adds up; returns the spans */
static int walk_request(const uint8_t *msg, size_t len, struct walked *res)
{
	struct pb_r r = {.p = msg, .end = msg + len};
	enum pb_wire wire;
	int spans = 0;

	assert_int_equal(pb_r_field(&r, &wire), 1);
	struct pb_r rs = pb_r_bytes(&r);
	assert_false(r.bad);
	assert_ptr_equal(r.p, r.end);
	assert_int_equal(pb_r_field(&rs, &wire), 1);
	struct pb_r resource = pb_r_bytes(&rs);
	memset(res, 0, sizeof(*res));
	while (pb_r_field(&resource, &wire) == 1)
		walk_kv(pb_r_bytes(&resource), res);
	assert_false(resource.bad);
	assert_int_equal(pb_r_field(&rs, &wire), 2);
	struct pb_r ss = pb_r_bytes(&rs);
	assert_false(rs.bad);
	assert_ptr_equal(rs.p, rs.end);
	assert_int_equal(pb_r_field(&ss, &wire), 1);
	struct pb_r scope = pb_r_bytes(&ss);
	assert_int_equal(pb_r_field(&scope, &wire), 1);
	struct pb_r name = pb_r_bytes(&scope);
	assert_memory_equal(name.p, "spantap", 7);
	while (ss.p < ss.end) {
		static struct walked w;
		ss.p += walk_span(ss.p, (size_t)(ss.end - ss.p), &w);
		spans++;
	}
	return spans;
}

static void test_request(void **state)
{
	static struct span s;
	static uint8_t msg[1 << 20];
	static struct walked res;
	int64_t v;
	int cut;

	(void)state;
	make_span(&s, 0);
	/* bodies that make each length field one, two and three bytes long */
	for (size_t nspans = 0; nspans < 600; nspans = nspans ? nspans * 3 : 1) {
		size_t body = 0;
		uint8_t spans[1 << 19];
		for (size_t i = 0; i < nspans; i++)
			body += otlp__encode_span(spans + body, sizeof(spans) - body, &s, SIZE_MAX, &cut);
		size_t head = otlp__encode_head(msg, sizeof(msg), &proc, body);
		assert_true(head > 0);
		memcpy(msg + head, spans, body);
		assert_int_equal(walk_request(msg, head + body, &res), nspans);
		/* the batcher's allowance: the head grows by at most 8 with its spans */
		assert_true(head <= otlp__format()->overhead(otlp__format(), &proc, msg + head + body, 4096) + 8);
		assert_int_equal(otlp__encode_head(msg, head - 1, &proc, body), 0);
	}
	assert_string_equal(attr_s(&res, "service.name"), "checkout");
	assert_true(attr_i(&res, "process.pid", 3, &v) && v == 4242);
	assert_string_equal(attr_s(&res, "host.name"), "node-1");
	assert_string_equal(attr_s(&res, "process.executable.path"), "/usr/bin/python3.11");
	assert_string_equal(attr_s(&res, "k8s.pod.name"), "checkout-7d9f");
	assert_string_equal(attr_s(&res, "container.id"), "abc123");
}

/* batches of spans of two processes: every message within the limit,
 * every span delivered once */
#define MAX_MSG 3000
static uint32_t delivered;

static void on_batch(void *ctx, const struct export_process *p, const uint8_t *body, size_t len, uint32_t n)
{
	static uint8_t msg[MAX_MSG * 2];
	static struct walked res;
	size_t head = otlp__encode_head(msg, sizeof(msg), p, len);

	(void)ctx;
	memcpy(msg + head, body, len);
	assert_true(head + len <= MAX_MSG);
	assert_int_equal(walk_request(msg, head + len, &res), n);
	delivered += n;
}

static void test_batches(void **state)
{
	static struct span s;
	struct batcher *b = batcher__new(otlp__format(), MAX_MSG, on_batch, NULL);

	(void)state;
	assert_non_null(b);
	for (uint32_t i = 0; i < 100; i++) {
		make_span(&s, (int)(i % 2));
		s.pid = 1 + i % 3;
		s.span_id = i + 1;
		batcher__add(b, &s);
	}
	batcher__flush_all(b);
	batcher__free(b);
	assert_int_equal(delivered, 100);
	assert_int_equal(stats.export_dropped, 0);
}

/* ---- answers */

static void test_responses(void **state)
{
	char msg[64];

	(void)state;
	/* partial_success { rejected_spans: 3, error_message: "too old" } */
	assert_int_equal(
		otlp__parse_response(200, (const uint8_t *)"\x0a\x0b\x08\x03\x12\x07too old", 13, msg, sizeof(msg)), 3);
	assert_string_equal(msg, "too old");
	/* empty: all accepted */
	assert_int_equal(otlp__parse_response(200, NULL, 0, msg, sizeof(msg)), 0);
	/* an unknown field is skipped */
	assert_int_equal(otlp__parse_response(200, (const uint8_t *)"\x10\x01\x0a\x02\x08\x02", 6, msg, sizeof(msg)),
			 2);
	/* cut short, or a negative count: nothing is taken for rejected */
	assert_int_equal(otlp__parse_response(200, (const uint8_t *)"\x0a\x05\x08\x03", 4, msg, sizeof(msg)), 0);
	assert_int_equal(otlp__parse_response(200,
					      (const uint8_t *)"\x0a\x0b\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
					      13, msg, sizeof(msg)),
			 0);
	/* google.rpc.Status { code: 3, message: "bad\nthing" }: printable */
	assert_int_equal(otlp__parse_response(400,
					      (const uint8_t *)"\x08\x03\x12\x09"
							       "bad\nthing",
					      13, msg, sizeof(msg)),
			 0);
	assert_string_equal(msg, "bad thing");
	/* a proxy's text */
	otlp__parse_response(400, (const uint8_t *)"Bad Request\r\n", 13, msg, sizeof(msg));
	assert_string_equal(msg, "Bad Request");
	/* a tiny buffer */
	otlp__parse_response(400, (const uint8_t *)"Bad Request", 11, msg, 4);
	assert_string_equal(msg, "Bad");
}

static int golden(const char *path)
{
	static struct span s;
	static uint8_t msg[65536], body[32768];
	size_t len = 0;
	int cut;
	FILE *f;

	for (int variant = 0; variant < 2; variant++) {
		make_span(&s, variant);
		len += otlp__encode_span(body + len, sizeof(body) - len, &s, SIZE_MAX, &cut);
	}
	make_span(&s, 0);
	len += otlp__encode_span(body + len, sizeof(body) - len, &s, 16, &cut); /* cut */
	size_t head = otlp__encode_head(msg, sizeof(msg), &proc, len);
	memcpy(msg + head, body, len);
	f = fopen(path, "wb");
	if (!f || fwrite(msg, 1, head + len, f) != head + len || fclose(f)) {
		perror(path);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_varints),	    cmocka_unit_test(test_span_fields), cmocka_unit_test(test_room),
		cmocka_unit_test(test_begin_cache), cmocka_unit_test(test_cut_values),	cmocka_unit_test(test_request),
		cmocka_unit_test(test_batches),	    cmocka_unit_test(test_responses),
	};
	if (argc == 3 && strcmp(argv[1], "--golden") == 0)
		return golden(argv[2]);
	return cmocka_run_group_tests_name("otlp", tests, NULL, NULL);
}
