//! The stage itself: read the dictionary and the candidate shards, count, select, write.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use arrow::array::{Array, AsArray, BooleanArray, StringArray};
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use wit_contract::progress::{Progress, Spec};
use wit_contract::records::Record;
use wit_contract::schema::col;
use wit_contract::{
    clean_stale_temp_files, read_records, recorded_path, Candidate, CuratedPair, Manifest, QueryCount, QueryEntry,
    ReadOptions, RecordKind, ShardInfo, ShardReader, ShardWriter, WriterOptions,
};

use crate::balance;
use crate::error::{CurateError, Result};
use crate::matcher::{MatchMode, Matcher, Scratch};
use crate::strict;
use crate::{CurateConfig, CurateStats, Phase};
use std::collections::HashSet;
use wit_contract::{AtPath, PathError};
use wit_ranks::{RankOf, StepMarker};

/// The folder of the per-query table inside the output folder.
pub const QUERY_COUNTS_DIR: &str = wit_contract::layout::QUERY_COUNTS_DIR;
/// The per-query table's file name.
pub const QUERY_COUNTS_FILE: &str = "query_counts.parquet";
/// Where the per-query table lies inside the output folder: in the data folder of the table's own
/// stage-shaped folder, as `_failures/` holds its shards, so readers that take a folder (polars,
/// HF datasets) read `_query_counts/data` as they read `data`.
fn query_counts_table() -> String {
    format!("{QUERY_COUNTS_DIR}/{}/{QUERY_COUNTS_FILE}", wit_contract::layout::DATA_DIR)
}
/// The folder of per-rank files inside the output folder.
pub const COUNTS_DIR: &str = "_counts";

/// Rows matched per parallel task.
const CHUNK: usize = 256;

/// The query dictionary, ordered by id.
#[derive(Debug, Clone, Default)]
pub struct Dictionary {
    pub ids: Vec<u32>,
    pub queries: Vec<String>,
}

impl Dictionary {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Reads a query dictionary: a queries folder (its manifest's shards) or one Parquet file.
pub fn load_dictionary(path: &Path) -> Result<Dictionary> {
    let files = if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        let manifest = Manifest::load(path)?;
        if manifest.kind != RecordKind::Queries {
            return Err(PathError::input(path, format!("a {} folder, not a queries folder", manifest.kind)).into());
        }
        if !manifest.complete {
            return Err(PathError::input(path, "the queries folder is incomplete (its manifest says so)").into());
        }
        manifest.shard_paths(path)
    };
    let mut entries: Vec<(u32, String)> = Vec::new();
    for file in &files {
        entries.extend(read_records::<QueryEntry>(file)?.into_iter().map(|e| (e.id, e.query)));
    }
    entries.sort_unstable_by_key(|e| e.0);
    if let Some(w) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(PathError::input(
            path,
            format!("query id {} appears twice ({:?} and {:?})", w[0].0, w[0].1, w[1].1),
        )
        .into());
    }
    let (ids, queries) = entries.into_iter().unzip();
    Ok(Dictionary { ids, queries })
}

/// The candidate shards, in manifest order.
fn candidate_shards(dir: &Path) -> Result<Vec<PathBuf>> {
    let manifest = Manifest::load(dir)?;
    if manifest.kind != RecordKind::Candidates {
        return Err(PathError::input(dir, format!("a {} folder, not a candidates folder", manifest.kind)).into());
    }
    if !manifest.complete {
        return Err(PathError::input(dir, "the candidates folder is incomplete (harvest has not finished)").into());
    }
    Ok(manifest.shard_paths(dir))
}

/// Query indices matched by each row of a batch: row `r` holds `ids[ends[r-1]..ends[r]]`.
struct BatchMatches {
    ends: Vec<u32>,
    ids: Vec<u32>,
}

impl BatchMatches {
    fn row(&self, r: usize) -> &[u32] {
        let start = if r == 0 { 0 } else { self.ends[r - 1] as usize };
        &self.ids[start..self.ends[r] as usize]
    }
}

fn string_column<'a>(batch: &'a RecordBatch, name: &str, path: &Path, first_row: u64) -> Result<&'a StringArray> {
    let column = batch.column_by_name(name).ok_or_else(|| PathError::input(path, format!("no `{name}` column")))?;
    let strings = column
        .as_string_opt::<i32>()
        .ok_or_else(|| PathError::input(path, format!("column `{name}` has type {}, not Utf8", column.data_type())))?;
    if strings.null_count() > 0 {
        let row = (0..strings.len()).find(|&r| strings.is_null(r)).unwrap_or(0);
        return Err(CurateError::Row {
            path: path.to_path_buf(),
            row: first_row + row as u64,
            problem: format!("null `{name}`"),
        });
    }
    Ok(strings)
}

