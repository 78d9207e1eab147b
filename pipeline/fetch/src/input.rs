//! What fetch reads: a curated folder or a candidates folder, as a stream of pairs.
//!
//! URL lists (csv, tsv, jsonl, parquet) will come through `wit_harvest::url_list` as another
//! [`FetchInput`] variant; the stage only needs an iterator of [`InputPair`]s.

use std::path::{Path, PathBuf};

use wit_contract::{Candidate, CuratedPair, Manifest, RecordKind, RecordReader};

use crate::error::{FetchStageError, Result};

/// One pair to fetch.
#[derive(Debug, Clone)]
pub struct InputPair {
    pub candidate: Candidate,
    pub query_ids: Vec<u32>,
}

/// The folder fetch reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchInput {
    /// `wit curate` output (manifest kind `curated`, `CuratedPair` rows).
    Curated(PathBuf),
    /// `wit harvest` output (manifest kind `candidates`, `Candidate` rows).
    Candidates(PathBuf),
}

impl FetchInput {
    /// Looks at the folder's manifest to tell which input it is.
    pub fn from_folder(path: &Path) -> Result<Self> {
        let manifest = Manifest::load(path)?;
        if !manifest.complete {
            return Err(FetchStageError::Input {
                path: path.to_path_buf(),
                problem: "the folder is incomplete (its manifest says so); finish the stage that writes it".into(),
            });
        }
        match manifest.kind {
            RecordKind::Curated => Ok(FetchInput::Curated(path.to_path_buf())),
            RecordKind::Candidates => Ok(FetchInput::Candidates(path.to_path_buf())),
            other => Err(FetchStageError::Input {
                path: path.to_path_buf(),
                problem: format!("a {other} folder; fetch reads a curated or a candidates folder"),
            }),
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            FetchInput::Curated(path) | FetchInput::Candidates(path) => path,
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            FetchInput::Curated(_) => "curated",
            FetchInput::Candidates(_) => "candidates",
        }
    }

    /// Calls `each` on every pair in manifest order; stops early when it returns false.
    pub fn for_each(&self, mut each: impl FnMut(InputPair) -> bool) -> Result<()> {
        let dir = self.path();
        let manifest = Manifest::load(dir)?;
        for shard in manifest.shard_paths(dir) {
            match self {
                FetchInput::Curated(_) => {
                    for row in RecordReader::<CuratedPair>::open(&shard, 4096)? {
                        let row = row?;
                        if !each(InputPair { candidate: row.candidate, query_ids: row.query_ids }) {
                            return Ok(());
                        }
                    }
                }
                FetchInput::Candidates(_) => {
                    for row in RecordReader::<Candidate>::open(&shard, 4096)? {
                        if !each(InputPair { candidate: row?, query_ids: Vec::new() }) {
                            return Ok(());
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
