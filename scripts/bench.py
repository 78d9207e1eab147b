#!/usr/bin/env python3
"""`make bench`: every stage benchmark, wit side by side with the tool users would pick instead.

    scripts/bench.py RELEASE_DIR            # what `make bench` runs (after the release build)
    BENCH_RUNS=5 scripts/bench.py ...       # more runs per whole-process timing (default 3)
    BENCH_QUICK=1 scripts/bench.py ...      # small inputs, one run each (a smoke test of the driver)
    BENCH_ONLY=fetch,dump scripts/bench.py  # some stages only

Each figure is the median of BENCH_RUNS runs with the min–max beside it. Every run is its own
process: wall time from the driver, CPU time from wait4's rusage (the whole process tree: children
that a run waits for are counted, img2dataset's worker processes included), and peak RSS as the
larger of ru_maxrss and the sampled sum of VmRSS over the process tree (so several worker processes
add up). Inputs are generated (or built from fixtures/) by the benchmarks themselves under
$BENCH_DIR (default /tmp/wit-bench, reused between runs); peers come from
scripts/install-bench-peers.sh. Prints one table and writes it to BENCHMARKS.md with the machine,
the date and the commit, the scaling rows, the goals from the stage issues, and `perf` profiles of
the stages that miss theirs.
"""

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
FIXTURE = ROOT / "fixtures/enwiki/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
QUICK = os.environ.get("BENCH_QUICK") == "1"
RUNS = int(os.environ.get("BENCH_RUNS", "1" if QUICK else "3"))
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
WORK = Path(os.environ.get("BENCH_DIR", "/tmp/wit-bench"))
CORES = os.cpu_count() or 1
ENV = dict(os.environ, RUST_LOG="warn", NO_ALBUMENTATIONS_UPDATE="1", WANDB_MODE="disabled", PYTHONWARNINGS="ignore")


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- runs


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float
    stdout: str


