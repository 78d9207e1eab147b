//! The errors of planning, checking and submitting a build; each names the file, table or command.

use std::path::PathBuf;

/// What went wrong, and where.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Path(#[from] wit_contract::PathError),
    /// The build's TOML file cannot be read or parsed.
    #[error("{path}: {problem}")]
    Config { path: PathBuf, problem: String },
    /// A table or key of the configuration is wrong (`[stage] key: problem`).
    #[error("{place}: {problem}")]
    Table { place: String, problem: String },
    /// Reading or writing a file of the build (scripts, manifests).
    /// A manifest of the build folder cannot be read.
    #[error(transparent)]
    Contract(#[from] wit_contract::ContractError),
    /// The build folder's object store cannot be read (the error names the URL).
    #[error(transparent)]
    Storage(#[from] wit_storage::StorageError),
    /// A Slurm command (`sbatch`, `squeue`) failed or printed something unexpected.
    #[error("{command}: {problem}")]
    Slurm { command: String, problem: String },
    /// A step of a local build failed.
    #[error("step {step}: {problem}")]
    Step { step: String, problem: String },
}

impl BuildError {
    pub(crate) fn table(place: impl Into<String>, problem: impl Into<String>) -> Self {
        BuildError::Table { place: place.into(), problem: problem.into() }
    }
}

pub type Result<T, E = BuildError> = std::result::Result<T, E>;
