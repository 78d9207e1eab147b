//! Image deduplication across the corpus, bounded in memory and partitioned across ranks; and the
//! merge, which lists the ranks' shards where they lie instead of copying them.
//!
//! While fetching, a rank keeps the hashes of the images it kept in a set of bounded size (a
//! duplicate it sees is a `duplicate` failure at once). The exact pass comes after: every corpus
//! row becomes one `(image_xxh3, rank·row)` entry; wit-ranks' shuffle (N ranks) or external sort
//! (one process) finds, for each image, the first row in (rank, row) order, and every other row
//! moves from its corpus shard to the failures as `duplicate` — the same outcome as one process
//! that saw the ranks in order. Rewritten shards get new names (`shard-NNNNN.d1.parquet`) and the
//! manifests swap listings before old files go, so a kill at any point leaves a whole listing.
//!
//! ```text
//! world size 1:  fetch → dedup in place (external sort within --memory-budget)
//! world size N:  fetch ×N (+ send image hashes) → dedup ×N buckets → apply ×N → merge (metadata)
//! OUT/_manifest.json                   lists data/rank-R-of-N-shard-…  (the corpus)
//! OUT/_failures/_manifest.json         lists _failures/data/rank-R-of-N-shard-…
//! ```

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::UInt64Type;
use arrow::record_batch::RecordBatch;
use wit_contract::records::Record;
use wit_contract::schema::col;
use wit_contract::{
    extra, AuditedFailure, AuditedImage, ExtraColumn, Failure, Manifest, ReadOptions, RecordKind, ShardInfo,
    ShardReader, ShardWriter, WriterOptions,
};
use wit_ranks::shuffle::{self, pack, unpack};
use wit_ranks::{Entry, RankOf, StepMarker};

use crate::error::{FetchStageError, Result};
use crate::output::{Counts, FAILURES_DIR};
use crate::shard_stats::{self, ShardStats};
use crate::FetchStats;
use wit_contract::AtPath;

pub const STEP_SEND: &str = "fetch";
pub const STEP_DEDUP: &str = "fetch-dedup";
pub const STEP_APPLY: &str = "fetch-apply";
/// The failure shard a dedup pass writes the rows it moved into.
pub const DUPLICATES_SHARD: &str = "shard-duplicates.parquet";
/// Rows read per batch while rewriting.
const BATCH: usize = 256;

/// Where rank `rank` of `world_size` writes its corpus shards inside `out`.
pub fn rank_dir(out: &Path, rank: usize, world_size: usize) -> PathBuf {
    RankOf::new(rank, world_size).dir(out)
}

/// Where rank `rank` of `world_size` writes its failure shards: `OUT/_failures/_ranks/rank-R-of-N/` (shards in `OUT/_failures/data/`),
/// so the merged failures manifest lists them under its own folder.
pub fn rank_failures_dir(out: &Path, rank: usize, world_size: usize) -> PathBuf {
    RankOf::new(rank, world_size).dir(&out.join(FAILURES_DIR))
}

pub(crate) fn ranks_error(e: wit_ranks::RanksError) -> FetchStageError {
    match e {
        wit_ranks::RanksError::Path(e) => FetchStageError::Path(e),
        wit_ranks::RanksError::Contract(e) => FetchStageError::Contract(e),
    }
}

fn bad(path: &Path, problem: impl Into<String>) -> FetchStageError {
    FetchStageError::Output { path: path.to_path_buf(), problem: problem.into() }
}

/// The stats of a manifest as [`FetchStats`]; stats that do not parse are an error naming it.
pub(crate) fn stats_of(manifest: &Manifest, dir: &Path) -> Result<FetchStats> {
    Ok(manifest.stats_as(dir)?)
}

/// Whether the corpus manifest's stats say its duplicates across the whole corpus are gone.
fn is_deduplicated(manifest: &Manifest) -> bool {
    manifest.stats.get("deduplicated").and_then(|v| v.as_bool()).unwrap_or(false)
}

/// One `(image_xxh3, major·row)` entry per corpus row of `dir`, rows numbered across shards in
/// manifest order; streamed shard by shard (one shard's hashes in memory at a time).
fn image_entries<'a>(dir: &'a Path, manifest: &'a Manifest, major: u32) -> impl Iterator<Item = Result<Entry>> + 'a {
    let mut first_row = 0u64;
    manifest.shards.iter().flat_map(move |shard| {
        let path = dir.join(&shard.file);
        let start = first_row;
        first_row += shard.rows;
        let entries: Box<dyn Iterator<Item = Result<Entry>>> = match shard_hashes(&path) {
            Ok(hashes) => Box::new(
                hashes
                    .into_iter()
                    .enumerate()
                    .map(move |(row, hash)| Ok(Entry { hash, at: pack(major, (start + row as u64) as u32) })),
            ),
            Err(e) => Box::new(std::iter::once(Err(e))),
        };
        entries
    })
}

