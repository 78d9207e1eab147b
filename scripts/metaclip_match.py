"""The peer side of the matching benchmark: MetaCLIP's substring matching (its
metaclip/substr_matching.py loop over a pyahocorasick automaton) on the files bench_matcher writes.

    python scripts/metaclip_match.py WORK SAMPLE   ->  one JSON object on stdout

WORK holds queries.txt and captions.txt (one per line); the first SAMPLE captions are matched.
Used by scripts/bench.py (make bench) and scripts/bench-curate.sh.
"""
import json
import resource
import sys
import time

import ahocorasick


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def spacing(text):
    """MetaCLIP's caption spacing, the same behaviour: punctuation wrapped in spaces, tabs and
    newlines turned into spaces, the whole padded with one space on each side."""
    spaced = f" {text} "
    for punct in [",", ".", ";", ":", "?", "!", "`"]:
        spaced = spaced.replace(punct, f" {punct} ")
    for char in ["\t", "\n", "\r"]:
        spaced = spaced.replace(char, " ")
    return spaced


def main(work, sample):
    with open(f"{work}/queries.txt", encoding="utf-8", newline="\n") as f:
        queries = [line[:-1] for line in f]
    captions = []
    with open(f"{work}/captions.txt", encoding="utf-8", newline="\n") as f:
        for line in f:
            captions.append(line[:-1])
            if len(captions) == sample:
                break

    before = rss_mb()
    t = time.perf_counter()
    automaton = ahocorasick.Automaton()
    for idx, key in enumerate(queries):
        spaced = f" {key} "
        automaton.add_word(spaced, (idx, spaced))
    automaton.make_automaton()
    build_s = time.perf_counter() - t
    automaton_mb = rss_mb() - before

    t = time.perf_counter()
    matches = 0
    for text in captions:
        matched_entry_ids = set()
        for _end, (entry_id, _value) in automaton.iter(spacing(text)):
            matched_entry_ids.add(entry_id)
        matches += len(matched_entry_ids)
    elapsed = time.perf_counter() - t
    rate = len(captions) / elapsed
    version = getattr(ahocorasick, "__version__", "")
    print(json.dumps({
        "tool": "pyahocorasick", "kind": f"pyahocorasick {version}".strip(),
        "queries": len(queries), "captions": len(captions), "build_s": build_s, "automaton_mb": automaton_mb,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rate": rate, "rate_1t": rate, "threads": 1, "rate_all": None,
        "sample": len(captions), "sample_matches": matches,
    }))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
