#!/usr/bin/env bash
# Scale-out figures for the README: examples/demo.toml built by `wit build --slurm --wait` at world
# size 1, 2 and 4 on a one-node Slurm cluster this script starts (munged, slurmctld, slurmd with
# state under a temp folder; the same set-up as tests/slurm.rs), wall time per build and pairs/s.
#   scripts/bench-scale.sh BIN_DIR [WORLD_SIZES]      (default "1 2 4"; make slurm installs Slurm)
set -euo pipefail
bin=$(cd "${1:?usage: bench-scale.sh BIN_DIR [WORLD_SIZES]}" && pwd)
sizes=${2:-1 2 4}
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

with_fetch=1
if ! "$bin/wit" fetch --help | grep -q -- '--phase'; then
  with_fetch=0
  echo "bench-scale: this wit fetch has no --phase (storage branch): measuring without [fetch]" >&2
fi
rows=()
for n in $sizes; do
  out="$tmp/out-$n"
  # examples/demo.toml with its own output, a free demo-web port and the world size.
  python3 - "$out" "$n" "$with_fetch" > "$tmp/demo-$n.toml" <<'PY'
import re, sys
out, n, with_fetch = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
text = open("examples/demo.toml").read()
text = re.sub(r'(?m)^output = .*$', f'output = "{out}"\nworld_size = {n}', text)
text = re.sub(r'(?m)^port = \d+$', 'port = 0', text)
if not with_fetch:
    text = re.sub(r'(?ms)^\[fetch\].*?(?=^\[)', '', text)
print(text)
PY
  start=$(date +%s.%N)
  "$bin/wit" -q build --config "$tmp/demo-$n.toml" --slurm --wait > "$tmp/build-$n.log"
  end=$(date +%s.%N)
  pairs=$(python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(sum(s['rows'] for s in m['shards']))" \
    "$out/$([ "$with_fetch" = 1 ] && echo corpus || echo curated)/manifest.json")
  rows+=("$(printf '%d\t%.1f\t%d\t%.1f' "$n" "$(echo "$end - $start" | bc)" "$pairs" "$(echo "$pairs / ($end - $start)" | bc -l)")")
done
echo
echo "demo build on Slurm, $(nproc) cores, $(date -u +%Y-%m-%d) ($([ "$with_fetch" = 1 ] && echo "corpus images" || echo "curated pairs, no fetch"))"
printf '%-11s %10s %10s %10s\n' "world size" "wall s" "pairs" "pairs/s"
for row in "${rows[@]}"; do IFS=$'\t' read -r n s p r <<<"$row"; printf '%-11s %10s %10s %10s\n' "$n" "$s" "$p" "$r"; done
