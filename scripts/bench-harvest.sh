#!/usr/bin/env bash
# Harvest throughput on generated inputs: a WARC file of HTML responses and a WAT file of
# Common-Crawl-shaped metadata records (gzip, one member per record), each read by the whole stage
# (parse, extract, clean, whatlang, dedup, Parquet) on one thread. Prints records/s and MB/s.
#
#   scripts/bench-harvest.sh            # 2000 records per format
#   RECORDS=20000 scripts/bench-harvest.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
RECORDS="${RECORDS:-${1:-2000}}"
cd "$ROOT"
echo "== building the harvest benchmark (release)" >&2
CARGO_TARGET_DIR="$TARGET" cargo build --release -q --workspace --bins --examples
RUST_LOG="${RUST_LOG:-warn}" "$TARGET/release/examples/bench_harvest" "$RECORDS"
