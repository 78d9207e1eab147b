//! Benchmark: write and read corpus shards through the data contract.
//!
//! `cargo run --release -p wit-contract --example shard_throughput -- ROWS IMAGE_BYTES OUT_DIR`
//! writes ROWS corpus rows (incompressible image bytes of IMAGE_BYTES each, like encoded JPEGs) into
//! one shard, reads it back as typed rows, and prints one tab-separated line per operation:
//! `operation rows seconds MB/s rows/s peak_rss_MiB`.

use std::path::PathBuf;
use std::time::Instant;

use wit_contract::{pair_key, shard_file_name, Candidate, CorpusImage, RecordReader, ShardWriter, WriterOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rows: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let image_bytes: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16 << 10);
    let out = PathBuf::from(args.get(2).cloned().unwrap_or_else(|| "out/bench".into()));
    std::fs::create_dir_all(&out).expect("output folder");
    let path = out.join(shard_file_name(0));

    let batch = 256;
    let start = Instant::now();
    let mut writer = ShardWriter::for_records::<CorpusImage>(&path, &WriterOptions::default()).expect("create shard");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for first in (0..rows).step_by(batch) {
        let chunk: Vec<CorpusImage> =
            (first..(first + batch).min(rows)).map(|i| row(i, image_bytes, &mut state)).collect();
        writer.write_records(&chunk).expect("write rows");
    }
    let info = writer.finish().expect("finish shard");
    report("write", rows, start.elapsed().as_secs_f64(), info.bytes);

    let start = Instant::now();
    let mut read = 0usize;
    let mut checksum = 0u64;
    for record in RecordReader::<CorpusImage>::open(&path, 1024).expect("open shard") {
        let record = record.expect("read row");
        checksum = checksum.wrapping_add(record.image.len() as u64);
        read += 1;
    }
    assert_eq!(read, rows);
    assert_eq!(checksum, (rows * image_bytes) as u64);
    report("read", read, start.elapsed().as_secs_f64(), info.bytes);
    println!("file\t{}", path.display());
}

fn row(i: usize, image_bytes: usize, state: &mut u64) -> CorpusImage {
    let url = format!("https://images.example.org/{i}/photo.jpg");
    let caption = format!("a photo of a red bicycle leaning on a wall, number {i}");
    let mut image = vec![0u8; image_bytes];
    for chunk in image.chunks_mut(8) {
        // xorshift: incompressible, as encoded images are
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    CorpusImage {
        candidate: Candidate {
            key: pair_key(&url, &caption),
            url,
            caption,
            page_url: Some(format!("https://example.org/page/{}", i / 10)),
            source: "wat".into(),
            lang: Some("eng".into()),
            lang_conf: Some(0.9),
            provenance: Default::default(),
        },
        query_ids: vec![i as u32 % 500_000, 17],
        width: 256,
        height: 256,
        original_width: 1024,
        original_height: 768,
        image,
        image_format: "jpeg".into(),
        image_xxh3: i as u64,
        fetched_at_us: 1_795_000_000_000_000,
        image_phash: None,
    }
}

fn report(operation: &str, rows: usize, seconds: f64, bytes: u64) {
    let mb = bytes as f64 / 1e6;
    println!(
        "{operation}\t{rows}\t{seconds:.3}\t{:.0}\t{:.0}\t{}",
        mb / seconds,
        rows as f64 / seconds,
        peak_rss_mib()
    );
}

/// Peak resident set size of this process so far (VmHWM), in MiB.
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib / 1024)
}
