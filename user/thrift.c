/* Thrift compact (THRIFT-110) and binary protocol writers. The compact
 * protocol's field ids are deltas from the previous field of the same
 * struct, so a small stack of last ids is kept. */
#include "thrift.h"

#include <string.h>

/* compact protocol type ids */
enum { C_TRUE = 1, C_FALSE = 2, C_I32 = 5, C_I64 = 6, C_DOUBLE = 7, C_BINARY = 8, C_LIST = 9, C_STRUCT = 12 };

static uint8_t compact_type(enum thrift_type t)
{
	switch (t) {
	case T_BOOL:
		return C_TRUE;
	case T_DOUBLE:
		return C_DOUBLE;
	case T_I32:
		return C_I32;
	case T_I64:
		return C_I64;
	case T_STRING:
		return C_BINARY;
	case T_STRUCT:
		return C_STRUCT;
	case T_LIST:
		return C_LIST;
	}
	return 0;
}

void thrift_w_init(struct thrift_w *w, enum thrift_proto proto, uint8_t *buf, size_t cap)
{
	memset(w, 0, sizeof(*w));
	w->proto = proto;
	w->buf = buf;
	w->cap = cap;
}

static void put(struct thrift_w *w, const void *p, size_t n)
{
	if (!n)
		return; /* p may be NULL then, and memcpy must not see it */
	if (w->overflow || n > w->cap - w->len) {
		w->overflow = true;
		return;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

/* the hot path: most of an encoding is single bytes */
static inline void put8(struct thrift_w *w, uint8_t b)
{
	if (w->len < w->cap)
		w->buf[w->len++] = b;
	else
		w->overflow = true;
}

static void be32(struct thrift_w *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	put(w, b, 4);
}

static void be64(struct thrift_w *w, uint64_t v)
{
	be32(w, (uint32_t)(v >> 32));
	be32(w, (uint32_t)v);
}

static inline void varint(struct thrift_w *w, uint64_t v)
{
	if (w->cap - w->len < 10) {
		/* near the end: byte by byte, so overflow is flagged exactly */
		while (v >= 0x80) {
			put8(w, (uint8_t)(v | 0x80));
			v >>= 7;
		}
		put8(w, (uint8_t)v);
		return;
	}
	uint8_t *p = w->buf + w->len;
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	w->len = (size_t)(p - w->buf);
}

static uint64_t zigzag64(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

void thrift_message_begin(struct thrift_w *w, const char *name, enum thrift_msg type, int32_t seqid)
{
	size_t n = strlen(name);

	if (w->proto == THRIFT_COMPACT) {
		put8(w, 0x82);
		put8(w, (uint8_t)((type << 5) | 1));
		varint(w, (uint32_t)seqid);
		varint(w, n);
		put(w, name, n);
	} else {
		be32(w, 0x80010000u | (uint32_t)type);
		be32(w, (uint32_t)n);
		put(w, name, n);
		be32(w, (uint32_t)seqid);
	}
}

void thrift_struct_begin(struct thrift_w *w)
{
	if (w->depth + 1 >= THRIFT_MAX_DEPTH) {
		w->overflow = true;
		return;
	}
	w->last_fid[++w->depth] = 0;
}

void thrift_struct_end(struct thrift_w *w)
{
	put8(w, 0); /* T_STOP in both protocols */
	if (w->depth > 0)
		w->depth--;
}

static void compact_field(struct thrift_w *w, uint8_t ctype, int16_t id)
{
	int16_t delta = (int16_t)(id - w->last_fid[w->depth]);

	if (delta > 0 && delta <= 15) {
		put8(w, (uint8_t)(delta << 4 | ctype));
	} else {
		put8(w, ctype);
		varint(w, zigzag64(id));
	}
	w->last_fid[w->depth] = id;
}

void thrift_field_begin(struct thrift_w *w, enum thrift_type type, int16_t id)
{
	if (w->proto == THRIFT_COMPACT) {
		compact_field(w, compact_type(type), id);
	} else {
		put8(w, (uint8_t)type);
		put8(w, (uint8_t)(id >> 8));
		put8(w, (uint8_t)id);
	}
}

void thrift_field_bool(struct thrift_w *w, int16_t id, bool v)
{
	if (w->proto == THRIFT_COMPACT) {
		compact_field(w, v ? C_TRUE : C_FALSE, id);
	} else {
		thrift_field_begin(w, T_BOOL, id);
		put8(w, v ? 1 : 0);
	}
}

void thrift_list_begin(struct thrift_w *w, enum thrift_type elem, uint32_t size)
{
	if (w->proto == THRIFT_COMPACT) {
		if (size < 15) {
			put8(w, (uint8_t)(size << 4 | compact_type(elem)));
		} else {
			put8(w, (uint8_t)(0xf0 | compact_type(elem)));
			varint(w, size);
		}
	} else {
		put8(w, (uint8_t)elem);
		be32(w, size);
	}
}

void thrift_i32(struct thrift_w *w, int32_t v)
{
	if (w->proto == THRIFT_COMPACT)
		varint(w, (uint32_t)(((uint32_t)v << 1) ^ (uint32_t)(v >> 31)));
	else
		be32(w, (uint32_t)v);
}

void thrift_i64(struct thrift_w *w, int64_t v)
{
	if (w->proto == THRIFT_COMPACT)
		varint(w, zigzag64(v));
	else
		be64(w, (uint64_t)v);
}

void thrift_double(struct thrift_w *w, double v)
{
	uint64_t bits;

	memcpy(&bits, &v, 8);
	if (w->proto == THRIFT_COMPACT) {
		uint8_t b[8];
		for (int i = 0; i < 8; i++)
			b[i] = (uint8_t)(bits >> (8 * i)); /* little-endian */
		put(w, b, 8);
	} else {
		be64(w, bits);
	}
}

void thrift_string(struct thrift_w *w, const char *s, size_t len)
{
	if (w->proto == THRIFT_COMPACT)
		varint(w, len);
	else
		be32(w, (uint32_t)len);
	put(w, s, len);
}

void thrift_raw(struct thrift_w *w, const uint8_t *p, size_t len)
{
	put(w, p, len);
}
