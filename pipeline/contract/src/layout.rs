//! Where a stage folder keeps what: the one place that names the files of a folder.
//!
//! A stage folder `DIR` (queries/, candidates/, curated/, corpus/, any `-o DIR`) is laid out so that
//! every Parquet reader takes `DIR/data` as the dataset and pyarrow also takes `DIR` itself:
//! ```text
//! DIR/_manifest.json                  which shards are whole, the config and totals (the contract)
//! DIR/data/shard-00000.parquet        the rows: data shards of one schema and nothing else
//! DIR/data/rank-RRRRR-of-NNNNN-shard-00000.parquet   a shard rank R of N wrote (multi-rank runs)
//! DIR/_ranks/rank-RRRRR-of-NNNNN/     rank R's own manifest (its shards live in DIR/data)
//! DIR/_failures/, DIR/_query_counts/  other tables: folders of the same layout, `_`-named
//! DIR/_steps/, _buckets/, _drops/     rank bookkeeping (wit-ranks)
//! DIR/_shard_stats/NAME.json          one finished shard's own stats (fetch: rows by status, bytes,
//!                                     seconds), NAME the shard's file name less `.parquet`
//! BUILD/_blocklist.jsonl              a build's takedowns (`wit remove`), honoured by its stages
//! ```
//! Why a `data/` folder and not shards beside `_manifest.json`: pyarrow and DuckDB's `*.parquet`
//! glob skip `_` names, but polars 2.1's `scan_parquet(DIR)` reads every file under `DIR` (it
//! refuses a folder holding a `.json`) and HF `datasets` 5.2 skips only `.` names and `__` folders.
//! A folder holding nothing but shards is the one every reader takes (checked by tests/readers.rs).
//!
//! Every file a manifest lists is relative to the manifest's folder: `data/shard-00000.parquet`,
//! or `../../data/rank-…` for a rank's manifest under `_ranks/`. The shard of a rank carries the
//! rank in its name, so ranks never collide and a merge lists their shards where they are: no rank
//! shard is ever copied.

use std::path::{Path, PathBuf};

/// The manifest of a stage folder.
pub const MANIFEST_FILE: &str = "_manifest.json";
/// The manifest name of the layout before `data/` (refused with a message naming the file).
pub const LEGACY_MANIFEST_FILE: &str = "manifest.json";
/// The folder of a stage folder that holds its data shards and nothing else.
pub const DATA_DIR: &str = "data";
/// The folder of per-rank manifests inside a stage folder.
pub const RANKS_DIR: &str = "_ranks";
/// The failures table of a corpus folder (a folder of the same layout).
pub const FAILURES_DIR: &str = "_failures";
/// The per-query counts table of a curated folder (a folder of the same layout).
pub const QUERY_COUNTS_DIR: &str = "_query_counts";
/// Per-shard stats of a stage folder: `_shard_stats/<shard name less .parquet>.json`.
pub const SHARD_STATS_DIR: &str = "_shard_stats";
/// A build's takedown blocklist (in the build folder, beside the stage folders; see
/// [`crate::blocklist`]).
pub const BLOCKLIST_FILE: &str = "_blocklist.jsonl";
/// The tables a stage folder may hold besides its data (each a folder of the same layout).
pub const TABLE_DIRS: [&str; 2] = [FAILURES_DIR, QUERY_COUNTS_DIR];

/// Where the series of folder `dir` writes its shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataHome {
    /// The folder the shard files go into.
    pub dir: PathBuf,
    /// The prefix of every shard name of this series (`rank-RRRRR-of-NNNNN-` for a rank, else empty).
    pub prefix: String,
    /// How the manifest of `dir` lists a shard file name: `data/` or `../../data/`.
    pub listed: &'static str,
}

impl DataHome {
    /// Whether `name` (a file name in [`DataHome::dir`]) is a shard of this series.
    pub fn owns(&self, name: &str) -> bool {
        name.strip_prefix(self.prefix.as_str())
            .is_some_and(|rest| rest.starts_with("shard-") && rest.ends_with(".parquet"))
    }
}

/// The data home of the series whose manifest lives in `dir`: `dir/data`, or for a rank folder
/// `X/_ranks/rank-R-of-N`, `X/data` with the names prefixed `rank-R-of-N-`.
pub fn data_home(dir: &Path) -> DataHome {
    if let (Some(name), Some(parent)) = (dir.file_name().and_then(|n| n.to_str()), dir.parent()) {
        if name.starts_with("rank-") && parent.file_name().is_some_and(|p| p == RANKS_DIR) {
            if let Some(stage) = parent.parent() {
                return DataHome { dir: stage.join(DATA_DIR), prefix: format!("{name}-"), listed: "../../data/" };
            }
        }
    }
    DataHome { dir: dir.join(DATA_DIR), prefix: String::new(), listed: "data/" }
}

