//! Fetch benchmark, driven by `scripts/bench-fetch.sh` and `scripts/bench.py`.
//!
//! ```text
//! bench_fetch serve [DIR]                # the loopback image server alone; prints its port
//! bench_fetch input DIR PORT N           # DIR/curated (wit's input) and DIR/urls.csv (img2dataset's)
//! bench_fetch run DIR OUT SIZE THREADS   # fetch DIR/curated into OUT; prints one JSON line
//! bench_fetch N [IMAGE_SIZE]             # all of it in one process, printed as a table
//! ```
//!
//! `serve DIR` serves the files of DIR (e.g. `bench_codec write-mixed DIR`: real photos of mixed
//! sizes) in turn instead: `/img/N.jpg` is file N mod their count.
//!
//! `bench_fetch N [IMAGE_SIZE]` starts a loopback image server in a child process (a 640×480 JPEG,
//! made unique per URL by trailing bytes after its end marker), writes a curated folder of N pairs
//! pointing at it, runs the fetch stage (border resize to IMAGE_SIZE, JPEG quality 95) and prints a
//! table: images/s, CPU ms per image of the fetch process (user + system), peak RSS.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use image::codecs::jpeg::JpegEncoder;
use wit_contract::{
    pair_key, shard_file_name, Candidate, CuratedPair, Manifest, RecordKind, ShardWriter, WriterOptions,
};
use wit_fetch::{fetch, FetchConfig, FetchInput, ImageOptions, NetOptions, ResizeMode};

fn base_jpeg() -> Vec<u8> {
    let (w, h) = (640u32, 480u32);
    let pixels: Vec<u8> = (0..w * h * 3)
        .map(|i| {
            let (x, y) = ((i / 3) % w, (i / 3) / w);
            ((x * 7 + y * 3 + (i % 3) * 50) % 256) as u8
        })
        .collect();
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90).encode(&pixels, w, h, image::ExtendedColorType::Rgb8).unwrap();
    out
}

/// A blocking HTTP/1.1 keep-alive server, one thread per connection, serving `bodies` in turn.
fn serve(bodies: Vec<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    let bodies = std::sync::Arc::new(bodies);
    for stream in listener.incoming().flatten() {
        let bodies = bodies.clone();
        std::thread::spawn(move || handle(stream, &bodies));
    }
}

/// The files of `dir`, in name order.
fn files_of(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    let bodies: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!bodies.is_empty(), "no files in {}", dir.display());
    bodies
}

fn handle(stream: TcpStream, bodies: &[Vec<u8>]) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
        }
        let response = if path == "/robots.txt" {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()
        } else {
            let tail = path.as_bytes();
            let number = path.trim_start_matches("/img/").trim_end_matches(".jpg").parse::<usize>().unwrap_or(0);
            let body = &bodies[number % bodies.len()];
            let mut out = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                body.len() + tail.len()
            )
            .into_bytes();
            out.extend_from_slice(body);
            out.extend_from_slice(tail);
            out
        };
        if writer.write_all(&response).is_err() {
            return;
        }
    }
}

/// The same URL list as `write_input`, as the CSV img2dataset reads (`url,caption`).
fn write_url_csv(path: &Path, port: u16, n: usize) {
    let mut csv = String::from("url,caption\n");
    for i in 0..n {
        csv.push_str(&format!("http://127.0.0.1:{port}/img/{i}.jpg,image number {i}\n"));
    }
    std::fs::write(path, csv).unwrap();
}

fn bench_config(input: &Path, out: &Path, image_size: u32, threads: usize) -> FetchConfig {
    let mut config = FetchConfig::new(FetchInput::from_folder(input).unwrap(), out.to_path_buf());
    config.net = NetOptions {
        allow_private_networks: true,
        per_host_concurrency: 64,
        per_host_min_delay: Duration::ZERO,
        ..config.net
    };
    config.image = ImageOptions { image_size, resize_mode: ResizeMode::Border, quality: 95, ..ImageOptions::default() };
    config.concurrency = 64;
    config.threads = threads;
    config
}

