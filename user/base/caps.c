/* Capabilities (see caps.h), read with capget(2): no libcap needed for
 * three bits. Needed: CAP_BPF (maps and programs) and CAP_PERFMON (tracing
 * programs, reading kernel memory), or CAP_SYS_ADMIN for both on old
 * kernels; and, for a process that is not uid 0, CAP_DAC_READ_SEARCH to
 * read tracefs (root-only) when attaching tracepoints. CAP_PERFMON also
 * lets spantap read other users' /proc/PID/environ (OTEL_SERVICE_NAME);
 * CAP_SYS_PTRACE is needed for their /proc/PID/exe (the Jaeger process tag
 * process.executable.path), and only for that. */
#include "base/caps.h"

#include "base/log.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static uint64_t effective(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2] = {{0}};

	if (syscall(SYS_capget, &h, d))
		return 0;
	return (uint64_t)d[0].effective | (uint64_t)d[1].effective << 32;
}

static int has(uint64_t eff, int cap)
{
	return (eff >> cap) & 1;
}

int caps__check(void)
{
	uint64_t eff = effective();
	int admin = has(eff, CAP_SYS_ADMIN);
	struct stat st;

	if (!has(eff, CAP_BPF) && !admin) {
		pr_err("missing capability CAP_BPF (to load BPF programs): run as root, or grant CAP_BPF, "
		       "CAP_PERFMON%s\n",
		       geteuid() ? " and CAP_DAC_READ_SEARCH" : "");
		return -EPERM;
	}
	if (!has(eff, CAP_PERFMON) && !admin) {
		pr_err("missing capability CAP_PERFMON (to attach tracing programs): run as root, or grant CAP_BPF, "
		       "CAP_PERFMON%s\n",
		       geteuid() ? " and CAP_DAC_READ_SEARCH" : "");
		return -EPERM;
	}
	/* tracefs is root's: another uid reads it through this capability */
	if (geteuid() != 0 && !has(eff, CAP_DAC_READ_SEARCH) && !has(eff, CAP_DAC_OVERRIDE) &&
	    stat("/sys/kernel/tracing/events/syscalls", &st) != 0) {
		pr_err("missing capability CAP_DAC_READ_SEARCH (to read tracefs as uid %u): grant it, or run as uid "
		       "0\n",
		       (unsigned)geteuid());
		return -EPERM;
	}
	if (!has(eff, CAP_SYS_PTRACE))
		pr_info("without CAP_SYS_PTRACE, the executable path of other users' processes is not exported\n");
	return 0;
}

int caps__net_admin(void)
{
	return has(effective(), CAP_NET_ADMIN);
}