/// The path of shard number `index` of the series whose manifest lives in `dir`.
pub fn shard_path(dir: &Path, index: usize) -> PathBuf {
    let home = data_home(dir);
    home.dir.join(format!("{}{}", home.prefix, crate::writer::shard_file_name(index)))
}

/// How a manifest lists the file at `path`: `data/NAME` for a file in a `data/` folder (`../../data/NAME`
/// for a rank's shard), else its file name.
pub fn listed_name(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if path.parent().and_then(Path::file_name).is_some_and(|p| p == DATA_DIR) {
        if name.starts_with("rank-") {
            format!("../../{DATA_DIR}/{name}")
        } else {
            format!("{DATA_DIR}/{name}")
        }
    } else {
        name
    }
}

/// Where the stats of the shard a manifest in `dir` lists as `listed` live: in the `_shard_stats/`
/// folder beside the stage folder's `data/` (rank shards carry the rank in their names, so every
/// rank writes into the one folder without collisions).
pub fn shard_stats_path(dir: &Path, listed: &str) -> PathBuf {
    let mut shard = dir.to_path_buf();
    for part in Path::new(listed).components() {
        match part {
            std::path::Component::ParentDir => {
                shard.pop();
            }
            other => shard.push(other),
        }
    }
    let name = shard.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".parquet").unwrap_or(&name);
    let stage = shard.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_else(|| dir.to_path_buf());
    stage.join(SHARD_STATS_DIR).join(format!("{stem}.json"))
}

/// A rank manifest's entry as the stage folder's merged manifest lists it: `../../data/X` is
/// `data/X` from the stage folder; anything else stays inside the rank folder `rank_dir`.
pub fn listed_from_stage(rank_dir_relative: &str, file: &str) -> String {
    match file.strip_prefix("../../") {
        Some(rest) => rest.to_owned(),
        None => format!("{rank_dir_relative}/{file}"),
    }
}

/// The shard's own name without folders or a rank prefix: `../../data/rank-00001-of-00002-shard-00003.parquet`
/// → `shard-00003.parquet` (what stages that number their shards parse).
pub fn bare_shard_name(file: &str) -> &str {
    let name = file.rsplit('/').next().unwrap_or(file);
    match name.strip_prefix("rank-") {
        Some(rest) => rest.find("shard-").map_or(name, |i| &rest[i..]),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rank_writes_into_the_stage_folders_data() {
        let home = data_home(Path::new("/b/corpus/_ranks/rank-00001-of-00002"));
        assert_eq!(home.dir, Path::new("/b/corpus/data"));
        assert_eq!(home.prefix, "rank-00001-of-00002-");
        assert!(home.owns("rank-00001-of-00002-shard-00000.d1.parquet"));
        assert!(!home.owns("rank-00000-of-00002-shard-00000.parquet") && !home.owns("shard-00000.parquet"));
        let path = shard_path(Path::new("/b/corpus/_ranks/rank-00001-of-00002"), 3);
        assert_eq!(path, Path::new("/b/corpus/data/rank-00001-of-00002-shard-00003.parquet"));
        assert_eq!(listed_name(&path), "../../data/rank-00001-of-00002-shard-00003.parquet");
        assert_eq!(
            listed_from_stage("_ranks/rank-00001-of-00002", &listed_name(&path)),
            "data/rank-00001-of-00002-shard-00003.parquet"
        );
        assert_eq!(bare_shard_name(&listed_name(&path)), "shard-00003.parquet");
        assert_eq!(
            shard_stats_path(Path::new("/b/corpus/_ranks/rank-00001-of-00002"), &listed_name(&path)),
            Path::new("/b/corpus/_shard_stats/rank-00001-of-00002-shard-00003.json")
        );
        assert_eq!(
            shard_stats_path(Path::new("/b/corpus/_failures"), "data/shard-00000.parquet"),
            Path::new("/b/corpus/_failures/_shard_stats/shard-00000.json")
        );
    }

    #[test]
    fn a_plain_folder_writes_into_its_data() {
        let path = shard_path(Path::new("/b/curated"), 12);
        assert_eq!(path, Path::new("/b/curated/data/shard-00012.parquet"));
        assert_eq!(listed_name(&path), "data/shard-00012.parquet");
        assert_eq!(listed_name(Path::new("/b/curated/_query_counts/query_counts.parquet")), "query_counts.parquet");
        assert_eq!(bare_shard_name("data/shard-00012.d1.parquet"), "shard-00012.d1.parquet");
        assert!(data_home(Path::new("/b/curated")).owns("shard-00012.parquet"));
    }
}
