#!/usr/bin/env bash
# Harvest throughput (WARC and WAT records/s and MB/s) on generated inputs, one thread.
# Usage: scripts/bench-harvest.sh [RECORDS]   (default 2000 records per format)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet -p wit-harvest --example bench_harvest -- "${1:-2000}"
