# tau: `make run` and `make test` install what is missing, build, and run.
PKGS := build-essential pkg-config liblua5.4-dev lua5.4 libopenblas-dev libstb-dev check \
        zlib1g-dev libedit-dev dataset-fashion-mnist lua-argparse tmux gnuplot-nox fonts-dejavu-core
# What the build needs from pkg-config, checked instead of PKGS where there is no dpkg.
PKG_MODULES := lua5.4 openblas libedit zlib stb check

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2 -fvect-cost-model=dynamic
# Only luaopen_tau and the declarations marked TAU_API (core/base/api.h) leave tau.so.
override CFLAGS := $(OPT) -std=c11 -Wall -Wextra -D_GNU_SOURCE -fPIC -pthread -fvisibility=hidden -MMD -MP $(SAN) $(CFLAGS)
# The core sees no Lua: its objects are compiled without Lua's include path, so a stray
# `#include "lua.h"` in core/ fails to build.
CORE_CFLAGS := -Icore $(shell pkg-config --cflags openblas zlib stb 2>/dev/null)
BIND_CFLAGS := $(CORE_CFLAGS) $(shell pkg-config --cflags lua5.4 libedit 2>/dev/null)
LDLIBS  := $(shell pkg-config --libs openblas zlib 2>/dev/null) -lstb -lm -lpthread
LUA_LIBS := $(shell pkg-config --libs lua5.4 libedit 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

CORE_SRC := $(sort $(shell find core -name '*.c'))
# The program around the library (driver, REPL, completion) lives in bindings/cli/ and is
# linked only into bin/tau, so that tau.so never depends on libedit.
CLI_SRC  := $(wildcard bindings/cli/*.c)
BIND_SRC := $(filter-out bindings/cli/%,$(wildcard bindings/*.c))
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
BIND_OBJ := $(BIND_SRC:%.c=$(BUILD)/%.o)
CTEST_SRC := $(wildcard tests/core/test_*.c)
CTEST_BIN := $(CTEST_SRC:tests/core/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all install run test asan asan-run bench clean reproduce reproduce-quick FORCE
all: bin/tau tau.so $(CTEST_BIN) $(BENCH_BIN)

# On Debian, apt-get installs whatever of PKGS is missing (and does nothing when all are there);
# elsewhere the pkg-config modules are checked and the missing ones named.
install:
	@if command -v dpkg-query >/dev/null 2>&1; then \
	  missing=""; for p in $(PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	  done; \
	  if [ -n "$$missing" ]; then \
	    SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    echo "installing:$$missing"; \
	    $$SUDO apt-get update -qq && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	  fi; \
	else \
	  command -v pkg-config >/dev/null 2>&1 || { echo "no dpkg and no pkg-config: install pkg-config and the libraries for: $(PKG_MODULES)"; exit 1; }; \
	  missing=""; for m in $(PKG_MODULES); do pkg-config --exists $$m || missing="$$missing $$m"; done; \
	  if [ -n "$$missing" ]; then echo "missing pkg-config modules:$$missing (no dpkg here: install them with the system's package manager)"; exit 1; fi; \
	fi

# Objects depend on the flags they were built with, so changing OPT or SAN rebuilds them.
$(BUILD)/.flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(CFLAGS) $(BIND_CFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) $(BIND_CFLAGS)' > $@

$(BUILD)/core/%.o: core/%.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CORE_CFLAGS) -c $< -o $@

$(BUILD)/bindings/%.o: bindings/%.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BIND_CFLAGS) -c $< -o $@

$(BUILD)/libtaucore.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The interpreter, plain or (under `make asan`) sanitized.
bin/tau $(BUILD)/tau-asan: $(CLI_OBJ) $(BIND_OBJ) $(BUILD)/libtaucore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -rdynamic -o $@ $^ $(LUA_LIBS) $(LDLIBS)

tau.so: $(BIND_OBJ) $(BUILD)/libtaucore.a
	$(CC) $(CFLAGS) -shared -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/core/%.c $(BUILD)/libtaucore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CORE_CFLAGS) -Itests/core -o $@ $< $(BUILD)/libtaucore.a $(CHECK_LIBS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libtaucore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CORE_CFLAGS) -o $@ $< $(BUILD)/libtaucore.a $(LDLIBS)

run: install
	@$(MAKE) --no-print-directory all
	bin/tau experiments/quick.lua

test: install
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) sh tests/run.sh

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer, in its own build tree.
asan: install
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" asan-run

asan-run: $(BUILD)/tau-asan $(CTEST_BIN)
	@CK_TIMEOUT_MULTIPLIER=$${CK_TIMEOUT_MULTIPLIER:-5} ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=tests/lsan.supp TAU=$(BUILD)/tau-asan BUILD=$(BUILD) sh tests/run.sh

# The paper's experiments (experiments/reproduce.lua runs those of tau.experiment.SCRIPTS that
# exist), then results/REPORT.md: at the default scale, or at the smoke scale into results/smoke.
reproduce: install
	@$(MAKE) --no-print-directory all
	nice bin/tau experiments/reproduce.lua

reproduce-quick: install
	@$(MAKE) --no-print-directory all
	bin/tau experiments/reproduce.lua --scale smoke

bench: install
	@$(MAKE) --no-print-directory all
	@sh bench/run.sh

clean:
	rm -rf build build-asan bin tau.so

-include $(shell find $(BUILD) build-asan -name '*.d' 2>/dev/null)
