//! The queries stage's typed errors; each names the file and, where there is one, the byte offset
//! or record.

use std::path::PathBuf;

use wit_contract::ContractError;

#[derive(Debug, thiserror::Error)]
pub enum QueriesError {
    #[error(transparent)]
    Path(#[from] wit_contract::PathError),
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// Damaged compressed data: `offset` is the compressed byte where decoding stopped.
    #[error("{path}: bz2 data error at compressed byte {offset} (stream starting at byte {stream_start}): {problem}")]
    Bz2 { path: PathBuf, offset: u64, stream_start: u64, problem: String },
    /// Malformed XML: `offset` is the byte of the decompressed XML (counted from `base`, the
    /// compressed byte where the decoded part starts) and `after` the last page read whole.
    #[error(
        "{path}: malformed XML at byte {offset} of the XML decoded from compressed byte {base} ({after}): {problem}"
    )]
    Xml { path: PathBuf, base: u64, offset: u64, after: String, problem: String },
    #[error("{path}, line {line}: {problem}")]
    Line { path: PathBuf, line: u64, problem: String },
    #[error("invalid configuration: {0}")]
    Config(String),
}

pub type Result<T, E = QueriesError> = std::result::Result<T, E>;
