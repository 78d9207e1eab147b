//! The harvest stage's typed errors; each names the file and, where there is one, the byte offset
//! or row.

use std::path::PathBuf;

use wit_contract::ContractError;

#[derive(Debug, thiserror::Error)]
pub enum HarvestError {
    #[error(transparent)]
    Path(#[from] wit_contract::PathError),
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// Input that cannot be read on, at a byte offset of the (decompressed) stream.
    #[error("{path}, at byte {offset}: {problem}")]
    AtOffset { path: PathBuf, offset: u64, problem: String },
    #[error(transparent)]
    UrlList(#[from] crate::url_list::UrlListError),
    #[error("invalid configuration: {0}")]
    Config(String),
    /// SIGINT/SIGTERM: the inputs finished before it were committed; rerunning resumes.
    #[error(transparent)]
    Interrupted(#[from] wit_contract::Interrupted),
}

pub type Result<T, E = HarvestError> = std::result::Result<T, E>;
