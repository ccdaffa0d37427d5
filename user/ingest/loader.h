/* The BPF side's lifecycle: open, set tunables, load, fill filter maps,
 * attach, and the ring buffer that brings events to user space. */
#ifndef SPANTAP_LOADER_H
#define SPANTAP_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "base/cgroupfs.h"
#include "ingest/ringset.h"
#include "spantap.h"

#define LOADER_MAX_FILTER ST_MAX_FILTER

struct loader_opts {
	uint32_t capture_bytes;
	uint32_t ringbuf_bytes;
	uint32_t kernel_conns;
	uint32_t kernel_inflight;
	uint32_t pids[LOADER_MAX_FILTER];
	int npids;
	uint16_t ports[LOADER_MAX_FILTER];
	int nports;
	/* trace context carried in a TCP header option (sock_ops, 5.10+),
	 * attached to the traced cgroups (loader__cgroup_paths) */
	int propagate;
	/* head sampling of new traces, done in the kernel (ctx.bpf.h) */
	double sample_ratio; /* 1: every trace */
	uint32_t max_tps;    /* 0: no limit */
	uint64_t mark_key[2];
	/* --cgroup: cgroup v2 directories (absolute) and their ids */
	char cgroups[LOADER_MAX_FILTER][CGROUPFS_PATH_MAX];
	uint64_t cgroup_ids[LOADER_MAX_FILTER];
	int ncgroups;
	/* --container/--namespace: cgroups are added with loader__cgroup_filter */
	int container_filter;
	uint8_t tls; /* TLS uprobes (bpf/tls.bpf.h) on */
};

typedef int (*loader_event_fn)(void *ctx, void *data, size_t size);

struct loader;

/* What a new root costs the kernel's rate limit (ctx.bpf.h), in 256ths
 * of a trace (sampler__root_cost). */
void loader__set_root_cost(struct loader *l, uint32_t cost256);

/* NULL with errno set; the reason is logged. */
struct loader *loader__open(const struct loader_opts *o, loader_event_fn fn, void *ctx);
void loader__destroy(struct loader *l);
/* Records handled (>= 0), or -errno. Records come in time order; those of
 * the last LOADER_LAG_NS may still be waiting in the kernel's rings. */
#define LOADER_LAG_NS RINGSET_SLACK_NS
int loader__poll(struct loader *l, int timeout_ms);
int loader__drain(struct loader *l);
/* kernel counters summed over CPUs (enum st_counter) */
int loader__counters(struct loader *l, uint64_t out[ST_C_MAX]);
int loader__nprogs(const struct loader *l);
/* Is the TCP option attached (sock_ops programs attached to cgroups)? */
int loader__propagating(const struct loader *l);
/* The cgroup v2 directories traced: those given with --cgroup, else the
 * cgroup2 mount's root (none when there is no cgroup2 mount). Returns how
 * many; *paths is valid while l is. What attaches cgroup programs
 * (sock_ops) attaches them to exactly these. */
int loader__cgroup_paths(const struct loader *l, const char *const **paths);
/* Adds (add = 1) or removes a cgroup v2 id of the kernel's cgroup filter;
 * processes decided outside before are decided again. 0 or -errno. */
int loader__cgroup_filter(struct loader *l, uint64_t cgroup_id, int add);
/* The loaded object, for programs attached later (user/ingest/tls.c). */
struct bpf_object *loader__object(const struct loader *l);

#endif
