//! Common-Crawl-shaped benchmark input and the wit side of the cc2dataset comparison (driven by
//! `scripts/bench.py`, stage `cc`).
//!
//! `bench_cc gen PAGES_DIR OUT_DIR PAGES SEED` builds pages from real HTML (the Debian
//! Administrator's Handbook in 26 languages that `make fixtures` puts in fixtures/lang/pages) and
//! writes them as Common Crawl does: `cc.warc.gz` (per page a request, a response holding the HTML
//! and a metadata record, one gzip member each, after a warcinfo record) and `cc.warc.wat.gz`
//! (one WAT metadata record per WARC record, with Common Crawl's envelope: Container, Envelope →
//! WARC-Header-Metadata, Payload-Metadata → HTTP-Request-Metadata / HTTP-Response-Metadata →
//! HTML-Metadata → Head (Title, Metas, Link, Scripts) and Links (`A@/href` with text, `IMG@/src` with
//! alt, …) / WARC-Metadata-Metadata). Each page gets its own URL; on `NO_ALT_SHARE` of the pages
//! every image loses its alt (most crawled pages have few or no image alts). `mix.json` describes
//! what was written.
//!
//! `bench_cc wit FILE OUT_DIR` harvests FILE on one thread (every language kept, as cc2dataset keeps
//! all) and prints JSON (seconds, thread CPU seconds, pairs, stats) and writes `OUT_DIR/pairs.tsv`;
//! `bench_cc gunzip FILE` times a bare gzip decode of FILE (flate2 with zlib-rs, streaming);
//! `bench_cc gunzip-libdeflate FILE` the same with libdeflate, member by member from memory into a
//! reused buffer (the decoder wit's harvest uses); `bench_cc json FILE` a decode plus a bare
//! `serde_json::Value` parse of every WAT record's JSON (the floors).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use lol_html::{element, text, HtmlRewriter, Settings};
use serde_json::{json, Value};
use wit_contract::{read_records, Candidate, Manifest};
use wit_harvest::warc::{WarcItem, WarcLimits, WarcReader};
use wit_harvest::{harvest, HarvestConfig};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Share of pages whose images all lose their alt text.
const NO_ALT_SHARE: f64 = 0.6;

