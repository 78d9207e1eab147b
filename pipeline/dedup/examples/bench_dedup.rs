//! The dedup benchmark's two halves (scripts/bench.py, stage `dedup`):
//!
//! - `bench_dedup hash FIXTURES SECONDS`: perceptual hashes per second on one core — `phash` on
//!   the raster fetch has already decoded (the cost fetch adds per image), and `phash_of` from
//!   encoded bytes (decode at the DCT scale + hash: what decontaminate pays per eval image).
//!   Prints `raster\tHASHES\tSECONDS` and `bytes\tHASHES\tSECONDS`.
//! - `bench_dedup corpus ROWS DIR`: a corpus of ROWS rows with synthetic hashes (uniform random,
//!   bit 0 clear) and 1% planted near duplicates (a copy of an earlier row's hash with 1–8 bits
//!   flipped, half of them mirrored); tiny image bytes, so `wit dedup` is timed on the hashes.
//!   Prints `planted\tN`.

use std::path::Path;
use std::time::Instant;

use wit_contract::{pair_key, Candidate, CorpusImage, Manifest, RecordKind, ShardWriter, WriterOptions};
use wit_imaging::phash::{mirrored, phash};
use wit_imaging::{decode_rgb, phash_of};

const SHARD_ROWS: usize = 100_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("hash") => hash(Path::new(&args[2]), args[3].parse().expect("seconds")),
        Some("corpus") => corpus(args[2].parse().expect("rows"), Path::new(&args[3])),
        _ => panic!("usage: bench_dedup hash FIXTURES SECONDS | corpus ROWS DIR"),
    }
}

fn hash(fixtures: &Path, seconds: f64) {
    let mut files: Vec<Vec<u8>> = std::fs::read_dir(fixtures)
        .expect("fixtures/images")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png" || e == "jpg"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    files.retain(|bytes| decode_rgb(bytes, 100_000_000, 1 << 30).is_ok());
    // The rasters fetch hashes: decoded, then (as the DCT-scaled decode of a large photo) about 512 px.
    let rasters: Vec<_> = files.iter().map(|b| decode_rgb(b, 100_000_000, 1 << 30).unwrap()).collect();
    for (label, count) in [("raster", None), ("bytes", Some(()))] {
        let (start, mut n, mut sink) = (Instant::now(), 0u64, 0u64);
        while start.elapsed().as_secs_f64() < seconds {
            for i in 0..files.len() {
                sink ^= match count {
                    None => phash(&rasters[i]),
                    Some(()) => phash_of(&files[i], 100_000_000, 1 << 30).unwrap(),
                };
                n += 1;
            }
        }
        println!("{label}\t{n}\t{}\t{sink:x}", start.elapsed().as_secs_f64());
    }
}

fn corpus(rows: usize, dir: &Path) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut hashes: Vec<u64> = Vec::with_capacity(SHARD_ROWS);
    let mut manifest = Manifest::new(RecordKind::Corpus, serde_json::json!({"stage": "bench_dedup"}), None);
    let (mut planted, mut written) = (0u64, 0usize);
    let mut shard = 0;
    while written < rows {
        let n = SHARD_ROWS.min(rows - written);
        let mut batch = Vec::with_capacity(n);
        for i in 0..n {
            let row = written + i;
            let hash = if row % 100 == 99 && !hashes.is_empty() {
                planted += 1;
                let mut h = hashes[(next() as usize) % hashes.len()];
                for _ in 0..1 + next() % 8 {
                    h ^= 1 << (1 + next() % 63);
                }
                if row % 200 == 199 {
                    mirrored(h)
                } else {
                    h
                }
            } else {
                next() & !1
            };
            hashes.push(hash);
            let url = format!("http://example.com/{row}.jpg");
            let caption = format!("image {row}");
            batch.push(CorpusImage {
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
                query_ids: vec![],
                width: 256,
                height: 256,
                original_width: 256 + (row % 7) as u32,
                original_height: 256,
                image: vec![0xff, 0xd8],
                image_format: "jpeg".into(),
                image_xxh3: row as u64,
                fetched_at_us: 0,
                image_phash: Some(hash),
            });
        }
        if hashes.len() > 4 * SHARD_ROWS {
            hashes.drain(..SHARD_ROWS); // plant within the last rows only: bounded memory
        }
        let mut writer =
            ShardWriter::for_records::<CorpusImage>(wit_contract::shard_path(dir, shard), &WriterOptions::default())
                .expect("shard");
        writer.write_records(&batch).expect("write");
        manifest.add_shard(writer.finish().expect("finish"));
        written += n;
        shard += 1;
    }
    manifest.complete = true;
    manifest.save(dir).expect("manifest");
    println!("planted\t{planted}");
}
