//! What the inputs are: folders expanded into their files (sorted), and each file's kind (WARC, WAT or
//! URL list) from its name, else from its first bytes.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{HarvestError, Result};
use wit_contract::{AtPath, PathError};
use wit_lists::{self as url_list, ListFormat};

/// What kind of file an input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputKind {
    /// WARC or WAT (both are WARC files; records decide what each one holds).
    Warc {
        wat: bool,
    },
    List(ListFormat),
}

impl InputKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            InputKind::Warc { wat: true } => "wat",
            InputKind::Warc { wat: false } => "warc",
            InputKind::List(format) => format.name(),
        }
    }
}

/// The kind of `path`, from its name, else from its first bytes.
pub(crate) fn detect_kind(path: &Path) -> Result<InputKind> {
    if let Some((format, _)) = url_list::format_from_name(path) {
        return Ok(InputKind::List(format));
    }
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    if stem.ends_with(".wat") {
        return Ok(InputKind::Warc { wat: true });
    }
    if stem.ends_with(".warc") || stem.ends_with(".wet") || stem.ends_with(".arc") {
        return Ok(InputKind::Warc { wat: false });
    }
    let mut head = Vec::new();
    let file = fs::File::open(path).at_path(path)?;
    let mut magic = Vec::new();
    (&file).take(2).read_to_end(&mut magic).at_path(path)?;
    let file = fs::File::open(path).at_path(path)?;
    let read = if magic == [0x1f, 0x8b] {
        flate2::read::MultiGzDecoder::new(file).take(512).read_to_end(&mut head)
    } else {
        file.take(512).read_to_end(&mut head)
    };
    read.at_path(path)?;
    let text = String::from_utf8_lossy(&head);
    if head.starts_with(b"WARC/") {
        return Ok(InputKind::Warc { wat: text.contains("application/json") });
    }
    if head.starts_with(b"PAR1") {
        return Ok(InputKind::List(ListFormat::Parquet));
    }
    if text.trim_start().starts_with('{') {
        return Ok(InputKind::List(ListFormat::Jsonl));
    }
    Err(PathError::input(
        path,
        "cannot tell the format: not WARC/WAT (name or content), nor a csv/tsv/jsonl/parquet/txt list by name",
    )
    .into())
}

/// The input files: files as given, folders as their (sorted, non-hidden) files.
pub(crate) fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        let meta = fs::metadata(input).at_path(input)?;
        if meta.is_dir() {
            let mut inside = Vec::new();
            for entry in fs::read_dir(input).at_path(input)? {
                let entry = entry.at_path(input)?;
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                if !hidden && entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                    inside.push(entry.path());
                }
            }
            inside.sort();
            files.extend(inside);
        } else {
            files.push(input.clone());
        }
    }
    if files.is_empty() {
        return Err(HarvestError::Config("no input files".into()));
    }
    Ok(files)
}
