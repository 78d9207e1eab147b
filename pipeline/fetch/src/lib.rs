//! wit-fetch: download the images of image-text pairs, check and re-encode them, and write corpus
//! shards — every input pair ends up exactly once in the corpus or in the failures.
//!
//! One door: [`fetch`] with a [`FetchConfig`], returning [`FetchStats`]. Web access goes through
//! [`wit_net`] (safety, robots.txt, opt-outs, per-host politeness, retries); image rules live in
//! [`imaging`]; the folder layout and resume rules in [`output`].
//!
//! # Output folder
//! ```text
//! OUT/_manifest.json                   kind `corpus`: shards, config (input, options), stats (counts
//!                                      per status and per error kind, bytes, seconds), complete
//! OUT/shard-NNNNN.parquet              AuditedImage rows (image bytes, sizes, xxh3, sha256 and md5 of
//!                                      the original, the opt-out audit: robots.txt, X-Robots-Tag)
//! OUT/_failures/_manifest.json         kind `failures`
//! OUT/_failures/data/shard-NNNNN.parquet  AuditedFailure rows: status, `error_kind: message`,
//!                                      http_status, the opt-out audit
//! OUT/_shard_stats/shard-NNNNN.json    one shard's stats (rows by status, bytes, seconds; also in
//!                                      OUT/_failures/_shard_stats/), summing to the manifest's totals
//! ```
//! A URL list's columns named in `--save-additional-columns` follow the corpus and failure rows'
//! own columns (Parquet lists keep each column's type; csv, tsv and jsonl give text), and
//! `--keep-exif` adds `exif` (the original's EXIF tags as a JSON object, null without) to corpus
//! rows; both manifests list these `extra_columns`.
//! Statuses: `success` (corpus rows); `failed_to_download` (timeout, connection, http_status,
//! too_large, too_many_redirects, invalid_url, unsupported_scheme, circuit_open),
//! `refused_private`, `robots_disallowed`, `opted_out`, `failed_to_decode` (not_an_image,
//! too_many_pixels, decode, decoder_panic), `filtered` (too_small, aspect_ratio),
//! `failed_to_resize` (resize, encode), `duplicate` (the same image bytes as a corpus row) and
//! `blocklisted` (the image's sha256 or md5 is on the build's takedown blocklist).
//!
//! # Resume
//! Rerunning the same command continues: committed shards' keys are skipped, unlisted shards and
//! temporary files of a killed run are removed.
//!
//! # Ranks
//! With `world_size` > 1 ([`steps`] declares them for the planner) each rank takes the pairs whose
//! key hash falls to it: [`Phase::Fetch`] writes `OUT/data/rank-RRRRR-of-NNNNN-shard-…` (manifest in
//! `OUT/_ranks/…`, failures in `OUT/_failures/`) and sends its image hashes to their buckets; [`Phase::Dedup`] finds the
//! later copies of each image per bucket; [`Phase::Apply`] moves them from the rank's corpus to its
//! failures; [`Phase::Merge`] lists every rank's shards in `OUT/_manifest.json` and
//! `OUT/_failures/_manifest.json` without reading or copying a row (see [`dedup`]). [`Phase::All`]
//! with `world_size` > 1 writes the rank's share straight into `OUT` (a folder per rank, no merge).

pub mod dedup;
pub mod error;
pub use wit_imaging as imaging;
pub mod input;
pub mod output;
pub mod shard_stats;
mod stage;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use dedup::{rank_dir, rank_failures_dir};
pub use error::{FetchStageError, Result};
pub use imaging::{ImageOptions, OutputFormat, ResizeMode};
pub use input::{FetchInput, InputPair};
pub use stage::recorded_config;
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
    /// Memory for the image-dedup set and sorts (bytes); beyond it they spill sorted runs to disk.
    pub memory_budget: u64,
    /// Set on SIGINT/SIGTERM: commit the finished pairs and return [`FetchStageError::Interrupted`].
    pub cancel: wit_contract::Cancel,
    /// Keep the original image's EXIF as a JSON column `exif` of corpus rows.
    pub keep_exif: bool,
    /// Which hashes of the original bytes to write (`sha256`, `md5` columns).
    pub compute_hash: ComputeHash,
    /// The build's takedowns (`wit remove`): input pairs it blocks are skipped (counted as
    /// `blocklisted`); an image whose sha256 or md5 it lists becomes a `blocklisted` failure.
    pub blocklist: std::sync::Arc<wit_contract::Blocklist>,
}

/// Which hashes of the original downloaded bytes fetch writes to the corpus (`sha256`, `md5`,
/// lower-case hex, like img2dataset's `--compute_hash`).
///
/// The default is sha256, as img2dataset's: on this machine (`bench_hash`, release, the
/// scikit-image samples) sha256 runs at about 1 GB/s (hardware SHA) and md5 at 0.45 GB/s, so both
/// cost 2.3 times sha256 alone; md5 is there for takedown lists that come as md5 (`both`). Whatever
/// is chosen, fetch computes every hash kind the build's blocklist lists to check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComputeHash {
    #[default]
    Sha256,
    Md5,
    Both,
    None,
}

