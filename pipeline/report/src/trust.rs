//! The report's Trust section: what the build left out and why, from what its folders record.
//!
//! - page-level opt-outs harvest dropped (candidates manifest: `skipped["page_opt_out:DIRECTIVE"]`,
//!   `skipped["blocklisted"]`, the directives it checked in its config);
//! - image-level decisions of fetch (corpus manifest `by_status`: `robots_disallowed`, `opted_out`
//!   — an `X-Robots-Tag` directive —, `blocklisted` — an image hash on the blocklist —, and
//!   `last_run.blocklisted`: input pairs never fetched);
//! - curate's `blocklisted`;
//! - takedowns: the build's `_blocklist.jsonl` (entries by kind, when), `stats.takedowns` of each
//!   folder, and whether the per-query table was recounted ([`QueryCountsTakedowns`]);
//! - near duplicates (`wit dedup` folders: its config and stats, `_near_duplicates/` read back:
//!   rows dropped, groups by the kept row, the largest with thumbnails);
//! - decontamination (`wit decontaminate` folders: removed pairs by reason, a few examples).
//!
//! What was not run or not recorded is `None` (shown as "not run" / "not recorded"), never zero.
//! Stats are read through [`Manifest::stats_as`] into the stage's own type where the report may
//! depend on it (wit-dedup's `DedupStats`, wit-decontaminate's `DecontaminateStats`) and into
//! small views of the fields shown otherwise (harvest, curate and fetch are not dependencies).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, UInt32Type};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use wit_contract::layout::QUERY_COUNTS_DIR;
use wit_contract::schema::col;
use wit_contract::{Blocklist, Manifest, QueryCountsTakedowns, ReadOptions, ShardReader};
use wit_decontaminate::{DecontaminateStats, DECONTAMINATED_DIR};
use wit_dedup::{DedupStats, NEAR_DUPLICATES_DIR};
use wit_html::escape;

use crate::error::{ReportError, Result};
use crate::inputs::{derived_stage, resolve_pointer, Located};
use crate::text::thousands;

/// Dropped rows listed per near-duplicate group, and examples per decontamination reason.
const MEMBERS_SHOWN: usize = 8;
const EXAMPLES_PER_REASON: usize = 5;
/// Kept rows a near-duplicate count tracks at most (about 100 bytes each); beyond it the largest
/// groups are those of the first keys met, and the section says so.
const MAX_GROUPS_COUNTED: usize = 2_000_000;

/// Page-level opt-outs harvest checked and what they dropped.
#[derive(Debug, Clone, Serialize)]
pub struct PageOptOuts {
    pub folder: String,
    /// Pairs dropped per checked directive (`page_opt_out:DIRECTIVE`), every checked directive listed.
    pub dropped: BTreeMap<String, u64>,
    /// Pairs the build's blocklist kept out of the harvest.
    pub blocklisted: u64,
}

/// Harvest's part: None when its manifest does not record the directives it checked.
#[derive(Debug, Clone, Serialize)]
pub struct Harvest {
    pub folder: String,
    pub checks: Option<PageOptOuts>,
}

/// Fetch's decisions about image URLs.
#[derive(Debug, Clone, Serialize)]
pub struct FetchDecisions {
    pub folder: String,
    /// Whether fetch checked robots.txt, and the `X-Robots-Tag` directives it obeyed.
    pub respect_robots: Option<bool>,
    pub opt_out_directives: Option<Vec<String>>,
    /// Failure rows by trust status (`robots_disallowed`, `opted_out`, `blocklisted`); None when
    /// the manifest has no `by_status`.
    pub by_status: Option<BTreeMap<String, u64>>,
    /// Input pairs the blocklist kept from being fetched by the last run (`stats.last_run`; they
    /// are not listed as failures).
    pub blocklisted_input: Option<u64>,
}

/// The statuses of fetch failures the section shows.
pub const FETCH_TRUST_STATUSES: [&str; 3] = ["robots_disallowed", "opted_out", "blocklisted"];

/// Takedowns of the build: the blocklist and what left each folder.
#[derive(Debug, Clone, Serialize)]
pub struct Takedowns {
    pub blocklist: Option<String>,
    /// Distinct entries by kind (`key`, `url`, `domain`, `sha256`, `md5`).
    pub entries: BTreeMap<String, u64>,
    /// Key entries `wit remove` derived from blocked image hashes.
    pub keys_from_hashes: u64,
    /// When the first and the last entry were added (RFC 3339).
    pub first_added: Option<String>,
    pub last_added: Option<String>,
    /// Rows takedowns removed from each folder (`stats.takedowns`), folders read by the report.
    pub rows_removed: BTreeMap<String, u64>,
    /// The per-query table after takedowns (None: never recounted).
    pub query_counts: Option<QueryCountsTakedowns>,
}

impl Takedowns {
    /// What the funnel's numbers mean after takedowns, when rows were removed.
    pub fn funnel_note(&self) -> Option<String> {
        let removed: u64 = self.rows_removed.values().sum();
        (removed > 0).then(|| {
            "takedowns (wit remove) took rows out after the stages ran: candidates, kept and corpus counts are \
             after them, curate's matched counts (funnel and per-query table) from before them"
                .to_owned()
        })
    }
}

/// One row of a near-duplicate group or a decontamination example.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub key: String,
    pub url: Option<String>,
    pub distance: Option<u32>,
    pub mirrored: Option<bool>,
    #[serde(skip)]
    pub thumbnail: Option<String>,
}

