SHELL := /bin/bash
# spantap: BPF objects -> skeleton -> one static-ish binary linked with libbpf.
# Everything generated goes to $(OUT). `make V=1` shows the commands.
OUT ?= build
ARCH ?= $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= cc
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

SAN ?=
CFLAGS ?= -g -O2
WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2
USER_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -I$(OUT) -Ibpf -Iuser \
	-DSPANTAP_VERSION='"$(VERSION)"' -MMD -MP $(SAN)
LIBS := -lbpf -lelf -lz -lcurl -lpthread -lm
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-Ivmlinux/$(ARCH) -Ibpf -MMD -MP

# everything but main.c and the loader goes into a library the tests link
CORE_SRC := $(filter-out user/main.c user/loader.c,$(wildcard user/*.c))
CORE_OBJ := $(patsubst user/%.c,$(OUT)/user/%.o,$(CORE_SRC))
APP_OBJ := $(OUT)/user/main.o $(OUT)/user/loader.o
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRC))

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.PHONY: all clean test test-san unit e2e format format-check bench bench-quick fuzz
all: $(OUT)/spantap

$(OUT)/spantap.bpf.o: bpf/spantap.bpf.c | $(OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/spantap.skel.h: $(OUT)/spantap.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

$(OUT)/user/%.o: user/%.c | $(OUT)/user
	$(call msg,CC,$@)
	$(Q)$(CC) $(USER_CFLAGS) -c $< -o $@

$(OUT)/user/loader.o: $(OUT)/spantap.skel.h

$(OUT)/libspantap.a: $(CORE_OBJ)
	$(call msg,AR,$@)
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

# the whole suite: parsers first, then the real tracer in the real kernel
test: format-check unit e2e

# overhead against an untraced run, side by side; appends to bench/RESULTS.md
bench: $(OUT)/spantap
	$(Q)SPANTAP=$(abspath $(OUT)/spantap) /usr/bin/python3 bench/bench.py --out bench/RESULTS.md

# one short round, only to keep the benchmark working (CI)
bench-quick: $(OUT)/spantap
	$(Q)SPANTAP=$(abspath $(OUT)/spantap) /usr/bin/python3 bench/bench.py --quick

# libFuzzer targets (clang, with ASan and UBSan), each run FUZZ_SECONDS on a
# scratch copy of its committed seed corpus
FUZZ_TARGETS := http1 redis tracectx events thrift
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -std=gnu11 \
	-D_GNU_SOURCE -DSPANTAP_VERSION='"fuzz"' -Ibpf -Iuser
$(OUT)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(CORE_SRC) $(wildcard user/*.h) bpf/spantap.h | $(OUT)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(OUT)/fuzz
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $< $(CORE_SRC) -lz -lcurl -lpthread -lm -o $@

fuzz: $(patsubst %,$(OUT)/fuzz/fuzz_%,$(FUZZ_TARGETS))
	$(Q)set -e; for t in $(FUZZ_TARGETS); do \
		rm -rf $(OUT)/fuzz/corpus-$$t; mkdir -p $(OUT)/fuzz/corpus-$$t; \
		cp tests/fuzz/corpus/$$t/* $(OUT)/fuzz/corpus-$$t/; \
		dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
		echo "fuzz $$t: $(FUZZ_SECONDS) s"; \
		$(OUT)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -print_final_stats=1 $$dict \
			$(OUT)/fuzz/corpus-$$t 2>&1 | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)" ; \
		test $${PIPESTATUS[0]} -eq 0; \
	done

# the same suite with AddressSanitizer and UndefinedBehaviorSanitizer
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
test-san:
	$(Q)$(MAKE) --no-print-directory OUT=build-san SAN="$(SAN_FLAGS)" CFLAGS="-g -O1" unit e2e

format:
	clang-format -i bpf/*.c bpf/*.h user/*.c user/*.h tests/unit/*.c tests/fuzz/*.c

format-check:
	clang-format --dry-run --Werror bpf/*.c bpf/*.h user/*.c user/*.h tests/unit/*.c tests/fuzz/*.c

clean:
	rm -rf $(OUT)

-include $(wildcard $(OUT)/*.d $(OUT)/user/*.d)

# user space alone on a synthetic event stream: ns per span, and with
# bench-user-callgrind instructions per span (repeatable on a busy machine)
$(OUT)/bench/userbench: bench/userbench.c $(OUT)/libspantap.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(OUT)/bench
	$(Q)$(CC) $(USER_CFLAGS) $< $(OUT)/libspantap.a $(LIBS) -o $@

.PHONY: bench-user bench-user-callgrind bench-user-digest
bench-user: $(OUT)/bench/userbench
	$(Q)$(OUT)/bench/userbench

bench-user-callgrind: $(OUT)/bench/userbench
	$(Q)bench/userbench-callgrind.sh $(OUT)/bench/userbench

# a hash of every datagram's bytes, compact and binary, built with a fixed
# version string (it is in every datagram): equal before and after a change
# that must not change what spans carry
bench-user-digest:
	$(Q)$(MAKE) --no-print-directory OUT=build-digest VERSION=userbench build-digest/bench/userbench
	$(Q)build-digest/bench/userbench --digest --spans 100000 | tail -1
	$(Q)build-digest/bench/userbench --digest --spans 100000 --binary | tail -1