/// Matches every caption of a batch, in parallel; adds each match to `counts` when given.
fn match_captions(matcher: &Matcher, captions: &StringArray, counts: Option<&[AtomicU64]>) -> BatchMatches {
    let n = captions.len();
    let parts: Vec<(Vec<u32>, Vec<u32>)> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map_init(Scratch::default, |scratch, c| {
            let rows = c * CHUNK..((c + 1) * CHUNK).min(n);
            let mut lens = Vec::with_capacity(rows.len());
            let mut ids = Vec::new();
            for r in rows {
                let found = matcher.find(captions.value(r), scratch);
                if let Some(counts) = counts {
                    found.iter().for_each(|&q| {
                        counts[q as usize].fetch_add(1, Ordering::Relaxed);
                    });
                }
                lens.push(found.len() as u32);
                ids.extend_from_slice(found);
            }
            (lens, ids)
        })
        .collect();
    let mut out = BatchMatches { ends: Vec::with_capacity(n), ids: Vec::new() };
    for (lens, ids) in parts {
        let base = out.ids.len() as u32;
        let mut end = base;
        for len in lens {
            end += len;
            out.ends.push(end);
        }
        out.ids.extend(ids);
    }
    out
}

/// Reads `columns` of one candidate shard batch by batch and matches the captions.
fn scan_shard(
    path: &Path,
    matcher: &Matcher,
    columns: &[&str],
    counts: Option<&[AtomicU64]>,
    mut each: impl FnMut(&RecordBatch, &BatchMatches, u64) -> Result<()>,
) -> Result<u64> {
    let options = ReadOptions { batch_size: 8192, columns: Some(columns.iter().map(|c| c.to_string()).collect()) };
    let mut rows = 0u64;
    for batch in ShardReader::open(path, &options)? {
        let batch = batch?;
        let captions = string_column(&batch, col::CAPTION, path, rows)?;
        let matches = match_captions(matcher, captions, counts);
        each(&batch, &matches, rows)?;
        rows += batch.num_rows() as u64;
    }
    Ok(rows)
}

fn atomic_counts(n: usize) -> Vec<AtomicU64> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

fn into_counts(counts: Vec<AtomicU64>) -> Vec<u64> {
    counts.into_iter().map(AtomicU64::into_inner).collect()
}

/// Per-query match counts over `shards`, and how many rows were read.
fn count(matcher: &Matcher, shards: &[&PathBuf]) -> Result<(Vec<u64>, u64)> {
    let counts = atomic_counts(matcher.num_queries());
    let progress = Progress::start(Spec::new("curate: count matches", "shards", Some(shards.len() as u64)));
    let rows: Vec<u64> = shards
        .par_iter()
        .map(|path| {
            let rows = scan_shard(path, matcher, &[col::CAPTION], Some(&counts), |_, _, _| Ok(()));
            progress.add(1, 0);
            rows
        })
        .collect::<Result<_>>()?;
    progress.finish();
    Ok((into_counts(counts), rows.iter().sum()))
}

/// What orders the strict claims: the pool's per-query counts, the effective cap, the seed.
struct ClaimOrder<'a> {
    counts: &'a [u64],
    cap: u64,
    seed: u64,
}

/// The strict claims of the shards `mine` (index, path), in the strict order, into `path`.
fn write_claims(
    matcher: &Matcher,
    mine: &[(usize, &PathBuf)],
    order: &ClaimOrder<'_>,
    path: &Path,
    spill: &Path,
    budget: u64,
) -> Result<u64> {
    let ClaimOrder { counts, cap, seed } = *order;
    let mut sorter = wit_ranks::ExternalSorter::<strict::Claim>::new(spill, budget);
    let chunk = rayon::current_num_threads().max(1) * 2;
    for part in mine.chunks(chunk) {
        let claims: Vec<Vec<strict::Claim>> = part
            .par_iter()
            .map(|(index, shard)| {
                let mut claims = Vec::new();
                scan_shard(shard, matcher, &[col::KEY, col::CAPTION], None, |batch, matches, first_row| {
                    let keys = string_column(batch, col::KEY, shard, first_row)?;
                    for r in 0..batch.num_rows() {
                        let ids = matches.row(r);
                        if !ids.is_empty() {
                            let hash = balance::key_hash(seed, keys.value(r));
                            let pos = strict::position(*index, first_row + r as u64);
                            strict::claims_of(counts, cap, ids, hash, pos, &mut claims);
                        }
                    }
                    Ok(())
                })?;
                Ok(claims)
            })
            .collect::<Result<_>>()?;
        for claim in claims.into_iter().flatten() {
            sorter.push(claim).map_err(strict::ranks_error)?;
        }
    }
    let sorted = sorter.finish().map_err(strict::ranks_error)?;
    let mut failed = None;
    let n = wit_ranks::sort::write_records(path, sorted.map_while(|c| c.map_err(|e| failed = Some(e)).ok()))
        .map_err(strict::ranks_error)?;
    if let Some(e) = failed {
        return Err(strict::ranks_error(e));
    }
    let _ = fs::remove_dir_all(spill);
    Ok(n)
}

