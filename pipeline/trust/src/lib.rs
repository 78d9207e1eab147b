//! wit-trust: takedowns that stick.
//!
//! One door: [`remove`] with a [`RemoveRequest`] (what `wit remove BUILD --keys|--urls|--domains|
//! --image-hashes FILE` asks), returning [`RemoveStats`]. It
//! 1. reads the lists (one entry a line; `#` comments and blank lines skipped; a bad entry is an
//!    error naming the file and line) and appends the new ones to `BUILD/_blocklist.jsonl`
//!    ([`wit_contract::blocklist`]), which harvest, curate and fetch honour on later runs;
//! 2. turns image hashes into pair keys: the corpus rows whose `sha256`/`md5` match (read through a
//!    projection of three columns), so the pairs leave the candidates and curated folders too;
//! 3. rewrites, in every pair-shaped folder of the build (`candidates/`, `crawl/`, `curated/`,
//!    `corpus/`, `corpus/_failures/`), each shard holding a blocked pair: streamed batch by batch into
//!    `shard-N.dK.parquet` through the contract's atomic shard writer, then the manifest (and any
//!    rank manifest listing it) swaps the listing, then the old file goes. Shards without a match are
//!    not touched (byte-identical); the whole corpus is never in memory;
//! 4. recounts `kept` in the per-query table of a curated folder that lost rows (`matched` stays
//!    curate's and its manifest says so, module `query_counts`);
//! 5. regenerates the report when the build has one.
//!
//! Row counters in the manifests' stats (`pairs_out`, `kept`, `corpus_rows`, `failure_rows`,
//! `by_status`, `by_error_kind`) are lowered by what was removed, and `stats.takedowns` says how many
//! rows takedowns removed in all.

mod lists;
mod query_counts;
mod rewrite;

use std::path::{Path, PathBuf};

use wit_contract::layout::BLOCKLIST_FILE;
use wit_contract::{BlockEntry, Blocklist, ContractError, PathError};

pub use lists::read_list;
pub use query_counts::Recount;

/// What `wit remove` asks.
#[derive(Debug, Clone, Default)]
pub struct RemoveRequest {
    /// The build folder (`wit build`'s OUTPUT).
    pub build: PathBuf,
    /// Files of pair keys, image URLs, domains and image hashes (sha256 or md5, hex), one a line.
    pub keys: Option<PathBuf>,
    pub urls: Option<PathBuf>,
    pub domains: Option<PathBuf>,
    pub image_hashes: Option<PathBuf>,
    /// Regenerate `BUILD/report` when it exists.
    pub regenerate_report: bool,
}

/// What one folder lost.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct FolderRemoval {
    /// The folder, relative to the build.
    pub folder: String,
    pub rows_removed: u64,
    pub shards_rewritten: u64,
    pub shards_untouched: u64,
}

/// What a removal did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RemoveStats {
    /// Entries appended to the blocklist (not there before), keys derived from hashes included.
    pub new_entries: u64,
    /// Pair keys found in the corpus for the blocked image hashes.
    pub keys_from_hashes: u64,
    pub folders: Vec<FolderRemoval>,
    /// The per-query tables (`curated/_query_counts/`) whose `kept` was recounted.
    pub query_counts: Vec<Recount>,
    pub report_regenerated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error(transparent)]
    Contract(#[from] ContractError),
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("regenerating the report: {0}")]
    Report(#[from] wit_report::ReportError),
}

pub type Result<T, E = TrustError> = std::result::Result<T, E>;

/// The blocklist file of `build`.
pub fn blocklist_path(build: &Path) -> PathBuf {
    build.join(BLOCKLIST_FILE)
}

/// Runs a removal as `request` says; see the crate docs.
pub fn remove(request: &RemoveRequest) -> Result<RemoveStats> {
    let build = &request.build;
    if !build.is_dir() {
        return Err(PathError::input(build, "not a build folder").into());
    }
    let mut asked: Vec<BlockEntry> = Vec::new();
    for (path, kind) in [
        (&request.keys, lists::ListKind::Keys),
        (&request.urls, lists::ListKind::Urls),
        (&request.domains, lists::ListKind::Domains),
        (&request.image_hashes, lists::ListKind::ImageHashes),
    ] {
        if let Some(path) = path {
            asked.extend(read_list(path, kind)?);
        }
    }
    let path = blocklist_path(build);
    let mut blocklist = Blocklist::load(&path)?;
    let mut new_entries: Vec<BlockEntry> = asked.into_iter().filter(|e| blocklist.insert(e)).collect();
    let from_hashes = rewrite::keys_of_blocked_images(&build.join("corpus"), &blocklist)?;
    let keys_from_hashes = from_hashes.len() as u64;
    new_entries.extend(from_hashes.into_iter().filter(|e| blocklist.insert(e)));
    // The list first: a removal killed half-way is finished by running it again (or by the next build).
    Blocklist::append(&path, &new_entries)?;
    let mut stats = RemoveStats { new_entries: new_entries.len() as u64, keys_from_hashes, ..Default::default() };
    stats.folders = rewrite::remove_from_build(build, &blocklist)?;
    for folder in &stats.folders {
        stats.query_counts.extend(query_counts::recount(build, &build.join(&folder.folder))?);
    }
    let report = build.join("report");
    if request.regenerate_report && report.is_dir() {
        wit_report::report(&wit_report::ReportOptions { input: build.clone(), ..Default::default() })?;
        stats.report_regenerated = true;
    }
    Ok(stats)
}
