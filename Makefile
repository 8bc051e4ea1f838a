# blocklocal — the two commands: `make reproduce` (the main job) and `make test`.
# Each installs the Debian packages it needs when they are missing, then builds in release.
#
# Knobs (every one, in one place):
#   THREADS   engine worker threads for training and benchmarks (default 2 = this machine's cores)
#   PROFILE   reproduction profile of paper/experiments/*.toml: smoke (minutes) | quick (default, about an hour) | paper
#   BENCH_STEPS  timed training steps per benchmark model
#   BENCH_MODELS which reference models `make bench-torch` compares
#   PARALLEL_PASSES, PARALLEL_STEPS, PARALLEL_MAX_K, PARALLEL_MODELS  `bench --parallel` (speedup against K):
#             passes per point, timed steps per pass, the largest K, the models (smoke: 1 pass, 3 steps, K ≤ 2, ResNet only)
#   MIRROR    a directory with original dataset archives (CIFAR-10, Tiny-ImageNet), tried before any download
#   VENV      a Python virtualenv outside the repo for PyTorch (bench-torch only; ~5 GB)
#   PERF_DIR  the PyTorch benchmark scripts (../shared/perf)
#   TARGET_CPU  the CPU the engine's own loops are compiled for (swiftc -target-cpu): skylake-avx512
#             where /proc/cpuinfo shows AVX-512 F/BW/DQ/VL, else haswell where it shows AVX2 and FMA,
#             else empty = generic x86-64. AVX2 and AVX-512 builds give the same bits (docs/performance.md);
#             a generic build rounds the convolution kernel's products separately (no FMA)

SWIFT        ?= swift
THREADS      ?= 2
PROFILE      ?= quick
BENCH_STEPS  ?= $(if $(filter smoke,$(PROFILE)),2,5)
BENCH_MODELS ?= r18_fm_w0.25 r18_fm_w1 r50_c10_w0.25 gpt_d64 mlp
PARALLEL_PASSES ?= $(if $(filter smoke,$(PROFILE)),1,3)
PARALLEL_STEPS  ?= $(if $(filter smoke,$(PROFILE)),3,8)
PARALLEL_MAX_K  ?= $(if $(filter smoke,$(PROFILE)),2,4)
PARALLEL_MODELS ?= $(if $(filter smoke,$(PROFILE)),r18_fm_w0.25,r18_fm_w0.25$(comma)gpt_d64)
comma        := ,
PARALLEL_OUT := results/bench/parallel-$(PROFILE).json
# Open MPI refuses to start as root unless told; only the bench's own mpirun children get this
MPI_ROOT_ENV := $(if $(filter 0,$(shell id -u)),OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1,)
VENV         ?= $(HOME)/.cache/blocklocal/torch-venv
PERF_DIR     ?= ../shared/perf
MIRROR       ?=
MIRROR_ARG   := $(if $(MIRROR),--mirror $(MIRROR),)
APT_PACKAGES := libopenblas-dev libhdf5-dev hdf5-tools gnuplot-nox pkg-config zlib1g-dev libjpeg62-turbo-dev dataset-fashion-mnist python3-h5py openmpi-bin libopenmpi-dev
TARGET_CPU   ?= $(shell f=$$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null); has() { for x; do echo " $$f " | grep -qw $$x || return 1; done; }; \
                  if has avx512f avx512bw avx512dq avx512vl fma; then echo skylake-avx512; elif has avx2 fma; then echo haswell; fi)
TARGET_FLAG  := $(if $(filter skylake-avx512,$(TARGET_CPU)),AVX512,$(if $(filter haswell,$(TARGET_CPU)),HASWELL,CUSTOM))
CPUFLAGS     := $(if $(TARGET_CPU),-Xswiftc -target-cpu -Xswiftc $(TARGET_CPU) -Xswiftc -DBLOCKLOCAL_TARGET_$(TARGET_FLAG),)
# One build configuration for the binary and the tests, so `make test` after `make reproduce` (or the
# other way round) reuses every object; -enable-testing costs nothing measurable (docs/performance.md).
RELEASE      := -c release -Xswiftc -enable-testing $(CPUFLAGS)
TESTFLAGS    := $(RELEASE)
BIN          := .build/release/blocklocal

.PHONY: all deps build test test-slurm bench bench-torch bench-parallel reproduce report figures ship clean help

all: build

help:
	@echo "make reproduce   run the main job (PROFILE=$(PROFILE))"
	@echo "make test        build in release and run every test"
	@echo "make test-slurm  the Slurm job-array script on a real one-node Slurm started here (root)"
	@echo "make report      tables, figures, diff and paper/REPRODUCTION-$(PROFILE).md from stored (and shipped) runs"
	@echo "make figures     only the gnuplot figures"
	@echo "make ship        copy PROFILE's done runs to results/shipped/PROFILE and regenerate its results from them"
	@echo "make bench       engine throughput on the reference models -> results/bench/"
	@echo "make bench-torch the same side by side with PyTorch on CPU, interleaved per model"
	@echo "make bench-parallel  speedup against K: local rules pipelined vs sequential, bp on K threads, the cost model"
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
	$(SWIFT) test $(TESTFLAGS) --skip-build --disable-swift-testing

