//! Stage tests on real WARC files (Warcat's examples, malformed ones included; warcbench's assets),
//! WAT files written here in both header forms, and URL lists.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use wit_contract::{pair_key, read_records, Candidate, Manifest};

use super::*;
use crate::harvest;
use crate::warc::{WarcItem, WarcLimits, WarcReader, WarcRecord};

fn fixture(rel: &str) -> PathBuf {
    let path = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../../fixtures/warc")
    .join(rel);
    assert!(path.exists(), "{} missing: run `make fixtures`", path.display());
    path
}

fn config(inputs: Vec<PathBuf>, out: &Path) -> HarvestConfig {
    HarvestConfig { inputs, out: out.to_path_buf(), threads: 2, ..Default::default() }
}

fn rows(dir: &Path) -> Vec<Candidate> {
    let manifest = Manifest::load(dir).unwrap();
    assert!(manifest.complete);
    assert_eq!(manifest.verify(dir).unwrap(), vec![]);
    manifest.shard_paths(dir).iter().flat_map(|p| read_records::<Candidate>(p).unwrap()).collect()
}

/// A gzip member holding one WARC record.
fn gz_record(warc_type: &str, uri: &str, content_type: &str, block: &[u8]) -> Vec<u8> {
    let mut record = format!(
        "WARC/1.0\r\nWARC-Type: {warc_type}\r\nWARC-Target-URI: {uri}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        block.len()
    )
    .into_bytes();
    record.extend_from_slice(block);
    record.extend_from_slice(b"\r\n\r\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&record).unwrap();
    gz.finish().unwrap()
}

/// A Common-Crawl-shaped WAT JSON for a page with image links.
pub(crate) fn wat_json(page: &str, list_headers: bool, base: Option<&str>, links: &[(&str, &str, &str)]) -> Vec<u8> {
    let value = |s: &str| if list_headers { serde_json::json!([s]) } else { serde_json::json!(s) };
    let mut head = serde_json::json!({"Title": "t"});
    if let Some(base) = base {
        head["Base"] = base.into();
    }
    let links: Vec<serde_json::Value> = links
        .iter()
        .map(|(url, alt, title)| serde_json::json!({"path": "IMG@/src", "url": url, "alt": alt, "title": title}))
        .chain([serde_json::json!({"path": "A@/href", "url": "/elsewhere", "text": "a link"})])
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "Container": {"Filename": "CC-MAIN-x.warc.gz", "Compressed": true},
        "Envelope": {
            "Format": "WARC",
            "WARC-Header-Length": "500",
            "WARC-Header-Metadata": {
                "WARC-Type": value("response"),
                "WARC-Target-URI": value(page),
                "WARC-Date": value("2024-12-01T00:00:00Z")
            },
            "Payload-Metadata": {
                "Actual-Content-Type": "application/http; msgtype=response",
                "HTTP-Response-Metadata": {
                    "Response-Message": {"Status": "200", "Version": "HTTP/1.1", "Reason": "OK"},
                    "Headers": {"Content-Type": value("text/html; charset=UTF-8"), "Set-Cookie": ["a=1", "b=2"]},
                    "HTML-Metadata": {"Head": head, "Links": links}
                }
            }
        }
    }))
    .unwrap()
}

