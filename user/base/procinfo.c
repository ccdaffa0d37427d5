/* Service names from /proc, cached per process in a fixed table so a busy
 * host costs one /proc read per process, not per span. */
#include "base/procinfo.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_CACHE 4096 /* power of two */

struct proc_entry {
	uint32_t tgid;
	char service[PROCINFO_SERVICE_MAX];
	char exe[256];
};

static struct proc_entry default_cache[DEFAULT_CACHE];
static struct proc_entry *cache = default_cache;
static uint32_t CACHE_SIZE = DEFAULT_CACHE;

int procinfo__init(uint32_t processes)
{
	uint32_t n = 16;
	struct proc_entry *c;

	while (n < processes)
		n <<= 1;
	if (n == CACHE_SIZE)
		return 0;
	if (!(c = calloc(n, sizeof(*c))))
		return -1;
	if (cache != default_cache)
		free(cache);
	cache = c;
	CACHE_SIZE = n;
	return 0;
}

static size_t read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0)
		return 0;
	while (n < len) {
		ssize_t r = read(fd, buf + n, len - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	return n;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* copy without the extension ("contributors.py" -> "contributors") */
static void strip_ext(char *out, size_t outlen, const char *name)
{
	const char *dot = strrchr(name, '.');
	size_t n = dot && dot != name ? (size_t)(dot - name) : strlen(name);

	snprintf(out, outlen, "%.*s", (int)n, name);
}

static int is_interpreter(const char *exe)
{
	static const char *const names[] = {"python", "node", "nodejs", "ruby", "perl", "php", "java", "bun", "deno"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncmp(exe, names[i], strlen(names[i])) == 0)
			return 1;
	return 0;
}

int procinfo__service_from_cmdline(const char *cmd, size_t len, char *out, size_t outlen)
{
	const char *argv[32];
	int argc = 0;

	for (size_t i = 0; i < len && argc < 32;) {
		argv[argc++] = cmd + i;
		while (i < len && cmd[i])
			i++;
		i++;
	}
	if (argc == 0 || !argv[0][0])
		return -1;
	const char *exe = base_name(argv[0]);
	if (is_interpreter(exe)) {
		for (int i = 1; i < argc; i++) {
			const char *a = argv[i];
			/* python -m pkg.module / java -jar app.jar */
			if ((strcmp(a, "-m") == 0 || strcmp(a, "-jar") == 0) && i + 1 < argc) {
				const char *m = base_name(argv[i + 1]);
				if (strcmp(a, "-m") == 0)
					snprintf(out, outlen, "%s", m);
				else
					strip_ext(out, outlen, m);
				return 0;
			}
			/* options that take a value */
			if (strcmp(a, "-c") == 0 || strcmp(a, "-e") == 0 || strcmp(a, "-cp") == 0 ||
			    strcmp(a, "-classpath") == 0 || strcmp(a, "-W") == 0 || strcmp(a, "-X") == 0 ||
			    strcmp(a, "-r") == 0 || strcmp(a, "--require") == 0) {
				i++;
				continue;
			}
			if (a[0] == '-' || !a[0])
				continue;
			strip_ext(out, outlen, base_name(a));
			return out[0] ? 0 : -1;
		}
	}
	/* argv[0] may be rewritten ("redis-server *:6379", "nginx: worker
	 * process"): keep its first word */
	size_t w = strcspn(exe, " ");
	if (w > 1 && exe[w - 1] == ':')
		w--;
	snprintf(out, outlen, "%.*s", (int)w, exe);
	return out[0] ? 0 : -1;
}

int procinfo__service_from_environ(const char *env, size_t len, char *out, size_t outlen)
{
	static const char key[] = "OTEL_SERVICE_NAME=";

	for (size_t i = 0; i < len;) {
		const char *e = env + i;
		size_t n = strnlen(e, len - i);
		if (n > sizeof(key) - 1 && memcmp(e, key, sizeof(key) - 1) == 0) {
			snprintf(out, outlen, "%.*s", (int)(n - (sizeof(key) - 1)), e + sizeof(key) - 1);
			return 0;
		}
		i += n + 1;
	}
	return -1;
}

static void lookup(uint32_t tgid, const char *comm, char *out, size_t outlen, char *exe, size_t exelen)
{
	static char buf[65536];
	char path[64];
	size_t n;
	ssize_t k;

	snprintf(path, sizeof(path), "/proc/%u/exe", tgid);
	k = readlink(path, exe, exelen - 1);
	exe[k > 0 ? k : 0] = 0;

	snprintf(path, sizeof(path), "/proc/%u/environ", tgid);
	n = read_file(path, buf, sizeof(buf));
	if (n && procinfo__service_from_environ(buf, n, out, outlen) == 0)
		return;
	snprintf(path, sizeof(path), "/proc/%u/cmdline", tgid);
	n = read_file(path, buf, sizeof(buf) - 1);
	if (n) {
		buf[n] = 0;
		if (procinfo__service_from_cmdline(buf, n, out, outlen) == 0)
			return;
	}
	/* kernel threads and exotic argv: the executable's file name */
	if (exe[0]) {
		snprintf(out, outlen, "%.*s", (int)outlen - 1, base_name(exe));
		return;
	}
	snprintf(out, outlen, "%s", comm && comm[0] ? comm : "unknown");
}

static struct proc_entry *entry(uint32_t tgid, const char *comm)
{
	struct proc_entry *e = &cache[(tgid * 2654435761u) & (CACHE_SIZE - 1)];

	if (e->tgid != tgid || !e->service[0]) {
		e->tgid = tgid;
		lookup(tgid, comm, e->service, sizeof(e->service), e->exe, sizeof(e->exe));
	}
	return e;
}

const char *procinfo__service(uint32_t tgid, const char *comm)
{
	return entry(tgid, comm)->service;
}

const char *procinfo__exe(uint32_t tgid, const char *comm)
{
	return entry(tgid, comm)->exe;
}

void procinfo__forget(uint32_t tgid)
{
	struct proc_entry *e = &cache[(tgid * 2654435761u) & (CACHE_SIZE - 1)];

	if (e->tgid == tgid)
		e->service[0] = 0;
}
