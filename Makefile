# qbench build.
#   make          build bin/qbench (installs missing Debian packages first)
#   make test     fetch assets, build, run every cmocka suite in tests/
#   make asan     the same suites under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench    build and run every benchmark in bench/ (prints figures, never fails on time)
#   make fuzz     build the libFuzzer harnesses in fuzz/ with clang (run: build-fuzz/fuzz_X fuzz/corpus/X)
#   make demo     the main job on the default model
#   make assets   fill assets/ from $(ASSETS_MIRROR) or the upstream URLs, checking sha256
#   make deps     install the Debian packages qbench needs (apt-get)
# Knobs:
#   NATIVE=0      portable code: no -march=native (for a binary that runs on other CPUs)
#   QB_NO_APT=1   never run apt-get from a plain `make`: a missing dependency is an error instead
#   OPT=...       optimisation flags (default -O2, plus -march=native unless NATIVE=0)

BUILD ?= build
BIN   ?= bin
SAN   ?=

# --- dependencies: installed on demand so a fresh Debian machine needs only `make test` ------------
QB_NO_APT ?= 0
ifeq ($(filter deps clean help,$(MAKECMDGOALS)),)
NEED_DEPS := $(shell sh scripts/check_deps.sh >/dev/null 2>&1 || echo yes)
ifeq ($(NEED_DEPS),yes)
ifeq ($(QB_NO_APT),1)
$(error some dependencies are missing ($(shell sh scripts/check_deps.sh 2>&1)); QB_NO_APT=1 keeps make from installing them: run 'make deps' or install them yourself)
endif
$(info qbench: some dependencies are missing; installing them with scripts/deps.sh (apt-get); QB_NO_APT=1 turns this off)
DEPS_OK := $(shell sh scripts/deps.sh 1>&2 && echo ok)
$(if $(DEPS_OK),,$(error dependency installation failed; run 'make deps' and read its output))
endif
endif

PKGS := openblas lapacke sqlite3 cmocka libcjson yaml-0.1 libutf8proc
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# Debian's libstemmer-dev ships no .pc file; use it through pkg-config when one exists.
STEMMER_LIBS := $(shell pkg-config --libs libstemmer 2>/dev/null || echo -lstemmer)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) $(STEMMER_LIBS) -lm

CC      ?= cc
NATIVE  ?= 1
ifeq ($(NATIVE),0)
OPT     ?= -O2
else
OPT     ?= -O2 -march=native
endif
# -ffp-contract=off: no fused multiply-adds the source does not write, whatever the dialect (GCC
# contracts by default in GNU modes, not with -std=c17) and whatever -march allows. The tests'
# bit-for-bit comparisons (thread counts, shards, reruns) are between builds with the same flags;
# checked: with -ffp-contract=fast the oracle suites still pass, so this pins behaviour rather than
# fixing a known difference.
CFLAGS  := -std=c17 $(OPT) -ffp-contract=off -g -fopenmp -Wall -Wextra -Werror -D_GNU_SOURCE -I. $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := -fopenmp $(EXTRA_LDFLAGS)
ifneq ($(SAN),)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif

# --- sources: every .c in a module folder goes into libqbench.a --------------------------------------
LIB_DIRS  := base model datasets metrics quant harness
LIB_SRCS  := $(filter-out harness/main.c,$(wildcard $(addsuffix /*.c,$(LIB_DIRS))))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB       := $(BUILD)/libqbench.a
TEST_SRCS := $(wildcard tests/test_*.c)
TEST_COMMON_SRCS := $(filter-out $(TEST_SRCS),$(wildcard tests/*.c))
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps assets test asan bench demo clean help fuzz
all: $(BIN)/qbench

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# --- provenance: the commit and the flags that change numerics, rewritten only when they change ------
QB_COMMIT := $(shell git describe --always --dirty --abbrev=12 --exclude='*' 2>/dev/null || echo unknown)
QB_FLAGS  := $(strip $(OPT) -ffp-contract=off $(EXTRA_CFLAGS))
$(BUILD)/qb_build.h: FORCE
	@mkdir -p $(BUILD)
	@printf '#define QB_BUILD_COMMIT "%s"\n#define QB_BUILD_FLAGS "%s"\n' '$(QB_COMMIT)' '$(subst ",,$(QB_FLAGS))' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(BUILD)/harness/provenance.o: $(BUILD)/qb_build.h
$(BUILD)/harness/provenance.o: CFLAGS += -I$(BUILD)
.PHONY: FORCE
FORCE:

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BIN)/qbench: $(BUILD)/harness/main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_COMMON_SRCS:%.c=$(BUILD)/%.o) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The allocation-failure suite replaces malloc and friends for everything linked into it.
$(BUILD)/tests/test_alloc_fail: LDFLAGS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

deps:
	sh scripts/deps.sh

assets:
	sh scripts/assets.sh

test: assets $(BIN)/qbench $(TEST_BINS)
	QBENCH_BIN=$(BIN)/qbench sh scripts/run_tests.sh $(TEST_BINS)

asan:
	$(MAKE) BUILD=build-asan BIN=build-asan/bin SAN=1 OPT=-O1 test

bench: assets $(BIN)/qbench $(BENCH_BINS)
	@for b in $(BENCH_BINS); do echo "== $$b"; QBENCH_BIN=$(BIN)/qbench $$b || exit 1; done

# libFuzzer harnesses (clang), not part of `make test`: build-fuzz/fuzz_NAME fuzz/corpus/NAME
FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
fuzz:
	$(MAKE) BUILD=build-fuzz BIN=build-fuzz/bin CC=clang SAN=1 OPT=-O1 EXTRA_CFLAGS="-fsanitize=fuzzer-no-link -Wno-pass-failed" \
	    build-fuzz/libqbench.a
	@for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); echo "clang $$f -> build-fuzz/$$n"; \
	    clang -std=c17 -O1 -g -D_GNU_SOURCE -I. $(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined $$f \
	    build-fuzz/libqbench.a $(PKG_LIBS) -fopenmp -o build-fuzz/$$n || exit 1; done

demo: assets $(BIN)/qbench
	sh scripts/demo.sh $(BIN)/qbench

clean:
	rm -rf build build-asan build-fuzz bin

help:
	@sed -n '2,14p' Makefile

-include $(LIB_OBJS:.o=.d) $(BUILD)/harness/main.d $(TEST_BINS:=.d) $(BENCH_BINS:=.d)
.SECONDARY:
