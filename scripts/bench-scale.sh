#!/usr/bin/env bash
# Scale benchmarks. Two modes:
#
#   scripts/bench-scale.sh RELEASE_DIR
#     The partitioned merges (issue 18; `make bench` runs this as its own row group): synthetic
#     stage inputs at 1× and 10× (2M×K candidate pairs, 200k×K corpus rows; see the module docs of
#     pipeline/plan/examples/bench_scale.rs) through every step of a world-size-4 build in plan
#     order — harvest (harvest, dedup, apply ×4, merge), curate soft (count, select ×4, merge),
#     curate strict into a second output (count, order ×4, strict, select ×4, merge), fetch (fetch,
#     dedup, apply ×4, merge) — each rank its own process (one thread; two at a time), with
#     --memory-budget 64M. Checks the merged outputs against what was generated, prints the
#     markdown tables (wall and peak RSS per step at each scale, bytes read by one-process steps,
#     rates per process) and writes them to $BENCH_DIR/scale.md (default /tmp/wit-bench).
#     Needs `cargo build --release -p wit-plan --example bench_scale` (make bench builds it).
#     BENCH_SCALES="1 10" (BENCH_QUICK=1: "1"), BENCH_SCALE_RANKS=4, BENCH_SCALE_BUDGET=64M,
#     BENCH_SCALE_DIVISOR=1 (rows ÷ D: a smoke test); BENCH_ONLY without `scale` skips it. Data lives under $WIT_SCRATCH (default /tmp), deleted after.
#
#   scripts/bench-scale.sh --slurm BIN_DIR [WORLD_SIZES] [STORAGES]
#     Scale-out figures for the README: the demo build on a one-node Slurm cluster (below).
set -euo pipefail
if [ "${1:-}" != --slurm ]; then
  bin=$(cd "${1:?usage: bench-scale.sh RELEASE_DIR | bench-scale.sh --slurm BIN_DIR [WORLD_SIZES] [STORAGES]}" && pwd)
  if [ -n "${BENCH_ONLY:-}" ] && [[ ",$BENCH_ONLY," != *,scale,* ]]; then exit 0; fi
  if [ "${BENCH_QUICK:-}" = 1 ]; then scales=${BENCH_SCALES:-1}; else scales=${BENCH_SCALES:-1 10}; fi
  n=${BENCH_SCALE_RANKS:-4}
  budget=${BENCH_SCALE_BUDGET:-64M}
  bench=$bin/examples/bench_scale
  [ -x "$bench" ] || { echo "bench-scale: no $bench (cargo build --release -p wit-plan --example bench_scale)" >&2; exit 1; }
  report=${BENCH_DIR:-/tmp/wit-bench}/scale.md
  mkdir -p "$(dirname "$report")"
  rm -f "$report" # never a stale table in BENCHMARKS.md
  tmp=$(mktemp -d "${WIT_SCRATCH:-/tmp}/wit-bench-scale-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/log"
  log() { echo "[bench-scale $(date +%H:%M:%S)] $*" >&2; }
  # One rank of one step: its JSON line appended to $results (the log shown if it fails).
  one() { # STAGE PHASE RANK [--strict]
    local name="$1-$2-$3${4:+-strict}"
    if ! "$bench" run "$dir" "$1" "$2" "$3" "$n" --budget "$budget" ${4:+"$4"} >"$tmp/log/$name.json" 2>"$tmp/log/$name.log"; then
      echo "bench-scale: $1 --phase $2 rank $3 ${4:-} failed (scale $k):" >&2
      cat "$tmp/log/$name.log" >&2
      return 1
    fi
    cat "$tmp/log/$name.json" >>"$results"
  }
  # Every rank of a wave, two processes at a time.
  wave() { # STAGE PHASE [--strict]
    local r pids
    for ((r = 0; r < n; r += 2)); do
      pids=()
      one "$1" "$2" "$r" ${3:+"$3"} & pids+=($!)
      if ((r + 1 < n)); then one "$1" "$2" $((r + 1)) ${3:+"$3"} & pids+=($!); fi
      for pid in "${pids[@]}"; do wait "$pid"; done
    done
    log "$1 $2 ${3:-}: $(tail -n "$n" "$results" | grep -o '"wall_s":[0-9.]*' | cut -d: -f2 | sort -g | tail -1) s (slowest rank)"
  }
  files=()
  started=$(date +%s)
  for k in $scales; do
    dir=$tmp/scale-$k
    results=$tmp/results-$k.jsonl
    : >"$results"
    t=$(date +%s)
    log "scale ${k}×: generating ($(cut -d' ' -f1-3 /proc/loadavg) load)"
    "$bench" gen "$dir" --scale "$k" --ranks "$n" --divisor "${BENCH_SCALE_DIVISOR:-1}" >"$tmp/gen-$k.json"
    log "scale ${k}×: generated in $(($(date +%s) - t)) s: $(cat "$tmp/gen-$k.json")"
    t=$(date +%s)
    wave harvest harvest; wave harvest dedup; wave harvest apply; one harvest merge 0
    wave curate count; wave curate select; one curate merge 0
    wave curate count --strict; wave curate order --strict; one curate strict 0 --strict
    wave curate select --strict; one curate merge 0 --strict
    wave fetch fetch; wave fetch dedup; wave fetch apply; one fetch merge 0
    "$bench" check "$dir" >"$tmp/check-$k.json" || { cat "$tmp/check-$k.json" >&2; exit 1; }
    log "scale ${k}×: every step in $(($(date +%s) - t)) s ($(cut -d' ' -f1-3 /proc/loadavg) load); check: $(tail -1 "$tmp/check-$k.json")"
    rm -rf "$dir"
    files+=("$results")
  done
  "$bench" table "${files[@]}" | tee "$report"
  log "all scales in $(($(date +%s) - started)) s (generation included); tables in $report"
  exit 0
fi
shift

# Scale-out figures for the README: examples/demo.toml built by `wit build --slurm --wait` at world
# size 1, 2 and 4 on a one-node Slurm cluster this script starts (munged, slurmctld, slurmd with
# state under a temp folder; the same set-up as tests/slurm.rs), with the build on a local folder
# and on a local S3 server (moto on 127.0.0.1, as in the tests): wall time per build and images/s.
#   scripts/bench-scale.sh BIN_DIR [WORLD_SIZES] [STORAGES]
#   (defaults "1 2 4" and "local s3"; make slurm installs Slurm, make s3-server installs moto)
set -euo pipefail
bin=$(cd "${1:?usage: bench-scale.sh BIN_DIR [WORLD_SIZES] [STORAGES]}" && pwd)
sizes=${2:-1 2 4}
storages=${3:-local s3}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tmp=$(mktemp -d /tmp/wit-bench-scale-XXXXXX)
chmod 700 "$tmp"
mkdir -p "$tmp/state" "$tmp/spool" "$tmp/log"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
head -c 1024 /dev/urandom > "$tmp/munge.key" && chmod 600 "$tmp/munge.key"
munged -F -f --socket="$tmp/munge.sock" --key-file="$tmp/munge.key" --pid-file="$tmp/munged.pid" \
  --log-file="$tmp/log/munged.log" --seed-file="$tmp/munged.seed" & pids+=($!)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
host=$(hostname -s)
cat > "$tmp/slurm.conf" <<CONF
ClusterName=witbench
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
AuthInfo=socket=$tmp/munge.sock
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$tmp/slurm.conf"
sleep 1
slurmctld -D -i -f "$SLURM_CONF" 2>"$tmp/log/slurmctld.stderr" & pids+=($!)
slurmd -D -N "$host" -f "$SLURM_CONF" 2>"$tmp/log/slurmd.stderr" & pids+=($!)
for _ in $(seq 60); do [ "$(sinfo -h -o %t 2>/dev/null)" = idle ] && break; sleep 1; done
[ "$(sinfo -h -o %t)" = idle ] || { echo "bench-scale: the Slurm node is not idle" >&2; exit 1; }

if [[ " $storages " == *" s3 "* ]]; then
  python=$root/.venv/bin/python
  "$python" -c "import moto.server" 2>/dev/null || { echo "bench-scale: moto not installed (make s3-server)" >&2; exit 1; }
  s3_port=$(free_port)
  "$python" -m moto.server -H 127.0.0.1 -p "$s3_port" >"$tmp/log/moto.log" 2>&1 & pids+=($!)
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null && break; sleep 0.2; done
  export AWS_ENDPOINT=http://127.0.0.1:$s3_port AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=testing \
    AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 WIT_SCRATCH=$tmp/scratch
  "$python" -c "import boto3,sys; boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='testing', \
    aws_secret_access_key='testing', region_name='us-east-1').create_bucket(Bucket='wit-bench')" "$AWS_ENDPOINT"
fi

rows=()
for storage in $storages; do
  for n in $sizes; do
    case $storage in
      local) out="$tmp/out-$n" ;;
      s3) out="s3://wit-bench/out-$n" ;;
      *) echo "bench-scale: unknown storage $storage (local, s3)" >&2; exit 1 ;;
    esac
    toml="$tmp/demo-$storage-$n.toml"
    # examples/demo.toml with its own output, a free demo-web port and the world size.
    # Scripts and logs in the temp folder (relative paths in demo.toml need jobs to start here).
    python3 - "$out" "$n" "$tmp/slurm-$storage-$n" > "$toml" <<'PY'