/// How rows are decided in the select phase.
#[derive(Clone, Copy)]
enum Decide<'a> {
    Soft {
        counts: &'a [u64],
        cap: u64,
        seed: u64,
    },
    /// A text with a head query is kept iff its row is in `kept` (the strict pass's verdict for
    /// this shard); any other matched text is kept.
    Strict {
        counts: &'a [u64],
        cap: u64,
        kept: &'a HashSet<u32>,
    },
}

struct ShardOutcome {
    info: ShardInfo,
    rows: u64,
    matched: u64,
    /// Rows the rules kept that the build's blocklist leaves out.
    blocklisted: u64,
}

/// Reads one candidate shard in full, decides each matched row and writes the kept ones.
#[allow(clippy::too_many_arguments)]
fn select_shard(
    index: usize,
    path: &Path,
    out: &Path,
    matcher: &Matcher,
    dictionary: &Dictionary,
    decide: &Decide<'_>,
    kept_counts: &[AtomicU64],
    blocklist: &wit_contract::Blocklist,
) -> Result<ShardOutcome> {
    let mut writer =
        ShardWriter::for_records::<CuratedPair>(wit_contract::shard_path(out, index), &WriterOptions::default())?;
    let mut rows = 0u64;
    let mut matched = 0u64;
    let mut strict_kept = 0usize;
    let mut blocklisted = 0u64;
    let reader = ShardReader::open_kind(path, RecordKind::Candidates, &ReadOptions::default())?;
    for batch in reader {
        let batch = batch?;
        let captions = string_column(&batch, col::CAPTION, path, rows)?;
        let keys = string_column(&batch, col::KEY, path, rows)?;
        let urls = string_column(&batch, col::URL, path, rows)?;
        let matches = match_captions(matcher, captions, None);
        // Decide on the key and caption columns; build typed rows only for the kept ones.
        let mut mask = Vec::with_capacity(batch.num_rows());
        let mut kept_meta: Vec<(usize, f64)> = Vec::new();
        for r in 0..batch.num_rows() {
            let ids = matches.row(r);
            if ids.is_empty() {
                mask.push(false);
                continue;
            }
            matched += 1;
            let key = keys.value(r);
            let (mut keep, keep_prob) = match decide {
                Decide::Soft { counts, cap, seed } => {
                    let p = balance::keep_prob(counts, ids, *cap);
                    (balance::keep(*seed, key, p), p)
                }
                Decide::Strict { counts, cap, kept } => {
                    let keep = !strict::has_head(counts, *cap, ids) || kept.contains(&((rows + r as u64) as u32));
                    strict_kept += (keep && strict::has_head(counts, *cap, ids)) as usize;
                    (keep, 1.0)
                }
            };
            // A takedown leaves the pair out after the rules decided (they stay as they were).
            if keep && blocklist.blocks_pair(key, urls.value(r)).is_some() {
                blocklisted += 1;
                keep = false;
            }
            mask.push(keep);
            if keep {
                ids.iter().for_each(|&q| {
                    kept_counts[q as usize].fetch_add(1, Ordering::Relaxed);
                });
                kept_meta.push((r, keep_prob));
            }
        }
        if kept_meta.is_empty() {
            rows += batch.num_rows() as u64;
            continue;
        }
        let kept_batch = filter_record_batch(&batch, &BooleanArray::from(mask))
            .map_err(|e| PathError::input(path, format!("rows from {rows}: {e}")))?;
        let candidates = Candidate::from_batch(&kept_batch).map_err(|e| CurateError::Row {
            path: path.to_path_buf(),
            row: rows,
            problem: format!("in the batch starting here: {e}"),
        })?;
        let kept_rows: Vec<CuratedPair> = candidates
            .into_iter()
            .zip(kept_meta)
            .map(|(candidate, (r, keep_prob))| CuratedPair {
                candidate,
                query_ids: matches.row(r).iter().map(|&q| dictionary.ids[q as usize]).collect(),
                keep_prob,
            })
            .collect();
        writer.write_records(&kept_rows)?;
        rows += batch.num_rows() as u64;
    }
    if let Decide::Strict { kept, .. } = decide {
        if strict_kept != kept.len() {
            return Err(PathError::input(
                path,
                format!(
                    "the strict pass kept {} of its texts, {strict_kept} found: the shard changed since --phase order",
                    kept.len()
                ),
            )
            .into());
        }
    }
    let info = writer.finish()?;
    tracing::debug!(shard = %path.display(), rows, matched, kept = info.rows, "curated shard");
    Ok(ShardOutcome { info, rows, matched, blocklisted })
}

