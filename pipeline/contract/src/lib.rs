//! wit-contract: the one data contract every stage of wit speaks.
//!
//! Stages talk through Parquet folders so each can be rerun, inspected with DuckDB or pyarrow, and
//! sharded across machines. This crate owns everything about those folders:
//!
//! - [`schema`]: the Arrow schema of each record kind (query dictionary, candidate pairs, curated
//!   pairs, corpus shards, fetch failures, per-query counts), column names following img2dataset where they overlap;
//! - [`records`]: the typed Rust rows of each kind and their conversion to and from record batches;
//! - [`writer`]: a Parquet shard writer that sizes row groups, compresses with zstd, writes under a
//!   temporary name and renames only when the file is complete;
//! - [`reader`]: streaming readers of record batches and of typed rows;
//! - [`extra`]: columns appended after a kind's own (a URL list's kept columns, `exif`);
//! - [`layout`]: where a stage folder keeps what (`_manifest.json`, `data/`, `_ranks/`, `_failures/`);
//! - [`manifest`]: the `_manifest.json` that says which shards are done (rows, bytes, xxh3), with the
//!   config, seed and tool version that made them, and the check that the folder still matches it;
//! - [`interrupt`]: the token stages check to stop cleanly on SIGINT/SIGTERM;
//! - [`progress`]: progress bars on a terminal, plain periodic lines elsewhere;
//! - [`origin`]: the names manifests record for inputs (the URL, not a machine's local copy);
//! - [`trust`]: the opt-out audit columns and the hashes of original bytes (corpus, failures).
//!
//! Readers trust only the manifest: a file that is not listed there is not part of the output.

pub mod blocklist;
pub mod error;
pub mod extra;
pub mod harvested;
pub mod interrupt;
pub mod layout;
pub mod manifest;
pub mod origin;
pub mod progress;
pub mod reader;
pub mod records;
pub mod schema;
pub mod trust;
pub mod writer;

mod columns;

pub use blocklist::{BlockEntry, BlockKind, Blocklist, QueryCountsTakedowns};
pub use error::{error_line, AtPath, ContractError, PathError};
pub use extra::{ExtraColumn, ExtraType, ExtraValue};
pub use harvested::{HarvestedCandidate, PairLanguage};
pub use interrupt::{Cancel, Interrupted, Signal};
pub use layout::{data_home, shard_path, DataHome, DATA_DIR, FAILURES_DIR, MANIFEST_FILE};
pub use manifest::{now_rfc3339, Manifest, ShardInfo, VerifyProblem};
pub use origin::{recorded_path, set_origin};
pub use reader::{read_records, ReadOptions, RecordReader, ShardReader};
pub use records::{
    Candidate, CorpusImage, CuratedPair, Failure, Provenance, QueryCount, QueryEntry, QuerySource, Record,
};
pub use schema::RecordKind;
pub use trust::{AuditedFailure, AuditedImage, ImageAudit, ImageHashes};
pub use writer::{
    clean_stale_temp_files, copy_kept_rows, shard_file_name, write_file_atomically, write_stage_folder, ShardWriter,
    WriterOptions,
};

/// The version of wit that wrote a file, recorded in every manifest.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// xxh3-64 of `bytes` as 16 lower-case hex digits, the form keys and checksums take in wit.
pub fn xxh3_hex(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

/// The key of an (image URL, text) pair: xxh3 of the URL, a NUL byte and the text, as hex.
///
/// The NUL keeps ("ab", "c") and ("a", "bc") apart. Harvest dedups on this key, curate seeds its
/// keep decision with it, and fetch resumes by it, so every stage agrees on what "the same pair" is.
pub fn pair_key(url: &str, text: &str) -> String {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(url.as_bytes());
    hasher.update(&[0]);
    hasher.update(text.as_bytes());
    format!("{:016x}", hasher.digest())
}
