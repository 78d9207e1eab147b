#!/usr/bin/env bash
# The trainer's GPU check (run it on a machine with a CUDA GPU; `make gpu-check`):
#   1. the card, and libtorch's CUDA through `wit-train smoke` on the GPU;
#   2. NCCL through c10d: `wit-train collectives` at world size 1, and 2 ranks where there are 2 GPUs;
#   3. a real training run on a generated corpus on the GPU: bf16 mixed precision, pinned memory and
#      non-blocking copies, an NCCL process group (world size 1; a 2-rank run with 2 GPUs), eval;
#   4. training-step throughput of ViT-B-32 (bf16) next to open_clip's own train_one_epoch on the
#      same GPU in the same run, and a check that the pinned copies deliver the right bytes.
# Environment: WIT_TRAIN (the binary; default the release build), PYTHON (with torch and
# open_clip; default .venv/bin/python), DEVICE (cuda; `cpu` makes a dry run with Gloo), CONFIG
# (ViT-B-32), BATCH (256), STEPS (30). Exits non-zero when a check fails.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
target=${CARGO_TARGET_DIR:-$HOME/.cache/wit/target}
wit_train=${WIT_TRAIN:-$target/release/wit-train}
python=${PYTHON:-$root/.venv/bin/python}
speed_py=${OPEN_CLIP_SPEED:-$here/open_clip_speed.py}
device=${DEVICE:-cuda}
config=${CONFIG:-ViT-B-32}
batch=${BATCH:-256}
steps=${STEPS:-30}
if [ "$device" = cuda ]; then backend=nccl; oc_precision=amp_bf16; else backend=gloo; oc_precision=fp32; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
check() {  # check NAME COMMAND…: runs it, prints its output, records a failure
  local name=$1; shift
  echo "== $name: $*"
  if "$@" 2>&1 | tee "$work/log"; then echo "-- $name: ok"; else echo "-- $name: FAILED"; failed+=("$name"); fi
}

echo "== card"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi)"
gpus=$("$python" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0)
echo "torch sees $gpus CUDA device(s); wit-train: $wit_train"

check smoke "$wit_train" smoke --device "$device" --config tiny --steps 10
check "collectives $backend world size 1" "$wit_train" collectives --device "$device" --backend "$backend"
if [ "$device" = cuda ] && [ "$gpus" -ge 2 ]; then
  check "collectives nccl world size 2" "$wit_train" launch --nproc 2 -- collectives --device cuda --backend nccl
fi

"$wit_train" shapes -o "$work/shapes" --shards 3 --rows 96 --size 64 >/dev/null
train=(train --data "$work/shapes/corpus" --queries "$work/shapes/queries" --holdout 1 --device "$device"
       --dist-backend "$backend" --steps 40 --warmup 5 --lr 2e-3 --batch 32 --log-every 10 --workers 4)
check "train (bf16 on CUDA, pinned copies, $backend world size 1)" "$wit_train" "${train[@]}" --out "$work/run1"
grep -q "steps 0..40" "$work/log" || failed+=("train output")
if [ "$device" = cuda ] && [ "$gpus" -ge 2 ]; then
  check "train nccl world size 2" "$wit_train" launch --nproc 2 -- "${train[@]}" --batch 16 --out "$work/run2"
fi

check "speed wit-train $config" "$wit_train" speed --config "$config" --device "$device" --batch "$batch" --steps "$steps"
wit=$(sed -n 's/^speed: .*: \([0-9.]*\) samples\/s.*/\1/p' "$work/log")
grep -q "^pinned copies: ok" "$work/log" || failed+=("pinned copies")
check "speed open_clip $config" "$python" "$speed_py" --model "$config" --device "$device" --batch "$batch" \
  --steps "$steps" --precision "$oc_precision"
peer=$(sed -n 's/^open_clip speed: .*: \([0-9.]*\) samples\/s.*/\1/p' "$work/log")
if [ -n "$wit" ] && [ -n "$peer" ]; then
  ratio=$("$python" -c "print(f'{$wit / $peer:.2f}')")
  echo "== throughput $config batch $batch on $device: wit-train $wit samples/s, open_clip $peer samples/s, ratio $ratio (goal >= 0.90)"
else
  failed+=("throughput figures")
fi

if [ ${#failed[@]} -eq 0 ]; then
  echo "gpu-check: all checks passed"
else
  echo "gpu-check: FAILED: ${failed[*]}"
  exit 1
fi
