/* Protocol Buffers wire format, the few pieces OTLP needs: varints, tags,
 * length-delimited fields, fixed 32/64-bit little-endian values, and a
 * bounded reader for the small messages a collector answers with. The
 * writers write at p and return the end: the caller sized the buffer. */
#ifndef SPANTAP_EXPORT_PB_H
#define SPANTAP_EXPORT_PB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum pb_wire { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

#define PB_TAG(field, wire) ((uint32_t)(field) << 3 | (uint32_t)(wire))

/* bytes the varint of v takes: 1 to 10 */
static inline size_t pb_varint_len(uint64_t v)
{
	if (v < 0x80) /* most lengths in a span */
		return 1;
	/* 7 bits a byte: (bits needed + 6) / 7 */
	return (size_t)((64 - __builtin_clzll(v)) * 9 + 64) / 64;
}

static inline uint8_t *pb_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* a length-delimited field of n bytes takes this much, tag (< 16) included */
static inline size_t pb_len_field(size_t n)
{
	return 1 + pb_varint_len(n) + n;
}

static inline uint8_t *pb_fixed32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
	return p + 4;
}

static inline uint8_t *pb_fixed64(uint8_t *p, uint64_t v)
{
	return pb_fixed32(pb_fixed32(p, (uint32_t)v), (uint32_t)(v >> 32));
}

/* A reader over a received message: every read checks the end. */
struct pb_r {
	const uint8_t *p, *end;
	int bad;
};

/* the next field's number and wire type; 0 at the end or on bad input */
uint32_t pb_r_field(struct pb_r *r, enum pb_wire *wire);
uint64_t pb_r_varint(struct pb_r *r);
/* a length-delimited value: its bytes as a sub-reader */
struct pb_r pb_r_bytes(struct pb_r *r);
void pb_r_skip(struct pb_r *r, enum pb_wire wire);

#endif
