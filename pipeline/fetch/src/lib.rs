//! wit-fetch: download the images of image-text pairs, check and re-encode them, and write corpus
//! shards — every input pair ends up exactly once in the corpus or in the failures.
//!
//! One door: [`fetch`] with a [`FetchConfig`], returning [`FetchStats`]. Web access goes through
//! [`wit_net`] (safety, robots.txt, opt-outs, per-host politeness, retries); image rules live in
//! [`imaging`]; the folder layout and resume rules in [`output`].
//!
//! # Output folder
//! ```text
//! OUT/manifest.json                    kind `corpus`: shards, config (input, options), stats (counts
//!                                      per status and per error kind, bytes, seconds), complete
//! OUT/shard-NNNNN.parquet              CorpusImage rows (image bytes, sizes, xxh3 of the original)
//! OUT/failures/manifest.json           kind `failures`
//! OUT/failures/shard-NNNNN.parquet     Failure rows: status, `error_kind: message`, http_status
//! ```
//! Statuses: `success` (corpus rows); `failed_to_download` (timeout, connection, http_status,
//! too_large, too_many_redirects, invalid_url, unsupported_scheme, circuit_open),
//! `refused_private`, `robots_disallowed`, `opted_out`, `failed_to_decode` (not_an_image,
//! too_many_pixels, decode, decoder_panic), `filtered` (too_small, aspect_ratio),
//! `failed_to_resize` (resize, encode) and `duplicate` (the same image bytes as a corpus row).
//!
//! # Resume
//! Rerunning the same command continues: committed shards' keys are skipped, unlisted shards and
//! temporary files of a killed run are removed.
//!
//! # Ranks
//! With `world_size` > 1 each rank takes the pairs whose key hash falls to it: [`Phase::Fetch`]
//! writes `OUT/ranks/rank-RRRRR-of-NNNNN/`, then [`Phase::Merge`] once makes `OUT` one corpus
//! (see [`merge`]). [`Phase::All`] with `world_size` > 1 writes the rank's share straight into
//! `OUT` (a folder per rank, no merge).

pub mod error;
pub mod imaging;
pub mod input;
pub mod merge;
pub mod output;
mod stage;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use error::{FetchStageError, Result};
pub use imaging::{ImageOptions, OutputFormat, ResizeMode};
pub use input::{FetchInput, InputPair};
pub use merge::{rank_dir, RANKS_DIR};
pub use wit_net::NetOptions;

/// Everything a fetch run needs.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub input: FetchInput,
    pub out: PathBuf,
    pub net: NetOptions,
    pub image: ImageOptions,
    /// Downloads in flight at once.
    pub concurrency: usize,
    /// Threads for decoding and encoding (and the async runtime); 0 = one per core.
    pub threads: usize,
    /// Rows per corpus (and failures) shard; a `kill -9` loses at most the open shards.
    pub shard_rows: u64,
    pub rank: usize,
    pub world_size: usize,
    pub phase: Phase,
}

/// Which part of a (possibly multi-rank) run to do; see the crate docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// Fetch this rank's pairs into `OUT` itself.
    #[default]
    All,
    /// Fetch this rank's pairs into `OUT/ranks/rank-RRRRR-of-NNNNN/`.
    Fetch,
    /// Merge every rank's folder into `OUT` (once, after all ranks).
    Merge,
}

impl FetchConfig {
    pub fn new(input: FetchInput, out: PathBuf) -> Self {
        FetchConfig {
            input,
            out,
            net: NetOptions {
                per_host_concurrency: 4,
                per_host_min_delay: std::time::Duration::ZERO,
                ..NetOptions::default()
            },
            image: ImageOptions::default(),
            concurrency: 128,
            threads: 0,
            shard_rows: 10_000,
            rank: 0,
            world_size: 1,
            phase: Phase::All,
        }
    }
}

/// What a run did. Row counts cover everything committed in the output folder (earlier
/// interrupted runs included); `fetched`, `bytes_downloaded` and `seconds` cover this run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FetchStats {
    /// Input pairs of this rank read by this run.
    pub input_pairs: u64,
    /// Pairs already in committed shards (resumed).
    pub resumed: u64,
    /// Pairs whose key appeared earlier in the input (skipped; the first one counts).
    pub duplicate_input_keys: u64,
    /// URL-list rows that could not be used (no URL, wrong column count), logged with their row.
    pub bad_input_rows: u64,
    /// Pairs downloaded (or attempted) by this run.
    pub fetched: u64,
    pub bytes_downloaded: u64,
    pub seconds: f64,
    pub corpus_rows: u64,
    pub failure_rows: u64,
    /// Committed rows per status (`success` for corpus rows).
    pub by_status: BTreeMap<String, u64>,
    /// Committed failure rows per error kind.
    pub by_error_kind: BTreeMap<String, u64>,
    pub corpus_shards: u64,
    pub failure_shards: u64,
    /// The output was already complete with this configuration: nothing was done.
    #[serde(default)]
    pub skipped: bool,
}

/// Runs the fetch stage as `config` says.
pub fn fetch(config: &FetchConfig) -> Result<FetchStats> {
    match config.phase {
        Phase::All => stage::run(config),
        Phase::Fetch => {
            let out = rank_dir(&config.out, config.rank, config.world_size);
            stage::run(&FetchConfig { out, phase: Phase::All, ..config.clone() })
        }
        Phase::Merge => merge::merge(config),
    }
}
