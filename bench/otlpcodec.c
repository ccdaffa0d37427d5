/* otlpcodec: the OTLP span encoder, spantap's hand-written one against
 * libprotobuf-c (Debian's, on code protoc-c generates from OpenTelemetry's
 * published .proto files), on the same spans: ns per span, and the bytes of
 * both compared. Built and run by bench/otlp-codec.sh (make bench-otlp).
 *
 * protobuf-c is used as cheaply as its API allows: message structs filled
 * from preallocated pools (no malloc), strings copied to NUL-terminated
 * scratch (its `char *` strings need it; span tags are slices), then
 * get_packed_size and pack, the span's tag and length in front. */
#include "export/jaeger.h"
#include "export/otlp.h"
#include "span/span.h"

#include "opentelemetry/proto/trace/v1/trace.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef Opentelemetry__Proto__Trace__V1__Span PbSpan;
typedef Opentelemetry__Proto__Trace__V1__Span__Link PbLink;
typedef Opentelemetry__Proto__Trace__V1__Status PbStatus;
typedef Opentelemetry__Proto__Common__V1__KeyValue PbKV;
typedef Opentelemetry__Proto__Common__V1__AnyValue PbAny;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* spans like the ones spantap builds: an HTTP server span (the tags of a
 * real one, README), a Redis client span with an error, one with a link */
static void make_spans(struct span *s)
{
	static const char *http[][2] = {
		{"network.transport", "tcp"},
		{"network.type", "ipv4"},
		{"network.peer.address", "127.0.0.1"},
		{"network.local.address", "127.0.0.1"},
		{"peer.ipv4", "127.0.0.1"},
		{"peer.address", "127.0.0.1:55492"},
		{"client.address", "127.0.0.1"},
		{"http.request.method", "GET"},
		{"http.method", "GET"},
		{"url.path", "/repos/1234/widgets"},
		{"url.query", "page=2&per_page=50"},
		{"http.target", "/repos/1234/widgets?page=2&per_page=50"},
		{"server.address", "api.internal"},
		{"user_agent.original", "curl/7.88.1"},
		{"network.protocol.version", "1.1"},
	};
	for (int v = 0; v < 3; v++) {
		struct span *x = &s[v];
		memset(x, 0, sizeof(*x));
		for (int i = 0; i < 16; i++)
			x->trace_id[i] = (uint8_t)(0x37 * i + v);
		x->span_id = 0x317d24e1f455f303ULL + (uint64_t)v;
		x->tid = 3728;
		x->start_ns = 1795364882405323123ULL;
		x->end_ns = x->start_ns + 712345;
		if (v == 0) {
			x->kind = SPAN_KIND_SERVER;
			x->parent_id = 0x9e03375e12345678ULL;
			strcpy(x->name, "GET /repos/{id}/widgets");
			span__tag_cstr(x, "span.kind", "server");
			for (size_t i = 0; i < sizeof(http) / sizeof(http[0]); i++)
				span__tag_cstr(x, http[i][0], http[i][1]);
			span__tag_int(x, "network.peer.port", 55492);
			span__tag_int(x, "network.local.port", 18001);
			span__tag_int(x, "peer.port", 55492);
			span__tag_int(x, "client.port", 55492);
			span__tag_int(x, "server.port", 18001);
			span__tag_int(x, "http.response.status_code", 200);
			span__tag_int(x, "http.status_code", 200);
		} else {
			x->kind = SPAN_KIND_CLIENT;
			strcpy(x->name, v == 1 ? "INCR" : "BRPOP");
			span__tag_cstr(x, "span.kind", "client");
			span__tag_cstr(x, "network.peer.address", "127.0.0.1");
			span__tag_int(x, "network.peer.port", 6379);
			span__tag_cstr(x, "db.system.name", "redis");
			span__tag_cstr(x, "db.system", "redis");
			span__tag_cstr(x, "db.type", "redis");
			span__tag_cstr(x, "db.operation.name", v == 1 ? "INCR" : "BRPOP");
			span__tag_cstr(x, "db.query.text", v == 1 ? "INCR foo" : "BRPOP jobs ?");
			span__tag_cstr(x, "db.statement", v == 1 ? "INCR foo" : "BRPOP jobs ?");
			span__tag_int(x, "db.namespace", 0);
			if (v == 1) {
				span__error(x, "ERR", 3);
				span__finish(x);
			} else {
				x->follows_id = 0x1122334455667788ULL;
				memcpy(x->follows_trace, x->trace_id, 16);
			}
		}
	}
}

