//! Errors of the near-duplicate stages, each naming the file it is about (wit_contract::PathError).

use std::path::Path;

use wit_contract::PathError;

#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error(transparent)]
    Contract(#[from] wit_contract::ContractError),
    #[error(transparent)]
    Ranks(#[from] wit_ranks::RanksError),
}

impl DedupError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        DedupError::Path(PathError::io(path, source))
    }

    pub fn input(path: &Path, problem: impl Into<String>) -> Self {
        DedupError::Path(PathError::input(path, problem))
    }
}

pub type Result<T> = std::result::Result<T, DedupError>;
