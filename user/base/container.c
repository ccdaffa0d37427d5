/* Container and pod identity from /proc/PID/cgroup and the runtimes'
 * metadata files (container.h), cached per container id. */
#include "base/container.h"

#include "base/json.h"
#include "base/log.h"
#include "base/stats.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct container_paths container_paths = {
	.docker = "/var/lib/docker/containers",
	.containerd = "/run/containerd/io.containerd.runtime.v2.task",
	.crio = "/run/containers/storage/overlay-containers",
};

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int ends_with(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);

	return n >= k && memcmp(s + n - k, suf, k) == 0;
}

/* "pod<uid>" (cgroupfs) or "kubepods-<qos>-pod<uid with _>" (systemd) */
static int pod_uid_of(const char *seg, size_t n, char *out, size_t outlen)
{
	if (n < 39 || memcmp(seg + n - 39, "pod", 3) != 0)
		return -1;
	if (n > 39 && seg[n - 40] != '-')
		return -1;
	const char *u = seg + n - 36;
	for (int i = 0; i < 36; i++) {
		char c = u[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-' && c != '_')
				return -1;
		} else if (!is_hex(&c, 1)) {
			return -1;
		}
	}
	snprintf(out, outlen, "%.36s", u);
	for (char *p = out; *p; p++)
		if (*p == '_')
			*p = '-';
	return 0;
}

/* A path segment naming a container: 64 hex digits at its end after
 * "docker-", "cri-containerd-", "crio-", ":cri-containerd:" (containerd's
 * systemd driver under containerd.service), or alone. */
static int container_of_seg(const char *seg, size_t n, const char *prev, size_t prevn, struct cgroup_ref *out)
{
	size_t pre;

	if (n < CONTAINER_ID_LEN || !is_hex(seg + n - CONTAINER_ID_LEN, CONTAINER_ID_LEN))
		return -1;
	pre = n - CONTAINER_ID_LEN;
	if (pre && seg[pre - 1] != '-' && seg[pre - 1] != ':')
		return -1;
	if (ends_with(seg, pre, "crio-conmon-"))
		return -1; /* CRI-O's monitor, not the container */
	if (pre == 0)
		out->runtime = prevn == 6 && memcmp(prev, "docker", 6) == 0 ? RT_DOCKER : RT_UNKNOWN;
	else if (ends_with(seg, pre, "cri-containerd-") || ends_with(seg, pre, ":cri-containerd:"))
		out->runtime = RT_CONTAINERD;
	else if (ends_with(seg, pre, "crio-"))
		out->runtime = RT_CRIO;
	else if (ends_with(seg, pre, "docker-") || ends_with(seg, pre, ":docker:"))
		out->runtime = RT_DOCKER;
	else
		out->runtime = RT_UNKNOWN;
	memcpy(out->id, seg + pre, CONTAINER_ID_LEN);
	out->id[CONTAINER_ID_LEN] = 0;
	return 0;
}

/* the innermost container named along path, and its pod */
static int parse_path(const char *path, size_t len, struct cgroup_ref *out)
{
	const char *prev = "", *p = path, *end = path + len;
	size_t prevn = 0;
	struct cgroup_ref r = {0};
	int found = -1;

	while (p < end) {
		const char *s = p;
		size_t n;

		while (p < end && *p != '/')
			p++;
		n = (size_t)(p - s);
		if (ends_with(s, n, ".scope") || ends_with(s, n, ".slice"))
			n -= 6;
		if (n) {
			const char *colon = memchr(s, ':', n);
			size_t podn = colon ? (size_t)(colon - s) : n;
			char uid[40];

			/* containerd's systemd form: "<pod slice>:cri-containerd:<id>" */
			if (colon && ends_with(s, podn, ".slice"))
				podn -= 6;
			if (colon && pod_uid_of(s, podn, uid, sizeof(uid)) == 0)
				snprintf(r.pod_uid, sizeof(r.pod_uid), "%s", uid);
			if (pod_uid_of(s, n, uid, sizeof(uid)) == 0)
				snprintf(r.pod_uid, sizeof(r.pod_uid), "%s", uid);
			else if (container_of_seg(s, n, prev, prevn, &r) == 0)
				found = 0;
		}
		prev = s;
		prevn = n;
		if (p < end)
			p++;
	}
	if (found == 0) {
		memcpy(out->id, r.id, sizeof(r.id));
		out->runtime = r.runtime;
		memcpy(out->pod_uid, r.pod_uid, sizeof(r.pod_uid));
		snprintf(out->path, sizeof(out->path), "%.*s", (int)len, path);
	}
	return found;
}

