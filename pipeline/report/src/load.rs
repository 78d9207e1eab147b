//! Reading a build: the dictionary, the curate per-query table (or the curated shards' query ids),
//! the corpus and failure shards' query ids and statuses, and each stage's manifest. Only the
//! columns a count needs are read, so a corpus of images costs a pass over its id lists.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, ListArray, StringArray, UInt32Array};
use arrow::datatypes::{DataType, UInt16Type, UInt32Type};
use arrow::record_batch::RecordBatch;
use serde::Serialize;
use wit_contract::progress::{Progress, Spec};
use wit_contract::schema::col;
use wit_contract::{read_records, Manifest, QueryCount, QueryEntry, ReadOptions, ShardReader};

use crate::error::{ReportError, Result};
use crate::inputs::Located;
use crate::table::QueryRow;

/// What a stage's manifest says about it.
#[derive(Debug, Clone, Serialize)]
pub struct StageInfo {
    pub path: String,
    /// The stage finished all its work (an incomplete stage is reported as far as it got).
    pub complete: bool,
    pub shards: u64,
    pub rows: u64,
    /// The stage's own statistics, as its manifest records them.
    pub stats: serde_json::Value,
    #[serde(skip)]
    pub config: serde_json::Value,
}

impl StageInfo {
    fn from_manifest(path: &Path, manifest: &Manifest) -> Self {
        StageInfo {
            path: path.display().to_string(),
            complete: manifest.complete,
            shards: manifest.shards.len() as u64,
            rows: manifest.total_rows(),
            stats: manifest.stats.clone(),
            config: manifest.config.clone(),
        }
    }

    /// `stats[key]` as a count.
    pub fn stat(&self, key: &str) -> Option<u64> {
        self.stats.get(key).and_then(serde_json::Value::as_u64)
    }

    /// `config[key]` as a count.
    pub fn config_u64(&self, key: &str) -> Option<u64> {
        self.config.get(key).and_then(serde_json::Value::as_u64)
    }
}

/// A build, read.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub queries: Option<StageInfo>,
    pub candidates: Option<StageInfo>,
    pub curated: Option<StageInfo>,
    pub corpus: Option<StageInfo>,
    pub failures: Option<StageInfo>,
    /// Every query any stage knows of, ordered by id.
    pub rows: Vec<QueryRow>,
    /// Fetch failures by img2dataset-style status.
    pub failures_by_status: BTreeMap<String, u64>,
    /// Fetch failures by HTTP status (`none` where no response came).
    pub failures_by_http_status: BTreeMap<String, u64>,
    pub notes: Vec<String>,
}

/// A stage's manifest, when it has one.
fn stage(dir: &Option<PathBuf>) -> Result<Option<(PathBuf, Manifest)>> {
    let Some(dir) = dir else { return Ok(None) };
    if dir.is_file() {
        return Ok(None);
    }
    Ok(Some((dir.clone(), Manifest::load(dir)?)))
}

/// The `query_ids` lists of a batch.
fn query_id_lists<'a>(batch: &'a RecordBatch, path: &Path, first_row: u64) -> Result<(&'a ListArray, &'a UInt32Array)> {
    let shard_error = |problem: String| ReportError::Shard { path: path.to_path_buf(), first_row, problem };
    let column =
        batch.column_by_name(col::QUERY_IDS).ok_or_else(|| shard_error(format!("no `{}` column", col::QUERY_IDS)))?;
    let lists = column
        .as_list_opt::<i32>()
        .ok_or_else(|| shard_error(format!("`{}` has type {}, not a list", col::QUERY_IDS, column.data_type())))?;
    let ids = lists
        .values()
        .as_primitive_opt::<UInt32Type>()
        .ok_or_else(|| shard_error(format!("`{}` items are {}, not u32", col::QUERY_IDS, lists.value_type())))?;
    if let Some(row) = (0..lists.len()).find(|&r| lists.is_null(r)) {
        return Err(shard_error(format!("row {}: null `{}`", first_row + row as u64, col::QUERY_IDS)));
    }
    Ok((lists, ids))
}

