//! The language decision through the whole harvest stage: a WAT file whose envelopes carry Common
//! Crawl's `WARC-Identified-Content-Language` and a WARC file whose pages declare `<html lang>` /
//! `Content-Language` or are long enough to be identified from their text, harvested with the
//! default rule and with `--lang-decision caption`; the rows' decision columns and the manifest's
//! per-language drops are checked.

use std::path::Path;

use wit_contract::{read_records, HarvestedCandidate, Manifest};
use wit_harvest::{harvest, DecisionMode, HarvestConfig, HarvestStats, LanguageRule};

fn record(warc_type: &str, uri: &str, content_type: &str, extra: &str, block: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "WARC/1.0\r\nWARC-Type: {warc_type}\r\nWARC-Target-URI: {uri}\r\n{extra}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        block.len()
    )
    .into_bytes();
    r.extend_from_slice(block);
    r.extend_from_slice(b"\r\n\r\n");
    r
}

fn wat_page(uri: &str, identified: &str, alts: &[&str]) -> Vec<u8> {
    let links: Vec<serde_json::Value> = alts
        .iter()
        .enumerate()
        .map(|(i, alt)| serde_json::json!({"path": "IMG@/src", "url": format!("/img/{i}.png"), "alt": alt}))
        .collect();
    let json = serde_json::json!({"Envelope": {
        "WARC-Header-Metadata": {"WARC-Type": "response", "WARC-Target-URI": uri,
            "WARC-Identified-Content-Language": identified},
        "Payload-Metadata": {"HTTP-Response-Metadata": {
            "Headers": {"Content-Type": "text/html"},
            "HTML-Metadata": {"Head": {"Title": "t"}, "Links": links}
        }}
    }});
    record("metadata", uri, "application/json", "", &serde_json::to_vec(&json).unwrap())
}

fn warc_page(uri: &str, headers: &str, html: &str) -> Vec<u8> {
    let http = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n{headers}\r\n{html}");
    record("response", uri, "application/http;msgtype=response", "", http.as_bytes())
}

const PARAGRAPH: &str = "The Debian project is an association of individuals who have made common cause to \
    create a free operating system. This operating system is called Debian, and it comes with thousands of \
    packages of software that are easy to install and to keep up to date on every machine.";

fn run(dir: &Path, name: &str, mode: DecisionMode) -> (Vec<HarvestedCandidate>, HarvestStats) {
    let out = dir.join(name);
    let language_rule = LanguageRule { mode, ..LanguageRule::default() };
    let config = HarvestConfig {
        inputs: vec![dir.join("in")],
        out: out.clone(),
        threads: 1,
        language_rule,
        ..Default::default()
    };
    let stats = harvest(&config).unwrap();
    let manifest = Manifest::load(&out).unwrap();
    let rows = manifest.shard_paths(&out).iter().flat_map(|p| read_records::<HarvestedCandidate>(p).unwrap()).collect();
    (rows, stats)
}

#[test]
fn short_english_alt_texts_take_their_page_language_and_drops_are_counted_by_language() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let mut wat = wat_page("http://en.example/a", "eng,fra", &["Product Site", "Boot screen", "Выбор зеркала Debian"]);
    wat.extend(wat_page("http://de.example/b", "deu", &["Webmin dashboard"]));
    std::fs::write(dir.path().join("in/a.wat"), wat).unwrap();
    let mut warc = warc_page(
        "http://en.example/c",
        "",
        &format!("<html><body><p>{PARAGRAPH}</p><img src=\"c.png\" alt=\"Documentation Site\"></body></html>"),
    );
    warc.extend(warc_page(
        "http://fr.example/d",
        "Content-Language: fr\r\n",
        "<html><body><img src=\"d.png\" alt=\"Boot screen\"></body></html>",
    ));
    warc.extend(warc_page(
        "http://en.example/e",
        "Content-Language: fr\r\n",
        "<html lang=\"en-GB\"><body><img src=\"e.png\" alt=\"Webmin dashboard\"></body></html>",
    ));
    std::fs::write(dir.path().join("in/b.warc"), warc).unwrap();

    let (rows, stats) = run(dir.path(), "page", DecisionMode::Page);
    type Row<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);
    let got: Vec<Row> = rows
        .iter()
        .map(|r| {
            (
                r.candidate.caption.as_str(),
                r.candidate.lang.as_deref(),
                r.language.lang_source.as_deref(),
                r.language.page_lang.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("Product Site", Some("eng"), Some("page"), Some("eng")),
            ("Boot screen", Some("eng"), Some("page"), Some("eng")),
            ("Documentation Site", Some("eng"), Some("page"), Some("eng")),
            ("Webmin dashboard", Some("eng"), Some("page"), Some("eng")),
        ]
    );
    // A declared page language has no confidence, one identified from the page text has whatlang's;
    // the caption's own verdict is kept beside the decision.
    let confidences: Vec<bool> = rows.iter().map(|r| r.candidate.lang_conf.is_some()).collect();
    assert_eq!(confidences, [false, false, true, false]);
    assert!(rows.iter().all(|r| r.language.caption_lang.is_some()));
    assert_ne!(rows[1].language.caption_lang.as_deref(), Some("eng"), "whatlang alone misreads it");
    let dropped: Vec<(&str, u64)> = stats.lang_dropped.iter().map(|(l, n)| (l.as_str(), *n)).collect();
    assert_eq!(dropped, [("deu", 1), ("fra", 1), ("rus", 1)]);
    assert_eq!(stats.skipped["lang_not_allowed"], 3);
    assert_eq!(stats.lang_sources["page"], 4);
    let manifest = Manifest::load(dir.path().join("page")).unwrap();
    assert_eq!(manifest.stats["lang_dropped"]["rus"], 1);

    // Before page evidence, whatlang on the caption alone drops every one of these short texts.
    let (before, stats) = run(dir.path(), "caption", DecisionMode::Caption);
    assert!(before.is_empty(), "{before:?}");
    assert_eq!(stats.lang_dropped.values().sum::<u64>(), 7, "{:?}", stats.lang_dropped);
    assert!(!stats.lang_dropped.contains_key("eng"));
}
