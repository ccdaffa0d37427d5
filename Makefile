SHELL := /bin/bash
# spantap: BPF objects -> skeleton -> one static-ish binary linked with libbpf.
# Everything generated goes to $(OUT). `make V=1` shows the commands.
HOST_ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
ARCH ?= $(HOST_ARCH)
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= cc
# `make ARCH=arm64` on another host: Debian's cross compiler and an arm64
# sysroot unpacked from Debian's packages (scripts/arm64-sysroot.sh), into
# build-arm64/ (`make ARCH=arm64 test-kernels-all` boots it)
ifneq ($(ARCH),$(HOST_ARCH))
ifneq ($(ARCH),arm64)
$(error ARCH=$(ARCH): only arm64 cross builds are set up)
endif
OUT ?= build-arm64
CC := aarch64-linux-gnu-gcc
AR := aarch64-linux-gnu-ar
SYSROOT ?= $(shell bash scripts/arm64-sysroot.sh)
CFLAGS ?= -g -O2
CFLAGS += --sysroot=$(SYSROOT)
endif
OUT ?= build
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

SAN ?=
CFLAGS ?= -g -O2
WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2
USER_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -I$(OUT) -Ibpf -Iuser \
	-DSPANTAP_VERSION='"$(VERSION)"' -MMD -MP $(SAN)
LIBS := -lbpf -lelf -lz -lcurl -lpthread -lm
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-Ivmlinux/$(ARCH) -Ibpf -MMD -MP

# user/ is one folder per pipeline stage (see scripts/check-layout.sh);
# every .c under it is built, objects mirror the folders under $(OUT)/user/.
# Everything but main.c and the loader goes into a library the tests link.
USER_SRC := $(sort $(shell find user -name '*.c'))
USER_HDR := $(sort $(shell find user -name '*.h'))
USER_OBJ := $(patsubst user/%.c,$(OUT)/user/%.o,$(USER_SRC))
CORE_SRC := $(filter-out user/main.c user/ingest/loader.c,$(USER_SRC))
CORE_OBJ := $(patsubst user/%.c,$(OUT)/user/%.o,$(CORE_SRC))
APP_OBJ := $(OUT)/user/main.o $(OUT)/user/ingest/loader.o
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRC))

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.PHONY: test-kernels test-kernels-all
.PHONY: all clean test test-san unit e2e format format-check check-layout check-deploy image-test bench bench-quick fuzz fuzz-regress
all: $(OUT)/spantap

$(OUT)/spantap.bpf.o: bpf/spantap.bpf.c | $(OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/spantap.skel.h: $(OUT)/spantap.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

$(OUT)/user/%.o: user/%.c | $(OUT)/user
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) -c $< -o $@

$(OUT)/user/ingest/loader.o: $(OUT)/spantap.skel.h

# ar names members by basename: sources under user/ keep distinct basenames
# (scripts/check-layout.sh checks), and the archive is rebuilt from scratch
$(OUT)/libspantap.a: $(CORE_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^

$(OUT)/spantap: $(APP_OBJ) $(OUT)/libspantap.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN) $^ $(LIBS) -o $@

$(OUT)/tests/%: tests/unit/%.c $(OUT)/libspantap.a | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(USER_CFLAGS) $< $(OUT)/libspantap.a -lcmocka $(LIBS) -o $@

$(OUT) $(OUT)/user $(OUT)/tests:
	$(Q)mkdir -p $@

unit: $(UNIT_BIN)
	$(Q)set -e; for t in $(UNIT_BIN); do $$t; done

e2e: $(OUT)/spantap
	$(Q)SPANTAP=$(abspath $(OUT)/spantap) /usr/bin/python3 -m pytest -q tests/e2e

# dependencies between user/'s folders point down, and never in a cycle
# (the order is declared in the script); the self-test proves it can fail
check-layout:
	$(Q)bash scripts/check-layout.sh --self-test
	$(Q)bash scripts/check-layout.sh