/// A kept row and the rows dropped because they are near duplicates of it.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub kept: Member,
    /// How many rows it made go (the list below shows up to a few).
    pub dropped_count: u64,
    pub dropped: Vec<Member>,
}

/// One `wit dedup` output.
#[derive(Debug, Clone, Serialize)]
pub struct NearDuplicates {
    pub folder: String,
    pub input: Option<String>,
    pub threshold: Option<u64>,
    pub mirror: Option<bool>,
    pub keep_rule: Option<String>,
    /// Rows in the output, and rows its side table lists as dropped.
    pub kept: u64,
    pub dropped: u64,
    /// Distinct kept rows that made others go.
    pub groups: u64,
    pub largest: Vec<Group>,
    /// The run's own statistics (None for a multi-rank merge, whose ranks keep theirs).
    pub stats: Option<DedupStats>,
    pub notes: Vec<String>,
}

/// A pair `wit decontaminate` removed.
#[derive(Debug, Clone, Serialize)]
pub struct RemovedPair {
    pub row: Member,
    pub caption: String,
    pub reason: String,
    pub eval_item: String,
    pub ngram: Option<String>,
}

/// One `wit decontaminate` output.
#[derive(Debug, Clone, Serialize)]
pub struct Decontamination {
    pub folder: String,
    pub input: Option<String>,
    pub against: Vec<String>,
    pub threshold: Option<u64>,
    pub caption_ngram: Option<u64>,
    pub kept: u64,
    /// Removed pairs by reason (`image`, `caption`), from the side table.
    pub removed: BTreeMap<String, u64>,
    pub examples: Vec<RemovedPair>,
    pub stats: Option<DecontaminateStats>,
    pub notes: Vec<String>,
}

/// The Trust section; each part None (or empty) when its stage was not run or did not record it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Trust {
    pub harvest: Option<Harvest>,
    pub fetch: Option<FetchDecisions>,
    /// Pairs curate left out for the blocklist (None: no curated folder, or it does not say).
    pub curate_blocklisted: Option<u64>,
    pub takedowns: Option<Takedowns>,
    pub near_duplicates: Vec<NearDuplicates>,
    pub decontaminations: Vec<Decontamination>,
}

#[derive(Deserialize)]
struct HarvestStatsView {
    #[serde(default)]
    skipped: BTreeMap<String, u64>,
}

