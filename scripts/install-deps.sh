#!/usr/bin/env bash
# Makes a fresh Debian 12 machine ready to build, run and test spantap.
# Installs only what is missing; needs root.
set -euo pipefail
pkgs=(
	# build
	make clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libcurl4-openssl-dev pkg-config
	# tests: unit, then real servers and clients under the real tracer
	libcmocka-dev python3-pytest python3-flask python3-redis redis-server redis-tools nginx curl wrk
	python3-thrift thrift-compiler gunicorn nodejs
	procps iproute2 clang-format
	# fuzzing: libFuzzer and the sanitizers' runtimes for clang
	libclang-rt-14-dev
	# benchmark: the floor reference
	bpftrace
	# make test-kernels: Debian's kernels under qemu with a busybox initramfs;
	# make ARCH=arm64: the cross compiler (its libraries: scripts/arm64-sysroot.sh)
	qemu-system-x86 qemu-system-arm busybox-static gcc-aarch64-linux-gnu
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# libbpf attaches tracepoints through tracefs
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
