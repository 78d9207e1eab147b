//! The report stage's typed errors; each names the folder or file it is about.

use std::path::PathBuf;

use wit_contract::ContractError;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Contract(#[from] ContractError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An input folder that is not what the report needs (wrong kind, nothing to report on).
    #[error("{path}: {problem}")]
    Input { path: PathBuf, problem: String },
    /// A shard whose columns do not hold what the record kind promises.
    #[error("{path}, rows from {first_row}: {problem}")]
    Shard { path: PathBuf, first_row: u64, problem: String },
    #[error("{path}: JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl ReportError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ReportError::Io { path: path.into(), source }
    }

    pub(crate) fn input(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        ReportError::Input { path: path.into(), problem: problem.into() }
    }
}

pub type Result<T, E = ReportError> = std::result::Result<T, E>;