pub(crate) fn write_wat(path: &Path, list_headers: bool) {
    let mut bytes = gz_record("warcinfo", "", "application/warc-fields", b"software: test\r\n");
    let page = "https://example.org/gallery/index.html";
    let json = wat_json(
        page,
        list_headers,
        None,
        &[
            ("img/fox.jpg", "A red fox in the snow", ""),
            ("/img/boat.jpg", "", "A sailing boat on the lake"),
            ("data:image/png;base64,AAAA", "An inline pixel", ""),
            ("img/dsc.jpg", "DSC0001.JPG", ""),
            ("img/hund.jpg", "Ein schwarzer Hund läuft über die grüne Wiese", ""),
        ],
    );
    bytes.extend(gz_record("metadata", page, "application/json", &json));
    let json = wat_json(
        "https://example.org/other",
        list_headers,
        Some("https://static.example.net/"),
        &[("fox.jpg", "A red fox in the snow", "A red fox in the snow")],
    );
    bytes.extend(gz_record("metadata", "https://example.org/other", "application/json", &json));
    bytes.extend(gz_record("metadata", page, "application/json", b"{\"Envelope\": {broken"));
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn wat_files_in_both_header_forms_give_the_same_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for list_headers in [false, true] {
        let wat = dir.path().join(format!("CC-MAIN-{list_headers}.warc.wat.gz"));
        write_wat(&wat, list_headers);
        let out = dir.path().join(format!("out-{list_headers}"));
        let stats = harvest(&config(vec![wat], &out)).unwrap();
        let input = &stats.per_input[0];
        assert_eq!(input.format, "wat");
        assert_eq!((input.records, input.pages, input.pairs_found, input.pairs_out), (4, 2, 5, 3), "{input:#?}");
        assert_eq!(input.skipped.get("text_file_name"), Some(&1));
        assert_eq!(input.skipped.get("lang_not_allowed"), Some(&1));
        assert_eq!(input.skipped.get("image_url_unusable"), Some(&1));
        assert_eq!(input.skipped.get("wat_bad_json"), Some(&1));
        assert_eq!(input.skipped.get("warc_warcinfo_record"), Some(&1));
        let mut got: Vec<(String, String, String)> = rows(&out)
            .into_iter()
            .map(|c| {
                assert_eq!(c.key, pair_key(&c.url, &c.caption));
                assert_eq!((c.source.as_str(), c.lang.as_deref()), ("wat", Some("eng")));
                (c.url, c.caption, c.page_url.unwrap())
            })
            .collect();
        got.sort();
        outputs.push(got);
    }
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(
        outputs[0],
        [
            (
                "https://example.org/gallery/img/fox.jpg".to_string(),
                "A red fox in the snow".to_string(),
                "https://example.org/gallery/index.html".to_string()
            ),
            (
                "https://example.org/img/boat.jpg".into(),
                "A sailing boat on the lake".into(),
                "https://example.org/gallery/index.html".into()
            ),
            (
                "https://static.example.net/fox.jpg".into(),
                "A red fox in the snow".into(),
                "https://example.org/other".into()
            ),
        ]
    );
}

#[test]
fn warcat_examples_including_malformed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<PathBuf> = [
        "at.warc",
        "at.warc.gz",
        "bad_http_chunked_content.warc",
        "c1_warcinfo.warc",
        "long_url.warc",
        "not_utf8_http_header.warc",
    ]
    .iter()
    .map(|f| fixture(&format!("warcat/{f}")))
    .collect();
    let out = dir.path().join("out");
    let mut cfg = config(inputs, &out);
    cfg.languages = vec!["any".into()];
    let stats = harvest(&cfg).unwrap();
    let by_name = |name: &str| stats.per_input.iter().find(|i| i.path.ends_with(&format!("/{name}"))).unwrap();
    let at = by_name("at.warc");
    assert_eq!(at.records, 8);
    assert_eq!(at.pages, 1, "{at:#?}");
    // Two of the Main_Page images have file names for alt texts.
    assert_eq!(at.skipped.get("text_file_name"), Some(&2), "{at:#?}");
    assert_eq!(at.pairs_out, 1);
    assert_eq!(by_name("bad_http_chunked_content.warc").skipped.get("http_bad_chunked_encoding"), Some(&1));
    assert_eq!(by_name("c1_warcinfo.warc").skipped.get("warc_warcinfo_record"), Some(&1));
    // Their bodies are one line of text, without a Content-Type: read, found not to be HTML.
    for name in ["long_url.warc", "not_utf8_http_header.warc"] {
        let input = by_name(name);
        assert_eq!((input.records, input.pages, input.skipped.get("not_html")), (1, 0, Some(&1)), "{input:#?}");
    }
    // at.warc.gz is the same archive: the cross-input dedup keeps the first copy only.
    let gz = by_name("at.warc.gz");
    assert_eq!((gz.records, gz.pairs_out, gz.skipped.get("duplicate")), (8, 0, Some(&1)), "{gz:#?}");
    let got = rows(&out);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].caption, "Powered by MediaWiki");
    assert_eq!(got[0].url, "http://www.archiveteam.org/skins/common/images/poweredby_mediawiki_88x31.png");
    assert_eq!(got[0].page_url.as_deref(), Some("http://www.archiveteam.org/index.php?title=Main_Page"));
    assert_eq!(stats.shards, 1);
}