/// The `image_xxh3` column of one corpus shard.
fn shard_hashes(path: &Path) -> Result<Vec<u64>> {
    let options = ReadOptions { batch_size: 65536, columns: Some(vec![col::IMAGE_XXH3.to_owned()]) };
    let mut hashes = Vec::new();
    for batch in ShardReader::open(path, &options)? {
        let batch = batch?;
        let column =
            batch.column(0).as_primitive_opt::<UInt64Type>().ok_or_else(|| bad(path, "`image_xxh3` is not u64"))?;
        hashes.extend_from_slice(column.values());
    }
    Ok(hashes)
}

/// The end of a rank's fetch: its image hashes sent to their buckets, then its marker.
pub(crate) fn send_hashes(out: &Path, me: RankOf, config: &serde_json::Value) -> Result<()> {
    let dir = me.dir(out);
    let manifest = Manifest::load(&dir)?;
    if !manifest.complete {
        return Err(bad(&dir, "the rank's corpus is not complete"));
    }
    let mut failed = None;
    let entries = image_entries(&dir, &manifest, me.rank as u32).map_while(|e| e.map_err(|e| failed = Some(e)).ok());
    let sent = shuffle::send_to_buckets(out, me, entries).map_err(ranks_error)?;
    if let Some(e) = failed {
        return Err(e);
    }
    let stats = serde_json::to_value(&sent).unwrap_or_default();
    StepMarker::new(STEP_SEND, me.rank, me.world_size, config.clone(), stats)
        .save(&me.marker(out, STEP_SEND))
        .map_err(ranks_error)
}

/// Bucket rank `bucket`: the later copies of each image of its bucket, sent to their ranks.
pub(crate) fn dedup_bucket(out: &Path, bucket: RankOf, config: &serde_json::Value, budget: u64) -> Result<FetchStats> {
    let marker = bucket.marker(out, STEP_DEDUP);
    if StepMarker::done_with(&marker, config).map_err(ranks_error)?.is_some() {
        return Ok(FetchStats { skipped: true, ..Default::default() });
    }
    let spill = out.join("_spill").join(format!("dedup-{}", bucket.suffix()));
    let found =
        shuffle::find_duplicates(out, bucket, &spill, budget, |at| unpack(at).0 as usize).map_err(ranks_error)?;
    let _ = fs::remove_dir_all(&spill);
    tracing::info!(
        bucket = bucket.rank,
        images = found.entries,
        duplicates = found.duplicates,
        spilled_runs = found.spilled_runs,
        "deduplicated a bucket of images"
    );
    let stats = serde_json::to_value(&found).unwrap_or_default();
    StepMarker::new(STEP_DEDUP, bucket.rank, bucket.world_size, config.clone(), stats)
        .save(&marker)
        .map_err(ranks_error)?;
    Ok(FetchStats::default())
}

/// Rank `me`: moves the rows the buckets found to be later copies from its corpus to its failures.
pub(crate) fn apply(out: &Path, me: RankOf, config: &serde_json::Value, budget: u64) -> Result<FetchStats> {
    let marker = me.marker(out, STEP_APPLY);
    let (dir, failures_dir) = (me.dir(out), rank_failures_dir(out, me.rank, me.world_size));
    if StepMarker::done_with(&marker, config).map_err(ranks_error)?.is_some() {
        let mut stats = stats_of(&Manifest::load(&dir)?, &dir)?;
        stats.skipped = true;
        return Ok(stats);
    }
    let spill = out.join("_spill").join(format!("apply-{}", me.suffix()));
    let manifest = Manifest::load(&dir)?;
    let stats = if is_deduplicated(&manifest) {
        stats_of(&manifest, &dir)?
    } else {
        let (drops, _) = shuffle::read_drops(out, me, &spill, budget).map_err(ranks_error)?;
        let drops = drops.map(|e| e.map(|e| unpack(e.hash).1).map_err(ranks_error));
        move_duplicates(&dir, &failures_dir, drops)?
    };
    let _ = fs::remove_dir_all(&spill);
    sweep(&dir, &Manifest::load(&dir)?)?;
    let value = serde_json::json!({ "corpus_rows": stats.corpus_rows, "failure_rows": stats.failure_rows });
    StepMarker::new(STEP_APPLY, me.rank, me.world_size, config.clone(), value).save(&marker).map_err(ranks_error)?;
    Ok(stats)
}

