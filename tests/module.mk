# Robustness tooling of the test suite (issue 4): crash torture, fuzzing of
# the read side, static analysis. None of it is installed.
#
#   make torture   crash torture, TORTURE_SECONDS (default 180) on a private
#                  segment with the real tt-alloc-reaper (tests/torture/)
#   make check     runs a ~20 s torture through tests/sh/test_torture.sh

TORTURE_SECONDS ?= 180
TORTURE_SRCS := $(wildcard tests/torture/*.c)
TORTURE_OBJS := $(TORTURE_SRCS:%.c=$(BUILD)/obj/%.o)

$(BUILD)/tt-alloc-torture: $(TORTURE_OBJS) $(LIBTRACK_A)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

# Built with the tests (make check needs it), not a program to install.
TEST_HELPERS += $(BUILD)/tt-alloc-torture

.PHONY: torture
torture: all
	TORTURE_SECONDS=$(TORTURE_SECONDS) $(BUILD)/tt-alloc-torture

# ---------------------------------------------------------------------------
# Fuzzing the read side (tests/fuzz/): libFuzzer, so clang and its runtime
# (Debian: clang, libclang-rt-14-dev). The harness and the code under test
# (shm/, libtrack/, the parts of smi/, reaper/reaper_log.c, exporter/metrics.c) are compiled by clang with coverage,
# ASan and UBSan into $(BUILD)/fuzz/, apart from the normal objects.
#   make fuzz            FUZZ_SECONDS (default 300) of fuzzing, seeds made
#                        afresh from real segments (tests/fuzz/run-fuzz.sh)
#   make check           60 s through tests/sh/test_fuzz.sh
FUZZ_SECONDS ?= 300
FUZZ_CC ?= clang
# Probed once per make run: is there a libFuzzer runtime to link against?
HAVE_LIBFUZZER := $(shell printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' | \
	$(FUZZ_CC) -x c -fsanitize=fuzzer - -o /dev/null >/dev/null 2>&1 && echo yes)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -Iinclude -Ishm -Ilibtrack -Ismi -Ireaper -Iexporter -Itests/fuzz \
	$(PKG_CFLAGS) -Wall -Wextra -Wno-missing-field-initializers $(FUZZ_SAN)
FUZZ_CODE_SRCS := $(CORE_SRCS) $(filter-out smi/tt_smi.c,$(wildcard smi/*.c)) reaper/reaper_log.c \
	exporter/metrics.c
FUZZ_CODE_OBJS := $(FUZZ_CODE_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(BUILD)/fuzz/obj/tests/fuzz/fuzz_segment.o: tests/fuzz/fuzz_segment.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(BUILD)/fuzz/fuzz_segment: $(BUILD)/fuzz/obj/tests/fuzz/fuzz_segment.o $(FUZZ_CODE_OBJS)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(PKG_LIBS) -lpthread

# The bridge's message decoder and the proxy writer it drives.
$(BUILD)/fuzz/fuzz_bridge: $(BUILD)/fuzz/obj/tests/fuzz/fuzz_bridge.o $(BUILD)/fuzz/obj/bridge/bridge_decode.o $(FUZZ_CODE_OBJS)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(PKG_LIBS) -lpthread

# The parsers of the sources beside the segment (libtrack/sources.c): TT-Metal
# segments, sysfs values, pid lists, whole fuzzed host trees.
$(BUILD)/fuzz/obj/tests/fuzz/fuzz_sources.o: tests/fuzz/fuzz_sources.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(BUILD)/fuzz/fuzz_sources: $(BUILD)/fuzz/obj/tests/fuzz/fuzz_sources.o $(FUZZ_CODE_OBJS)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(PKG_LIBS) -lpthread

# The seed maker is an ordinary tracked program (gcc, libtrack.a).
$(BUILD)/obj/tests/fuzz/make_seeds.o: ALL_CFLAGS += -Itests/fuzz
$(BUILD)/fuzz/tta-fuzz-seeds: $(BUILD)/obj/tests/fuzz/make_seeds.o $(LIBTRACK_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

FUZZ_PROGRAMS := $(BUILD)/fuzz/tta-fuzz-seeds
ifeq ($(HAVE_LIBFUZZER),yes)
FUZZ_PROGRAMS += $(BUILD)/fuzz/fuzz_segment $(BUILD)/fuzz/fuzz_bridge $(BUILD)/fuzz/fuzz_sources
endif
# Built with the tests when the toolchain allows; test_fuzz.sh fails with the
# package names when it does not.
TEST_HELPERS += $(FUZZ_PROGRAMS)

.PHONY: fuzz fuzz-build
fuzz-build: $(BUILD)/fuzz/fuzz_segment $(BUILD)/fuzz/tta-fuzz-seeds
fuzz: fuzz-build
	tests/fuzz/run-fuzz.sh $(BUILD) $(FUZZ_SECONDS)

# ---------------------------------------------------------------------------
# Static analysis: cppcheck, the gate (checks and suppressions are listed and
# justified in tests/sh/test_lint.sh, which make check runs too), and the
# clang static analyzer through clang-tidy (.clang-tidy), advisory: it prints
# what it finds without failing, because clang 14 reports known false
# positives in this code (va_list after va_start, ck_pr_cas_ptr ownership).
.PHONY: lint lint-tidy
lint:
	TTA_BUILD=$(BUILD) TTA_SRC=$(CURDIR) bash tests/sh/test_lint.sh
lint-tidy:
	clang-tidy -quiet $(wildcard shm/*.c libtrack/*.c reaper/*.c smi/*.c replay/*.c bench/*.c) \
		-- -std=gnu11 -D_GNU_SOURCE -Iinclude -Ishm -Ilibtrack -Ismi $(PKG_CFLAGS) || true

-include $(shell find $(BUILD)/fuzz/obj -name '*.d' 2>/dev/null)

# helper_sites: a known call chain for the call-site tests. -rdynamic puts
# its functions in the dynamic symbol table, so they are named even by the
# dladdr fallback (without libdw); -g (from CFLAGS) gives libdw file:line.
$(BUILD)/tests/helper_sites: tests/helper_sites.c $(LIBTRACK_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -rdynamic -Itests $< -o $@ $(LIBTRACK_A) $(LDLIBS_ALL)

# test_sites checks the reaper's leak report text too: it links the reaper's
# formatter (reaper/reaper_log.c).
$(BUILD)/tests/test_sites: tests/test_sites.c tests/tta_test.h $(BUILD)/obj/reaper/reaper_log.o \
		$(LIBTRACK_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests -Ireaper $< -o $@ $(BUILD)/obj/reaper/reaper_log.o $(LIBTRACK_A) \
		$(LDLIBS_ALL)
