//! Rewriting a build's folders without the pairs a blocklist blocks, shard by shard, batch by batch.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, BooleanArray, StringArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use wit_contract::layout::{FAILURES_DIR, RANKS_DIR};
use wit_contract::schema::col;
use wit_contract::{
    copy_kept_rows, BlockEntry, BlockKind, Blocklist, Manifest, PathError, ReadOptions, RecordKind, ShardInfo,
    ShardReader, ShardWriter, WriterOptions,
};

use crate::{FolderRemoval, Result, TrustError};

/// Rows read at once: corpus rows carry their image, so batches stay small.
const BATCH_ROWS: usize = 1024;

fn bad(path: &Path, problem: impl Into<String>) -> TrustError {
    PathError::input(path, problem).into()
}

/// The string column `name` of `batch` (as Utf8), when it has one.
fn strings(batch: &RecordBatch, name: &str, path: &Path) -> Result<Option<StringArray>> {
    let Some(array) = batch.column_by_name(name) else { return Ok(None) };
    let array = arrow::compute::cast(array, &DataType::Utf8).map_err(|e| bad(path, format!("column `{name}`: {e}")))?;
    Ok(Some(array.as_string::<i32>().clone()))
}

/// The batches of `path`, only `wanted` columns among those the file has.
fn read_columns(path: &Path, wanted: &[&str]) -> Result<ShardReader> {
    let schema = ShardReader::open(path, &ReadOptions::default())?.schema();
    let columns: Vec<String> =
        wanted.iter().filter(|c| schema.field_with_name(c).is_ok()).map(|c| c.to_string()).collect();
    Ok(ShardReader::open(path, &ReadOptions { batch_size: 8192, columns: Some(columns) })?)
}

/// Key entries for the corpus rows whose image hashes the blocklist lists (none when it lists no
/// hash or the build has no corpus).
pub(crate) fn keys_of_blocked_images(corpus: &Path, blocklist: &Blocklist) -> Result<Vec<BlockEntry>> {
    if !blocklist.has_hashes() {
        return Ok(Vec::new());
    }
    let Some(manifest) = Manifest::load_if_present(corpus)? else { return Ok(Vec::new()) };
    let mut found = Vec::new();
    for path in manifest.shard_paths(corpus) {
        for batch in read_columns(&path, &[col::KEY, col::SHA256, col::MD5])? {
            let batch = batch?;
            let keys = strings(&batch, col::KEY, &path)?.ok_or_else(|| bad(&path, "no `key` column"))?;
            let (sha256, md5) = (strings(&batch, col::SHA256, &path)?, strings(&batch, col::MD5, &path)?);
            let at = |array: &Option<StringArray>, row: usize| {
                array.as_ref().filter(|a| !a.is_null(row)).map(|a| a.value(row).to_owned())
            };
            for row in 0..batch.num_rows() {
                let (sha, md) = (at(&sha256, row), at(&md5, row));
                if let Some(kind) = blocklist.blocks_hashes(sha.as_deref(), md.as_deref()) {
                    let hash = if kind == BlockKind::Sha256 { sha } else { md };
                    let reason = format!("{}:{}", kind.name(), hash.unwrap_or_default());
                    found.push(BlockEntry::new(BlockKind::Key, keys.value(row), Some(reason)));
                }
            }
        }
    }
    Ok(found)
}

/// Which rows of `batch` the blocklist blocks (by key or URL; hashes were turned into keys).
fn blocked_rows(batch: &RecordBatch, blocklist: &Blocklist, path: &Path) -> Result<Vec<bool>> {
    let keys = strings(batch, col::KEY, path)?.ok_or_else(|| bad(path, "no `key` column"))?;
    let urls = strings(batch, col::URL, path)?.ok_or_else(|| bad(path, "no `url` column"))?;
    Ok((0..batch.num_rows()).map(|r| blocklist.blocks_pair(keys.value(r), urls.value(r)).is_some()).collect())
}