/* ---- protobuf-c */

#define POOL 64
static PbKV kv_pool[POOL], *kv_ptr[POOL];
static PbAny any_pool[POOL];
static char str_pool[16384];

static char *cstr(char **at, const char *s, size_t n)
{
	char *out = *at;
	memcpy(out, s, n);
	out[n] = 0;
	*at += n + 1;
	return out;
}

static size_t pbc_span(uint8_t *buf, const struct span *s)
{
	static uint8_t tid[16], sid[8], pid[8], ltid[16], lsid[8];
	PbSpan m = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
	PbLink l = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__LINK__INIT, *lp = &l;
	PbStatus st = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
	char *at = str_pool;
	size_t n = 0;

	memcpy(tid, s->trace_id, 16);
	for (int i = 0; i < 8; i++) {
		sid[i] = (uint8_t)(s->span_id >> (56 - 8 * i));
		pid[i] = (uint8_t)(s->parent_id >> (56 - 8 * i));
		lsid[i] = (uint8_t)(s->follows_id >> (56 - 8 * i));
	}
	m.trace_id = (ProtobufCBinaryData){16, tid};
	m.span_id = (ProtobufCBinaryData){8, sid};
	if (s->parent_id)
		m.parent_span_id = (ProtobufCBinaryData){8, pid};
	m.name = (char *)s->name;
	m.kind = s->kind == SPAN_KIND_SERVER ? 2 : 3;
	m.start_time_unix_nano = s->start_ns;
	m.end_time_unix_nano = s->end_ns;
	for (uint32_t i = 0; i <= s->ntags; i++) {
		const struct span_tag *t = i < s->ntags ? &s->tags[i] : NULL;
		PbKV *kv = &kv_pool[n];
		PbAny *av = &any_pool[n];
		if (t && ((t->klen == 9 && !memcmp(t->key, "span.kind", 9)) ||
			  (t->klen == 5 && t->type == TAG_BOOL && !memcmp(t->key, "error", 5))))
			continue;
		opentelemetry__proto__common__v1__key_value__init(kv);
		opentelemetry__proto__common__v1__any_value__init(av);
		kv->value = av;
		if (!t) { /* thread.id */
			kv->key = (char *)"thread.id";
			av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
			av->int_value = s->tid;
		} else {
			kv->key = (char *)t->key;
			if (t->type == TAG_STR) {
				av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
				av->string_value = cstr(&at, t->s, t->slen);
			} else if (t->type == TAG_INT) {
				av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
				av->int_value = t->i;
			} else {
				av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
				av->bool_value = (protobuf_c_boolean)t->i;
			}
		}
		kv_ptr[n++] = kv;
	}
	m.n_attributes = n;
	m.attributes = kv_ptr;
	if (s->follows_id) {
		memcpy(ltid, s->follows_trace, 16);
		l.trace_id = (ProtobufCBinaryData){16, ltid};
		l.span_id = (ProtobufCBinaryData){8, lsid};
		l.flags = OTLP_FLAG_SAMPLED;
		m.n_links = 1;
		m.links = &lp;
	}
	if (s->error) {
		const struct span_tag *e = span__tag(s, "error.type");
		st.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
		st.message = cstr(&at, e->s, e->slen);
		m.status = &st;
	}
	m.flags = OTLP_FLAG_SAMPLED | OTLP_FLAG_HAS_IS_REMOTE |
		  (s->kind == SPAN_KIND_SERVER && s->parent_id ? OTLP_FLAG_IS_REMOTE : 0);
	size_t len = opentelemetry__proto__trace__v1__span__get_packed_size(&m);
	uint8_t *p = buf;
	*p++ = 0x12; /* ScopeSpans.spans */
	while (len >= 0x80) {
		*p++ = (uint8_t)(len | 0x80);
		len >>= 7;
	}
	*p++ = (uint8_t)len;
	return (size_t)(p - buf) + opentelemetry__proto__trace__v1__span__pack(&m, p);
}

