//! What fetch reads, as a stream of pairs: a curated folder, a candidates folder, or (as a drop-in
//! img2dataset replacement) a URL list — csv, tsv, jsonl, parquet or txt, optionally gzip — read by
//! `wit_harvest::url_list`, the one list reader harvest uses too. A list row's key is
//! [`wit_contract::pair_key`] of its URL and caption; rows the reader cannot use (no URL, wrong
//! column count) are counted and logged with their row number.

use std::path::{Path, PathBuf};
use wit_contract::PathError;

use wit_contract::{
    pair_key, recorded_path, Candidate, CuratedPair, ExtraColumn, ExtraValue, Manifest, Provenance, RecordKind,
    RecordReader,
};
use wit_harvest::url_list::{self, UrlListOptions};

use crate::error::Result;

/// One pair to fetch.
#[derive(Debug, Clone)]
pub struct InputPair {
    pub candidate: Candidate,
    pub query_ids: Vec<u32>,
    /// URL lists: the values of the kept columns (`keep_columns`), in that order.
    pub extra: Vec<ExtraValue>,
}

/// The folder fetch reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchInput {
    /// `wit curate` output (manifest kind `curated`, `CuratedPair` rows).
    Curated(PathBuf),
    /// `wit harvest` output (manifest kind `candidates`, `Candidate` rows).
    Candidates(PathBuf),
    /// A URL list file with its columns.
    UrlList { path: PathBuf, options: UrlListOptions },
}

impl FetchInput {
    /// A folder is read by its manifest ([`FetchInput::from_folder`]); a file is a URL list.
    pub fn from_path(path: &Path, list: &UrlListOptions) -> Result<Self> {
        if path.is_dir() {
            if !list.keep_columns.is_empty() {
                let problem = "a folder; --save-additional-columns keeps columns of a URL list file";
                return Err(PathError::input(path, problem).into());
            }
            return Self::from_folder(path);
        }
        if !path.is_file() {
            return Err(PathError::input(path, "no such file or folder").into());
        }
        Ok(FetchInput::UrlList { path: path.to_path_buf(), options: list.clone() })
    }

    /// Looks at the folder's manifest to tell which input it is.
    pub fn from_folder(path: &Path) -> Result<Self> {
        let manifest = Manifest::load(path)?;
        if !manifest.complete {
            return Err(PathError::input(
                path,
                "the folder is incomplete (its manifest says so); finish the stage that writes it",
            )
            .into());
        }
        match manifest.kind {
            RecordKind::Curated => Ok(FetchInput::Curated(path.to_path_buf())),
            RecordKind::Candidates => Ok(FetchInput::Candidates(path.to_path_buf())),
            other => {
                Err(PathError::input(path, format!("a {other} folder; fetch reads a curated or a candidates folder"))
                    .into())
            }
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            FetchInput::Curated(path) | FetchInput::Candidates(path) | FetchInput::UrlList { path, .. } => path,
        }
    }

    /// How many pairs the input holds, when that is cheap to know: a folder's manifest total, or
    /// the lines of an uncompressed text list less its header (for progress; None otherwise).
    pub fn size_hint(&self) -> Option<u64> {
        match self {
            FetchInput::Curated(dir) | FetchInput::Candidates(dir) => Manifest::load(dir).ok().map(|m| m.total_rows()),
            FetchInput::UrlList { path, .. } => {
                let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
                let text = [".csv", ".tsv", ".txt", ".jsonl"].iter().any(|ext| name.ends_with(ext));
                if !text {
                    return None;
                }
                let header = u64::from(!name.ends_with(".txt") && !name.ends_with(".jsonl"));
                count_lines(path).ok().map(|lines| lines.saturating_sub(header))
            }
        }
    }

    /// The URL list's kept columns with their types (empty for folders); a kept column the list
    /// lacks is an error naming the file.
    pub fn extra_columns(&self) -> Result<Vec<ExtraColumn>> {
        match self {
            FetchInput::UrlList { path, options } if !options.keep_columns.is_empty() => {
                let list = url_list::open(path, options).map_err(|e| PathError::input(path, e.to_string()))?;
                Ok(list.kept_columns().to_vec())
            }
            _ => Ok(Vec::new()),
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            FetchInput::Curated(_) => "curated",
            FetchInput::Candidates(_) => "candidates",
            FetchInput::UrlList { .. } => "url_list",
        }
    }

    /// Calls `each` on every pair in input order; stops early when it returns false. Returns the
    /// number of URL-list rows skipped as unusable.
    pub fn for_each(&self, mut each: impl FnMut(InputPair) -> bool) -> Result<u64> {
        if let FetchInput::UrlList { path, options } = self {
            return for_each_list_row(path, options, each);
        }
        let dir = self.path();
        let manifest = Manifest::load(dir)?;
        for shard in manifest.shard_paths(dir) {
            match self {
                FetchInput::Curated(_) => {
                    for row in RecordReader::<CuratedPair>::open(&shard, 4096)? {
                        let row = row?;
                        if !each(InputPair { candidate: row.candidate, query_ids: row.query_ids, extra: Vec::new() }) {
                            return Ok(0);
                        }
                    }
                }
                FetchInput::Candidates(_) => {
                    for row in RecordReader::<Candidate>::open(&shard, 4096)? {
                        if !each(InputPair { candidate: row?, query_ids: Vec::new(), extra: Vec::new() }) {
                            return Ok(0);
                        }
                    }
                }
                FetchInput::UrlList { .. } => unreachable!("URL lists return above"),
            }
        }
        Ok(0)
    }
}

fn for_each_list_row(path: &Path, options: &UrlListOptions, mut each: impl FnMut(InputPair) -> bool) -> Result<u64> {
    let input_error = |e: url_list::UrlListError| PathError::input(path, e.to_string());
    let mut bad_rows = 0u64;
    for row in url_list::open(path, options).map_err(input_error)? {
        let row = match row {
            Ok(row) => row,
            Err(e) if e.is_row_error() => {
                tracing::warn!("skipping a URL-list row: {e}");
                bad_rows += 1;
                continue;
            }
            Err(e) => return Err(input_error(e).into()),
        };
        let caption = row.caption.unwrap_or_default();
        let candidate = Candidate {
            key: pair_key(&row.url, &caption),
            url: row.url,
            caption,
            page_url: None,
            source: "url_list".into(),
            lang: None,
            lang_conf: None,
            provenance: Provenance { file: Some(recorded_path(path)), row: Some(row.row), ..Default::default() },
        };
        if !each(InputPair { candidate, query_ids: Vec::new(), extra: row.kept }) {
            break;
        }
    }
    Ok(bad_rows)
}

/// Lines of a file (a last line without a newline counts), read in 1 MiB blocks.
fn count_lines(path: &Path) -> std::io::Result<u64> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut buffer = vec![0u8; 1 << 20];
    let (mut lines, mut last) = (0u64, b'\n');
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        lines += buffer[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        last = buffer[n - 1];
    }
    Ok(lines + u64::from(last != b'\n'))
}
