/* Attaches the TLS uprobes of bpf/tls.bpf.h to OpenSSL wherever processes
 * map it. Each executable mapping of /proc/PID/maps names a file by device
 * and inode: a file is looked at once (its .dynsym read with libelf), and
 * probed when it defines and exports OpenSSL's SSL_read and SSL_write, at
 * the offsets its symbol table gives. The kernel keeps a uprobe per file,
 * so one attachment serves every process that maps the file, now or later;
 * the links die with spantap (perf-event uprobes: nothing left behind).
 * New files come from processes that exec (sched_process_exec) and from a
 * rescan every TLS__RESCAN_NS (libraries loaded with dlopen). */
#include "ingest/tls.h"

#include "base/log.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <glob.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define TLS__RESCAN_NS 2000000000ULL
#define TLS__EXEC_DELAY_NS 30000000ULL /* the dynamic loader has mapped the libraries */
#define SEEN_SIZE 8192		       /* distinct executable files looked at (power of two) */
#define SEEN_MAX (SEEN_SIZE * 3 / 4)
#define EXECQ 256
#define MAX_FILES 256 /* files probed */
#define NPROBES 8     /* per file: entry and return of four functions */

struct seen {
	uint64_t dev, ino; /* ino 0: empty */
};

struct tls {
	struct bpf_object *obj;
	struct bpf_program *enter[4], *exit_plain, *exit_ex;
	struct bpf_map *filter_pids;
	struct seen *seen;
	uint32_t nseen;
	bool seen_full_logged;
	struct bpf_link **links;
	uint32_t nlinks;
	uint64_t files, uprobes, failed;
	struct {
		uint32_t tgid;
		uint64_t ts;
	} q[EXECQ];
	uint32_t qhead, qn;
	uint64_t last_scan;
	int filtered;
	bool host_done;
	/* the first scan's files, told after spantap says it is tracing */
	char held[2048];
	size_t nheld;
	bool holding;
	uint32_t self;
};

static const char *const fnames[4] = {"SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex"};

int tls__elf_syms(const char *path, struct tls_syms *out)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	Elf *e;
	int fd, err = 0;

	memset(out, 0, sizeof(*out));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e || elf_kind(e) != ELF_K_ELF) {
		err = -ENOEXEC;
		goto cleanup;
	}
	while ((scn = elf_nextscn(e, scn))) {
		Elf_Data *d;
		size_t n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM || !sh.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d)
			break;
		n = sh.sh_size / sh.sh_entsize;
		for (size_t i = 0; i < n; i++) {
			GElf_Sym s;
			const char *name;
			int k = -1;

			if (!gelf_getsym(d, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC ||
			    s.st_shndx == SHN_UNDEF || !s.st_value)
				continue;
			if (GELF_ST_BIND(s.st_info) != STB_GLOBAL && GELF_ST_BIND(s.st_info) != STB_WEAK)
				continue;
			name = elf_strptr(e, sh.sh_link, s.st_name);
			if (!name || (name[0] != 'S' && name[0] != 'O'))
				continue;
			if (!strcmp(name, "OPENSSL_init_ssl")) {
				out->found |= TLS_SYM_INIT;
				continue;
			}
			for (int j = 0; j < 4; j++)
				if (!strcmp(name, fnames[j]))
					k = j;
			if (k < 0)
				continue;
			/* the symbol's address -> its offset in the file, through
			 * the section that holds it (as the kernel's uprobe wants) */
			Elf_Scn *ts = elf_getscn(e, s.st_shndx);
			GElf_Shdr tsh;
			if (!ts || !gelf_getshdr(ts, &tsh) || tsh.sh_type != SHT_PROGBITS ||
			    !(tsh.sh_flags & SHF_EXECINSTR) || s.st_value < tsh.sh_addr ||
			    s.st_value >= tsh.sh_addr + tsh.sh_size)
				continue;
			out->off[k] = s.st_value - tsh.sh_addr + tsh.sh_offset;
			out->found |= 1u << k;
		}
		break;
	}
cleanup:
	if (e)
		elf_end(e);
	close(fd);
	return err;
}

int tls__maps_line(const char *line, uint64_t *start, uint64_t *end, uint64_t *dev, uint64_t *ino, const char **path)
{
	unsigned long long s, en, off, i;
	unsigned maj, min;
	char perms[8];
	int n = 0;

	if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &s, &en, perms, &off, &maj, &min, &i, &n) < 7 || !n)
		return -1;
	if (strlen(perms) != 4 || perms[2] != 'x' || !i || line[n] != '/')
		return 0;
	*start = s;
	*end = en;
	*dev = makedev(maj, min);
	*ino = i;
	*path = line + n;
	return 1;
}

