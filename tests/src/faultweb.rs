//! The fault web: loopback servers on 127.0.0.2 where every path prefix is one way the web can
//! misbehave (or behave), each with the outcome `wit fetch` must record for it ([`FAULTS`]).
//!
//! URLs are `/{kind}/{index}`; replies are computed from the path, so a list of 10,000 URLs costs
//! no route table. Four servers, because robots.txt and `Retry-After` act per origin:
//!
//! - `main`: every kind not below; robots.txt disallows `/robots-disallow/`.
//! - `robots_500`: robots.txt answers 500, which means "disallow all" (RFC 9309).
//! - `huge_robots`: a 700 KiB robots.txt; only its first 500 KiB count, so `/huge-robots-early/`
//!   (disallowed at the top) is refused and `/huge-robots-late/` (disallowed at the end) is fetched.
//! - `busy`: 429 with `Retry-After: 1`, which also holds back that host's next requests.
//!
//! The servers listen on 127.0.0.2, so a fetch run allows exactly that address
//! (`--allow-address 127.0.0.2`) and everything else private stays refused: `localhost`
//! (127.0.0.1) and redirects to 127.0.0.1 are the "private target" kinds. Good images carry their
//! index in a JPEG comment (PNG text chunk), so no two URLs serve the same bytes and no good
//! image is a `duplicate`.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use wit_contract::{read_records, CorpusImage, Failure, Manifest};

use crate::loopback::{jpeg, png, LoopbackServer, Reply};

/// The address the fault web listens on.
pub const FAULT_WEB_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// One kind of answer and what `wit fetch` must make of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The first path segment of its URLs.
    pub name: &'static str,
    /// The failure status, or `success` (a corpus row).
    pub status: &'static str,
    /// The error kind of the failure row (`kind:` prefix of its message); empty for success.
    pub error_kind: &'static str,
    /// The HTTP status the failure row records, where it matters.
    pub http_status: Option<u16>,
    /// URLs of this kind per 10,000 in a mixed list ([`FaultWeb::mixed_urls`]); slow kinds are few.
    pub per_10k: usize,
}

const fn fault(
    name: &'static str,
    status: &'static str,
    error_kind: &'static str,
    http_status: Option<u16>,
    per_10k: usize,
) -> Fault {
    Fault { name, status, error_kind, http_status, per_10k }
}

const DOWNLOAD: &str = "failed_to_download";
const DECODE: &str = "failed_to_decode";

/// Every kind, with its expected outcome. `good` takes what the others leave of a mixed list.
pub const FAULTS: &[Fault] = &[
    fault("good", "success", "", None, 0),
    fault("redirect-ok", "success", "", None, 150),
    fault("http10", "success", "", None, 150),
    fault("wrong-type", "success", "", None, 150),
    fault("huge-robots-late", "success", "", None, 100),
    fault("drip", DOWNLOAD, "timeout", None, 12),
    fault("stall", DOWNLOAD, "timeout", None, 12),
    fault("reset", DOWNLOAD, "connection", None, 200),
    fault("truncated", DOWNLOAD, "connection", None, 200),
    fault("length-long", DOWNLOAD, "connection", None, 200),
    fault("length-short", DECODE, "decode", Some(200), 200),
    fault("over-cap", DOWNLOAD, "too_large", None, 30),
    fault("over-cap-length", DOWNLOAD, "too_large", None, 200),
    fault("404", DOWNLOAD, "http_status", Some(404), 200),
    fault("410", DOWNLOAD, "http_status", Some(410), 200),
    fault("403", DOWNLOAD, "http_status", Some(403), 200),
    fault("429", DOWNLOAD, "http_status", Some(429), 6),
    fault("500", DOWNLOAD, "http_status", Some(500), 200),
    fault("503", DOWNLOAD, "http_status", Some(503), 200),
    fault("redirect-loop", DOWNLOAD, "too_many_redirects", None, 200),
    fault("redirect-chain", DOWNLOAD, "too_many_redirects", None, 200),
    fault("redirect-private", "refused_private", "refused_private", None, 200),
    fault("redirect-file", DOWNLOAD, "unsupported_scheme", None, 200),
    fault("localhost", "refused_private", "refused_private", None, 200),
    fault("html", DECODE, "not_an_image", Some(200), 200),
    fault("corrupt-jpeg", DECODE, "decode", Some(200), 200),
    fault("png-bomb", DECODE, "too_many_pixels", Some(200), 100),
    fault("jpeg-huge-header", DECODE, "too_many_pixels", Some(200), 200),
    fault("empty", DECODE, "not_an_image", Some(200), 200),
    fault("gzip-bomb", DECODE, "not_an_image", Some(200), 100),
    fault("noai", "opted_out", "opted_out", Some(200), 200),
    fault("robots-disallow", "robots_disallowed", "robots_disallowed", None, 200),
    fault("robots-500", "robots_disallowed", "robots_disallowed", None, 200),
    fault("huge-robots-early", "robots_disallowed", "robots_disallowed", None, 100),
];

