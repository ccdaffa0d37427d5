/* BPF ring buffers, one per CPU, read as one stream in the order of the
 * timestamps the kernel put in the records (see ringset.c). */
#ifndef SPANTAP_RINGSET_H
#define SPANTAP_RINGSET_H

#include <stddef.h>
#include <stdint.h>

/* A record still unseen may be this much older than now: a BPF program
 * submits within microseconds of taking its timestamp. */
#define RINGSET_SLACK_NS 2000000ULL

typedef void (*ringset_record_fn)(void *ctx, const void *data, uint32_t size);
/* The record's time (CLOCK_MONOTONIC ns): the order of the stream. */
typedef uint64_t (*ringset_key_fn)(const void *data, uint32_t size);

struct ringset;

/* n ring buffer map fds of size bytes each; NULL with errno set. */
struct ringset *ringset__new(const int *fds, int n, size_t size, ringset_record_fn fn, ringset_key_fn key, void *ctx);
void ringset__free(struct ringset *rs);
/* Waits up to timeout_ms for a wakeup, then passes on what is ready:
 * records handled (>= 0) or -errno. */
int ringset__poll(struct ringset *rs, int timeout_ms);
/* Passes on everything the rings hold, whatever its time. */
int ringset__drain(struct ringset *rs);

#endif
