#!/usr/bin/env bash
# Curate matcher benchmark: wit's Aho-Corasick matcher vs MetaCLIP's pyahocorasick loop, on the same
# deterministic synthetic inputs (a ≥450k-entry dictionary, ≥1M captions), MetaCLIP matching rules.
#
#   scripts/bench-curate.sh                 # defaults below
#   QUERIES=460000 CAPTIONS=1000000 PY_SAMPLE=100000 scripts/bench-curate.sh
#
# wit is timed over every caption (one thread, then all threads); Python over the first PY_SAMPLE
# captions (it runs at tens of thousands per second). Both report the total number of
# (caption, query) matches on that sample, which must agree.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
QUERIES="${QUERIES:-460000}"
CAPTIONS="${CAPTIONS:-1000000}"
PY_SAMPLE="${PY_SAMPLE:-100000}"
SEED="${SEED:-1}"
WORK="${BENCH_DIR:-${TMPDIR:-/tmp}/wit-bench-curate}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="$ROOT/.venv"
DFA="${DFA:-1}"   # also measure the DFA automaton (more memory)

cd "$ROOT"
echo "== building the matcher benchmark (release)" >&2
CARGO_TARGET_DIR="$TARGET" cargo build --release -q --workspace --bins --examples
BIN="$TARGET/release/examples/bench_matcher"

echo "== installing the Python peer (pyahocorasick) into $VENV" >&2
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$ROOT/scripts/install-bench-peers.sh"

mkdir -p "$WORK"
if [ ! -f "$WORK/done-$QUERIES-$CAPTIONS-$SEED" ]; then
  echo "== generating $QUERIES queries and $CAPTIONS captions (seed $SEED) in $WORK" >&2
  rm -f "$WORK"/done-*
  "$BIN" gen "$WORK" "$QUERIES" "$CAPTIONS" "$SEED"
  touch "$WORK/done-$QUERIES-$CAPTIONS-$SEED"
fi

echo "== wit (contiguous NFA)" >&2
"$BIN" run "$WORK" nfa "$PY_SAMPLE" > "$WORK/wit-nfa.json"
if [ "$DFA" = 1 ]; then
  echo "== wit (DFA)" >&2
  "$BIN" run "$WORK" dfa "$PY_SAMPLE" > "$WORK/wit-dfa.json" || echo '{}' > "$WORK/wit-dfa.json"
fi

echo "== pyahocorasick, MetaCLIP's loop, first $PY_SAMPLE captions" >&2
"$VENV/bin/python" "$(dirname "$0")/metaclip_match.py" "$WORK" "$PY_SAMPLE" > "$WORK/python.json"

"$VENV/bin/python" - "$WORK" <<'PY'
import json, os, sys
work = sys.argv[1]
rows = []
for name in ["wit-nfa.json", "wit-dfa.json", "python.json"]:
    path = os.path.join(work, name)
    if os.path.exists(path):
        text = open(path).read().strip()
        if text and text != "{}":
            rows.append(json.loads(text))
nfa = rows[0]
py = rows[-1]
print(f"curate matcher: {nfa['queries']:,} queries, {nfa['captions']:,} captions "
      f"(mean {nfa['caption_bytes_mean']:.0f} bytes, {nfa['matches_per_caption']:.1f} matches each), MetaCLIP rules")
head = f"{'tool':<30} {'captions':>10} {'build s':>8} {'automaton MB':>13} {'peak RSS MB':>12} {'captions/s/core':>16} {'captions/s all':>15}"
print(head)
print("-" * len(head))
for r in rows:
    tool = "wit " + r["kind"] if r["tool"] == "wit" else r["kind"]
    all_rate = f"{r['rate_all']:,.0f} ({r['threads']}t)" if r.get("rate_all") else "-"
    print(f"{tool:<30} {r['captions']:>10,} {r['build_s']:>8.2f} {r['automaton_mb']:>13.0f} {r['peak_rss_mb']:>12.0f} "
          f"{r['rate_1t']:>16,.0f} {all_rate:>15}")
print("-" * len(head))
print(f"speed-up per core (wit NFA vs pyahocorasick): {nfa['rate_1t'] / py['rate_1t']:.1f}x")
agree = all(r["sample_matches"] == py["sample_matches"] for r in rows if r["sample"] == py["sample"])
print(f"same matches on the first {py['sample']:,} captions: {'yes' if agree else 'NO'} "
      f"({py['sample_matches']:,} (caption, query) pairs)")
if not agree:
    sys.exit(1)
PY
