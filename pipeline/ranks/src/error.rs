//! Errors of the rank machinery: each names the file it is about.

#[derive(Debug, thiserror::Error)]
pub enum RanksError {
    #[error(transparent)]
    Path(#[from] wit_contract::PathError),
    #[error(transparent)]
    Contract(#[from] wit_contract::ContractError),
}

pub type Result<T, E = RanksError> = std::result::Result<T, E>;
