#!/usr/bin/env bash
# `make demo`: the main job. Builds a WIT-like corpus from the demo web (served on 127.0.0.1 for
# the build) with the real Wikipedia excerpt's dictionary — queries → crawl + WAT harvest →
# curate → fetch → report, all from examples/demo.toml — then trains a tiny CLIP on the corpus on
# CPU and checks it zero-shot on held-out generated pictures the site never served.
# A rerun resumes: complete stages are skipped, training continues from its last checkpoint
# (a folder an older wit made with another configuration is started over).
set -euo pipefail
bin=${1:?usage: demo.sh BIN_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=out/demo
steps=${DEMO_STEPS:-800}
start=$(date +%s)

echo "== wit build --config examples/demo.toml"
# A rerun resumes; a folder left by an older wit whose stages recorded another configuration
# (or that has the layout before _manifest.json + data/) cannot, and is started over (the stage's error says so first).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "$bin/wit" build --config examples/demo.toml 2> >(tee "$log" >&2); then
  if grep -q -e "with another configuration" -e "layout of an older wit" "$log"; then
    echo "demo: $out was made with another configuration or folder layout (an older wit); starting it over"
    rm -rf "$out"
    "$bin/wit" build --config examples/demo.toml
  else
    exit 1
  fi
fi

echo
echo "== held-out pictures for zero-shot (never served by the demo web)"
"$bin/wit" demo-web --heldout "$out/heldout" --heldout-count 480 --image-size 32

echo
echo "== wit-train: tiny CLIP, $steps steps on CPU"
"$bin/wit-train" train --data "$out/corpus" --config tiny --device cpu --batch 64 --steps "$steps" \
  --lr 1e-3 --warmup 50 --save-every 200 --log-every 100 --resume latest -o "$out/train"

echo
echo "== zero-shot on held-out pictures (24 classes: colour × shape) and retrieval"
"$bin/wit-train" eval --data "$out/heldout/corpus" --holdout 1 --queries "$out/heldout/classes" \
  --device cpu -o "$out/train"
python3 - "$out/train/results.jsonl" <<'PY'
import json, sys
last = [json.loads(line) for line in open(sys.argv[1]) if line.strip()][-1]
zs = last.get("zero_shot") or {}
top1 = zs.get("top1")
classes = zs.get("classes") or 24
if top1 is not None:
    print(f"zero-shot top-1 on held-out pictures: {100 * top1:.1f}%  (chance {100 / classes:.1f}%, {classes} classes)")
PY

echo
echo "report: $root/$out/report/report.html"
echo "demo finished in $(( $(date +%s) - start )) s"
