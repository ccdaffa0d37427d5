/* --container and --namespace: finds the cgroup v2 directories of the
 * containers they name, at start and as containers start later (inotify on
 * the cgroup2 tree), and hands their cgroup ids to the kernel's cgroup
 * filter; a container that exits is taken out again. */
#ifndef SPANTAP_CGWATCH_H
#define SPANTAP_CGWATCH_H

#include <stdint.h>

#define CGWATCH_MAX_SEL 64
#define CGWATCH_MAX_WATCHES 8192
#define CGWATCH_MAX_DEPTH 10

/* add: 1 when the cgroup id joins the filter, 0 when it leaves */
typedef void (*cgwatch_fn)(void *ctx, uint64_t cgroup_id, int add, const char *path, const char *container);

struct cgwatch_sel {
	const char *containers[CGWATCH_MAX_SEL]; /* id, id prefix (4+ hex) or name */
	int ncontainers;
	const char *namespaces[CGWATCH_MAX_SEL];
	int nnamespaces;
};

struct cgwatch;

/* Scans the tree under root (the cgroup2 mount) and calls fn for every
 * container that matches; NULL with errno set. */
struct cgwatch *cgwatch__new(const char *root, const struct cgwatch_sel *sel, cgwatch_fn fn, void *ctx);
/* Handles what inotify reported since the last call; never blocks. */
void cgwatch__poll(struct cgwatch *w);
/* containers in the filter now */
int cgwatch__count(const struct cgwatch *w);
void cgwatch__free(struct cgwatch *w);
/* Does container m match the selection? (pure, for tests) */
struct container_meta;
int cgwatch__match(const struct cgwatch_sel *sel, const struct container_meta *m);

#endif