/// World size 1: the exact pass in one process, within the budget.
pub(crate) fn dedup_in_place(out: &Path, budget: u64) -> Result<FetchStats> {
    let manifest = Manifest::load(out)?;
    if is_deduplicated(&manifest) {
        return stats_of(&manifest, out);
    }
    let spill = out.join("_spill");
    let mut failed = None;
    let entries = image_entries(out, &manifest, 0).map_while(|e| e.map_err(|e| failed = Some(e)).ok());
    let dropped = shuffle::duplicates_in(entries, &spill, budget).map_err(ranks_error)?;
    if let Some(e) = failed {
        return Err(e);
    }
    let drops = dropped.map(|e| e.map(|e| unpack(e.hash).1).map_err(ranks_error));
    let stats = move_duplicates(out, &out.join(FAILURES_DIR), drops)?;
    let _ = fs::remove_dir_all(&spill);
    sweep(out, &Manifest::load(out)?)?;
    Ok(stats)
}

fn sweep(dir: &Path, manifest: &Manifest) -> Result<()> {
    wit_ranks::sweep::remove_unlisted(dir, manifest).map_err(ranks_error)?;
    Ok(())
}

/// Moves the corpus rows numbered `drops` (ascending row numbers across the shards of `dir`, in
/// manifest order) into a `duplicate` failure shard; swaps both manifests' listings.
fn move_duplicates(dir: &Path, failures_dir: &Path, drops: impl Iterator<Item = Result<u32>>) -> Result<FetchStats> {
    let mut corpus = Manifest::load(dir)?;
    let mut failures = Manifest::load(failures_dir)?;
    sweep(dir, &corpus)?;
    let mut drops = drops.peekable();
    let mut first_row = 0u64;
    let mut listing: Vec<ShardInfo> = Vec::with_capacity(corpus.shards.len());
    let mut old_files: Vec<PathBuf> = Vec::new();
    let failures_home = wit_contract::data_home(failures_dir);
    let duplicates_path = failures_home.dir.join(format!("{}{DUPLICATES_SHARD}", failures_home.prefix));
    let duplicates_listed = wit_contract::layout::listed_name(&duplicates_path);
    // Failure rows are small: 8 MiB row groups keep the open group's memory low.
    let small_groups = WriterOptions { row_group_bytes: 8 << 20, ..WriterOptions::default() };
    let failure_schema = wit_contract::extra::schema_with(RecordKind::Failures, &failures.extra_columns);
    let mut duplicates = ShardWriter::create(&duplicates_path, failure_schema, &small_groups)?;
    let mut moved = 0u64;
    let started = (wit_contract::now_rfc3339(), std::time::Instant::now());
    // Stats of the rewritten shards, written once the listing is known to be whole.
    let mut rewritten: Vec<(String, ShardStats)> = Vec::new();
    for shard in corpus.shards.clone() {
        let end = first_row + shard.rows;
        let mut rows: HashSet<u64> = HashSet::new();
        while let Some(next) = drops.peek() {
            let row = match next {
                Ok(row) => *row as u64,
                Err(_) => return Err(drops.next().and_then(Result::err).unwrap_or_else(|| bad(dir, "drop list"))),
            };
            if row >= end {
                break;
            }
            rows.insert(row - first_row);
            drops.next();
        }
        if rows.is_empty() {
            listing.push(shard);
            first_row = end;
            continue;
        }
        let source = dir.join(&shard.file);
        let name = wit_ranks::sweep::rewritten_shard_name(&shard.file);
        let reader = ShardReader::open(&source, &ReadOptions { batch_size: BATCH, columns: None })?;
        let mut writer = ShardWriter::create(dir.join(&name), reader.schema(), &WriterOptions::default())?;
        let (mut at, mut gone_rows, mut image_bytes) = (0u64, 0u64, 0u64);
        for batch in reader {
            let batch = batch?;
            let gone: BooleanArray = (0..batch.num_rows()).map(|r| Some(rows.contains(&(at + r as u64)))).collect();
            at += batch.num_rows() as u64;
            let kept =
                arrow::compute::not(&gone).and_then(|keep| filter_record_batch(&batch, &keep)).map_err(arrow_error)?;
            if let Some(images) = kept.column_by_name(col::IMAGE).and_then(|c| c.as_binary_opt::<i32>()) {
                image_bytes += images.values().len() as u64;
            }
            writer.write_batch(&kept)?;
            let gone = filter_record_batch(&batch, &gone).map_err(arrow_error)?;
            if gone.num_rows() == 0 {
                continue;
            }
            gone_rows += gone.num_rows() as u64;
            let failures_batch = duplicate_failures(&gone, &failures.extra_columns)?;
            duplicates.write_batch(&failures_batch)?;
        }
        moved += gone_rows;
        if writer.rows() > 0 {
            let info = writer.finish()?;
            let mut stats = ShardStats::load(dir, &shard.file).unwrap_or_default();
            let success = stats.by_status.entry(crate::output::SUCCESS.to_string()).or_default();
            *success = info.rows;
            let counts = Counts { corpus_rows: info.rows, by_status: stats.by_status.clone(), ..Counts::default() };
            let seconds = stats.seconds;
            let started_at = if stats.started_at.is_empty() { wit_contract::now_rfc3339() } else { stats.started_at };
            rewritten.push((shard.file.clone(), ShardStats::new(&info, &counts, image_bytes, started_at, seconds)));
            listing.push(info);
        } else {
            drop(writer);
            rewritten.push((shard.file.clone(), ShardStats::default()));
        }
        old_files.push(source);
        first_row = end;
    }
    if let Some(extra) = drops.next() {
        return Err(bad(dir, format!("a drop for row {}, beyond the corpus's {first_row} rows", extra?)));
    }
    let mut counts: Counts = corpus.stats_as(dir)?;
    counts.corpus_rows -= moved.min(counts.corpus_rows);
    counts.failure_rows += moved;
    let success = counts.by_status.entry(crate::output::SUCCESS.to_string()).or_default();
    *success -= moved.min(*success);
    *counts.by_status.entry("duplicate".into()).or_default() += moved;
    *counts.by_error_kind.entry("duplicate_image".into()).or_default() += moved;
    if counts.by_status.get("duplicate") == Some(&0) {
        counts.by_status.remove("duplicate");
    }
    if counts.by_error_kind.get("duplicate_image") == Some(&0) {
        counts.by_error_kind.remove("duplicate_image");
    }
    let mut stats = corpus.stats.clone();
    if let (Some(map), serde_json::Value::Object(new)) =
        (stats.as_object_mut(), serde_json::to_value(&counts).unwrap_or_default())
    {
        map.extend(new);
        map.insert("deduplicated".into(), true.into());
    }
    // Failures first (the corpus manifest is the one that says the pass is done).
    failures.shards.retain(|s| s.file != duplicates_listed);
    if moved > 0 {
        let info = duplicates.finish()?;
        let counts = Counts {
            failure_rows: moved,
            by_status: [("duplicate".to_string(), moved)].into(),
            by_error_kind: [("duplicate_image".to_string(), moved)].into(),
            ..Counts::default()
        };
        ShardStats::new(&info, &counts, 0, started.0, started.1.elapsed().as_secs_f64()).save(failures_dir)?;
        failures.add_shard(info);
    } else {
        drop(duplicates);
    }
    for (old, stats) in &rewritten {
        if !stats.file.is_empty() {
            stats.save(dir)?;
        }
        shard_stats::remove(dir, old)?;
    }
    failures.stats = stats.clone();
    failures.save(failures_dir)?;
    corpus.shards.clear();
    listing.into_iter().for_each(|s| corpus.add_shard(s));
    corpus.stats = stats;
    corpus.save(dir)?;
    for path in old_files {
        fs::remove_file(&path).at_path(&path)?;
    }
    tracing::info!(dir = %dir.display(), moved, "moved duplicate images to the failures");
    stats_of(&corpus, dir)
}

