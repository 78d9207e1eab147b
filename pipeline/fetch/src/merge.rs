//! A multi-rank fetch: where each rank writes, and the merge that makes the ranks' folders one
//! corpus (`OUT/manifest.json`, `OUT/shard-*.parquet`, `OUT/failures/`).
//!
//! Rank R of N ([`crate::Phase::Fetch`]) fetches the pairs whose key hash is R mod N into
//! `OUT/ranks/rank-RRRRR-of-NNNNN/`, a complete corpus folder of its own that resumes like any
//! other. The merge ([`crate::Phase::Merge`], once, after every rank) copies every rank's corpus
//! and failure rows, rank by rank and shard by shard, into `OUT`; an image whose bytes an earlier
//! rank already holds becomes a `duplicate` failure, as it would have in one process (there the
//! first download wins, here the lowest rank). The merge resumes too: committed keys are skipped.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use wit_contract::{CorpusImage, Failure, Manifest, RecordKind, RecordReader};

use crate::error::{FetchStageError, Result};
use crate::output::{key_hash, Opened, Outcome, Sink, FAILURES_DIR};
use crate::stage::recorded_config;
use crate::{FetchConfig, FetchStats};

/// The folder of per-rank outputs inside the output folder.
pub const RANKS_DIR: &str = "ranks";

/// Rows read per batch while merging.
const BATCH: usize = 256;

/// Where rank `rank` of `world_size` writes inside `out`.
pub fn rank_dir(out: &Path, rank: usize, world_size: usize) -> PathBuf {
    out.join(RANKS_DIR).join(format!("rank-{rank:05}-of-{world_size:05}"))
}

/// The configuration recorded in the merged manifests: the ranks' own, without the rank.
fn merged_config(config: &FetchConfig) -> serde_json::Value {
    let mut value = recorded_config(config);
    value["rank"] = serde_json::Value::Null;
    value["merged_ranks"] = true.into();
    value
}

/// Merges every rank's folder into `config.out`.
pub(crate) fn merge(config: &FetchConfig) -> Result<FetchStats> {
    let started = Instant::now();
    let world_size = config.world_size;
    let mut ranks = Vec::new();
    let mut rank_stats = FetchStats::default();
    for rank in 0..world_size {
        let dir = rank_dir(&config.out, rank, world_size);
        let bad = |problem: &str| FetchStageError::Output { path: dir.clone(), problem: problem.to_string() };
        let corpus = Manifest::load(&dir)?;
        if corpus.kind != RecordKind::Corpus || !corpus.complete {
            return Err(bad("not a complete corpus folder (has this rank finished?)"));
        }
        let expected = recorded_config(&FetchConfig { rank, ..config.clone() });
        if corpus.config != expected {
            return Err(bad("written with another input or other options than this merge's"));
        }
        let failures = Manifest::load(dir.join(FAILURES_DIR))?;
        let stats: FetchStats = serde_json::from_value(corpus.stats.clone()).unwrap_or_default();
        rank_stats.input_pairs += stats.input_pairs;
        rank_stats.duplicate_input_keys += stats.duplicate_input_keys;
        rank_stats.bad_input_rows += stats.bad_input_rows;
        ranks.push((dir, corpus, failures));
    }
    let (mut sink, resume) = match Sink::open(&config.out, &merged_config(config), config.shard_rows)? {
        Opened::Complete(stats) => {
            tracing::info!(out = %config.out.display(), "merged corpus already complete; nothing to do");
            let mut stats: FetchStats = serde_json::from_value(stats).unwrap_or_default();
            stats.skipped = true;
            return Ok(stats);
        }
        Opened::Ready(sink, resume) => (sink, resume),
    };
    let done = resume.done_keys;
    let mut images: HashSet<u64> = resume.image_hashes;
    sink.run_stats = serde_json::json!({
        "input_pairs": rank_stats.input_pairs,
        "duplicate_input_keys": rank_stats.duplicate_input_keys,
        "bad_input_rows": rank_stats.bad_input_rows,
        "merged_ranks": world_size,
    });
    let mut resumed = 0u64;
    for (dir, corpus, failures) in &ranks {
        for path in corpus.shard_paths(dir) {
            for row in RecordReader::<CorpusImage>::open(&path, BATCH)? {
                let row = row?;
                if done.contains(&key_hash(&row.candidate.key)) {
                    resumed += 1;
                } else if images.insert(row.image_xxh3) {
                    sink.push(Outcome::Image(row))?;
                } else {
                    let message = format!(
                        "duplicate_image: the same image bytes (xxh3 {:016x}) as another pair's (an earlier rank's)",
                        row.image_xxh3
                    );
                    sink.push(Outcome::Failed(Failure {
                        candidate: row.candidate,
                        query_ids: row.query_ids,
                        status: "duplicate".into(),
                        error_message: message,
                        http_status: None,
                        fetched_at_us: row.fetched_at_us,
                    }))?;
                }
            }
        }
        for path in failures.shard_paths(dir.join(FAILURES_DIR)) {
            for row in RecordReader::<Failure>::open(&path, BATCH)? {
                let row = row?;
                if done.contains(&key_hash(&row.candidate.key)) {
                    resumed += 1;
                } else {
                    sink.push(Outcome::Failed(row))?;
                }
            }
        }
    }
    let counts = sink.commit(true)?;
    let (corpus_shards, failure_shards) = sink.shard_counts();
    tracing::info!(out = %config.out.display(), ranks = world_size, rows = counts.corpus_rows, "merged the ranks");
    Ok(FetchStats {
        input_pairs: rank_stats.input_pairs,
        resumed,
        duplicate_input_keys: rank_stats.duplicate_input_keys,
        bad_input_rows: rank_stats.bad_input_rows,
        seconds: started.elapsed().as_secs_f64(),
        corpus_rows: counts.corpus_rows,
        failure_rows: counts.failure_rows,
        by_status: counts.by_status,
        by_error_kind: counts.by_error_kind,
        corpus_shards,
        failure_shards,
        ..FetchStats::default()
    })
}
