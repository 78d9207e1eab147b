//! The fetch stage's typed errors (the run's, not a pair's: pairs that fail become failure rows).

use std::path::PathBuf;

use wit_contract::ContractError;

#[derive(Debug, thiserror::Error)]
pub enum FetchStageError {
    #[error(transparent)]
    Contract(#[from] ContractError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {problem}")]
    Input { path: PathBuf, problem: String },
    #[error("{path}: {problem}")]
    Output { path: PathBuf, problem: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Client(#[from] wit_net::client::ClientBuildError),
    #[error("the writer stopped: {0}")]
    Writer(String),
    /// SIGINT/SIGTERM: the finished pairs were committed; rerunning resumes.
    #[error(transparent)]
    Interrupted(#[from] wit_contract::Interrupted),
}

impl FetchStageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FetchStageError::Io { path: path.into(), source }
    }
}

pub type Result<T, E = FetchStageError> = std::result::Result<T, E>;
