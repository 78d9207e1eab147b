//! wit-plan: `wit build --config wit.toml` as a library. One door, [`plan`], turns a
//! configuration ([`BuildConfig`]: `output`, `world_size`, one table of flags per stage) into a
//! [`Plan`]: ordered [`Step`]s, each a `wit …` argument list run once or as N ranks, with the steps
//! it waits for. Executors run a plan: [`local::run_local`] (in order on this machine) and
//! [`slurm::submit`] (sbatch array jobs chained with `afterok`). [`progress`] reads how far a build
//! folder got, per step and rank (`wit status`).
//!
//! The output root is kept as a string and joined with `/`, so it may be an object-store URL.

pub mod config;
pub mod error;
pub mod local;
pub mod plan;
pub mod progress;
pub mod slurm;

pub use config::{BuildConfig, SlurmOptions, STAGES};
pub use error::{BuildError, Result};
pub use plan::{plan, rank_suffix, Done, Plan, Step};

#[cfg(test)]
mod tests;
