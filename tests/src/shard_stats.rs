//! The check that a fetch output's per-shard stats (`_shard_stats/`) match its shards and sum to
//! its manifests' totals, for the corpus and its failures.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use wit_contract::layout::shard_stats_path;
use wit_contract::{Manifest, FAILURES_DIR};

/// Asserts, for `out` (a fetch output folder) and `out/_failures`: every listed shard has a stats
/// file with its rows, bytes and xxh3; the stats folder holds no other file; the rows per status
/// of all the files sum to the manifest's `by_status`, and their rows to `corpus_rows` /
/// `failure_rows`.
pub fn assert_shard_stats_match(out: &Path) {
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    let mut rows = [0u64; 2];
    let mut totals = serde_json::Value::Null;
    for (i, dir) in [out.to_path_buf(), out.join(FAILURES_DIR)].into_iter().enumerate() {
        let manifest = Manifest::load(&dir).unwrap();
        totals = manifest.stats.clone();
        let mut expected = BTreeSet::new();
        for shard in &manifest.shards {
            let path = shard_stats_path(&dir, &shard.file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: no stats for {} ({e})", path.display(), shard.file));
            let stats: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(stats["rows"], shard.rows, "{}", path.display());
            assert_eq!(stats["bytes"], shard.bytes, "{}", path.display());
            assert_eq!(stats["xxh3"], shard.xxh3.as_str(), "{}", path.display());
            let mut shard_rows = 0;
            for (status, n) in stats["by_status"].as_object().unwrap() {
                *by_status.entry(status.clone()).or_default() += n.as_u64().unwrap();
                shard_rows += n.as_u64().unwrap();
            }
            assert_eq!(shard_rows, shard.rows, "{}: by_status sums to the rows", path.display());
            rows[i] += shard.rows;
            expected.insert(path);
        }
        let stats_dir = dir.join(wit_contract::layout::SHARD_STATS_DIR);
        let found: BTreeSet<_> = match std::fs::read_dir(&stats_dir) {
            Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
            Err(_) => BTreeSet::new(),
        };
        assert_eq!(found, expected, "the stats files of {} are those of its listed shards", dir.display());
    }
    assert_eq!(totals["corpus_rows"], rows[0], "{totals}");
    assert_eq!(totals["failure_rows"], rows[1], "{totals}");
    let manifest_by_status: BTreeMap<String, u64> = serde_json::from_value(totals["by_status"].clone()).unwrap();
    assert_eq!(by_status, manifest_by_status);
}