int main(int argc, char **argv)
{
	static struct span spans[3];
	static uint8_t a[8192], b[8192], sink[1 << 20];
	long iters = argc > 1 ? atol(argv[1]) : 2000000;
	double hand_ns[4] = {0}, pbc_ns[4] = {0}, jaeger_ns[4] = {0};
	int bad = 0, cut;

	make_spans(spans);
	for (int v = 0; v < 3; v++) {
		size_t na = otlp__encode_span(a, sizeof(a), &spans[v], SIZE_MAX, &cut);
		size_t nb = pbc_span(b, &spans[v]);
		if (na != nb || memcmp(a, b, na)) {
			fprintf(stderr, "otlpcodec: span %d: %zu bytes by hand, %zu by protobuf-c, %s\n", v, na, nb,
				na == nb ? "different bytes" : "different lengths");
			bad = 1;
		} else {
			printf("span %d (%s, %u tags): %zu bytes, identical from both encoders\n", v, spans[v].name,
			       spans[v].ntags, na);
		}
	}
	/* rounds alternate, so that a noisy neighbour hits both alike */
	for (int round = 0; round < 5; round++) {
		for (int v = 0; v < 3; v++) {
			size_t at = 0;
			uint64_t t0 = now_ns();
			for (long i = 0; i < iters / 5; i++) {
				if (at > sizeof(sink) - 8192)
					at = 0;
				at += otlp__encode_span(sink + at, 8192, &spans[v], SIZE_MAX, &cut);
			}
			uint64_t t1 = now_ns();
			for (long i = 0; i < iters / 5; i++) {
				if (at > sizeof(sink) - 8192)
					at = 0;
				at += pbc_span(sink + at, &spans[v]);
			}
			uint64_t t2 = now_ns();
			for (long i = 0; i < iters / 5; i++) {
				struct thrift_w w;
				if (at > sizeof(sink) - 8192)
					at = 0;
				thrift_w_init(&w, THRIFT_COMPACT, sink + at, 8192);
				jaeger__encode_span(&w, &spans[v], SIZE_MAX);
				at += w.len;
			}
			uint64_t t3 = now_ns();
			jaeger_ns[v] += (double)(t3 - t2) / (double)iters;
			hand_ns[v] += (double)(t1 - t0) / (double)iters;
			pbc_ns[v] += (double)(t2 - t1) / (double)iters;
		}
	}
	for (int v = 0; v < 3; v++) {
		printf("%-24s hand %7.1f ns/span   protobuf-c %7.1f ns/span   (x%.2f)   Jaeger compact %7.1f\n",
		       spans[v].name, hand_ns[v], pbc_ns[v], pbc_ns[v] / hand_ns[v], jaeger_ns[v]);
		jaeger_ns[3] += jaeger_ns[v] / 3;
		hand_ns[3] += hand_ns[v] / 3;
		pbc_ns[3] += pbc_ns[v] / 3;
	}
	printf("%-24s hand %7.1f ns/span   protobuf-c %7.1f ns/span   (x%.2f)   Jaeger compact %7.1f\n", "mean",
	       hand_ns[3], pbc_ns[3], pbc_ns[3] / hand_ns[3], jaeger_ns[3]);
	return bad;
}