/// What one rank's select phase produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Part {
    rank: usize,
    world_size: usize,
    config: serde_json::Value,
    shards: Vec<ShardInfo>,
    stats: CurateStats,
}

fn rank_suffix(rank: usize, world_size: usize) -> String {
    format!("{rank:05}-of-{world_size:05}")
}

/// The configuration recorded in manifests (what decides the output; not rank or threads).
fn recorded_config(config: &CurateConfig, dictionary: &Dictionary, effective_cap: u64) -> serde_json::Value {
    let (matching, case_fold) = match config.mode {
        MatchMode::Metaclip => ("metaclip", false),
        MatchMode::Words { case_fold } => ("words", case_fold),
    };
    serde_json::json!({
        "stage": "curate",
        "queries": recorded_path(&config.queries),
        "candidates": recorded_path(&config.candidates),
        "dictionary_size": dictionary.len(),
        "matching": matching,
        "case_fold": case_fold,
        "cap": config.cap,
        "oversample": config.oversample,
        "effective_cap": effective_cap,
        "strict": config.strict,
        "seed": config.seed,
        "world_size": config.world_size,
        "query_counts": query_counts_table(),
    })
}

fn write_query_counts(path: &Path, dictionary: &Dictionary, matched: &[u64], kept: &[u64]) -> Result<ShardInfo> {
    let rows: Vec<QueryCount> = (0..dictionary.len())
        .map(|i| QueryCount {
            id: dictionary.ids[i],
            query: dictionary.queries[i].clone(),
            matched: matched[i],
            kept: kept[i],
        })
        .collect();
    let mut writer = ShardWriter::for_records::<QueryCount>(path, &WriterOptions::default())?;
    writer.write_records(&rows)?;
    Ok(writer.finish()?)
}

/// Reads a per-query count file written for `dictionary`; returns (matched, kept).
fn read_query_counts(path: &Path, dictionary: &Dictionary) -> Result<(Vec<u64>, Vec<u64>)> {
    if !path.exists() {
        return Err(CurateError::Counts {
            path: path.to_path_buf(),
            problem: "missing (has every rank finished the previous step?)".into(),
        });
    }
    let rows = read_records::<QueryCount>(path)?;
    if rows.len() != dictionary.len() || rows.iter().zip(&dictionary.ids).any(|(row, &id)| row.id != id) {
        return Err(CurateError::Counts { path: path.to_path_buf(), problem: "made from another dictionary".into() });
    }
    Ok((rows.iter().map(|r| r.matched).collect(), rows.iter().map(|r| r.kept).collect()))
}

fn write_json_atomically<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_vec_pretty(value).map_err(|e| PathError::input(path, e.to_string()))?;
    Ok(wit_contract::write_file_atomically(path, &json)?)
}

fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).at_path(dir)?;
    clean_stale_temp_files(dir)?;
    Ok(())
}

/// A folder that the ranks of a multi-rank run share: while they run at once, one rank's stale
/// temp-file cleaning would delete another's file in progress, so only a one-process run and the
/// merge (after every rank) clean it.
fn create_rank_dir(dir: &Path, config: &CurateConfig) -> Result<()> {
    if config.world_size == 1 || config.phase == Phase::Merge {
        return create_dir(dir);
    }
    Ok(fs::create_dir_all(dir).at_path(dir)?)
}

/// What the last step of a run records.
struct Outcome<'a> {
    matched: &'a [u64],
    kept: &'a [u64],
    shards: Vec<ShardInfo>,
    stats: CurateStats,
}

