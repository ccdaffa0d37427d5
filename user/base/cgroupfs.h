/* cgroup v2 paths and ids: where the cgroup2 hierarchy is mounted (hybrid
 * hosts: /sys/fs/cgroup/unified; pure v2: /sys/fs/cgroup), and a path a
 * user gives resolved to the id the kernel's helpers return. */
#ifndef SPANTAP_CGROUPFS_H
#define SPANTAP_CGROUPFS_H

#include <stddef.h>
#include <stdint.h>

#define CGROUPFS_PATH_MAX 512

/* The cgroup2 mount point from mounts (a /proc/mounts text); 0, or -ENOENT. */
int cgroupfs__v2_mount_in(const char *mounts, char *out, size_t n);
/* The same from /proc/mounts. */
int cgroupfs__v2_mount(char *out, size_t n);
/* arg is a path under the cgroup2 mount, or one relative to it as the 0::
 * line of /proc/PID/cgroup shows it ("/" is the root): its absolute path
 * and cgroup id. 0, -ENOENT (no cgroup2 mount, or no such cgroup), or
 * -ENOTDIR (not a cgroup v2 directory). */
int cgroupfs__resolve_v2(const char *arg, char *abs, size_t n, uint64_t *id);
/* The cgroup id of an absolute cgroup directory path (v1 or v2); 0 or -errno. */
int cgroupfs__id(const char *path, uint64_t *id);

#endif
