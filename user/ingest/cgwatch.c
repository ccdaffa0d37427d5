/* The container filter's user-space half (cgwatch.h): a bounded inotify
 * watch on every directory of the cgroup2 tree, down to CGWATCH_MAX_DEPTH;
 * a new directory that names a container (base/container.c) is matched
 * against --container/--namespace through the runtime's metadata, which
 * the runtimes write before they create the cgroup. */
#include "ingest/cgwatch.h"

#include "base/cgroupfs.h"
#include "base/container.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

struct watch {
	int wd;
	uint8_t depth;
	uint8_t added; /* this directory's cgroup is in the filter */
	uint64_t cgid;
	char *path;
};

struct cgwatch {
	int fd;
	char root[CGROUPFS_PATH_MAX];
	struct cgwatch_sel sel;
	cgwatch_fn fn;
	void *ctx;
	struct watch *w;
	int n, cap;
	int nadded;
	int warned_full;
};

static int is_prefix_id(const char *sel, const char *id)
{
	size_t n = strlen(sel);

	if (n < 4 || n > CONTAINER_ID_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((sel[i] >= '0' && sel[i] <= '9') || (sel[i] >= 'a' && sel[i] <= 'f')))
			return 0;
	return strncmp(sel, id, n) == 0;
}

int cgwatch__match(const struct cgwatch_sel *sel, const struct container_meta *m)
{
	if (m->sandbox)
		return 0;
	for (int i = 0; i < sel->ncontainers; i++) {
		const char *c = sel->containers[i];

		if (c[0] == '/')
			c++; /* Docker shows names with a leading '/' */
		if (is_prefix_id(c, m->id) || (m->name[0] && strcmp(c, m->name) == 0) ||
		    (m->k8s_container[0] && strcmp(c, m->k8s_container) == 0))
			return 1;
	}
	for (int i = 0; i < sel->nnamespaces; i++)
		if (m->namespace[0] && strcmp(sel->namespaces[i], m->namespace) == 0)
			return 1;
	return 0;
}

static struct watch *by_wd(struct cgwatch *w, int wd)
{
	for (int i = 0; i < w->n; i++)
		if (w->w[i].wd == wd)
			return &w->w[i];
	return NULL;
}

/* the directory path names a container: is it one of ours? */
static void consider(struct cgwatch *w, struct watch *d)
{
	char text[CGROUPFS_PATH_MAX + 8];
	const struct container_meta *m;
	struct cgroup_ref ref;
	const char *rel = d->path + strlen(w->root);

	snprintf(text, sizeof(text), "0::%s", rel[0] ? rel : "/");
	if (container__parse_cgroup(text, strlen(text), &ref))
		return;
	/* only the directory named by the id: not the cgroups a container
	 * makes below its own (they are in its subtree anyway) */
	const char *last = strrchr(d->path, '/');
	if (!last || !strstr(last, ref.id))
		return;
	m = container__lookup(&ref);
	if (!m || !cgwatch__match(&w->sel, m))
		return;
	if (cgroupfs__id(d->path, &d->cgid))
		return;
	d->added = 1;
	w->nadded++;
	w->fn(w->ctx, d->cgid, 1, d->path, m->name[0] ? m->name : m->id);
}

static void scan(struct cgwatch *w, const char *path, int depth);

static void add_dir(struct cgwatch *w, const char *path, int depth)
{
	struct watch *d;
	int wd;

	if (depth > CGWATCH_MAX_DEPTH)
		return;
	if (w->n == CGWATCH_MAX_WATCHES) {
		if (!w->warned_full++)
			pr_warn("failed to watch cgroup '%s': more than %d cgroups (containers below are not seen)\n",
				path, CGWATCH_MAX_WATCHES);
		return;
	}
	wd = inotify_add_watch(w->fd, path, IN_CREATE | IN_DELETE | IN_ONLYDIR | IN_DONT_FOLLOW);
	if (wd < 0) {
		if (errno != ENOENT && !w->warned_full++)
			pr_warn("failed to watch cgroup '%s': %s (containers below are not seen)\n", path,
				strerror(errno));
		return;
	}
	if (by_wd(w, wd))
		return; /* already watched */
	if (w->n == w->cap) {
		int cap = w->cap ? w->cap * 2 : 256;
		struct watch *nw = realloc(w->w, (size_t)cap * sizeof(*nw));
		if (!nw)
			return;
		w->w = nw;
		w->cap = cap;
	}
	d = &w->w[w->n++];
	memset(d, 0, sizeof(*d));
	d->wd = wd;
	d->depth = (uint8_t)depth;
	d->path = strdup(path);
	if (!d->path) {
		w->n--;
		return;
	}
	consider(w, d);
	scan(w, path, depth);
}

/* every subdirectory: cgroups made before their parent was watched */
static void scan(struct cgwatch *w, const char *path, int depth)
{
	DIR *dir = opendir(path);
	struct dirent *e;
	char sub[CGROUPFS_PATH_MAX];

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) >= (int)sizeof(sub))
			continue;
		add_dir(w, sub, depth + 1);
	}
	closedir(dir);
}

static void drop(struct cgwatch *w, struct watch *d)
{
	if (d->added) {
		w->nadded--;
		w->fn(w->ctx, d->cgid, 0, d->path, "");
	}
	free(d->path);
	*d = w->w[--w->n];
}

void cgwatch__poll(struct cgwatch *w)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	if (!w)
		return;
	while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			struct watch *d = by_wd(w, ev->wd);
			char sub[CGROUPFS_PATH_MAX];

			p += sizeof(*ev) + ev->len;
			if (!d)
				continue;
			if (ev->mask & IN_IGNORED) {
				drop(w, d);
				continue;
			}
			if (!(ev->mask & IN_ISDIR) || !ev->len ||
			    snprintf(sub, sizeof(sub), "%s/%s", d->path, ev->name) >= (int)sizeof(sub))
				continue;
			if (ev->mask & IN_CREATE) {
				add_dir(w, sub, d->depth + 1);
			} else if (ev->mask & IN_DELETE) {
				for (int i = 0; i < w->n; i++)
					if (strcmp(w->w[i].path, sub) == 0) {
						inotify_rm_watch(w->fd, w->w[i].wd);
						drop(w, &w->w[i]);
						break;
					}
			}
		}
	}
}

struct cgwatch *cgwatch__new(const char *root, const struct cgwatch_sel *sel, cgwatch_fn fn, void *ctx)
{
	struct cgwatch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		int err = errno;
		free(w);
		errno = err;
		return NULL;
	}
	snprintf(w->root, sizeof(w->root), "%s", root);
	w->sel = *sel;
	w->fn = fn;
	w->ctx = ctx;
	add_dir(w, root, 0);
	return w;
}

int cgwatch__count(const struct cgwatch *w)
{
	return w ? w->nadded : 0;
}

void cgwatch__free(struct cgwatch *w)
{
	if (!w)
		return;
	for (int i = 0; i < w->n; i++)
		free(w->w[i].path);
	free(w->w);
	close(w->fd);
	free(w);
}
