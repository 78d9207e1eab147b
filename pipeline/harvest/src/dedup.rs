//! Deduplication across inputs, bounded in memory and partitioned across ranks.
//!
//! A pair's first occurrence in input order wins (input index, then row): the output never depends
//! on thread timing or on the world size. Every row becomes one `(key, input·row)` entry; the
//! later duplicates are found by wit-ranks' external sort (one process) or shuffle (N ranks), and
//! each shard that lost rows is rewritten under a new name (`shard-IIIII.dN.parquet`) before the
//! manifest swaps names, so a kill at any point leaves either the old or the new listing whole.
//!
//! ```text
//! world size 1:  harvest → dedup in place (external sort within --memory-budget)
//! world size N:  harvest ×N (+ send keys to buckets) → dedup ×N buckets → apply ×N → merge (metadata)
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use wit_contract::schema::col;
use wit_contract::{Manifest, ReadOptions, RecordKind, ShardInfo, ShardReader, ShardWriter, WriterOptions};
use wit_ranks::shuffle::{self, pack, unpack};
use wit_ranks::{Entry, RankOf, StepMarker};

use crate::error::{HarvestError, Result};
use crate::{HarvestStats, InputStats};
use wit_contract::{AtPath, PathError};

/// Step names (completion markers under `OUT/_steps/`).
pub const STEP_SEND: &str = "harvest";
pub const STEP_DEDUP: &str = "harvest-dedup";
pub const STEP_APPLY: &str = "harvest-apply";

