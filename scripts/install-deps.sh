#!/usr/bin/env bash
# Makes a fresh Debian 12 machine ready to build, run and test spantap.
# Installs only what is missing; needs root.
set -euo pipefail
pkgs=(
	# build
	make clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libcurl4-openssl-dev pkg-config
	# tests: unit, then real servers and clients under the real tracer
	libcmocka-dev python3-pytest python3-flask python3-redis redis-server redis-tools nginx curl wrk
	python3-thrift thrift-compiler gunicorn nodejs openssl
	procps iproute2 clang-format
	# cross-node tests: a Service DNAT, an option-stripping middlebox, the wire itself
	iptables tcpdump
	# fuzzing: libFuzzer and the sanitizers' runtimes for clang
	libclang-rt-14-dev
	# benchmark: the floor reference; libprotobuf-c against the OTLP encoder (make bench-otlp)
	bpftrace protobuf-c-compiler libprotobuf-c-dev
	# containers: the real engines for tests/e2e/test_containers.py; the
	# DaemonSet's validation against Kubernetes' own API models
	docker.io containerd runc python3-kubernetes yamllint
	# the profile's tests: the live view in a terminal, a real Prometheus scraping spantap
	tmux prometheus
	# make test-kernels: Debian's kernels under qemu with a busybox initramfs;
	# make ARCH=arm64: the cross compiler (its libraries: scripts/arm64-sysroot.sh)
	qemu-system-x86 qemu-system-arm busybox-static gcc-aarch64-linux-gnu
)
# OTLP tests decode with OpenTelemetry's JavaScript packages from the npm registry
command -v npm >/dev/null || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# the OTLP tests' decoder, pinned, into a cache outside the repository (tests/e2e/otlp_rx.py)
/usr/bin/python3 "$(dirname "$0")/../tests/e2e/otlp_rx.py"
# libbpf attaches tracepoints through tracefs
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