#[test]
fn warcbench_assets_with_gzip_and_zstd_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut cfg = config(vec![fixture("warcbench/example.com.warc"), fixture("warcbench/fb.warc.gz")], &out);
    cfg.languages = vec!["any".into()];
    let stats = harvest(&cfg).unwrap();
    let example = &stats.per_input[0];
    assert_eq!(example.records, 9, "{example:#?}");
    // The gzip-encoded pages decode and parse; the PNG and PDF responses are not HTML.
    assert!(example.pages >= 2, "{example:#?}");
    assert_eq!(example.skipped.get("not_html"), Some(&2), "{example:#?}");
    assert!(!example.skipped.contains_key("http_bad_content_encoding"), "{example:#?}");
    let fb = &stats.per_input[1];
    assert!(fb.pages >= 1, "{fb:#?}");
    assert!(!fb.skipped.contains_key("http_bad_content_encoding"), "{fb:#?}");
    assert!(!fb.skipped.contains_key("http_bad_chunked_encoding"), "{fb:#?}");
}

#[test]
fn truncated_and_corrupt_archives_are_counted_or_named() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(fixture("warcat/at.warc")).unwrap();
    let cut = dir.path().join("cut.warc");
    std::fs::write(&cut, &whole[..whole.len() - 100]).unwrap();
    let stats = harvest(&config(vec![cut], &dir.path().join("out"))).unwrap();
    assert_eq!(stats.per_input[0].skipped.get("warc_truncated_record"), Some(&1));

    let mut gz = std::fs::read(fixture("warcat/at.warc.gz")).unwrap();
    let middle = gz.len() / 2;
    gz[middle..middle + 64].fill(0);
    let broken = dir.path().join("broken.warc.gz");
    std::fs::write(&broken, &gz).unwrap();
    let err = harvest(&config(vec![broken], &dir.path().join("out2"))).unwrap_err().to_string();
    assert!(err.contains("broken.warc.gz") && err.contains("at byte"), "{err}");
}

#[test]
fn skip_bad_inputs_records_an_unreadable_input_and_keeps_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.wat.gz");
    write_wat(&good, false);
    let mut gz = std::fs::read(fixture("warcat/at.warc.gz")).unwrap();
    let middle = gz.len() / 2;
    gz[middle..middle + 64].fill(0);
    let broken = dir.path().join("broken.warc.gz");
    std::fs::write(&broken, &gz).unwrap();
    let inputs = vec![broken.clone(), good.clone()];

    // By default the run stops at the broken input, naming it.
    let err = harvest(&config(inputs.clone(), &dir.path().join("strict"))).unwrap_err().to_string();
    assert!(err.contains("broken.warc.gz"), "{err}");

    // With skip_bad_inputs it is recorded, with its error, and the good input's pairs are all there.
    let out = dir.path().join("skipping");
    let stats = harvest(&HarvestConfig { skip_bad_inputs: true, ..config(inputs, &out) }).unwrap();
    assert_eq!(stats.inputs_failed, 1, "{stats:#?}");
    let failed = stats.per_input.iter().find(|i| i.error.is_some()).unwrap();
    assert!(failed.path.ends_with("broken.warc.gz") && failed.error.as_deref().unwrap().contains("at byte"));
    assert_eq!((failed.pairs_out, failed.shard.as_ref()), (0, None));
    let alone = dir.path().join("good-alone");
    harvest(&config(vec![good], &alone)).unwrap();
    let keys = |dir: &Path| rows(dir).into_iter().map(|c| c.key).collect::<Vec<_>>();
    assert!(!keys(&alone).is_empty());
    assert_eq!(keys(&out), keys(&alone));
    let manifest = Manifest::load(&out).unwrap();
    assert_eq!(manifest.stats["inputs_failed"], 1, "the failure is in the manifest's stats");
}

