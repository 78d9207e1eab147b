//! `wit queries` as users run it, on the real enwiki excerpt gensim ships (fixtures/enwiki): counts
//! checked against an independent Python count of the printed text, outputs read back with
//! pyarrow, the dictionary fed to `wit curate`, and every reading path (single stream, multistream
//! with and without its index, stdin, spilling, ranks) giving byte-identical dictionaries.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use wit_contract::{pair_key, write_stage_folder, Candidate, Manifest, RecordKind};
use wit_tests::wit_stdout as run;
use wit_tests::{run_python, wit, workspace_binary, workspace_root};

fn enwiki() -> PathBuf {
    let path =
        workspace_root().join("fixtures/enwiki/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2");
    assert!(path.exists(), "{} missing: run `make fixtures`", path.display());
    path
}

fn wordnet() -> PathBuf {
    let path = workspace_root().join("fixtures/wordnet");
    assert!(path.join("data.noun").exists(), "{} missing: run `make fixtures`", path.display());
    path
}

fn stats(out: &Path) -> serde_json::Value {
    let manifest = Manifest::load(out).unwrap();
    assert_eq!(manifest.kind, RecordKind::Queries);
    assert!(manifest.complete);
    manifest.stats
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Counts unigrams and bigrams of `wit queries text` output the way the README defines them,
/// with Python's regular expressions, and checks every counted entry of the dictionary.
const CHECK_COUNTS: &str = r#"
import sys, re, math, json, collections, pyarrow.parquet as pq
text_path, out, min_count = sys.argv[1], sys.argv[2], int(sys.argv[3])
token = re.compile(r"[^\W_]+(?:['’.\-][^\W_]+)*")
uni, bi = collections.Counter(), collections.Counter()
for line in open(text_path, encoding="utf-8"):
    prev = None
    for m in token.finditer(line):
        uni[m.group()] += 1
        if prev is not None and re.fullmatch(r"[ \t]+", line[prev.end():m.start()]):
            bi[prev.group() + " " + m.group()] += 1
        prev = m
n = sum(uni.values())
m = json.load(open(out + "/_manifest.json"))
N = m["stats"]["tokens"]
# Python's \w and Rust's char::is_alphanumeric differ on a few rare characters: totals agree closely.
assert abs(N - n) / n < 0.001, (N, n)
t = pq.read_table(out + "/data/queries.parquet")
assert t.column_names == ["id", "query", "source", "count", "pmi"], t.column_names
rows = t.to_pylist()
assert [r["id"] for r in rows] == list(range(len(rows)))
assert [r["query"] for r in rows] == sorted(r["query"] for r in rows), "ids follow byte order"
queries = {r["query"]: r for r in rows}
for r in rows:
    if r["source"] == "unigram":
        assert r["count"] == uni[r["query"]] >= min_count, r
    elif r["source"] == "bigram":
        a, b = r["query"].split(" ")
        assert r["count"] == bi[r["query"]] >= min_count, r
        expected = math.log2(bi[r["query"]] * N / (uni[a] * uni[b]))
        assert abs(r["pmi"] - expected) < 1e-9, (r, expected)
frequent_uni = {k for k, c in uni.items() if c >= min_count}
frequent_bi = {k for k, c in bi.items() if c >= min_count}
missing = (frequent_uni | frequent_bi) - queries.keys()
assert not missing, sorted(missing)[:20]
for k in frequent_uni | frequent_bi:
    assert queries[k]["count"] == (uni[k] or bi[k]), k
assert abs(m["stats"]["distinct_unigrams"] - len(uni)) / len(uni) < 0.005, (m["stats"]["distinct_unigrams"], len(uni))
assert abs(m["stats"]["distinct_bigrams"] - len(bi)) / len(bi) < 0.005, (m["stats"]["distinct_bigrams"], len(bi))
print(len(rows), len(frequent_uni), len(frequent_bi), n)
"#;

#[test]
fn build_on_the_enwiki_excerpt_matches_an_independent_count_and_feeds_curate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("queries");
    let titles = dir.path().join("titles.tsv");
    fs::write(&titles, "page_title\nAnarchism\t900\nAlbedo\t50\nAbraham_Lincoln\t700\nRare_page\t1\n").unwrap();
    let text = run(&[
        "queries",
        "build",
        &s(&enwiki()),
        "-o",
        &s(&out),
        "--min-count",
        "20",
        "--size",
        "100000",
        "--wordnet",
        &s(&wordnet()),
        "--titles",
        &s(&titles),
        "--title-min-views",
        "10",
    ]);
    assert!(text.contains("106 articles (206 pages, 100 redirects skipped)"), "{text}");
    run(&["verify", &s(&out)]);
    let stats = stats(&out);
    assert_eq!(stats["pages"], 206);
    assert_eq!(stats["articles"], 106);
    assert_eq!(stats["redirects"], 100);
    assert_eq!(stats["wordnet_synsets"], 82_115, "WordNet 3.0 has 82,115 noun synsets");
    assert_eq!(stats["titles_read"], 4);
    assert_eq!(stats["titles_kept"], 3);
    assert_eq!(stats["selected"]["wordnet"], 67_893, "distinct noun head words");
    assert!(stats["selected"]["unigram"].as_u64().unwrap() > 1000, "{stats}");
    assert!(stats["selected"]["bigram"].as_u64().unwrap() > 50, "{stats}");

    let plain = dir.path().join("plain.txt");
    fs::write(&plain, run(&["queries", "text", &s(&enwiki())])).unwrap();
    let summary = run_python(CHECK_COUNTS, &[&s(&plain), &s(&out), "20"]);
    let numbers: Vec<u64> = summary.split_whitespace().map(|n| n.parse().unwrap()).collect();
    assert_eq!(numbers[0], stats["entries"].as_u64().unwrap());

    // The TSV for people says the same.
    let tsv = fs::read_to_string(out.join("_queries.tsv")).unwrap();
    assert_eq!(tsv.lines().count() as u64, numbers[0] + 1);
    assert!(tsv.contains("\tAlbedo\ttitle\t"), "a title no other source holds");

    // curate reads the folder as its dictionary.
    let candidates = dir.path().join("candidates");
    fs::create_dir_all(&candidates).unwrap();
    let captions = ["anarchism and the state", "a photo of Abraham Lincoln", "the end of it"];
    let rows: Vec<Candidate> = captions
        .iter()
        .enumerate()
        .map(|(i, caption)| {
            let url = format!("http://127.0.0.1:9/{i}.jpg");
            Candidate {
                key: pair_key(&url, caption),
                url,
                caption: caption.to_string(),
                page_url: None,
                source: "list".into(),
                lang: None,
                lang_conf: None,
                provenance: Default::default(),
            }
        })
        .collect();
    write_stage_folder::<Candidate>(&candidates, serde_json::json!({}), [&rows]).unwrap();
    let curated = dir.path().join("curated");
    let text = run(&["curate", "--queries", &s(&out), "--candidates", &s(&candidates), "-o", &s(&curated)]);
    assert!(text.contains("3 candidates, 3 matched"), "{text}");

    // A rerun with the same flags does nothing.
    let again = run(&[
        "queries",
        "build",
        &s(&enwiki()),
        "-o",
        &s(&out),
        "--min-count",
        "20",
        "--size",
        "100000",
        "--wordnet",
        &s(&wordnet()),
        "--titles",
        &s(&titles),
        "--title-min-views",
        "10",
    ]);
    assert!(again.contains("nothing to do"), "{again}");
}

