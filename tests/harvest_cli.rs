//! `wit harvest` as users run it: a WARC and a WAT file written here (gzip members, chunked and
//! gzip-encoded HTTP bodies, list-valued WAT headers), csv / jsonl / parquet URL lists (the parquet
//! one written by pyarrow), the output read back by pyarrow and checked against expectations
//! computed from the test's own table, then `wit curate` on the output.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use wit_contract::{
    pair_key, read_records, write_stage_folder, Candidate, CuratedPair, Manifest, Provenance, QueryEntry, QuerySource,
    Record,
};
use wit_tests::wit_stdout as run;
use wit_tests::{run_python, warc_record, wit};

/// Every pair the inputs hold, in input order: (input, page, url, text, kept by the English filter
/// and the cleaning rules).
const PAIRS: &[(&str, &str, &str, &str, bool)] = &[
    (
        "warc",
        "http://site.example/a.html",
        "http://site.example/i/dog.jpg",
        "A brown dog is sleeping on the sofa in the living room",
        true,
    ),
    (
        "warc",
        "http://site.example/a.html",
        "http://site.example/i/katze.jpg",
        "Eine graue Katze schläft auf dem Sofa im Wohnzimmer",
        false,
    ),
    ("warc", "http://site.example/a.html", "http://site.example/i/bridge.jpg", "IMG_0042.JPG", false),
    (
        "warc",
        "http://site.example/a.html",
        "http://site.example/i/bridge.jpg",
        "An old stone bridge across the river",
        true,
    ),
    (
        "warc",
        "http://site.example/b.html",
        "http://site.example/i/dog.jpg",
        "A brown dog is sleeping on the sofa in the living room",
        true,
    ),
    (
        "warc",
        "http://site.example/b.html",
        "http://site.example/i/sun-1280.jpg",
        "Sunset over the mountains and the sea",
        true,
    ),
    (
        "wat",
        "http://other.example/p",
        "http://other.example/pics/tree.jpg",
        "A tall green tree in the middle of the park",
        true,
    ),
    (
        "wat",
        "http://other.example/p",
        "http://site.example/i/dog.jpg",
        "A brown dog is sleeping on the sofa in the living room",
        true,
    ),
    ("list", "", "http://list.example/1.jpg", "A red bicycle is leaning against the wall of the house", true),
    ("list", "", "http://list.example/2.jpg", "Un vélo rouge appuyé contre le mur de la maison", false),
    ("list", "", "http://list.example/3.jpg", "Fresh bread on a wooden table", true),
    ("list", "", "http://list.example/1.jpg", "A red bicycle is leaning against the wall of the house", true),
    ("list", "", "http://list.example/4.jpg", "Two children playing football on the beach", true),
];