int container__parse_cgroup(const char *text, size_t len, struct cgroup_ref *out)
{
	const char *line = text, *end = text + len;
	int found = -1;

	memset(out, 0, sizeof(*out));
	while (line < end) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		const char *c1, *c2;

		if (!eol)
			eol = end;
		/* hierarchy-id:controllers:path; the path may hold ':' itself */
		c1 = memchr(line, ':', (size_t)(eol - line));
		c2 = c1 ? memchr(c1 + 1, ':', (size_t)(eol - c1 - 1)) : NULL;
		if (c2) {
			const char *path = c2 + 1;
			size_t plen = (size_t)(eol - path);

			if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1)
				snprintf(out->v2_path, sizeof(out->v2_path), "%.*s", (int)plen, path);
			if (found && parse_path(path, plen, out) == 0)
				found = 0;
		}
		line = eol + 1;
	}
	return found;
}

/* the string at obj.key into out; 0 when it is there */
static int str_member(const struct json_val *obj, const char *key, char *out, size_t outlen)
{
	struct json_val v;

	if (json__member(obj, key, &v) || json__str(&v, out, outlen) <= 0)
		return -1;
	return 0;
}

/* kubelet's labels, as cri-dockerd and CRI-O write them */
static void k8s_labels(const struct json_val *labels, struct container_meta *m)
{
	if (!m->pod_name[0])
		str_member(labels, "io.kubernetes.pod.name", m->pod_name, sizeof(m->pod_name));
	if (!m->namespace[0])
		str_member(labels, "io.kubernetes.pod.namespace", m->namespace, sizeof(m->namespace));
	if (!m->pod_uid[0])
		str_member(labels, "io.kubernetes.pod.uid", m->pod_uid, sizeof(m->pod_uid));
	if (!m->k8s_container[0])
		str_member(labels, "io.kubernetes.container.name", m->k8s_container, sizeof(m->k8s_container));
	/* the pod's sandbox: kubelet names it POD (cri-dockerd's label too) */
	if (strcmp(m->k8s_container, "POD") == 0) {
		m->sandbox = 1;
		m->k8s_container[0] = 0;
	}
	char t[32];
	if (str_member(labels, "io.kubernetes.docker.type", t, sizeof(t)) == 0 && strcmp(t, "podsandbox") == 0)
		m->sandbox = 1;
}

int container__from_docker_config(const char *js, size_t len, struct container_meta *m)
{
	static const char *const labels_path[] = {"Config", "Labels", NULL};
	static const char *const image_path[] = {"Config", "Image", NULL};
	struct json_val root, v;
	char name[CONTAINER_STR];

	if (json__parse(js, len, &root) || root.type != JSON_OBJECT)
		return -1;
	if (json__member(&root, "Config", &v))
		return -1;
	if (str_member(&root, "Name", name, sizeof(name)) == 0)
		snprintf(m->name, sizeof(m->name), "%s", name[0] == '/' ? name + 1 : name);
	if (json__path(&root, image_path, &v) == 0)
		json__str(&v, m->image, sizeof(m->image));
	if (json__path(&root, labels_path, &v) == 0 && v.type == JSON_OBJECT)
		k8s_labels(&v, m);
	m->runtime = RT_DOCKER;
	m->found = 1;
	return 0;
}

