//! The typed errors of the data contract, and [`PathError`], the error every crate of wit uses for
//! "this file could not be read or written, or is not what it should be". Each error names the file
//! (and where it helps, the row or column) so a user can find the bad input.

use std::io;
use std::path::{Path, PathBuf};

/// A file or folder that could not be read or written (the I/O error), or whose content is not what
/// it should be (the problem found). Every stage's error wraps it with `#[from]`, so a stage writes
/// `fs::read(&path).at_path(&path)?` or `return Err(PathError::input(&path, "…").into())`.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {problem}")]
    Input { path: PathBuf, problem: String },
}

impl PathError {
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        PathError::Io { path: path.as_ref().to_path_buf(), source }
    }

    pub fn input(path: impl AsRef<Path>, problem: impl Into<String>) -> Self {
        PathError::Input { path: path.as_ref().to_path_buf(), problem: problem.into() }
    }

    /// The file or folder the error is about.
    pub fn path(&self) -> &Path {
        match self {
            PathError::Io { path, .. } | PathError::Input { path, .. } => path,
        }
    }

    /// The kind of the I/O error, for callers that treat e.g. "not found" as an answer.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            PathError::Io { source, .. } => Some(source.kind()),
            PathError::Input { .. } => None,
        }
    }
}

/// Names the path an I/O result is about: `std::fs::read(&p).at_path(&p)?`.
pub trait AtPath<T> {
    fn at_path(self, path: impl AsRef<Path>) -> Result<T, PathError>;
}

impl<T> AtPath<T> for Result<T, io::Error> {
    fn at_path(self, path: impl AsRef<Path>) -> Result<T, PathError> {
        self.map_err(|source| PathError::io(path, source))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("{path}: Parquet: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("Arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A record batch does not have the shape a record kind needs.
    #[error("column `{column}`: {problem}")]
    Column { column: String, problem: String },
    /// A row of a record batch holds a value the record kind forbids (a null in a required column).
    #[error("row {row}, column `{column}`: {problem}")]
    Value { row: usize, column: String, problem: String },
    /// A batch-level error inside a given shard, starting at a given row of that shard.
    #[error("{path}, rows from {first_row}: {source}")]
    InShard {
        path: PathBuf,
        first_row: u64,
        #[source]
        source: Box<ContractError>,
    },
    #[error("{path}: manifest: {problem}")]
    Manifest { path: PathBuf, problem: String },
}

impl ContractError {
    pub(crate) fn parquet(path: impl Into<PathBuf>, source: parquet::errors::ParquetError) -> Self {
        ContractError::Parquet { path: path.into(), source }
    }

    pub(crate) fn column(column: &str, problem: impl Into<String>) -> Self {
        ContractError::Column { column: column.to_owned(), problem: problem.into() }
    }
}

pub type Result<T, E = ContractError> = std::result::Result<T, E>;

/// An error and its causes on one line, `a: b: c`, as the binaries print it — leaving out a cause
/// whose text the line already holds (many errors repeat their source in their own message, and
/// a plain chain would print the same words two to four times).
pub fn error_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let text = e.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = e.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: String,
        #[source]
        source: Option<Box<Layer>>,
    }

    fn layer(text: &str, source: Option<Layer>) -> Layer {
        Layer { text: text.into(), source: source.map(Box::new) }
    }

    #[test]
    fn causes_are_joined_once() {
        let io = layer("connection refused", None);
        let store = layer("GET http://127.0.0.1:9/b failed: connection refused", Some(io));
        let top = layer("s3://b/build", Some(store));
        assert_eq!(error_line(&top), "s3://b/build: GET http://127.0.0.1:9/b failed: connection refused");
        let plain = layer("reading x.json", Some(layer("no such file", None)));
        assert_eq!(error_line(&plain), "reading x.json: no such file");
    }
}
