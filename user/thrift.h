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
void thrift_message_begin(struct thrift_w *w, const char *name, enum thrift_msg type, int32_t seqid);
void thrift_struct_begin(struct thrift_w *w);
void thrift_struct_end(struct thrift_w *w); /* writes the stop field */
void thrift_field_begin(struct thrift_w *w, enum thrift_type type, int16_t id);
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
