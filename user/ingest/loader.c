/* Loads and attaches bpf/spantap.bpf.c through its generated skeleton. Only
 * syscall and sched tracepoints are used: they need no kprobes and are a
 * stable ABI. tracefs is mounted here if the host has not done it. */
#include "ingest/loader.h"

#include "base/log.h"
#include "ingest/record.h"
#include "ingest/ringset.h"
#include "spantap.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

struct loader {
	struct spantap_bpf *skel;
	struct ringset *rs;
	int *ring_fds; /* one ring buffer per CPU, in events[cpu] */
	int nrings;
	loader_event_fn fn;
	void *fn_ctx;
	int nprogs;
	struct bpf_link *sock_links[LOADER_MAX_FILTER];
	int nsock_links;
	const char *cgroup_paths[LOADER_MAX_FILTER];
	int ncgroup_paths;
	char cgroup_root[CGROUPFS_PATH_MAX];
};

static uint64_t record_key(const void *data, uint32_t size)
{
	return record__ts(data, size);
}

static void on_record(void *ctx, const void *data, uint32_t size)
{
	struct loader *l = ctx;

	l->fn(l->fn_ctx, (void *)data, size);
}

/* Per-CPU ring size: the total asked for, shared, a power of two of at
 * least 256 KiB. */
static uint32_t ring_size(uint32_t total, int ncpu)
{
	uint32_t per = (total ? total : ST_RINGBUF_DEFAULT) / (uint32_t)ncpu, sz = 256 * 1024;

	while (sz * 2 <= per && sz < (1u << 30))
		sz *= 2;
	return sz;
}

static int make_rings(struct loader *l, uint32_t size)
{
	int outer = bpf_map__fd(l->skel->maps.events);

	l->ring_fds = calloc((size_t)l->nrings, sizeof(int));
	if (!l->ring_fds)
		return -ENOMEM;
	for (int i = 0; i < l->nrings; i++)
		l->ring_fds[i] = -1;
	for (int i = 0; i < l->nrings; i++) {
		uint32_t k = (uint32_t)i;
		int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "events_cpu", 0, 0, size, NULL);

		if (fd < 0)
			return -errno;
		l->ring_fds[i] = fd;
		if (bpf_map_update_elem(outer, &k, &fd, BPF_ANY))
			return -errno;
	}
	return 0;
}

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

/* One line per feature the kernel lacks: what is used instead, and what
 * that costs or loses. */
static void fallback(const char *feature, const char *since, const char *instead)
{
	pr_info("kernel has no %s (Linux %s and later): %s\n", feature, since, instead);
}

/* Kernel features the programs can do without, probed by loading a tiny
 * program (never read off the version string) and passed in rodata. Where
 * bpf_task_pt_regs is missing, each program that reads syscall arguments
 * from the saved registers is replaced by its variant named <name>_saved. */
static void probe_features(struct spantap_bpf *skel)
{
	bool task_btf = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_get_current_task_btf, NULL) == 1;
	bool task_regs =
		task_btf && libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_task_pt_regs, NULL) == 1;
	struct bpf_program *prog, *base;
	const char *sfx = "_saved";
	char name[128];

	/* the fallbacks on any kernel, for tests */
	if (getenv("SPANTAP_FORCE_FALLBACKS"))
		task_btf = task_regs = false;
	skel->rodata->targ_task_btf = task_btf;
	skel->rodata->targ_task_regs = task_regs;
	if (!task_btf)
		fallback(
			"bpf_get_current_task_btf", "5.11",
			"thread names and process start times read through helper calls (a little more CPU per event)");
	if (!task_regs)
		fallback("bpf_task_pt_regs", "5.15",
			 "read and write arguments kept at syscall entry (a map update per read and write); reads "
			 "already waiting when spantap started are missed");
	bpf_object__for_each_program (prog, skel->obj) {
		const char *n = bpf_program__name(prog);
		size_t len = strlen(n), slen = strlen(sfx);

		if (len <= slen || len - slen >= sizeof(name) || strcmp(n + len - slen, sfx) != 0)
			continue;
		bpf_program__set_autoload(prog, !task_regs);
		snprintf(name, sizeof(name), "%.*s", (int)(len - slen), n);
		base = bpf_object__find_program_by_name(skel->obj, name);
		if (base)
			bpf_program__set_autoload(base, task_regs);
	}
	/* and none for a syscall this architecture does not have (arm64 has
	 * no dup2) */
	bpf_object__for_each_program (prog, skel->obj) {
		const char *sec = bpf_program__section_name(prog), *tp = sec + strlen("tracepoint/");
		struct stat st;

		if (strncmp(sec, "tracepoint/", strlen("tracepoint/")) != 0 || !bpf_program__autoload(prog))
			continue;
		snprintf(name, sizeof(name), "/sys/kernel/tracing/events/%s", tp);
		if (stat(name, &st) == 0)
			continue;
		snprintf(name, sizeof(name), "/sys/kernel/debug/tracing/events/%s", tp);
		if (stat(name, &st) == 0)
			continue;
		pr_debug("no tracepoint %s on this kernel: program '%s' not loaded\n", tp, bpf_program__name(prog));
		bpf_program__set_autoload(prog, false);
	}
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

