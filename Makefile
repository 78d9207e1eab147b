# wit: every target installs what it needs itself and is safe to run twice.
#
#   make demo    the main job (set-up included)
#   make test    the test suite (set-up included)
#
# The cargo target folder lives outside the clone ($HOME/.cache/wit/target) so that the libtorch
# bindings (torch-sys, minutes of C++ on 2 cores) compile once per machine, not once per clone.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv

export CARGO_TARGET_DIR ?= $(HOME)/.cache/wit/target
export PIP_CACHE_DIR ?= $(HOME)/.cache/wit/pip
# tch links the torch of the project venv (torch==2.11.0, the version tch 0.24.0 expects).
export LIBTORCH_USE_PYTORCH := 1
export VIRTUAL_ENV := $(VENV)
export PATH := $(VENV)/bin:$(HOME)/.cargo/bin:$(PATH)

RELEASE := $(CARGO_TARGET_DIR)/release
CARGO_FLAGS :=

.PHONY: help setup system-deps fixtures build demo test test-browser chromium slurm s3-server azurite bench fuzz fmt lint clean gpu-check

help:
	@echo "make demo | test | setup | fixtures | build | bench | fuzz | fmt | lint | clean"

## System packages the build needs (C/C++ compiler, python venv); installs only what is missing.
system-deps:
	@scripts/install-system-deps.sh

## Project-local virtual environment: torch 2.11.0, pyarrow, duckdb; then checks that they import.
setup: system-deps
	@scripts/setup-venv.sh
	@scripts/install-c10d-headers.sh

## Real test data from the package registries into fixtures/ (git-ignored).
fixtures: setup
	@scripts/fetch-fixtures.sh

build: setup
	cargo build --release --workspace $(CARGO_FLAGS)

## The main job: build a corpus from the demo web, train on it, zero-shot check (see README). It uses
## the same binaries as `make test` (dependencies optimised), so one build serves both.
demo: fixtures
	cargo build --workspace --bins $(CARGO_FLAGS)
	@scripts/demo.sh "$(CARGO_TARGET_DIR)/debug"

# The end-to-end tests (tests/) run the real `wit` binary, which `cargo test` alone builds only for
# the wit package's own tests: build every binary first. Tests read fixtures/ (real data; the
# trainer: CLIP's BPE merges), the report test drives headless Chromium, the Slurm test runs a
# one-node cluster of its own and the storage tests a local S3-compatible server.
test: fixtures chromium slurm s3-server azurite
	cargo build --workspace --bins $(CARGO_FLAGS)
	cargo test --workspace $(CARGO_FLAGS)

## Debian's chromium for the report's browser test (headless render of the HTML report); only if missing.
chromium:
	@scripts/install-chromium.sh

## Debian's slurm-wlm and munge for the Slurm end-to-end test (tests/slurm.rs); only if missing.
slurm:
	@scripts/install-slurm.sh
## The local S3-compatible server of the storage tests (moto[server] into the venv); only if missing.
s3-server: setup
	@scripts/install-s3-server.sh
## The local Azure Blob emulator of the Azure storage test (Azurite from npm, azure-storage-blob).
azurite: setup
	@scripts/install-azurite.sh

## The HTML report in headless chromium alone (make test runs it too).
test-browser: setup chromium
	cargo build -p wit $(CARGO_FLAGS)
	cargo test -p wit-tests --test report_browser $(CARGO_FLAGS)

## The trainer on a CUDA GPU (scripts/gpu-check.sh): CUDA, NCCL through c10d, a bf16 training run with
## pinned copies, and ViT-B-32 step throughput next to open_clip's own training loop. Needs a GPU.
gpu-check: setup
	cargo build --release -p wit-trainer --bin wit-train $(CARGO_FLAGS)
	WIT_TRAIN=$(RELEASE)/wit-train scripts/gpu-check.sh

## Every stage benchmark next to its peer tool (gensim, pyahocorasick, img2dataset 1.47.0, installed into
## the venv by scripts/install-bench-peers.sh): one table, also written to BENCHMARKS.md. The whole
## workspace's binaries and examples in one release build (one feature unification, one compile).
bench: fixtures
	cargo build --release --workspace --bins --examples $(CARGO_FLAGS)
	@scripts/bench.sh "$(RELEASE)"

## Fuzz the parsers of untrusted input (cargo-fuzz, nightly; FUZZ_SECONDS per target, default 120).
## Not part of `make test` or CI; builds into its own target folder.
fuzz:
	@scripts/fuzz.sh

fmt:
	cargo fmt --all

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets $(CARGO_FLAGS) -- -D warnings

clean:
	rm -rf "$(VENV)" fixtures out
	cargo clean