/// Writes the per-query table and the curated manifest (complete): the end of a run.
fn finish(
    out: &Path,
    config_json: serde_json::Value,
    seed: u64,
    effective_cap: u64,
    dictionary: &Dictionary,
    outcome: Outcome<'_>,
) -> Result<CurateStats> {
    let Outcome { matched, kept, shards, mut stats } = outcome;
    stats.queries = dictionary.len() as u64;
    stats.queries_matched = matched.iter().filter(|&&m| m > 0).count() as u64;
    stats.queries_at_cap = kept.iter().filter(|&&k| k >= effective_cap).count() as u64;
    stats.shards = shards.len() as u64;
    let counts_dir = out.join(QUERY_COUNTS_DIR);
    let table = out.join(query_counts_table());
    create_dir(table.parent().unwrap_or(&counts_dir))?;
    let info = write_query_counts(&table, dictionary, matched, kept)?;
    let mut counts_manifest = Manifest::new(RecordKind::QueryCounts, config_json.clone(), Some(seed));
    counts_manifest.add_shard(info);
    counts_manifest.complete = true;
    counts_manifest.save(&counts_dir)?;

    let mut manifest = Manifest::new(RecordKind::Curated, config_json, Some(seed));
    shards.into_iter().for_each(|s| manifest.add_shard(s));
    manifest.stats = serde_json::to_value(&stats).unwrap_or_default();
    manifest.complete = true;
    manifest.save(out)?;
    Ok(stats)
}

fn validate(config: &CurateConfig) -> Result<()> {
    if config.world_size == 0 || config.rank >= config.world_size {
        return Err(CurateError::Config(format!("rank {} of world size {}", config.rank, config.world_size)));
    }
    if config.phase == Phase::All && config.world_size > 1 {
        return Err(CurateError::Config(
            "with --world-size > 1 run the count, (order, strict,) select and merge phases explicitly".into(),
        ));
    }
    if matches!(config.phase, Phase::Order | Phase::Strict) && !config.strict {
        return Err(CurateError::Config("--phase order and strict belong to --strict runs".into()));
    }
    if !(config.oversample >= 1.0 && config.oversample.is_finite()) {
        return Err(CurateError::Config(format!("oversample {} (must be a finite number ≥ 1)", config.oversample)));
    }
    Ok(())
}

pub(crate) fn run(config: &CurateConfig) -> Result<CurateStats> {
    validate(config)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .build()
        .map_err(|e| CurateError::Config(format!("thread pool: {e}")))?;
    pool.install(|| run_in_pool(config))
}

/// What every phase of a run shares: its config, dictionary, effective cap and recorded config.
struct Run<'a> {
    config: &'a CurateConfig,
    out: &'a Path,
    dictionary: Dictionary,
    effective_cap: u64,
    config_json: serde_json::Value,
    /// `rank-RRRRR-of-NNNNN`, naming this rank's files.
    suffix: String,
    /// OUT/_counts: the ranks' match counts and parts.
    counts_dir: PathBuf,
    started: Instant,
}

impl Run<'_> {
    /// Candidate shards of this rank: every world-size-th, with its index in the pool.
    fn my_shards<'s>(&self, shards: &'s [PathBuf]) -> Vec<(usize, &'s PathBuf)> {
        shards.iter().enumerate().filter(|(i, _)| i % self.config.world_size == self.config.rank).collect()
    }

    fn matcher(&self) -> Result<Matcher> {
        let t = Instant::now();
        let matcher = Matcher::new(self.dictionary.queries.iter().map(String::as_str), self.config.mode)?;
        tracing::info!(
            queries = self.dictionary.len(),
            memory_mb = matcher.memory_usage() >> 20,
            seconds = t.elapsed().as_secs_f32(),
            "built the automaton"
        );
        Ok(matcher)
    }

    /// Matches per query over the whole pool: summed from every rank's counts, or (one process)
    /// counted here.
    fn pool_counts(&self, matcher: &Matcher, shards: &[PathBuf]) -> Result<Vec<u64>> {
        let counts = if self.config.world_size > 1 {
            let mut total = vec![0u64; self.dictionary.len()];
            for rank in 0..self.config.world_size {
                let name = format!("matched-{}.parquet", rank_suffix(rank, self.config.world_size));
                let (matched, _) = read_query_counts(&self.counts_dir.join(name), &self.dictionary)?;
                total.iter_mut().zip(matched).for_each(|(t, m)| *t += m);
            }
            total
        } else {
            count(matcher, &shards.iter().collect::<Vec<_>>())?.0
        };
        tracing::info!(seconds = self.started.elapsed().as_secs_f32(), "counted matches over the pool");
        Ok(counts)
    }

    fn stats(&self) -> CurateStats {
        CurateStats { queries: self.dictionary.len() as u64, ..Default::default() }
    }
}