/// Writes the excerpt as a Wikimedia-style multistream dump (header stream, streams of 10 pages,
/// footer stream) and its index, plus the plain XML.
const MAKE_MULTISTREAM: &str = r#"
import sys, bz2, re
src, dump, index, plain = sys.argv[1:5]
xml = bz2.open(src).read().decode("utf-8")
open(plain, "w", encoding="utf-8").write(xml)
first = xml.index("  <page>")
end = xml.rindex("</mediawiki>")
pages = re.findall(r"  <page>.*?</page>\n", xml[first:end], re.S)
assert "".join(pages) == xml[first:end]
parts = [xml[:first]] + ["".join(pages[i:i + 10]) for i in range(0, len(pages), 10)] + [xml[end:]]
out, lines, offset = bytearray(), [], 0
for k, part in enumerate(parts):
    if 0 < k < len(parts) - 1:
        for page in re.findall(r"<title>(.*?)</title>\s*<ns>\d+</ns>\s*<id>(\d+)</id>", part):
            lines.append(f"{len(out)}:{page[1]}:{page[0]}")
    out += bz2.compress(part.encode("utf-8"), 9)
open(dump, "wb").write(bytes(out))
open(index, "wb").write(bz2.compress(("\n".join(lines) + "\n").encode("utf-8")))
print(len(parts))
"#;

