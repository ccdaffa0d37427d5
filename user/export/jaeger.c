/* Encodes spantap spans into Jaeger's Thrift structs. Ids: the 128-bit trace
 * id is split big-endian into traceIdHigh/Low, as its hex form reads; times
 * are microseconds since the epoch. */
#include "export/jaeger.h"

#include "span/span.h"

#include <string.h>

enum { TAG_T_STRING = 0, TAG_T_BOOL = 2, TAG_T_LONG = 3 };

static int64_t be64_at(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return (int64_t)v;
}

/* A Tag struct up to its value field; the caller writes the value. */
static void tag_begin(struct thrift_w *w, const char *k, int32_t vtype)
{
	thrift_struct_begin(w);
	thrift_field_begin(w, T_STRING, 1);
	thrift_string(w, k, strlen(k));
	thrift_field_begin(w, T_I32, 2);
	thrift_i32(w, vtype);
}

static void tag_str(struct thrift_w *w, const char *k, const char *v, size_t vlen)
{
	tag_begin(w, k, TAG_T_STRING);
	thrift_field_begin(w, T_STRING, 3);
	thrift_string(w, v, vlen);
	thrift_struct_end(w);
}

static void tag_long(struct thrift_w *w, const char *k, int64_t v)
{
	tag_begin(w, k, TAG_T_LONG);
	thrift_field_begin(w, T_I64, 6);
	thrift_i64(w, v);
	thrift_struct_end(w);
}

static void tag_bool(struct thrift_w *w, const char *k, int v)
{
	tag_begin(w, k, TAG_T_BOOL);
	thrift_field_bool(w, 5, v);
	thrift_struct_end(w);
}

int jaeger__encode_span(struct thrift_w *w, const struct span *s, size_t max_value)
{
	int truncated = 0;

	for (uint32_t i = 0; i < s->ntags; i++)
		if (s->tags[i].type == TAG_STR && s->tags[i].slen > max_value)
			truncated = 1;
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
			tag_str(w, t->key, t->s, t->slen < max_value ? t->slen : max_value);
		else if (t->type == TAG_INT)
			tag_long(w, t->key, t->i);
		else
			tag_bool(w, t->key, (int)t->i);
	}
	if (truncated)
		tag_bool(w, "spantap.truncated", 1);
	thrift_struct_end(w);
	return truncated;
}

void jaeger__encode_batch(struct thrift_w *w, const struct jaeger_process *p, const uint8_t *spans, size_t spans_len,
			  uint32_t nspans, int envelope, int32_t seqid, int64_t seqno)
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
	thrift_list_begin(w, T_STRUCT, 6);
	tag_str(w, "hostname", p->hostname, strlen(p->hostname));
	tag_str(w, "ip", p->ip, strlen(p->ip));
	tag_long(w, "pid", p->pid);
	tag_str(w, "process.executable.path", p->exe, strlen(p->exe));
	tag_str(w, "jaeger.version", "spantap-" SPANTAP_VERSION, strlen("spantap-" SPANTAP_VERSION));
	tag_str(w, "spantap.version", SPANTAP_VERSION, strlen(SPANTAP_VERSION));
	thrift_struct_end(w);
	thrift_field_begin(w, T_LIST, 2);
	thrift_list_begin(w, T_STRUCT, nspans);
	thrift_raw(w, spans, spans_len);
	thrift_field_begin(w, T_I64, 3);
	thrift_i64(w, seqno);
	thrift_struct_end(w); /* Batch */
	if (envelope)
		thrift_struct_end(w); /* emitBatch_args */
}