impl ComputeHash {
    pub fn sha256(self) -> bool {
        matches!(self, ComputeHash::Sha256 | ComputeHash::Both)
    }

    pub fn md5(self) -> bool {
        matches!(self, ComputeHash::Md5 | ComputeHash::Both)
    }

    /// The hashes of `bytes` this choice asks for.
    pub fn hashes(self, bytes: &[u8]) -> wit_contract::ImageHashes {
        use wit_contract::trust::hex;
        wit_contract::ImageHashes {
            sha256: self.sha256().then(|| hex(&<sha2::Sha256 as sha2::Digest>::digest(bytes))),
            md5: self.md5().then(|| hex(&<md5::Md5 as md5::Digest>::digest(bytes))),
        }
    }
}

/// Which part of a (possibly multi-rank) run to do; see the crate docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// Fetch this rank's pairs into `OUT` itself.
    #[default]
    All,
    /// Fetch this rank's pairs into `OUT/data/rank-RRRRR-of-NNNNN-shard-…`; send its image hashes.
    Fetch,
    /// Bucket rank R: find the later copies of each image among bucket R of every rank.
    Dedup,
    /// Rank R: move the later copies the buckets found from its corpus to its failures.
    Apply,
    /// List every rank's shards in `OUT`'s manifests (once, after all ranks; reads no row).
    Merge,
}

/// The steps of a fetch at world size `world_size`, for the build planner.
pub fn steps(world_size: usize) -> Vec<wit_ranks::StepDecl> {
    use wit_ranks::steps::{dedup_waves, one_process, DedupSteps};
    if world_size == 1 {
        return one_process("fetch and deduplicate images");
    }
    dedup_waves(DedupSteps {
        phase: "fetch",
        markers: [dedup::STEP_SEND, dedup::STEP_DEDUP, dedup::STEP_APPLY],
        what: [
            "download the rank's pairs; send each image hash to its bucket",
            "find later copies of each image in one bucket (external sort)",
            "move the rank's later copies to its failures",
            "list every rank's shards in the corpus and failures manifests",
        ],
    })
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
            memory_budget: wit_ranks::DEFAULT_MEMORY_BUDGET,
            cancel: wit_contract::Cancel::never(),
            compute_hash: ComputeHash::default(),
            blocklist: Default::default(),
            keep_exif: false,
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
    /// Input pairs the build's blocklist leaves out (by key, URL or domain; not fetched, not listed).
    pub blocklisted: u64,
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
    let out = config.out.as_path();
    let me = wit_ranks::RankOf::new(config.rank, config.world_size);
    let merged = merged_config(config);
    let rank_config = |rank: usize| {
        stage::recorded_config(&FetchConfig { rank, out: rank_dir(out, rank, config.world_size), ..config.clone() })
    };
    match config.phase {
        Phase::All => {
            let mut stats = stage::run(config, &out.join(output::FAILURES_DIR))?;
            if config.world_size == 1 {
                let deduplicated = dedup::dedup_in_place(out, config.memory_budget)?;
                stats.corpus_rows = deduplicated.corpus_rows;
                stats.failure_rows = deduplicated.failure_rows;
                stats.by_status = deduplicated.by_status;
                stats.by_error_kind = deduplicated.by_error_kind;
            }
            Ok(stats)
        }
        Phase::Fetch => {
            let marker = me.marker(out, dedup::STEP_SEND);
            if wit_ranks::StepMarker::done_with(&marker, &merged).map_err(dedup::ranks_error)?.is_some() {
                let dir = me.dir(out);
                let mut stats = dedup::stats_of(&wit_contract::Manifest::load(&dir)?, &dir)?;
                stats.skipped = true;
                return Ok(stats);
            }
            let rank_out = rank_dir(out, config.rank, config.world_size);
            let failures = rank_failures_dir(out, config.rank, config.world_size);
            let stats = stage::run(&FetchConfig { out: rank_out, phase: Phase::All, ..config.clone() }, &failures)?;
            dedup::send_hashes(out, me, &merged)?;
            Ok(stats)
        }
        Phase::Dedup => dedup::dedup_bucket(out, me, &merged, config.memory_budget),
        Phase::Apply => dedup::apply(out, me, &merged, config.memory_budget),
        Phase::Merge => dedup::merge(out, config.world_size, &merged, rank_config),
    }
}

/// The configuration recorded in the merged manifests and the step markers: the ranks' own,
/// without the rank.
fn merged_config(config: &FetchConfig) -> serde_json::Value {
    let mut value = stage::recorded_config(config);
    value["rank"] = serde_json::Value::Null;
    value["merged_ranks"] = true.into();
    value
}