/* The TCP option needs the header-option hooks of 5.10: without them, or
 * without --propagation, the sock_ops program is not even loaded. */
static void sockops_prepare(struct loader *l, const struct loader_opts *o)
{
	int ok = o->propagate;

	if (ok && libbpf_probe_bpf_helper(BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_store_hdr_opt, NULL) != 1) {
		fallback("bpf_store_hdr_opt", "5.10",
			 "trace context is not carried across hosts in a TCP option; same-host links by address only");
		ok = 0;
	}
	l->skel->rodata->targ_propagate = (uint8_t)ok;
	bpf_program__set_autoload(l->skel->progs.sockops_ctx, ok);
}

static int sockops_attach_one(struct loader *l, const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err;
	struct bpf_link *link;

	if (fd < 0)
		return -errno;
	link = bpf_program__attach_cgroup(l->skel->progs.sockops_ctx, fd);
	err = link ? 0 : -errno;
	close(fd);
	if (link)
		l->sock_links[l->nsock_links++] = link;
	return err;
}

/* Attaches the option's sock_ops program to the traced cgroups; on failure
 * spantap traces as without it, and says so in one line. */
static void sockops_attach(struct loader *l)
{
	int err = 0;

	if (!l->skel->rodata->targ_propagate)
		return;
	if (!l->ncgroup_paths) {
		pr_warn("no cgroup v2 mount: trace context is not carried in a TCP option\n");
		return;
	}
	for (int i = 0; i < l->ncgroup_paths && !err; i++) {
		err = sockops_attach_one(l, l->cgroup_paths[i]);
		if (err)
			pr_warn("trace context not carried in a TCP option: attaching to cgroup '%s': %s%s\n",
				l->cgroup_paths[i], strerror(-err), err == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
	}
	if (err) {
		for (int i = 0; i < l->nsock_links; i++)
			bpf_link__destroy(l->sock_links[i]);
		l->nsock_links = 0;
	}
}

void loader__set_root_cost(struct loader *l, uint32_t cost256)
{
	/* a store only on a change: BPF programs on every CPU read that line */
	if (l && l->skel->data && l->skel->data->sample_cost256 != cost256)
		l->skel->data->sample_cost256 = cost256;
}

int loader__propagating(const struct loader *l)
{
	return l->nsock_links > 0;
}

struct loader *loader__open(const struct loader_opts *o, loader_event_fn fn, void *ctx)
{
	struct loader *l = calloc(1, sizeof(*l));
	struct bpf_program *prog;
	int err, ncpu, tmpl = -1;
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
	if (o->sample_ratio < 1.0)
		l->skel->rodata->targ_sample_below = (uint64_t)(o->sample_ratio * 4294967296.0);
	l->skel->rodata->targ_max_tps = o->max_tps;
	l->skel->rodata->targ_mark_key0 = o->mark_key[0];
	l->skel->rodata->targ_mark_key1 = o->mark_key[1];
	sockops_prepare(l, o);
	l->skel->rodata->filter_cgroup = o->ncgroups > 0 || o->container_filter;
	if (o->container_filter)
		bpf_map__set_max_entries(l->skel->maps.filter_cgroups, ST_MAX_FILTER_CGROUPS);
	l->skel->rodata->targ_tls = o->tls;
	if (!o->tls) /* --tls off: the uprobe programs are not even loaded */
		bpf_object__for_each_program (prog, l->skel->obj)
			if (strstr(bpf_program__section_name(prog), "probe") ||
			    !strcmp(bpf_program__name(prog), "sched_exec"))
				bpf_program__set_autoload(prog, false);
	probe_features(l->skel);
	ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		ncpu = 1;
	bpf_map__set_max_entries(l->skel->maps.event_heap, (uint32_t)ncpu);
	l->nrings = ncpu;
	uint32_t rsize = ring_size(o->ringbuf_bytes, ncpu);
	bpf_map__set_max_entries(l->skel->maps.events, (uint32_t)ncpu);
	/* the rings in events must be like its template: of this size */
	tmpl = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "events_tmpl", 0, 0, rsize, NULL);
	if (tmpl < 0 || (err = bpf_map__set_inner_map_fd(l->skel->maps.events, tmpl))) {
		err = tmpl < 0 ? -errno : err;
		pr_err("failed to create ring buffer 'events_tmpl' (%u bytes): %s\n", rsize, strerror(-err));
		goto cleanup;
	}
	if (o->kernel_conns)
		bpf_map__set_max_entries(l->skel->maps.conn_info, o->kernel_conns);
	if (o->kernel_inflight)
		bpf_map__set_max_entries(l->skel->maps.active_io, o->kernel_inflight);

	err = spantap_bpf__load(l->skel);
	close(tmpl);
	tmpl = -1;
	if (err) {
		pr_err("failed to load BPF object 'spantap': %s%s\n", strerror(-err),
		       err == -EPERM ? " (needs root, or CAP_BPF and CAP_PERFMON)" : "");
		goto cleanup;
	}
	for (int i = 0; i < o->npids; i++)
		bpf_map__update_elem(l->skel->maps.filter_pids, &o->pids[i], sizeof(o->pids[i]), &one, 1, BPF_ANY);
	for (int i = 0; i < o->nports; i++)
		bpf_map__update_elem(l->skel->maps.filter_ports, &o->ports[i], sizeof(o->ports[i]), &one, 1, BPF_ANY);
	for (int i = 0; i < o->ncgroups; i++) {
		bpf_map__update_elem(l->skel->maps.filter_cgroups, &o->cgroup_ids[i], sizeof(o->cgroup_ids[i]), &one, 1,
				     BPF_ANY);
		l->cgroup_paths[l->ncgroup_paths++] = o->cgroups[i];
	}
	if (!o->ncgroups && cgroupfs__v2_mount(l->cgroup_root, sizeof(l->cgroup_root)) == 0)
		l->cgroup_paths[l->ncgroup_paths++] = l->cgroup_root;

	err = make_rings(l, rsize);
	if (err) {
		pr_err("failed to create ring buffers 'events' (%d x %u bytes): %s\n", l->nrings, rsize,
		       strerror(-err));
		goto cleanup;
	}
	err = spantap_bpf__attach(l->skel);
	if (err) {
		pr_err("failed to attach BPF programs 'spantap': %s\n", strerror(-err));
		goto cleanup;
	}
	sockops_attach(l);
	/* the uprobes are attached later, by user/ingest/tls.c */
	bpf_object__for_each_program (prog, l->skel->obj)
		l->nprogs += bpf_program__autoload(prog);

	l->fn = fn;
	l->fn_ctx = ctx;
	l->rs = ringset__new(l->ring_fds, l->nrings, rsize, on_record, record_key, l);
	if (!l->rs) {
		err = -errno;
		pr_err("failed to map ring buffers 'events': %s\n", strerror(-err));
		goto cleanup;
	}
	return l;
cleanup:
	if (tmpl >= 0)
		close(tmpl);
	loader__destroy(l);
	errno = -err;
	return NULL;
}

