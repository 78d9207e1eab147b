//! A WAT file of the demo site's public pages, shaped like Common Crawl's: one gzip member per
//! WARC `metadata` record whose JSON holds `Envelope → Payload-Metadata → HTTP-Response-Metadata →
//! HTML-Metadata → {Head, Links}`. Image links carry `path: "IMG@/src"` with their `alt`/`title`;
//! relative URLs stay relative (the harvester resolves them against the target URI), so the WAT path
//! of the harvester does the same work on the demo as on Common Crawl.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};

use crate::site::Site;
use crate::DemoWebError;
use wit_contract::PathError;

/// Writes the WAT of every public page of `site` served at `base` (e.g. `http://127.0.0.1:8080`).
/// Returns the number of records.
pub fn write_wat(site: &Site, base: &str, path: &Path) -> Result<usize, DemoWebError> {
    let io_err = |source| PathError::io(path, source);
    let file = File::create(path).map_err(io_err)?;
    let mut out = BufWriter::new(file);
    let pages = site.public_pages();
    for (i, page) in pages.iter().enumerate() {
        let target = format!("{base}{}", page.path);
        let mut links: Vec<Value> = Vec::new();
        for image in &page.images {
            let mut link = json!({"path": "IMG@/src", "url": image.src});
            if let Some(alt) = &image.alt {
                link["alt"] = json!(alt);
            }
            // Common Crawl's WAT has no figcaption; the caption sits in the title there.
            if let Some(title) = image.title.as_ref().or(image.figcaption.as_ref()) {
                link["title"] = json!(title);
            }
            links.push(link);
        }
        for href in &page.links {
            links.push(json!({"path": "A@/href", "url": href}));
        }
        // Since December 2024 Common Crawl writes some header values as lists: do both.
        let content_type: Value =
            if i % 2 == 0 { json!("text/html; charset=utf-8") } else { json!(["text/html; charset=utf-8"]) };
        let body = json!({
            "Container": {"Filename": "demo.warc.gz", "Compressed": true},
            "Envelope": {
                "Format": "WARC",
                "WARC-Header-Metadata": {"WARC-Type": "response", "WARC-Target-URI": target},
                "Payload-Metadata": {
                    "Actual-Content-Type": "application/http; msgtype=response",
                    "HTTP-Response-Metadata": {
                        "Response-Message": {"Status": "200", "Version": "HTTP/1.1", "Reason": "OK"},
                        "Headers": {"Content-Type": content_type, "Server": "wit-demo-web"},
                        "HTML-Metadata": {
                            "Head": {"Title": page.title},
                            "Links": links,
                        }
                    }
                }
            }
        });
        let payload = serde_json::to_vec(&body).map_err(|e| PathError::io(path, std::io::Error::other(e)))?;
        let head = format!(
            "WARC/1.0\r\nWARC-Type: metadata\r\nWARC-Target-URI: {target}\r\nWARC-Date: 2024-12-01T00:00:00Z\r\n\
             WARC-Record-ID: <urn:uuid:wit-demo-{i:08}>\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            payload.len()
        );
        let mut member = GzEncoder::new(Vec::new(), Compression::fast());
        member.write_all(head.as_bytes()).map_err(io_err)?;
        member.write_all(&payload).map_err(io_err)?;
        member.write_all(b"\r\n\r\n").map_err(io_err)?;
        out.write_all(&member.finish().map_err(io_err)?).map_err(io_err)?;
    }
    out.flush().map_err(io_err)?;
    Ok(pages.len())
}
