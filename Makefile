# EdgeVault: the two commands a newcomer needs are `make run` and `make test`.
#   make          build (Release) into build/, executables in build/bin/
#   make run      install dependencies, build, start `edgevault up` on ./edgevault-data
#   make test     install dependencies, build, run every test (CTest summary at the end)
#   make asan     ASan+UBSan build in build-asan/ and its test run
#   make bench    build and run the benchmarks (see docs/performance.md)
JOBS      ?= 2
BUILD     ?= build
DATA_DIR  ?= ./edgevault-data
PORT_BASE ?= 8080
CMAKE_FLAGS ?=

.PHONY: all build deps e2e-deps run test asan bench clean

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

run: deps
	$(MAKE) build
	$(BUILD)/bin/edgevault up --data-dir $(DATA_DIR) --port-base $(PORT_BASE)

test: deps e2e-deps
	$(MAKE) build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

asan: deps e2e-deps
	$(MAKE) build BUILD=build-asan CMAKE_FLAGS="-DEDGEVAULT_SANITIZE=ON -DEDGEVAULT_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo"
	cd build-asan && ctest --output-on-failure -j $(JOBS) --timeout 900

bench: deps
	$(MAKE) build
	bench/http/run.sh $(BUILD)

clean:
	rm -rf build build-asan
