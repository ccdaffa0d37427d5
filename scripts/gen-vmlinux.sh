#!/usr/bin/env bash
# Regenerates vmlinux/<arch>/vmlinux.h from the running kernel's BTF. The
# committed header only needs to be current enough for CO-RE to relocate.
set -euo pipefail
arch=$(uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
cd "$(dirname "$0")/.."
mkdir -p "vmlinux/$arch"
bpftool btf dump file /sys/kernel/btf/vmlinux format c > "vmlinux/$arch/vmlinux.h"
echo "wrote vmlinux/$arch/vmlinux.h"
