/* Who a process belongs to, from the node alone: its container and
 * Kubernetes pod from /proc/PID/cgroup, then the container runtime's own
 * metadata files (Docker's config.v2.json, the OCI config.json annotations
 * of containerd's CRI plugin and CRI-O). No API server. Cached per
 * container in a bounded table. */
#ifndef SPANTAP_CONTAINER_H
#define SPANTAP_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#define CONTAINER_ID_LEN 64
#define CONTAINER_STR 128

enum container_runtime {
	RT_UNKNOWN = 0, /* a 64-hex id in a kubelet cgroupfs path: any of the three */
	RT_DOCKER,
	RT_CONTAINERD,
	RT_CRIO,
};

/* What /proc/PID/cgroup tells (container__parse_cgroup). */
struct cgroup_ref {
	char id[CONTAINER_ID_LEN + 1]; /* "" when not in a container */
	char pod_uid[40];	       /* "" when no kubepods pod in the path */
	uint8_t runtime;	       /* enum container_runtime */
	char path[512];		       /* the cgroup path the id was found in */
	char v2_path[512];	       /* the process's cgroup v2 path (the 0:: line), "" if none */
};

/* A container's identity; "" where unknown. */
struct container_meta {
	char id[CONTAINER_ID_LEN + 1];
	uint8_t runtime;
	char name[CONTAINER_STR];  /* Docker's name without '/'; CRI: the container name */
	char image[CONTAINER_STR]; /* the image reference */
	char pod_name[CONTAINER_STR];
	char pod_uid[40];
	char namespace[CONTAINER_STR];
	char k8s_container[CONTAINER_STR];
	uint8_t sandbox; /* a pod's sandbox (pause) container */
	uint8_t found;	 /* a runtime's metadata file was read */
};

/* Parses a /proc/PID/cgroup text (cgroup v1 and v2 lines; systemd and
 * cgroupfs drivers; Docker, containerd and CRI-O names). 0 when the process
 * is in a container (out->id set), -1 when not (out->v2_path still set). */
int container__parse_cgroup(const char *text, size_t len, struct cgroup_ref *out);

/* Metadata file readers over a file's text; 0 when it is one of theirs. */
int container__from_docker_config(const char *json, size_t len, struct container_meta *m);
int container__from_oci_config(const char *json, size_t len, struct container_meta *m);

/* Where the runtimes keep their files; tests point these elsewhere. */
struct container_paths {
	const char *docker;	/* /var/lib/docker/containers */
	const char *containerd; /* /run/containerd/io.containerd.runtime.v2.task */
	const char *crio;	/* /run/containers/storage/overlay-containers */
};
extern struct container_paths container_paths;

/* The cache: at most n containers (0: the default, 1024). */
int container__init(uint32_t n);
/* The metadata of container ref (read once; NULL when ref has no id). A
 * runtime whose files are missing or unreadable gives an entry with only the
 * id (counted, one warning per runtime). */
const struct container_meta *container__lookup(const struct cgroup_ref *ref);
/* Reads /proc/PID/cgroup; 0 when the process is in a container. */
int container__of_pid(uint32_t pid, struct cgroup_ref *ref);
/* Reads metadata for id from the runtimes' files, no cache. 0 when found. */
int container__read_meta(const char *id, uint8_t runtime, struct container_meta *m);

#endif
