//! wit-curate: which candidate texts match which dictionary queries, and which matched pairs are
//! kept so that no query dominates (the CLIP/WIT balancing, MetaCLIP-exact when asked).
//!
//! One door: [`curate`] with a [`CurateConfig`]. [`Matcher`] (the automaton; rules in [`matcher`])
//! and the balancing rules ([`balance`]) are public for the benchmark and for reading.
//!
//! # Output folder
//! ```text
//! OUT/_manifest.json                      kind `curated`: shards, config (cap, effective cap, mode…), seed
//! OUT/data/shard-NNNNN.parquet            kept pairs of candidate shard NNNNN (CuratedPair rows)
//! OUT/_query_counts/_manifest.json        kind `query_counts`
//! OUT/_query_counts/data/query_counts.parquet  every dictionary query: id, query, matched, kept
//! OUT/_counts/…                           per-rank files of a multi-rank run (below)
//! ```
//! `matched` is the number of candidates in the whole pool that match the query; `kept` the number
//! of written pairs holding it (with `--oversample`, counted at the effective cap). The curated
//! manifest's `config.query_counts` names the table's path relative to `OUT`.
//!
//! # Ranks
//! Balancing needs every query's count over the whole pool, so a multi-rank run has explicit
//! steps ([`steps`] declares them for the planner); a one-machine run ([`Phase::All`]) does them
//! all in one process:
//! 1. [`Phase::Count`] on each rank: `OUT/_counts/matched-RRRRR-of-NNNNN.parquet`;
//! 2. strict only: [`Phase::Order`] on each rank writes its sorted claims, then [`Phase::Strict`]
//!    once runs the greedy over them (see [`strict`]: 32 bytes per text and head query, one
//!    counter per query, never a row);
//! 3. [`Phase::Select`] on each rank: sums all N count files, writes its shards (every N-th
//!    candidate shard, named by the candidate shard's index) and
//!    `OUT/_counts/{kept,shards}-RRRRR-of-NNNNN.{parquet,json}`;
//! 4. [`Phase::Merge`] once: writes `OUT/_manifest.json` and the per-query table (per-query and
//!    per-rank metadata only).
//!
//! Keep decisions are a seeded hash of the pair key (soft) or one global order (strict), so ranks
//! agree with a one-process run.

pub mod balance;
pub mod error;
pub mod matcher;
mod small_sort;
mod stage;
pub mod strict;
mod token_trie;

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
    /// Strict cap: write this rank's sorted claims.
    Order,
    /// Strict cap: the greedy over every rank's claims (one process).
    Strict,
    Select,
    Merge,
}

/// The steps of a curate run at world size `world_size`, for the build planner.
pub fn steps(world_size: usize, strict_cap: bool) -> Vec<wit_ranks::StepDecl> {
    use wit_ranks::names::{marker_relative, marker_template};
    use wit_ranks::steps::DoneMark;
    use wit_ranks::{Reads, StepDecl, Width};
    if world_size == 1 {
        return wit_ranks::steps::one_process("match, count and select");
    }
    let mut steps = vec![StepDecl {
        phase: Some("count"),
        width: Width::Ranks,
        reads: Reads::Rows,
        done: DoneMark::File("_counts/matched-{rank}.parquet".into()),
        what: "match the rank's shards; count matches per query",
    }];
    if strict_cap {
        steps.push(StepDecl {
            phase: Some("order"),
            width: Width::Ranks,
            reads: Reads::Rows,
            done: DoneMark::File(marker_template(strict::STEP_ORDER)),
            what: "write the rank's claims (text, head query) in the strict order",
        });
        steps.push(StepDecl {
            phase: Some("strict"),
            width: Width::One,
            reads: Reads::Entries,
            done: DoneMark::File(marker_relative(strict::STEP_STRICT, None)),
            what: "the greedy over every rank's sorted claims (32 B per claim, one counter per query)",
        });
    }
    steps.push(StepDecl {
        phase: Some("select"),
        width: Width::Ranks,
        reads: Reads::Rows,
        done: DoneMark::File("_counts/shards-{rank}.json".into()),
        what: "keep the rank's pairs; write its shards",
    });
    steps.push(StepDecl {
        phase: Some("merge"),
        width: Width::One,
        reads: Reads::Metadata,
        done: DoneMark::Manifest(String::new()),
        what: "list every rank's shards; sum per-query tables",
    });
    steps
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
    /// Memory for the strict pass's sorts (bytes); beyond it they spill sorted runs to disk.
    pub memory_budget: u64,
    /// The build's takedowns (`wit remove`): kept pairs it blocks are left out, counted.
    pub blocklist: std::sync::Arc<wit_contract::Blocklist>,
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
            memory_budget: wit_ranks::DEFAULT_MEMORY_BUDGET,
            blocklist: Default::default(),
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
    /// Pairs the rules kept that the build's blocklist left out.
    #[serde(default)]
    pub blocklisted: u64,
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
