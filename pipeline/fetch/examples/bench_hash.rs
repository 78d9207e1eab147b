//! What `--compute-hash` costs: sha256, md5 and both over the real photos in fixtures/images (the
//! scikit-image samples), on one thread, next to decoding and re-encoding the same images at 256 px.
//!
//! `cargo run --release -p wit-fetch --example bench_hash [ROUNDS]`

use std::time::Instant;

use wit_fetch::{ComputeHash, ImageOptions};

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|r| r.parse().ok()).unwrap_or(20);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images");
    let mut images: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .expect("fixtures/images (make fixtures)")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x != "txt"))
        .map(|p| std::fs::read(p).expect("an image"))
        .collect();
    images.sort();
    let bytes: usize = images.iter().map(Vec::len).sum();
    println!(
        "{} images, {:.1} MB, mean {:.0} KB, {rounds} rounds",
        images.len(),
        bytes as f64 / 1e6,
        bytes as f64 / images.len() as f64 / 1e3
    );
    for choice in [ComputeHash::Sha256, ComputeHash::Md5, ComputeHash::Both] {
        let started = Instant::now();
        let mut sink = 0usize;
        for _ in 0..rounds {
            for image in &images {
                let hashes = choice.hashes(image);
                sink += hashes.sha256.map_or(0, |h| h.len()) + hashes.md5.map_or(0, |h| h.len());
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let per_image_us = seconds * 1e6 / (rounds * images.len()) as f64;
        println!(
            "{choice:?}: {:.0} MB/s, {per_image_us:.0} µs per image ({sink} hex digits)",
            (bytes * rounds) as f64 / 1e6 / seconds
        );
    }
    let options = ImageOptions::default();
    let started = Instant::now();
    let decoded = images.iter().filter(|image| wit_fetch::imaging::process(image, &options).is_ok()).count();
    let per_image_us = started.elapsed().as_secs_f64() * 1e6 / images.len() as f64;
    println!("decode + resize + encode at 256 px: {per_image_us:.0} µs per image ({decoded} decoded)");
}