fn run_in_pool(config: &CurateConfig) -> Result<CurateStats> {
    let dictionary = load_dictionary(&config.queries)?;
    let effective_cap = balance::effective_cap(config.cap, config.oversample);
    let run = Run {
        config,
        out: config.out.as_path(),
        config_json: recorded_config(config, &dictionary, effective_cap),
        dictionary,
        effective_cap,
        suffix: rank_suffix(config.rank, config.world_size),
        counts_dir: config.out.join(COUNTS_DIR),
        started: Instant::now(),
    };
    match config.phase {
        Phase::Merge => merge(config, &run.dictionary, run.config_json, effective_cap),
        Phase::Strict => strict_step(config, &run.dictionary, &run.config_json, effective_cap),
        Phase::Count => count_step(&run),
        Phase::Order => order_step(&run),
        Phase::Select => select_step(&run),
        Phase::All => all_in_one(&run),
    }
}

/// Phase::Count: this rank's matches per query, for every rank's select to sum.
fn count_step(run: &Run) -> Result<CurateStats> {
    let config = run.config;
    create_rank_dir(run.out, config)?;
    create_rank_dir(&run.counts_dir, config)?;
    let shards = candidate_shards(&config.candidates)?;
    let paths: Vec<&PathBuf> = run.my_shards(&shards).into_iter().map(|(_, path)| path).collect();
    let (counts, rows) = count(&run.matcher()?, &paths)?;
    let path = run.counts_dir.join(format!("matched-{}.parquet", run.suffix));
    write_query_counts(&path, &run.dictionary, &counts, &vec![0; counts.len()])?;
    tracing::info!(rank = config.rank, rows, seconds = run.started.elapsed().as_secs_f32(), "counted matches");
    Ok(CurateStats { candidates: rows, ..run.stats() })
}

/// Phase::Order (strict runs): this rank's claims, in the order the greedy takes them.
fn order_step(run: &Run) -> Result<CurateStats> {
    let config = run.config;
    create_rank_dir(run.out, config)?;
    let me = RankOf::new(config.rank, config.world_size);
    let marker = me.marker(run.out, strict::STEP_ORDER);
    if StepMarker::done_with(&marker, &run.config_json).map_err(strict::ranks_error)?.is_some() {
        return Ok(CurateStats { skipped: true, ..run.stats() });
    }
    let shards = candidate_shards(&config.candidates)?;
    let matcher = run.matcher()?;
    let counts = run.pool_counts(&matcher, &shards)?;
    let spill = run.out.join("_spill").join(format!("order-{}", run.suffix));
    let order = ClaimOrder { counts: &counts, cap: run.effective_cap, seed: config.seed };
    let path = strict::claims_path(run.out, me);
    let claims = write_claims(&matcher, &run.my_shards(&shards), &order, &path, &spill, config.memory_budget)?;
    tracing::info!(rank = config.rank, claims, "wrote the strict claims");
    StepMarker::new(
        strict::STEP_ORDER,
        me.rank,
        me.world_size,
        run.config_json.clone(),
        serde_json::json!({ "claims": claims }),
    )
    .save(&marker)
    .map_err(strict::ranks_error)?;
    Ok(run.stats())
}

/// Phase::Select: this rank's kept pairs, its per-query counts and its part for the merge.
fn select_step(run: &Run) -> Result<CurateStats> {
    let config = run.config;
    create_rank_dir(run.out, config)?;
    let shards = candidate_shards(&config.candidates)?;
    let matcher = run.matcher()?;
    let counts = run.pool_counts(&matcher, &shards)?;
    let selected = select(run, &matcher, &run.my_shards(&shards), &counts)?;
    create_rank_dir(&run.counts_dir, config)?;
    let mut stats = selected.stats;
    stats.queries = run.dictionary.len() as u64;
    stats.shards = selected.shards.len() as u64;
    let kept_path = run.counts_dir.join(format!("kept-{}.parquet", run.suffix));
    write_query_counts(&kept_path, &run.dictionary, &counts, &selected.kept_counts)?;
    let part = Part {
        rank: config.rank,
        world_size: config.world_size,
        config: run.config_json.clone(),
        shards: selected.shards,
        stats: stats.clone(),
    };
    write_json_atomically(&run.counts_dir.join(format!("shards-{}.json", run.suffix)), &part)?;
    Ok(stats)
}