fn write_list(dir: &Path) -> PathBuf {
    let path = dir.join("pairs.csv");
    std::fs::write(
        &path,
        "url,caption,page_url\n\
         http://img.example/1.jpg,A small brown dog playing with a ball,http://p.example/1\n\
         http://img.example/1.jpg,A small brown dog playing with a ball,http://p.example/2\n\
         http://img.example/2.jpg,Une petite maison blanche au bord de la mer,\n\
         ftp://img.example/3.jpg,An old stone bridge across the river,\n\
         http://img.example/4.jpg,IMG_2034,\n\
         http://img.example/5.jpg,An old stone bridge across the river\n",
    )
    .unwrap();
    path
}

#[test]
fn lists_dedup_filter_resume_and_ranks_agree() {
    let dir = tempfile::tempdir().unwrap();
    let list = write_list(dir.path());
    let wat = dir.path().join("a.wat.gz");
    write_wat(&wat, true);
    let out = dir.path().join("out");
    let stats = harvest(&config(vec![list.clone(), wat.clone()], &out)).unwrap();
    let input = &stats.per_input[0];
    assert_eq!((input.records, input.pairs_found, input.pairs_out), (6, 5, 2), "{input:#?}");
    for (reason, n) in
        [("duplicate", 1), ("lang_not_allowed", 1), ("list_bad_url", 1), ("text_file_name", 1), ("list_bad_row", 0)]
    {
        assert_eq!(input.skipped.get(reason).copied().unwrap_or(0), n, "{reason}: {input:#?}");
    }
    let got = rows(&out);
    assert_eq!(got.len(), 5);
    assert_eq!(got[0].page_url.as_deref(), Some("http://p.example/1"));

    // Rerun: nothing to do. A different config starts over.
    assert!(harvest(&config(vec![list.clone(), wat.clone()], &out)).unwrap().already_complete);

    // Interrupted run: drop the second input from the manifest and mark it incomplete.
    let mut manifest = Manifest::load(&out).unwrap();
    let mut partial: HarvestStats = serde_json::from_value(manifest.stats.clone()).unwrap();
    partial.per_input.truncate(1);
    manifest.stats = serde_json::to_value(&partial).unwrap();
    manifest.shards.truncate(1);
    manifest.complete = false;
    manifest.save(&out).unwrap();
    let resumed = harvest(&config(vec![list.clone(), wat.clone()], &out)).unwrap();
    assert_eq!(resumed.pairs_out, stats.pairs_out);
    assert_eq!(rows(&out).len(), 5);

    // Two ranks (harvest, dedup buckets, apply) and a merge give the same rows.
    let ranked = dir.path().join("ranked");
    for phase in [Phase::Harvest, Phase::Dedup, Phase::Apply] {
        for rank in 0..2 {
            let cfg = HarvestConfig { rank, world_size: 2, phase, ..config(vec![list.clone(), wat.clone()], &ranked) };
            harvest(&cfg).unwrap();
        }
    }
    let cfg = HarvestConfig { world_size: 2, phase: Phase::Merge, ..config(vec![list.clone(), wat.clone()], &ranked) };
    let merged = harvest(&cfg).unwrap();
    assert_eq!(merged.pairs_out, 5);
    let keys = |rows: Vec<Candidate>| rows.into_iter().map(|c| c.key).collect::<Vec<_>>();
    assert_eq!(keys(rows(&ranked)), keys(rows(&out)));

    let err = harvest(&HarvestConfig { world_size: 2, ..config(vec![list], &ranked) }).unwrap_err().to_string();
    assert!(err.contains("--phase"), "{err}");
}