fn write_input(dir: &Path, port: u16, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut manifest = Manifest::new(RecordKind::Curated, serde_json::json!({}), None);
    let rows: Vec<CuratedPair> = (0..n)
        .map(|i| {
            let url = format!("http://127.0.0.1:{port}/img/{i}.jpg");
            let caption = format!("image number {i}");
            CuratedPair {
                candidate: Candidate {
                    key: pair_key(&url, &caption),
                    url,
                    caption,
                    page_url: None,
                    source: "bench".into(),
                    lang: None,
                    lang_conf: None,
                    provenance: Default::default(),
                },
                query_ids: vec![0],
                keep_prob: 1.0,
            }
        })
        .collect();
    let mut writer =
        ShardWriter::for_records::<CuratedPair>(dir.join(shard_file_name(0)), &WriterOptions::default()).unwrap();
    writer.write_records(&rows).unwrap();
    manifest.add_shard(writer.finish().unwrap());
    manifest.complete = true;
    manifest.save(dir).unwrap();
}

/// User + system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        serve(args.get(2).map_or_else(|| vec![base_jpeg()], |dir| files_of(Path::new(dir))));
        return;
    }
    if args.get(1).map(String::as_str) == Some("input") {
        let dir = Path::new(args.get(2).expect("bench_fetch input DIR PORT N"));
        let port: u16 = args.get(3).and_then(|a| a.parse().ok()).expect("PORT");
        let n: usize = args.get(4).and_then(|a| a.parse().ok()).expect("N");
        write_input(&dir.join("curated"), port, n);
        write_url_csv(&dir.join("urls.csv"), port, n);
        return;
    }
    if args.get(1).map(String::as_str) == Some("run") {
        let usage = "bench_fetch run DIR OUT SIZE THREADS";
        let dir = Path::new(args.get(2).expect(usage));
        let out = Path::new(args.get(3).expect(usage));
        let image_size: u32 = args.get(4).and_then(|a| a.parse().ok()).expect(usage);
        let threads: usize = args.get(5).and_then(|a| a.parse().ok()).expect(usage);
        let config = bench_config(&dir.join("curated"), out, image_size, threads);
        let (cpu0, t0) = (cpu_seconds(), Instant::now());
        let stats = fetch(&config).expect("fetch");
        let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
        println!(
            "{}",
            serde_json::json!({"images": stats.corpus_rows, "failures": stats.failure_rows, "fetched": stats.fetched,
                "seconds": wall, "cpu_seconds": cpu, "peak_rss_mb": peak_rss_mb()})
        );
        return;
    }
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let image_size: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(256);
    let mut server = Command::new(std::env::current_exe().unwrap())
        .arg("serve")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server process");
    let mut port = String::new();
    let mut stdout = server.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        port.push(byte[0] as char);
    }
    let port: u16 = port.trim().parse().expect("the server prints its port");
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("curated");
    write_input(&input, port, n);
    let config = bench_config(&input, &work.path().join("corpus"), image_size, 0);
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let stats = fetch(&config).expect("fetch");
    let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(stats.corpus_rows, n as u64, "{stats:?}");
    println!("fetch benchmark: {n} × 640×480 JPEG from a loopback server, border resize to {image_size}, quality 95");
    println!(
        "{:<8} {:>8} {:>10} {:>12} {:>16} {:>12}",
        "tool", "images", "wall s", "images/s", "CPU ms/image", "peak RSS MB"
    );
    println!(
        "{:<8} {:>8} {:>10.2} {:>12.0} {:>16.2} {:>12.0}",
        "wit",
        n,
        wall,
        n as f64 / wall,
        cpu * 1000.0 / n as f64,
        peak_rss_mb()
    );
}
