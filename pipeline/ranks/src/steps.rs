//! What a stage declares about its steps, for the planner: the phases it runs in order, how wide
//! each is, whether it reads rows or only metadata, and what marks a rank of it done.
//!
//! The planner (wit-plan) reads these declarations and spells no stage's phases, folders or
//! markers itself; a test there asserts that every one-process step of a multi-rank plan is a
//! metadata step, so no serial step reads every row.

/// How many processes run a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// One process per rank of the build's world size (`--rank R --world-size N`).
    Ranks,
    /// One process per bucket of the shuffle (`--rank B --world-size N`: bucket B of N).
    Buckets,
    /// One process.
    One,
}

/// What marks a rank of a step done, relative to the stage's output folder; `{rank}` is
/// `RRRRR-of-NNNNN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DoneMark {
    /// A folder (relative; "" for the output folder) whose manifest says `complete`.
    Manifest(String),
    /// A file written last (atomically): a marker under `_steps/` or a stage's own file.
    File(String),
    /// A marker (as `File`), and a folder whose manifest shows the rank's progress before it.
    Marker { file: String, folder: String },
}

/// What a step reads, which decides whether it may run as one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// Data rows (or input records): must run as a wave of ranks.
    Rows,
    /// Compact fixed-size entries per row (16–32 bytes: hashes, positions, claims), never the rows.
    Entries,
    /// Manifests, markers and per-rank or per-query tables: grows with ranks and queries, not rows.
    Metadata,
}

/// One step of a stage, as the stage declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDecl {
    /// `--phase` value; None for a one-process stage run (world size 1: the stage does it all).
    pub phase: Option<&'static str>,
    pub width: Width,
    pub reads: Reads,
    pub done: DoneMark,
    /// What the step does, for `--dry-run` and `wit status`.
    pub what: &'static str,
}

impl StepDecl {
    /// A serial step that reads rows: what the partitioned merges exist to avoid.
    pub fn is_serial_on_rows(&self) -> bool {
        self.width == Width::One && self.reads == Reads::Rows
    }
}

/// The one step of a stage at world size 1: one process doing all of it.
pub fn one_process(what: &'static str) -> Vec<StepDecl> {
    vec![StepDecl { phase: None, width: Width::One, reads: Reads::Rows, done: DoneMark::Manifest(String::new()), what }]
}

/// What a deduplicating stage's four steps are called and do (see [`dedup_waves`]).
pub struct DedupSteps {
    /// The rank phase (`harvest`, `fetch`) and the marker steps of its three waves.
    pub phase: &'static str,
    pub markers: [&'static str; 3],
    /// What the rank, dedup, apply and merge steps do.
    pub what: [&'static str; 4],
}

/// The steps of a stage whose merge deduplicates by hash (the shuffle of [`crate::shuffle`]):
/// the rank wave (which sends its entries), the bucket wave, the apply wave, and the merge that
/// lists the ranks' shards.
pub fn dedup_waves(steps: DedupSteps) -> Vec<StepDecl> {
    use crate::names::{marker_template, rank_template};
    let [send, dedup, apply] = steps.markers;
    let [rank_what, dedup_what, apply_what, merge_what] = steps.what;
    let step = |phase, width, reads, done, what| StepDecl { phase: Some(phase), width, reads, done, what };
    vec![
        step(
            steps.phase,
            Width::Ranks,
            Reads::Rows,
            DoneMark::Marker { file: marker_template(send), folder: rank_template() },
            rank_what,
        ),
        step("dedup", Width::Buckets, Reads::Entries, DoneMark::File(marker_template(dedup)), dedup_what),
        step("apply", Width::Ranks, Reads::Rows, DoneMark::File(marker_template(apply)), apply_what),
        step("merge", Width::One, Reads::Metadata, DoneMark::Manifest(String::new()), merge_what),
    ]
}
