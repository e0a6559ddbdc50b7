# tt-alloc top-level build. Components add themselves through */module.mk;
# tests are found by pattern (tests/test_*.c, tests/sh/test_*.sh).
#
#   make                 build everything into $(BUILD) (default build/)
#   make check           test suite, then again under ASan+UBSan (build/asan)
#   make check-tsan      multi-threaded writer tests under ThreadSanitizer
#   make demo            live demo on the default segment (dashboard included)
#   make exporter-load   the exporter under 50 scrapers for 10 s
#   make bench           benchmark (about two minutes)
#   make install PREFIX=/usr/local [DESTDIR=...]

BUILD    ?= build
SAN      ?=
PREFIX   ?= /usr/local
DESTDIR  ?=

CC       ?= cc
PKGS     := ck liburcu-bp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lck -lurcu-bp)

OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-missing-field-initializers
# Internal code sees the private headers; tools that must build against the
# installed library alone (tt-smi, tt-alloc-replay) override INCLUDES with
# PUBLIC_INCLUDES in their module.mk.
PUBLIC_INCLUDES := -Iinclude
INCLUDES = $(PUBLIC_INCLUDES) -Ishm -Ilibtrack
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden -D_GNU_SOURCE \
             $(INCLUDES) $(PKG_CFLAGS) $(SAN_FLAGS) $(SAN_DEFS) -MMD -MP
LDLIBS_ALL = $(PKG_LIBS) -lpthread $(SAN_FLAGS)

ifneq ($(SAN),)
SAN_FLAGS := -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_DEFS  := -DTTA_URCU_OUT_OF_LINE
endif

TTA_VERSION := 2.0.0
TTA_SONAME  := libttalloc.so.2

CORE_SRCS := $(wildcard shm/*.c) $(wildcard libtrack/*.c)
CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/obj/%.o)

# libttalloc.a, installed: one relocatable object whose hidden (internal)
# symbols are made local, so a static user sees the public API only.
# libttalloc-internal.a, never installed: the same code with the internal
# symbols visible, for the reaper, the bench and the tests, which use shm/.
LIB_A          := $(BUILD)/libttalloc.a
LIB_INTERNAL_A := $(BUILD)/libttalloc-internal.a
LIB_SO         := $(BUILD)/libttalloc.so.$(TTA_VERSION)
# Compatibility with module.mk files: internal users link this.
LIBTRACK_A     := $(LIB_INTERNAL_A)
PUBLIC_HEADERS := $(wildcard include/tt-alloc/*.h)

# Components append to these.
PROGRAMS :=
TEST_PROGRAMS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
TEST_HELPERS  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/helper_*.c))

.PHONY: all check check-fast check-asan check-tsan demo bench install clean deps exporter-load
all: $(LIB_A) $(LIB_INTERNAL_A) $(LIB_SO) $(BUILD)/libttalloc.so programs tests

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB_INTERNAL_A): $(CORE_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(LIB_A): $(CORE_OBJS)
	@mkdir -p $(@D)
	$(LD) -r -o $(BUILD)/libttalloc-all.o $(CORE_OBJS)
	objcopy --localize-hidden $(BUILD)/libttalloc-all.o
	rm -f $@ && ar rcs $@ $(BUILD)/libttalloc-all.o

$(LIB_SO): $(CORE_OBJS) libtrack/libttalloc.map
	$(CC) -shared -Wl,-soname,$(TTA_SONAME) -Wl,--version-script=libtrack/libttalloc.map \
	      -Wl,-z,defs -o $@ $(CORE_OBJS) $(LDLIBS_ALL)

$(BUILD)/libttalloc.so: $(LIB_SO)
	ln -sf $(notdir $(LIB_SO)) $(BUILD)/$(TTA_SONAME)
	ln -sf $(TTA_SONAME) $@

$(BUILD)/tests/%: tests/%.c tests/tta_test.h tests/tta_test_util.h $(LIBTRACK_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests $< -o $@ $(LIBTRACK_A) $(LDLIBS_ALL)

include $(wildcard */module.mk)

programs: $(PROGRAMS)
tests: $(TEST_PROGRAMS) $(TEST_HELPERS)
.PHONY: programs tests

# The suite: plain build, then the same suite under ASan+UBSan in its own
# tree, then the multi-threaded writer tests under ThreadSanitizer.
check: all
	tests/run-suite.sh $(BUILD)
	$(MAKE) check-asan
	$(MAKE) check-tsan

check-fast: all
	tests/run-suite.sh $(BUILD)

check-asan:
	$(MAKE) BUILD=build/asan SAN=address,undefined OPT=-O1 all
	TTA_SUITE_NAME=asan+ubsan tests/run-suite.sh build/asan

check-tsan:
	$(MAKE) BUILD=build/tsan SAN=thread OPT=-O1 $(TSAN_TESTS)
	TTA_SUITE_NAME=tsan TTA_SUITE_FILTER=threads tests/run-suite.sh build/tsan

TSAN_TESTS = build/tsan/tests/test_threads

demo: all
	scripts/demo.sh $(BUILD)

# The load test of make check (5 s there), for its full 10 s.
exporter-load: all
	TTA_EXPORTER_LOAD_SECONDS=10 TTA_SUITE_FILTER=test_exporter_load tests/run-suite.sh $(BUILD)

deps:
	scripts/install-deps.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/tt-alloc \
	           $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/
	ln -sf $(notdir $(LIB_SO)) $(DESTDIR)$(PREFIX)/lib/$(TTA_SONAME)
	ln -sf $(TTA_SONAME) $(DESTDIR)$(PREFIX)/lib/libttalloc.so
	install -m 0644 $(PUBLIC_HEADERS) $(DESTDIR)$(PREFIX)/include/tt-alloc/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(TTA_VERSION)|g' libtrack/tt-alloc.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/tt-alloc.pc
	sed -e 's|@PREFIX@|$(PREFIX)|g' reaper/tt-alloc-reaper.service \
	    > $(DESTDIR)$(PREFIX)/lib/systemd/system/tt-alloc-reaper.service
	sed -e 's|@PREFIX@|$(PREFIX)|g' bridge/tt-alloc-bridge.service \
	    > $(DESTDIR)$(PREFIX)/lib/systemd/system/tt-alloc-bridge.service
	sed -e 's|@PREFIX@|$(PREFIX)|g' exporter/tt-alloc-exporter.service \
	    > $(DESTDIR)$(PREFIX)/lib/systemd/system/tt-alloc-exporter.service

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(BUILD)/tests -name '*.d' 2>/dev/null)
