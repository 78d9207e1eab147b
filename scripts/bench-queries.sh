#!/usr/bin/env bash
# Queries benchmark: XML MB/s through wit's reader → wikitext strip → count (the whole
# `wit queries build`) next to a bare bzip2 decode of the same file, and peak RSS of each.
#
#   scripts/bench-queries.sh                 # the enwiki excerpt repeated REPEAT times
#   REPEAT=20 THREADS="1 2 4" scripts/bench-queries.sh
#   DUMP=/data/enwiki-latest-pages-articles-multistream.xml.bz2 scripts/bench-queries.sh
#
# Without DUMP it builds two inputs from fixtures/enwiki: a single-stream bz2 of the excerpt's pages
# repeated REPEAT times, and the same pages as a multistream dump (streams of 100 pages, the
# Wikimedia layout), which wit decodes in parallel. GENSIM=1 also times gensim's WikiCorpus on the
# single-stream file (installed into .venv by this script only).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="$ROOT/.venv"
REPEAT="${REPEAT:-8}"
THREADS="${THREADS:-1 $(nproc)}"
WORK="${BENCH_DIR:-${TMPDIR:-/tmp}/wit-bench-queries}"
FIXTURE="$ROOT/fixtures/enwiki/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"

cd "$ROOT"
echo "== building the dump benchmark (release)" >&2
CARGO_TARGET_DIR="$TARGET" cargo build --release -q --workspace --bins --examples
BIN="$TARGET/release/examples/bench_dump"
mkdir -p "$WORK"

if [ -n "${DUMP:-}" ]; then
  inputs=("$DUMP")
else
  single="$WORK/enwiki-x$REPEAT.xml.bz2"
  multi="$WORK/enwiki-x$REPEAT-multistream.xml.bz2"
  if [ ! -f "$multi" ]; then
    echo "== writing the excerpt x$REPEAT as single-stream and multistream bz2 in $WORK" >&2
    "$VENV/bin/python" - "$FIXTURE" "$REPEAT" "$single" "$multi" <<'PY'
import bz2, re, sys
src, repeat, single, multi = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
xml = bz2.open(src).read().decode("utf-8")
first, end = xml.index("  <page>"), xml.rindex("</mediawiki>")
pages = re.findall(r"  <page>.*?</page>\n", xml[first:end], re.S) * repeat
body = "".join(pages)
open(single, "wb").write(bz2.compress((xml[:first] + body + xml[end:]).encode(), 9))
with open(multi, "wb") as out:
    out.write(bz2.compress(xml[:first].encode(), 9))
    for i in range(0, len(pages), 100):
        out.write(bz2.compress("".join(pages[i:i + 100]).encode(), 9))
    out.write(bz2.compress(xml[end:].encode(), 9))
PY
  fi
  inputs=("$single" "$multi")
fi

rows="$WORK/rows.tsv"
: > "$rows"
for input in "${inputs[@]}"; do
  name=$(basename "$input")
  echo "== $name" >&2
  printf '%s\t%s\n' "$name" "$("$BIN" bare "$input")" >> "$rows"
  for t in $THREADS; do
    printf '%s\t%s\n' "$name" "$("$BIN" pages "$input" "$t")" >> "$rows"
    printf '%s\t%s\n' "$name" "$("$BIN" build "$input" "$t")" >> "$rows"
  done
done

if [ "${GENSIM:-0}" = 1 ] && [ -z "${DUMP:-}" ]; then
  echo "== gensim WikiCorpus (installing gensim into $VENV)" >&2
  "$ROOT/scripts/install-bench-peers.sh"
  "$VENV/bin/python" - "$single" >> "$rows" <<'PY'
import os, resource, sys, time
from gensim.corpora.wikicorpus import WikiCorpus
path = sys.argv[1]
start = time.perf_counter()
corpus = WikiCorpus(path, dictionary={}, processes=os.cpu_count())
tokens = sum(len(t) for t in corpus.get_texts())
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(f"{os.path.basename(path)}\tgensim\t{os.cpu_count()}\t{os.path.getsize(path)/1e6:.1f}\t-\t{seconds:.3f}\t{rss}")
PY
fi

echo
echo "queries: dump reading on $(nproc) cores, $(date -u +%Y-%m-%d)"
printf '%-34s %-22s %7s %9s %9s %9s %11s %9s\n' input work threads "bz2 MB" "XML MB" seconds "XML MB/s" "peak MiB"
awk -F'\t' '
  $2 == "bare" { bare[$1] = $5 / $6 }
  {
    work = ($2 == "bare") ? "bare bz2 decode" : ($2 == "pages") ? "decode + pages" : ($2 == "build") ? "wit queries build" : "gensim WikiCorpus"
    rate = ($5 == "-") ? "-" : sprintf("%.1f", $5 / $6)
    printf "%-34s %-22s %7s %9s %9s %9s %11s %9s\n", $1, work, $3, $4, $5, $6, rate, $7
  }
  END {
    print ""
    print "XML MB/s of `wit queries build` relative to a bare one-thread bz2 decode of the same file:"
  }' "$rows"
awk -F'\t' '$2 == "bare" { bare[$1] = $5 / $6 } $2 == "build" { printf "  %-34s %2s threads: %.0f%%\n", $1, $3, 100 * ($5 / $6) / bare[$1] }' "$rows"