/// Kinds that must never reach the corpus, whatever else happens.
pub const FORBIDDEN: [&str; 7] =
    ["robots-disallow", "robots-500", "huge-robots-early", "noai", "localhost", "redirect-private", "redirect-file"];

/// The fault with this name.
pub fn fault_named(name: &str) -> &'static Fault {
    FAULTS.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no fault kind {name}"))
}

/// The fault kind of one of the fault web's URLs.
pub fn fault_of_url(url: &str) -> &'static Fault {
    let path = url.split_once("://").map(|(_, rest)| rest).and_then(|rest| rest.split_once('/')).map(|(_, p)| p);
    let name = path.and_then(|p| p.split('/').next()).unwrap_or_else(|| panic!("not a fault web URL: {url}"));
    fault_named(name)
}

/// The bodies served, made once.
struct Bodies {
    jpeg: Vec<u8>,
    png: Vec<u8>,
    corrupt_jpeg: Vec<u8>,
    huge_header_jpeg: Vec<u8>,
    png_bomb: Vec<u8>,
    gzip_bomb: Vec<u8>,
    main_port: std::sync::OnceLock<u16>,
}

/// The running fault web; stops when dropped.
pub struct FaultWeb {
    pub main: LoopbackServer,
    pub robots_500: LoopbackServer,
    pub huge_robots: LoopbackServer,
    pub busy: LoopbackServer,
}

impl FaultWeb {
    pub fn start() -> FaultWeb {
        let bodies = Arc::new(Bodies::new());
        let handler = |bodies: &Arc<Bodies>| {
            let bodies = bodies.clone();
            Some(Arc::new(move |path: &str| reply_for(path, &bodies)) as crate::loopback::Handler)
        };
        let robots = "User-agent: *\nDisallow: /robots-disallow/\n";
        let main = LoopbackServer::start_on(
            FAULT_WEB_IP,
            [("/robots.txt".to_string(), Reply::ok("text/plain", robots.as_bytes().to_vec()))],
            handler(&bodies),
        );
        let _ = bodies.main_port.set(main.addr.port());
        let robots_500 = LoopbackServer::start_on(
            FAULT_WEB_IP,
            [("/robots.txt".to_string(), Reply::status(500, &[]))],
            handler(&bodies),
        );
        let mut huge = String::from("User-agent: *\nDisallow: /huge-robots-early/\n");
        while huge.len() < 700 << 10 {
            huge.push_str("# filler filler filler filler filler filler filler filler filler\n");
        }
        huge.push_str("Disallow: /huge-robots-late/\n");
        let huge_robots = LoopbackServer::start_on(
            FAULT_WEB_IP,
            [("/robots.txt".to_string(), Reply::ok("text/plain", huge.into_bytes()))],
            handler(&bodies),
        );
        let busy = LoopbackServer::start_on(FAULT_WEB_IP, [], handler(&bodies));
        FaultWeb { main, robots_500, huge_robots, busy }
    }

