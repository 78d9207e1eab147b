#!/usr/bin/env bash
# Fetch benchmark: wit fetch against a loopback image server (640×480 JPEGs, border resize to 256,
# quality 95): images/s, CPU ms per image, peak RSS. `make bench` runs it beside img2dataset 1.47.0
# (scripts/bench.py, stages codec and fetch).
#
#   scripts/bench-fetch.sh            # 2000 images
#   IMAGES=10000 scripts/bench-fetch.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
IMAGES="${IMAGES:-2000}"
SIZE="${SIZE:-256}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
cd "$ROOT"
echo "== building the fetch benchmark (release)" >&2
CARGO_TARGET_DIR="$TARGET" cargo build --release -q --workspace --bins --examples
RUST_LOG=warn "$TARGET/release/examples/bench_fetch" "$IMAGES" "$SIZE"
