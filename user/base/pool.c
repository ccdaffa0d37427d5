/* Object pools (see pool.h). The arena is mapped lazily by the kernel, so an
 * unused pool costs address space, not resident memory. */
#include "base/pool.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct free_obj {
	struct free_obj *next;
};

struct pool {
	char *arena;
	size_t obj_size, count, used, next_fresh;
	struct free_obj *free;
};

struct pool *pool__new(size_t obj_size, size_t count)
{
	struct pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	obj_size = (obj_size + 15) & ~(size_t)15;
	if (count == 0 || obj_size > SIZE_MAX / count) {
		free(p);
		errno = EINVAL;
		return NULL;
	}
	p->arena = mmap(NULL, obj_size * count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->arena == MAP_FAILED) {
		free(p);
		return NULL;
	}
	p->obj_size = obj_size;
	p->count = count;
	return p;
}

void pool__free(struct pool *p)
{
	if (!p)
		return;
	munmap(p->arena, p->obj_size * p->count);
	free(p);
}

void *pool__get(struct pool *p)
{
	void *o;

	if (p->free) {
		o = p->free;
		p->free = p->free->next;
	} else if (p->next_fresh < p->count) {
		/* untouched pages are zero already */
		p->used++;
		return p->arena + p->obj_size * p->next_fresh++;
	} else {
		return NULL;
	}
	memset(o, 0, p->obj_size);
	p->used++;
	return o;
}

void pool__put(struct pool *p, void *obj)
{
	struct free_obj *f = obj;

	if (!obj)
		return;
	f->next = p->free;
	p->free = f;
	p->used--;
}

size_t pool__in_use(const struct pool *p)
{
	return p->used;
}

size_t pool__capacity(const struct pool *p)
{
	return p->count;
}