#[derive(Deserialize)]
struct HarvestConfigView {
    page_opt_out_directives: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct FetchStatsView {
    by_status: Option<BTreeMap<String, u64>>,
    last_run: Option<BlocklistedView>,
}

#[derive(Deserialize)]
struct FetchConfigView {
    net: Option<FetchNetView>,
}

#[derive(Deserialize)]
struct FetchNetView {
    respect_robots: Option<bool>,
    opt_out_directives: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct BlocklistedView {
    blocklisted: Option<u64>,
}

#[derive(Deserialize)]
struct TakedownsView {
    takedowns: Option<u64>,
}

#[derive(Deserialize)]
struct QueryCountsStatsView {
    takedowns: Option<QueryCountsTakedowns>,
}

#[derive(Deserialize)]
struct DerivedConfigView {
    input: Option<String>,
    #[serde(default)]
    against: Vec<String>,
    threshold: Option<u64>,
    mirror: Option<bool>,
    keep_rule: Option<String>,
    caption_ngram: Option<u64>,
}

/// `manifest.config` as a view (None when it has other types than the view expects).
fn config_as<T: for<'de> Deserialize<'de>>(manifest: &Manifest) -> Option<T> {
    serde_json::from_value(manifest.config.clone()).ok()
}

fn load(dir: &Option<PathBuf>) -> Result<Option<(PathBuf, Manifest)>> {
    match dir {
        Some(dir) if dir.is_dir() => Ok(Manifest::load_if_present(dir)?.map(|m| (dir.clone(), m))),
        _ => Ok(None),
    }
}

/// Reads the Trust section of the build `located` found.
pub fn read(located: &Located, top: usize, thumbnail_size: u32) -> Result<Trust> {
    let mut trust = Trust::default();
    if let Some((dir, manifest)) = load(&located.candidates)? {
        let stats: Option<HarvestStatsView> = manifest.stats_as(&dir)?;
        let checked = config_as::<HarvestConfigView>(&manifest).and_then(|c| c.page_opt_out_directives);
        let checks = checked.map(|directives| {
            let skipped = stats.map(|s| s.skipped).unwrap_or_default();
            let mut dropped: BTreeMap<String, u64> = directives.iter().map(|d| (d.clone(), 0)).collect();
            for (reason, n) in &skipped {
                if let Some(directive) = reason.strip_prefix("page_opt_out:") {
                    dropped.insert(directive.to_owned(), *n);
                }
            }
            PageOptOuts {
                folder: dir.display().to_string(),
                dropped,
                blocklisted: skipped.get("blocklisted").copied().unwrap_or(0),
            }
        });
        trust.harvest = Some(Harvest { folder: dir.display().to_string(), checks });
    }
    let fetched = located.failures.as_ref().and_then(|f| f.parent().map(Path::to_path_buf)).or(located.corpus.clone());
    if let Some((dir, manifest)) = load(&fetched)? {
        if derived_stage(&dir)?.is_none() {
            let stats: Option<FetchStatsView> = manifest.stats_as(&dir)?;
            let config = config_as::<FetchConfigView>(&manifest).and_then(|c| c.net);
            trust.fetch = Some(FetchDecisions {
                folder: dir.display().to_string(),
                respect_robots: config.as_ref().and_then(|c| c.respect_robots),
                opt_out_directives: config.and_then(|c| c.opt_out_directives),
                by_status: stats.as_ref().and_then(|s| s.by_status.as_ref()).map(|by_status| {
                    FETCH_TRUST_STATUSES
                        .iter()
                        .map(|&s| (s.to_owned(), by_status.get(s).copied().unwrap_or(0)))
                        .collect()
                }),
                blocklisted_input: stats.and_then(|s| s.last_run).and_then(|r| r.blocklisted),
            });
        }
    }
    if let Some((dir, manifest)) = load(&located.curated)? {
        let stats: Option<BlocklistedView> = manifest.stats_as(&dir)?;
        trust.curate_blocklisted = stats.and_then(|s| s.blocklisted);
    }
    trust.takedowns = takedowns(located, fetched.as_deref())?;
    for dir in &located.derived {
        match derived_stage(dir)?.as_deref() {
            Some("dedup") => trust.near_duplicates.push(near_duplicates(dir, top, thumbnail_size)?),
            Some(_) => trust.decontaminations.push(decontamination(dir, thumbnail_size)?),
            None => {}
        }
    }
    Ok(trust)
}

fn takedowns(located: &Located, fetched: Option<&Path>) -> Result<Option<Takedowns>> {
    let mut rows_removed = BTreeMap::new();
    let folders = [
        ("candidates", located.candidates.clone()),
        ("curated", located.curated.clone()),
        ("corpus", fetched.map(Path::to_path_buf)),
        ("failures", located.failures.clone()),
    ];
    let mut any_removed = false;
    for (name, dir) in folders {
        if let Some((dir, manifest)) = load(&dir)? {
            let removed = manifest.stats_as::<Option<TakedownsView>>(&dir)?.and_then(|v| v.takedowns);
            any_removed |= removed.is_some();
            rows_removed.insert(name.to_owned(), removed.unwrap_or(0));
        }
    }
    let query_counts = match located.curated.as_ref().map(|c| c.join(QUERY_COUNTS_DIR)) {
        Some(dir) => match Manifest::load_if_present(&dir)? {
            Some(manifest) => manifest.stats_as::<Option<QueryCountsStatsView>>(&dir)?.and_then(|v| v.takedowns),
            None => None,
        },
        None => None,
    };
    let entries = match &located.blocklist {
        Some(path) => Blocklist::entries(path)?,
        None if !any_removed => return Ok(None),
        None => Vec::new(),
    };
    let mut distinct = Blocklist::default();
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let mut keys_from_hashes = 0;
    for entry in &entries {
        if distinct.insert(entry) {
            *by_kind.entry(entry.kind.name().to_owned()).or_default() += 1;
            let derived = entry.reason.as_deref().is_some_and(|r| r.starts_with("sha256:") || r.starts_with("md5:"));
            keys_from_hashes += u64::from(derived && entry.kind == wit_contract::BlockKind::Key);
        }
    }
    Ok(Some(Takedowns {
        blocklist: located.blocklist.as_ref().map(|p| p.display().to_string()),
        entries: by_kind,
        keys_from_hashes,
        first_added: entries.iter().map(|e| e.added_at.clone()).min(),
        last_added: entries.iter().map(|e| e.added_at.clone()).max(),
        rows_removed,
        query_counts,
    }))
}

/// The Parquet files of a side table (`DIR/SIDE/data/*.parquet`), by name.
fn side_files(dir: &Path, side: &str) -> Vec<PathBuf> {
    let data = dir.join(side).join(wit_contract::DATA_DIR);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&data)
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "parquet"));
    files.sort();
    files
}

/// Calls `each` with every batch of the side table, read with `columns`.
fn scan_side(
    files: &[PathBuf],
    columns: &[&str],
    mut each: impl FnMut(&Path, &RecordBatch) -> Result<()>,
) -> Result<()> {
    let options = ReadOptions { batch_size: 8192, columns: Some(columns.iter().map(|c| c.to_string()).collect()) };
    for path in files {
        for batch in ShardReader::open(path, &options)? {
            each(path, &batch?)?;
        }
    }
    Ok(())
}

fn shard_error(path: &Path, problem: String) -> ReportError {
    ReportError::Shard { path: path.to_path_buf(), first_row: 0, problem }
}

/// The string column `name` of a side-table batch (nulls read as "").
fn strings(batch: &RecordBatch, name: &str, path: &Path) -> Result<Vec<String>> {
    let column = batch.column_by_name(name).ok_or_else(|| shard_error(path, format!("no `{name}` column")))?;
    let column = arrow::compute::cast(column, &DataType::Utf8).map_err(|e| shard_error(path, e.to_string()))?;
    let column = column.as_string::<i32>();
    Ok((0..column.len()).map(|r| if column.is_null(r) { String::new() } else { column.value(r).to_owned() }).collect())
}

fn optional_u32(batch: &RecordBatch, name: &str, row: usize) -> Option<u32> {
    let column = batch.column_by_name(name)?.as_primitive_opt::<UInt32Type>()?;
    column.is_valid(row).then(|| column.value(row))
}

fn optional_bool(batch: &RecordBatch, name: &str, row: usize) -> Option<bool> {
    let column = batch.column_by_name(name)?.as_boolean_opt()?;
    column.is_valid(row).then(|| column.value(row))
}

