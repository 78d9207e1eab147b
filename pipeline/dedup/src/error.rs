//! Errors of the near-duplicate stages, each naming the file it is about.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {problem}", path.display())]
    Input { path: PathBuf, problem: String },
    #[error(transparent)]
    Contract(#[from] wit_contract::ContractError),
    #[error(transparent)]
    Ranks(#[from] wit_ranks::RanksError),
}

impl DedupError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        DedupError::Io { path: path.to_path_buf(), source }
    }

    pub fn input(path: &Path, problem: impl Into<String>) -> Self {
        DedupError::Input { path: path.to_path_buf(), problem: problem.into() }
    }
}

pub type Result<T> = std::result::Result<T, DedupError>;