def tree_rss_kb(root_pid):
    """Sum of VmRSS over root_pid and its descendants (from /proc)."""
    children = {}
    rss = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/statm") as f:
                pages = int(f.read().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE") // 1024
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def run_once(cmd, cwd=None):
    """One process: wall seconds, CPU seconds of the tree, peak RSS MB, stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.PIPE, text=True)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.wait(0.05):
            peak[0] = max(peak[0], tree_rss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out_chunks = []
    reader = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()), daemon=True)
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    reader.join()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited with {proc.returncode}")
    rss_mb = max(usage.ru_maxrss / 1024, peak[0] / 1024)
    return Run(wall, usage.ru_utime + usage.ru_stime, rss_mb, "".join(out_chunks))


def runs(cmd, n=None, cwd=None, before=None):
    result = []
    for _ in range(n or RUNS):
        if before:
            before()
        result.append(run_once([str(c) for c in cmd], cwd=cwd))
    return result


# ------------------------------------------------------------------------------------------- figures


@dataclass
class Figure:
    """Values of one quantity over several runs, higher or lower is better."""

    values: list
    unit: str
    digits: int = 0

    @property
    def median(self):
        return statistics.median(self.values)

    def __str__(self):
        fmt = f"{{:,.{self.digits}f}}"
        text = f"{fmt.format(self.median)} {self.unit}"
        if len(self.values) > 1:
            text += f" ({fmt.format(min(self.values))}–{fmt.format(max(self.values))})"
        return text


def fig(values, unit, digits=0):
    return Figure(list(values), unit, digits)


@dataclass
class Row:
    stage: str
    work: str
    wit: Figure
    wit_rss: float
    peer: str = "–"
    peer_fig: Figure = None
    peer_rss: float = None
    # wit ÷ peer as "× faster" when higher is better (rates), peer ÷ wit when lower is better (costs).
    lower_is_better: bool = False

    def ratio(self):
        if self.peer_fig is None or not self.peer_fig.median or not self.wit.median:
            return "–"
        r = self.peer_fig.median / self.wit.median if self.lower_is_better else self.wit.median / self.peer_fig.median
        return f"{r:.2f}×"


@dataclass
class Report:
    rows: list = field(default_factory=list)
    scaling: list = field(default_factory=list)  # (stage, work, small, large, note)
    goals: list = field(default_factory=list)  # (goal, measured, met, how far)
    profiles: list = field(default_factory=list)  # (title, text)
    notes: list = field(default_factory=list)


def rss(rs):
    return statistics.median(r.rss_mb for r in rs)


def generated(folder, command):
    """`folder`, made by `command` (its `None` replaced by the folder) unless an earlier run left a
    finished one (a folder with its `_manifest.json`)."""
    if not (folder / "_manifest.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run([str(folder if c is None else c) for c in command], check=True, stdout=subprocess.DEVNULL)
    return folder


# ---------------------------------------------------------------------------------------- the stages


def stage_dump(bin_dir, report):
    """dump → counts: wit queries build vs a bare bz2 decode and gensim's WikiCorpus."""
    work = WORK / "dump"
    work.mkdir(parents=True, exist_ok=True)
    base = 2 if QUICK else 8
    inputs = {}
    for repeat in (base, base * 10):
        single, multi = work / f"enwiki-x{repeat}.xml.bz2", work / f"enwiki-x{repeat}-multistream.xml.bz2"
        # The ×10 input is only read single-stream.
        want_multi = repeat == base
        if not single.exists() or (want_multi and not multi.exists()):
            log(f"dump: writing the enwiki excerpt x{repeat} as bz2")
            subprocess.run([PYTHON, "-c", MAKE_DUMP, FIXTURE, str(repeat), single, multi if want_multi else "-"],
                           check=True)
        inputs[repeat] = (single, multi)
    bench = bin_dir / "examples" / "bench_dump"

    def dump_runs(mode, path, threads=1, n=None):
        rs = runs([bench, mode, path, threads], n=n)
        xml_mb = float(rs[0].stdout.split("\t")[3])
        return rs, xml_mb

    single, multi = inputs[base]
    log("dump: bare bz2 decode, decode + pages, wit queries build (1 and 2 threads), single-stream and multistream")
    bare, xml_mb = dump_runs("bare", single)
    pages, _ = dump_runs("pages", single, 1)
    build = {t: dump_runs("build", single, t)[0] for t in (1, CORES)}
    build_multi = {t: dump_runs("build", multi, t)[0] for t in (1, CORES)}
    rate = lambda rs: fig((xml_mb / r.wall for r in rs), "MB/s", 1)  # noqa: E731
    log("dump: gensim WikiCorpus")
    gensim = runs([PYTHON, "-c", GENSIM, single, CORES])
    best = max((build[1], build[CORES], build_multi[CORES]), key=lambda rs: rate(rs).median)
    best_name = {id(build[1]): "single-stream, 1 worker", id(build[CORES]): f"single-stream, {CORES} workers",
                 id(build_multi[CORES]): f"multistream, {CORES} threads"}[id(best)]
    work = f"enwiki excerpt ×{base}, {xml_mb:.0f} MB XML"
    report.rows.append(Row("dump → counts", f"{work}: wit queries build, {best_name}, XML MB/s", rate(best), rss(best),
                           "bare bz2 decode (1 thread)", rate(bare), rss(bare)))
    report.rows.append(Row("dump → counts", f"same, {best_name}", rate(best), rss(best),
                           f"gensim 4.4.0 WikiCorpus ({CORES} processes)", rate(gensim), rss(gensim)))
    report.rows.append(Row("dump → counts", f"{work}: decode + XML pages only (no text work)", rate(pages), rss(pages),
                           "bare bz2 decode (1 thread)", rate(bare), rss(bare)))
    # The two goals: single-stream at ≥ 90% of a bare decode, and multistream scaling.
    goal = rate(build[1]).median / rate(bare).median
    report.goals.append(("queries build ≥ 90% of a bare bz2 decode, single-stream, 1 worker (XML MB/s)",
                         f"{100 * goal:.0f}% of the decode rate", goal >= 0.9,
                         "met" if goal >= 0.9 else f"{100 * (0.9 - goal):.0f} points short; {100 * (1 / goal - 1):.0f}% more time than the decode"))
    scaling = rate(build_multi[CORES]).median / rate(build_multi[1]).median
    report.goals.append((f"queries build, multistream: {CORES} threads ≥ 1.7× one", f"{scaling:.2f}×", scaling >= 1.7,
                         "met" if scaling >= 1.7 else f"{1.7 / scaling:.2f}× short"))
    report.scaling.append(("dump → counts", "workers, single-stream, XML MB/s", "1 worker", str(rate(build[1])),
                           f"{CORES} workers", str(rate(build[CORES]))))
    report.scaling.append(("dump → counts", "threads, multistream, XML MB/s", "1 thread", str(rate(build_multi[1])),
                           f"{CORES} threads", str(rate(build_multi[CORES]))))
    big_single, _ = inputs[base * 10]
    big, big_mb = dump_runs("build", big_single, 1, n=1 if QUICK else 2)
    report.scaling.append(("dump → counts", "input size, 1 thread, seconds", f"×1 ({xml_mb:.0f} MB)",
                           str(fig((r.wall for r in build[1]), "s", 2)), f"×10 ({big_mb:.0f} MB)",
                           str(fig((r.wall for r in big), "s", 2))))
    if goal < 0.9 and shutil.which("perf"):
        report.profiles.append(("wit queries build, single-stream, 1 worker (bench_dump build)",
                                perf_profile([bench, "build", single, 1])))


MAKE_DUMP = r"""
import bz2, os, re, sys
src, repeat, single, multi = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
xml = bz2.open(src).read().decode("utf-8")
first, end = xml.index("  <page>"), xml.rindex("</mediawiki>")
pages = re.findall(r"  <page>.*?</page>\n", xml[first:end], re.S) * repeat
body = "".join(pages)
open(single + ".tmp", "wb").write(bz2.compress((xml[:first] + body + xml[end:]).encode(), 9))
os.replace(single + ".tmp", single)
if multi == "-":
    sys.exit(0)
with open(multi + ".tmp", "wb") as out:
    out.write(bz2.compress(xml[:first].encode(), 9))
    for i in range(0, len(pages), 100):
        out.write(bz2.compress("".join(pages[i:i + 100]).encode(), 9))
    out.write(bz2.compress(xml[end:].encode(), 9))
os.replace(multi + ".tmp", multi)
"""

GENSIM = r"""
import sys
from gensim.corpora.wikicorpus import WikiCorpus
corpus = WikiCorpus(sys.argv[1], dictionary={}, processes=int(sys.argv[2]))
print(sum(len(t) for t in corpus.get_texts()))
"""


def stage_matching(bin_dir, report):
    """matching: wit's matcher vs MetaCLIP's pyahocorasick loop, same dictionary and captions."""
    queries = 50_000 if QUICK else 460_000
    captions = 100_000 if QUICK else 1_000_000
    sample = 20_000 if QUICK else 100_000
    bench = bin_dir / "examples" / "bench_matcher"
    dirs = {}
    for n in (captions // 10, captions):
        d = WORK / f"matching-{queries}-{n}"
        if not (d / "done").exists():
            log(f"matching: generating {queries:,} queries and {n:,} captions")
            d.mkdir(parents=True, exist_ok=True)
            subprocess.run([str(bench), "gen", str(d), str(queries), str(n), "1"], check=True, env=ENV)
            (d / "done").touch()
        dirs[n] = d
    log("matching: wit (token trie, the default), 1 and all threads")
    wit = runs([bench, "run", dirs[captions], "tokens", sample])
    stats = [json.loads(r.stdout) for r in wit]
    log("matching: wit's byte-level automata on the same input (aho-corasick contiguous NFA, daachorse)")
    nfa = runs([bench, "run", dirs[captions], "nfa", sample])
    nfa_stats = [json.loads(r.stdout) for r in nfa]
    daac = runs([bench, "run", dirs[captions], "daac", sample])
    daac_stats = [json.loads(r.stdout) for r in daac]
    log(f"matching: pyahocorasick loop over the first {sample:,} captions")
    py = runs([PYTHON, ROOT / "scripts" / "metaclip_match.py", dirs[captions], sample])
    py_stats = [json.loads(r.stdout) for r in py]
    agree = all(x[0]["sample_matches"] == py_stats[0]["sample_matches"] for x in (stats, nfa_stats, daac_stats))
    rate = lambda ss: fig((s["rate_1t"] for s in ss), "captions/s")  # noqa: E731
    work = f"{queries:,}-entry dictionary, {captions:,} captions, captions/s on 1 core (token trie)"
    report.rows.append(Row("matching", work, rate(stats), rss(wit), "pyahocorasick 2.3.1, MetaCLIP's loop",
                           fig((s["rate"] for s in py_stats), "captions/s"), rss(py)))
    report.rows.append(Row("matching", "same, token trie vs a byte automaton", rate(stats), rss(wit),
                           "aho-corasick 1.1 contiguous NFA (wit's previous matcher)", rate(nfa_stats), rss(nfa)))
    report.rows.append(Row("matching", "same, token trie vs a double-array automaton", rate(stats), rss(wit),
                           "daachorse 5.1 double array (overlapping)", rate(daac_stats), rss(daac)))
    report.rows.append(
        Row("matching", "automaton build, seconds", fig((s["build_s"] for s in stats), "s", 2), rss(wit),
            "pyahocorasick", fig((s["build_s"] for s in py_stats), "s", 2), rss(py), lower_is_better=True))
    report.notes.append(
        f"matching: the token trie, the NFA, daachorse and pyahocorasick find the same (caption, query) pairs on the "
        f"first {sample:,} captions: {'yes' if agree else 'NO'} ({py_stats[0]['sample_matches']:,} pairs); "
        f"{stats[0]['matches_per_caption']:.1f} matches per caption, mean caption {stats[0]['caption_bytes_mean']:.0f} "
        f"bytes; token trie tables {stats[0]['automaton_mb']:.0f} MB, peak RSS growth while building "
        f"{stats[0]['rss_build_delta_mb']:.0f} MB; load average before the runs {os.getloadavg()[0]:.1f}.")
    per_core = rate(stats).median
    vs_py = per_core / statistics.median(s["rate"] for s in py_stats)
    build_s = fig((s["build_s"] for s in stats), "s", 2).median
    build_mb = statistics.median(s["rss_build_delta_mb"] for s in stats)
    report.goals.append(("matching ≥ 2M captions/s per core (460k queries)", f"{per_core:,.0f} captions/s",
                         per_core >= 2e6, "met" if per_core >= 2e6 else f"{2e6 / per_core:.1f}× short"))
    report.goals.append(("matching ≥ 20× pyahocorasick per core", f"{vs_py:.1f}×", vs_py >= 20,
                         "met" if vs_py >= 20 else f"{20 / vs_py:.1f}× short"))
    report.goals.append(("matching automaton build ≤ 2 s and ≤ 300 MB", f"{build_s:.2f} s, {build_mb:.0f} MB",
                         build_s <= 2 and build_mb <= 300, "met" if build_s <= 2 and build_mb <= 300 else "over"))
    report.scaling.append(("matching", "threads, captions/s", "1 thread", str(fig((s["rate_1t"] for s in stats), "/s")),
                           f"{stats[0]['threads']} threads", str(fig((s["rate_all"] for s in stats), "/s"))))
    small = runs([bench, "run", dirs[captions // 10], "tokens", sample], n=1)
    report.scaling.append(("matching", "input size, whole process, seconds", f"×1 ({captions // 10:,} captions)",
                           str(fig((r.wall for r in small), "s", 2)), f"×10 ({captions:,})",
                           str(fig((r.wall for r in wit), "s", 2))))
    if (per_core < 2e6 or vs_py < 20) and shutil.which("perf"):
        report.profiles.append(("wit matching, token trie, 1M captions (bench_matcher run … tokens)",
                                perf_profile([bench, "run", dirs[captions], "tokens", sample])))


def stage_cc(bin_dir, report):
    """Common Crawl harvest: wit vs cc2dataset 1.5.0's per-file WAT extraction on the same generated
    WAT file (real HTML pages in Common Crawl's envelope), plus the floors: a bare gzip decode (flate2,
    the floor the 40% goal was set against, and libdeflate, the decoder harvest uses) and a bare JSON
    parse of the same records."""
    pages = 400 if QUICK else 4000
    bench = bin_dir / "examples" / "bench_cc"
    work = WORK / f"cc-{pages}"
    wat = work / "cc.warc.wat.gz"
    if not (work / "mix.json").exists():
        log(f"cc: generating {pages:,} pages as WARC and WAT from fixtures/lang/pages")
        subprocess.run([str(bench), "gen", str(ROOT / "fixtures" / "lang" / "pages"), str(work), str(pages), "1"],
                       check=True, env=ENV, stdout=subprocess.DEVNULL)
    mix = json.loads((work / "mix.json").read_text())
    mb = mix["wat_mb"]
    load = os.getloadavg()[0]
    log("cc: wit harvest (1 thread), bare gzip decodes (flate2, libdeflate), bare JSON parse, cc2dataset")
    wit = runs([bench, "wit", wat, work / "wit"])
    wit_stats = [json.loads(r.stdout) for r in wit]
    gunzip = runs([bench, "gunzip", wat])
    gunzip_libdeflate = runs([bench, "gunzip-libdeflate", wat])
    parse = runs([bench, "json", wat])
    peer = runs([PYTHON, "-c", CC2DATASET, wat, work / "cc2dataset.tsv"])
    peer_pairs = int(peer[0].stdout.strip().splitlines()[-1])
    warc = runs([bench, "wit", work / "cc.warc.gz", work / "wit-warc"])

    per_file = lambda rs: fig((r.cpu for r in rs), "core-s", 2)  # noqa: E731
    rate = lambda rs: fig((mb / r.wall for r in rs), "MB/s", 1)  # noqa: E731
    in_process = lambda rs: fig((mb / json.loads(r.stdout)["seconds"] for r in rs), "MB/s", 1)  # noqa: E731
    work_text = (f"generated WAT, {mix['pages']:,} pages ({mix['records_per_file']:,} records, {mb:.1f} MB gzip, "
                 f"{mix['wat_decompressed_mb']:.0f} MB JSON)")
    report.rows.append(Row("cc harvest", f"{work_text}: core-seconds per file (process CPU)", per_file(wit), rss(wit),
                           "cc2dataset 1.5.0 per-file extraction", per_file(peer), rss(peer), lower_is_better=True))
    report.rows.append(Row("cc harvest", "same, pairs out", fig((s["pairs"] for s in wit_stats), "pairs"), rss(wit),
                           "cc2dataset 1.5.0", fig([peer_pairs], "pairs"), rss(peer)))
    report.rows.append(Row("cc harvest", "same, gzip MB/s inside the process (harvest call only)", in_process(wit),
                           rss(wit), "bare gzip decode (flate2 zlib-rs, 1 thread; the 40% goal's floor)",
                           in_process(gunzip), rss(gunzip)))
    report.rows.append(Row("cc harvest", "same, gzip MB/s inside the process (harvest call only)", in_process(wit),
                           rss(wit), "bare gzip decode (libdeflate, 1 thread, member by member; harvest's decoder)",
                           in_process(gunzip_libdeflate), rss(gunzip_libdeflate)))
    report.rows.append(Row("cc harvest", "same, gzip MB/s inside the process", in_process(wit), rss(wit),
                           "gzip decode + WARC split + serde_json::Value parse", in_process(parse), rss(parse)))
    report.rows.append(Row("cc harvest", f"generated WARC of the same pages ({mix['warc_mb']:.1f} MB gzip), MB/s",
                           fig((mix["warc_mb"] / json.loads(r.stdout)["seconds"] for r in warc), "MB/s", 1), rss(warc)))

    # The pairs side by side: same file, (url, text) as each tool writes them.
    def pairs_of(path):
        with open(path, encoding="utf-8") as f:
            return {tuple(line.rstrip("\n").split("\t", 1)) for line in f if "\t" in line}
    # Python's urljoin drops empty path segments ("images//a.png" → "images/a.png"); the WHATWG URL
    # parser wit uses keeps them, as browsers do. Pairs are compared with runs of slashes in the
    # path collapsed, and the number that differ only so is reported.
    def collapsed(pair):
        url, text = pair
        scheme, sep, rest = url.partition("://")
        return (scheme + sep + re.sub("/{2,}", "/", rest), text)
    raw_ours, raw_theirs = pairs_of(work / "wit" / "pairs.tsv"), pairs_of(work / "cc2dataset.tsv")
    ours, theirs = {collapsed(p) for p in raw_ours}, {collapsed(p) for p in raw_theirs}
    slashes = len(ours & theirs) - len(raw_ours & raw_theirs)
    skipped = wit_stats[0]["skipped"]
    dropped = {k: v for k, v in skipped.items() if not k.startswith(("warc_", "wat_without"))}
    report.notes.append(
        f"cc harvest: the generated file — {mix['pages']:,} pages built from {mix['source_pages']:,} real HTML pages "
        f"(Debian Administrator's Handbook, 26 languages), {mix['records_per_file']:,} WAT records (warcinfo + request, "
        f"response and metadata per page), {mix['wat_kb_per_record']:.1f} KB JSON per record, "
        f"{100 * mix['share_of_pages_with_image_alts']:.0f}% of pages with an image alt, "
        f"{mix['image_alts_per_page']:.2f} alts and {mix['links_per_page']:.0f} links per page. "
        f"Pairs: {len(ours & theirs):,} in both ({slashes:,} of them with different URLs: cc2dataset's urljoin "
        f"drops the empty path segment of 'images//x.png'), {len(theirs - ours):,} only cc2dataset's (wit drops them: "
        f"{', '.join(f'{k} {v}' for k, v in sorted(dropped.items()))}; cc2dataset keeps every non-empty alt, "
        f"duplicates included), {len(ours - theirs):,} only wit's (wit cleans the text: whitespace collapsed, "
        f"entities decoded). cc2dataset runs without pyspark (its driver only) and its pairs are read from "
        f"extract_documents_from_wat. Load average before the runs {load:.1f}.")
    wit_core = per_file(wit).median
    peer_core = per_file(peer).median
    speedup = peer_core / wit_core
    share = in_process(wit).median / in_process(gunzip).median
    report.goals.append(("harvest ≥ 5× cc2dataset per core (same WAT file)", f"{speedup:.1f}×", speedup >= 5,
                         "met" if speedup >= 5 else f"{5 / speedup:.1f}× short"))
    report.goals.append(("harvest ≥ 40% of a bare gzip decode's MB/s", f"{100 * share:.0f}%", share >= 0.4,
                         "met" if share >= 0.4 else f"{100 * (0.4 - share):.0f} points short"))
    if (speedup < 5 or share < 0.4) and shutil.which("perf"):
        report.profiles.append(("wit harvest of the generated WAT, 1 thread (bench_cc wit)",
                                perf_profile([bench, "wit", wat, work / "wit-profile"])))


CC2DATASET = r"""
import sys, types
# cc2dataset imports pyspark for its cluster driver; the per-file extraction never touches it.
for name in ["pyspark", "pyspark.sql", "pyspark.sql.functions"]:
    sys.modules[name] = types.ModuleType(name)
sys.modules["pyspark"].SparkContext = sys.modules["pyspark.sql"].SparkSession = object
sys.modules["pyspark.sql.functions"].rand = None
import logging
from loguru import logger
logger.remove()
from io import BytesIO
from cc2dataset.main import extract_documents_from_wat
path, out = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    stream = BytesIO(f.read())
links = extract_documents_from_wat(stream, "image")
with open(out, "w", encoding="utf-8") as f:
    for link in links:
        f.write(link["url"] + "\t" + link["alt"].replace("\t", " ").replace("\n", " ") + "\n")
print(len(links))
"""


class ImageServer:
    """bench_fetch's loopback image server, one for wit and img2dataset alike: the 640×480 JPEG, or
    the files of `folder` in turn (the mixed real-world set)."""

    def __init__(self, bench, folder=None):
        cmd = [str(bench), "serve"] + ([str(folder)] if folder else [])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=ENV)
        self.port = int(self.proc.stdout.readline())

    def close(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def stage_fetch(bin_dir, report):
    """fetch: wit vs img2dataset 1.47.0, same loopback server and URL list, border 256, q95."""
    n = 400 if QUICK else 2000
    bench = bin_dir / "examples" / "bench_fetch"
    server = ImageServer(bench)
    try:
        work = WORK / "fetch"
        shutil.rmtree(work, ignore_errors=True)
        inputs = {}
        for size in (n, n * 10):
            d = work / f"input-{size}"
            subprocess.run([str(bench), "input", str(d), str(server.port), str(size)], check=True, env=ENV)
            inputs[size] = d
        out = work / "out"
        clear = lambda: shutil.rmtree(out, ignore_errors=True)  # noqa: E731

        def wit(size, threads, count=None):
            rs = runs([bench, "run", inputs[size], out, 256, threads], n=count, before=clear)
            for r in rs:
                got = json.loads(r.stdout)["images"]
                if got != size:
                    raise RuntimeError(f"wit fetched {got} of {size} images")
            return rs

        log(f"fetch: wit, {n} images, {CORES} threads")
        wit_all = wit(n, CORES)
        log(f"fetch: img2dataset 1.47.0, {n} images, {CORES} processes × 32 threads")
        peer = runs([PYTHON, "-c", IMG2DATASET, inputs[n] / "urls.csv", out, CORES, 32, n // (2 * CORES)], before=clear)
        for r in peer:
            got = int(r.stdout.strip().splitlines()[-1])
            if got != n:
                raise RuntimeError(f"img2dataset wrote {got} of {n} images")
        log("fetch: wit, 1 thread; wit at ×10")
        wit_one = wit(n, 1)
        wit_big = wit(n * 10, CORES, count=1)
    finally:
        server.close()
    shutil.rmtree(work / "out", ignore_errors=True)

    cpu_ms = lambda rs, k: fig((1000 * r.cpu / k for r in rs), "ms", 2)  # noqa: E731
    rate = lambda rs, k: fig((k / r.wall for r in rs), "img/s")  # noqa: E731
    work_text = f"{n} × 640×480 JPEG from loopback, border resize 256, JPEG q95"
    report.rows.append(Row("fetch", work_text + ", CPU per image (process tree)", cpu_ms(wit_all, n), rss(wit_all),
                           f"img2dataset 1.47.0 ({CORES} proc × 32 threads)", cpu_ms(peer, n), rss(peer),
                           lower_is_better=True))
    report.rows.append(Row("fetch", f"same, images/s ({CORES} threads, 64 in flight)", rate(wit_all, n), rss(wit_all),
                           "img2dataset 1.47.0", rate(peer, n), rss(peer)))
    report.scaling.append(("fetch", "threads, img/s", "1 thread", str(rate(wit_one, n)), f"{CORES} threads",
                           str(rate(wit_all, n))))
    report.scaling.append(("fetch", "input size, CPU ms/image", f"×1 ({n})", str(cpu_ms(wit_all, n)),
                           f"×10 ({10 * n})", str(cpu_ms(wit_big, 10 * n))))
    peer_ms = cpu_ms(peer, n).median
    ms, ips = cpu_ms(wit_all, n).median, rate(wit_all, n).median
    report.goals.append(("fetch ≤ 1.5 ms CPU per image (640×480 → border 256 q95)", f"{ms:.2f} ms", ms <= 1.5,
                         "met" if ms <= 1.5 else f"{ms / 1.5:.1f}× the budget"))
    report.goals.append(("fetch ≥ 5× img2dataset CPU per image", f"{peer_ms / ms:.1f}×", peer_ms / ms >= 5,
                         "met" if peer_ms / ms >= 5 else f"{5 / (peer_ms / ms):.1f}× short"))
    report.goals.append((f"fetch ≥ 700 img/s ({CORES} cores, server on the same machine)", f"{ips:.0f} img/s",
                         ips >= 700, "met" if ips >= 700 else f"{700 / ips:.1f}× short"))
    fetch_mixed(bin_dir, report, n)
    if (ms > 1.5 or ips < 700) and shutil.which("perf"):
        server = ImageServer(bench)
        try:
            clear()
            # A new server listens on a new port: the profiled run needs its own URL list.
            profiled = work / "input-profile"
            subprocess.run([str(bench), "input", str(profiled), str(server.port), str(n)], check=True, env=ENV)
            report.profiles.append((f"wit fetch, {n} images, {CORES} threads (bench_fetch run)",
                                    perf_profile([bench, "run", profiled, out, 256, CORES])))
        finally:
            server.close()
            shutil.rmtree(work, ignore_errors=True)


def fetch_mixed(bin_dir, report, n):
    """fetch on real photos of mixed sizes (100–4000 px, baseline and progressive): wit vs
    img2dataset on the same server and list, and wit at ×10 for peak RSS."""
    bench = bin_dir / "examples" / "bench_fetch"
    work = WORK / "fetch-mixed"
    shutil.rmtree(work, ignore_errors=True)
    photos = work / "photos"
    subprocess.run([str(bin_dir / "examples" / "bench_codec"), "write-mixed", str(photos)], check=True, env=ENV)
    count = len(list(photos.iterdir()))
    server = ImageServer(bench, photos)
    out = work / "out"
    clear = lambda: shutil.rmtree(out, ignore_errors=True)  # noqa: E731
    try:
        inputs = {}
        for size in (n, n * 10):
            inputs[size] = work / f"input-{size}"
            subprocess.run([str(bench), "input", str(inputs[size]), str(server.port), str(size)], check=True, env=ENV)
        log(f"fetch: mixed real photos ({count} files, 100–4000 px), wit and img2dataset, {n} images")
        wit_rs = runs([bench, "run", inputs[n], out, 256, CORES], before=clear)
        peer = runs([PYTHON, "-c", IMG2DATASET, inputs[n] / "urls.csv", out, CORES, 32, n // (2 * CORES)], before=clear)
        wit_big = runs([bench, "run", inputs[10 * n], out, 256, CORES], n=1, before=clear)
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)
    for r in wit_rs + wit_big:
        if json.loads(r.stdout)["failures"]:
            raise RuntimeError(f"wit failed some mixed images: {r.stdout}")
    cpu_ms = lambda rs, k: fig((1000 * r.cpu / k for r in rs), "ms", 2)  # noqa: E731
    report.rows.append(Row("fetch", f"{n} real photos, mixed sizes 100–4000 px (baseline + progressive) → border 256 "
                           "q95, CPU per image", cpu_ms(wit_rs, n), rss(wit_rs),
                           f"img2dataset 1.47.0 ({CORES} proc × 32 threads)", cpu_ms(peer, n), rss(peer),
                           lower_is_better=True))
    report.scaling.append(("fetch (mixed photos)", "input size, peak RSS MB", f"×1 ({n})", f"{rss(wit_rs):.0f} MB",
                           f"×10 ({10 * n})", f"{rss(wit_big):.0f} MB"))


def stage_codec(bin_dir, report):
    """codec: fetch's image work on one thread (decode → border 256 → JPEG q95), libjpeg-turbo vs the
    pure-Rust SIMD pair (zune-jpeg + jpeg-encoder) and the codecs wit used before."""
    log("codec: libjpeg-turbo, zune-jpeg + jpeg-encoder, jpeg-decoder + image; bench and mixed inputs")
    rs = runs([bin_dir / "examples" / "bench_codec", 2 if QUICK else 4])
    per = {}
    for r in rs:
        for line in r.stdout.splitlines():
            codec, inp, images, cpu, _bytes = line.split("\t")
            per.setdefault((codec, inp), []).append(1000 * float(cpu) / int(images))
    work = {"bench": "640×480 JPEG (bench_fetch's) → border 256 q95, CPU per image, 1 thread",
            "mixed": "real photos 100–4000 px, baseline + progressive → border 256 q95, CPU per image, 1 thread"}
    for inp, text in work.items():
        ours = fig(per[("libjpeg-turbo", inp)], "ms", 2)
        for peer in ("zune-jpeg + jpeg-encoder", "jpeg-decoder + image"):
            report.rows.append(Row("codec", f"{text}: libjpeg-turbo", ours, rss(rs), peer,
                                   fig(per[(peer, inp)], "ms", 2), rss(rs), lower_is_better=True))
        report.rows.append(Row("codec", f"{text}: libjpeg-turbo, whole image work", ours, rss(rs),
                               "floor: libjpeg-turbo decode alone, same DCT scale",
                               fig(per[("libjpeg-turbo decode only", inp)], "ms", 2), rss(rs), lower_is_better=True))


IMG2DATASET = r"""
import sys, glob, logging
import pyarrow.parquet as pq
logging.disable(logging.WARNING)
from img2dataset import download
urls, out, processes, threads, shard = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
if __name__ == "__main__":
    download(url_list=urls, input_format="csv", url_col="url", caption_col="caption", output_folder=out,
             output_format="parquet", processes_count=processes, thread_count=threads, image_size=256,
             resize_mode="border", encode_quality=95, encode_format="jpg", number_sample_per_shard=shard,
             distributor="multiprocessing", timeout=10, retries=0, enable_wandb=False)
    print(sum(pq.read_metadata(f).num_rows for f in glob.glob(f"{out}/*.parquet")))
"""


def stage_harvest(bin_dir, report):
    """harvest: WARC and WAT records/s and MB/s through the whole stage, next to a bare gzip decode."""
    records = 400 if QUICK else 2000
    bench = bin_dir / "examples" / "bench_harvest"
    keep = WORK / "harvest"
    log(f"harvest: {records} WARC and WAT records, 1 thread")
    rs = runs([bench, records, keep])

    def parse(rs, decision="page"):
        table = {}
        for r in rs:
            for line in r.stdout.splitlines()[1:]:
                name, mode, recs, mb, pairs, seconds, _rps, _pps, _mbps = line.split()
                if mode == decision:
                    table.setdefault(name, []).append((int(recs), float(mb), float(seconds), int(pairs)))
        return table

    table = parse(rs)
    before = parse(rs, "caption")
    big = parse(runs([bench, records * 10], n=1))
    for name in ("WARC", "WAT"):
        report.rows.append(Row("harvest", f"{name}, pairs/s, language from caption and page (default)",
                               fig((p / s for _, _, s, p in table[name]), "pairs/s"), rss(rs),
                               "same, whatlang on the caption alone (before #25)",
                               fig((p / s for _, _, s, p in before[name]), "pairs/s"), rss(rs)))
    for name, path in (("WARC", keep / "bench.warc.gz"), ("WAT", keep / "bench.wat.gz")):
        gunzip = runs(["sh", "-c", f"gzip -dc '{path}' > /dev/null"])
        mb = table[name][0][1]
        report.rows.append(Row("harvest", f"{name}, {records} records ({mb:.1f} MB gz), records/s, 1 thread",
                               fig((r / s for r, _, s, _ in table[name]), "rec/s"), rss(rs)))
        report.rows.append(Row("harvest", f"{name}, MB/s of gzip input", fig((m / s for _, m, s, _ in table[name]), "MB/s", 1),
                               rss(rs), "gzip -dc of the same file", fig((mb / r.wall for r in gunzip), "MB/s", 1),
                               rss(gunzip)))
        report.scaling.append(("harvest", f"{name} input size, records/s", f"×1 ({records})",
                               str(fig((r / s for r, _, s, _ in table[name]), "rec/s")), f"×10 ({records * 10})",
                               str(fig((r / s for r, _, s, _ in big[name]), "rec/s"))))
    shutil.rmtree(keep, ignore_errors=True)


LINGUA = """
import sys, time
from lingua import Language, LanguageDetectorBuilder
rows = [l.rstrip("\\n").split("\\t") for l in open(sys.argv[1], encoding="utf-8")][1:]
detector = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()
started = time.perf_counter()
found = [detector.detect_language_of(r[3]) for r in rows]
seconds = time.perf_counter() - started
eng = [f == Language.ENGLISH for r, f in zip(rows, found) if r[0] == "eng"]
other = [f != Language.ENGLISH for r, f in zip(rows, found) if r[0] != "eng"]
print(f"lingua {100 * sum(eng) / len(eng):.1f}% {100 * sum(other) / len(other):.1f}% {len(rows)} {seconds:.3f} {len(rows) / seconds:.0f}")
"""


def stage_language(bin_dir, report):
    """language: the default English filter on fixtures/lang's labelled real short texts (every text
    on its own page), whatlang alone and with page evidence, next to lingua on the caption alone."""
    labelled = ROOT / "fixtures/lang/labelled.tsv"
    log(f"language: {labelled}")
    rs = runs([bin_dir / "examples" / "bench_language", labelled.parent])
    peer = runs([sys.executable, "-c", LINGUA, labelled])
    table = {}
    for r in rs + peer:
        for line in r.stdout.splitlines():
            fields = line.split()
            if fields and fields[0] in ("caption", "page", "lingua"):
                table.setdefault(fields[0], []).append((fields[1], fields[2], int(fields[3]), float(fields[5])))
    (le, lo, n, _), = table["lingua"][:1]
    for mode, what in (("caption", "whatlang on the caption alone"), ("page", "caption and page (default)")):
        eng, other, n, _ = table[mode][0]
        report.rows.append(Row("language", f"{n} real short texts, {what}: English kept {eng}, others rejected "
                               f"{other}; texts/s (lingua: {le}, {lo})",
                               fig((t for *_, t in table[mode]), "texts/s"), rss(rs),
                               "lingua 2.1.1, caption alone, all languages",
                               fig((t for *_, t in table["lingua"]), "texts/s"), rss(peer)))


def stage_trainer(bin_dir, report):
    """trainer input: images per CPU-second from corpus shards to 224 px batches (u8, as a GPU gets
    them; and normalised on the CPU, as a CPU-only run needs them)."""
    rows = 500 if QUICK else 2000
    bench = bin_dir / "examples" / "bench_input"
    log(f"trainer: input pipeline over {rows} rows (JPEG, short side 256), 1 and {CORES} decode threads")
    rs = runs([bench, rows, 256], n=max(1, RUNS - 1))
    line = re.compile(r"^JPEG.*?\s(\d+) (u8 batches|normalised on CPU)\s+[\d.]+\s+(\d+)\s+[\d.]+\s+(\d+)$")
    wall, per_cpu = {}, {}
    for r in rs:
        for text in r.stdout.splitlines():
            m = line.match(text.strip())
            if m:
                key = (int(m[1]), m[2])
                wall.setdefault(key, []).append(float(m[3]))
                per_cpu.setdefault(key, []).append(float(m[4]))
    many = max(threads for threads, _ in wall)
    for output in ("u8 batches", "normalised on CPU"):
        for threads in sorted({1, many}):
            report.rows.append(Row("trainer input",
                                   f"{rows} shard rows (JPEG q90, short side 256) → 224 px {output}, {threads} thread(s)",
                                   fig(per_cpu[(threads, output)], "img/CPU-s"), rss(rs)))
    report.scaling.append(("trainer input", "threads, u8 batches, img/s", "1 thread",
                           str(fig(wall[(1, "u8 batches")], "img/s")), f"{many} threads",
                           str(fig(wall[(many, "u8 batches")], "img/s"))))
    rate = statistics.median(per_cpu[(1, "u8 batches")] + per_cpu[(many, "u8 batches")])
    report.goals.append(("trainer loader ≥ 1,500 img/s per core (u8 batches; a GPU normalises them)",
                         f"{rate:.0f} images per CPU-second", rate >= 1500,
                         "met" if rate >= 1500 else f"{1500 / rate:.2f}× short"))


def stage_faults(bin_dir, report):
    """faults: `wit fetch` over the fault web (34 fault kinds plus good images), URLs/s and peak RSS."""
    urls = 10000 if QUICK else 50000
    work = WORK / "faults"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    faultweb = bin_dir / "examples" / "faultweb"
    log(f"faults: {urls} URLs over the fault web")
    server = subprocess.Popen([str(faultweb), "serve", str(urls), str(work)], env=ENV)
    try:
        for _ in range(600):
            if (work / "ready").exists():
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the fault web did not start")
        run = run_once([str(bin_dir / "wit"), "-q", "fetch", str(work / "urls.txt"), "-o", str(work / "out"),
                        "--allow-address", "127.0.0.2", "--breaker-threshold", "0", "--retries", "0",
                        "--timeout", "3", "--max-body-bytes", "1000000", "--concurrency", "256",
                        "--per-host-concurrency", "256", "--image-size", "64", "--shard-rows", "10000"])
        # Every URL once, with its kind's expected outcome (exits non-zero otherwise).
        subprocess.run([str(faultweb), "check", str(work / "urls.txt"), str(work / "out")], env=ENV, check=True,
                       stdout=subprocess.DEVNULL)
    finally:
        server.kill()
        server.wait()
    report.rows.append(Row("faults", f"fetch over the fault web: {urls} URLs (34 fault kinds + good images), "
                           "all accounted for, 1 run", fig([urls / run.wall], "URLs/s"), run.rss_mb))
    shutil.rmtree(work, ignore_errors=True)


def stage_shards(bin_dir, report):
    """corpus shards: wit's contract reader vs pyarrow reading the same file."""
    rows = 4000 if QUICK else 20000
    out = WORK / "shards"
    out.mkdir(parents=True, exist_ok=True)
    wit = runs([bin_dir / "examples" / "shard_throughput", rows, 16384, out])
    lines = [dict(enumerate(l.split("\t"))) for l in wit[0].stdout.splitlines()]
    shard = next(l[1] for l in lines if l[0] == "file")
    reads = [float(l.split("\t")[3]) for r in wit for l in r.stdout.splitlines() if l.startswith("read")]
    peer = runs([PYTHON, "-c", PYARROW_READ, shard, rows])
    report.rows.append(Row("corpus shards", f"read {rows} rows × 16 KiB images, MB/s", fig(reads, "MB/s"), rss(wit),
                           "pyarrow read_table", fig((float(r.stdout) for r in peer), "MB/s"), rss(peer)))
    shutil.rmtree(out, ignore_errors=True)


def stage_dedup(bin_dir, report):
    """dedup: perceptual hashes per second per core (on decoded rasters: fetch's added cost; from
    encoded bytes: decontaminate's per eval image), and `wit dedup` over synthetic corpora of
    uniform random 64-bit hashes with 1% planted near duplicates (bench_dedup corpus), at the
    default threshold 8 (both search schemes) and at 4, 1× and 10× rows."""
    log("dedup: phash rate on fixtures/images; wit dedup on synthetic hashes")
    rs = runs([bin_dir / "examples" / "bench_dedup", "hash", ROOT / "fixtures/images", 1 if QUICK else 3])
    rates = {}
    for r in rs:
        for line in r.stdout.splitlines():
            label, n, seconds, _ = line.split("\t")
            rates.setdefault(label, []).append(int(n) / float(seconds))
    report.rows.append(Row("dedup", "image_phash on the decoded raster (scikit-image samples, full size), 1 core",
                           fig(rates["raster"], "hashes/s"), rss(rs)))
    report.rows.append(Row("dedup", "image_phash from encoded bytes (decode at DCT scale + hash), 1 core",
                           fig(rates["bytes"], "hashes/s"), rss(rs)))
    sizes = [20_000, 200_000] if QUICK else [100_000, 1_000_000]
    times = {}
    for rows in sizes:
        corpus = generated(WORK / f"dedup-corpus-{rows}", [bin_dir / "examples" / "bench_dedup", "corpus", rows, None])
        # (threshold, --search): auto picks the cheaper exact scheme; at 8 both schemes are shown.
        for threshold, search in ((4, "auto"), (8, "auto"), (8, "exact-bands"), (8, "balls")):
            if search == "exact-bands" and rows > 100_000 and os.environ.get("BENCH_DEDUP_FULL") != "1":
                # Exact bands at 8 bits of 64 compare every pair inside a 7-bit band value: quadratic
                # in rows (9 bands × (2N)² / 256 pairs); auto takes the balls there.
                continue
            out = WORK / f"dedup-out-{rows}-{threshold}"
            rs = runs([bin_dir / "wit", "dedup", corpus, "-o", out, "--threshold", threshold, "--search", search, "-q"],
                      n=1, before=lambda out=out: shutil.rmtree(out, ignore_errors=True))
            times[(rows, threshold, search)] = rs
            dropped = re.search(r"(\d+) near duplicates dropped", rs[0].stdout)
            scheme = re.search(r"; ((?:exact bands|balls of radius 1) \(\d+ bands\)), (\d+) comparisons", rs[0].stdout)
            how = f"{scheme.group(1)}, {int(scheme.group(2)):,} pairs compared" if scheme else "?"
            report.rows.append(Row("dedup", f"wit dedup, {rows:,} synthetic hashes (1% planted), threshold {threshold}, "
                                   f"--search {search}: {how}; {dropped.group(1) if dropped else '?'} dropped; 1 process",
                                   fig((r.wall for r in rs), "s", 1), rss(rs), lower_is_better=True))
            shutil.rmtree(out, ignore_errors=True)
    small, large = sizes
    for threshold, search in ((4, "auto"), (8, "balls")):
        if (small, threshold, search) in times and (large, threshold, search) in times:
            wall = lambda rows: str(fig((r.wall for r in times[(rows, threshold, search)]), "s", 1))
            report.scaling.append(("dedup", f"rows, threshold {threshold}, --search {search}", f"{small:,}", wall(small),
                                   f"{large:,}", wall(large)))


def stage_export(bin_dir, report):
    """export: `wit export webdataset` of a corpus whose images are what wit stores (JPEG q90, short
    side 256, from fixtures/images), next to the same tars written in Python with pyarrow and
    webdataset's ShardWriter (scripts/webdataset_peer.py); 1× and 10× rows, 10,000 samples per tar."""
    sizes = [1_000, 10_000] if QUICK else [5_000, 50_000]
    results = {}
    for rows in sizes:
        corpus = generated(WORK / f"export-corpus-{rows}",
                           [bin_dir / "examples" / "bench_export", "corpus", None, rows, ROOT / "fixtures/images"])
        mb = sum(f.stat().st_size for f in (corpus / "data").glob("*.parquet")) / 1e6
        log(f"export: {rows:,} rows ({mb:.0f} MB): wit export webdataset, then pyarrow + webdataset.ShardWriter")
        out = WORK / "export-out"
        clear = lambda: shutil.rmtree(out, ignore_errors=True)
        wit = runs([bin_dir / "wit", "export", "webdataset", corpus, "-o", out, "--samples-per-tar", 10_000, "-q"],
                   before=clear)
        peer = runs([PYTHON, ROOT / "scripts/webdataset_peer.py", corpus, out, 10_000], before=clear)
        clear()
        results[rows] = (wit, peer, mb)
        work = f"{rows:,} corpus rows ({mb:.0f} MB of Parquet, JPEG q90 short side 256) → WebDataset tars"
        report.rows.append(Row("export", f"{work}, samples per CPU-second, 1 process", fig((rows / r.cpu for r in wit),
                               "samples/CPU-s"), rss(wit), "pyarrow + webdataset 0.2.86 ShardWriter",
                               fig((rows / r.cpu for r in peer), "samples/CPU-s"), rss(peer)))
        report.rows.append(Row("export", f"{work}, MB/s of corpus read, wall", fig((mb / r.wall for r in wit), "MB/s"),
                               rss(wit), "pyarrow + webdataset 0.2.86 ShardWriter",
                               fig((mb / r.wall for r in peer), "MB/s"), rss(peer)))
    small, large = sizes
    wall = lambda rows: str(fig((r.wall for r in results[rows][0]), "s", 2))
    report.scaling.append(("export webdataset", "corpus rows, seconds (peak RSS)",
                           f"×1 ({small:,})", f"{wall(small)} ({rss(results[small][0]):.0f} MB)",
                           f"×10 ({large:,})", f"{wall(large)} ({rss(results[large][0]):.0f} MB)"))


PYARROW_READ = r"""
import os, sys, time, pyarrow.parquet as pq
path, rows = sys.argv[1], int(sys.argv[2])
start = time.perf_counter()
table = pq.read_table(path)
total = sum(len(chunk.buffers()[2]) for chunk in table.column("image").chunks)
assert table.num_rows == rows, table.num_rows
print(os.path.getsize(path) / 1e6 / (time.perf_counter() - start))
"""


# ------------------------------------------------------------------------------------------ profiles


def perf_profile(cmd):
    """`perf record` of one run; the top of `perf report` (self time by symbol)."""
    data = WORK / "perf.data"
    try:
        subprocess.run(["perf", "record", "-q", "-F", "499", "-g", "-o", str(data), "--"] + [str(c) for c in cmd],
                       check=True, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        text = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "-g", "none",
                               "--percent-limit", "1.5", "--sort", "dso,symbol"],
                              check=True, env=ENV, capture_output=True, text=True).stdout
    except (subprocess.CalledProcessError, OSError) as error:
        return f"(perf failed: {error})"
    finally:
        data.unlink(missing_ok=True)
    lines = [l for l in text.splitlines() if l.strip() and not l.startswith("#")]
    return "\n".join(l.rstrip()[:150] for l in lines[:25])


# ------------------------------------------------------------------------------------------- output


def machine():
    model = "unknown CPU"
    try:
        model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    return (f"{CORES} cores ({model}), {mem_gib:.0f} GiB memory, Linux {os.uname().release}; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; commit {commit or '?'}{' (with local changes)' if dirty else ''}")


def markdown(report, seconds):
    out = []
    out.append("| stage | work | wit | peer | peer's figure | wit vs peer | wit peak RSS | peer peak RSS |")
    out.append("|---|---|---|---|---|---|---|---|")
    for r in report.rows:
        peer_rss = f"{r.peer_rss:,.0f} MB" if r.peer_rss is not None else "–"
        out.append(f"| {r.stage} | {r.work} | {r.wit} | {r.peer} | {r.peer_fig or '–'} | {r.ratio()} | "
                   f"{r.wit_rss:,.0f} MB | {peer_rss} |")
    table = "\n".join(out)
    scaling = ["| stage | what changes | small | wit | large | wit |", "|---|---|---|---|---|---|"]
    scaling += [f"| {' | '.join(s)} |" for s in report.scaling]
    goals = ["| goal (from the stage issues) | measured | met? | by how much |", "|---|---|---|---|"]
    goals += [f"| {g} | {m} | {'yes' if ok else 'no'} | {how} |" for g, m, ok, how in report.goals]
    return table, "\n".join(scaling), "\n".join(goals)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bench.py RELEASE_DIR")
    bin_dir = Path(sys.argv[1]).resolve()
    WORK.mkdir(parents=True, exist_ok=True)
    report = Report()
    failed = []
    started = time.perf_counter()
    stages = [("dump", stage_dump), ("matching", stage_matching), ("codec", stage_codec), ("fetch", stage_fetch),
              ("harvest", stage_harvest), ("cc", stage_cc), ("language", stage_language), ("trainer", stage_trainer),
              ("faults", stage_faults),
              ("shards", stage_shards), ("dedup", stage_dedup), ("export", stage_export)]
    for name, stage in stages:
        if ONLY and name not in ONLY:
            continue
        t = time.perf_counter()
        try:
            stage(bin_dir, report)
        except (RuntimeError, OSError, subprocess.CalledProcessError, KeyError, ValueError) as error:
            # One stage failing leaves the others' rows; the failure is in the table's notes.
            log(f"{name}: FAILED: {error}")
            report.notes.append(f"{name}: the benchmark failed ({error}); no rows.")
            failed.append(name)
        log(f"{name}: {time.perf_counter() - t:.0f} s")
    seconds = time.perf_counter() - started
    table, scaling, goals = markdown(report, seconds)
    header = machine()
    print()
    print(f"wit benchmarks — {header}")
    print(f"median of {RUNS} runs (min–max); {seconds / 60:.1f} minutes in all")
    print()
    print(table)
    print()
    print(scaling)
    print()
    print(goals)
    for note in report.notes:
        print(f"\n{note}")
    if QUICK or ONLY:
        log("BENCH_QUICK/BENCH_ONLY: BENCHMARKS.md left as it is")
        sys.exit(f"bench: {', '.join(failed)} failed" if failed else 0)
    analysis = ROOT / "scripts" / "bench-analysis.md"
    doc = [
        "# Benchmarks",
        "",
        "Written by `make bench` (scripts/bench.py); rerun it to refresh. Every figure is the median of "
        f"{RUNS} runs, with min–max in brackets; CPU time and peak RSS cover the whole process tree of a run "
        "(img2dataset's worker processes included). Inputs are generated by the benchmarks; peers are installed "
        "into the project venv by scripts/install-bench-peers.sh.",
        "",
        f"Machine: {header}. Whole `make bench` after the build: {seconds / 60:.1f} minutes.",
        "",
        table,
        "",
        *(f"- {note}" for note in report.notes),
        "",
        "## Scaling",
        "",
        scaling,
        "",
        "## Goals",
        "",
        goals,
        "",
    ]
    scale = WORK / "scale.md"  # written by scripts/bench-scale.sh, which bench.sh runs first
    if scale.exists():
        doc += ["## Scale: partitioned merges (scripts/bench-scale.sh)", "", scale.read_text().rstrip(), ""]
    if analysis.exists():
        doc += [analysis.read_text().rstrip(), ""]
    if report.profiles:
        doc += ["## Profiles (`perf record -F 499 -g`, self time by symbol, top entries)", ""]
        for title, text in report.profiles:
            doc += [f"### {title}", "", "```text", text, "```", ""]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(doc))
    log(f"wrote {ROOT / 'BENCHMARKS.md'}")
    if failed:
        sys.exit(f"bench: {', '.join(failed)} failed")


if __name__ == "__main__":
    main()
