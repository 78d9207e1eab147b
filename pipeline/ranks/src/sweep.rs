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

/// [`remove_unlisted_shards`] for the shards `manifest` lists.
pub fn remove_unlisted(dir: &Path, manifest: &wit_contract::Manifest) -> Result<usize> {
    let listed: HashSet<&str> = manifest.shards.iter().map(|s| s.file.as_str()).collect();
    remove_unlisted_shards(dir, &listed)
}

/// The name a shard gets when a pass rewrites it without some rows: `shard-00012.parquet` →
/// `shard-00012.d1.parquet`, then `.d2`. The old file stays until the manifest lists the new one,
/// so a kill between the two leaves one whole listing (the sweep removes the other file).
pub fn rewritten_shard_name(file: &str) -> String {
    let stem = file.strip_suffix(".parquet").unwrap_or(file);
    match stem.rsplit_once(".d").and_then(|(base, n)| n.parse::<u32>().ok().map(|n| (base, n))) {
        Some((base, n)) => format!("{base}.d{}.parquet", n + 1),
        None => format!("{stem}.d1.parquet"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewritten_shards_get_the_next_name() {
        assert_eq!(rewritten_shard_name("shard-00012.parquet"), "shard-00012.d1.parquet");
        assert_eq!(rewritten_shard_name("shard-00012.d1.parquet"), "shard-00012.d2.parquet");
    }

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
