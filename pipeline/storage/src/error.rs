//! The errors of wit-storage: each names the URL or local path it concerns.

/// Something went wrong reading or writing a location.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Path(#[from] wit_contract::PathError),
    /// A string that is neither a local path nor a URL wit can use.
    #[error("{url}: {reason}")]
    BadUrl { url: String, reason: String },
    /// The object store refused or failed a request.
    #[error("{url}: {source}")]
    Store {
        url: String,
        #[source]
        source: object_store::Error,
    },
    /// Nothing at an input URL (neither an object, nor a folder with a manifest, nor objects under it).
    #[error("{url}: not found (no object, no _manifest.json, no objects under it)")]
    NotFound { url: String },
    /// A local file of the staging or cache folder.
    /// A manifest that cannot be read, or one that lists a file the store does not hold.
    #[error("{url}: {reason}")]
    Manifest { url: String, reason: String },
}

impl StorageError {
    pub(crate) fn store(url: impl Into<String>, source: object_store::Error) -> Self {
        StorageError::Store { url: url.into(), source }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
