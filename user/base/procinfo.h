/* Per-process facts read from /proc once and cached: the service name, the
 * executable, and the tags of the process's resource (its container and
 * Kubernetes pod, OTEL_RESOURCE_ATTRIBUTES). */
#ifndef SPANTAP_PROCINFO_H
#define SPANTAP_PROCINFO_H

#include <stddef.h>
#include <stdint.h>

#define PROCINFO_SERVICE_MAX 64
/* a process's resource tags, "key\0value\0" pairs */
#define PROCINFO_TAGS_MAX 1024

/* The service name of process tgid: OTEL_SERVICE_NAME from its environment,
 * else service.name in its OTEL_RESOURCE_ATTRIBUTES, else its Kubernetes
 * container's name, else its container's name, else the script or jar an
 * interpreter runs, else the executable's name; comm is the fallback when
 * /proc never had the process. What was learnt of a process that exited
 * stays until its pid is seen again or its slot is taken. */
/* Processes whose names are cached (rounded up; default 4096). */
int procinfo__init(uint32_t processes);
const char *procinfo__service(uint32_t tgid, const char *comm);
/* Its executable's path ("" when unknown). */
const char *procinfo__exe(uint32_t tgid, const char *comm);
/* Its resource tags ("key\0value\0" pairs, *len bytes; none: *len 0):
 * container.*, k8s.*, host.name, and OTEL_RESOURCE_ATTRIBUTES' others. */
const char *procinfo__tags(uint32_t tgid, size_t *len);
/* The process exited: look it up again if its pid comes back. */
void procinfo__forget(uint32_t tgid);
/* k8s.node.name: NODE_NAME (the downward API), else the host name. */
const char *procinfo__node_name(void);

/* Pure helpers, exposed for tests: service name from argv (NUL-separated,
 * as in /proc/PID/cmdline) and from an environ block; 0 when found. */
int procinfo__service_from_cmdline(const char *cmdline, size_t len, char *out, size_t outlen);
int procinfo__service_from_environ(const char *env, size_t len, char *out, size_t outlen);
/* An environ block's variable name ("NAME"): its value, or NULL. */
const char *procinfo__getenv(const char *env, size_t len, const char *name, size_t *vlen);
/* OTEL_RESOURCE_ATTRIBUTES (k=v,k=v, values percent-encoded): service.name
 * into svc ("" if absent), the others appended to tags as pairs; the bytes
 * of tags used. */
size_t procinfo__resource_attrs(const char *v, size_t len, char *svc, size_t svclen, char *tags, size_t used,
				size_t cap);

#endif