/// A stored (uncompressed) gzip member, so the test needs no compression crate: deflate "stored"
/// blocks are plain bytes with a length header.
fn gz_member(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let mut chunks = data.chunks(65535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        out.push(chunks.peek().is_none() as u8);
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn write_warc(path: &Path) {
    let page_a = "<html><head><title>a</title></head><body>\
        <img src=\"/i/dog.jpg\" alt=\"A brown dog is sleeping on the sofa in the living room\">\
        <img src=\"i/katze.jpg\" alt=\"Eine graue Katze schläft auf dem Sofa im Wohnzimmer\">\
        <figure><img src=\"/i/bridge.jpg\" alt=\"IMG_0042.JPG\"><figcaption>An old stone\n bridge across the river</figcaption></figure>\
        <img src=\"data:image/gif;base64,R0lGODlhAQABAAAAACw=\" alt=\"a pixel\"></body></html>";
    let page_b = "<html><body><img src=\"/i/dog.jpg\" alt=\"A brown dog is sleeping on the sofa in the living room\">\
        <img src=\"/i/sun.jpg\" srcset=\"/i/sun-640.jpg 640w, /i/sun-1280.jpg 1280w\" alt=\"Sunset over the mountains &amp;amp; the sea\"></body></html>"
        .replace("&amp;amp;", "and");
    let mut bytes = gz_member(&warc_record("warcinfo", "", "application/warc-fields", b"software: test\r\n"));
    let http_a = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{page_a}");
    bytes.extend(gz_member(&warc_record(
        "request",
        "http://site.example/a.html",
        "application/http;msgtype=request",
        b"GET /a.html HTTP/1.1\r\n\r\n",
    )));
    bytes.extend(gz_member(&warc_record(
        "response",
        "http://site.example/a.html",
        "application/http;msgtype=response",
        http_a.as_bytes(),
    )));
    // Page b: gzip content encoding inside chunked transfer encoding.
    let body = gz_member(page_b.as_bytes());
    let mut http_b =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for chunk in body.chunks(100) {
        http_b.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        http_b.extend_from_slice(chunk);
        http_b.extend_from_slice(b"\r\n");
    }
    http_b.extend_from_slice(b"0\r\n\r\n");
    bytes.extend(gz_member(&warc_record(
        "response",
        "http://site.example/b.html",
        "application/http;msgtype=response",
        &http_b,
    )));
    std::fs::write(path, bytes).unwrap();
}

fn write_wat(path: &Path) {
    let json = serde_json::json!({
        "Envelope": {
            "WARC-Header-Metadata": {"WARC-Type": ["response"], "WARC-Target-URI": ["http://other.example/p"]},
            "Payload-Metadata": {"HTTP-Response-Metadata": {
                "Headers": {"Content-Type": ["text/html"], "Set-Cookie": ["a=1", "b=2"]},
                "HTML-Metadata": {"Head": {"Title": "p"}, "Links": [
                    {"path": "IMG@/src", "url": "pics/tree.jpg", "alt": "A tall green tree in the middle of the park"},
                    {"path": "A@/href", "url": "/q"},
                    {"path": "IMG@/src", "url": "http://site.example/i/dog.jpg", "alt": "A brown dog is sleeping on the sofa in the living room"}
                ]}
            }}
        }
    });
    let block = serde_json::to_vec(&json).unwrap();
    std::fs::write(path, gz_member(&warc_record("metadata", "http://other.example/p", "application/json", &block)))
        .unwrap();
}

fn write_lists(dir: &Path) {
    let lists: Vec<&(&str, &str, &str, &str, bool)> = PAIRS.iter().filter(|p| p.0 == "list").collect();
    let mut csv = String::from("url,caption\n");
    for p in &lists[..2] {
        csv.push_str(&format!("{},\"{}\"\n", p.2, p.3));
    }
    std::fs::write(dir.join("c.csv"), csv).unwrap();
    let mut jsonl = String::new();
    for p in &lists[2..4] {
        jsonl.push_str(&serde_json::json!({"url": p.2, "caption": p.3, "width": 10}).to_string());
        jsonl.push('\n');
    }
    std::fs::File::create(dir.join("d.jsonl")).unwrap().write_all(jsonl.as_bytes()).unwrap();
    let last = lists[4];
    run_python(
        "import sys, pyarrow as pa, pyarrow.parquet as pq\n\
         t = pa.table({'url': [sys.argv[2], 'http://list.example/6.jpg'], 'caption': [sys.argv[3], None]})\n\
         pq.write_table(t, sys.argv[1])",
        &[&dir.join("e.parquet").display().to_string(), last.2, last.3],
    );
}

/// (url, caption, source) of the pairs that must come out: kept ones, first occurrence only.
fn expected() -> BTreeSet<(String, String, String)> {
    let mut seen = BTreeSet::new();
    let mut out = BTreeSet::new();
    for (source, _, url, text, kept) in PAIRS {
        if *kept && seen.insert((url.to_string(), text.to_string())) {
            out.insert((url.to_string(), text.to_string(), source.to_string()));
        }
    }
    out
}

fn read_back(out: &str) -> BTreeSet<(String, String, String)> {
    let text = run_python(
        "import sys, json, pyarrow.parquet as pq\n\
         m = json.load(open(sys.argv[1] + '/_manifest.json'))\n\
         assert m['kind'] == 'candidates' and m['complete']\n\
         t = pq.read_table([sys.argv[1] + '/' + s['file'] for s in m['shards']])\n\
         assert set(t.column('lang').to_pylist()) == {'eng'}, t.column('lang')\n\
         assert all(0 < c <= 1 for c in t.column('lang_conf').to_pylist())\n\
         for r in t.select(['url', 'caption', 'source', 'key']).to_pylist(): print(json.dumps(r))",
        &[out],
    );
    let mut rows = BTreeSet::new();
    for line in text.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let (url, caption) = (row["url"].as_str().unwrap(), row["caption"].as_str().unwrap());
        assert_eq!(row["key"].as_str().unwrap(), pair_key(url, caption));
        assert!(
            rows.insert((url.to_owned(), caption.to_owned(), row["source"].as_str().unwrap().to_owned())),
            "duplicate {line}"
        );
    }
    rows
}

fn write_queries(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let rows: Vec<QueryEntry> = ["dog", "bridge", "bicycle", "tree", "zebra"]
        .iter()
        .enumerate()
        .map(|(i, q)| QueryEntry {
            id: i as u32,
            query: q.to_string(),
            source: QuerySource::Unigram,
            count: 1,
            pmi: None,
        })
        .collect();
    write_stage_folder::<QueryEntry>(dir, serde_json::json!({}), [&rows]).unwrap();
}

#[test]
fn harvest_warc_wat_and_lists_then_curate_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).display().to_string();
    write_warc(&dir.path().join("a.warc.gz"));
    write_wat(&dir.path().join("b.wat.gz"));
    write_lists(dir.path());
    let inputs = [d("a.warc.gz"), d("b.wat.gz"), d("c.csv"), d("d.jsonl"), d("e.parquet")];
    let mut args: Vec<&str> = vec!["harvest"];
    args.extend(inputs.iter().map(String::as_str));
    let out = d("out");
    args.extend(["-o", &out, "--threads", "3"]);
    let text = run(&args);
    assert!(text.contains("5 inputs") && text.contains("7 written"), "{text}");
    assert!(
        text.contains("duplicate 3") && text.contains("lang_not_allowed 2") && text.contains("text_file_name 1"),
        "{text}"
    );
    assert_eq!(read_back(&out), expected());
    run(&["verify", &out]);

    // Per-input stats in the manifest.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/_manifest.json")).unwrap()).unwrap();
    let per_input = manifest["stats"]["per_input"].as_array().unwrap();
    let formats: Vec<&str> = per_input.iter().map(|i| i["format"].as_str().unwrap()).collect();
    assert_eq!(formats, ["warc", "wat", "csv", "jsonl", "parquet"]);
    assert_eq!(per_input[0]["records"], 4);
    assert_eq!(per_input[4]["skipped"]["list_no_caption"], 1);

    // The same run again does nothing.
    assert!(run(&args).contains("nothing to do"));

    // Two ranks (harvest, then the dedup buckets, then apply) and a merge give the same pairs.
    let ranked = d("ranked");
    for phase in ["harvest", "dedup", "apply"] {
        for rank in ["0", "1"] {
            let mut rank_args: Vec<&str> = vec!["harvest"];
            rank_args.extend(inputs.iter().map(String::as_str));
            rank_args.extend(["-o", &ranked, "--rank", rank, "--world-size", "2", "--phase", phase]);
            run(&rank_args);
        }
    }
    let mut merge_args: Vec<&str> = vec!["harvest"];
    merge_args.extend(inputs.iter().map(String::as_str));
    merge_args.extend(["-o", &ranked, "--world-size", "2", "--phase", "merge"]);
    run(&merge_args);
    assert_eq!(read_back(&ranked), expected());

    // curate accepts the folder.
    write_queries(&dir.path().join("queries"));
    let text = run(&["curate", "--queries", &d("queries"), "--candidates", &out, "-o", &d("curated")]);
    assert!(text.contains("7 candidates, 4 matched"), "{text}");

    // Provenance: every candidate names its input and record (WARC/WAT: stored offset; lists: row),
    // the ranked run records the same, and curate carries it through unchanged.
    let candidates: BTreeMap<String, Provenance> =
        rows_of::<Candidate>(Path::new(&out)).into_iter().map(|c| (c.key, c.provenance)).collect();
    assert_eq!(candidates.len(), 7);
    for (key, p) in &candidates {
        let file = p.file.as_deref().unwrap_or_else(|| panic!("{key}: no source_file"));
        assert!(inputs.iter().any(|i| i == file), "{key}: {file}");
        if file.ends_with(".warc.gz") || file.ends_with(".wat.gz") {
            assert!(p.offset.is_some() && p.row.is_none(), "{key}: {p:?}");
        } else {
            assert!(p.offset.is_none() && p.row.is_some(), "{key}: {p:?}");
        }
    }
    // a.warc.gz: the first pairs come from the page-a response, the third gzip member.
    let a: Vec<u64> = candidates.values().filter(|p| p.file == Some(d("a.warc.gz"))).filter_map(|p| p.offset).collect();
    let bytes = std::fs::read(d("a.warc.gz")).unwrap();
    let member_starts: Vec<u64> = gz_member_starts(&bytes);
    assert!(!a.is_empty() && a.iter().all(|o| member_starts[2..].contains(o)), "{a:?} vs {member_starts:?}");
    let ranked_rows: BTreeMap<String, Provenance> =
        rows_of::<Candidate>(Path::new(&ranked)).into_iter().map(|c| (c.key, c.provenance)).collect();
    assert_eq!(ranked_rows, candidates);
    let curated = rows_of::<CuratedPair>(&dir.path().join("curated"));
    assert_eq!(curated.len(), 4);
    for row in curated {
        assert_eq!(Some(&row.candidate.provenance), candidates.get(&row.candidate.key));
    }
}

