#!/usr/bin/env bash
# Fault-web benchmark: `wit fetch` (release) on a URL list spread over every fault kind of
# tests/src/faultweb.rs (slow drips, stalls, resets, lying lengths, bombs, redirects, robots.txt,
# 4xx/5xx…) plus good images, under /usr/bin/time -v. Prints wall time, URLs/s and peak RSS, then
# checks every URL came out exactly once with its expected status (not asserted anywhere else).
#
#   scripts/bench-faults.sh [RELEASE_DIR] [URLS]      # default: $CARGO_TARGET_DIR/release, 50000
#   scripts/bench-faults.sh "$CARGO_TARGET_DIR/debug" 10000   # the debug build `make test` uses
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="${1:-$TARGET/release}"
URLS="${2:-${URLS:-50000}}"
cd "$ROOT"
# The fault web example in the same profile as BIN (release, or debug for a quick look).
PROFILE=(--release)
[ "$(basename "$BIN")" = debug ] && PROFILE=()
echo "== building the fault web example and wit ($(basename "$BIN"))" >&2
CARGO_TARGET_DIR="$TARGET" cargo build "${PROFILE[@]}" -q --workspace --example faultweb --bin wit
FAULTWEB="$BIN/examples/faultweb"
WORK="$(mktemp -d)"
"$FAULTWEB" serve "$URLS" "$WORK" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 600); do [ -e "$WORK/ready" ] && break; sleep 0.1; done
[ -e "$WORK/ready" ] || { echo "the fault web did not start" >&2; exit 1; }
/usr/bin/time -v -o "$WORK/time.txt" "$BIN/wit" -q fetch "$WORK/urls.txt" -o "$WORK/out" \
  --allow-address 127.0.0.2 --breaker-threshold 0 --retries 0 --timeout 3 --max-body-bytes 1000000 \
  --concurrency 256 --per-host-concurrency 256 --image-size 64 --shard-rows 10000
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.txt")
rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$WORK/time.txt")
cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.1f", u + s}' "$WORK/time.txt")
secs=$(awk -v w="$wall" 'BEGIN {n = split(w, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}')
printf '%-40s %8s %10s %10s %10s %10s\n' "work" "URLs" "wall s" "URLs/s" "CPU s" "peak MiB"
printf '%-40s %8s %10s %10.0f %10s %10s\n' "wit fetch, fault web (34 kinds)" "$URLS" "$secs" \
  "$(awk -v n="$URLS" -v s="$secs" 'BEGIN {print n / s}')" "$cpu" "$rss"
"$FAULTWEB" check "$WORK/urls.txt" "$WORK/out" | tail -1
