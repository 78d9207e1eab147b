//! The per-query table of a curated folder (`curated/_query_counts/`) after takedowns: `kept` is
//! recounted from the `query_ids` of the curated shards that are left (exact, and the same
//! whether a removal ran once, twice or was killed half-way), `matched` stays what curate counted
//! and the table's manifest says so ([`QueryCountsTakedowns`]). The curated manifest's
//! `queries_at_cap` follows the new `kept`.

use std::collections::HashMap;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::UInt32Type;
use wit_contract::layout::QUERY_COUNTS_DIR;
use wit_contract::schema::col;
use wit_contract::{
    read_records, Manifest, PathError, QueryCount, QueryCountsTakedowns, ReadOptions, RecordKind, ShardReader,
    ShardWriter, WriterOptions,
};

use crate::Result;

/// What a recount changed.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Recount {
    /// The table, relative to the build.
    pub table: String,
    /// Queries whose `kept` changed, and what was taken off `kept` in all.
    pub queries_changed: u64,
    pub kept_lowered_by: u64,
}

/// Rows per query id over the `query_ids` of the listed shards of the curated folder `dir`.
fn kept_per_query(dir: &Path, manifest: &Manifest) -> Result<HashMap<u32, u64>> {
    let mut counts: HashMap<u32, u64> = HashMap::new();
    let options = ReadOptions { batch_size: 8192, columns: Some(vec![col::QUERY_IDS.to_owned()]) };
    for path in manifest.shard_paths(dir) {
        for batch in ShardReader::open(&path, &options)? {
            let batch = batch?;
            let bad = || PathError::input(&path, format!("`{}` is not a list of u32", col::QUERY_IDS));
            let lists = batch.column(0).as_list_opt::<i32>().ok_or_else(bad)?;
            let ids = lists.values().as_primitive_opt::<UInt32Type>().ok_or_else(bad)?;
            for row in (0..lists.len()).filter(|&r| lists.is_valid(r)) {
                let offsets = lists.value_offsets();
                for &id in &ids.values()[offsets[row] as usize..offsets[row + 1] as usize] {
                    *counts.entry(id).or_default() += 1;
                }
            }
        }
    }
    Ok(counts)
}

/// Recounts `kept` of the curated folder `dir` when takedowns took rows from it (its
/// `stats.takedowns`); None when it is no curated folder, has no table or lost nothing.
pub(crate) fn recount(build: &Path, dir: &Path) -> Result<Option<Recount>> {
    let Some(mut curated) = Manifest::load_if_present(dir)? else { return Ok(None) };
    let removed = curated.stats.get("takedowns").and_then(|v| v.as_u64()).unwrap_or(0);
    if curated.kind != RecordKind::Curated || removed == 0 {
        return Ok(None);
    }
    let table_dir = dir.join(QUERY_COUNTS_DIR);
    let Some(mut table) = Manifest::load_if_present(&table_dir)? else { return Ok(None) };
    let [listed] = table.shards.as_slice() else {
        return Err(PathError::input(&table_dir, format!("lists {} files, not one", table.shards.len())).into());
    };
    let path = table_dir.join(&listed.file);
    let kept = kept_per_query(dir, &curated)?;
    let mut rows = read_records::<QueryCount>(&path)?;
    let mut recount =
        Recount { table: path.strip_prefix(build).unwrap_or(&path).display().to_string(), ..Default::default() };
    for row in &mut rows {
        let now = kept.get(&row.id).copied().unwrap_or(0);
        if now != row.kept {
            recount.queries_changed += 1;
            recount.kept_lowered_by += row.kept.saturating_sub(now);
            row.kept = now;
        }
    }
    let before: Option<QueryCountsTakedowns> =
        table.stats.get("takedowns").cloned().and_then(|v| serde_json::from_value(v).ok());
    if recount.queries_changed == 0 && before.as_ref().is_some_and(|b| b.curated_rows_removed == removed) {
        return Ok(Some(recount));
    }
    // Same name (curate's config points at it): the writer renames over it when complete, and the
    // listing follows (a run killed between the two is finished by the next: its mark is stale).
    let mut writer = ShardWriter::for_records::<QueryCount>(&path, &WriterOptions::default())?;
    writer.write_records(&rows)?;
    table.add_shard(writer.finish()?);
    let mark = QueryCountsTakedowns {
        curated_rows_removed: removed,
        kept_lowered_by: before.map_or(0, |b| b.kept_lowered_by) + recount.kept_lowered_by,
        matched_before_takedowns: true,
        recounted_at: wit_contract::now_rfc3339(),
    };
    if !table.stats.is_object() {
        table.stats = serde_json::json!({});
    }
    table.stats["takedowns"] = serde_json::to_value(&mark).unwrap_or_default();
    table.save(&table_dir)?;
    if let Some(cap) = curated.config.get("effective_cap").and_then(|v| v.as_u64()) {
        if curated.stats.get("queries_at_cap").is_some() {
            curated.stats["queries_at_cap"] = (rows.iter().filter(|r| r.kept >= cap).count() as u64).into();
            curated.save(dir)?;
        }
    }
    tracing::info!(table = %path.display(), queries = recount.queries_changed, "kept per query recounted after takedowns");
    Ok(Some(recount))
}
