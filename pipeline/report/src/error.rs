//! The report stage's typed errors; each names the folder or file it is about.

use std::path::PathBuf;

use wit_contract::ContractError;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Path(#[from] wit_contract::PathError),
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// An input folder that is not what the report needs (wrong kind, nothing to report on).
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

pub type Result<T, E = ReportError> = std::result::Result<T, E>;
