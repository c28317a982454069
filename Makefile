# eddy — build, run and test. Meson and Ninja do the work; this file only
# names the jobs. Every target first runs scripts/bootstrap, which installs
# what is missing from Debian's packages and does nothing otherwise.

BUILD       ?= build
TEST_BUILD  ?= build-test
FUZZ_BUILD  ?= build-fuzz
COV_BUILD   ?= build-coverage
BENCH_BUILD ?= build-bench
PREFIX      ?= /usr/local
FUZZ_SECONDS ?= 60

.PHONY: all build run test unit fuzz bench coverage install format clean bootstrap

all: build

bootstrap:
	@scripts/bootstrap

# The normal build: optimized with debug info, libeddy shared and static.
$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX) -Dtests=false
build: bootstrap $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The main job: eddyd in the foreground, every service on loopback; it prints
# where each one listens. Ctrl-C stops it. Pass options with ARGS, e.g.
# `make run ARGS="--cache-memory 256M --log-level debug"`.
run: build
	@echo "eddy: starting eddyd (Ctrl-C stops it; see $(BUILD)/daemon/eddyd --help)"
	@echo "eddy: dashboard http://127.0.0.1:7700/  demo http://127.0.0.1:7700/demo"
	$(BUILD)/daemon/eddyd $(ARGS)

# Tests run on a build with AddressSanitizer and UndefinedBehaviorSanitizer;
# the fuzzers on a clang build (which also proves clang compiles eddy).
$(TEST_BUILD)/build.ninja:
	meson setup $(TEST_BUILD) -Db_sanitize=address,undefined -Db_lundef=false
$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Dtests=false \
	  -Db_sanitize=address,undefined -Db_lundef=false

test: bootstrap $(TEST_BUILD)/build.ninja $(FUZZ_BUILD)/build.ninja
	meson setup --reconfigure $(TEST_BUILD) >/dev/null
	ninja -C $(TEST_BUILD)
	ninja -C $(FUZZ_BUILD)
	FUZZ_SECONDS=$${FUZZ_SECONDS:-10} scripts/run-tests $(TEST_BUILD) $(FUZZ_BUILD)

fuzz: bootstrap $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	@for f in $(FUZZ_BUILD)/fuzz/fuzz_*; do \
	  [ -x "$$f" ] || continue; n=$$(basename $$f); \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  mkdir -p fuzz/artifacts; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=fuzz/artifacts/ \
	    $$( [ -f fuzz/$$n.dict ] && echo -dict=fuzz/$$n.dict ) \
	    fuzz/corpus/$$n || exit 1; \
	done

bench:
	@scripts/bootstrap bench
	bench/run-echo-bench
	bench/run-cache-bench
	bench/run-lock-bench
	bench/run-http-bench
	bench/run-fanout-bench
	bench/run-ws-bench
	bench/run-broadcast-bench

$(COV_BUILD)/build.ninja:
	meson setup $(COV_BUILD) -Db_coverage=true --buildtype=debug
coverage: bootstrap $(COV_BUILD)/build.ninja
	ninja -C $(COV_BUILD)
	-FUZZ_SECONDS=0 scripts/run-tests $(COV_BUILD) /nonexistent >/dev/null
	gcovr -r . --filter 'src/' $(COV_BUILD) --print-summary \
	  --html-details $(COV_BUILD)/coverage.html | tail -n 3
	@echo "coverage: report in $(COV_BUILD)/coverage.html"

install: build
	meson install -C $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(FUZZ_BUILD) $(COV_BUILD) $(BENCH_BUILD)