import re, sys
out, n, scripts = sys.argv[1], sys.argv[2], sys.argv[3]
text = open("examples/demo.toml").read()
text = re.sub(r'(?m)^output = .*$', f'output = "{out}"\nworld_size = {n}', text)
text = re.sub(r'(?m)^port = \d+$', 'port = 0', text)
print(text + f'\n[slurm]\ndir = "{scripts}"\n')
PY
    start=$(date +%s.%N)
    if ! "$bin/wit" -q build --config "$toml" --slurm --wait > "$tmp/build-$storage-$n.log" 2>&1; then
      cat "$tmp/build-$storage-$n.log" "$tmp/slurm-$storage-$n"/logs/*.log >&2
      exit 1
    fi
    end=$(date +%s.%N)
    # Corpus rows from the fetch step's manifest, read where the build lies (`wit status`).
    images=$("$bin/wit" status "$out" --json | python3 -c \
      "import json,sys; s=[x for x in json.load(sys.stdin)['steps'] if x['stage']=='fetch'][-1]; print(s['ranks'][0]['rows'])")
    rows+=("$(printf '%s\t%d\t%.1f\t%d\t%.1f' "$storage" "$n" "$(echo "$end - $start" | bc)" "$images" \
      "$(echo "$images / ($end - $start)" | bc -l)")")
  done
done
echo
echo "demo build (examples/demo.toml) on Slurm, $(nproc) cores, $(date -u +%Y-%m-%d)"
printf '%-8s %-11s %10s %10s %10s\n' "storage" "world size" "wall s" "images" "images/s"
for row in "${rows[@]}"; do
  IFS=$'\t' read -r st n s p r <<<"$row"
  printf '%-8s %-11s %10s %10s %10s\n' "$st" "$n" "$s" "$p" "$r"
done
