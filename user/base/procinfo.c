/* Service names and resource tags from /proc (and the container runtime's
 * files, base/container.c), cached per process in a fixed table so a busy
 * host costs one /proc read per process, not per span. */
#include "base/procinfo.h"

#include "base/container.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_CACHE 4096 /* power of two */

struct proc_entry {
	uint32_t tgid;
	uint8_t dead; /* exited: kept for its late spans until the pid is back */
	uint16_t tags_len;
	char service[PROCINFO_SERVICE_MAX];
	char exe[256];
	char tags[PROCINFO_TAGS_MAX];
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

const char *procinfo__getenv(const char *env, size_t len, const char *name, size_t *vlen)
{
	size_t kl = strlen(name);

	for (size_t i = 0; i < len;) {
		const char *e = env + i;
		size_t n = strnlen(e, len - i);
		if (n > kl && memcmp(e, name, kl) == 0 && e[kl] == '=') {
			*vlen = n - kl - 1;
			return e + kl + 1;
		}
		i += n + 1;
	}
	return NULL;
}

int procinfo__service_from_environ(const char *env, size_t len, char *out, size_t outlen)
{
	size_t n;
	const char *v = procinfo__getenv(env, len, "OTEL_SERVICE_NAME", &n);

	if (!v || !n)
		return -1;
	snprintf(out, outlen, "%.*s", (int)n, v);
	return 0;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* [s, s + n) trimmed and percent-decoded into out (NUL-terminated) */
static size_t decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < n && o + 1 < outlen; i++) {
		if (s[i] == '%' && i + 2 < n + 0 && unhex(s[i + 1]) >= 0 && unhex(s[i + 2]) >= 0) {
			out[o++] = (char)(unhex(s[i + 1]) * 16 + unhex(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = 0;
	return o;
}

/* appends key and value as a pair if it fits and key is not there yet */
static size_t add_tag(char *tags, size_t used, size_t cap, const char *k, const char *v)
{
	size_t kl = strlen(k), vl = strlen(v);

	if (!kl || !vl || used + kl + vl + 2 > cap)
		return used;
	for (size_t i = 0; i < used;) {
		size_t l = strlen(tags + i);
		if (l == kl && memcmp(tags + i, k, kl) == 0)
			return used;
		i += l + 1;
		i += strlen(tags + i) + 1;
	}
	memcpy(tags + used, k, kl + 1);
	memcpy(tags + used + kl + 1, v, vl + 1);
	return used + kl + vl + 2;
}

size_t procinfo__resource_attrs(const char *v, size_t len, char *svc, size_t svclen, char *tags, size_t used,
				size_t cap)
{
	svc[0] = 0;
	for (size_t i = 0; i < len;) {
		const char *item = v + i, *eq;
		size_t n = 0;
		char key[128], val[256];

		while (i + n < len && v[i + n] != ',')
			n++;
		i += n + 1;
		eq = memchr(item, '=', n);
		if (!eq)
			continue;
		decode(item, (size_t)(eq - item), key, sizeof(key));
		decode(eq + 1, n - (size_t)(eq - item) - 1, val, sizeof(val));
		if (strcmp(key, "service.name") == 0)
			snprintf(svc, svclen, "%s", val);
		else
			used = add_tag(tags, used, cap, key, val);
	}
	return used;
}

const char *procinfo__node_name(void)
{
	static char name[256];

	if (!name[0]) {
		const char *n = getenv("NODE_NAME");
		if (n && *n)
			snprintf(name, sizeof(name), "%s", n);
		else if (gethostname(name, sizeof(name) - 1) || !name[0])
			snprintf(name, sizeof(name), "unknown");
	}
	return name;
}

/* host.name: in a pod (no host network) the host name is the pod's, so
 * NODE_NAME, when set, names the host */
static const char *host_name(void)
{
	return procinfo__node_name();
}

/* The container's tags, then the OTEL resource's; the service name from the
 * container when the environment did not give one (svc[0] == 0). */
static size_t container_tags(uint32_t tgid, char *svc, size_t svclen, char *tags, size_t used, size_t cap)
{
	struct cgroup_ref ref;
	const struct container_meta *m;

	if (container__of_pid(tgid, &ref) || !(m = container__lookup(&ref)))
		return used;
	used = add_tag(tags, used, cap, "container.id", m->id);
	used = add_tag(tags, used, cap, "container.name", m->name);
	used = add_tag(tags, used, cap, "container.image.name", m->image);
	used = add_tag(tags, used, cap, "k8s.pod.name", m->pod_name);
	used = add_tag(tags, used, cap, "k8s.pod.uid", m->pod_uid);
	used = add_tag(tags, used, cap, "k8s.namespace.name", m->namespace);
	used = add_tag(tags, used, cap, "k8s.container.name", m->k8s_container);
	if (m->pod_name[0] || m->pod_uid[0])
		used = add_tag(tags, used, cap, "k8s.node.name", procinfo__node_name());
	if (!svc[0])
		snprintf(svc, svclen, "%.*s", (int)svclen - 1, m->k8s_container[0] ? m->k8s_container : m->name);
	return used;
}

/* 0 when /proc had the process */
static int lookup(uint32_t tgid, const char *comm, struct proc_entry *e)
{
	static char buf[65536];
	char path[64], attrs_svc[PROCINFO_SERVICE_MAX] = "";
	char *out = e->service;
	size_t outlen = sizeof(e->service), n, vl, used = 0;
	const char *v;
	ssize_t k;
	int seen = 0;

	snprintf(path, sizeof(path), "/proc/%u/exe", tgid);
	k = readlink(path, e->exe, sizeof(e->exe) - 1);
	e->exe[k > 0 ? k : 0] = 0;
	seen |= k > 0;
	out[0] = 0;

	snprintf(path, sizeof(path), "/proc/%u/environ", tgid);
	n = read_file(path, buf, sizeof(buf));
	seen |= n > 0;
	if (n)
		procinfo__service_from_environ(buf, n, out, outlen);
	if (n && (v = procinfo__getenv(buf, n, "OTEL_RESOURCE_ATTRIBUTES", &vl)))
		used = procinfo__resource_attrs(v, vl, attrs_svc, sizeof(attrs_svc), e->tags, 0, sizeof(e->tags));
	if (!out[0] && attrs_svc[0])
		snprintf(out, outlen, "%s", attrs_svc);
	/* resource attributes the user set come first: they win over ours */
	used = container_tags(tgid, out, outlen, e->tags, used, sizeof(e->tags));
	used = add_tag(e->tags, used, sizeof(e->tags), "host.name", host_name());
	e->tags_len = (uint16_t)used;
	if (out[0])
		return 0;
	snprintf(path, sizeof(path), "/proc/%u/cmdline", tgid);
	n = read_file(path, buf, sizeof(buf) - 1);
	seen |= n > 0;
	if (n) {
		buf[n] = 0;
		if (procinfo__service_from_cmdline(buf, n, out, outlen) == 0)
			return 0;
	}
	/* kernel threads and exotic argv: the executable's file name */
	if (e->exe[0]) {
		snprintf(out, outlen, "%.*s", (int)outlen - 1, base_name(e->exe));
		return 0;
	}
	snprintf(out, outlen, "%s", comm && comm[0] ? comm : "unknown");
	return seen ? 0 : -1;
}

static struct proc_entry *entry(uint32_t tgid, const char *comm)
{
	struct proc_entry *e = &cache[(tgid * 2654435761u) & (CACHE_SIZE - 1)];

	if (e->tgid != tgid || !e->service[0]) {
		e->tgid = tgid;
		e->dead = 0;
		lookup(tgid, comm, e);
	} else if (e->dead) {
		/* the pid came back as a new process, or this is a late span
		 * of the one that exited: /proc tells */
		static struct proc_entry fresh;

		if (lookup(tgid, comm, &fresh) == 0) {
			memcpy(e->service, fresh.service, sizeof(e->service));
			memcpy(e->exe, fresh.exe, sizeof(e->exe));
			memcpy(e->tags, fresh.tags, fresh.tags_len);
			e->tags_len = fresh.tags_len;
		}
		e->dead = 0;
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

const char *procinfo__tags(uint32_t tgid, size_t *len)
{
	struct proc_entry *e = entry(tgid, "");

	*len = e->tags_len;
	return e->tags;
}

void procinfo__forget(uint32_t tgid)
{
	struct proc_entry *e = &cache[(tgid * 2654435761u) & (CACHE_SIZE - 1)];

	if (e->tgid == tgid)
		e->dead = 1;
}
