#!/bin/sh
# PID 1 of the initramfs (busybox sh): load the modules for 9p, mount the
# shared root read-only with a tmpfs overlay on it, and hand over to the
# guest script named on the kernel command line.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do
	insmod /modules/$m.ko 2>/dev/null || echo "init: insmod $m failed"
done
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
guest=$(arg spantap.guest)
repo=$(arg spantap.repo)
opts=trans=virtio,version=9p2000.L,msize=262144,cache=loose
mkdir -p /lower /rw /newroot
mount -t 9p -o ro,$opts root /lower || { echo "init: cannot mount the shared root"; echo o >/proc/sysrq-trigger; }
mount -t tmpfs -o size=512m tmpfs /rw
mkdir -p /rw/upper /rw/work
if ! mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot; then
	echo "init: overlay failed: the shared root read-only, tmpfs on /tmp"
	mount --bind /lower /newroot
fi
# a root without a shell (unpacked packages only): busybox's applets
sh=/bin/sh
if [ ! -e /newroot/bin/sh ]; then
	mkdir -p /newroot/bbin
	/bin/busybox --install -s /newroot/bbin
	sh=/bbin/sh
fi
for d in proc sys dev; do mount --move /$d /newroot/$d; done
# cgroup v2, as nodes have it: the TCP option's sock_ops program attaches there
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup 2>/dev/null || echo "init: no cgroup2"
mount -t tmpfs tmpfs /newroot/tmp
# the repository, shared on its own: the root may not have it (the arm64
# userland), or /tmp (mounted just above) may hide it (a clone in /tmp)
mkdir -p /newroot$repo
mount -t 9p -o ro,$opts repo /newroot$repo 2>/dev/null || echo "init: cannot mount the repository"
mkdir -p /newroot/tmp/kout
mount -t 9p -o $opts out /newroot/tmp/kout || echo "init: cannot mount the output share"
exec switch_root /newroot $sh "$guest" "$repo"