fn rows_of<T: Record>(dir: &Path) -> Vec<T> {
    let manifest = Manifest::load(dir).unwrap();
    manifest.shard_paths(dir).iter().flat_map(|p| read_records::<T>(p).unwrap()).collect()
}

/// Where each gzip member of `bytes` starts (members as `gz_member` writes them: stored blocks).
fn gz_member_starts(bytes: &[u8]) -> Vec<u64> {
    let mut starts = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        starts.push(at as u64);
        let mut decoder = flate2::bufread::GzDecoder::new(&bytes[at..]);
        std::io::copy(&mut decoder, &mut std::io::sink()).unwrap();
        at = bytes.len() - decoder.into_inner().len();
    }
    starts
}

#[test]
fn harvest_names_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("notes.bin");
    std::fs::write(&odd, b"\x00\x01 nothing here").unwrap();
    let output = wit(&["harvest", &odd.display().to_string(), "-o", &dir.path().join("o").display().to_string()]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("notes.bin") && err.contains("cannot tell the format"), "{err}");

    let list = dir.path().join("l.csv");
    std::fs::write(&list, "link,text\nhttp://a/1.jpg,x\n").unwrap();
    let output = wit(&["harvest", &list.display().to_string(), "-o", &dir.path().join("o2").display().to_string()]);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && err.contains("l.csv") && err.contains("--url-col"), "{err}");
    let output = wit(&["harvest", "-o", "x"]);
    assert!(!output.status.success());
}
