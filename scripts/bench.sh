#!/usr/bin/env bash
# `make bench`: every benchmark that exists, printed as one table. Stage benchmarks (curate's
# matcher against pyahocorasick, fetch against img2dataset, …) add their rows as they land.
set -euo pipefail
bin=${1:?usage: bench.sh RELEASE_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/out/bench"
mkdir -p "$out"
python="$root/.venv/bin/python"

rows=${WIT_BENCH_SHARD_ROWS:-20000}
image_bytes=${WIT_BENCH_IMAGE_BYTES:-16384}
cargo build --release -q -p wit-contract --example shard_throughput
"$CARGO_TARGET_DIR/release/examples/shard_throughput" "$rows" "$image_bytes" "$out" > "$out/shards.tsv"
shard=$(awk -F'\t' '$1 == "file" {print $2}' "$out/shards.tsv")

# The peer: pyarrow reading the same file (the reader users would reach for).
"$python" - "$shard" "$rows" >> "$out/shards.tsv" <<'PY'
import os, resource, sys, time, pyarrow.parquet as pq
path, rows = sys.argv[1], int(sys.argv[2])
start = time.perf_counter()
table = pq.read_table(path)
images = table.column("image")
total = sum(len(chunk.buffers()[2]) for chunk in images.chunks)
seconds = time.perf_counter() - start
assert table.num_rows == rows, table.num_rows
mb = os.path.getsize(path) / 1e6
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(f"pyarrow read\t{rows}\t{seconds:.3f}\t{mb / seconds:.0f}\t{rows / seconds:.0f}\t{rss}")
PY

echo
echo "wit benchmarks on $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(date -u +%Y-%m-%d)"
echo
printf '%-44s %10s %10s %10s %12s %10s\n' "work" "rows" "seconds" "MB/s" "rows/s" "peak MiB"
awk -F'\t' -v img="$image_bytes" '$1 != "file" {
  label = ($1 == "pyarrow read") ? "corpus shard read, pyarrow (peer)" : "corpus shard " $1 ", wit (" img " B images)"
  printf "%-44s %10s %10s %10s %12s %10s\n", label, $2, $3, $4, $5, $6
}' "$out/shards.tsv"

echo
echo "== curate: query matching, wit vs the pyahocorasick loop (MetaCLIP's approach)"
"$root/scripts/bench-curate.sh"

# Each stage's own benchmark (each builds its release example and prints its table).
for stage in queries harvest fetch faults report trainer; do
  echo
  echo "== $stage"
  "$root/scripts/bench-$stage.sh"
done
