//! Loader throughput: images per second from corpus shards to 224 px batches (read, JPEG decode,
//! random resized crop, resize to 224, tokenize, batch), with and without the normalisation that
//! `DeviceFeeder` runs on the training device. Two rates: wall-clock images/s, and images per
//! CPU-second of the whole process (getrusage: every thread, torch's included), which is the
//! per-core figure and moves far less than wall-clock time when the machine is shared.
//!
//! On a GPU the normalisation runs there, so the loader's CPU cost is the `u8 batches` row; the
//! `normalised on CPU` row is what a CPU-only training run pays.
//!
//! The corpus is built from the real photos in `fixtures/images` (scikit-image's samples),
//! resized so the shorter side is `SIDE` px and re-encoded as JPEG quality 90, as a fetch stage
//! with img2dataset-like settings stores them, and repeated to `ROWS` rows over 4 shards.
//!
//!   cargo run --release -p wit-trainer --example bench_input -- [ROWS] [SIDE…]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use image::imageops::FilterType;
use tch::Device;
use wit_contract::{shard_file_name, Candidate, CorpusImage, Manifest, RecordKind, ShardWriter, WriterOptions};
use wit_trainer::data::{DataPosition, DeviceFeeder, Loader, LoaderOptions, Split};
use wit_trainer::tokenizer::{default_bpe_path, Tokenizer};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rows: usize = args.first().map(|a| a.parse()).transpose()?.unwrap_or(2000);
    let sides: Vec<u32> =
        if args.len() > 1 { args[1..].iter().map(|a| a.parse()).collect::<Result<_, _>>()? } else { vec![256, 512] };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/images");
    let photos = load_photos(&fixtures)?;
    anyhow::ensure!(!photos.is_empty(), "no photos in {} (run `make fixtures`)", fixtures.display());
    let tokenizer = Arc::new(Tokenizer::from_file(default_bpe_path())?);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("input pipeline: {} photos from fixtures/images, {rows} rows, 224 px crops, {cores} cores", photos.len());
    println!(
        "{:<34} {:>8} {:<20} {:>8} {:>10} {:>10} {:>16}",
        "input", "threads", "output", "seconds", "images/s", "CPU s", "images/CPU-s"
    );
    for side in sides {
        let dir = tempfile::tempdir()?;
        let bytes = write_corpus(dir.path(), &photos, rows, side)?;
        for workers in [1, cores.max(2)] {
            for normalise in [false, true] {
                let options = LoaderOptions {
                    data: dir.path().to_owned(),
                    split: Split::Train,
                    holdout_shards: 0,
                    batch_size: 64,
                    image_size: 224,
                    context_length: 77,
                    workers,
                    prefetch: 4,
                    shuffle_window: 1024,
                    shuffle: true,
                    seed: 0,
                    rank: 0,
                    world_size: 1,
                    epochs: Some(1),
                    start: DataPosition::default(),
                    keep_partial_batch: true,
                };
                let feeder = DeviceFeeder::new(Device::Cpu);
                let (start, cpu_start) = (Instant::now(), process_cpu_seconds());
                let mut loader = Loader::start(options, tokenizer.clone())?;
                let mut images = 0usize;
                while let Some(batch) = loader.next_batch()? {
                    if normalise {
                        let (pixels, _tokens) = feeder.to_device(&batch, 224, 77);
                        images += pixels.size()[0] as usize;
                    } else {
                        images += batch.len;
                    }
                }
                drop(loader);
                let (seconds, cpu) = (start.elapsed().as_secs_f64(), process_cpu_seconds() - cpu_start);
                let label = format!("JPEG q90, short side {side} ({} KB avg)", bytes / rows / 1024);
                let output = if normalise { "normalised on CPU" } else { "u8 batches" };
                println!(
                    "{label:<34} {workers:>8} {output:<20} {seconds:>8.2} {:>10.0} {cpu:>10.2} {:>16.0}",
                    images as f64 / seconds,
                    images as f64 / cpu
                );
            }
        }
    }
    Ok(())
}

/// User + system CPU seconds of this process so far, all threads.
fn process_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn load_photos(dir: &Path) -> anyhow::Result<Vec<image::RgbImage>> {
    let mut photos = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let is_photo = path.extension().is_some_and(|e| e == "png" || e == "jpg");
        if let (true, Ok(img)) = (is_photo, image::open(&path)) {
            if img.width() >= 256 && img.height() >= 256 {
                photos.push(img.into_rgb8());
            }
        }
    }
    Ok(photos)
}

/// Writes `rows` rows over 4 shards; returns the total image bytes.
fn write_corpus(dir: &Path, photos: &[image::RgbImage], rows: usize, side: u32) -> anyhow::Result<usize> {
    let encoded: Vec<Vec<u8>> = photos
        .iter()
        .map(|photo| {
            let scale = side as f64 / photo.width().min(photo.height()) as f64;
            let (w, h) =
                ((photo.width() as f64 * scale).round() as u32, (photo.height() as f64 * scale).round() as u32);
            let resized = image::imageops::resize(photo, w, h, FilterType::Triangle);
            let mut bytes = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90).encode_image(&resized)?;
            Ok(bytes)
        })
        .collect::<anyhow::Result<_>>()?;
    let mut manifest = Manifest::new(RecordKind::Corpus, serde_json::json!({"generator": "bench_input"}), None);
    let mut total = 0;
    let per_shard = rows.div_ceil(4);
    for (shard, chunk) in (0..rows).collect::<Vec<_>>().chunks(per_shard).enumerate() {
        let records: Vec<CorpusImage> = chunk
            .iter()
            .map(|&i| {
                let image = encoded[i % encoded.len()].clone();
                total += image.len();
                let url = format!("http://bench.test/{i}.jpg");
                let caption = format!("photo number {i} of the scikit-image sample set");
                CorpusImage {
                    candidate: Candidate {
                        key: wit_contract::pair_key(&url, &caption),
                        url,
                        caption,
                        page_url: None,
                        source: "list".into(),
                        lang: None,
                        lang_conf: None,
                        provenance: Default::default(),
                    },
                    query_ids: vec![],
                    width: side,
                    height: side,
                    original_width: side,
                    original_height: side,
                    image_xxh3: 0,
                    image,
                    image_format: "jpeg".into(),
                    fetched_at_us: 0,
                    image_phash: None,
                }
            })
            .collect();
        let mut writer =
            ShardWriter::for_records::<CorpusImage>(dir.join(shard_file_name(shard)), &WriterOptions::default())?;
        writer.write_records(&records)?;
        manifest.add_shard(writer.finish()?);
    }
    manifest.complete = true;
    manifest.save(dir)?;
    Ok(total)
}
