# tt-alloc top-level build. Components add themselves through */module.mk;
# tests are found by pattern (tests/test_*.c, tests/sh/test_*.sh).
#
#   make                 build everything into $(BUILD) (default build/)
#   make check           test suite, then again under ASan+UBSan (build/asan)
#   make check-tsan      multi-threaded writer tests under ThreadSanitizer
#   make demo            live demo on the default segment
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
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden -D_GNU_SOURCE \
             -Ishm -Ilibtrack $(PKG_CFLAGS) $(SAN_FLAGS) $(SAN_DEFS) -MMD -MP
LDLIBS_ALL = $(PKG_LIBS) -lpthread $(SAN_FLAGS)

ifneq ($(SAN),)
SAN_FLAGS := -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_DEFS  := -DTTA_URCU_OUT_OF_LINE
endif

LIBTRACK_VERSION := 1.0.0
LIBTRACK_SONAME  := libtrack.so.1

CORE_SRCS := $(wildcard shm/*.c) $(wildcard libtrack/*.c)
CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/obj/%.o)

LIBTRACK_A  := $(BUILD)/libtrack.a
LIBTRACK_SO := $(BUILD)/libtrack.so.$(LIBTRACK_VERSION)

# Components append to these.
PROGRAMS :=
TEST_PROGRAMS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
TEST_HELPERS  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/helper_*.c))

.PHONY: all check check-fast check-asan check-tsan demo bench install clean deps
all: $(LIBTRACK_A) $(LIBTRACK_SO) $(BUILD)/libtrack.so programs tests

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBTRACK_A): $(CORE_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(LIBTRACK_SO): $(CORE_OBJS) libtrack/libtrack.map
	$(CC) -shared -Wl,-soname,$(LIBTRACK_SONAME) -Wl,--version-script=libtrack/libtrack.map \
	      -Wl,-z,defs -o $@ $(CORE_OBJS) $(LDLIBS_ALL)

$(BUILD)/libtrack.so: $(LIBTRACK_SO)
	ln -sf $(notdir $(LIBTRACK_SO)) $(BUILD)/$(LIBTRACK_SONAME)
	ln -sf $(LIBTRACK_SONAME) $@

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
	$(MAKE) BUILD=build/tsan SAN=thread OPT=-O1 $(LIBTRACK_TSAN_TESTS)
	TTA_SUITE_NAME=tsan TTA_SUITE_FILTER=threads tests/run-suite.sh build/tsan

LIBTRACK_TSAN_TESTS = build/tsan/tests/test_threads

demo: all
	scripts/demo.sh $(BUILD)

deps:
	scripts/install-deps.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
	           $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 $(LIBTRACK_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(LIBTRACK_SO) $(DESTDIR)$(PREFIX)/lib/
	ln -sf $(notdir $(LIBTRACK_SO)) $(DESTDIR)$(PREFIX)/lib/$(LIBTRACK_SONAME)
	ln -sf $(LIBTRACK_SONAME) $(DESTDIR)$(PREFIX)/lib/libtrack.so
	install -m 0644 libtrack/tt_alloc.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(LIBTRACK_VERSION)|g' libtrack/libtrack.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/libtrack.pc
	sed -e 's|@PREFIX@|$(PREFIX)|g' reaper/tt-alloc-reaper.service \
	    > $(DESTDIR)$(PREFIX)/lib/systemd/system/tt-alloc-reaper.service

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(BUILD)/tests -name '*.d' 2>/dev/null)
