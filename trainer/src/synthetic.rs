//! A generated corpus whose captions describe its images — coloured shapes on a dark background,
//! "a red circle" — written as a real corpus folder (wit-contract shards and manifest) plus the
//! matching queries folder (the colours and shapes as dictionary entries). Tests, the loader
//! benchmark and a quick end-to-end check of the trainer use it; it needs no network.

use std::path::Path;

use image::{ImageFormat, Rgb, RgbImage};
use wit_contract::{Candidate, CorpusImage, Manifest, QueryEntry, QuerySource, RecordKind, ShardWriter, WriterOptions};

use crate::rng::Rng;
use wit_contract::AtPath;

#[derive(Debug, thiserror::Error)]
pub enum SyntheticError {
    #[error(transparent)]
    Path(#[from] wit_contract::PathError),
    #[error(transparent)]
    Contract(#[from] wit_contract::ContractError),
}

fn create_dir(dir: &Path) -> Result<(), SyntheticError> {
    Ok(std::fs::create_dir_all(dir).at_path(dir)?)
}

pub const COLOURS: [(&str, [u8; 3]); 4] =
    [("red", [220, 30, 30]), ("green", [30, 200, 40]), ("blue", [40, 60, 230]), ("yellow", [230, 220, 40])];
pub const SHAPES: [&str; 3] = ["square", "circle", "triangle"];

/// What to generate.
#[derive(Debug, Clone)]
pub struct ShapesOptions {
    pub shards: usize,
    pub rows_per_shard: usize,
    /// Side of the generated images in pixels.
    pub image_size: u32,
    pub seed: u64,
    /// Rows whose image bytes are not an image (the loader must skip and count them).
    pub broken_rows: usize,
}

/// The query id of colour `c` is `c`; of shape `s`, `COLOURS.len() + s`.
pub fn shape_query_id(shape: usize) -> u32 {
    (COLOURS.len() + shape) as u32
}

/// Writes `dir/data/shard-NNNNN.parquet` and `dir/_manifest.json` (kind corpus). Images cycle through
/// every (colour, shape) pair, so any run of 12 rows holds each caption once; formats rotate
/// through PNG, JPEG and WebP.
pub fn write_shapes_corpus(dir: &Path, options: &ShapesOptions) -> Result<Manifest, SyntheticError> {
    create_dir(dir)?;
    let mut manifest =
        Manifest::new(RecordKind::Corpus, serde_json::json!({"generator": "shapes"}), Some(options.seed));
    let mut rng = Rng::keyed(options.seed, &[]);
    let combos = COLOURS.len() * SHAPES.len();
    let mut index = 0usize;
    for shard in 0..options.shards {
        let mut rows = Vec::with_capacity(options.rows_per_shard);
        for _ in 0..options.rows_per_shard {
            let (colour, shape) = ((index % combos) / SHAPES.len(), index % SHAPES.len());
            let caption = format!("a {} {}", COLOURS[colour].0, SHAPES[shape]);
            let picture = draw(colour, shape, options.image_size, &mut rng);
            let (image, format) = if index < options.broken_rows {
                (b"these bytes are not an image".to_vec(), "jpeg")
            } else {
                encode(&picture, index)
            };
            let url = format!("http://shapes.test/{index}.{format}");
            rows.push(CorpusImage {
                candidate: Candidate {
                    key: wit_contract::pair_key(&url, &caption),
                    url,
                    caption,
                    page_url: None,
                    source: "list".into(),
                    lang: Some("eng".into()),
                    lang_conf: Some(1.0),
                    provenance: Default::default(),
                },
                query_ids: vec![colour as u32, shape_query_id(shape)],
                width: options.image_size,
                height: options.image_size,
                original_width: options.image_size,
                original_height: options.image_size,
                image_xxh3: xxhash_rust::xxh3::xxh3_64(&image),
                image,
                image_format: format.into(),
                fetched_at_us: 0,
            });
            index += 1;
        }
        let path = wit_contract::shard_path(dir, shard);
        let mut writer = ShardWriter::for_records::<CorpusImage>(&path, &WriterOptions::default())?;
        writer.write_records(&rows)?;
        manifest.add_shard(writer.finish()?);
    }
    manifest.complete = true;
    manifest.save(dir)?;
    Ok(manifest)
}

/// Writes the colours and shapes as a queries folder (kind queries), ids as [`shape_query_id`].
pub fn write_shapes_queries(dir: &Path) -> Result<Manifest, SyntheticError> {
    create_dir(dir)?;
    let names = COLOURS.iter().map(|c| c.0).chain(SHAPES);
    let entries: Vec<QueryEntry> = names
        .enumerate()
        .map(|(id, name)| QueryEntry {
            id: id as u32,
            query: name.into(),
            source: QuerySource::Unigram,
            count: 100,
            pmi: None,
        })
        .collect();
    let mut manifest = Manifest::new(RecordKind::Queries, serde_json::json!({"generator": "shapes"}), None);
    let mut writer =
        ShardWriter::for_records::<QueryEntry>(wit_contract::shard_path(dir, 0), &WriterOptions::default())?;
    writer.write_records(&entries)?;
    manifest.add_shard(writer.finish()?);
    manifest.complete = true;
    manifest.save(dir)?;
    Ok(manifest)
}

fn draw(colour: usize, shape: usize, size: u32, rng: &mut Rng) -> RgbImage {
    let s = size as f64;
    let radius = s * rng.uniform(0.25, 0.4);
    let cx = rng.uniform(radius, s - radius);
    let cy = rng.uniform(radius, s - radius);
    let background = [rng.below(40) as u8, rng.below(40) as u8, rng.below(40) as u8];
    let fill = COLOURS[colour].1;
    RgbImage::from_fn(size, size, |x, y| {
        let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
        let inside = match SHAPES[shape] {
            "square" => dx.abs() <= radius * 0.85 && dy.abs() <= radius * 0.85,
            "circle" => dx * dx + dy * dy <= radius * radius,
            // Apex up: the half-width grows linearly from the top to the base.
            _ => dy >= -radius && dy <= radius * 0.8 && dx.abs() <= (dy + radius) * 0.6,
        };
        Rgb(if inside { fill } else { background })
    })
}

fn encode(picture: &RgbImage, index: usize) -> (Vec<u8>, &'static str) {
    let (format, name) = match index % 3 {
        0 => (ImageFormat::Png, "png"),
        1 => (ImageFormat::Jpeg, "jpeg"),
        _ => (ImageFormat::WebP, "webp"),
    };
    let mut bytes = Vec::new();
    match picture.write_to(&mut std::io::Cursor::new(&mut bytes), format) {
        Ok(()) => (bytes, name),
        Err(_) => {
            bytes.clear();
            let _ = picture.write_to(&mut std::io::Cursor::new(&mut bytes), ImageFormat::Png);
            (bytes, "png")
        }
    }
}
