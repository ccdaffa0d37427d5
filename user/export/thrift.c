/* Thrift compact (THRIFT-110) and binary protocol writers. The compact
 * protocol's field ids are deltas from the previous field of the same
 * struct, so a small stack of last ids is kept. */
#include "export/thrift.h"

#include <string.h>

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

void thrift__varint(struct thrift_w *w, uint64_t v)
{
	if (w->cap - w->len < 10) {
		/* near the end: byte by byte, so overflow is flagged exactly */
		while (v >= 0x80) {
			thrift__put8(w, (uint8_t)(v | 0x80));
			v >>= 7;
		}
		thrift__put8(w, (uint8_t)v);
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
		thrift__put8(w, 0x82);
		thrift__put8(w, (uint8_t)((type << 5) | 1));
		thrift__varint(w, (uint32_t)seqid);
		thrift__varint(w, n);
		put(w, name, n);
	} else {
		be32(w, 0x80010000u | (uint32_t)type);
		be32(w, (uint32_t)n);
		put(w, name, n);
		be32(w, (uint32_t)seqid);
	}
}

void thrift_field_bool(struct thrift_w *w, int16_t id, bool v)
{
	if (w->proto == THRIFT_COMPACT) {
		thrift__compact_field(w, v ? THRIFT_C_TRUE : THRIFT_C_FALSE, id);
	} else {
		thrift_field_begin(w, T_BOOL, id);
		thrift__put8(w, v ? 1 : 0);
	}
}

void thrift_list_begin(struct thrift_w *w, enum thrift_type elem, uint32_t size)
{
	if (w->proto == THRIFT_COMPACT) {
		if (size < 15) {
			thrift__put8(w, (uint8_t)(size << 4 | thrift__compact_type(elem)));
		} else {
			thrift__put8(w, (uint8_t)(0xf0 | thrift__compact_type(elem)));
			thrift__varint(w, size);
		}
	} else {
		thrift__put8(w, (uint8_t)elem);
		be32(w, size);
	}
}

void thrift_i32(struct thrift_w *w, int32_t v)
{
	if (w->proto == THRIFT_COMPACT)
		thrift__varint(w, (uint32_t)(((uint32_t)v << 1) ^ (uint32_t)(v >> 31)));
	else
		be32(w, (uint32_t)v);
}

void thrift_i64(struct thrift_w *w, int64_t v)
{
	if (w->proto == THRIFT_COMPACT)
		thrift__varint(w, zigzag64(v));
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
		thrift__varint(w, len);
	else
		be32(w, (uint32_t)len);
	put(w, s, len);
}

void thrift_raw(struct thrift_w *w, const uint8_t *p, size_t len)
{
	put(w, p, len);
}