#[test]
fn a_kill_during_the_cross_input_dedup_resumes_to_the_same_rows_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let first = write_list(dir.path());
    // The second input repeats one row of the first and adds one; the third repeats the first whole.
    let second = dir.path().join("second.csv");
    std::fs::write(
        &second,
        "url,caption\n\
         http://img.example/1.jpg,A small brown dog playing with a ball\n\
         http://img.example/9.jpg,A red kite flying high over the beach\n",
    )
    .unwrap();
    let third = dir.path().join("third.csv");
    std::fs::copy(&first, &third).unwrap();
    let inputs = vec![first, second, third];
    let reference = dir.path().join("reference");
    let want = harvest(&config(inputs.clone(), &reference)).unwrap();
    // Within the first input 1; the second 1 across; the third 1 within and 2 across.
    assert_eq!(want.skipped["duplicate"], 1 + 1 + (1 + 2), "{want:#?}");
    assert_eq!(want.shards, 2, "the third input's shard is all duplicates");

    // Every input harvested, the manifest saved before the dedup pass; then the pass writes a
    // rewritten shard and is "killed" before it saves the manifest that would list it.
    let out = dir.path().join("out");
    let cfg = config(inputs.clone(), &out);
    let filter = LanguageFilter::new(&cfg.languages, cfg.min_lang_confidence).unwrap();
    let files = expand_inputs(&cfg.inputs).unwrap();
    let base = base_config(&cfg, &files, &filter);
    let all: Vec<usize> = (0..files.len()).collect();
    let Done::Harvested(_) = harvest_into(&cfg, &filter, &files, &all, &out, &base).unwrap() else {
        panic!("nothing was there yet")
    };
    std::fs::copy(wit_contract::shard_path(&out, 2), out.join("data/shard-00002.d1.parquet")).unwrap();
    let resumed = harvest(&cfg).unwrap();
    let keys = |rows: Vec<Candidate>| rows.into_iter().map(|c| c.key).collect::<Vec<_>>();
    assert_eq!(keys(rows(&out)), keys(rows(&reference)));
    assert_eq!((resumed.pairs_out, &resumed.skipped), (want.pairs_out, &want.skipped));
    assert_eq!(resumed.pairs_out, Manifest::load(&out).unwrap().total_rows());

    // Killed after the complete manifest is saved but before the emptied shard is removed.
    std::fs::copy(wit_contract::shard_path(&out, 0), wit_contract::shard_path(&out, 2)).unwrap();
    assert!(harvest(&cfg).unwrap().already_complete);
    assert_eq!(rows(&out).len() as u64, want.pairs_out, "the unlisted shard is removed");
}