int container__from_oci_config(const char *js, size_t len, struct container_meta *m)
{
	struct json_val root, ann, v;
	char t[32], buf[4096];

	if (json__parse(js, len, &root) || root.type != JSON_OBJECT)
		return -1;
	if (json__member(&root, "ociVersion", &v))
		return -1;
	m->found = 1;
	if (json__member(&root, "annotations", &ann) || ann.type != JSON_OBJECT)
		return 0; /* a bundle without annotations (Docker's, plain ctr) */
	/* containerd's CRI plugin */
	if (str_member(&ann, "io.kubernetes.cri.container-type", t, sizeof(t)) == 0) {
		m->runtime = RT_CONTAINERD;
		m->sandbox = strcmp(t, "sandbox") == 0;
		str_member(&ann, "io.kubernetes.cri.sandbox-name", m->pod_name, sizeof(m->pod_name));
		str_member(&ann, "io.kubernetes.cri.sandbox-namespace", m->namespace, sizeof(m->namespace));
		str_member(&ann, "io.kubernetes.cri.sandbox-uid", m->pod_uid, sizeof(m->pod_uid));
		str_member(&ann, "io.kubernetes.cri.container-name", m->k8s_container, sizeof(m->k8s_container));
		str_member(&ann, "io.kubernetes.cri.image-name", m->image, sizeof(m->image));
	}
	/* CRI-O: kubelet's labels as annotations, and all of them again as a
	 * JSON object in a string */
	if (str_member(&ann, "io.kubernetes.cri-o.ContainerType", t, sizeof(t)) == 0) {
		m->runtime = RT_CRIO;
		m->sandbox = strcmp(t, "sandbox") == 0;
		str_member(&ann, "io.kubernetes.cri-o.ImageName", m->image, sizeof(m->image));
	}
	k8s_labels(&ann, m);
	if (json__member(&ann, "io.kubernetes.cri-o.Labels", &v) == 0) {
		int n = json__str(&v, buf, sizeof(buf));
		struct json_val labels;

		if (n > 0 && json__parse(buf, (size_t)n, &labels) == 0 && labels.type == JSON_OBJECT)
			k8s_labels(&labels, m);
	}
	if (!m->pod_name[0])
		str_member(&ann, "io.kubernetes.cri-o.KubeName", m->pod_name, sizeof(m->pod_name));
	if (!m->namespace[0])
		str_member(&ann, "io.kubernetes.cri-o.Namespace", m->namespace, sizeof(m->namespace));
	if (m->k8s_container[0] && !m->name[0])
		snprintf(m->name, sizeof(m->name), "%s", m->k8s_container);
	return 0;
}

