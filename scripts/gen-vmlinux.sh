#!/usr/bin/env bash
# Regenerates vmlinux/<arch>/vmlinux.h from a kernel's BTF. The committed
# header only needs to be current enough for CO-RE to relocate.
#   scripts/gen-vmlinux.sh                    the running kernel's BTF
#   scripts/gen-vmlinux.sh ARCH IMAGE|DEB     the BTF inside an uncompressed
#       kernel image (arm64's vmlinuz is one) or a Debian linux-image .deb,
#       e.g. arm64 from linux-image-6.1.0-50-arm64 (make test-kernels-all
#       downloads it to /var/cache/spantap-kernels/debs)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
	arch=$(uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
	mkdir -p "vmlinux/$arch"
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > "vmlinux/$arch/vmlinux.h"
	echo "wrote vmlinux/$arch/vmlinux.h"
	exit 0
fi
arch=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [[ $src == *.deb ]]; then
	dpkg-deb --fsys-tarfile "$src" | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*'
	src=$(echo "$tmp"/boot/vmlinuz-*)
fi
# the .BTF section is in the image as is: its header (magic 0xeb9f,
# version 1, 24-byte header) gives its length
/usr/bin/python3 - "$src" "$tmp/btf" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
i = d.find(b"\x9f\xeb\x01\x00\x18\x00\x00\x00")
if i < 0:
    sys.exit("gen-vmlinux: no BTF in %s (compressed image?)" % sys.argv[1])
_, _, _, hdr, _, _, str_off, str_len = struct.unpack_from("<HBBIIIII", d, i)
open(sys.argv[2], "wb").write(d[i : i + hdr + str_off + str_len])
PY
mkdir -p "vmlinux/$arch"
bpftool btf dump file "$tmp/btf" format c > "vmlinux/$arch/vmlinux.h"
echo "wrote vmlinux/$arch/vmlinux.h"
