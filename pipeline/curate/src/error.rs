//! The curate stage's typed errors; each names the file (and row, where there is one).

use std::path::PathBuf;

use wit_contract::ContractError;

#[derive(Debug, thiserror::Error)]
pub enum CurateError {
    #[error(transparent)]
    Path(#[from] wit_contract::PathError),
    #[error(transparent)]
    Contract(#[from] ContractError),
    #[error("{path}, row {row}: {problem}")]
    Row { path: PathBuf, row: u64, problem: String },
    #[error("the dictionary holds more than 2^32 queries")]
    TooManyQueries,
    #[error("building the automaton: {0}")]
    Automaton(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{path}: {problem}")]
    Counts { path: PathBuf, problem: String },
}

pub type Result<T, E = CurateError> = std::result::Result<T, E>;