/// A derived folder's own statistics: None (with a note) when a multi-rank merge left them to
/// its ranks (`null`, or only what `wit remove` added) or another version wrote them; the counts
/// shown come from the folder and its side table either way.
fn own_stats<T: for<'de> Deserialize<'de>>(manifest: &Manifest, dir: &Path, notes: &mut Vec<String>) -> Option<T> {
    match manifest.stats_as::<Option<T>>(dir) {
        Ok(stats) => stats,
        Err(e) => {
            notes.push(format!("{e}; its run statistics are not shown"));
            None
        }
    }
}

/// The input corpus a derived folder names, when it is there.
fn input_of(dir: &Path, input: &Option<String>) -> Option<PathBuf> {
    input.as_deref().and_then(|value| resolve_pointer(dir, value)).filter(|p| p.is_dir())
}

fn near_duplicates(dir: &Path, top: usize, thumbnail_size: u32) -> Result<NearDuplicates> {
    let manifest = Manifest::load(dir)?;
    let config = config_as::<DerivedConfigView>(&manifest);
    let mut notes = Vec::new();
    let stats = own_stats::<DedupStats>(&manifest, dir, &mut notes);
    let files = side_files(dir, NEAR_DUPLICATES_DIR);
    if files.is_empty() {
        notes.push(format!("{}: no side table (`{NEAR_DUPLICATES_DIR}/data/*.parquet`)", dir.display()));
    }
    // Pass 1: rows dropped per kept key.
    let mut per_kept: HashMap<String, u64> = HashMap::new();
    let (mut dropped, mut untracked) = (0u64, 0u64);
    scan_side(&files, &["kept_key"], |path, batch| {
        for kept in strings(batch, "kept_key", path)? {
            dropped += 1;
            let room = per_kept.len() < MAX_GROUPS_COUNTED;
            match per_kept.get_mut(&kept) {
                Some(n) => *n += 1,
                None if room => {
                    per_kept.insert(kept, 1);
                }
                None => untracked += 1,
            }
        }
        Ok(())
    })?;
    if untracked > 0 {
        notes.push(format!(
            "more than {} kept rows made others go; {} dropped rows of later ones are not in the groups counted",
            thousands(MAX_GROUPS_COUNTED as u64),
            thousands(untracked)
        ));
    }
    let groups = per_kept.len() as u64 + u64::from(untracked > 0);
    let mut largest: Vec<(String, u64)> = per_kept.into_iter().collect();
    largest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    largest.truncate(top);
    // Pass 2: the dropped rows of the largest groups.
    let wanted: HashMap<&str, usize> = largest.iter().enumerate().map(|(i, (k, _))| (k.as_str(), i)).collect();
    let mut members: Vec<Vec<Member>> = vec![Vec::new(); largest.len()];
    if !wanted.is_empty() {
        scan_side(&files, &["key", "url", "kept_key", "distance", "mirrored"], |path, batch| {
            let (keys, urls, kept) =
                (strings(batch, "key", path)?, strings(batch, "url", path)?, strings(batch, "kept_key", path)?);
            for row in 0..batch.num_rows() {
                let Some(&group) = wanted.get(kept[row].as_str()) else { continue };
                if members[group].len() < MEMBERS_SHOWN {
                    members[group].push(Member {
                        key: keys[row].clone(),
                        url: Some(urls[row].clone()),
                        distance: optional_u32(batch, "distance", row),
                        mirrored: optional_bool(batch, "mirrored", row),
                        thumbnail: None,
                    });
                }
            }
            Ok(())
        })?;
    }
    let mut largest: Vec<Group> = largest
        .into_iter()
        .zip(members)
        .map(|((key, n), dropped)| Group {
            kept: Member { key, url: None, distance: None, mirrored: None, thumbnail: None },
            dropped_count: n,
            dropped,
        })
        .collect();
    let input = config.as_ref().and_then(|c| c.input.clone());
    match input_of(dir, &input) {
        Some(corpus) if !largest.is_empty() => {
            let keys: HashSet<String> = largest
                .iter()
                .flat_map(|g| std::iter::once(&g.kept.key).chain(g.dropped.iter().map(|m| &m.key)))
                .cloned()
                .collect();
            let found = corpus_rows(&corpus, &keys, thumbnail_size)?;
            for group in &mut largest {
                for member in std::iter::once(&mut group.kept).chain(group.dropped.iter_mut()) {
                    if let Some((url, thumbnail)) = found.get(&member.key) {
                        member.url.get_or_insert_with(|| url.clone());
                        member.thumbnail = thumbnail.clone();
                    }
                }
            }
        }
        None if !largest.is_empty() => notes.push(format!(
            "{}: its input corpus ({}) is not here: no thumbnails",
            dir.display(),
            input.as_deref().unwrap_or("not recorded")
        )),
        _ => {}
    }
    Ok(NearDuplicates {
        folder: dir.display().to_string(),
        input,
        threshold: config.as_ref().and_then(|c| c.threshold),
        mirror: config.as_ref().and_then(|c| c.mirror),
        keep_rule: config.and_then(|c| c.keep_rule),
        kept: manifest.total_rows(),
        dropped,
        groups,
        largest,
        stats,
        notes,
    })
}