/// The ids of row `r`.
fn ids_of<'a>(lists: &ListArray, ids: &'a UInt32Array, r: usize) -> &'a [u32] {
    let offsets = lists.value_offsets();
    let (start, end) = (offsets[r] as usize, offsets[r + 1] as usize);
    &ids.values()[start..end]
}

fn string_column<'a>(batch: &'a RecordBatch, name: &str, path: &Path, first_row: u64) -> Result<&'a StringArray> {
    let shard_error = |problem: String| ReportError::Shard { path: path.to_path_buf(), first_row, problem };
    let column = batch.column_by_name(name).ok_or_else(|| shard_error(format!("no `{name}` column")))?;
    column.as_string_opt::<i32>().ok_or_else(|| shard_error(format!("`{name}` has type {}", column.data_type())))
}

/// Calls `each` with every batch of the listed shards of `dir`, read with `columns` only; the
/// rows read show as progress (`report: read FOLDER`).
fn scan(
    dir: &Path,
    manifest: &Manifest,
    columns: &[&str],
    mut each: impl FnMut(&Path, &RecordBatch, u64) -> Result<()>,
) -> Result<()> {
    let options = ReadOptions { batch_size: 8192, columns: Some(columns.iter().map(|c| c.to_string()).collect()) };
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| dir.display().to_string());
    let progress = Progress::start(Spec::new(format!("report: read {name}"), "rows", Some(manifest.total_rows())));
    for path in manifest.shard_paths(dir) {
        let mut first_row = 0u64;
        for batch in ShardReader::open(&path, &options)? {
            let batch = batch?;
            each(&path, &batch, first_row)?;
            first_row += batch.num_rows() as u64;
            progress.add(batch.num_rows() as u64, 0);
        }
    }
    progress.finish();
    Ok(())
}

/// Per-query row counts over the `query_ids` of every listed shard of `dir`.
fn count_query_ids(dir: &Path, manifest: &Manifest) -> Result<HashMap<u32, u64>> {
    let mut counts: HashMap<u32, u64> = HashMap::new();
    scan(dir, manifest, &[col::QUERY_IDS], |path, batch, first_row| {
        let (lists, ids) = query_id_lists(batch, path, first_row)?;
        for r in 0..lists.len() {
            for &id in ids_of(lists, ids, r) {
                *counts.entry(id).or_default() += 1;
            }
        }
        Ok(())
    })?;
    Ok(counts)
}

/// Failures by query, by status and by HTTP status.
type FailureCounts = (HashMap<u32, u64>, BTreeMap<String, u64>, BTreeMap<String, u64>);

fn count_failures(dir: &Path, manifest: &Manifest) -> Result<FailureCounts> {
    let mut by_query: HashMap<u32, u64> = HashMap::new();
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_http: BTreeMap<String, u64> = BTreeMap::new();
    scan(dir, manifest, &[col::QUERY_IDS, col::STATUS, col::HTTP_STATUS], |path, batch, first_row| {
        let (lists, ids) = query_id_lists(batch, path, first_row)?;
        let status = string_column(batch, col::STATUS, path, first_row)?;
        let http = batch.column_by_name(col::HTTP_STATUS).filter(|c| c.data_type() == &DataType::UInt16);
        let http = http.map(|c| c.as_primitive::<UInt16Type>());
        for r in 0..lists.len() {
            for &id in ids_of(lists, ids, r) {
                *by_query.entry(id).or_default() += 1;
            }
            let name = if status.is_null(r) { "unknown" } else { status.value(r) };
            *by_status.entry(name.to_owned()).or_default() += 1;
            let code = match http {
                Some(http) if !http.is_null(r) => http.value(r).to_string(),
                _ => "none".to_owned(),
            };
            *by_http.entry(code).or_default() += 1;
        }
        Ok(())
    })?;
    Ok((by_query, by_status, by_http))
}

fn read_dictionary(path: &Path) -> Result<Vec<QueryEntry>> {
    if path.is_file() {
        return Ok(read_records::<QueryEntry>(path)?);
    }
    let manifest = Manifest::load(path)?;
    let mut entries = Vec::new();
    for shard in manifest.shard_paths(path) {
        entries.extend(read_records::<QueryEntry>(&shard)?);
    }
    Ok(entries)
}

