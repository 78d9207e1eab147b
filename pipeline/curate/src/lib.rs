//! wit-curate: which candidate texts match which dictionary queries, and which matched pairs are
//! kept so that no query dominates (the CLIP/WIT balancing, MetaCLIP-exact when asked).
//!
//! One door: [`curate`] with a [`CurateConfig`]. [`Matcher`] (the automaton; rules in [`matcher`])
//! and the balancing rules ([`balance`]) are public for the benchmark and for reading.
//!
//! # Output folder
//! ```text
//! OUT/manifest.json                       kind `curated`: shards, config (cap, effective cap, mode…), seed
//! OUT/shard-NNNNN.parquet                 kept pairs of candidate shard NNNNN (CuratedPair rows)
//! OUT/query_counts/manifest.json          kind `query_counts`
//! OUT/query_counts/query_counts.parquet   every dictionary query: id, query, matched, kept
//! OUT/counts/…                            per-rank files of a multi-rank run (below)
//! ```
//! `matched` is the number of candidates in the whole pool that match the query; `kept` the number
//! of written pairs holding it (with `--oversample`, counted at the effective cap). The curated
//! manifest's `config.query_counts` names the table's path relative to `OUT`.
//!
//! # Ranks
//! Balancing needs every query's count over the whole pool, so a multi-rank run has three explicit
//! steps; a one-machine run ([`Phase::All`]) does all three in one process:
//! 1. [`Phase::Count`] on each rank: `OUT/counts/matched-RRRRR-of-NNNNN.parquet`;
//! 2. [`Phase::Select`] on each rank: sums all N count files, writes its shards (every N-th
//!    candidate shard, named by the candidate shard's index) and
//!    `OUT/counts/{kept,shards}-RRRRR-of-NNNNN.{parquet,json}`;
//! 3. [`Phase::Merge`] once: writes `OUT/manifest.json` and the per-query table.
//!
//! Keep decisions are a seeded hash of the pair key, so ranks agree with a one-process run. The
//! strict rule is one global order, so in strict mode every rank also reads the `key` and `caption`
//! columns of the whole pool (matching is cheap next to writing) and writes only its own shards.

pub mod balance;
pub mod error;
pub mod matcher;
mod stage;

use std::path::PathBuf;

pub use error::{CurateError, Result};
pub use matcher::{AutomatonKind, MatchMode, Matcher, MatcherOptions, Scratch};
pub use stage::{load_dictionary, Dictionary};

/// Which part of a (possibly multi-rank) run to do; see the crate docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Count, select and merge in one process (world size 1).
    #[default]
    All,
    Count,
    Select,
    Merge,
}

/// Everything a curate run needs.
#[derive(Debug, Clone)]
pub struct CurateConfig {
    /// A queries folder (manifest kind `queries`) or one Parquet file of QueryEntry rows.
    pub queries: PathBuf,
    /// A candidates folder (manifest kind `candidates`).
    pub candidates: PathBuf,
    pub out: PathBuf,
    pub mode: MatchMode,
    /// MetaCLIP's t: the per-query cap.
    pub cap: u64,
    /// Never let a query exceed the cap (see [`balance`]) instead of MetaCLIP's soft cap.
    pub strict: bool,
    /// Multiplies the cap the rules run with, so fetch can top queries up (≥ 1).
    pub oversample: f64,
    pub seed: u64,
    pub rank: usize,
    pub world_size: usize,
    pub phase: Phase,
    /// Worker threads; 0 = one per core.
    pub threads: usize,
}

impl Default for CurateConfig {
    fn default() -> Self {
        CurateConfig {
            queries: PathBuf::new(),
            candidates: PathBuf::new(),
            out: PathBuf::new(),
            mode: MatchMode::Metaclip,
            cap: 20_000,
            strict: false,
            oversample: 1.0,
            seed: 0,
            rank: 0,
            world_size: 1,
            phase: Phase::All,
            threads: 0,
        }
    }
}

/// What a run did (also stored as the curated manifest's `stats`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CurateStats {
    pub queries: u64,
    /// Candidate rows read by this run (its rank's shards; the whole pool after a merge).
    pub candidates: u64,
    /// Candidates that matched at least one query.
    pub matched: u64,
    /// Pairs written.
    pub kept: u64,
    /// Queries with at least one match in the pool.
    pub queries_matched: u64,
    /// Queries whose kept count reached the effective cap.
    pub queries_at_cap: u64,
    pub shards: u64,
    /// The run found a complete output with the same config and did nothing.
    #[serde(default)]
    pub skipped: bool,
}

/// Runs the curate stage (or one phase of it) as `config` says.
pub fn curate(config: &CurateConfig) -> Result<CurateStats> {
    stage::run(config)
}