static char *slurp(const char *path, size_t max, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	size_t n = 0;
	ssize_t r;

	if (fd < 0)
		return NULL;
	buf = malloc(max);
	if (!buf) {
		close(fd);
		return NULL;
	}
	while (n < max && (r = read(fd, buf + n, max - n)) > 0)
		n += (size_t)r;
	close(fd);
	if (n == max) { /* too big for a metadata file: not one */
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	*len = n;
	return buf;
}

#define META_MAX (1 << 20)

static int read_with(const char *path, int (*fn)(const char *, size_t, struct container_meta *),
		     struct container_meta *m, int *err)
{
	size_t len;
	char *buf = slurp(path, META_MAX, &len);
	int r;

	if (!buf) {
		if (errno != ENOENT)
			*err = errno;
		return -1;
	}
	r = fn(buf, len, m);
	free(buf);
	if (r)
		*err = EINVAL;
	return r;
}

/* containerd keeps bundles per namespace: k8s.io (CRI), moby (Docker), ... */
static int read_containerd(const char *id, struct container_meta *m, int *err)
{
	char path[1024];
	DIR *d = opendir(container_paths.containerd);
	struct dirent *e;
	int r = -1;

	if (!d) {
		if (errno != ENOENT)
			*err = errno;
		return -1;
	}
	while (r && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s/config.json", container_paths.containerd, e->d_name, id);
		r = read_with(path, container__from_oci_config, m, err);
	}
	closedir(d);
	return r;
}

enum { W_DOCKER, W_CONTAINERD, W_CRIO, W_N };
static uint8_t warned[W_N];

static void warn_once(int which, const char *what, int err)
{
	stats.container_meta_errors++;
	if (warned[which]++)
		return;
	pr_warn("failed to read %s metadata: %s (containers there lose their name and pod tags)\n", what,
		strerror(err));
}

int container__read_meta(const char *id, uint8_t runtime, struct container_meta *m)
{
	char path[1024];
	int err = 0, got = -1;

	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->runtime = runtime;
	if (runtime == RT_DOCKER || runtime == RT_UNKNOWN) {
		snprintf(path, sizeof(path), "%s/%s/config.v2.json", container_paths.docker, id);
		got = read_with(path, container__from_docker_config, m, &err);
		if (err)
			warn_once(W_DOCKER, path, err);
	}
	if (got && (runtime == RT_CONTAINERD || runtime == RT_UNKNOWN)) {
		err = 0;
		got = read_containerd(id, m, &err);
		if (err)
			warn_once(W_CONTAINERD, container_paths.containerd, err);
	}
	if (got && (runtime == RT_CRIO || runtime == RT_UNKNOWN)) {
		err = 0;
		snprintf(path, sizeof(path), "%s/%s/userdata/config.json", container_paths.crio, id);
		got = read_with(path, container__from_oci_config, m, &err);
		if (err)
			warn_once(W_CRIO, path, err);
	}
	if (got)
		stats.container_meta_missing++;
	return got;
}

int container__of_pid(uint32_t pid, struct cgroup_ref *ref)
{
	char path[64], buf[8192];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/cgroup", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		memset(ref, 0, sizeof(*ref));
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	return container__parse_cgroup(buf, n > 0 ? (size_t)n : 0, ref);
}

/* The cache: open addressing on the id's first bytes, least recently used
 * replaced when the probe window is full. */
#define PROBE 8

struct cache_ent {
	struct container_meta m;
	uint64_t used;
};

static struct cache_ent *cache;
static uint32_t cache_n;
static uint64_t clock_tick;

int container__init(uint32_t n)
{
	uint32_t sz = 16;

	if (!n)
		n = 1024;
	while (sz < n)
		sz <<= 1;
	free(cache);
	cache = calloc(sz, sizeof(*cache));
	cache_n = cache ? sz : 0;
	return cache ? 0 : -ENOMEM;
}

static uint32_t hash_id(const char *id)
{
	uint32_t h = 0;

	for (int i = 0; i < 8; i++)
		h = h * 16 + (uint32_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
	return h;
}

const struct container_meta *container__lookup(const struct cgroup_ref *ref)
{
	struct cache_ent *victim = NULL;
	uint32_t h;

	if (!ref->id[0])
		return NULL;
	if (!cache && container__init(0))
		return NULL;
	h = hash_id(ref->id);
	for (uint32_t i = 0; i < PROBE; i++) {
		struct cache_ent *e = &cache[(h + i) & (cache_n - 1)];

		if (e->m.id[0] && memcmp(e->m.id, ref->id, CONTAINER_ID_LEN) == 0) {
			e->used = ++clock_tick;
			return &e->m;
		}
		if (!victim || e->used < victim->used)
			victim = e;
	}
	if (victim->m.id[0])
		stats.container_evicted++;
	container__read_meta(ref->id, ref->runtime, &victim->m);
	if (!victim->m.pod_uid[0])
		snprintf(victim->m.pod_uid, sizeof(victim->m.pod_uid), "%s", ref->pod_uid);
	victim->used = ++clock_tick;
	return &victim->m;
}
