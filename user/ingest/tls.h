/* Finding OpenSSL in processes and attaching the TLS uprobes (bpf/tls.bpf.h)
 * to it: each distinct file (device, inode) that defines and exports
 * SSL_read and SSL_write (libssl, or an executable that carries OpenSSL
 * statically, as node.js does) gets its probes once; they then fire in
 * every process that maps it, including later ones. */
#ifndef SPANTAP_TLS_H
#define SPANTAP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpf_object;
struct tls;

/* pids: when n > 0, only these processes (and the ones the kernel follows
 * from them, in map filter_pids) are looked at. NULL with errno set. */
struct tls *tls__new(struct bpf_object *obj, const uint32_t *pids, int npids);
void tls__free(struct tls *t); /* detaches every probe */
/* Look through every process now (and every TLS__RESCAN_NS in tls__tick). */
void tls__scan_all(struct tls *t);
/* Say what the first scan probed (held until spantap says it is tracing). */
void tls__announce(struct tls *t);
/* A process exec()ed (ST_EV_EXEC): looked at once its libraries are mapped. */
void tls__on_exec(struct tls *t, uint32_t tgid, uint64_t now);
void tls__tick(struct tls *t, uint64_t now);
/* files probed, uprobes attached, files or probes that failed */
void tls__counts(const struct tls *t, uint64_t *files, uint64_t *uprobes, uint64_t *failed);

/* Pure helpers, exposed for tests. */
#define TLS_SYM_WRITE 1
#define TLS_SYM_READ 2
#define TLS_SYM_WRITE_EX 4
#define TLS_SYM_READ_EX 8
#define TLS_SYM_INIT 16 /* OPENSSL_init_ssl: the library is OpenSSL (1.1.0 and later) */
struct tls_syms {
	unsigned found;	 /* TLS_SYM_* */
	uint64_t off[4]; /* file offsets of SSL_write, SSL_read, SSL_write_ex, SSL_read_ex */
};
/* The OpenSSL functions path defines and exports: 0, or -errno. */
int tls__elf_syms(const char *path, struct tls_syms *out);
/* One line of /proc/PID/maps: 1 for an executable mapping of a file (its
 * range, device and inode; path points into line), 0 for any other, -1
 * when it does not parse. */
int tls__maps_line(const char *line, uint64_t *start, uint64_t *end, uint64_t *dev, uint64_t *ino, const char **path);

#endif
