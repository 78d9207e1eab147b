//! Sweeps of what a killed run leaves: temporary files, and shards the folder's manifest does not
//! list (written but never listed, or dropped from the listing but not yet deleted).

use std::collections::HashSet;
use std::path::Path;

use crate::error::Result;
use wit_contract::{AtPath, PathError};

/// Removes the series' shard files (in `dir`'s data folder, see `wit_contract::layout`) that are
/// not in `listed` (the manifest's entries), and temporary files. Returns how many files it removed.
pub fn remove_unlisted_shards(dir: &Path, listed: &HashSet<&str>) -> Result<usize> {
    let mut removed = wit_contract::clean_stale_temp_files(dir)?;
    let home = wit_contract::data_home(dir);
    let data = home.dir.as_path();
    let entries = match std::fs::read_dir(data) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(PathError::io(data, e).into()),
    };
    for entry in entries {
        let entry = entry.at_path(data)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if home.owns(&name) && !listed.contains(format!("{}{name}", home.listed).as_str()) {
            tracing::info!(file = %entry.path().display(), "removing a shard no manifest lists (interrupted run)");
            std::fs::remove_file(entry.path()).at_path(entry.path())?;
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
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        for name in ["data/shard-00000.parquet", "data/shard-00001.parquet", "_manifest.json"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let listed: HashSet<&str> = ["data/shard-00000.parquet"].into_iter().collect();
        assert_eq!(remove_unlisted_shards(dir.path(), &listed).unwrap(), 1);
        assert!(dir.path().join("data/shard-00000.parquet").exists() && dir.path().join("_manifest.json").exists());
        assert!(!dir.path().join("data/shard-00001.parquet").exists());
    }
}