/* true when (dev, ino) was new (and is now remembered) */
static bool seen_add(struct tls *t, uint64_t dev, uint64_t ino)
{
	uint32_t h = (uint32_t)((ino * 0x9E3779B97F4A7C15ULL ^ dev) >> 32) & (SEEN_SIZE - 1);

	for (uint32_t i = 0; i < SEEN_SIZE; i++, h = (h + 1) & (SEEN_SIZE - 1)) {
		struct seen *s = &t->seen[h];

		if (s->ino == ino && s->dev == dev)
			return false;
		if (!s->ino) {
			if (t->nseen >= SEEN_MAX) {
				if (!t->seen_full_logged)
					pr_warn("tls: %u executable files looked at: new ones are not\n", t->nseen);
				t->seen_full_logged = true;
				return false;
			}
			s->dev = dev;
			s->ino = ino;
			t->nseen++;
			return true;
		}
	}
	return false;
}

static int attach_one(struct tls *t, struct bpf_program *p, const char *path, uint64_t off, bool ret)
{
	LIBBPF_OPTS(bpf_uprobe_opts, o, .retprobe = ret);
	struct bpf_link *l;

	if (t->nlinks >= MAX_FILES * NPROBES)
		return -E2BIG;
	l = bpf_program__attach_uprobe_opts(p, -1, path, (size_t)off, &o);
	if (!l)
		return -errno;
	t->links[t->nlinks++] = l;
	t->uprobes++;
	return 0;
}

/* Probe the file at path if it is OpenSSL; what names it in messages. */
static void probe_file(struct tls *t, const char *path, const char *what, uint32_t pid)
{
	struct tls_syms s;
	int err = 0;

	if (tls__elf_syms(path, &s))
		return;
	if ((s.found & (TLS_SYM_WRITE | TLS_SYM_READ | TLS_SYM_INIT)) != (TLS_SYM_WRITE | TLS_SYM_READ | TLS_SYM_INIT))
		return;
	for (int k = 0; k < 4 && !err; k++) {
		if (!(s.found & (1u << k)))
			continue;
		err = attach_one(t, t->enter[k], path, s.off[k], false);
		if (!err)
			err = attach_one(t, k < 2 ? t->exit_plain : t->exit_ex, path, s.off[k], true);
	}
	if (err) {
		t->failed++;
		pr_warn("failed to attach TLS uprobes to '%s' (pid %u): %s\n", what, pid, strerror(-err));
		return;
	}
	t->files++;
	if (t->holding) {
		int n = snprintf(t->held + t->nheld, sizeof(t->held) - t->nheld, "%s%s", t->nheld ? ", " : "", what);
		if (n > 0 && (size_t)n < sizeof(t->held) - t->nheld)
			t->nheld += (size_t)n;
		return;
	}
	pr_info("TLS: probing OpenSSL in %s\n", what);
}

/* A file mapped by pid: through its root when that is the same inode (the
 * file as the process sees it, in its mount namespace), else through its
 * map_files entry. */
static void look_at(struct tls *t, uint32_t pid, uint64_t start, uint64_t end, uint64_t dev, uint64_t ino,
		    const char *mpath)
{
	char path[4200];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%u/root%s", pid, mpath);
	if (stat(path, &st) || st.st_ino != ino || st.st_dev != dev)
		snprintf(path, sizeof(path), "/proc/%u/map_files/%" PRIx64 "-%" PRIx64, pid, start, end);
	probe_file(t, path, mpath, pid);
}

/* The host's own libssl, before any process maps it: a program that
 * loads it later (dlopen) is traced from its first call. */
static void probe_host_libs(struct tls *t)
{
	static const char *const pats[] = {"/usr/lib/*/libssl.so.*", "/lib/*/libssl.so.*", "/usr/lib64/libssl.so.*",
					   "/usr/local/lib*/libssl.so.*"};
	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		glob_t g;

		if (glob(pats[i], 0, NULL, &g))
			continue;
		for (size_t j = 0; j < g.gl_pathc; j++) {
			struct stat st;

			if (stat(g.gl_pathv[j], &st) || !S_ISREG(st.st_mode) || !seen_add(t, st.st_dev, st.st_ino))
				continue;
			probe_file(t, g.gl_pathv[j], g.gl_pathv[j], 0);
		}
		globfree(&g);
	}
}

