#!/usr/bin/env bash
# `make bench`: installs the peer tools (scripts/install-bench-peers.sh), then runs every stage
# benchmark through scripts/bench.py, which prints one table and writes BENCHMARKS.md.
#
#   scripts/bench.sh RELEASE_DIR     # after `cargo build --release --workspace --bins --examples`
#
# The per-stage scripts (scripts/bench-{curate,queries,harvest,fetch,report,trainer}.sh) remain for
# running one stage's own, more detailed table by hand.
set -euo pipefail
bin=${1:?usage: bench.sh RELEASE_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-bench-peers.sh"
"$root/scripts/bench-scale.sh" "$bin" || echo "bench: scripts/bench-scale.sh failed; no scale tables" >&2
exec "$root/.venv/bin/python" "$root/scripts/bench.py" "$bin"