# the Kubernetes manifests against Kubernetes' own API models (no cluster:
# kubectl's client-side dry run still needs an API server)
check-deploy:
	$(Q)/usr/bin/python3 scripts/check-deploy.py deploy/kubernetes/*.yaml

# the container image, built and run against the real Docker engine from a
# Debian base made here (mmdebstrap; no registry needed): slow, not in CI
image-test: $(OUT)/spantap
	$(Q)SPANTAP=$(abspath $(OUT)/spantap) SPANTAP_IMAGE_TEST=1 /usr/bin/python3 -m pytest -q tests/e2e/test_image.py

# the whole suite: parsers first, then the real tracer in the real kernel
test: format-check check-layout check-deploy unit e2e

# Debian's generic kernels booted under qemu (TCG), the built spantap run
# inside against nginx and redis-server, the spans checked (the host's own
# kernel is covered by `make test`); downloads are cached in
# /var/cache/spantap-kernels. test-kernels-all adds the arm64 boot.
KERNELS ?= 5.10 6.1 6.12
test-kernels: $(OUT)/spantap
	$(Q)/usr/bin/python3 tests/kernels/kernels.py --spantap $(OUT)/spantap $(KERNELS)

test-kernels-all: test-kernels
	$(Q)$(MAKE) --no-print-directory ARCH=arm64 build-arm64/spantap
	$(Q)/usr/bin/python3 tests/kernels/kernels.py --spantap build-arm64/spantap arm64-6.1

# overhead against an untraced run, side by side; appends to bench/RESULTS.md
bench: $(OUT)/spantap
	$(Q)SPANTAP=$(abspath $(OUT)/spantap) /usr/bin/python3 bench/bench.py --out bench/RESULTS.md

# one short round, only to keep the benchmark working (CI)
bench-quick: $(OUT)/spantap
	$(Q)SPANTAP=$(abspath $(OUT)/spantap) /usr/bin/python3 bench/bench.py --quick

# libFuzzer targets (clang, with ASan and UBSan), each run FUZZ_SECONDS on a
# scratch copy of its committed seed corpus, after replaying every input in
# tests/fuzz/regressions/<target>/ once; what a run finds is written under
# $(OUT)/fuzz/artifacts/<target>/, never into the source tree
FUZZ_TARGETS := http1 redis tracectx events thrift otlp metrics
FUZZ_SECONDS ?= 60
FUZZ_BIN := $(patsubst %,$(OUT)/fuzz/fuzz_%,$(FUZZ_TARGETS))
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -std=gnu11 \
	-D_GNU_SOURCE -DSPANTAP_VERSION='"fuzz"' -Ibpf -Iuser
$(OUT)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(CORE_SRC) $(USER_HDR) bpf/spantap.h | $(OUT)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(OUT)/fuzz
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $< $(CORE_SRC) -lbpf -lelf -lz -lcurl -lpthread -lm -o $@

# every input that once crashed a target, run once through it
fuzz-regress: $(FUZZ_BIN)
	$(Q)set -e; for t in $(FUZZ_TARGETS); do \
		inputs=$$(find tests/fuzz/regressions/$$t -type f 2>/dev/null | sort); \
		[ -n "$$inputs" ] || continue; \
		mkdir -p $(OUT)/fuzz/artifacts/$$t; \
		echo "fuzz $$t: $$(echo "$$inputs" | wc -l) regression inputs"; \
		$(OUT)/fuzz/fuzz_$$t -artifact_prefix=$(OUT)/fuzz/artifacts/$$t/ $$inputs >$(OUT)/fuzz/regress-$$t.log 2>&1 || \
			{ grep -E "^(Running|==[0-9]+==ERROR|SUMMARY)" $(OUT)/fuzz/regress-$$t.log; exit 1; }; \
	done

fuzz: fuzz-regress
	$(Q)set -e; for t in $(FUZZ_TARGETS); do \
		rm -rf $(OUT)/fuzz/corpus-$$t; mkdir -p $(OUT)/fuzz/corpus-$$t $(OUT)/fuzz/artifacts/$$t; \
		cp tests/fuzz/corpus/$$t/* $(OUT)/fuzz/corpus-$$t/; \
		dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
		echo "fuzz $$t: $(FUZZ_SECONDS) s"; \
		$(OUT)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -print_final_stats=1 $$dict \
			-artifact_prefix=$(OUT)/fuzz/artifacts/$$t/ \
			$(OUT)/fuzz/corpus-$$t 2>&1 | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)" ; \
		test $${PIPESTATUS[0]} -eq 0; \
	done

# the same suite with AddressSanitizer and UndefinedBehaviorSanitizer
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
test-san:
	$(Q)$(MAKE) --no-print-directory OUT=build-san SAN="$(SAN_FLAGS)" CFLAGS="-g -O1" unit e2e

FORMAT_SRC = $(wildcard bpf/*.c bpf/*.h) $(USER_SRC) $(USER_HDR) $(wildcard tests/unit/*.[ch] tests/fuzz/*.c)

format:
	clang-format -i $(FORMAT_SRC)

format-check:
	clang-format --dry-run --Werror $(FORMAT_SRC)

clean:
	rm -rf $(OUT)

# dependency files of every object, in whatever folder (missing ones are skipped)
-include $(wildcard $(OUT)/*.d) $(USER_OBJ:.o=.d) $(UNIT_BIN:=.d)

# user space alone on a synthetic event stream: ns per span, and with
# bench-user-callgrind instructions per span (repeatable on a busy machine)
$(OUT)/bench/userbench: bench/userbench.c $(OUT)/libspantap.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(OUT)/bench
	$(Q)$(CC) $(USER_CFLAGS) $< $(OUT)/libspantap.a $(LIBS) -o $@

.PHONY: bench-user bench-user-callgrind bench-user-digest bench-user-profile
bench-user: $(OUT)/bench/userbench
	$(Q)$(OUT)/bench/userbench
	$(Q)echo "with the OTLP exporter's batcher and encoder instead (no HTTP):"
	$(Q)$(OUT)/bench/userbench --otlp

bench-user-callgrind: $(OUT)/bench/userbench
	$(Q)bench/userbench-callgrind.sh $(OUT)/bench/userbench

# what the latency profile and a Prometheus exposition a second add per
# span: instructions with and without, then CPU time, off and on in turn
bench-user-profile: $(OUT)/bench/userbench
	$(Q)bench/userbench-callgrind.sh $(OUT)/bench/userbench > $(OUT)/bench/cg-base.txt
	$(Q)USERBENCH_ARGS=--profile bench/userbench-callgrind.sh $(OUT)/bench/userbench > $(OUT)/bench/cg-profile.txt
	$(Q)join $(OUT)/bench/cg-base.txt $(OUT)/bench/cg-profile.txt | awk '{ printf "%-15s %6.0f -> %6.0f instructions/span  %+5.1f%%\n", $$1, $$4, $$8, 100 * ($$8 / $$4 - 1) }'
	$(Q)$(OUT)/bench/userbench --ab 7 --spans 100000

# a hash of every datagram's bytes, compact and binary, built with a fixed
# version string (it is in every datagram): equal before and after a change
# that must not change what spans carry
bench-user-digest:
	$(Q)$(MAKE) --no-print-directory OUT=build-digest VERSION=userbench build-digest/bench/userbench
	$(Q)build-digest/bench/userbench --digest --spans 100000 | tail -1
	$(Q)build-digest/bench/userbench --digest --spans 100000 --binary | tail -1
	$(Q)build-digest/bench/userbench --digest --spans 100000 --otlp | tail -1

# the OTLP span encoder against libprotobuf-c on the same spans: identical
# bytes, ns per span (bench/otlp-codec.sh fetches OpenTelemetry's .proto files)
.PHONY: bench-otlp
OTLP_ITERS ?= 2000000
bench-otlp: $(OUT)/libspantap.a
	$(Q)bench/otlp-codec.sh $(OUT) $(OUT)/libspantap.a $(OTLP_ITERS)
