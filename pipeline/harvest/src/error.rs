//! The harvest stage's typed errors; each names the file and, where there is one, the byte offset
//! or row.

use std::path::PathBuf;

use wit_contract::ContractError;

#[derive(Debug, thiserror::Error)]
pub enum HarvestError {
    #[error(transparent)]
    Contract(#[from] ContractError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Input that cannot be read on, at a byte offset of the (decompressed) stream.
    #[error("{path}, at byte {offset}: {problem}")]
    AtOffset { path: PathBuf, offset: u64, problem: String },
    #[error("{path}: {problem}")]
    Input { path: PathBuf, problem: String },
    #[error(transparent)]
    UrlList(#[from] crate::url_list::UrlListError),
    #[error("invalid configuration: {0}")]
    Config(String),
    /// SIGINT/SIGTERM: the inputs finished before it were committed; rerunning resumes.
    #[error(transparent)]
    Interrupted(#[from] wit_contract::Interrupted),
}

impl HarvestError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        HarvestError::Io { path: path.into(), source }
    }

    pub(crate) fn input(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        HarvestError::Input { path: path.into(), problem: problem.into() }
    }
}

pub type Result<T, E = HarvestError> = std::result::Result<T, E>;