/// The `duplicate` failure rows of corpus rows `gone`, with the extra columns the failures have
/// (taken from the corpus rows' own, which start with them).
fn duplicate_failures(gone: &RecordBatch, columns: &[ExtraColumn]) -> Result<RecordBatch> {
    // The opt-out audit of the fetch that got the image stays with the row.
    let rows: Vec<AuditedFailure> = AuditedImage::from_batch(gone)?
        .into_iter()
        .map(|AuditedImage { image: row, audit, .. }| AuditedFailure {
            failure: Failure {
                error_message: format!(
                    "duplicate_image: the same image bytes (xxh3 {:016x}) as another pair's (found across the corpus)",
                    row.image_xxh3
                ),
                candidate: row.candidate,
                query_ids: row.query_ids,
                status: "duplicate".into(),
                http_status: None,
                fetched_at_us: row.fetched_at_us,
            },
            audit,
        })
        .collect();
    let batch = AuditedFailure::to_batch(&rows)?;
    if columns.is_empty() {
        return Ok(batch);
    }
    let mut arrays = batch.columns().to_vec();
    for column in columns {
        let found = gone.column_by_name(&column.name).ok_or_else(|| {
            FetchStageError::Contract(wit_contract::ContractError::Column {
                column: column.name.clone(),
                problem: "missing from a corpus shard whose manifest lists it".into(),
            })
        })?;
        arrays.push(found.clone());
    }
    RecordBatch::try_new(extra::schema_with(RecordKind::Failures, columns), arrays).map_err(arrow_error)
}

