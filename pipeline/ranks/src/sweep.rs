//! Sweeps of what a killed run leaves: temporary files, and shards the folder's manifest does not
//! list (written but never listed, or dropped from the listing but not yet deleted).

use std::collections::HashSet;
use std::path::Path;

use crate::error::{RanksError, Result};

/// Removes `shard-*.parquet` files of `dir` that are not in `listed` (file names), and temporary
/// files. Returns how many files it removed.
pub fn remove_unlisted_shards(dir: &Path, listed: &HashSet<&str>) -> Result<usize> {
    let mut removed = wit_contract::clean_stale_temp_files(dir)?;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(RanksError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| RanksError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_shard = name.starts_with("shard-") && name.ends_with(".parquet");
        if is_shard && !listed.contains(name.as_str()) {
            tracing::info!(file = %entry.path().display(), "removing a shard no manifest lists (interrupted run)");
            std::fs::remove_file(entry.path()).map_err(|e| RanksError::io(entry.path(), e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unlisted_shards_go() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["shard-00000.parquet", "shard-00001.parquet", "manifest.json"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let listed: HashSet<&str> = ["shard-00000.parquet"].into_iter().collect();
        assert_eq!(remove_unlisted_shards(dir.path(), &listed).unwrap(), 1);
        assert!(dir.path().join("shard-00000.parquet").exists() && dir.path().join("manifest.json").exists());
        assert!(!dir.path().join("shard-00001.parquet").exists());
    }
}