/// The input index a shard name carries: `shard-00012.parquet`, `data/shard-00012.d1.parquet`,
/// `../../data/rank-00001-of-00002-shard-00012.parquet` → 12.
pub(crate) fn input_index(file: &str) -> Option<u32> {
    let digits: String = wit_contract::layout::bare_shard_name(file)
        .strip_prefix("shard-")?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The stats of a manifest; stats that do not parse are an error naming the folder.
pub(crate) fn stats_of(manifest: &Manifest, dir: &Path) -> Result<HarvestStats> {
    Ok(manifest.stats_as(dir)?)
}

pub(crate) fn ranks_error(e: wit_ranks::RanksError) -> HarvestError {
    match e {
        wit_ranks::RanksError::Path(e) => HarvestError::Path(e),
        wit_ranks::RanksError::Contract(e) => HarvestError::Contract(e),
    }
}

/// Totals recomputed from the per-input entries.
pub(crate) fn total(per_input: Vec<InputStats>) -> HarvestStats {
    let mut stats = HarvestStats { inputs: per_input.len() as u64, ..Default::default() };
    for input in &per_input {
        stats.bytes += input.bytes;
        stats.records += input.records;
        stats.pages += input.pages;
        stats.pairs_found += input.pairs_found;
        stats.pairs_out += input.pairs_out;
        stats.shards += input.shard.is_some() as u64;
        stats.inputs_failed += input.error.is_some() as u64;
        for (reason, n) in &input.skipped {
            *stats.skipped.entry(reason.clone()).or_default() += n;
        }
        crate::language_decision::add_counts(&mut stats.lang_dropped, &input.lang_dropped);
        crate::language_decision::add_counts(&mut stats.lang_sources, &input.lang_sources);
    }
    stats.per_input = per_input;
    stats
}

/// One `(key, input·row)` entry per row of the listed shards of `dir`.
fn key_entries<'a>(dir: &'a Path, manifest: &'a Manifest) -> impl Iterator<Item = Result<Entry>> + 'a {
    manifest.shards.iter().flat_map(move |shard| {
        let path = dir.join(&shard.file);
        let entries: Box<dyn Iterator<Item = Result<Entry>>> = match input_index(&shard.file) {
            None => Box::new(std::iter::once(Err(PathError::input(&path, "not a shard-NNNNN name").into()))),
            Some(input) => match shard_keys(&path) {
                Ok(keys) => Box::new(
                    keys.into_iter()
                        .enumerate()
                        .map(move |(row, key)| Ok(Entry { hash: key, at: pack(input, row as u32) })),
                ),
                Err(e) => Box::new(std::iter::once(Err(e))),
            },
        };
        entries
    })
}

/// The keys of a shard, as u64 (one shard's keys: one input's pairs).
fn shard_keys(path: &Path) -> Result<Vec<u64>> {
    let options = ReadOptions { batch_size: 65536, columns: Some(vec![col::KEY.to_owned()]) };
    let mut keys = Vec::new();
    for batch in ShardReader::open(path, &options)? {
        let batch = batch?;
        let column = batch
            .column(0)
            .as_string_opt::<i32>()
            .ok_or_else(|| PathError::input(path, "the key column is not a string column"))?;
        for (row, key) in column.iter().enumerate() {
            let hash = key.and_then(|k| u64::from_str_radix(k, 16).ok()).ok_or_else(|| {
                PathError::input(path, format!("row {}: key {key:?} is not 16 hex digits", keys.len() + row))
            })?;
            keys.push(hash);
        }
    }
    Ok(keys)
}

/// World size 1: the later duplicates among every row of `dir`, found within the budget.
pub(crate) fn dedup_in_place(dir: &Path, manifest: Manifest, budget: u64) -> Result<HarvestStats> {
    let spill = dir.join("_spill");
    let mut failed: Option<HarvestError> = None;
    let entries = key_entries(dir, &manifest).map_while(|e| e.map_err(|e| failed = Some(e)).ok());
    let dropped = shuffle::duplicates_in(entries, &spill, budget).map_err(ranks_error)?;
    if let Some(e) = failed {
        return Err(e);
    }
    let drops = dropped.map(|e| e.map(|e| e.hash).map_err(ranks_error));
    let stats = apply_drops(dir, manifest, drops, true)?;
    let _ = fs::remove_dir_all(&spill);
    Ok(stats)
}

/// The end of a rank's harvest: every row's key sent to its bucket, the rank folder marked complete.
pub(crate) fn send_keys(
    out: &Path,
    me: RankOf,
    dir: &Path,
    mut manifest: Manifest,
    config: &serde_json::Value,
) -> Result<HarvestStats> {
    let mut failed: Option<HarvestError> = None;
    let stream = key_entries(dir, &manifest).map_while(|e| e.map_err(|e| failed = Some(e)).ok());
    let sent = shuffle::send_to_buckets(out, me, stream).map_err(ranks_error)?;
    if let Some(e) = failed {
        return Err(e);
    }
    let stats = stats_of(&manifest, dir)?;
    manifest.complete = true;
    manifest.save(dir)?;
    let marker = serde_json::json!({ "entries": sent.entries, "bytes": sent.bytes });
    StepMarker::new(STEP_SEND, me.rank, me.world_size, config.clone(), marker)
        .save(&me.marker(out, STEP_SEND))
        .map_err(ranks_error)?;
    Ok(stats)
}

/// Bucket rank `bucket`: the later duplicates of its keys, sent to the ranks that hold them.
pub(crate) fn dedup_bucket(
    out: &Path,
    bucket: RankOf,
    config: &serde_json::Value,
    budget: u64,
) -> Result<HarvestStats> {
    let marker = bucket.marker(out, STEP_DEDUP);
    if StepMarker::done_with(&marker, config).map_err(ranks_error)?.is_some() {
        tracing::info!(bucket = bucket.rank, "harvest dedup bucket already done with this config; nothing to do");
        return Ok(HarvestStats { already_complete: true, ..Default::default() });
    }
    let n = bucket.world_size;
    let spill = out.join("_spill").join(format!("dedup-{}", bucket.suffix()));
    let found =
        shuffle::find_duplicates(out, bucket, &spill, budget, |at| unpack(at).0 as usize % n).map_err(ranks_error)?;
    let _ = fs::remove_dir_all(&spill);
    tracing::info!(
        bucket = bucket.rank,
        keys = found.entries,
        duplicates = found.duplicates,
        spilled_runs = found.spilled_runs,
        "deduplicated a bucket"
    );
    let stats = serde_json::to_value(&found).unwrap_or_default();
    StepMarker::new(STEP_DEDUP, bucket.rank, n, config.clone(), stats).save(&marker).map_err(ranks_error)?;
    Ok(HarvestStats::default())
}

/// Rank `me`: drops the rows the buckets found to be later duplicates from its own shards.
pub(crate) fn apply(
    out: &Path,
    me: RankOf,
    config: &serde_json::Value,
    rank_config: &serde_json::Value,
    budget: u64,
) -> Result<HarvestStats> {
    let marker = me.marker(out, STEP_APPLY);
    let dir = me.dir(out);
    if StepMarker::done_with(&marker, config).map_err(ranks_error)?.is_some() {
        let mut stats = stats_of(&Manifest::load(&dir)?, &dir)?;
        stats.already_complete = true;
        return Ok(stats);
    }
    let manifest = complete_rank(&dir, rank_config)?;
    let spill = out.join("_spill").join(format!("apply-{}", me.suffix()));
    let stats = if stats_of(&manifest, &dir)?.deduplicated {
        // Killed after the manifest swap: only the sweep and the marker are left to do.
        sweep(&dir, &manifest)?;
        stats_of(&manifest, &dir)?
    } else {
        let (drops, _) = shuffle::read_drops(out, me, &spill, budget).map_err(ranks_error)?;
        apply_drops(&dir, manifest, drops.map(|e| e.map(|e| e.hash).map_err(ranks_error)), false)?
    };
    let _ = fs::remove_dir_all(&spill);
    let value = serde_json::json!({ "pairs_out": stats.pairs_out, "duplicates": stats.skipped.get("duplicate") });
    StepMarker::new(STEP_APPLY, me.rank, me.world_size, config.clone(), value).save(&marker).map_err(ranks_error)?;
    Ok(stats)
}

/// A rank folder that its harvest finished with `rank_config`.
fn complete_rank(dir: &Path, rank_config: &serde_json::Value) -> Result<Manifest> {
    let manifest = Manifest::load(dir)?;
    if manifest.kind != RecordKind::Candidates || !manifest.complete {
        return Err(PathError::input(dir, "not a complete candidates folder (has this rank finished?)").into());
    }
    if manifest.config != *rank_config {
        return Err(PathError::input(dir, "written with another configuration or input list").into());
    }
    Ok(manifest)
}

/// Removes the shards and temporary files of `dir` that `manifest` does not list.
pub(crate) fn sweep(dir: &Path, manifest: &Manifest) -> Result<()> {
    wit_ranks::sweep::remove_unlisted(dir, manifest).map_err(ranks_error)?;
    Ok(())
}

/// Copies `from` to `to` without the rows whose `keep` flag is false; None when nothing is kept.
fn write_filtered(from: &Path, to: &Path, keep: &[bool]) -> Result<Option<ShardInfo>> {
    if !keep.iter().any(|&k| k) {
        return Ok(None);
    }
    let mut writer = ShardWriter::for_records::<wit_contract::Candidate>(to, &WriterOptions::default())?;
    let mut at = 0usize;
    for batch in ShardReader::open_kind(from, RecordKind::Candidates, &ReadOptions::default())? {
        let batch = batch?;
        let n = batch.num_rows();
        let flags = keep
            .get(at..at + n)
            .ok_or_else(|| PathError::input(from, format!("more rows than the {} keys read before", keep.len())))?;
        at += n;
        let kept = filter_record_batch(&batch, &BooleanArray::from(flags.to_vec()))
            .map_err(|e| PathError::input(from, e.to_string()))?;
        writer.write_batch(&kept)?;
    }
    Ok(Some(writer.finish()?))
}

/// Drops the rows at `drops` (packed input·row locations, ascending) from the shards of `dir`,
/// swaps the manifest's listing, removes the old files, and marks the stats deduplicated (and
/// the manifest complete when `complete`).
fn apply_drops(
    dir: &Path,
    mut manifest: Manifest,
    drops: impl Iterator<Item = Result<u64>>,
    complete: bool,
) -> Result<HarvestStats> {
    sweep(dir, &manifest)?;
    let mut drops = drops.peekable();
    let mut shards: Vec<ShardInfo> = manifest.shards.clone();
    shards.sort_by_key(|s| input_index(&s.file));
    let mut renamed: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut lost: BTreeMap<String, u64> = BTreeMap::new();
    let mut listing = Vec::with_capacity(shards.len());
    let mut old_files: Vec<PathBuf> = Vec::new();
    for shard in shards {
        let input = input_index(&shard.file)
            .ok_or_else(|| PathError::input(dir.join(&shard.file), "not a shard-NNNNN name"))?;
        let mut rows: Vec<u32> = Vec::new();
        while let Some(next) = drops.peek() {
            let at = match next {
                Ok(at) => *at,
                Err(_) => {
                    return Err(drops
                        .next()
                        .and_then(Result::err)
                        .unwrap_or_else(|| HarvestError::Config("drop list".into())))
                }
            };
            let (major, row) = unpack(at);
            if major < input {
                return Err(PathError::input(dir, format!("a drop for input {major}, which has no shard here")).into());
            }
            if major > input {
                break;
            }
            rows.push(row);
            drops.next();
        }
        if rows.is_empty() {
            listing.push(shard);
            continue;
        }
        let source = dir.join(&shard.file);
        let mut keep = vec![true; shard.rows as usize];
        for &row in &rows {
            *keep.get_mut(row as usize).ok_or_else(|| PathError::input(&source, format!("no row {row} to drop")))? =
                false;
        }
        let name = wit_ranks::sweep::rewritten_shard_name(&shard.file);
        let info = write_filtered(&source, &dir.join(&name), &keep)?;
        lost.insert(shard.file.clone(), rows.len() as u64);
        renamed.insert(shard.file.clone(), info.as_ref().map(|i| i.file.clone()));
        listing.extend(info);
        old_files.push(source);
    }
    if let Some(extra) = drops.next() {
        let at = extra?;
        return Err(PathError::input(dir, format!("a drop for input {}, which has no shard here", unpack(at).0)).into());
    }
    let mut stats = stats_of(&manifest, dir)?;
    for input in stats.per_input.iter_mut() {
        let Some(shard) = input.shard.clone() else { continue };
        if let Some(&n) = lost.get(&shard) {
            input.pairs_out -= n.min(input.pairs_out);
            *input.skipped.entry("duplicate".into()).or_default() += n;
        }
        if let Some(new_name) = renamed.get(&shard) {
            input.shard = new_name.clone();
        }
    }
    let mut stats = total(stats.per_input);
    stats.deduplicated = true;
    manifest.shards.clear();
    listing.into_iter().for_each(|s| manifest.add_shard(s));
    manifest.stats = serde_json::to_value(&stats).unwrap_or_default();
    manifest.complete = manifest.complete || complete;
    manifest.save(dir)?;
    for path in old_files {
        fs::remove_file(&path).at_path(&path)?;
    }
    Ok(stats)
}

/// The merge, on metadata only: one manifest listing every rank's shards where they lie
/// (`data/rank-R-of-N-shard-…`, in input order), stats summed from the ranks' manifests.
pub(crate) fn merge(
    out: &Path,
    world_size: usize,
    base: &serde_json::Value,
    rank_config: impl Fn(usize) -> serde_json::Value,
) -> Result<HarvestStats> {
    if let Some(existing) = Manifest::load_if_present(out)? {
        if existing.complete && existing.kind == RecordKind::Candidates && existing.config == *base {
            tracing::info!(out = %out.display(), "merged harvest output already complete; nothing to do");
            let mut stats = stats_of(&existing, out)?;
            stats.already_complete = true;
            return Ok(stats);
        }
    }
    let mut listed: Vec<(u32, ShardInfo)> = Vec::new();
    let mut per_input = Vec::new();
    for rank in 0..world_size {
        let me = RankOf::new(rank, world_size);
        let dir = me.dir(out);
        let manifest = complete_rank(&dir, &rank_config(rank))?;
        let stats = stats_of(&manifest, &dir)?;
        if !stats.deduplicated {
            return Err(
                PathError::input(&dir, "not deduplicated yet (run --phase dedup and --phase apply first)").into()
            );
        }
        for shard in &manifest.shards {
            let input = input_index(&shard.file)
                .ok_or_else(|| PathError::input(dir.join(&shard.file), "not a shard-NNNNN name"))?;
            listed.push((input, ShardInfo { file: me.listed(&shard.file), ..shard.clone() }));
        }
        per_input.extend(stats.per_input.into_iter().map(|mut input| {
            input.shard = input.shard.map(|s| me.listed(&s));
            input
        }));
    }
    listed.sort_by_key(|(input, _)| *input);
    let index =
        |input: &InputStats| input.shard.as_deref().and_then(|s| input_index(s.rsplit('/').next().unwrap_or(s)));
    per_input.sort_by(|a, b| index(a).cmp(&index(b)).then(a.path.cmp(&b.path)));
    let mut stats = total(per_input);
    stats.deduplicated = true;
    fs::create_dir_all(out).at_path(out)?;
    let mut manifest = Manifest::new(RecordKind::Candidates, base.clone(), None);
    listed.into_iter().for_each(|(_, s)| manifest.add_shard(s));
    manifest.stats = serde_json::to_value(&stats).unwrap_or_default();
    manifest.complete = true;
    manifest.save(out)?;
    tracing::info!(out = %out.display(), ranks = world_size, pairs_out = stats.pairs_out, "merged (manifest only)");
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_carry_their_input() {
        assert_eq!(input_index("shard-00012.parquet"), Some(12));
        assert_eq!(input_index("shard-00012.d3.parquet"), Some(12));
        assert_eq!(input_index("manifest.json"), None);
    }
}