    /// The URL of `fault`'s `index`th resource.
    pub fn url(&self, fault: &Fault, index: usize) -> String {
        let path = format!("/{}/{index}", fault.name);
        match fault.name {
            "robots-500" => self.robots_500.url(&path),
            "huge-robots-early" | "huge-robots-late" => self.huge_robots.url(&path),
            "429" => self.busy.url(&path),
            "localhost" => self.main.url_with_host("localhost", &path),
            _ => self.main.url(&path),
        }
    }

    /// One URL of every kind.
    pub fn one_of_each(&self) -> Vec<String> {
        FAULTS.iter().map(|f| self.url(f, 0)).collect()
    }

    /// `total` URLs: every kind at its share ([`Fault::per_10k`], at least one), `good` for the
    /// rest, in a fixed shuffled order.
    pub fn mixed_urls(&self, total: usize) -> Vec<String> {
        let mut urls = Vec::with_capacity(total);
        for fault in &FAULTS[1..] {
            let count = (fault.per_10k * total / 10_000).max(1);
            urls.extend((0..count).map(|i| self.url(fault, i)));
        }
        assert!(urls.len() < total, "{total} URLs are too few for every fault kind");
        let good = total - urls.len();
        urls.extend((0..good).map(|i| self.url(&FAULTS[0], i)));
        // Fisher–Yates with a fixed xorshift, so runs are comparable.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for i in (1..urls.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            urls.swap(i, (state % (i as u64 + 1)) as usize);
        }
        urls
    }
}

impl Bodies {
    fn new() -> Bodies {
        let jpeg = jpeg(24, 18, 7);
        let png = png(20, 16, 3);
        // A JPEG cut right after its scan header: the header reads, the image data is missing.
        let sos = find_marker(&jpeg, 0xda).expect("a JPEG has a scan");
        let corrupt_jpeg = jpeg[..sos + 14].to_vec();
        // A small JPEG whose frame header claims 60000×60000.
        let mut huge_header_jpeg = jpeg.clone();
        let sof = find_marker(&huge_header_jpeg, 0xc0).expect("a baseline JPEG has SOF0");
        huge_header_jpeg[sof + 5..sof + 7].copy_from_slice(&60000u16.to_be_bytes());
        huge_header_jpeg[sof + 7..sof + 9].copy_from_slice(&60000u16.to_be_bytes());
        Bodies {
            jpeg,
            png,
            corrupt_jpeg,
            huge_header_jpeg,
            png_bomb: png_bomb(20_000, 20_000),
            gzip_bomb: gzip_zeros(64 << 20),
            main_port: std::sync::OnceLock::new(),
        }
    }
}

/// The index of the `FF xx` marker byte pair (its 0xFF).
fn find_marker(jpeg: &[u8], marker: u8) -> Option<usize> {
    jpeg.windows(2).position(|w| w == [0xff, marker])
}

/// The JPEG with a comment segment holding `text` right after its SOI marker: other bytes, same picture.
pub fn jpeg_with_comment(jpeg: &[u8], text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(jpeg.len() + text.len() + 4);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xff, 0xfe]);
    out.extend_from_slice(&(text.len() as u16 + 2).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The PNG with a `tEXt` chunk holding `text` after IHDR.
pub fn png_with_text(png: &[u8], text: &str) -> Vec<u8> {
    let mut chunk = b"tEXt".to_vec();
    chunk.extend_from_slice(b"Comment\0");
    chunk.extend_from_slice(text.as_bytes());
    let mut out = png[..33].to_vec();
    out.extend_from_slice(&(chunk.len() as u32 - 4).to_be_bytes());
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&crate::loopback::crc32(&chunk).to_be_bytes());
    out.extend_from_slice(&png[33..]);
    out
}

/// A real decompression bomb: a valid 1-bit grayscale PNG of `width`×`height` zero pixels, whose
/// few compressed kilobytes inflate to width·height/8 bytes.
pub fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crate::loopback::crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]); // 1 bit, grayscale, deflate, no filter, no interlace
    chunk(b"IHDR", &ihdr);
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let row = vec![0u8; 1 + width.div_ceil(8) as usize]; // filter byte + packed bits
    for _ in 0..height {
        encoder.write_all(&row).expect("deflate into memory");
    }
    chunk(b"IDAT", &encoder.finish().expect("deflate into memory"));
    chunk(b"IEND", &[]);
    out
}

