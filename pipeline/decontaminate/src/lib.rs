//! wit-decontaminate: `wit decontaminate CORPUS --against EVAL… -o OUT`, the corpus without the
//! pairs that would leak an eval set into training.
//!
//! A pair is removed when
//! - **image**: its `image_phash` is within `--threshold` bits of an eval image's hash, or of the
//!   hash of the eval image mirrored (wit_imaging::phash; rows without a stored hash are hashed
//!   from their image bytes), or
//! - **caption** (with `--caption-ngram N`): its caption shares N consecutive tokens with an eval
//!   caption (tokens: lower-cased runs of letters and digits), as GPT-3's and DataComp's
//!   contamination checks count n-gram overlap.
//!
//! The kept pairs go to `OUT` (shard `i` of the input → shard `i` of the output, every column
//! kept), each removed pair to `OUT/_decontaminated/` with why: the reason (`image` or
//! `caption`), the eval item (file, `file#row` or `tar:key`), the distance and mirror flag or the
//! shared n-gram. The eval set is held in memory (multi-index over its hashes, module
//! wit_dedup::bands; a set of n-gram hashes); the corpus streams a batch at a time, split by
//! rank (`--rank/--world-size`: rank R takes shards `i mod N = R`; `--phase merge` lists them).

pub mod eval;
pub mod ngrams;

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanBuilder, StringBuilder, UInt32Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use wit_contract::schema::col;
use wit_contract::{Manifest, RecordKind};
use wit_dedup::rewrite::{filter_shard, home, input_shards, merge, remove_stale_files, SideTable};
use wit_dedup::{BandIndex, DedupError, Result};
use wit_ranks::RankOf;

pub use eval::{EvalItem, EvalSet};
use ngrams::NgramSet;

/// The side table of removed pairs.
pub const DECONTAMINATED_DIR: &str = "_decontaminated";
/// The default `--threshold` (bits of 64): every transformed copy of the non-periodic
/// scikit-image samples is within it (pipeline/imaging/tests/phash_real_images.rs).
pub const DEFAULT_THRESHOLD: u32 = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Filter this rank's shards (world size 1: the whole run).
    Filter,
    /// List every rank's shards in OUT's manifest.
    Merge,
}

#[derive(Debug, Clone)]
pub struct DecontaminateConfig {
    pub corpus: PathBuf,
    pub against: Vec<PathBuf>,
    pub out: PathBuf,
    pub threshold: u32,
    pub mirror: bool,
    /// Remove pairs sharing this many consecutive caption tokens with an eval caption (None: off).
    pub caption_ngram: Option<usize>,
    pub rank: usize,
    pub world_size: usize,
    pub phase: Phase,
}

impl DecontaminateConfig {
    pub fn new(corpus: impl Into<PathBuf>, against: Vec<PathBuf>, out: impl Into<PathBuf>) -> Self {
        DecontaminateConfig {
            corpus: corpus.into(),
            against,
            out: out.into(),
            threshold: DEFAULT_THRESHOLD,
            mirror: true,
            caption_ngram: None,
            rank: 0,
            world_size: 1,
            phase: Phase::Filter,
        }
    }

