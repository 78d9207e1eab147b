#!/usr/bin/env bash
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
