//! Errors of the rank machinery: each names the file it is about.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RanksError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {problem}", path.display())]
    Input { path: PathBuf, problem: String },
    #[error(transparent)]
    Contract(#[from] wit_contract::ContractError),
}

impl RanksError {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        RanksError::Io { path: path.as_ref().to_path_buf(), source }
    }

    pub fn input(path: impl AsRef<Path>, problem: impl Into<String>) -> Self {
        RanksError::Input { path: path.as_ref().to_path_buf(), problem: problem.into() }
    }
}

pub type Result<T, E = RanksError> = std::result::Result<T, E>;