/// Phase::All (one process): count, (the strict pass,) select and finish the folder.
fn all_in_one(run: &Run) -> Result<CurateStats> {
    let (config, out) = (run.config, run.out);
    if let Some(existing) = Manifest::load_if_present(out)? {
        if existing.complete && existing.kind == RecordKind::Curated && existing.config == run.config_json {
            tracing::info!(out = %out.display(), "curate output already complete with this config; nothing to do");
            let mut stats: CurateStats = existing.stats_as(out)?;
            stats.skipped = true;
            return Ok(stats);
        }
    }
    create_rank_dir(out, config)?;
    let shards = candidate_shards(&config.candidates)?;
    let matcher = run.matcher()?;
    let mut manifest = Manifest::new(RecordKind::Curated, run.config_json.clone(), Some(config.seed));
    manifest.save(out)?;
    let counts = run.pool_counts(&matcher, &shards)?;
    let all = run.my_shards(&shards);
    if config.strict {
        // The strict pass in this process: claims of every shard, the greedy, then select.
        let spill = out.join("_spill").join("order");
        let order = ClaimOrder { counts: &counts, cap: run.effective_cap, seed: config.seed };
        let claims = strict::claims_path(out, RankOf::new(0, 1));
        write_claims(&matcher, &all, &order, &claims, &spill, config.memory_budget)?;
        strict::run_greedy(out, 1, run.dictionary.len(), run.effective_cap)?;
    }
    let selected = select(run, &matcher, &all, &counts)?;
    let _ = fs::remove_dir_all(out.join(strict::STRICT_DIR));
    selected.shards.iter().cloned().for_each(|s| manifest.add_shard(s));
    manifest.save(out)?;
    let outcome =
        Outcome { matched: &counts, kept: &selected.kept_counts, shards: selected.shards, stats: selected.stats };
    finish(out, run.config_json.clone(), config.seed, run.effective_cap, &run.dictionary, outcome)
}

/// What [`select`] wrote: the shards, their totals and the kept count per query.
struct Selected {
    shards: Vec<ShardInfo>,
    stats: CurateStats,
    kept_counts: Vec<u64>,
}

/// The keep decisions over `mine` (soft, or the strict pass's verdicts), written as curated shards.
fn select(run: &Run, matcher: &Matcher, mine: &[(usize, &PathBuf)], counts: &[u64]) -> Result<Selected> {
    let (config, out) = (run.config, run.out);
    let me = RankOf::new(config.rank, config.world_size);
    let mut kept_stream = if config.strict {
        let spill = out.join("_spill").join(format!("kept-{}", run.suffix));
        Some(strict::kept_positions(&strict::kept_path(out, me), &spill, config.memory_budget)?.peekable())
    } else {
        None
    };
    let kept_counts = atomic_counts(run.dictionary.len());
    let mut outcomes: Vec<ShardOutcome> = Vec::with_capacity(mine.len());
    let progress = Progress::start(Spec::new("curate: select", "shards", Some(mine.len() as u64)));
    let chunk = rayon::current_num_threads().max(1) * 2;
    for part in mine.chunks(chunk) {
        // This part's share of the strict verdicts (positions ascend with the shard index).
        let mut kept_rows: Vec<HashSet<u32>> = vec![HashSet::new(); part.len()];
        if let Some(stream) = kept_stream.as_mut() {
            let last = part.last().map(|(i, _)| *i).unwrap_or(0);
            while let Some(next) = stream.peek() {
                let pos = match next {
                    Ok(e) => e.hash,
                    Err(_) => {
                        let error = stream.next().and_then(Result::err);
                        return Err(error
                            .map(strict::ranks_error)
                            .unwrap_or_else(|| CurateError::Config("kept list".into())));
                    }
                };
                let (shard, row) = wit_ranks::shuffle::unpack(pos);
                if shard as usize > last {
                    break;
                }
                let slot = part.iter().position(|(i, _)| *i == shard as usize).ok_or_else(|| {
                    PathError::input(
                        &config.candidates,
                        format!("the strict pass kept a row of shard {shard}, not this rank's"),
                    )
                })?;
                kept_rows[slot].insert(row);
                stream.next();
            }
        }
        let done: Vec<ShardOutcome> = part
            .par_iter()
            .zip(kept_rows.par_iter())
            .map(|((index, path), kept)| {
                let decide = match config.strict {
                    true => Decide::Strict { counts, cap: run.effective_cap, kept },
                    false => Decide::Soft { counts, cap: run.effective_cap, seed: config.seed },
                };
                let outcome =
                    select_shard(*index, path, out, matcher, &run.dictionary, &decide, &kept_counts, &config.blocklist);
                progress.add(1, 0);
                outcome
            })
            .collect::<Result<_>>()?;
        outcomes.extend(done);
    }
    progress.finish();
    if let Some(mut stream) = kept_stream {
        if let Some(extra) = stream.next() {
            let (shard, _) = wit_ranks::shuffle::unpack(extra.map_err(strict::ranks_error)?.hash);
            return Err(PathError::input(
                &config.candidates,
                format!("the strict pass kept a row of shard {shard}, not this rank's"),
            )
            .into());
        }
    }
    let _ = fs::remove_dir_all(out.join("_spill"));
    let kept_counts = into_counts(kept_counts);
    let mut stats = CurateStats::default();
    let mut infos = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        stats.candidates += outcome.rows;
        stats.matched += outcome.matched;
        stats.blocklisted += outcome.blocklisted;
        stats.kept += outcome.info.rows;
        infos.push(outcome.info);
    }
    tracing::info!(
        candidates = stats.candidates,
        matched = stats.matched,
        kept = stats.kept,
        seconds = run.started.elapsed().as_secs_f32(),
        "selected"
    );
    Ok(Selected { shards: infos, stats, kept_counts })
}

