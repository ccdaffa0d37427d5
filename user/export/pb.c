/* The bounded Protocol Buffers reader (pb.h): a collector's answers. */
#include "export/pb.h"

uint64_t pb_r_varint(struct pb_r *r)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end) {
			r->bad = 1;
			return 0;
		}
		uint8_t b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	r->bad = 1; /* more than 10 bytes */
	return 0;
}

uint32_t pb_r_field(struct pb_r *r, enum pb_wire *wire)
{
	uint64_t tag;

	if (r->bad || r->p >= r->end)
		return 0;
	tag = pb_r_varint(r);
	if (r->bad || tag >> 3 == 0 || tag >> 3 > 0x1fffffff) {
		r->bad = 1;
		return 0;
	}
	*wire = (enum pb_wire)(tag & 7);
	return (uint32_t)(tag >> 3);
}

struct pb_r pb_r_bytes(struct pb_r *r)
{
	struct pb_r sub = {.bad = 1};
	uint64_t n = pb_r_varint(r);

	if (r->bad || n > (uint64_t)(r->end - r->p)) {
		r->bad = 1;
		return sub;
	}
	sub = (struct pb_r){.p = r->p, .end = r->p + n};
	r->p += n;
	return sub;
}

void pb_r_skip(struct pb_r *r, enum pb_wire wire)
{
	size_t n;

	switch (wire) {
	case PB_VARINT:
		pb_r_varint(r);
		return;
	case PB_LEN:
		pb_r_bytes(r);
		return;
	case PB_I64:
		n = 8;
		break;
	case PB_I32:
		n = 4;
		break;
	default: /* groups (3, 4) and the undefined 6, 7 */
		r->bad = 1;
		return;
	}
	if ((size_t)(r->end - r->p) < n)
		r->bad = 1;
	else
		r->p += n;
}
