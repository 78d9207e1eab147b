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
