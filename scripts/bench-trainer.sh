#!/usr/bin/env bash
# Trainer input-pipeline benchmark: images/s (and per decode thread) from corpus shards to
# normalised 224 px batches, on real photos (fixtures/images) re-encoded as JPEG.
#
#   scripts/bench-trainer.sh            # 2000 rows, short sides 256 and 512
#   ROWS=5000 SIDES="256 384" scripts/bench-trainer.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ROWS=${ROWS:-2000}
SIDES=${SIDES:-256 512}
cargo build --release -q --workspace --bins --examples
# shellcheck disable=SC2086
"${CARGO_TARGET_DIR:-target}/release/examples/bench_input" "$ROWS" $SIDES
