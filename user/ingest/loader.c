/* Loads and attaches bpf/spantap.bpf.c through its generated skeleton. Only
 * syscall and sched tracepoints are used: they need no kprobes and are a
 * stable ABI. tracefs is mounted here if the host has not done it. */
#include "ingest/loader.h"

#include "base/log.h"
#include "spantap.skel.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

struct loader {
	struct spantap_bpf *skel;
	struct ring_buffer *rb;
	int nprogs;
};

static int libbpf_log(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	enum log_level l = lvl == LIBBPF_WARN ? LOG_WARN : LOG_DEBUG;
	char buf[1024];
	va_list ap2;
	int n;

	if (l > log_level)
		return 0;
	va_copy(ap2, ap);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n >= (int)sizeof(buf)) {
		/* a verifier log: all of it, it is what explains a failed load */
		fputs("spantap: libbpf: ", stderr);
		vfprintf(stderr, fmt, ap2);
	} else {
		log_msg(l, "libbpf: %s", buf);
	}
	va_end(ap2);
	return 0;
}

static int ensure_tracefs(void)
{
	struct stat st;

	if (stat("/sys/kernel/tracing/events/syscalls", &st) == 0)
		return 0;
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0)
		return 0;
	if (stat("/sys/kernel/debug/tracing/events/syscalls", &st) == 0)
		return 0;
	int err = -errno;
	pr_err("failed to mount tracefs on '/sys/kernel/tracing': %s (mount it with "
	       "'mount -t tracefs nodev /sys/kernel/tracing')\n",
	       strerror(-err));
	return err;
}

struct loader *loader__open(const struct loader_opts *o, loader_event_fn fn, void *ctx)
{
	struct loader *l = calloc(1, sizeof(*l));
	struct bpf_program *prog;
	int err, ncpu;
	uint8_t one = 1;

	if (!l)
		return NULL;
	libbpf_set_print(libbpf_log);
	err = ensure_tracefs();
	if (err)
		goto cleanup;
	l->skel = spantap_bpf__open();
	if (!l->skel) {
		err = -errno;
		pr_err("failed to open BPF object 'spantap': %s\n", strerror(-err));
		goto cleanup;
	}
	l->skel->rodata->targ_self_tgid = (uint32_t)getpid();
	l->skel->rodata->targ_capture = o->capture_bytes;
	l->skel->rodata->filter_pid = o->npids > 0;
	l->skel->rodata->filter_port = o->nports > 0;
	ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		ncpu = 1;
	bpf_map__set_max_entries(l->skel->maps.event_heap, (uint32_t)ncpu);
	if (o->ringbuf_bytes)
		bpf_map__set_max_entries(l->skel->maps.events, o->ringbuf_bytes);
	if (o->kernel_conns)
		bpf_map__set_max_entries(l->skel->maps.conn_info, o->kernel_conns);
	if (o->kernel_inflight)
		bpf_map__set_max_entries(l->skel->maps.active_io, o->kernel_inflight);

	err = spantap_bpf__load(l->skel);
	if (err) {
		pr_err("failed to load BPF object 'spantap': %s%s\n", strerror(-err),
		       err == -EPERM ? " (needs root, or CAP_BPF and CAP_PERFMON)" : "");
		goto cleanup;
	}
	for (int i = 0; i < o->npids; i++)
		bpf_map__update_elem(l->skel->maps.filter_pids, &o->pids[i], sizeof(o->pids[i]), &one, 1, BPF_ANY);
	for (int i = 0; i < o->nports; i++)
		bpf_map__update_elem(l->skel->maps.filter_ports, &o->ports[i], sizeof(o->ports[i]), &one, 1, BPF_ANY);

	err = spantap_bpf__attach(l->skel);
	if (err) {
		pr_err("failed to attach BPF programs 'spantap': %s\n", strerror(-err));
		goto cleanup;
	}
	bpf_object__for_each_program (prog, l->skel->obj)
		l->nprogs++;

	l->rb = ring_buffer__new(bpf_map__fd(l->skel->maps.events), fn, ctx, NULL);
	if (!l->rb) {
		err = -errno;
		pr_err("failed to create ring buffer 'events': %s\n", strerror(-err));
		goto cleanup;
	}
	return l;
cleanup:
	loader__destroy(l);
	errno = -err;
	return NULL;
}

void loader__destroy(struct loader *l)
{
	if (!l)
		return;
	ring_buffer__free(l->rb);
	spantap_bpf__destroy(l->skel);
	free(l);
}

int loader__poll(struct loader *l, int timeout_ms)
{
	int n = ring_buffer__poll(l->rb, timeout_ms);

	if (n == -EINTR)
		n = 0;
	if (n < 0)
		return n;
	/* the kernel skips wakeups below a backlog (see WAKEUP_BYTES): what is
	 * waiting without one is read here, once per timeout */
	int m = ring_buffer__consume(l->rb);
	return m < 0 ? m : n + m;
}

int loader__drain(struct loader *l)
{
	return ring_buffer__consume(l->rb);
}

int loader__counters(struct loader *l, uint64_t out[ST_C_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;

	if (ncpu <= 0)
		return -EINVAL;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (uint32_t k = 0; k < ST_C_MAX; k++) {
		out[k] = 0;
		if (bpf_map__lookup_elem(l->skel->maps.counters, &k, sizeof(k), vals, sizeof(*vals) * (size_t)ncpu, 0))
			continue;
		for (int c = 0; c < ncpu; c++)
			out[k] += vals[c];
	}
	free(vals);
	return 0;
}

int loader__nprogs(const struct loader *l)
{
	return l->nprogs;
}
