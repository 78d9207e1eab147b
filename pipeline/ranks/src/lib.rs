//! wit-ranks: the rank machinery every stage shares, written once (as datatrove's executor does it
//! for every block) instead of once per stage.
//!
//! - [`names`]: how rank folders, bucket files, drop lists and completion markers are named — the
//!   planner, `wit status` and the stages all read the names from here.
//! - [`steps`]: what a stage declares about itself — its steps (phase, width, whether the step reads
//!   rows or only metadata, what marks a rank done); the build planner turns declarations into a plan.
//! - [`marker`]: completion markers (`OUT/_steps/STEP-RRRRR-of-NNNNN.json`) holding the step's
//!   configuration and stats: "already complete with the same config → skip" lives here.
//! - [`sweep`]: stale temporary files and shards no manifest lists, left by a killed run.
//! - [`stats`]: reading stats back from manifests and markers; a stats value that does not parse
//!   is an error naming the file, never silently zero.
//! - [`sort`]: the memory-budgeted external sort (`--memory-budget`): sorted runs spilled to disk
//!   and k-way merged, for every set or sort that can outgrow memory.
//! - [`shuffle`]: the partitioned merge (the MapReduce shuffle with files): each rank writes
//!   `(hash, location)` entries into B buckets by hash, bucket rank b finds the first location of
//!   every hash in bucket b of every rank, and writes what to drop back to each owning rank.
//!
//! The data layout a partitioned stage leaves in its output folder `OUT`:
//! ```text
//! OUT/_manifest.json                         the merged manifest: lists data/rank-R-of-N-shard-…
//! OUT/data/rank-RRRRR-of-NNNNN-shard-…       rank R's shards where it wrote them (never copied)
//! OUT/_ranks/rank-RRRRR-of-NNNNN/            rank R's own manifest (see wit_contract::layout)
//! OUT/_buckets/to-bucket-BBBBB-of-NNNNN/     (hash, location) entries from every rank for bucket B
//! OUT/_drops/to-rank-RRRRR-of-NNNNN/         locations bucket ranks found to be later duplicates
//! OUT/_steps/STEP-RRRRR-of-NNNNN.json        completion markers
//! ```
//! Every bookkeeping name starts with `_` (pyarrow, Spark, Hadoop and DuckDB's globs skip them), and
//! every per-rank part carries `RRRRR-of-NNNNN` of the rank that reads it, so a rank seeded from an
//! object store downloads only its own files (wit-storage's rank rule).

pub mod error;
pub mod marker;
pub mod names;
pub mod shuffle;
pub mod sort;
pub mod steps;
pub mod sweep;

pub use error::{RanksError, Result};
pub use marker::StepMarker;
pub use names::{rank_suffix, RankOf};
pub use sort::{Entry, ExternalSorter, SortRecord, Sorted, DEFAULT_MEMORY_BUDGET, MIN_MEMORY_BUDGET};
pub use steps::{Reads, StepDecl, Width};
