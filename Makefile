# EdgeVault: the two commands a newcomer needs are `make run` and `make test`.
#   make          build (Release) into build/, executables in build/bin/, the console's
#                 web app in build/web/ (web/: npm ci, then esbuild)
#   make run      install dependencies, build, start `edgevault up` on ./edgevault-data
#   make test     install dependencies, build, run every test (CTest summary at the end)
#   make asan     ASan+UBSan build in build-asan/ and its test run
#   make bench    build and run the benchmarks (see docs/performance.md)
#   make fuzz     build the libFuzzer harnesses (clang, build-fuzz/) and run each for
#                 FUZZ_SECONDS (docs/testing.md#fuzzing); `make test` runs a short pass
JOBS      ?= 2
BUILD     ?= build
DATA_DIR  ?= ./edgevault-data
PORT_BASE ?= 8080
CMAKE_FLAGS ?=
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: all build web screenshots deps e2e-deps run test asan bench clean fuzz fuzz-build fuzz-check

all: build

deps:
	scripts/install-deps

# npm packages of the end-to-end tests (versions pinned by tests/e2e/package-lock.json).
e2e-deps:
	cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)
	$(MAKE) web

# The console's web app (web/build.mjs: tsc --noEmit, then esbuild) into $(BUILD)/web, where
# edgevault-console finds it (bin/../web). npm ci runs again only when the lockfile changed,
# the bundle only when a source did, so a no-op `make` stays fast.
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/build.mjs web/tsconfig.json web/package-lock.json

web: $(BUILD)/web/index.html

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

$(BUILD)/web/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && node build.mjs $(abspath $(BUILD))/web

run: deps
	$(MAKE) build
	$(BUILD)/bin/edgevault up --data-dir $(DATA_DIR) --port-base $(PORT_BASE)

test: deps e2e-deps
	$(MAKE) build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600
	$(MAKE) fuzz-check

# The fuzz build: clang with libFuzzer + ASan + UBSan, only the harnesses and the
# libraries they link (fuzz/CMakeLists.txt).
$(FUZZ_BUILD)/build.ninja:
	cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Fuzz \
	  -DEDGEVAULT_FUZZ=ON

fuzz-build: $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz

# Every harness replays its committed corpus, then runs a fixed number of mutated
# inputs (CTest tests fuzz.*); part of `make test`.
fuzz-check: deps
	$(MAKE) fuzz-build
	cd $(FUZZ_BUILD) && ctest -L fuzz --output-on-failure -j $(JOBS) --timeout 600

# Every harness for FUZZ_SECONDS; prints the executions per harness.
fuzz: deps
	$(MAKE) fuzz-build
	fuzz/run.sh all $(FUZZ_BUILD) $(FUZZ_SECONDS)

asan: deps e2e-deps
	$(MAKE) build BUILD=build-asan CMAKE_FLAGS="-DEDGEVAULT_SANITIZE=ON -DEDGEVAULT_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo"
	cd build-asan && ctest --output-on-failure -j $(JOBS) --timeout 900

bench: deps e2e-deps
	$(MAKE) build
	bench/http/run.sh $(BUILD)
	EDGEVAULT_BIN_DIR=$(abspath $(BUILD))/bin EDGEVAULT_WEB_DIR=$(abspath $(BUILD))/web node bench/console/run.mjs 20

# The console's screenshots in docs/console/ are the pages the console's browser tests
# (tests/e2e/console*.test.mjs: e2e.console, -configs, -flags, -history, -org) drove in this
# run, at 1280x800; pictures no test takes any more are removed.
screenshots: build
	rm -rf $(BUILD)/screenshots
	cd $(BUILD) && ctest -R '^e2e\.console(-[a-z]+)?$$' -j $(JOBS) --timeout 600 --output-on-failure
	mkdir -p docs/console && rm -f docs/console/*.png && cp $(BUILD)/screenshots/*.png docs/console/

clean:
	rm -rf build build-asan $(FUZZ_BUILD)
