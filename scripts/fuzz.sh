#!/usr/bin/env bash
# Fuzzes wit's parsers of untrusted input with cargo-fuzz (libFuzzer), one target at a time:
#   scripts/fuzz.sh [TARGET…]        (default: every target in fuzz/fuzz_targets)
# FUZZ_SECONDS (default 120) per target, FUZZ_JOBS (default 1). Not part of `make test` or CI.
# Needs the nightly toolchain; installs cargo-fuzz if missing. Builds into its own target folder
# ($HOME/.cache/wit/fuzz-target), never the main one. New corpus entries go to
# $HOME/.cache/wit/fuzz-corpus/TARGET (the committed seeds in fuzz/corpus/TARGET are only read);
# a crash is saved under fuzz/artifacts/TARGET/ and stops the script with its path.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/wit/fuzz-target}"
seconds="${FUZZ_SECONDS:-120}"
jobs="${FUZZ_JOBS:-1}"

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz: installing the nightly toolchain (cargo-fuzz needs it)"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for file in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$file" .rs)"); done
fi
# -jobs spawns libFuzzer processes that log to files; one job runs in the foreground instead.
parallel=""
if [ "$jobs" -gt 1 ]; then parallel="-jobs=$jobs -workers=$jobs"; fi
for target in "${targets[@]}"; do
    work="$HOME/.cache/wit/fuzz-corpus/$target"
    mkdir -p "$work"
    echo "fuzz: $target for ${seconds}s (seeds fuzz/corpus/$target, new inputs $work)"
    # Rust code: no sanitizer needed for memory safety; panics, overflows and hangs are the findings.
    cargo +nightly fuzz run --fuzz-dir fuzz --sanitizer none --debug-assertions "$target" "$work" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 $parallel
done
