/* Unit tests of the TLS attach helpers (ingest/tls.c): /proc/PID/maps lines
 * and the OpenSSL symbols of an ELF file, checked against the system's
 * libssl and against a file that is not OpenSSL. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cmocka.h>

#include "ingest/tls.h"

static void test_maps_line(void **state)
{
	uint64_t s, e, dev, ino;
	const char *path;

	(void)state;
	assert_int_equal(tls__maps_line("7f1c2a035000-7f1c2a0a1000 r-xp 00035000 fe:00 1234567    "
					"/usr/lib/x86_64-linux-gnu/libssl.so.3\n",
					&s, &e, &dev, &ino, &path),
			 1);
	assert_true(s == 0x7f1c2a035000ULL && e == 0x7f1c2a0a1000ULL);
	assert_true(dev == makedev(0xfe, 0) && ino == 1234567);
	assert_string_equal(path, "/usr/lib/x86_64-linux-gnu/libssl.so.3\n");
	/* not executable, anonymous, a pseudo file: not looked at */
	assert_int_equal(tls__maps_line("7f1c2a000000-7f1c2a035000 r--p 00000000 fe:00 1234567 /usr/lib/libssl.so.3",
					&s, &e, &dev, &ino, &path),
			 0);
	assert_int_equal(tls__maps_line("7ffd5d3a1000-7ffd5d3a3000 r-xp 00000000 00:00 0                  [vdso]", &s,
					&e, &dev, &ino, &path),
			 0);
	assert_int_equal(tls__maps_line("7f00-7f10 r-xp 00000000 00:00 0 ", &s, &e, &dev, &ino, &path), 0);
	/* garbage */
	assert_int_equal(tls__maps_line("", &s, &e, &dev, &ino, &path), -1);
	assert_int_equal(tls__maps_line("hello world", &s, &e, &dev, &ino, &path), -1);
}

/* the offsets nm gives (for libssl, file offset = address in .text) */
static uint64_t nm_addr(const char *file, const char *sym)
{
	char cmd[512], line[256];
	uint64_t v = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "nm -D --defined-only %s 2>/dev/null", file);
	f = popen(cmd, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a;
		char type, name[200];
		if (sscanf(line, "%llx %c %199s", &a, &type, name) == 3 && !strncmp(name, sym, strlen(sym)) &&
		    (name[strlen(sym)] == 0 || name[strlen(sym)] == '@'))
			v = a;
	}
	pclose(f);
	return v;
}

static void test_elf_syms(void **state)
{
	const char *lib = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
	static const char *const names[4] = {"SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex"};
	struct tls_syms s;

	(void)state;
	if (access(lib, R_OK) == 0) {
		assert_int_equal(tls__elf_syms(lib, &s), 0);
		assert_int_equal(s.found,
				 TLS_SYM_WRITE | TLS_SYM_READ | TLS_SYM_WRITE_EX | TLS_SYM_READ_EX | TLS_SYM_INIT);
		for (int k = 0; k < 4; k++) {
			uint64_t want = nm_addr(lib, names[k]);
			if (want)
				assert_true(s.off[k] == want);
		}
	}
	/* an ELF file without OpenSSL; a file that is not ELF; none at all */
	assert_int_equal(tls__elf_syms("/bin/true", &s), 0);
	assert_int_equal(s.found, 0);
	char tmp[] = "/tmp/spantap-test-tls-XXXXXX";
	int fd = mkstemp(tmp);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not an ELF file\n", 16), 16);
	close(fd);
	assert_int_equal(tls__elf_syms(tmp, &s), -ENOEXEC);
	unlink(tmp);
	assert_int_equal(tls__elf_syms("/nonexistent/libssl.so.3", &s), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maps_line),
		cmocka_unit_test(test_elf_syms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