/// Reads every stage `located` names.
pub fn load(located: &Located) -> Result<Loaded> {
    let mut loaded = Loaded { notes: located.notes.clone(), ..Default::default() };
    let mut rows: BTreeMap<u32, QueryRow> = BTreeMap::new();

    if let Some(path) = &located.queries {
        let entries = read_dictionary(path)?;
        loaded.queries = match stage(&located.queries)? {
            Some((dir, manifest)) => Some(StageInfo::from_manifest(&dir, &manifest)),
            None => Some(StageInfo {
                path: path.display().to_string(),
                complete: true,
                shards: 1,
                rows: entries.len() as u64,
                stats: serde_json::Value::Null,
                config: serde_json::Value::Null,
            }),
        };
        for entry in entries {
            let mut row = QueryRow::new(entry.id, entry.query);
            row.source = Some(entry.source.name().to_owned());
            row.dictionary_count = Some(entry.count);
            row.pmi = entry.pmi;
            if rows.insert(entry.id, row).is_some() {
                loaded.notes.push(format!(
                    "{}: query id {} appears twice; the last one is used",
                    path.display(),
                    entry.id
                ));
            }
        }
    }
    if let Some((dir, manifest)) = stage(&located.candidates)? {
        loaded.candidates = Some(StageInfo::from_manifest(&dir, &manifest));
    }

    let curated = stage(&located.curated)?;
    let query_counts = match &located.query_counts {
        Some(path) => Some(read_records::<QueryCount>(path)?),
        None => None,
    };
    let mut renamed = 0u64;
    if let Some(counts) = &query_counts {
        let fresh = rows.is_empty();
        for count in counts {
            let row = rows.entry(count.id).or_insert_with(|| QueryRow::new(count.id, count.query.clone()));
            if !fresh && row.query != count.query {
                renamed += 1;
            }
            row.matched = Some(count.matched);
            row.kept = Some(count.kept);
        }
    }
    if renamed > 0 {
        loaded.notes.push(format!(
            "{renamed} query ids name other queries in the curate table than in the dictionary \
             (curated with another dictionary?); the dictionary's text is shown"
        ));
    }
    if let Some((dir, manifest)) = &curated {
        loaded.curated = Some(StageInfo::from_manifest(dir, manifest));
        if query_counts.is_none() {
            // No per-query table (an unfinished curate): kept counts from the written shards.
            loaded.notes.push(format!(
                "{}: no per-query table (query_counts); kept counts come from the curated shards, matched counts are unknown",
                dir.display()
            ));
            let kept = count_query_ids(dir, manifest)?;
            merge_counts(&mut rows, &kept, &mut loaded.notes, "curated", |row, n| row.kept = Some(n));
        }
    }

    if let Some((dir, manifest)) = stage(&located.corpus)? {
        loaded.corpus = Some(StageInfo::from_manifest(&dir, &manifest));
        let counts = count_query_ids(&dir, &manifest)?;
        merge_counts(&mut rows, &counts, &mut loaded.notes, "corpus", |row, n| row.corpus = Some(n));
    }
    if let Some((dir, manifest)) = stage(&located.failures)? {
        loaded.failures = Some(StageInfo::from_manifest(&dir, &manifest));
        let (by_query, by_status, by_http) = count_failures(&dir, &manifest)?;
        merge_counts(&mut rows, &by_query, &mut loaded.notes, "failures", |row, n| row.failed = Some(n));
        loaded.failures_by_status = by_status;
        loaded.failures_by_http_status = by_http;
    }

    // A stage that is present counts zero for the queries it never saw.
    let has_kept = query_counts.is_some() || loaded.curated.is_some();
    for row in rows.values_mut() {
        if query_counts.is_some() {
            row.matched.get_or_insert(0);
        }
        if has_kept {
            row.kept.get_or_insert(0);
        }
        if loaded.corpus.is_some() {
            row.corpus.get_or_insert(0);
        }
        if loaded.failures.is_some() {
            row.failed.get_or_insert(0);
        }
    }
    loaded.rows = rows.into_values().collect();
    Ok(loaded)
}

