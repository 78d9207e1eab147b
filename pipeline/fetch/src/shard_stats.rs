//! Each committed shard's own stats, img2dataset's `NNNNN_stats.json` in wit's layout:
//! `_shard_stats/<shard name less .parquet>.json` beside the stage folder's `data/` (see
//! `wit_contract::layout::shard_stats_path`; readers skip `_` names). Written when a shard is
//! finished, before the manifest lists it; rewritten when the dedup pass rewrites a shard; removed
//! with an unlisted shard on resume. So the files of the listed shards sum to the manifest's totals.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wit_contract::layout::{shard_stats_path, SHARD_STATS_DIR};
use wit_contract::{data_home, AtPath, Manifest, PathError, ShardInfo};

use crate::error::Result;
use crate::output::Counts;

/// The stats of one shard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardStats {
    /// The shard as its manifest lists it.
    pub file: String,
    pub rows: u64,
    /// Size of the Parquet file.
    pub bytes: u64,
    /// xxh3 of the Parquet file (as the manifest has it).
    pub xxh3: String,
    /// Rows per status (`success` for corpus rows).
    pub by_status: BTreeMap<String, u64>,
    /// Failure rows per error kind.
    pub by_error_kind: BTreeMap<String, u64>,
    /// Encoded image bytes in the shard (corpus shards).
    pub image_bytes: u64,
    /// When its first row was added and when it was committed (RFC 3339, UTC).
    pub started_at: String,
    pub finished_at: String,
    /// Seconds between the two.
    pub seconds: f64,
}

impl ShardStats {
    pub fn new(info: &ShardInfo, counts: &Counts, image_bytes: u64, started_at: String, seconds: f64) -> Self {
        ShardStats {
            file: info.file.clone(),
            rows: info.rows,
            bytes: info.bytes,
            xxh3: info.xxh3.clone(),
            by_status: counts.by_status.clone(),
            by_error_kind: counts.by_error_kind.clone(),
            image_bytes,
            started_at,
            finished_at: wit_contract::now_rfc3339(),
            seconds,
        }
    }

    /// Writes the stats of a shard of the series whose manifest is in `dir` (atomically).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = shard_stats_path(dir, &self.file);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).at_path(parent)?;
        }
        let json = serde_json::to_vec_pretty(self).unwrap_or_default();
        wit_contract::write_file_atomically(&path, &json)?;
        Ok(())
    }

    /// The stats of the shard listed as `file` in the manifest in `dir`; None when it has none
    /// (written before per-shard stats) or they do not parse.
    pub fn load(dir: &Path, file: &str) -> Option<ShardStats> {
        let bytes = fs::read(shard_stats_path(dir, file)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Removes the stats of shard `file` of the manifest in `dir` (absent is fine).
pub fn remove(dir: &Path, file: &str) -> Result<()> {
    let path = shard_stats_path(dir, file);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(PathError::io(&path, e).into()),
        _ => Ok(()),
    }
}

/// Removes the stats files of this series' shards that `manifest` (in `dir`) does not list: a run
/// killed between writing a shard's stats and listing the shard.
pub fn remove_unlisted(dir: &Path, manifest: &Manifest) -> Result<()> {
    let home = data_home(dir);
    let stats_dir: PathBuf = home.dir.parent().unwrap_or(dir).join(SHARD_STATS_DIR);
    let entries = match fs::read_dir(&stats_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(PathError::io(&stats_dir, e).into()),
    };
    for entry in entries {
        let entry = entry.at_path(&stats_dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".json") else { continue };
        let shard = format!("{stem}.parquet");
        if home.owns(&shard) && !manifest.has_shard(&format!("{}{shard}", home.listed)) {
            fs::remove_file(entry.path()).at_path(entry.path())?;
        }
    }
    Ok(())
}