static void scan_pid(struct tls *t, uint32_t pid)
{
	char fn[64], *line = NULL;
	size_t cap = 0;
	FILE *f;

	if (pid == t->self)
		return;
	snprintf(fn, sizeof(fn), "/proc/%u/maps", pid);
	f = fopen(fn, "re");
	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		uint64_t s, e, dev, ino;
		const char *path;
		char *nl;

		if (tls__maps_line(line, &s, &e, &dev, &ino, &path) != 1)
			continue;
		nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		if (seen_add(t, dev, ino))
			look_at(t, pid, s, e, dev, ino, path);
	}
	free(line);
	fclose(f);
}

static void scan_proc(struct tls *t);

void tls__scan_all(struct tls *t)
{
	if (!t->host_done) {
		t->host_done = t->holding = true;
		if (!t->filtered)
			probe_host_libs(t);
	}
	if (t->filtered) {
		/* the processes --pid follows, the kernel's list */
		uint32_t key, next, *prev = NULL;

		while (!bpf_map__get_next_key(t->filter_pids, prev, &next, sizeof(next))) {
			key = next;
			prev = &key;
			scan_pid(t, key);
		}
		return;
	}
	scan_proc(t);
}

void tls__announce(struct tls *t)
{
	if (!t || !t->holding)
		return;
	t->holding = false;
	if (t->nheld)
		pr_info("TLS: probing OpenSSL in %s\n", t->held);
	else
		pr_info("TLS: no OpenSSL found yet (processes that exec or load it are looked at)\n");
}

static void scan_proc(struct tls *t)
{
	struct dirent *d;
	DIR *dir = opendir("/proc");

	if (!dir)
		return;
	while ((d = readdir(dir))) {
		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		scan_pid(t, (uint32_t)strtoul(d->d_name, NULL, 10));
	}
	closedir(dir);
}

void tls__on_exec(struct tls *t, uint32_t tgid, uint64_t now)
{
	if (!t || t->qn >= EXECQ)
		return; /* the rescan finds it */
	t->q[(t->qhead + t->qn) % EXECQ].tgid = tgid;
	t->q[(t->qhead + t->qn) % EXECQ].ts = now;
	t->qn++;
}

void tls__tick(struct tls *t, uint64_t now)
{
	if (!t)
		return;
	while (t->qn && t->q[t->qhead].ts + TLS__EXEC_DELAY_NS <= now) {
		scan_pid(t, t->q[t->qhead].tgid);
		t->qhead = (t->qhead + 1) % EXECQ;
		t->qn--;
	}
	if (now - t->last_scan >= TLS__RESCAN_NS) {
		t->last_scan = now;
		tls__scan_all(t);
	}
}

struct tls *tls__new(struct bpf_object *obj, const uint32_t *pids, int npids)
{
	static const char *const enames[4] = {"ssl_write_enter", "ssl_read_enter", "ssl_write_ex_enter",
					      "ssl_read_ex_enter"};
	struct tls *t = calloc(1, sizeof(*t));

	(void)pids;
	if (!t)
		return NULL;
	t->seen = calloc(SEEN_SIZE, sizeof(*t->seen));
	t->links = calloc(MAX_FILES * NPROBES, sizeof(*t->links));
	if (!t->seen || !t->links) {
		tls__free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->obj = obj;
	for (int k = 0; k < 4; k++)
		t->enter[k] = bpf_object__find_program_by_name(obj, enames[k]);
	t->exit_plain = bpf_object__find_program_by_name(obj, "ssl_exit");
	t->exit_ex = bpf_object__find_program_by_name(obj, "ssl_ex_exit");
	t->filter_pids = bpf_object__find_map_by_name(obj, "filter_pids");
	if (!t->enter[0] || !t->enter[1] || !t->enter[2] || !t->enter[3] || !t->exit_plain || !t->exit_ex ||
	    !t->filter_pids) {
		pr_err("failed to find TLS programs in BPF object 'spantap': %s\n", strerror(ENOENT));
		tls__free(t);
		errno = ENOENT;
		return NULL;
	}
	t->filtered = npids > 0;
	t->self = (uint32_t)getpid();
	return t;
}

void tls__free(struct tls *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->nlinks; i++)
		bpf_link__destroy(t->links[i]);
	free(t->links);
	free(t->seen);
	free(t);
}

void tls__counts(const struct tls *t, uint64_t *files, uint64_t *uprobes, uint64_t *failed)
{
	*files = t ? t->files : 0;
	*uprobes = t ? t->uprobes : 0;
	*failed = t ? t->failed : 0;
}
