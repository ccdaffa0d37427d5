/* Per-process facts read from /proc once and cached: the service name. */
#ifndef SPANTAP_PROCINFO_H
#define SPANTAP_PROCINFO_H

#include <stddef.h>
#include <stdint.h>

#define PROCINFO_SERVICE_MAX 64

/* The service name of process tgid: OTEL_SERVICE_NAME from its environment,
 * else the script or jar an interpreter runs, else the executable's name;
 * comm is the fallback when /proc no longer has the process. */
/* Processes whose names are cached (rounded up; default 4096). */
int procinfo__init(uint32_t processes);
const char *procinfo__service(uint32_t tgid, const char *comm);
/* Its executable's path ("" when unknown). */
const char *procinfo__exe(uint32_t tgid, const char *comm);
/* The process exited: forget it (pids are reused). */
void procinfo__forget(uint32_t tgid);

/* Pure helpers, exposed for tests: service name from argv (NUL-separated,
 * as in /proc/PID/cmdline) and from an environ block; 0 when found. */
int procinfo__service_from_cmdline(const char *cmdline, size_t len, char *out, size_t outlen);
int procinfo__service_from_environ(const char *env, size_t len, char *out, size_t outlen);

#endif
