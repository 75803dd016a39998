# EdgeVault: the two commands a newcomer needs are `make run` and `make test`.
#   make          the product only (Release, no tests: needs neither GoogleTest nor Node.js)
#                 into build/, executables in build/bin/; the console's web app in build/web/
#                 when Node.js is installed (WEB=auto; WEB=off skips it, WEB=on requires it)
#   make build    the same with every test and benchmark (what `make test` runs; ctest in build/)
#   make run      install dependencies, build the product, start `edgevault up` on ./edgevault-data
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

WEB       ?= auto

.PHONY: all product build configure web product-web screenshots deps e2e-deps run test asan bench clean fuzz fuzz-build fuzz-check

all: product

deps:
	scripts/install-deps

# npm packages of the end-to-end tests (versions pinned by tests/e2e/package-lock.json).
e2e-deps:
	cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error

# One build directory serves both: `make` configures it with EDGEVAULT_TESTS=OFF, `make build`
# with ON, and each re-runs CMake only when the directory is new or set the other way
# (objects are shared, so switching rebuilds nothing of the product).
TESTS ?= ON
configure:
	@if [ ! -f $(BUILD)/build.ninja ] || \
	    ! grep -qx 'EDGEVAULT_TESTS:BOOL=$(TESTS)' $(BUILD)/CMakeCache.txt; then \
	  cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DEDGEVAULT_TESTS=$(TESTS) \
	    $(CMAKE_FLAGS); \
	fi

product:
	$(MAKE) configure TESTS=OFF
	cmake --build $(BUILD) -j $(JOBS)
	$(MAKE) product-web

# The web app needs Node.js (tsc, esbuild from npm). Without it the product build still
# succeeds and the console serves a page saying the web app is not built.
product-web:
ifeq ($(WEB),off)
	@echo "web app skipped (WEB=off): the console will say it is not built"
else ifeq ($(WEB),on)
	$(MAKE) web
else
	@if command -v node >/dev/null && command -v npm >/dev/null; then $(MAKE) web; else \
	  echo "Node.js not found: web app not built (the console will say so; install nodejs and npm, or WEB=off)"; fi
endif

build:
	$(MAKE) configure TESTS=ON
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
	$(MAKE) product
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