/// What left one folder, for its manifests' counters.
#[derive(Debug, Default)]
struct Removed {
    rows: u64,
    by_status: BTreeMap<String, u64>,
    by_error_kind: BTreeMap<String, u64>,
}

/// Removes the blocked pairs from every pair-shaped folder of `build`.
pub(crate) fn remove_from_build(build: &Path, blocklist: &Blocklist) -> Result<Vec<FolderRemoval>> {
    let mut stage_dirs: Vec<PathBuf> = fs::read_dir(build)
        .map_err(|e| bad(build, e.to_string()))?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with(['_', '.']))
        .map(|entry| entry.path())
        .collect();
    stage_dirs.sort();
    let mut report = Vec::new();
    for dir in stage_dirs {
        let failures_dir = dir.join(FAILURES_DIR);
        let own = remove_from_folder(&dir, blocklist)?;
        let failures = remove_from_folder(&failures_dir, blocklist)?;
        // A corpus and its failures share one set of counters (fetch writes the same stats to both).
        let paired = matches!((&own, &failures), (Some((RecordKind::Corpus, ..)), Some((RecordKind::Failures, ..))));
        for (folder, result) in [(&dir, &own), (&failures_dir, &failures)] {
            let Some((kind, removal, removed)) = result else { continue };
            let mut folder_report = removal.clone();
            folder_report.folder = folder.strip_prefix(build).unwrap_or(folder).display().to_string();
            report.push(folder_report);
            if removed.rows == 0 {
                continue;
            }
            let mut targets = vec![folder.clone()];
            if paired {
                targets.push(if *kind == RecordKind::Corpus { failures_dir.clone() } else { dir.clone() });
            }
            for target in targets {
                lower_counters(&target, *kind, removed, &target == folder)?;
            }
        }
    }
    Ok(report)
}

fn lower(stats: &mut serde_json::Value, key: &str, n: u64) {
    if let Some(value) = stats.get_mut(key).filter(|v| v.is_u64()) {
        *value = value.as_u64().unwrap_or(0).saturating_sub(n).into();
    }
}

/// Lowers the row counters of the manifest in `dir` by what left a folder of `kind`; `own`: the
/// rows left this folder (counted in `takedowns`), not its twin.
fn lower_counters(dir: &Path, kind: RecordKind, removed: &Removed, own: bool) -> Result<()> {
    let mut manifest = Manifest::load(dir)?;
    let stats = &mut manifest.stats;
    if !stats.is_object() {
        *stats = serde_json::json!({});
    }
    match kind {
        RecordKind::Candidates => lower(stats, "pairs_out", removed.rows),
        RecordKind::Curated => lower(stats, "kept", removed.rows),
        RecordKind::Corpus => {
            lower(stats, "corpus_rows", removed.rows);
            if let Some(by_status) = stats.get_mut("by_status") {
                lower(by_status, "success", removed.rows);
            }
        }
        RecordKind::Failures => {
            lower(stats, "failure_rows", removed.rows);
            for (map, counts) in [("by_status", &removed.by_status), ("by_error_kind", &removed.by_error_kind)] {
                if let Some(values) = stats.get_mut(map) {
                    counts.iter().for_each(|(name, n)| lower(values, name, *n));
                }
            }
        }
        _ => {}
    }
    if own {
        let before = stats.get("takedowns").and_then(|v| v.as_u64()).unwrap_or(0);
        stats["takedowns"] = (before + removed.rows).into();
    }
    manifest.save(dir)?;
    Ok(())
}

