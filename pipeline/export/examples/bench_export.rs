//! Export benchmark input, driven by `scripts/bench.py` (stage `export`).
//!
//! `bench_export corpus DIR ROWS IMAGES_DIR` writes a complete corpus folder of ROWS rows whose
//! images are what a wit corpus stores: the pictures of IMAGES_DIR (the scikit-image samples in
//! fixtures/images) re-encoded as JPEG q90 at short side 256, cycled, 5,000 rows per shard, with
//! distinct keys, URLs and captions. The timed part is `wit export webdataset` itself (and the
//! Python peer), run by bench.py on the folder.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use wit_contract::{Candidate, CorpusImage};

const ROWS_PER_SHARD: usize = 5_000;

/// One picture as a corpus stores it.
struct Stored {
    jpeg: Vec<u8>,
    width: u32,
    height: u32,
    original_width: u32,
    original_height: u32,
}

/// Every decodable picture in `dir`, stored at short side 256.
fn stored_images(dir: &Path) -> Result<Vec<Stored>, Box<dyn std::error::Error>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let Ok(picture) = image::open(&path) else { continue };
        let (w, h) = (picture.width(), picture.height());
        let scale = 256.0 / w.min(h) as f64;
        let (tw, th) = (((w as f64 * scale).round() as u32).max(1), ((h as f64 * scale).round() as u32).max(1));
        let small = picture.resize_exact(tw, th, FilterType::Triangle).to_rgb8();
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&small)?;
        out.push(Stored { jpeg, width: tw, height: th, original_width: w, original_height: h });
    }
    if out.is_empty() {
        return Err(format!("{}: no decodable image", dir.display()).into());
    }
    Ok(out)
}

fn write_corpus(dir: &Path, rows: usize, images_dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let images = stored_images(images_dir)?;
    let row = |i: usize| {
        let stored = &images[i % images.len()];
        let url = format!("http://bench.test/img/{i}.jpg");
        let caption = format!("benchmark picture {i} of a sample scene");
        CorpusImage {
            candidate: Candidate {
                key: wit_contract::pair_key(&url, &caption),
                url,
                caption,
                page_url: Some(format!("http://bench.test/page/{}.html", i / 7)),
                source: "list".into(),
                lang: Some("eng".into()),
                lang_conf: Some(1.0),
                provenance: Default::default(),
            },
            query_ids: vec![(i % 1000) as u32],
            width: stored.width,
            height: stored.height,
            original_width: stored.original_width,
            original_height: stored.original_height,
            image_xxh3: xxhash_rust::xxh3::xxh3_64(&stored.jpeg),
            image: stored.jpeg.clone(),
            image_format: "jpeg".into(),
            fetched_at_us: 0,
            image_phash: None,
        }
    };
    let shards = (0..rows.div_ceil(ROWS_PER_SHARD))
        .map(|s| (s * ROWS_PER_SHARD..((s + 1) * ROWS_PER_SHARD).min(rows)).map(row).collect::<Vec<_>>());
    let manifest =
        wit_contract::write_stage_folder::<CorpusImage>(dir, serde_json::json!({"stage": "bench_export"}), shards)?;
    let bytes: u64 = manifest.shards.iter().map(|s| s.bytes).sum();
    println!("{}\t{}\t{}\t{}", manifest.total_rows(), manifest.shards.len(), bytes, images.len());
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [_, "corpus", dir, rows, images] => write_corpus(Path::new(dir), rows.parse()?, Path::new(images)),
        _ => Err("usage: bench_export corpus DIR ROWS IMAGES_DIR".into()),
    }
}
