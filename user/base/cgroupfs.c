/* cgroup v2 mount lookup and path -> id, for the --cgroup filter and for
 * whatever attaches to cgroups (sock_ops). */
#include "base/cgroupfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* /proc/mounts escapes blanks and backslashes as \ooo */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}

int cgroupfs__v2_mount_in(const char *mounts, char *out, size_t n)
{
	const char *line = mounts;

	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char buf[CGROUPFS_PATH_MAX * 2], dev[64], dir[CGROUPFS_PATH_MAX], type[32];

		if (len < sizeof(buf)) {
			memcpy(buf, line, len);
			buf[len] = 0;
			if (sscanf(buf, "%63s %511s %31s", dev, dir, type) == 3 && strcmp(type, "cgroup2") == 0) {
				unescape(dir);
				if (strlen(dir) >= n)
					return -ENAMETOOLONG;
				strcpy(out, dir);
				return 0;
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	return -ENOENT;
}

int cgroupfs__v2_mount(char *out, size_t n)
{
	static char buf[1 << 16];
	int fd = open("/proc/mounts", O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t r;

	if (fd < 0)
		return -errno;
	while (len < sizeof(buf) - 1 && (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	buf[len] = 0;
	return cgroupfs__v2_mount_in(buf, out, n);
}

int cgroupfs__id(const char *path, uint64_t *id)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = {.fh.handle_bytes = sizeof(uint64_t)};
	struct stat st;
	int mnt;

	/* the file handle of a cgroup directory is its kernfs id, which is what
	 * bpf_get_current_cgroup_id() returns; the inode number is the same on
	 * 64-bit kernels */
	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mnt, 0) == 0 && h.fh.handle_bytes == sizeof(uint64_t)) {
		memcpy(id, h.fh.f_handle, sizeof(*id));
		return 0;
	}
	if (stat(path, &st))
		return -errno;
	*id = (uint64_t)st.st_ino;
	return 0;
}

int cgroupfs__resolve_v2(const char *arg, char *abs, size_t n, uint64_t *id)
{
	char mnt[CGROUPFS_PATH_MAX];
	size_t ml;
	struct statfs fs;
	struct stat st;
	int err = cgroupfs__v2_mount(mnt, sizeof(mnt));

	if (err)
		return err;
	ml = strlen(mnt);
	while (ml > 1 && mnt[ml - 1] == '/')
		mnt[--ml] = 0;
	if (strncmp(arg, mnt, ml) == 0 && (arg[ml] == '/' || arg[ml] == 0)) {
		if (snprintf(abs, n, "%s", arg) >= (int)n)
			return -ENAMETOOLONG;
	} else if (stat(arg, &st) == 0 && arg[0] == '/' && strcmp(arg, "/") != 0) {
		return -ENOTDIR; /* a directory, but outside the cgroup2 mount */
	} else {
		if (snprintf(abs, n, "%s%s%s", mnt, arg[0] == '/' ? "" : "/", arg) >= (int)n)
			return -ENAMETOOLONG;
	}
	/* one spelling: no trailing slash (but "/" stays the mount itself) */
	for (size_t l = strlen(abs); l > ml && abs[l - 1] == '/'; l--)
		abs[l - 1] = 0;
	if (stat(abs, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode) || statfs(abs, &fs) || fs.f_type != CGROUP2_SUPER_MAGIC)
		return -ENOTDIR;
	return cgroupfs__id(abs, id);
}