/// `bytes` zero bytes, gzip-compressed (about a thousandth of the size).
pub fn gzip_zeros(bytes: usize) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..bytes / zeros.len() {
        encoder.write_all(&zeros).expect("gzip into memory");
    }
    encoder.finish().expect("gzip into memory")
}

/// The reply to `/{kind}/{index}` (None: 404).
fn reply_for(path: &str, bodies: &Bodies) -> Option<Reply> {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (kind, index) = (parts.next()?, parts.next()?);
    let good = || jpeg_with_comment(&bodies.jpeg, &format!("{kind}/{index}"));
    let png_of = || png_with_text(&bodies.png, &format!("{kind}/{index}"));
    Some(match kind {
        "good" | "good-target" | "huge-robots-late" | "huge-robots-early" | "robots-disallow" | "robots-500"
        | "localhost" => Reply::ok("image/jpeg", good()),
        "redirect-ok" => Reply::redirect(&format!("/good-target/{index}")),
        "http10" => Reply::Http10 { body: png_of() },
        "wrong-type" => Reply::ok("text/html; charset=utf-8", good()),
        "drip" => Reply::Drip { body: good(), interval: Duration::from_secs(1) },
        "stall" => Reply::Stall { length: 5000 },
        "reset" => Reply::Reset { body: good(), sent: 100 },
        "truncated" => {
            let body = png_of();
            Reply::Chunked { sent: body.len() / 2, body }
        }
        "length-long" => {
            let body = good();
            Reply::LyingLength { claimed: body.len() + 5000, body }
        }
        "length-short" => {
            let body = png_of();
            Reply::LyingLength { claimed: body.len() / 2, body }
        }
        "over-cap" => Reply::Endless { length: None },
        "over-cap-length" => Reply::Endless { length: Some(10 << 30) },
        "404" | "410" | "403" | "500" | "503" => Reply::status(kind.parse().ok()?, &[]),
        "429" => Reply::status(429, &[("Retry-After", "1")]),
        "redirect-loop" => Reply::redirect(path),
        "redirect-chain" => {
            let (index, hop) = index.split_once('-').unwrap_or((index, "0"));
            Reply::redirect(&format!("/redirect-chain/{index}-{}", hop.parse::<u32>().ok()? + 1))
        }
        "redirect-private" => {
            let port = bodies.main_port.get().copied().unwrap_or(80);
            Reply::redirect(&format!("http://127.0.0.1:{port}/good/{index}"))
        }
        "redirect-file" => Reply::redirect("file:///etc/passwd"),
        "html" => Reply::ok("image/jpeg", format!("<html><body>page {index}</body></html>").into_bytes()),
        "corrupt-jpeg" => Reply::ok("image/jpeg", bodies.corrupt_jpeg.clone()),
        "png-bomb" => Reply::ok("image/png", bodies.png_bomb.clone()),
        "jpeg-huge-header" => Reply::ok("image/jpeg", bodies.huge_header_jpeg.clone()),
        "empty" => Reply::ok("image/jpeg", Vec::new()),
        "gzip-bomb" => Reply::with_headers("image/jpeg", bodies.gzip_bomb.clone(), &[("Content-Encoding", "gzip")]),
        "noai" => Reply::with_headers("image/jpeg", good(), &[("X-Robots-Tag", "noai")]),
        _ => return None,
    })
}

/// A URL's outcome as read back from the output's Parquet shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: String,
    pub error_kind: String,
    pub http_status: Option<u16>,
}