void loader__destroy(struct loader *l)
{
	if (!l)
		return;
	ringset__free(l->rs);
	for (int i = 0; i < l->nsock_links; i++)
		bpf_link__destroy(l->sock_links[i]);
	spantap_bpf__destroy(l->skel);
	for (int i = 0; l->ring_fds && i < l->nrings; i++)
		if (l->ring_fds[i] >= 0)
			close(l->ring_fds[i]);
	free(l->ring_fds);
	free(l);
}

int loader__poll(struct loader *l, int timeout_ms)
{
	/* the kernel skips wakeups below a backlog (targ_wakeup_bytes): what
	 * is waiting without one is read here, once per timeout */
	return ringset__poll(l->rs, timeout_ms);
}

int loader__drain(struct loader *l)
{
	return ringset__drain(l->rs);
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

int loader__cgroup_paths(const struct loader *l, const char *const **paths)
{
	*paths = l->cgroup_paths;
	return l->ncgroup_paths;
}

int loader__cgroup_filter(struct loader *l, uint64_t cgroup_id, int add)
{
	struct bpf_map *verdicts = l->skel->maps.cgroup_verdict;
	uint32_t key, next, *prev = NULL;
	uint8_t one = 1, v;
	int err;

	if (!add) {
		err = bpf_map__delete_elem(l->skel->maps.filter_cgroups, &cgroup_id, sizeof(cgroup_id), 0);
		return err == -ENOENT ? 0 : err;
	}
	err = bpf_map__update_elem(l->skel->maps.filter_cgroups, &cgroup_id, sizeof(cgroup_id), &one, 1, BPF_ANY);
	if (err)
		return err;
	/* a process of the new container may have been decided while its
	 * cgroup was not in the filter yet: decide the outsiders again */
	while (bpf_map__get_next_key(verdicts, prev, &next, sizeof(next)) == 0) {
		key = next;
		if (bpf_map__lookup_elem(verdicts, &key, sizeof(key), &v, 1, 0) == 0 && v == 0)
			bpf_map__delete_elem(verdicts, &key, sizeof(key), 0);
		else
			prev = &key;
	}
	return 0;
}

struct bpf_object *loader__object(const struct loader *l)
{
	return l->skel->obj;
}