/// Rewrites the shards of the folder `dir` that hold blocked pairs; None when `dir` is not a
/// pair-shaped folder.
fn remove_from_folder(dir: &Path, blocklist: &Blocklist) -> Result<Option<(RecordKind, FolderRemoval, Removed)>> {
    let Some(mut manifest) = Manifest::load_if_present(dir)? else { return Ok(None) };
    let kind = manifest.kind;
    if !matches!(kind, RecordKind::Candidates | RecordKind::Curated | RecordKind::Corpus | RecordKind::Failures) {
        return Ok(None);
    }
    let mut removal = FolderRemoval::default();
    let mut removed = Removed::default();
    let mut listing: Vec<ShardInfo> = Vec::with_capacity(manifest.shards.len());
    // (old file as listed, what replaces it: None when no row is left).
    let mut replaced: Vec<(String, Option<ShardInfo>)> = Vec::new();
    for shard in &manifest.shards {
        let path = dir.join(&shard.file);
        let mut any = false;
        for batch in read_columns(&path, &[col::KEY, col::URL])? {
            if blocked_rows(&batch?, blocklist, &path)?.contains(&true) {
                any = true;
                break;
            }
        }
        if !any {
            removal.shards_untouched += 1;
            listing.push(shard.clone());
            continue;
        }
        let new_file = wit_ranks::sweep::rewritten_shard_name(&shard.file);
        let reader = ShardReader::open(&path, &ReadOptions { batch_size: BATCH_ROWS, columns: None })?;
        let mut writer = ShardWriter::create(dir.join(&new_file), reader.schema(), &WriterOptions::default())?;
        let gone = copy_kept_rows(reader, &mut writer, |batch, _| {
            let blocked = blocked_rows(batch, blocklist, &path)?;
            if let Some(statuses) = strings(batch, col::STATUS, &path)? {
                let messages = strings(batch, col::ERROR_MESSAGE, &path)?;
                for row in (0..batch.num_rows()).filter(|&r| blocked[r]) {
                    *removed.by_status.entry(statuses.value(row).to_owned()).or_default() += 1;
                    if let Some(messages) = &messages {
                        let kind = messages.value(row).split_once(':').map_or("unknown", |(kind, _)| kind);
                        *removed.by_error_kind.entry(kind.to_owned()).or_default() += 1;
                    }
                }
            }
            Ok::<_, TrustError>(BooleanArray::from(blocked.iter().map(|b| !b).collect::<Vec<bool>>()))
        })?;
        removed.rows += gone;
        removal.shards_rewritten += 1;
        let new = if writer.rows() > 0 { Some(writer.finish()?) } else { None };
        listing.extend(new.clone());
        replaced.push((shard.file.clone(), new));
    }
    removal.rows_removed = removed.rows;
    if replaced.is_empty() {
        return Ok(Some((kind, removal, removed)));
    }
    manifest.shards = listing;
    manifest.save(dir)?;
    update_rank_manifests(dir, &replaced)?;
    for (old, _) in &replaced {
        let path = dir.join(old);
        fs::remove_file(&path).map_err(|e| bad(&path, e.to_string()))?;
    }
    tracing::info!(folder = %dir.display(), rows = removed.rows, shards = replaced.len(), "takedowns removed");
    Ok(Some((kind, removal, removed)))
}

fn file_name(listed: &str) -> &str {
    listed.rsplit('/').next().unwrap_or(listed)
}

/// Rank manifests (`dir/_ranks/*/`) list the same shards by another relative path: swap theirs too.
fn update_rank_manifests(dir: &Path, replaced: &[(String, Option<ShardInfo>)]) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir.join(RANKS_DIR)) else { return Ok(()) };
    for entry in entries.filter_map(|e| e.ok()) {
        let rank_dir = entry.path();
        let Some(mut manifest) = Manifest::load_if_present(&rank_dir)? else { continue };
        let mut changed = false;
        let mut shards = Vec::with_capacity(manifest.shards.len());
        for shard in manifest.shards.drain(..) {
            match replaced.iter().find(|(old, _)| file_name(old) == file_name(&shard.file)) {
                Some((_, new)) => {
                    changed = true;
                    if let Some(new) = new {
                        let prefix = shard.file.strip_suffix(file_name(&shard.file)).unwrap_or("");
                        shards.push(ShardInfo { file: format!("{prefix}{}", file_name(&new.file)), ..new.clone() });
                    }
                }
                None => shards.push(shard),
            }
        }
        manifest.shards = shards;
        if changed {
            manifest.save(&rank_dir)?;
        }
    }
    Ok(())
}
