//! Completion markers: a rank of a step is done when `_steps/STEP-RRRRR-of-NNNNN.json` exists and
//! holds the configuration it was run with. A rerun with the same configuration skips the step
//! (reading its stats back); with another configuration the marker is not its own and the step
//! runs again. Markers are written atomically, last, after everything the step wrote.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wit_contract::write_file_atomically;

use crate::error::Result;
use wit_contract::{AtPath, PathError};

/// The contents of a completion marker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMarker {
    pub step: String,
    pub rank: usize,
    pub world_size: usize,
    /// The configuration that decides the step's output.
    pub config: serde_json::Value,
    /// The step's stats.
    pub stats: serde_json::Value,
    pub finished_at: String,
}

impl StepMarker {
    pub fn new(
        step: &str,
        rank: usize,
        world_size: usize,
        config: serde_json::Value,
        stats: serde_json::Value,
    ) -> Self {
        StepMarker { step: step.to_string(), rank, world_size, config, stats, finished_at: wit_contract::now_rfc3339() }
    }

    /// Writes the marker atomically (creating `_steps/`).
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).at_path(dir)?;
        }
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| PathError::input(path, e.to_string()))?;
        write_file_atomically(path, &bytes)?;
        Ok(())
    }

    /// The marker at `path`, if there is one; a marker that does not parse is an error naming it.
    pub fn load(path: &Path) -> Result<Option<StepMarker>> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| PathError::input(path, format!("not a step marker: {e}")))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PathError::io(path, e).into()),
        }
    }

    /// The marker at `path` when it records `config`: the step is done and may be skipped.
    pub fn done_with(path: &Path, config: &serde_json::Value) -> Result<Option<StepMarker>> {
        Ok(Self::load(path)?.filter(|marker| marker.config == *config))
    }
}

/// Removes a marker (before a step redoes work its old marker vouched for).
pub fn clear(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(PathError::io(path, e).into()),
    }
}

/// Every marker path of a wave: the ranks of `step` whose marker is missing or has another config.
pub fn missing(out: &Path, step: &str, world_size: usize, config: &serde_json::Value) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    for rank in 0..world_size {
        let path = crate::RankOf::new(rank, world_size).marker(out, step);
        if StepMarker::done_with(&path, config)?.is_none() {
            missing.push(path);
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_skips_only_its_own_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = crate::RankOf::new(0, 2).marker(dir.path(), "dedup");
        let config = serde_json::json!({"a": 1});
        assert!(StepMarker::done_with(&path, &config).unwrap().is_none());
        StepMarker::new("dedup", 0, 2, config.clone(), serde_json::json!({"rows": 3})).save(&path).unwrap();
        assert_eq!(StepMarker::done_with(&path, &config).unwrap().unwrap().stats["rows"], 3);
        assert!(StepMarker::done_with(&path, &serde_json::json!({"a": 2})).unwrap().is_none());
        assert_eq!(missing(dir.path(), "dedup", 2, &config).unwrap().len(), 1);
        std::fs::write(&path, b"{").unwrap();
        let err = StepMarker::load(&path).unwrap_err().to_string();
        assert!(err.contains("dedup-00000-of-00002.json"), "{err}");
    }
}
