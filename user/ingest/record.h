/* A ring-buffer record: one or more events back to back (a deferred request
 * start and the event that sent it), each a struct st_event_hdr and cap_len
 * payload bytes, each starting 8-aligned. The one place that walks them. */
#ifndef SPANTAP_RECORD_H
#define SPANTAP_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "spantap.h"

/* size: the header and its payload */
typedef void (*record_event_fn)(void *ctx, const struct st_event_hdr *h, size_t size);

/* Calls fn for each whole event of the record, in order; returns how many
 * bytes did not make a whole event (0 for a well-formed record). */
size_t record__for_each(const void *data, size_t size, record_event_fn fn, void *ctx);
/* The record's time: its last event's ts_exit (the event that sent it). */
uint64_t record__ts(const void *data, size_t size);

#endif
