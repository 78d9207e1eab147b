//! Harvest throughput on generated inputs: a WARC file of HTML responses and a WAT file of
//! Common-Crawl-shaped metadata records (both gzip, one member per record), each read by the
//! whole stage (parse, extract, clean, language id, dedup, Parquet) on one thread, twice: with the
//! language decided by whatlang on the caption alone (`caption`, as before page-level evidence) and
//! by the default page-evidence rule (`page`: WARC pages' visible text read and identified, WAT
//! envelopes' `WARC-Identified-Content-Language` read), so the decision's cost shows in pairs/s.
//!
//! `cargo run --release -p wit-harvest --example bench_harvest [-- RECORDS [KEEP_DIR]]` prints a table;
//! with KEEP_DIR the generated `bench.warc.gz` and `bench.wat.gz` are written there and kept (so
//! `scripts/bench.py` can time a bare gzip decode of the same files).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use wit_harvest::{harvest, DecisionMode, HarvestConfig, LanguageRule};

const WORDS: &[&str] = &[
    "a", "red", "fox", "sleeping", "in", "the", "snow", "near", "old", "wooden", "bridge", "over", "river", "with",
    "green", "trees", "and", "small", "boat", "on", "lake", "at", "sunset", "two", "children", "playing", "football",
];

fn sentence(seed: usize, len: usize) -> String {
    (0..len).map(|i| WORDS[(seed.wrapping_mul(31) + i * 7 + i * i) % WORDS.len()]).collect::<Vec<_>>().join(" ")
}

fn gz(record: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(record).unwrap();
    gz.finish().unwrap()
}

fn record(warc_type: &str, uri: &str, content_type: &str, block: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "WARC/1.0\r\nWARC-Type: {warc_type}\r\nWARC-Target-URI: {uri}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        block.len()
    )
    .into_bytes();
    r.extend_from_slice(block);
    r.extend_from_slice(b"\r\n\r\n");
    r
}

fn write_warc(path: &Path, records: usize) {
    let mut out = Vec::new();
    for n in 0..records {
        let mut html = String::from("<!doctype html><html lang=\"en\"><head><title>page</title></head><body>");
        for i in 0..20 {
            html.push_str(&format!(
                "<p>{}</p><div class=\"c\"><a href=\"/p/{n}/{i}\">link</a><img src=\"/img/{n}/{i}.jpg\" alt=\"{}\" width=\"300\"></div>",
                sentence(n + i, 30),
                sentence(n * 20 + i, 8)
            ));
        }
        html.push_str("</body></html>");
        let http = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}");
        out.extend(gz(&record(
            "response",
            &format!("http://site{}.example/p/{n}", n % 50),
            "application/http;msgtype=response",
            http.as_bytes(),
        )));
    }
    std::fs::write(path, out).unwrap();
}

fn write_wat(path: &Path, records: usize) {
    let mut out = Vec::new();
    for n in 0..records {
        let links: Vec<serde_json::Value> = (0..40)
            .map(|i| {
                if i % 2 == 0 {
                    serde_json::json!({"path": "IMG@/src", "url": format!("/img/{n}/{i}.jpg"), "alt": sentence(n * 40 + i, 8)})
                } else {
                    serde_json::json!({"path": "A@/href", "url": format!("/p/{n}/{i}"), "text": "link"})
                }
            })
            .collect();
        let json = serde_json::json!({"Envelope": {
            "WARC-Header-Metadata": {"WARC-Type": "response", "WARC-Target-URI": format!("http://site.example/p/{n}"),
                "WARC-Identified-Content-Language": "eng"},
            "Payload-Metadata": {"HTTP-Response-Metadata": {
                "Headers": {"Content-Type": "text/html"},
                "HTML-Metadata": {"Head": {"Title": "page"}, "Links": links}
            }}
        }});
        out.extend(gz(&record(
            "metadata",
            &format!("http://site.example/p/{n}"),
            "application/json",
            &serde_json::to_vec(&json).unwrap(),
        )));
    }
    std::fs::write(path, out).unwrap();
}

fn main() {
    let records: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    let files = std::env::args().nth(2).map_or_else(|| dir.path().to_path_buf(), std::path::PathBuf::from);
    std::fs::create_dir_all(&files).unwrap();
    let warc = files.join("bench.warc.gz");
    let wat = files.join("bench.wat.gz");
    write_warc(&warc, records);
    write_wat(&wat, records);
    println!(
        "{:<6} {:<8} {:>8} {:>10} {:>10} {:>10} {:>12} {:>12} {:>12}",
        "input", "decision", "records", "MB (gz)", "pairs", "seconds", "records/s", "pairs/s", "MB/s (gz)"
    );
    for (name, path) in [("WARC", &warc), ("WAT", &wat)] {
        for mode in [DecisionMode::Caption, DecisionMode::Page] {
            let out = dir.path().join(format!("out-{name}-{}", mode.name()));
            let language_rule = LanguageRule { mode, ..LanguageRule::default() };
            let config =
                HarvestConfig { inputs: vec![path.clone()], out, threads: 1, language_rule, ..Default::default() };
            let started = Instant::now();
            let stats = harvest(&config).unwrap();
            let seconds = started.elapsed().as_secs_f64();
            let mb = stats.bytes as f64 / 1e6;
            println!(
                "{:<6} {:<8} {:>8} {:>10.1} {:>10} {:>10.2} {:>12.0} {:>12.0} {:>12.1}",
                name,
                mode.name(),
                stats.records,
                mb,
                stats.pairs_out,
                seconds,
                stats.records as f64 / seconds,
                stats.pairs_out as f64 / seconds,
                mb / seconds
            );
        }
    }
}