fn decontamination(dir: &Path, thumbnail_size: u32) -> Result<Decontamination> {
    let manifest = Manifest::load(dir)?;
    let config = config_as::<DerivedConfigView>(&manifest);
    let mut notes = Vec::new();
    let stats = own_stats::<DecontaminateStats>(&manifest, dir, &mut notes);
    let files = side_files(dir, DECONTAMINATED_DIR);
    if files.is_empty() {
        notes.push(format!("{}: no side table (`{DECONTAMINATED_DIR}/data/*.parquet`)", dir.display()));
    }
    let mut removed: BTreeMap<String, u64> = BTreeMap::new();
    let mut examples: Vec<RemovedPair> = Vec::new();
    let columns = ["key", "url", "caption", "reason", "eval_item", "distance", "mirrored", "ngram"];
    scan_side(&files, &columns, |path, batch| {
        let reasons = strings(batch, "reason", path)?;
        let (keys, urls) = (strings(batch, "key", path)?, strings(batch, "url", path)?);
        let (captions, items, ngrams) =
            (strings(batch, "caption", path)?, strings(batch, "eval_item", path)?, strings(batch, "ngram", path)?);
        for row in 0..batch.num_rows() {
            let count = removed.entry(reasons[row].clone()).or_default();
            *count += 1;
            if *count as usize <= EXAMPLES_PER_REASON {
                examples.push(RemovedPair {
                    row: Member {
                        key: keys[row].clone(),
                        url: Some(urls[row].clone()),
                        distance: optional_u32(batch, "distance", row),
                        mirrored: optional_bool(batch, "mirrored", row),
                        thumbnail: None,
                    },
                    caption: captions[row].clone(),
                    reason: reasons[row].clone(),
                    eval_item: items[row].clone(),
                    ngram: Some(ngrams[row].clone()).filter(|n| !n.is_empty()),
                });
            }
        }
        Ok(())
    })?;
    let input = config.as_ref().and_then(|c| c.input.clone());
    if let Some(corpus) = input_of(dir, &input).filter(|_| !examples.is_empty()) {
        let keys: HashSet<String> = examples.iter().map(|e| e.row.key.clone()).collect();
        let found = corpus_rows(&corpus, &keys, thumbnail_size)?;
        for example in &mut examples {
            example.row.thumbnail = found.get(&example.row.key).and_then(|(_, t)| t.clone());
        }
    }
    Ok(Decontamination {
        folder: dir.display().to_string(),
        input,
        against: config.as_ref().map(|c| c.against.clone()).unwrap_or_default(),
        threshold: config.as_ref().and_then(|c| c.threshold),
        caption_ngram: config.and_then(|c| c.caption_ngram),
        kept: manifest.total_rows(),
        removed,
        examples,
        stats,
        notes,
    })
}

/// The URL and a thumbnail (None: it did not decode) of the rows of `corpus` with `keys`. The
/// shards are read by key first; only those holding a wanted row are read with their images.
fn corpus_rows(
    corpus: &Path,
    keys: &HashSet<String>,
    thumbnail_size: u32,
) -> Result<HashMap<String, (String, Option<String>)>> {
    let manifest = Manifest::load(corpus)?;
    let mut found = HashMap::new();
    let by_key = ReadOptions { batch_size: 8192, columns: Some(vec![col::KEY.to_owned()]) };
    let with_images =
        ReadOptions { batch_size: 256, columns: Some([col::KEY, col::URL, col::IMAGE].map(str::to_owned).to_vec()) };
    for path in manifest.shard_paths(corpus) {
        if found.len() == keys.len() {
            break;
        }
        let mut holds = false;
        for batch in ShardReader::open(&path, &by_key)? {
            holds |= strings(&batch?, col::KEY, &path)?.iter().any(|k| keys.contains(k));
        }
        if !holds {
            continue;
        }
        for batch in ShardReader::open(&path, &with_images)? {
            let batch = batch?;
            let (key_column, urls) = (strings(&batch, col::KEY, &path)?, strings(&batch, col::URL, &path)?);
            let images = batch.column_by_name(col::IMAGE).and_then(|c| c.as_binary_opt::<i32>());
            for row in (0..batch.num_rows()).filter(|&r| keys.contains(&key_column[r])) {
                let thumbnail = images
                    .filter(|i| i.is_valid(row))
                    .and_then(|i| crate::thumbs::data_uri(i.value(row), thumbnail_size).ok());
                found.insert(key_column[row].clone(), (urls[row].clone(), thumbnail));
            }
        }
    }
    Ok(found)
}

fn count(n: Option<u64>) -> String {
    n.map(thousands).unwrap_or_else(|| "not recorded".into())
}

