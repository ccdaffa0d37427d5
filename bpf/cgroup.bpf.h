/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The cgroup filter (--cgroup): only processes inside the given cgroup v2
 * subtrees are traced. The answer is cached per process, so the hot path is
 * one lookup keyed by the tgid it already has, as --pid costs; the walk up
 * the process's cgroup ancestors runs once per process. A cached answer is
 * dropped when a task of the process moves to another cgroup (runc joins
 * the container's cgroup before it execs the entrypoint) and when the
 * process exits (pids are reused). 4.18 helpers and CO-RE reads only. */
#ifndef CGROUP_BPF_H
#define CGROUP_BPF_H

/* deepest nesting looked at: kubelet's pod containers sit at levels 4-6 */
#define CGROUP_MAX_LEVEL 32

const volatile __u8 filter_cgroup = 0;

/* the cgroup v2 ids given with --cgroup */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_MAX_FILTER);
	__type(key, __u64);
	__type(value, __u8);
} filter_cgroups SEC(".maps");

/* tgid -> 1: inside a filtered subtree, 0: outside */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ST_MAX_CGROUP_VERDICTS);
	__type(key, __u32);
	__type(value, __u8);
} cgroup_verdict SEC(".maps");

/* The current task's cgroup v2 and its ancestors, nearest first, through
 * cgroup.self.parent (bpf_get_current_ancestor_cgroup_id is open to tracing
 * programs only since 5.14). */
static __noinline bool cgroup_walk(__u32 tgid)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct cgroup *cg = BPF_CORE_READ(t, cgroups, dfl_cgrp);
	__u8 in = 0;

	for (int i = 0; i < CGROUP_MAX_LEVEL && cg; i++) {
		struct cgroup_subsys_state *p;
		__u64 a = BPF_CORE_READ(cg, kn, id);

		if (bpf_map_lookup_elem(&filter_cgroups, &a)) {
			in = 1;
			break;
		}
		/* the parent css is the parent cgroup's self member */
		p = BPF_CORE_READ(cg, self.parent);
		if (!p)
			break;
		cg = (void *)p - bpf_core_field_offset(struct cgroup, self);
	}
	bpf_map_update_elem(&cgroup_verdict, &tgid, &in, BPF_ANY);
	count(ST_C_CGROUP_WALKS, 1);
	return in;
}

/* Is the current process (tgid) inside one of the filtered subtrees? */
static __always_inline bool cgroup_wanted(__u32 tgid)
{
	__u8 *v;

	if (!filter_cgroup)
		return true;
	v = bpf_map_lookup_elem(&cgroup_verdict, &tgid);
	if (v)
		return *v;
	return cgroup_walk(tgid);
}

/* A task of process tgid moved to another cgroup, or the process exited. */
static __always_inline void cgroup_forget(__u32 tgid)
{
	if (filter_cgroup)
		bpf_map_delete_elem(&cgroup_verdict, &tgid);
}

#endif