/// Adds per-id counts to the rows; ids no earlier stage knows get a row named `#ID` and a note.
fn merge_counts(
    rows: &mut BTreeMap<u32, QueryRow>,
    counts: &HashMap<u32, u64>,
    notes: &mut Vec<String>,
    stage: &str,
    mut set: impl FnMut(&mut QueryRow, u64),
) {
    let known_before = !rows.is_empty();
    let mut unknown = 0u64;
    for (&id, &n) in counts {
        let row = rows.entry(id).or_insert_with(|| {
            unknown += 1;
            QueryRow::new(id, format!("#{id}"))
        });
        set(row, n);
    }
    if known_before && unknown > 0 {
        notes.push(format!("{stage}: {unknown} query ids are not in the dictionary (shown as #ID)"));
    }
}

/// One sample pair of a query, for its page.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub caption: String,
    pub url: String,
    pub page_url: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// A `data:` URI of a downscaled copy of the image (corpus samples only).
    #[serde(skip)]
    pub thumbnail: Option<String>,
    /// Why no thumbnail could be made, when one was tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail_error: Option<String>,
}

/// Up to `limit` sample pairs for each of `wanted` query ids, from the corpus (with thumbnails
/// of `thumbnail_size` pixels) or else the curated shards (captions only).
pub fn samples(
    located: &Located,
    wanted: &[u32],
    limit: usize,
    thumbnail_size: u32,
) -> Result<HashMap<u32, Vec<Sample>>> {
    let mut found: HashMap<u32, Vec<Sample>> = wanted.iter().map(|&id| (id, Vec::new())).collect();
    if wanted.is_empty() || limit == 0 {
        return Ok(found);
    }
    let (dir, with_images) = match (&located.corpus, &located.curated) {
        (Some(corpus), _) => (corpus, true),
        (None, Some(curated)) => (curated, false),
        (None, None) => return Ok(found),
    };
    let manifest = Manifest::load(dir)?;
    let mut columns = vec![col::QUERY_IDS, col::CAPTION, col::URL, col::PAGE_URL];
    if with_images {
        columns.extend([col::WIDTH, col::HEIGHT, col::IMAGE]);
    }
    scan(dir, &manifest, &columns, |path, batch, first_row| {
        if found.values().all(|s| s.len() >= limit) {
            return Ok(());
        }
        let (lists, ids) = query_id_lists(batch, path, first_row)?;
        let caption = string_column(batch, col::CAPTION, path, first_row)?;
        let url = string_column(batch, col::URL, path, first_row)?;
        let page_url = string_column(batch, col::PAGE_URL, path, first_row)?;
        let dims = |name: &str| batch.column_by_name(name).and_then(|c| c.as_primitive_opt::<UInt32Type>().cloned());
        let (width, height) = (dims(col::WIDTH), dims(col::HEIGHT));
        let image = batch.column_by_name(col::IMAGE).and_then(|c| c.as_binary_opt::<i32>().cloned());
        for r in 0..lists.len() {
            for id in ids_of(lists, ids, r) {
                let Some(list) = found.get_mut(id) else { continue };
                if list.len() >= limit {
                    continue;
                }
                let (thumbnail, thumbnail_error) = match &image {
                    Some(image) if !image.is_null(r) => match crate::thumbs::data_uri(image.value(r), thumbnail_size) {
                        Ok(uri) => (Some(uri), None),
                        Err(e) => (None, Some(e)),
                    },
                    _ => (None, None),
                };
                let value = |a: &StringArray| (!a.is_null(r)).then(|| a.value(r).to_owned());
                list.push(Sample {
                    caption: value(caption).unwrap_or_default(),
                    url: value(url).unwrap_or_default(),
                    page_url: value(page_url),
                    width: width.as_ref().filter(|w| !w.is_null(r)).map(|w| w.value(r)),
                    height: height.as_ref().filter(|h| !h.is_null(r)).map(|h| h.value(r)),
                    thumbnail,
                    thumbnail_error,
                });
            }
        }
        Ok(())
    })?;
    Ok(found)
}
