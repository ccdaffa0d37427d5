/* Fixed-size object pools: one arena reserved up front, a free list after,
 * so the hot path never calls malloc and memory has a hard bound. */
#ifndef SPANTAP_POOL_H
#define SPANTAP_POOL_H

#include <stddef.h>

struct pool;

/* NULL with errno set on failure. */
struct pool *pool__new(size_t obj_size, size_t count);
void pool__free(struct pool *p);
/* NULL when every object is in use. Objects come back zeroed. */
void *pool__get(struct pool *p);
void pool__put(struct pool *p, void *obj);
size_t pool__in_use(const struct pool *p);
size_t pool__capacity(const struct pool *p);

#endif
