#!/usr/bin/env bash
# Report benchmark: `wit report` over a synthetic build (a 500k-query dictionary with Zipf-shaped
# per-query counts, a corpus of 1M rows), printing times, output sizes and peak RSS.
#
#   scripts/bench-report.sh                       # defaults below
#   QUERIES=100000 CORPUS=200000 scripts/bench-report.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
QUERIES="${QUERIES:-500000}"
CORPUS="${CORPUS:-1000000}"
cd "$ROOT"
cargo build --release -q --workspace --bins --examples
"${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/bench_report" "$QUERIES" "$CORPUS"
