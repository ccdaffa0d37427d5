/* Walking the events of a ring-buffer record (see record.h). */
#include "ingest/record.h"

static size_t event_size(const struct st_event_hdr *h)
{
	return sizeof(*h) + h->cap_len;
}

size_t record__for_each(const void *data, size_t size, record_event_fn fn, void *ctx)
{
	const uint8_t *p = data;

	while (size >= sizeof(struct st_event_hdr)) {
		const struct st_event_hdr *h = (const void *)p;
		size_t n = event_size(h), step = (n + 7) & ~(size_t)7;

		if (n > size)
			return size;
		fn(ctx, h, n);
		if (step >= size)
			return 0;
		p += step;
		size -= step;
	}
	return size;
}

uint64_t record__ts(const void *data, size_t size)
{
	const uint8_t *p = data;
	uint64_t ts = 0;

	while (size >= sizeof(struct st_event_hdr)) {
		const struct st_event_hdr *h = (const void *)p;
		size_t step = (event_size(h) + 7) & ~(size_t)7;

		ts = h->ts_exit;
		if (step >= size)
			break;
		p += step;
		size -= step;
	}
	return ts;
}
