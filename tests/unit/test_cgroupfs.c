/* Unit tests of cgroup v2 mount discovery over recorded /proc/mounts texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "base/cgroupfs.h"

static void test_v2_mount(void **state)
{
	/* hybrid (this CI machine, Debian 12 without systemd), pure v2, v1 only */
	static const char hybrid[] = "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n"
				     "tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0\n"
				     "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n"
				     "cgroup /sys/fs/cgroup/pids cgroup rw,nosuid,nodev,noexec,relatime,pids 0 0\n";
	static const char pure[] = "proc /proc proc rw 0 0\n"
				   "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0";
	static const char v1[] = "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n";
	static const char escaped[] = "none /run/my\\040cg cgroup2 rw 0 0\n";
	char out[CGROUPFS_PATH_MAX];

	(void)state;
	assert_int_equal(cgroupfs__v2_mount_in(hybrid, out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup/unified");
	assert_int_equal(cgroupfs__v2_mount_in(pure, out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup");
	assert_int_equal(cgroupfs__v2_mount_in(v1, out, sizeof(out)), -ENOENT);
	assert_int_equal(cgroupfs__v2_mount_in("", out, sizeof(out)), -ENOENT);
	assert_int_equal(cgroupfs__v2_mount_in(escaped, out, sizeof(out)), 0);
	assert_string_equal(out, "/run/my cg");
	assert_int_equal(cgroupfs__v2_mount_in(pure, out, 8), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v2_mount),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
