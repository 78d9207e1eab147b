//! The demo web over real TCP: pages, images, robots.txt, keep-alive, and the WAT file's records.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use wit_demoweb::{DemoWeb, SiteConfig};

fn get(stream: &mut TcpStream, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status: u16 = status_line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(": ").unwrap();
        headers.push((k.to_ascii_lowercase(), v.to_string()));
    }
    let len: usize = headers.iter().find(|(k, _)| k == "content-length").unwrap().1.parse().unwrap();
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    (status, headers, body)
}

#[test]
fn serves_pages_images_and_robots_over_one_keep_alive_connection() {
    let web = DemoWeb::start(SiteConfig { pages: 5, ..SiteConfig::default() }, "127.0.0.1:0".parse().unwrap()).unwrap();
    let mut stream = TcpStream::connect(web.addr()).unwrap();
    let (status, _, robots) = get(&mut stream, "/robots.txt");
    assert_eq!(status, 200);
    assert!(String::from_utf8(robots).unwrap().contains("Disallow: /private/"));
    let (status, _, index) = get(&mut stream, "/");
    assert_eq!(status, 200);
    assert!(String::from_utf8(index).unwrap().contains("/page/4.html"));
    let (status, headers, png) = get(&mut stream, "/img/gen/1.png");
    assert_eq!(status, 200);
    assert!(headers.contains(&("content-type".into(), "image/png".into())));
    let decoded = image::load_from_memory(&png).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (64, 64));
    let (status, headers, _) = get(&mut stream, "/img/optout/7.png");
    assert_eq!(status, 200);
    assert!(headers.iter().any(|(k, v)| k == "x-robots-tag" && v.contains("noai")));
    assert_eq!(get(&mut stream, "/img/missing/5.png").0, 404);
    assert_eq!(web.requests().count(), 5);
    assert!(web.requests().paths().contains(&"/img/gen/1.png".to_string()));
}

#[test]
fn refuses_to_listen_beyond_loopback() {
    let err = DemoWeb::start(SiteConfig::default(), "0.0.0.0:0".parse().unwrap()).err().unwrap();
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[test]
fn the_wat_file_holds_one_metadata_record_per_public_page() {
    let web = DemoWeb::start(SiteConfig { pages: 3, ..SiteConfig::default() }, "127.0.0.1:0".parse().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.wat.gz");
    let records = web.write_wat(&path).unwrap();
    assert_eq!(records, 2 + 3);
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(&path).unwrap()).read_to_string(&mut text).unwrap();
    assert_eq!(text.matches("WARC-Type: metadata").count(), 5);
    assert!(text.contains("\"IMG@/src\""));
    assert!(text.contains(&format!("WARC-Target-URI: {}/page/2.html", web.base_url())));
}
