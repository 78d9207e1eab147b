#!/usr/bin/env bash
# `make demo`: the main job. The corpus-building stages (queries, harvest, curate, fetch, report)
# and training on shards land with their issues; this runs every part that exists today.
set -euo pipefail
bin=${1:?usage: demo.sh RELEASE_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/out/demo"
mkdir -p "$out"
start=$(date +%s)

echo "== the data contract every stage writes"
"$bin/wit" schema corpus

echo
echo "== libtorch: a tiny CLIP trained for 30 steps on a fixed batch (CPU)"
"$bin/wit-train" smoke --config tiny --device cpu --steps 30

echo
echo "demo finished in $(( $(date +%s) - start )) s"