fn arrow_error(e: arrow::error::ArrowError) -> FetchStageError {
    FetchStageError::Contract(wit_contract::ContractError::Arrow(e))
}

/// The merge, on metadata only: `OUT/_manifest.json` and `OUT/_failures/_manifest.json` list every
/// rank's shards where they lie; stats are summed from the ranks' manifests.
pub(crate) fn merge(
    out: &Path,
    world_size: usize,
    merged: &serde_json::Value,
    rank_config: impl Fn(usize) -> serde_json::Value,
) -> Result<FetchStats> {
    if let Some(existing) = Manifest::load_if_present(out)? {
        if existing.complete && existing.kind == RecordKind::Corpus && existing.config == *merged {
            let mut stats = stats_of(&existing, out)?;
            stats.skipped = true;
            return Ok(stats);
        }
    }
    let failures_out = out.join(FAILURES_DIR);
    let mut corpus = Manifest::new(RecordKind::Corpus, merged.clone(), None);
    let mut failures = Manifest::new(RecordKind::Failures, merged.clone(), None);
    // Every rank read the same list: the same extra columns (checked below).
    let first = RankOf::new(0, world_size);
    corpus.extra_columns = Manifest::load(first.dir(out))?.extra_columns;
    failures.extra_columns = Manifest::load(rank_failures_dir(out, 0, world_size))?.extra_columns;
    let mut counts = Counts::default();
    let mut totals = FetchStats::default();
    for rank in 0..world_size {
        let me = RankOf::new(rank, world_size);
        let (dir, fdir) = (me.dir(out), rank_failures_dir(out, rank, world_size));
        let rank_corpus = Manifest::load(&dir)?;
        if rank_corpus.kind != RecordKind::Corpus || !rank_corpus.complete {
            return Err(bad(&dir, "not a complete corpus folder (has this rank finished?)"));
        }
        if rank_corpus.config != rank_config(rank) {
            return Err(bad(&dir, "written with another input or other options than this merge's"));
        }
        if !is_deduplicated(&rank_corpus) {
            return Err(bad(&dir, "not deduplicated yet (run --phase dedup and --phase apply first)"));
        }
        let rank_failures = Manifest::load(&fdir)?;
        if rank_corpus.extra_columns != corpus.extra_columns || rank_failures.extra_columns != failures.extra_columns {
            return Err(bad(&dir, "has other extra columns than rank 0 (was the input list changed between ranks?)"));
        }
        let rank_counts: Counts = rank_corpus.stats_as(&dir)?;
        counts.add(&rank_counts);
        let stats = stats_of(&rank_corpus, &dir)?;
        totals.input_pairs += stats.input_pairs;
        totals.duplicate_input_keys += stats.duplicate_input_keys;
        totals.bad_input_rows += stats.bad_input_rows;
        for shard in &rank_corpus.shards {
            corpus.add_shard(ShardInfo { file: me.listed(&shard.file), ..shard.clone() });
        }
        for shard in &rank_failures.shards {
            failures.add_shard(ShardInfo { file: me.listed(&shard.file), ..shard.clone() });
        }
    }
    let mut stats = serde_json::to_value(&counts).unwrap_or_default();
    if let Some(map) = stats.as_object_mut() {
        map.insert("merged_ranks".into(), world_size.into());
        map.insert("deduplicated".into(), true.into());
        map.insert("input_pairs".into(), totals.input_pairs.into());
        map.insert("duplicate_input_keys".into(), totals.duplicate_input_keys.into());
        map.insert("bad_input_rows".into(), totals.bad_input_rows.into());
    }
    fs::create_dir_all(&failures_out).at_path(&failures_out)?;
    failures.stats = stats.clone();
    failures.complete = true;
    failures.save(&failures_out)?;
    corpus.stats = stats;
    corpus.complete = true;
    corpus.save(out)?;
    let mut stats = stats_of(&corpus, out)?;
    stats.corpus_shards = corpus.shards.len() as u64;
    stats.failure_shards = failures.shards.len() as u64;
    tracing::info!(out = %out.display(), ranks = world_size, rows = stats.corpus_rows, "merged the ranks (manifests only)");
    Ok(stats)
}
