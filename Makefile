# The two commands of the README: `make run` and `make test`. Everything else is a helper.
BUILD_DIR ?= build
PRESET    ?= default
JOBS      ?= $(shell nproc)
CONFIG    ?= config/daemoneye.yaml

.PHONY: all deps configure build run test asan tsan release fuzz bench format tidy clean

all: build

deps:
	@scripts/install-deps

$(BUILD_DIR)/build.ninja: | deps
	cmake --preset $(PRESET)

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/bin/daemoneye-agent --config $(CONFIG)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) --timeout 300

asan tsan release fuzz: deps
	cmake --preset $@ && cmake --build build-$@ -j $(JOBS) && \
	  { [ "$@" = release ] || ctest --test-dir build-$@ --output-on-failure -j $(JOBS); }

bench:
	@scripts/install-deps --bench
	cmake --preset release && cmake --build build-release -j $(JOBS)
	scripts/run-benchmarks build-release

format:
	git ls-files '*.cpp' '*.hpp' '*.h' '*.c' | xargs clang-format -i

# The compile commands are GCC's: clang-tidy must not stop at a GCC-only flag (-Wno-restrict).
tidy: build
	git ls-files '*.cpp' | grep -v '^tests/fuzz' | xargs clang-tidy -p $(BUILD_DIR) --quiet --extra-arg=-Wno-unknown-warning-option

clean:
	rm -rf build build-asan build-tsan build-release build-fuzz