/// A gzip member holding one WARC record with a `WARC-Record-ID`.
fn gz_record_with_id(id: &str, warc_type: &str, uri: &str, content_type: &str, block: &[u8]) -> Vec<u8> {
    let mut record = format!(
        "WARC/1.0\r\nWARC-Type: {warc_type}\r\nWARC-Record-ID: <urn:uuid:{id}>\r\nWARC-Target-URI: {uri}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        block.len()
    )
    .into_bytes();
    record.extend_from_slice(block);
    record.extend_from_slice(b"\r\n\r\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&record).unwrap();
    gz.finish().unwrap()
}

/// The record a row's provenance names, read from the file at its stored offset: in a gzip file
/// the member there is decompressed and the record with the row's id taken from it; in a plain
/// file it is the record starting at the offset.
fn record_at(row: &Candidate) -> WarcRecord {
    let p = &row.provenance;
    let bytes = std::fs::read(p.file.as_deref().expect("source_file")).unwrap();
    let tail = &bytes[p.offset.expect("source_offset") as usize..];
    let (plain, gzip) = if tail.starts_with(&[0x1f, 0x8b]) {
        let mut member = Vec::new();
        flate2::read::GzDecoder::new(tail).read_to_end(&mut member).unwrap();
        (member, true)
    } else {
        (tail.to_vec(), false)
    };
    let mut records =
        WarcReader::from_reader(Path::new("traced"), Box::new(std::io::Cursor::new(plain)), WarcLimits::default())
            .filter_map(|item| match item.unwrap() {
                WarcItem::Record(record) => Some(record),
                WarcItem::Skipped { .. } => None,
            });
    if gzip {
        records.find(|r| r.record_id() == p.record_id.as_deref()).expect("the member holds the record")
    } else {
        let record = records.next().expect("a record at the offset");
        assert_eq!(record.record_id(), p.record_id.as_deref(), "{row:?}");
        record
    }
}

#[test]
fn every_pair_traces_back_to_its_record_in_real_warcs_and_a_generated_wat() {
    let dir = tempfile::tempdir().unwrap();
    // A generated WAT: one gzip member per record, records without images in between.
    let wat = dir.path().join("CC-MAIN-trace.warc.wat.gz");
    let mut bytes = gz_record_with_id("0", "warcinfo", "", "application/warc-fields", b"software: test\r\n");
    for i in 1..=6u32 {
        let page = format!("https://site{i}.example/page.html");
        let links: Vec<(String, String, String)> = (0..i % 3)
            .map(|j| {
                (format!("img/{i}-{j}.jpg"), format!("A photo of garden number {i} from angle {j}"), String::new())
            })
            .collect();
        let links: Vec<(&str, &str, &str)> =
            links.iter().map(|(u, a, t)| (u.as_str(), a.as_str(), t.as_str())).collect();
        let json = wat_json(&page, i % 2 == 0, None, &links);
        bytes.extend(gz_record_with_id(&format!("wat-{i}"), "metadata", &page, "application/json", &json));
    }
    std::fs::write(&wat, bytes).unwrap();
    let inputs = vec![
        fixture("warcat/at.warc.gz"),
        fixture("warcbench/example.com.warc"),
        fixture("warcbench/fb.warc.gz"),
        wat.clone(),
    ];
    let out = dir.path().join("out");
    let mut cfg = config(inputs.clone(), &out);
    cfg.languages = vec!["any".into()];
    harvest(&cfg).unwrap();
    let got = rows(&out);
    let from =
        |input: &Path| got.iter().filter(|r| r.provenance.file.as_deref() == Some(&*input.to_string_lossy())).count();
    assert_eq!(from(&wat), 6, "pairs from the generated WAT");
    assert!(from(&inputs[0]) > 0, "pairs from Warcat's at.warc.gz");
    assert_eq!(
        got.iter().map(|r| r.provenance.file.as_deref().map(|f| Path::new(f).exists())).collect::<HashSet<_>>(),
        HashSet::from([Some(true)])
    );

    for (n, row) in got.iter().enumerate() {
        let p = &row.provenance;
        assert!(p.record_id.is_some() && p.row.is_none(), "{row:?}");
        let record = record_at(row);
        assert_eq!(record.target_uri(), row.page_url.as_deref(), "{row:?}");
        // The record alone, harvested again, gives the pair.
        let alone = dir.path().join(format!("alone-{n}.warc"));
        let mut text = format!("{}\r\n", record.version).into_bytes();
        for (name, value) in &record.headers {
            text.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        text.extend_from_slice(b"\r\n");
        text.extend_from_slice(&record.block);
        text.extend_from_slice(b"\r\n\r\n");
        std::fs::write(&alone, text).unwrap();
        let again = dir.path().join(format!("again-{n}"));
        harvest(&HarvestConfig { languages: vec!["any".into()], ..config(vec![alone], &again) }).unwrap();
        let pairs: Vec<(String, String)> = rows(&again).into_iter().map(|r| (r.url, r.caption)).collect();
        assert!(pairs.contains(&(row.url.clone(), row.caption.clone())), "{row:?} not in {pairs:?}");
    }
    // The WAT's records are one member each: the offset is the record's own, and its id is the page's.
    let wat_rows: Vec<&Candidate> = got.iter().filter(|r| r.source == "wat").collect();
    for row in wat_rows {
        let page: u32 =
            row.page_url.as_deref().unwrap()["https://site".len()..].split('.').next().unwrap().parse().unwrap();
        assert_eq!(row.provenance.record_id, Some(format!("<urn:uuid:wat-{page}>")));
    }
}

#[test]
fn list_rows_record_their_file_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("pairs.tsv");
    std::fs::write(
        &list,
        "url\tcaption\nhttp://a.example/1.jpg\tA small white cat on a chair\nnot a url\tbad\n\
         http://a.example/2.jpg\tA large brown horse in a field\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let mut cfg = config(vec![list.clone()], &out);
    cfg.languages = vec!["any".into()];
    harvest(&cfg).unwrap();
    let mut got: Vec<(String, Option<u64>, Option<String>)> =
        rows(&out).into_iter().map(|r| (r.url, r.provenance.row, r.provenance.file)).collect();
    got.sort();
    let file = Some(list.display().to_string());
    assert_eq!(
        got,
        [
            ("http://a.example/1.jpg".to_string(), Some(1), file.clone()),
            ("http://a.example/2.jpg".to_string(), Some(3), file)
        ]
    );
}