    fn recorded(&self) -> serde_json::Value {
        serde_json::json!({
            "stage": "decontaminate",
            "input": wit_contract::recorded_path(&self.corpus),
            "against": self.against.iter().map(|p| wit_contract::recorded_path(p)).collect::<Vec<_>>(),
            "threshold": self.threshold,
            "mirror": self.mirror,
            "caption_ngram": self.caption_ngram,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DecontaminateStats {
    pub eval_items: u64,
    pub eval_images: u64,
    /// Eval images that did not decode (named in the log), and their first reasons.
    pub eval_unreadable: u64,
    pub eval_ngrams: u64,
    pub kept: u64,
    pub removed_image: u64,
    pub removed_caption: u64,
    /// Corpus rows without a stored hash, hashed from their bytes (or not at all: unreadable).
    pub hashed_from_bytes: u64,
}

pub fn removed_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("url", DataType::Utf8, false),
        Field::new("caption", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("eval_item", DataType::Utf8, false),
        Field::new("distance", DataType::UInt32, true),
        Field::new("mirrored", DataType::Boolean, true),
        Field::new("ngram", DataType::Utf8, true),
    ]))
}

pub fn decontaminate(config: &DecontaminateConfig) -> Result<DecontaminateStats> {
    if config.world_size == 0 || config.rank >= config.world_size {
        return Err(DedupError::input(
            &config.out,
            format!("rank {} of world size {}", config.rank, config.world_size),
        ));
    }
    wit_dedup::rewrite::distinct_output(&config.corpus, &config.out)?;
    let mut stats = DecontaminateStats::default();
    if config.phase == Phase::Merge {
        merge(&config.out, config.world_size, config.recorded(), serde_json::Value::Null)?;
        remove_stale_files(&config.out, DECONTAMINATED_DIR, config.world_size)?;
        return Ok(stats);
    }
    let eval = EvalSet::read(&config.against)?;
    for (name, reason) in eval.unreadable.iter().take(10) {
        tracing::warn!(item = %name, "eval image skipped: {reason}");
    }
    let with_hash: Vec<(usize, u64)> =
        eval.items.iter().enumerate().filter_map(|(i, item)| item.hash.map(|h| (i, h))).collect();
    let index = BandIndex::new(with_hash.iter().map(|&(_, h)| h).collect(), config.threshold)
        .map_err(|e| DedupError::input(&config.corpus, e))?;
    let ngrams = match config.caption_ngram {
        Some(0) => return Err(DedupError::input(&config.corpus, "--caption-ngram must be at least 1")),
        Some(n) => {
            NgramSet::of(n, eval.items.iter().enumerate().filter_map(|(i, item)| Some((i, item.caption.as_deref()?))))
        }
        None => NgramSet::empty(),
    };
    stats.eval_items = eval.items.len() as u64;
    stats.eval_images = with_hash.len() as u64;
    stats.eval_unreadable = eval.unreadable.len() as u64;
    stats.eval_ngrams = ngrams.len() as u64;

    let me = RankOf::new(config.rank, config.world_size);
    let (_, shards) = input_shards(&config.corpus, me)?;
    let rank_home = home(&config.out, me);
    std::fs::create_dir_all(&rank_home).map_err(|e| DedupError::io(&rank_home, e))?;
    let mut manifest = Manifest::new(RecordKind::Corpus, config.recorded(), None);
    let mut side = SideTable::create(&config.out, DECONTAMINATED_DIR, me, removed_schema())?;
    for (index_no, path) in shards {
        filter_shard(&path, index_no, &rank_home, &mut manifest, |batch, _| {
            let column = |name: &str| {
                batch.column_by_name(name).ok_or_else(|| DedupError::input(&path, format!("no {name} column")))
            };
            let keys = column(col::KEY)?.as_string::<i32>().clone();
            let urls = column(col::URL)?.as_string::<i32>().clone();
            let captions = column(col::CAPTION)?.as_string::<i32>().clone();
            let images = column(col::IMAGE)?.as_binary::<i32>().clone();
            let hashes = batch.column_by_name(col::IMAGE_PHASH).map(|c| c.as_primitive::<UInt64Type>().clone());
            let mut mask = BooleanBuilder::with_capacity(batch.num_rows());
            let mut out = RemovedBuilder::default();
            for i in 0..batch.num_rows() {
                let hash = match hashes.as_ref().filter(|h| h.is_valid(i)) {
                    Some(h) => Some(h.value(i)),
                    None => {
                        stats.hashed_from_bytes += 1;
                        wit_imaging::phash_of(images.value(i), u64::MAX, 1 << 30).ok()
                    }
                };
                let image_match = hash.and_then(|h| index.query(h, config.mirror));
                let caption = captions.value(i);
                let removed = if let Some(m) = image_match {
                    stats.removed_image += 1;
                    let item = &eval.items[with_hash[m.item].0];
                    Some(("image", item, Some(m.distance), Some(m.mirrored), None))
                } else if let Some((item, ngram)) = ngrams.shared(caption) {
                    stats.removed_caption += 1;
                    Some(("caption", &eval.items[item], None, None, Some(ngram)))
                } else {
                    None
                };
                mask.append_value(removed.is_none());
                if let Some((reason, item, distance, mirrored, ngram)) = removed {
                    out.key.append_value(keys.value(i));
                    out.url.append_value(urls.value(i));
                    out.caption.append_value(caption);
                    out.reason.append_value(reason);
                    out.eval_item.append_value(&item.name);
                    out.distance.append_option(distance);
                    out.mirrored.append_option(mirrored);
                    out.ngram.append_option(ngram);
                }
            }
            let table = out.finish().map_err(|e| DedupError::input(&path, e.to_string()))?;
            if table.num_rows() > 0 {
                side.write(&table)?;
            }
            Ok(mask.finish())
        })
        .map(|(kept, _)| stats.kept += kept)?;
    }
    side.finish()?;
    manifest.stats = serde_json::to_value(&stats).unwrap_or_default();
    manifest.complete = true;
    manifest.save(&rank_home)?;
    if config.world_size == 1 {
        remove_stale_files(&config.out, DECONTAMINATED_DIR, 1)?;
    }
    Ok(stats)
}

#[derive(Default)]
struct RemovedBuilder {
    key: StringBuilder,
    url: StringBuilder,
    caption: StringBuilder,
    reason: StringBuilder,
    eval_item: StringBuilder,
    distance: UInt32Builder,
    mirrored: BooleanBuilder,
    ngram: StringBuilder,
}

impl RemovedBuilder {
    fn finish(mut self) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
        let columns: Vec<Arc<dyn Array>> = vec![
            Arc::new(self.key.finish()),
            Arc::new(self.url.finish()),
            Arc::new(self.caption.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.eval_item.finish()),
            Arc::new(self.distance.finish()),
            Arc::new(self.mirrored.finish()),
            Arc::new(self.ngram.finish()),
        ];
        RecordBatch::try_new(removed_schema(), columns)
    }
}