/// The section as terminal text.
pub fn render_text(out: &mut String, trust: &Trust) {
    let _ = writeln!(out, "\nTrust");
    match &trust.harvest {
        None => {
            let _ = writeln!(out, "  page opt-outs (harvest): not run");
        }
        Some(Harvest { checks: None, folder }) => {
            let _ = writeln!(out, "  page opt-outs (harvest): not recorded ({folder} predates the checks)");
        }
        Some(Harvest { checks: Some(checks), .. }) => {
            let dropped: Vec<String> = checks.dropped.iter().map(|(d, n)| format!("{d} {}", thousands(*n))).collect();
            let _ = writeln!(
                out,
                "  page opt-outs (harvest): pairs dropped by {}; blocklisted {}",
                if dropped.is_empty() { "none checked".into() } else { dropped.join(", ") },
                thousands(checks.blocklisted)
            );
        }
    }
    match &trust.fetch {
        None => {
            let _ = writeln!(out, "  image decisions (fetch): not run");
        }
        Some(fetch) => {
            let statuses = match &fetch.by_status {
                Some(map) => map.iter().map(|(s, n)| format!("{s} {}", thousands(*n))).collect::<Vec<_>>().join(", "),
                None => "not recorded".into(),
            };
            let _ = writeln!(
                out,
                "  image decisions (fetch): {statuses}; blocklisted input pairs (last run) {}",
                count(fetch.blocklisted_input)
            );
        }
    }
    let curate = match trust.curate_blocklisted {
        Some(n) => thousands(n),
        None => "not run".into(),
    };
    let _ = writeln!(out, "  blocklisted (curate): {curate}");
    match &trust.takedowns {
        None => {
            let _ = writeln!(out, "  takedowns (wit remove): not run");
        }
        Some(t) => {
            let entries: Vec<String> = t.entries.iter().map(|(k, n)| format!("{k} {}", thousands(*n))).collect();
            let when = match (&t.first_added, &t.last_added) {
                (Some(first), Some(last)) if first != last => format!(", added {first} … {last}"),
                (Some(first), _) => format!(", added {first}"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  takedowns (wit remove): blocklist entries {} ({} keys from image hashes){when}",
                if entries.is_empty() { "none".into() } else { entries.join(", ") },
                thousands(t.keys_from_hashes)
            );
            let rows: Vec<String> = t.rows_removed.iter().map(|(f, n)| format!("{f} {}", thousands(*n))).collect();
            let _ = writeln!(out, "    rows removed: {}", rows.join(", "));
            if let Some(q) = &t.query_counts {
                let _ = writeln!(
                    out,
                    "    per-query table: kept recounted after takedowns ({} off kept); matched is from before them",
                    thousands(q.kept_lowered_by)
                );
            }
        }
    }
    if trust.near_duplicates.is_empty() {
        let _ = writeln!(out, "  near duplicates (wit dedup): not run");
    }
    for n in &trust.near_duplicates {
        let _ = writeln!(
            out,
            "  near duplicates (wit dedup) {}: threshold {}, {} rows dropped in {} groups, {} kept",
            n.folder,
            count(n.threshold),
            thousands(n.dropped),
            thousands(n.groups),
            thousands(n.kept)
        );
        for group in n.largest.iter().take(5) {
            let dropped: Vec<&str> = group.dropped.iter().map(|m| m.key.as_str()).collect();
            let _ = writeln!(out, "    kept {} ← dropped {}", group.kept.key, dropped.join(", "));
        }
    }
    if trust.decontaminations.is_empty() {
        let _ = writeln!(out, "  decontamination (wit decontaminate): not run");
    }
    for d in &trust.decontaminations {
        let removed: Vec<String> = d.removed.iter().map(|(r, n)| format!("{r} {}", thousands(*n))).collect();
        let _ = writeln!(
            out,
            "  decontamination (wit decontaminate) {}: removed {}; {} kept",
            d.folder,
            if removed.is_empty() { "none".into() } else { removed.join(", ") },
            thousands(d.kept)
        );
        for e in d.examples.iter().take(3) {
            let _ = writeln!(out, "    {} {}: {}", e.reason, e.row.key, why(e));
        }
    }
}

/// Why a pair was removed, in words.
fn why(e: &RemovedPair) -> String {
    match (&e.row.distance, &e.ngram) {
        (Some(d), _) => format!(
            "image within {d} bits of {}{}",
            e.eval_item,
            if e.row.mirrored == Some(true) { " (mirrored)" } else { "" }
        ),
        (None, Some(ngram)) => format!("caption shares {ngram:?} with {}", e.eval_item),
        (None, None) => e.eval_item.clone(),
    }
}

fn cell(n: Option<u64>, missing: &str) -> String {
    match n {
        Some(n) => format!("<td class=\"n\" data-v=\"{n}\">{}</td>", thousands(n)),
        None => format!("<td class=\"n muted\" data-v=\"\">{missing}</td>"),
    }
}

fn member_html(out: &mut String, member: &Member, label: &str) {
    out.push_str("<div class=\"sample\">");
    if let Some(uri) = &member.thumbnail {
        let _ = write!(out, "<img src=\"{}\" alt=\"{}\">", escape(uri), escape(&member.key));
    }
    let _ = write!(out, "<div>{} <code>{}</code></div>", escape(label), escape(&member.key));
    if let Some(d) = member.distance {
        let mirrored = if member.mirrored == Some(true) { ", mirrored" } else { "" };
        let _ = write!(out, "<div class=\"muted\">{d} bits{mirrored}</div>");
    }
    if let Some(url) = &member.url {
        let _ = write!(out, "<div class=\"muted\">{}</div>", escape(url));
    }
    out.push_str("</div>");
}

/// The section as HTML (`<h2 id="trust">`); every part has an element with a stable id.
pub fn render_html(out: &mut String, trust: &Trust) {
    out.push_str("<h2 id=\"trust\">Trust</h2><table id=\"trust-summary\"><thead><tr><th>what</th><th>decision</th><th class=\"n\">pairs</th></tr></thead><tbody>");
    let row = |out: &mut String, what: &str, decision: &str, n: Option<u64>, missing: &str| {
        let _ = write!(out, "<tr><td>{}</td><td>{}</td>{}</tr>", escape(what), escape(decision), cell(n, missing));
    };
    match &trust.harvest {
        None => row(out, "harvest", "page opt-outs", None, "not run"),
        Some(Harvest { checks: None, .. }) => row(out, "harvest", "page opt-outs", None, "not recorded"),
        Some(Harvest { checks: Some(c), .. }) => {
            for (directive, n) in &c.dropped {
                row(out, "harvest", &format!("page_opt_out:{directive}"), Some(*n), "");
            }
            row(out, "harvest", "blocklisted", Some(c.blocklisted), "");
        }
    }
    match &trust.fetch {
        None => row(out, "fetch", "image decisions", None, "not run"),
        Some(f) => {
            match &f.by_status {
                Some(map) => map.iter().for_each(|(s, n)| row(out, "fetch", s, Some(*n), "")),
                None => row(out, "fetch", "failures by status", None, "not recorded"),
            }
            row(out, "fetch", "blocklisted input pairs (not fetched, last run)", f.blocklisted_input, "not recorded");
        }
    }
    row(out, "curate", "blocklisted", trust.curate_blocklisted, "not run");
    match &trust.takedowns {
        None => row(out, "wit remove", "takedowns", None, "not run"),
        Some(t) => t
            .rows_removed
            .iter()
            .for_each(|(f, n)| row(out, "wit remove", &format!("rows removed from {f}"), Some(*n), "")),
    }
    if trust.near_duplicates.is_empty() {
        row(out, "wit dedup", "near duplicates dropped", None, "not run");
    }
    for n in &trust.near_duplicates {
        row(out, "wit dedup", &format!("near duplicates dropped ({})", n.folder), Some(n.dropped), "");
    }
    if trust.decontaminations.is_empty() {
        row(out, "wit decontaminate", "eval overlaps removed", None, "not run");
    }
    for d in &trust.decontaminations {
        for (reason, n) in &d.removed {
            row(out, "wit decontaminate", &format!("removed: {reason} ({})", d.folder), Some(*n), "");
        }
    }
    out.push_str("</tbody></table>");

    if let Some(f) = &trust.fetch {
        let directives = f.opt_out_directives.as_ref().map(|d| d.join(", ")).unwrap_or_else(|| "not recorded".into());
        let robots = match f.respect_robots {
            Some(true) => "checked",
            Some(false) => "not checked (--ignore-robots)",
            None => "not recorded",
        };
        let _ = write!(
            out,
            "<p class=\"muted\" id=\"trust-fetch\">fetch ({}): robots.txt {robots}; X-Robots-Tag directives obeyed: {}. \
             Each corpus and failure row records the decision in its audit columns (robots_txt, robots_txt_rule, x_robots_tag).</p>",
            escape(&f.folder),
            escape(&directives)
        );
    }
    if let Some(t) = &trust.takedowns {
        out.push_str("<h3>Takedowns</h3><table id=\"trust-takedowns\"><tbody>");
        for (kind, n) in &t.entries {
            let _ = write!(out, "<tr><td>blocklist entries: {}</td>{}</tr>", escape(kind), cell(Some(*n), ""));
        }
        let _ = write!(out, "<tr><td>keys derived from image hashes</td>{}</tr>", cell(Some(t.keys_from_hashes), ""));
        out.push_str("</tbody></table>");
        let when = match (&t.first_added, &t.last_added) {
            (Some(first), Some(last)) => format!("entries added {first} … {last}"),
            _ => "no blocklist entries".into(),
        };
        let _ = write!(
            out,
            "<p class=\"muted\">{} ({}).</p>",
            escape(t.blocklist.as_deref().unwrap_or("no blocklist file")),
            escape(&when)
        );
        if let Some(q) = &t.query_counts {
            let _ = write!(
                out,
                "<p class=\"note\" id=\"trust-query-counts\">The per-query table's kept counts were recounted after \
                 the takedowns ({} off kept, {}); its matched counts are from before them.</p>",
                thousands(q.kept_lowered_by),
                escape(&q.recounted_at)
            );
        }
    }
    for (i, n) in trust.near_duplicates.iter().enumerate() {
        let _ = write!(
            out,
            "<h3>Near duplicates: {}</h3><p id=\"trust-dedup-{i}\">threshold {} bits{}; keep rule: {}. {} rows dropped \
             in {} groups; {} rows kept{}.</p>",
            escape(&n.folder),
            n.threshold.map(|t| t.to_string()).unwrap_or_else(|| "not recorded".into()),
            match n.mirror {
                Some(true) => ", mirrored copies included",
                _ => "",
            },
            escape(n.keep_rule.as_deref().unwrap_or("not recorded")),
            thousands(n.dropped),
            thousands(n.groups),
            thousands(n.kept),
            n.stats
                .as_ref()
                .map(|s| format!(" ({} near pairs, {} through the mirror)", thousands(s.near_pairs), thousands(s.mirrored_pairs)))
                .unwrap_or_default()
        );
        for note in &n.notes {
            let _ = write!(out, "<p class=\"note\">{}</p>", escape(note));
        }
        for group in &n.largest {
            let _ = write!(out, "<div class=\"samples\" data-kept=\"{}\">", escape(&group.kept.key));
            member_html(out, &group.kept, "kept");
            for member in &group.dropped {
                member_html(out, member, "dropped");
            }
            if group.dropped_count as usize > group.dropped.len() {
                let _ = write!(
                    out,
                    "<div class=\"muted\">and {} more</div>",
                    group.dropped_count as usize - group.dropped.len()
                );
            }
            out.push_str("</div>");
        }
    }
    for (i, d) in trust.decontaminations.iter().enumerate() {
        let removed: Vec<String> = d.removed.iter().map(|(r, n)| format!("{} {}", escape(r), thousands(*n))).collect();
        let _ = write!(
            out,
            "<h3>Decontamination: {}</h3><p id=\"trust-decontaminate-{i}\">against {}; image threshold {} bits; caption \
             n-gram {}. Removed: {}; {} rows kept.</p>",
            escape(&d.folder),
            escape(&d.against.join(", ")),
            d.threshold.map(|t| t.to_string()).unwrap_or_else(|| "not recorded".into()),
            d.caption_ngram.map(|n| format!("{n} tokens")).unwrap_or_else(|| "off".into()),
            if removed.is_empty() { "none".into() } else { removed.join(", ") },
            thousands(d.kept)
        );
        for note in &d.notes {
            let _ = write!(out, "<p class=\"note\">{}</p>", escape(note));
        }
        out.push_str("<div class=\"samples\">");
        for e in &d.examples {
            out.push_str("<div class=\"sample\">");
            if let Some(uri) = &e.row.thumbnail {
                let _ = write!(out, "<img src=\"{}\" alt=\"{}\">", escape(uri), escape(&e.caption));
            }
            let _ = write!(
                out,
                "<div>{}: <code>{}</code></div><div class=\"caption\">{}</div><div class=\"muted\">{}</div></div>",
                escape(&e.reason),
                escape(&e.row.key),
                escape(&e.caption),
                escape(&why(e))
            );
        }
        out.push_str("</div>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wit_contract::{BlockEntry, BlockKind, RecordKind};

    fn stage(dir: &Path, kind: RecordKind, config: serde_json::Value, stats: serde_json::Value) {
        std::fs::create_dir_all(dir).unwrap();
        let mut manifest = Manifest::new(kind, config, None);
        manifest.stats = stats;
        manifest.complete = true;
        manifest.save(dir).unwrap();
    }

    #[test]
    fn page_opt_outs_list_every_checked_directive_and_an_older_harvest_is_not_recorded() {
        let root = tempfile::tempdir().unwrap();
        let candidates = root.path().join("candidates");
        let config = serde_json::json!({"stage": "harvest", "page_opt_out_directives": ["noai", "noimageai", "tdm-reservation"]});
        let stats = serde_json::json!({"skipped": {"page_opt_out:noai": 3, "page_opt_out:tdm-reservation": 1, "blocklisted": 2, "too_short": 9}});
        stage(&candidates, RecordKind::Candidates, config, stats);
        let located = Located { candidates: Some(candidates.clone()), ..Default::default() };
        let trust = read(&located, 10, 32).unwrap();
        let checks = trust.harvest.as_ref().unwrap().checks.as_ref().unwrap();
        let dropped: Vec<(&str, u64)> = checks.dropped.iter().map(|(d, n)| (d.as_str(), *n)).collect();
        assert_eq!(dropped, [("noai", 3), ("noimageai", 0), ("tdm-reservation", 1)]);
        assert_eq!(checks.blocklisted, 2);
        assert!(trust.fetch.is_none() && trust.curate_blocklisted.is_none() && trust.takedowns.is_none());
        let mut text = String::new();
        render_text(&mut text, &trust);
        assert!(text.contains("noai 3, noimageai 0, tdm-reservation 1; blocklisted 2"), "{text}");
        assert!(text.contains("image decisions (fetch): not run") && text.contains("blocklisted (curate): not run"));

        stage(&candidates, RecordKind::Candidates, serde_json::json!({"stage": "harvest"}), serde_json::json!({}));
        let trust = read(&located, 10, 32).unwrap();
        assert!(trust.harvest.as_ref().unwrap().checks.is_none());
        let mut html = String::new();
        render_html(&mut html, &trust);
        assert!(html.contains("page opt-outs</td><td class=\"n muted\" data-v=\"\">not recorded"), "{html}");
    }

    #[test]
    fn takedowns_count_distinct_entries_by_kind_and_the_rows_each_folder_lost() {
        let root = tempfile::tempdir().unwrap();
        let build = root.path();
        let list = build.join(wit_contract::layout::BLOCKLIST_FILE);
        let hash = "ab".repeat(32);
        Blocklist::append(
            &list,
            &[
                BlockEntry::new(BlockKind::Key, "00000000000000aa", None),
                BlockEntry::new(BlockKind::Sha256, &hash, None),
                BlockEntry::new(BlockKind::Key, "00000000000000bb", Some(format!("sha256:{hash}"))),
                BlockEntry::new(BlockKind::Domain, "photos.example", None),
            ],
        )
        .unwrap();
        Blocklist::append(&list, &[BlockEntry::new(BlockKind::Key, "00000000000000aa", None)]).unwrap();
        stage(
            &build.join("curated"),
            RecordKind::Curated,
            serde_json::json!({}),
            serde_json::json!({"kept": 4, "takedowns": 2}),
        );
        stage(&build.join("candidates"), RecordKind::Candidates, serde_json::json!({}), serde_json::json!({}));
        let located = Located {
            curated: Some(build.join("curated")),
            candidates: Some(build.join("candidates")),
            blocklist: Some(list),
            ..Default::default()
        };
        let takedowns = read(&located, 10, 32).unwrap().takedowns.unwrap();
        let entries: Vec<(&str, u64)> = takedowns.entries.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        assert_eq!(entries, [("domain", 1), ("key", 2), ("sha256", 1)], "a repeated line counts once");
        assert_eq!(takedowns.keys_from_hashes, 1);
        let removed: Vec<(&str, u64)> = takedowns.rows_removed.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        assert_eq!(removed, [("candidates", 0), ("curated", 2)]);
        assert!(takedowns.query_counts.is_none(), "no per-query table was recounted");
    }
}