#[test]
fn every_reading_path_gives_the_same_dictionary() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name);
    let multi = d("enwiki-multistream.xml.bz2");
    let index = d("enwiki-multistream-index.txt.bz2");
    let scanned = d("copy-without-index.xml.bz2");
    let plain = d("enwiki.xml");
    let streams = run_python(MAKE_MULTISTREAM, &[&s(&enwiki()), &s(&multi), &s(&index), &s(&plain)]);
    assert_eq!(streams.trim(), "23");
    fs::copy(&multi, &scanned).unwrap();
    let common = ["--min-count", "5", "--size", "20000", "--threads", "2", "--unit-bytes", "64K"];
    let build = |input: &Path, out: &str, extra: &[&str]| {
        run(&[&["queries", "build", &s(input), "-o", &s(&d(out))], &common[..], extra].concat());
        stats(&d(out))
    };
    let reference = build(&enwiki(), "single", &[]);
    assert_eq!(reference["spilled_runs"], 0);
    assert_eq!(reference["streams"], 0, "one stream: read whole");
    let parquet = |out: &str| fs::read(d(out).join("data/queries.parquet")).unwrap();

    let spilled = build(&enwiki(), "spilled", &["--memory-budget", "64K"]);
    assert!(spilled["spilled_runs"].as_u64().unwrap() > 2, "{spilled}");
    assert_eq!(parquet("spilled"), parquet("single"), "the spill path changes nothing");

    let indexed = build(&multi, "indexed", &[]);
    assert_eq!(indexed["streams"], 22, "the header stream and the 21 the index lists: {indexed}");
    assert!(indexed["units"].as_u64().unwrap() > 1, "{indexed}");
    assert_eq!(parquet("indexed"), parquet("single"));
    let scan = build(&scanned, "scanned", &[]);
    assert_eq!(scan["streams"], 23, "{scan}");
    assert_eq!(parquet("scanned"), parquet("single"));
    for key in ["pages", "articles", "redirects", "tokens", "distinct_unigrams", "distinct_bigrams"] {
        assert_eq!(indexed[key], reference[key], "{key}");
        assert_eq!(scan[key], reference[key], "{key}");
    }
    build(&plain, "plain", &[]);
    assert_eq!(parquet("plain"), parquet("single"));

    // Standard input.
    let output = Command::new(workspace_binary("wit"))
        .args([&["queries", "build", "-", "-o", &s(&d("stdin"))], &common[..]].concat())
        .stdin(Stdio::from(fs::File::open(&plain).unwrap()))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(parquet("stdin"), parquet("single"));

    // Two ranks over the multistream file, then the merge.
    for rank in ["0", "1"] {
        run(&[
            &[
                "queries",
                "build",
                &s(&multi),
                "-o",
                &s(&d("ranks")),
                "--phase",
                "count",
                "--rank",
                rank,
                "--world-size",
                "2",
            ],
            &common[..],
        ]
        .concat());
    }
    run(&[&["queries", "build", "-o", &s(&d("ranks")), "--phase", "merge", "--world-size", "2"], &common[..]].concat());
    // The merge's config names no inputs; compare the dictionary itself.
    assert_eq!(parquet("ranks"), parquet("single"));
    let ranks = stats(&d("ranks"));
    assert_eq!(ranks["articles"], 106);
    assert_eq!(ranks["tokens"], reference["tokens"]);
}

#[test]
fn text_shows_plain_prose() {
    let text = run(&["queries", "text", &s(&enwiki())]);
    for markup in ["{{", "}}", "[[", "]]", "<ref", "'''", "{|", "|}"] {
        assert!(!text.contains(markup), "{markup:?} left in the text");
    }
    assert!(!text.lines().any(|l| l.starts_with('|') || l.starts_with('!')), "table rows left");
    assert!(text.contains("Anarchism is a political philosophy"), "{}", &text[..500.min(text.len())]);
    let limited = run(&["queries", "text", "--limit", "2", "--titles", &s(&enwiki())]);
    assert_eq!(limited.lines().filter(|l| l.starts_with("### ")).count(), 2);
}

#[test]
fn bad_inputs_name_the_file_and_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = fs::read(enwiki()).unwrap();
    let truncated = dir.path().join("truncated.xml.bz2");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let output = wit(&["queries", "build", &s(&truncated), "-o", &s(&dir.path().join("o1"))]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("truncated.xml.bz2") && err.contains("compressed byte"), "{err}");

    let xml = dir.path().join("bad.xml");
    fs::write(
        &xml,
        "<mediawiki><page><title>A</title><ns>0</ns><id>1</id><revision><text>x</text></revisoin></page></mediawiki>",
    )
    .unwrap();
    let output = wit(&["queries", "build", &s(&xml), "-o", &s(&dir.path().join("o2"))]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("bad.xml") && err.contains("malformed XML at byte"), "{err}");
    let output = wit(&["queries", "text", &s(&xml)]);
    assert!(!output.status.success());

    let missing = dir.path().join("missing.xml.bz2");
    let output = wit(&["queries", "build", &s(&missing), "-o", &s(&dir.path().join("o3"))]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("missing.xml.bz2"), "{err}");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
}
