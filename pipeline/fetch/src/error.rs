//! The fetch stage's typed errors (the run's, not a pair's: pairs that fail become failure rows).

use std::path::PathBuf;

use wit_contract::ContractError;

#[derive(Debug, thiserror::Error)]
pub enum FetchStageError {
    #[error(transparent)]
    Path(#[from] wit_contract::PathError),
    #[error(transparent)]
    Contract(#[from] ContractError),
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

pub type Result<T, E = FetchStageError> = std::result::Result<T, E>;