/// Phase::Strict: the greedy over every rank's claims (one process, entries only).
fn strict_step(
    config: &CurateConfig,
    dictionary: &Dictionary,
    config_json: &serde_json::Value,
    effective_cap: u64,
) -> Result<CurateStats> {
    let out = config.out.as_path();
    let marker = out.join(wit_ranks::names::marker_relative(strict::STEP_STRICT, None));
    if StepMarker::done_with(&marker, config_json).map_err(strict::ranks_error)?.is_some() {
        return Ok(CurateStats { queries: dictionary.len() as u64, skipped: true, ..Default::default() });
    }
    let stats = strict::run_greedy(out, config.world_size, dictionary.len(), effective_cap)?;
    tracing::info!(claims = stats.claims, texts = stats.texts, kept = stats.kept, "strict pass");
    let value = serde_json::to_value(&stats).unwrap_or_default();
    StepMarker::new(strict::STEP_STRICT, 0, 1, config_json.clone(), value)
        .save(&marker)
        .map_err(strict::ranks_error)?;
    Ok(CurateStats { queries: dictionary.len() as u64, ..Default::default() })
}

/// Phase::Merge: every rank's part into the final manifest and per-query table.
fn merge(
    config: &CurateConfig,
    dictionary: &Dictionary,
    config_json: serde_json::Value,
    effective_cap: u64,
) -> Result<CurateStats> {
    let out = config.out.as_path();
    if let Some(existing) = Manifest::load_if_present(out)? {
        if existing.complete && existing.kind == RecordKind::Curated && existing.config == config_json {
            let mut stats: CurateStats = existing.stats_as(out)?;
            stats.skipped = true;
            return Ok(stats);
        }
    }
    let counts_dir = out.join(COUNTS_DIR);
    let mut matched: Option<Vec<u64>> = None;
    let mut kept = vec![0u64; dictionary.len()];
    let mut shards = Vec::new();
    let mut stats = CurateStats::default();
    for rank in 0..config.world_size {
        let suffix = rank_suffix(rank, config.world_size);
        let path = counts_dir.join(format!("kept-{suffix}.parquet"));
        let (m, k) = read_query_counts(&path, dictionary)?;
        match &matched {
            None => matched = Some(m),
            Some(first) if *first != m => {
                return Err(CurateError::Counts { path, problem: "ranks disagree on the pool's match counts".into() })
            }
            Some(_) => {}
        }
        kept.iter_mut().zip(k).for_each(|(a, b)| *a += b);
        let part_path = counts_dir.join(format!("shards-{suffix}.json"));
        let text = fs::read_to_string(&part_path).at_path(&part_path)?;
        let part: Part = serde_json::from_str(&text)
            .map_err(|e| CurateError::Counts { path: part_path.clone(), problem: e.to_string() })?;
        if part.config != config_json {
            return Err(CurateError::Counts { path: part_path, problem: "written with another configuration".into() });
        }
        stats.candidates += part.stats.candidates;
        stats.matched += part.stats.matched;
        stats.kept += part.stats.kept;
        stats.blocklisted += part.stats.blocklisted;
        shards.extend(part.shards);
    }
    let matched = matched.unwrap_or_default();
    let outcome = Outcome { matched: &matched, kept: &kept, shards, stats };
    finish(out, config_json, config.seed, effective_cap, dictionary, outcome)
}

#[cfg(test)]
#[path = "stage_tests.rs"]
mod tests;