/// URL → outcome over corpus and failures; fails on a URL present twice.
pub fn outcomes(out: &Path) -> BTreeMap<String, Outcome> {
    let mut map = BTreeMap::new();
    let manifest = Manifest::load(out).unwrap();
    assert!(manifest.complete);
    for path in manifest.shard_paths(out) {
        for row in read_records::<CorpusImage>(&path).unwrap() {
            let outcome = Outcome { status: "success".into(), error_kind: String::new(), http_status: None };
            let url = row.candidate.url.clone();
            assert!(map.insert(url, outcome).is_none(), "{} twice", row.candidate.url);
            assert!(image::load_from_memory(&row.image).is_ok(), "{}: the corpus image decodes", row.candidate.url);
        }
    }
    let dir = out.join("_failures");
    let manifest = Manifest::load(&dir).unwrap();
    assert!(manifest.complete);
    for path in manifest.shard_paths(&dir) {
        for row in read_records::<Failure>(&path).unwrap() {
            let error_kind = row.error_message.split_once(':').map(|(k, _)| k.to_string()).unwrap_or_default();
            let outcome = Outcome { status: row.status, error_kind, http_status: row.http_status };
            let url = row.candidate.url.clone();
            assert!(map.insert(url, outcome).is_none(), "{} twice", row.candidate.url);
        }
    }
    map
}

/// Checks every URL of `urls` has exactly one outcome, the one its fault kind expects; returns
/// the count per kind.
pub fn check_outcomes(urls: &[String], got: &BTreeMap<String, Outcome>) -> BTreeMap<&'static str, usize> {
    let listed: HashSet<&String> = urls.iter().collect();
    assert_eq!(listed.len(), urls.len(), "the list's URLs are distinct");
    let extra: Vec<_> = got.keys().filter(|url| !listed.contains(url)).take(5).collect();
    assert!(extra.is_empty(), "outcomes for URLs never listed: {extra:?}");
    let mut wrong = Vec::new();
    let mut per_kind = BTreeMap::new();
    for url in urls {
        let fault = fault_of_url(url);
        *per_kind.entry(fault.name).or_default() += 1;
        let Some(outcome) = got.get(url) else {
            wrong.push(format!("{url}: no outcome (lost)"));
            continue;
        };
        let http_ok = fault.http_status.is_none() || outcome.http_status == fault.http_status;
        if outcome.status != fault.status || outcome.error_kind != fault.error_kind || !http_ok {
            wrong.push(format!(
                "{url} ({}): got {} / {} / {:?}, want {} / {} / {:?}",
                fault.name,
                outcome.status,
                outcome.error_kind,
                outcome.http_status,
                fault.status,
                fault.error_kind,
                fault.http_status
            ));
        }
    }
    let shown: Vec<&String> = wrong.iter().take(30).collect();
    assert!(wrong.is_empty(), "{} of {} URLs with the wrong outcome:\n{shown:#?}", wrong.len(), urls.len());
    assert_eq!(got.len(), urls.len());
    per_kind
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_kind_and_mixed_lists_hold_every_kind() {
        let web = FaultWeb::start();
        for fault in FAULTS {
            assert_eq!(fault_of_url(&web.url(fault, 3)), fault);
        }
        let urls = web.mixed_urls(2000);
        assert_eq!(urls.len(), 2000);
        assert_eq!(urls.iter().collect::<std::collections::HashSet<_>>().len(), 2000, "URLs are distinct");
        for fault in FAULTS {
            assert!(urls.iter().any(|u| fault_of_url(u) == fault), "{}", fault.name);
        }
    }

    #[test]
    fn bombs_and_patched_headers_are_what_they_claim() {
        let bodies = Bodies::new();
        let bomb = image::ImageReader::new(std::io::Cursor::new(&bodies.png_bomb)).with_guessed_format().unwrap();
        assert_eq!(bomb.into_dimensions().unwrap(), (20_000, 20_000));
        assert!(bodies.png_bomb.len() < 200_000, "{} bytes", bodies.png_bomb.len());
        let huge = image::ImageReader::new(std::io::Cursor::new(&bodies.huge_header_jpeg)).with_guessed_format();
        assert_eq!(huge.unwrap().into_dimensions().unwrap(), (60_000, 60_000));
        let commented = jpeg_with_comment(&bodies.jpeg, "x/1");
        assert_eq!(image::load_from_memory(&commented).unwrap().width(), 24);
        let texted = png_with_text(&bodies.png, "x/1");
        assert_eq!(image::load_from_memory(&texted).unwrap().width(), 20);
    }
}