struct Rng(u64, u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.1 += 1;
        xxh3_64_with_seed(&self.1.to_le_bytes(), self.0)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What the rewriter found in one page.
#[derive(Default)]
struct PageParts {
    title: String,
    metas: Vec<Value>,
    head_links: Vec<Value>,
    scripts: Vec<Value>,
    links: Vec<Value>,
    image_alts: usize,
}

/// Rewrites `html` (dropping image alts when `drop_alts`) and collects what a WAT record lists.
fn rewrite(html: &[u8], drop_alts: bool) -> (Vec<u8>, PageParts) {
    use std::cell::RefCell;
    use std::rc::Rc;
    let parts = Rc::new(RefCell::new(PageParts::default()));
    let mut out = Vec::with_capacity(html.len());
    {
        let (p1, p2, p3, p4, p5, p6, p7) =
            (parts.clone(), parts.clone(), parts.clone(), parts.clone(), parts.clone(), parts.clone(), parts.clone());
        let settings = Settings::new()
            .append_element_content_handler(element!("img[src]", move |el| {
                let src = el.get_attribute("src").unwrap_or_default();
                let alt = el.get_attribute("alt").filter(|a| !a.is_empty());
                let mut link = json!({"path": "IMG@/src", "url": src});
                match alt {
                    Some(alt) if !drop_alts => {
                        link["alt"] = alt.into();
                        p1.borrow_mut().image_alts += 1;
                    }
                    _ => el.remove_attribute("alt"),
                }
                if let Some(title) = el.get_attribute("title") {
                    link["title"] = title.into();
                }
                p1.borrow_mut().links.push(link);
                Ok(())
            }))
            .append_element_content_handler(element!("a[href]", move |el| {
                let href = el.get_attribute("href").unwrap_or_default();
                p2.borrow_mut().links.push(json!({"path": "A@/href", "url": href, "text": ""}));
                Ok(())
            }))
            .append_element_content_handler(text!("a[href]", move |t| {
                let mut parts = p3.borrow_mut();
                if let Some(Value::String(text)) = parts.links.last_mut().and_then(|l| l.get_mut("text")) {
                    text.push_str(t.as_str().trim());
                }
                Ok(())
            }))
            .append_element_content_handler(element!("script[src]", move |el| {
                let src = el.get_attribute("src").unwrap_or_default();
                p4.borrow_mut().scripts.push(json!({"path": "SCRIPT@/src", "url": src, "type": "text/javascript"}));
                Ok(())
            }))
            .append_element_content_handler(element!("link[href]", move |el| {
                let href = el.get_attribute("href").unwrap_or_default();
                let rel = el.get_attribute("rel").unwrap_or_default();
                p5.borrow_mut().head_links.push(json!({"path": "LINK@/href", "url": href, "rel": rel}));
                Ok(())
            }))
            .append_element_content_handler(element!("meta[content]", move |el| {
                let name = el.get_attribute("name").or_else(|| el.get_attribute("http-equiv")).unwrap_or_default();
                let content = el.get_attribute("content").unwrap_or_default();
                p6.borrow_mut().metas.push(json!({"name": name, "content": content}));
                Ok(())
            }))
            .append_element_content_handler(text!("title", move |t| {
                p7.borrow_mut().title.push_str(t.as_str());
                Ok(())
            }));
        let mut rewriter = HtmlRewriter::new(settings, |c: &[u8]| out.extend_from_slice(c));
        rewriter.write(html).expect("the fixture pages are HTML");
        rewriter.end().expect("the fixture pages are HTML");
    }
    let parts = Rc::try_unwrap(parts).ok().expect("handlers dropped").into_inner();
    (out, parts)
}

fn warc_record(headers: &[(&str, String)], block: &[u8]) -> Vec<u8> {
    let mut r = b"WARC/1.0\r\n".to_vec();
    for (name, value) in headers {
        r.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    r.extend_from_slice(format!("Content-Length: {}\r\n\r\n", block.len()).as_bytes());
    r.extend_from_slice(block);
    r.extend_from_slice(b"\r\n\r\n");
    r
}

fn gz(record: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(record).expect("in memory");
    gz.finish().expect("in memory")
}

fn uuid(rng: &mut Rng) -> String {
    let (a, b) = (rng.next(), rng.next());
    format!(
        "<urn:uuid:{:08x}-{:04x}-{:04x}-{:04x}-{:012x}>",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// The WAT record describing one WARC record (`warc_headers`, written at `offset` in `warc_name`).
fn wat_record(
    rng: &mut Rng,
    warc_name: &str,
    offset: usize,
    warc_headers: &[(&str, String)],
    payload: Value,
    target: &str,
    refers_to: &str,
) -> Vec<u8> {
    let mut header_metadata = serde_json::Map::new();
    for (name, value) in warc_headers {
        header_metadata.insert(name.to_string(), value.clone().into());
    }
    let json = json!({
        "Container": {"Filename": warc_name, "Compressed": true, "Offset": offset.to_string(),
                      "Gzip-Metadata": {"Deflate-Length": "4321", "Header-Length": "10", "Footer-Length": "8",
                                        "Inflated-CRC": "-1234567", "Inflated-Length": "9876"}},
        "Envelope": {"Format": "WARC", "WARC-Header-Length": "512", "Actual-Content-Length": "9364",
                     "Block-Digest": "sha1:ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                     "WARC-Header-Metadata": Value::Object(header_metadata),
                     "Payload-Metadata": payload}
    });
    let block = serde_json::to_vec(&json).expect("JSON");
    let headers = [
        ("WARC-Type", "metadata".to_string()),
        ("WARC-Target-URI", target.to_string()),
        ("WARC-Date", "2024-12-03T10:11:12Z".to_string()),
        ("WARC-Record-ID", uuid(rng)),
        ("WARC-Refers-To", refers_to.to_string()),
        ("Content-Type", "application/json".to_string()),
    ];
    gz(&warc_record(&headers, &block))
}

fn pages(dir: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let mut langs: Vec<PathBuf> = fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    langs.sort();
    for lang in langs.iter().filter(|p| p.is_dir()) {
        let mut files: Vec<PathBuf> = fs::read_dir(lang)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
        files.sort();
        let code = lang.file_name().unwrap_or_default().to_string_lossy().into_owned();
        found.extend(
            files.into_iter().filter(|f| f.extension().is_some_and(|e| e == "html")).map(|f| (code.clone(), f)),
        );
    }
    Ok(found)
}

fn generate(pages_dir: &Path, out: &Path, n: usize, seed: u64) -> io::Result<()> {
    fs::create_dir_all(out)?;
    let pool = pages(pages_dir)?;
    if pool.is_empty() {
        return Err(io::Error::other(format!("no HTML pages under {}: run `make fixtures`", pages_dir.display())));
    }
    let mut rng = Rng(seed, 0);
    let warc_name = "CC-MAIN-20241203101112-20241203131112-00000.warc.gz";
    let (mut warc, mut wat) = (Vec::new(), Vec::new());
    let info = warc_record(
        &[("WARC-Type", "warcinfo".into()), ("WARC-Record-ID", uuid(&mut rng))],
        b"software: wit bench_cc\r\n",
    );
    warc.extend(gz(&info));
    wat.extend(gz(&info));
    let mut mix: BTreeMap<&str, f64> = BTreeMap::new();
    let mut alts_per_page = Vec::new();
    for i in 0..n {
        let (lang, path) = &pool[(rng.next() as usize) % pool.len()];
        let html = fs::read(path)?;
        let drop_alts = rng.unit() < NO_ALT_SHARE;
        let (html, parts) = rewrite(&html, drop_alts);
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        let uri = format!("https://docs{}.example.org/{lang}/{stem}.html", i % 997);
        let date = "2024-12-03T10:11:12Z".to_string();
        // request
        let request_id = uuid(&mut rng);
        let request_http = format!(
            "GET /{lang}/{stem}.html HTTP/1.1\r\nHost: docs{}.example.org\r\nUser-Agent: CCBot/2.0 (https://commoncrawl.org/faq/)\r\nAccept: text/html\r\nAccept-Encoding: br,gzip\r\n\r\n",
            i % 997
        );
        let request_headers = vec![
            ("WARC-Type", "request".to_string()),
            ("WARC-Date", date.clone()),
            ("WARC-Record-ID", request_id.clone()),
            ("Content-Type", "application/http; msgtype=request".to_string()),
            ("WARC-Target-URI", uri.clone()),
        ];
        let offset = warc.len();
        warc.extend(gz(&warc_record(&request_headers, request_http.as_bytes())));
        let payload = json!({"Actual-Content-Type": "application/http; msgtype=request",
            "HTTP-Request-Metadata": {"Request-Message": {"Method": "GET", "Path": format!("/{lang}/{stem}.html"), "Version": "HTTP/1.1"},
                "Headers": {"Host": format!("docs{}.example.org", i % 997), "User-Agent": "CCBot/2.0 (https://commoncrawl.org/faq/)",
                            "Accept": "text/html", "Accept-Encoding": "br,gzip"},
                "Headers-Length": "180", "Entity-Length": "0"}});
        wat.extend(wat_record(&mut rng, warc_name, offset, &request_headers, payload, &uri, &request_id));
        // response
        let response_id = uuid(&mut rng);
        let mut http = format!(
            "HTTP/1.1 200 OK\r\nDate: Tue, 03 Dec 2024 10:11:12 GMT\r\nServer: Apache\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
            html.len()
        )
        .into_bytes();
        http.extend_from_slice(&html);
        let response_headers = vec![
            ("WARC-Type", "response".to_string()),
            ("WARC-Date", date.clone()),
            ("WARC-Record-ID", response_id.clone()),
            ("Content-Type", "application/http; msgtype=response".to_string()),
            ("WARC-Concurrent-To", request_id.clone()),
            ("WARC-IP-Address", "192.0.2.10".to_string()),
            ("WARC-Target-URI", uri.clone()),
            ("WARC-Identified-Payload-Type", "text/html".to_string()),
        ];
        let offset = warc.len();
        warc.extend(gz(&warc_record(&response_headers, &http)));
        let mut head = json!({"Title": parts.title.trim(), "Metas": parts.metas, "Link": parts.head_links});
        if !parts.scripts.is_empty() {
            head["Scripts"] = parts.scripts.clone().into();
        }
        let payload = json!({"Actual-Content-Type": "application/http; msgtype=response",
            "HTTP-Response-Metadata": {"Response-Message": {"Version": "HTTP/1.1", "Status": "200", "Reason": "OK"},
                "Headers": {"Date": "Tue, 03 Dec 2024 10:11:12 GMT", "Server": "Apache", "Content-Type": "text/html; charset=utf-8",
                            "Content-Length": html.len().to_string()},
                "Headers-Length": "140", "Entity-Length": html.len().to_string(), "Entity-Trailing-Slop-Length": "0",
                "Entity-Digest": "sha1:ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                "HTML-Metadata": {"Head": head, "Links": parts.links}}});
        wat.extend(wat_record(&mut rng, warc_name, offset, &response_headers, payload, &uri, &response_id));
        // metadata
        let metadata_id = uuid(&mut rng);
        let fields = format!("fetchTimeMs: {}\r\ncharset-detected: UTF-8\r\nlanguages-cld2: {{\"reliable\":true,\"languages\":[{{\"code\":\"{}\"}}]}}\r\n", 100 + i % 900, &lang[..2]);
        let metadata_headers = vec![
            ("WARC-Type", "metadata".to_string()),
            ("WARC-Date", date),
            ("WARC-Record-ID", metadata_id.clone()),
            ("Content-Type", "application/warc-fields".to_string()),
            ("WARC-Concurrent-To", response_id),
            ("WARC-Target-URI", uri.clone()),
        ];
        let offset = warc.len();
        warc.extend(gz(&warc_record(&metadata_headers, fields.as_bytes())));
        let payload = json!({"Actual-Content-Type": "application/warc-fields",
            "WARC-Metadata-Metadata": {"Metadata-Records": [
                {"Name": "fetchTimeMs", "Value": (100 + i % 900).to_string()},
                {"Name": "charset-detected", "Value": "UTF-8"},
                {"Name": "languages-cld2", "Value": format!("{{\"reliable\":true,\"languages\":[{{\"code\":\"{}\"}}]}}", &lang[..2])}]}});
        wat.extend(wat_record(&mut rng, warc_name, offset, &metadata_headers, payload, &uri, &metadata_id));

        *mix.entry("pages").or_default() += 1.0;
        *mix.entry("links").or_default() += parts.links.len() as f64;
        *mix.entry("image_links").or_default() += parts.links.iter().filter(|l| l["path"] == "IMG@/src").count() as f64;
        *mix.entry("image_alts").or_default() += parts.image_alts as f64;
        *mix.entry("pages_with_image_alts").or_default() += (parts.image_alts > 0) as u8 as f64;
        *mix.entry("html_bytes").or_default() += html.len() as f64;
        alts_per_page.push(parts.image_alts);
    }
    fs::write(out.join("cc.warc.gz"), &warc)?;
    fs::write(out.join("cc.warc.wat.gz"), &wat)?;
    let decompressed = |bytes: &[u8]| -> io::Result<usize> {
        let mut n = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut n)?;
        Ok(n.len())
    };
    let pages = n.max(1) as f64;
    let summary = json!({
        "source_pages": pool.len(),
        "pages": n,
        "records_per_file": 1 + 3 * n,
        "record_mix": {"warcinfo": 1, "request": n, "response": n, "metadata": n},
        "share_of_pages_with_image_alts": mix.get("pages_with_image_alts").copied().unwrap_or(0.0) / pages,
        "image_alts_per_page": mix.get("image_alts").copied().unwrap_or(0.0) / pages,
        "image_links_per_page": mix.get("image_links").copied().unwrap_or(0.0) / pages,
        "links_per_page": mix.get("links").copied().unwrap_or(0.0) / pages,
        "html_kb_per_page": mix.get("html_bytes").copied().unwrap_or(0.0) / pages / 1e3,
        "wat_mb": wat.len() as f64 / 1e6,
        "wat_decompressed_mb": decompressed(&wat)? as f64 / 1e6,
        "wat_kb_per_record": decompressed(&wat)? as f64 / 1e3 / (1 + 3 * n) as f64,
        "warc_mb": warc.len() as f64 / 1e6,
        "warc_decompressed_mb": decompressed(&warc)? as f64 / 1e6,
    });
    fs::write(out.join("mix.json"), serde_json::to_vec_pretty(&summary)?)?;
    println!("{summary}");
    Ok(())
}

/// Seconds this thread has run on a CPU (Linux's schedstat); NaN elsewhere.
fn thread_cpu_s() -> f64 {
    fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|ns| ns.parse::<f64>().ok()))
        .map_or(f64::NAN, |ns| ns / 1e9)
}

fn run_wit(file: &Path, out: &Path) -> io::Result<()> {
    let harvested = out.join("harvested");
    let _ = fs::remove_dir_all(&harvested);
    let config = HarvestConfig {
        inputs: vec![file.to_path_buf()],
        out: harvested.clone(),
        languages: vec!["any".into()],
        threads: 1,
        ..Default::default()
    };
    let (t, cpu) = (Instant::now(), thread_cpu_s());
    let stats = harvest(&config).map_err(io::Error::other)?;
    let (seconds, cpu_s) = (t.elapsed().as_secs_f64(), thread_cpu_s() - cpu);
    let manifest = Manifest::load(&harvested).map_err(io::Error::other)?;
    let mut tsv = String::new();
    let mut pairs = 0usize;
    for shard in manifest.shard_paths(&harvested) {
        for c in read_records::<Candidate>(&shard).map_err(io::Error::other)? {
            pairs += 1;
            tsv.push_str(&format!("{}\t{}\n", c.url, c.caption.replace(['\t', '\n'], " ")));
        }
    }
    fs::write(out.join("pairs.tsv"), tsv)?;
    let input = stats.per_input.first();
    println!(
        "{}",
        json!({"seconds": seconds, "cpu_s": cpu_s, "pairs": pairs, "bytes": fs::metadata(file)?.len(),
               "records": input.map(|i| i.records), "pages": input.map(|i| i.pages),
               "pairs_found": input.map(|i| i.pairs_found), "skipped": input.map(|i| &i.skipped)})
    );
    Ok(())
}

fn run_gunzip(file: &Path) -> io::Result<()> {
    let bytes = fs::read(file)?;
    let t = Instant::now();
    let n = io::copy(&mut flate2::read::MultiGzDecoder::new(&bytes[..]), &mut io::sink())?;
    println!("{}", json!({"seconds": t.elapsed().as_secs_f64(), "bytes": bytes.len(), "decompressed": n}));
    Ok(())
}

fn run_gunzip_libdeflate(file: &Path) -> io::Result<()> {
    use wit_harvest::gzip::{Inflater, MemberError};
    let bytes = fs::read(file)?;
    let t = Instant::now();
    let mut inflater = Inflater::new()?;
    let (mut out, mut at, mut n, mut members) = (vec![0u8; 1 << 20], 0usize, 0u64, 0u64);
    while at < bytes.len() {
        match inflater.gzip_member(&bytes[at..], &mut out) {
            Ok((used, written)) => {
                (at, n, members) = (at + used, n + written as u64, members + 1);
            }
            Err(MemberError::OutputFull) => out.resize(out.len() * 2, 0),
            Err(MemberError::BadData) => return Err(io::Error::other(format!("bad gzip member at byte {at}"))),
        }
    }
    println!(
        "{}",
        json!({"seconds": t.elapsed().as_secs_f64(), "bytes": bytes.len(), "decompressed": n, "members": members})
    );
    Ok(())
}

fn run_json(file: &Path) -> io::Result<()> {
    let t = Instant::now();
    let (mut records, mut parsed) = (0usize, 0usize);
    for item in WarcReader::open(file, WarcLimits::default()).map_err(io::Error::other)? {
        if let WarcItem::Record(record) = item.map_err(io::Error::other)? {
            records += 1;
            if record.header("Content-Type") == Some("application/json") {
                let value: Value = serde_json::from_slice(&record.block)?;
                parsed += value.is_object() as usize;
            }
        }
    }
    println!("{}", json!({"seconds": t.elapsed().as_secs_f64(), "records": records, "parsed": parsed}));
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).map(PathBuf::from);
    match (args.get(1).map(String::as_str), arg(2), arg(3)) {
        (Some("gen"), Some(pages_dir), Some(out)) => {
            let n = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(2000);
            let seed = args.get(5).and_then(|a| a.parse().ok()).unwrap_or(1);
            generate(&pages_dir, &out, n, seed)
        }
        (Some("wit"), Some(file), Some(out)) => run_wit(&file, &out),
        (Some("gunzip"), Some(file), _) => run_gunzip(&file),
        (Some("gunzip-libdeflate"), Some(file), _) => run_gunzip_libdeflate(&file),
        (Some("json"), Some(file), _) => run_json(&file),
        _ => {
            eprintln!(
                "usage: bench_cc gen PAGES_DIR OUT_DIR [PAGES] [SEED] | wit FILE OUT_DIR | gunzip FILE | gunzip-libdeflate FILE | json FILE"
            );
            std::process::exit(2)
        }
    }
}