# Only the sweep's Slurm job-array script on a real one-node Slurm this machine starts (root; installs
# slurm-wlm and munge through scripts/slurm-local.sh). `make test` runs it too, as root.
test-slurm: deps
	$(SWIFT) build $(TESTFLAGS) --build-tests
	$(SWIFT) test $(TESTFLAGS) --skip-build --disable-swift-testing --filter SlurmTests

bench: build
	mkdir -p results/bench
	$(BIN) bench --threads $(THREADS) --steps $(BENCH_STEPS) --out results/bench/engine.json

# Speedup against K (block-parallel training): every local rule pipelined, one worker per block.
bench-parallel: build
	mkdir -p results/bench
	$(MPI_ROOT_ENV) $(BIN) bench --parallel --transport mpi --models $(PARALLEL_MODELS) --max-blocks $(PARALLEL_MAX_K) --passes $(PARALLEL_PASSES) \
	  --steps $(PARALLEL_STEPS) --out $(PARALLEL_OUT)

# PyTorch and the engine alternate model by model, so both see the same machine state.
bench-torch: build
	@test -f $(PERF_DIR)/train_bench.py || { echo "error: $(PERF_DIR)/train_bench.py not found; set PERF_DIR=<folder with the PyTorch scripts>" >&2; exit 1; }
	@test -x $(VENV)/bin/python || { echo "creating $(VENV) with torch (CPU use only; several GB)"; \
	  python3 -m venv $(VENV) && $(VENV)/bin/pip install -q torch numpy; }
	mkdir -p results/bench && rm -f results/bench/torch.jsonl
	for m in $(BENCH_MODELS); do \
	  $(VENV)/bin/python $(PERF_DIR)/train_bench.py --configs $$m --threads $(THREADS) --min-time 4 --out results/bench/torch.jsonl || exit 1; \
	  $(BIN) bench --threads $(THREADS) --steps $(BENCH_STEPS) --models $$m --torch results/bench/torch.jsonl --out results/bench/engine-$$m.json || exit 1; \
	done

# The main job: fetch what can be had, run every experiment spec of paper/experiments under PROFILE
# (runs whose dataset cannot be had are reported as not runnable here and skipped), then benchmark.
# Running it again skips the runs already stored in results/runs.
SPECS := $(wildcard paper/experiments/*.toml)

reproduce: build
	@echo "== blocklocal reproduce (profile $(PROFILE)) =="
	mkdir -p results/bench
	$(BIN) data fetch --all --skip-missing $(MIRROR_ARG)
	$(BIN) sweep $(SPECS) --profile $(PROFILE) --threads $(THREADS) $(MIRROR_ARG)
	$(BIN) bench --threads $(THREADS) --steps $(BENCH_STEPS) --out results/bench/engine-$(PROFILE).json
	$(BIN) bench --methods --threads $(THREADS) --steps $(BENCH_STEPS) --out results/bench/methods-$(PROFILE).json
	$(MPI_ROOT_ENV) $(BIN) bench --parallel --transport mpi --models $(PARALLEL_MODELS) --max-blocks $(PARALLEL_MAX_K) --passes $(PARALLEL_PASSES) \
	  --steps $(PARALLEL_STEPS) --out $(PARALLEL_OUT)
	$(BIN) report --profile $(PROFILE) --parallel-bench $(PARALLEL_OUT)
	@echo "report: paper/REPRODUCTION-$(PROFILE).md; tables: results/tables/*-$(PROFILE)*; figures: results/figures/*-$(PROFILE)*"

# Tables, figures, the diff and paper/REPRODUCTION-$(PROFILE).md from the stored runs (no training). The
# runs shipped with the repository (results/shipped/PROFILE, the ones the committed report was made from)
# are merged into the store first by run id, never replacing a run already there, so a fresh clone's
# `make report` regenerates the committed tables.
SHIPPED := results/shipped/$(PROFILE)
report: build
	@if [ -d $(SHIPPED) ]; then $(BIN) runs collect $(SHIPPED); fi
	$(BIN) report --profile $(PROFILE) --parallel-bench $(PARALLEL_OUT)

# Refresh what is shipped for PROFILE: the done runs of that profile in RUNS (default results/runs) are
# copied to results/shipped/PROFILE, and the profile's tables, figures and report are regenerated from
# those files alone (an empty temporary store), so that `make report` on a fresh clone gives them back.
RUNS ?= results/runs
ship: build
	rm -rf $(SHIPPED) && mkdir -p $(SHIPPED)
	$(BIN) runs list --results $(dir $(RUNS:/=)) --where profile=$(PROFILE) --where status=done --format csv | tail -n +2 | cut -d, -f1 \
	  | while read id; do cp $(RUNS)/$$id.h5 $(SHIPPED)/; done
	rm -f results/tables/*-$(PROFILE).* results/tables/*-$(PROFILE)-* results/figures/*-$(PROFILE).* results/figures/*-$(PROFILE)-*
	tmp=$$(mktemp -d) && $(BIN) runs collect $(SHIPPED) --results $$tmp && \
	  $(BIN) report --profile $(PROFILE) --results $$tmp --parallel-bench $(PARALLEL_OUT); rm -rf $$tmp

figures: build
	@if [ -d $(SHIPPED) ]; then $(BIN) runs collect $(SHIPPED); fi
	$(BIN) figures --profile $(PROFILE) --parallel-bench $(PARALLEL_OUT)

clean:
	rm -rf .build
