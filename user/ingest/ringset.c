/* BPF ring buffers, one per CPU, read as one stream in timestamp order.
 * One ring per CPU spares the producers a lock shared across CPUs (on two
 * busy CPUs it was half the cost of an event); the price is that a thread
 * that moved between CPUs leaves its events in two rings, so records are
 * merged here by the time the kernel stamped them. A record is passed on
 * only once no ring can still bring an earlier one: its time is older than
 * now - RINGSET_SLACK_NS (a program submits within microseconds of taking
 * its timestamp), or every ring already has a later record waiting.
 * The rings are mapped as libbpf does; records are handed to the callback
 * in place, never copied. */
#include "ingest/ringset.h"

#include <errno.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct ring {
	unsigned long *consumer_pos; /* read-write page */
	unsigned long *producer_pos; /* read-only: producer page, then data twice */
	uint8_t *data;
	size_t mask;
	size_t map_len;
	unsigned long prod;  /* producer_pos as last read: read again only when reached */
	const uint8_t *head; /* the record at consumer_pos, NULL if none yet */
	uint32_t head_len;
	uint64_t head_key;
};

struct ringset {
	struct ring *rings;
	int n;
	int epfd;
	struct epoll_event *evs;
	ringset_record_fn fn;
	ringset_key_fn key;
	void *ctx;
	int held; /* the last merge held a record back for an empty ring */
};

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static uint64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int ring_map(struct ring *r, int fd, size_t size)
{
	size_t pg = page_size();
	void *p;

	p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	r->consumer_pos = p;
	r->map_len = pg + 2 * size;
	p = mmap(NULL, r->map_len, PROT_READ, MAP_SHARED, fd, (off_t)pg);
	if (p == MAP_FAILED) {
		int err = -errno;
		munmap(r->consumer_pos, pg);
		r->consumer_pos = NULL;
		return err;
	}
	r->producer_pos = p;
	r->data = (uint8_t *)p + pg;
	r->mask = size - 1;
	return 0;
}

/* The committed record at the ring's consumer position, skipping discarded
 * ones; NULL when there is none (empty, or the next one still being
 * written). */
static const uint8_t *ring_peek(struct ring *r, uint32_t *len)
{
	unsigned long cons = __atomic_load_n(r->consumer_pos, __ATOMIC_RELAXED);

	for (;;) {
		const uint32_t *hdr;
		uint32_t l;

		/* the producer's line is written by every event: read it only
		 * when what it said has all been consumed */
		if (cons >= r->prod) {
			r->prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
			if (cons >= r->prod)
				return NULL;
		}
		hdr = (const uint32_t *)(r->data + (cons & r->mask));
		l = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
		if (l & BPF_RINGBUF_BUSY_BIT)
			return NULL;
		if (!(l & BPF_RINGBUF_DISCARD_BIT)) {
			*len = l;
			return (const uint8_t *)hdr + BPF_RINGBUF_HDR_SZ;
		}
		cons += ((l & ~BPF_RINGBUF_DISCARD_BIT) + BPF_RINGBUF_HDR_SZ + 7) & ~7UL;
		__atomic_store_n(r->consumer_pos, cons, __ATOMIC_RELEASE);
	}
}

static void ring_advance(struct ring *r, uint32_t len)
{
	unsigned long cons = __atomic_load_n(r->consumer_pos, __ATOMIC_RELAXED);

	cons += (len + BPF_RINGBUF_HDR_SZ + 7) & ~7UL;
	__atomic_store_n(r->consumer_pos, cons, __ATOMIC_RELEASE);
}

struct ringset *ringset__new(const int *fds, int n, size_t size, ringset_record_fn fn, ringset_key_fn key, void *ctx)
{
	struct ringset *rs = calloc(1, sizeof(*rs));
	int err = -ENOMEM;

	if (!rs)
		goto fail;
	rs->fn = fn;
	rs->key = key;
	rs->ctx = ctx;
	rs->epfd = -1;
	rs->rings = calloc((size_t)n, sizeof(*rs->rings));
	rs->evs = calloc((size_t)n, sizeof(*rs->evs));
	if (!rs->rings || !rs->evs)
		goto fail;
	rs->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (rs->epfd < 0) {
		err = -errno;
		goto fail;
	}
	for (int i = 0; i < n; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};

		err = ring_map(&rs->rings[i], fds[i], size);
		if (err)
			goto fail;
		rs->n++;
		if (epoll_ctl(rs->epfd, EPOLL_CTL_ADD, fds[i], &ev)) {
			err = -errno;
			goto fail;
		}
	}
	return rs;
fail:
	ringset__free(rs);
	errno = -err;
	return NULL;
}

void ringset__free(struct ringset *rs)
{
	if (!rs)
		return;
	for (int i = 0; i < rs->n; i++) {
		munmap(rs->rings[i].consumer_pos, page_size());
		munmap(rs->rings[i].producer_pos, rs->rings[i].map_len);
	}
	if (rs->epfd >= 0)
		close(rs->epfd);
	free(rs->rings);
	free(rs->evs);
	free(rs);
}

/* Looks at the record at r's consumer position again. */
static void refresh(struct ringset *rs, struct ring *r)
{
	r->head = ring_peek(r, &r->head_len);
	if (r->head)
		r->head_key = rs->key(r->head, r->head_len);
}

static struct ring *earliest(struct ringset *rs)
{
	struct ring *best = NULL;

	for (int i = 0; i < rs->n; i++) {
		struct ring *r = &rs->rings[i];
		if (r->head && (!best || r->head_key < best->head_key))
			best = r;
	}
	return best;
}

/* Passes on, in key order, every record no ring can precede any more
 * (every record when all is set). Returns the number passed on. A ring
 * found empty after the limit was taken brings nothing older than the
 * limit, so it is looked at again only for a record past the limit. */
static int merge(struct ringset *rs, int all)
{
	uint64_t limit = all ? UINT64_MAX : mono_now() - RINGSET_SLACK_NS;
	int count = 0;

	rs->held = 0;
	for (int i = 0; i < rs->n; i++)
		refresh(rs, &rs->rings[i]);
	for (;;) {
		struct ring *best = earliest(rs);

		if (!best)
			return count;
		if (best->head_key > limit) {
			int empty = 0;
			for (int i = 0; i < rs->n; i++) {
				if (!rs->rings[i].head)
					refresh(rs, &rs->rings[i]);
				empty |= !rs->rings[i].head;
			}
			if (empty) {
				rs->held = 1;
				return count;
			}
			best = earliest(rs);
		}
		rs->fn(rs->ctx, best->head, best->head_len);
		ring_advance(best, best->head_len);
		refresh(rs, best);
		count++;
	}
}

int ringset__poll(struct ringset *rs, int timeout_ms)
{
	if (rs->held) {
		/* a ring with data is always readable: sleep the whole timeout
		 * instead (a wakeup costs more than the records it would pass) */
		struct timespec ts = {.tv_sec = timeout_ms / 1000, .tv_nsec = (long)(timeout_ms % 1000) * 1000000L};

		nanosleep(&ts, NULL);
	} else if (epoll_wait(rs->epfd, rs->evs, rs->n, timeout_ms) < 0 && errno != EINTR) {
		return -errno;
	}
	return merge(rs, 0);
}

int ringset__drain(struct ringset *rs)
{
	return merge(rs, 1);
}
