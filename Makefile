# blocklocal — the two commands: `make reproduce` (the main job) and `make test`.
# Each installs the Debian packages it needs when they are missing, then builds in release.
#
# Knobs (every one, in one place):
#   THREADS   engine worker threads for training and benchmarks (default 2 = this machine's cores)
#   PROFILE   reproduction profile: smoke | quick | paper (filled in by the experiments issues)
#   BENCH_STEPS  timed training steps per benchmark model

SWIFT        ?= swift
THREADS      ?= 2
PROFILE      ?= quick
BENCH_STEPS  ?= 5
APT_PACKAGES := libopenblas-dev libhdf5-dev hdf5-tools gnuplot-nox pkg-config dataset-fashion-mnist
RELEASE      := -c release
TESTFLAGS    := -c release -Xswiftc -enable-testing
BIN          := .build/release/blocklocal

.PHONY: all deps build test bench reproduce clean help

all: build

help:
	@echo "make reproduce   run the main job (PROFILE=$(PROFILE))"
	@echo "make test        build in release and run every test"
	@echo "make bench       engine throughput on the reference models -> results/bench/"
	@echo "make deps        install the Debian packages that are missing"

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing \
	    || { echo "error: could not install$$missing; install them with apt-get and run make again" >&2; exit 1; }; \
	fi
	@command -v $(SWIFT) >/dev/null || { echo "error: no Swift toolchain on PATH; install Swift 6 (swift.org) and run make again" >&2; exit 1; }

build: deps
	$(SWIFT) build $(RELEASE) --product blocklocal

test: deps
	$(SWIFT) build $(TESTFLAGS) --build-tests
	$(SWIFT) test $(TESTFLAGS) --skip-build

bench: build
	mkdir -p results/bench
	$(BIN) bench --threads $(THREADS) --steps $(BENCH_STEPS) --out results/bench/engine.json

reproduce: build
	@echo "== blocklocal reproduce (profile $(PROFILE)) =="
	@echo "The experiment runner, report and paper diff arrive with the sweeps and reports issues;"
	@echo "for now the main job is the engine benchmark."
	$(MAKE) bench

clean:
	rm -rf .build
