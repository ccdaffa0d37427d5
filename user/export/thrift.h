/* A minimal Apache Thrift writer, compact and binary protocols, into a
 * caller-supplied fixed buffer: exactly what Jaeger's wire formats need.
 * Writes past the end set `overflow` instead of overrunning. */
#ifndef SPANTAP_THRIFT_H
#define SPANTAP_THRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum thrift_proto { THRIFT_COMPACT, THRIFT_BINARY };

/* Thrift's own type ids (binary protocol numbering) */
enum thrift_type {
	T_BOOL = 2,
	T_DOUBLE = 4,
	T_I32 = 8,
	T_I64 = 10,
	T_STRING = 11,
	T_STRUCT = 12,
	T_LIST = 15,
};

enum thrift_msg { T_CALL = 1, T_ONEWAY = 4 };

#define THRIFT_MAX_DEPTH 8

struct thrift_w {
	enum thrift_proto proto;
	uint8_t *buf;
	size_t len, cap;
	bool overflow;
	int depth;
	int16_t last_fid[THRIFT_MAX_DEPTH];
};

void thrift_w_init(struct thrift_w *w, enum thrift_proto proto, uint8_t *buf, size_t cap);
void thrift__varint(struct thrift_w *w, uint64_t v);

/* The hot path, inline (a span is ~30 tags of 3 fields each). */

/* compact protocol type ids */
enum {
	THRIFT_C_TRUE = 1,
	THRIFT_C_FALSE = 2,
	THRIFT_C_I32 = 5,
	THRIFT_C_I64 = 6,
	THRIFT_C_DOUBLE = 7,
	THRIFT_C_BINARY = 8,
	THRIFT_C_LIST = 9,
	THRIFT_C_STRUCT = 12,
};

static inline void thrift__put8(struct thrift_w *w, uint8_t b)
{
	if (w->len < w->cap)
		w->buf[w->len++] = b;
	else
		w->overflow = true;
}

static inline uint8_t thrift__compact_type(enum thrift_type t)
{
	switch (t) {
	case T_BOOL:
		return THRIFT_C_TRUE;
	case T_DOUBLE:
		return THRIFT_C_DOUBLE;
	case T_I32:
		return THRIFT_C_I32;
	case T_I64:
		return THRIFT_C_I64;
	case T_STRING:
		return THRIFT_C_BINARY;
	case T_STRUCT:
		return THRIFT_C_STRUCT;
	case T_LIST:
		return THRIFT_C_LIST;
	}
	return 0;
}

static inline void thrift__compact_field(struct thrift_w *w, uint8_t ctype, int16_t id)
{
	int16_t delta = (int16_t)(id - w->last_fid[w->depth]);

	if (delta > 0 && delta <= 15) {
		thrift__put8(w, (uint8_t)(delta << 4 | ctype));
	} else {
		thrift__put8(w, ctype);
		thrift__varint(w, ((uint64_t)(int64_t)id << 1) ^ (uint64_t)((int64_t)id >> 63));
	}
	w->last_fid[w->depth] = id;
}

static inline void thrift_struct_begin(struct thrift_w *w)
{
	if (w->depth + 1 >= THRIFT_MAX_DEPTH) {
		w->overflow = true;
		return;
	}
	w->last_fid[++w->depth] = 0;
}

/* writes the stop field */
static inline void thrift_struct_end(struct thrift_w *w)
{
	thrift__put8(w, 0); /* T_STOP in both protocols */
	if (w->depth > 0)
		w->depth--;
}

static inline void thrift_field_begin(struct thrift_w *w, enum thrift_type type, int16_t id)
{
	if (w->proto == THRIFT_COMPACT) {
		thrift__compact_field(w, thrift__compact_type(type), id);
	} else {
		thrift__put8(w, (uint8_t)type);
		thrift__put8(w, (uint8_t)(id >> 8));
		thrift__put8(w, (uint8_t)id);
	}
}

void thrift_message_begin(struct thrift_w *w, const char *name, enum thrift_msg type, int32_t seqid);
void thrift_list_begin(struct thrift_w *w, enum thrift_type elem, uint32_t size);
void thrift_i32(struct thrift_w *w, int32_t v);
void thrift_i64(struct thrift_w *w, int64_t v);
void thrift_double(struct thrift_w *w, double v);
void thrift_string(struct thrift_w *w, const char *s, size_t len);
/* a bool field: compact folds the value into the field header */
void thrift_field_bool(struct thrift_w *w, int16_t id, bool v);
/* a raw copy of bytes encoded elsewhere with the same protocol */
void thrift_raw(struct thrift_w *w, const uint8_t *p, size_t len);

#endif
