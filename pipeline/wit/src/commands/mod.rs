//! One module per subcommand: each turns parsed flags into a call to its stage crate and prints
//! the outcome.

pub mod build;
pub mod curate;
pub mod decontaminate;
pub mod dedup;
pub mod demo_web;
pub mod export;
pub mod fetch;
pub mod harvest;
pub mod queries;
pub mod remove;
pub mod report;
pub mod schema;
pub mod status;
pub mod verify;

use clap::Args;
use tracing_subscriber::EnvFilter;
use wit_storage::{InputReads, Seed};

/// `--rank R --world-size N`: the flags of every stage that runs in ranks.
#[derive(Args, Debug, Clone, Copy)]
pub struct RankArgs {
    /// This process's rank, 0..world-size (a Slurm array task or Kubernetes job index).
    #[arg(long, default_value_t = 0)]
    pub rank: usize,
    /// Processes sharing the work; each takes a deterministic slice of the input.
    #[arg(long, default_value_t = 1)]
    pub world_size: usize,
}

impl RankArgs {
    /// What this rank downloads of a remote output: everything but other ranks' own files.
    pub fn this_rank(&self) -> Seed {
        Seed::Rank { rank: self.rank, world_size: self.world_size }
    }

    /// The inputs this rank reads: every world-size-th one.
    pub fn input_slice(&self) -> InputReads {
        InputReads::Slice { rank: self.rank, world_size: self.world_size }
    }
}

/// Plain log lines on stderr (colours only on a terminal, lifted around progress bars); `RUST_LOG`
/// overrides the level chosen by -q/-v. Progress: bars on a terminal, plain lines otherwise.
pub fn init_logging(quiet: bool, verbose: u8) {
    wit_contract::progress::configure(quiet);
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(wit_contract::progress::colour_logs())
        .with_writer(wit_contract::progress::LogWriter::default)
        .init();
}

/// The blocklist a `--blocklist FILE` flag names (empty without one; a missing file blocks nothing).
pub fn load_blocklist(path: Option<&std::path::Path>) -> anyhow::Result<std::sync::Arc<wit_contract::Blocklist>> {
    Ok(std::sync::Arc::new(match path {
        Some(path) => wit_contract::Blocklist::load(path)?,
        None => wit_contract::Blocklist::default(),
    }))
}
