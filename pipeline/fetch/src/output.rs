//! The output folder: corpus shards and failure shards, each series committed atomically, and the
//! resume state read back from what was committed.
//!
//! A shard is committed by finishing it (atomic rename, see `wit_contract::writer`) and then saving
//! the manifest that lists it. On open, shard files the manifest does not list (a run killed
//! between the two steps) and temporary files are deleted; the keys of listed shards are skipped.
//! So a `kill -9` loses at most the rows of the shards in flight, which the next run fetches again.
//!
//! Rows may carry extra columns after the kind's own (a URL list's kept columns, `exif`): each
//! series' manifest lists them and every shard of it has them. Each finished shard's own stats go
//! to `_shard_stats/` (module `shard_stats`).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::{Array, AsArray};
use arrow::datatypes::UInt64Type;
use serde::{Deserialize, Serialize};
use wit_contract::records::Record;
use wit_contract::schema::col;
use wit_contract::{
    clean_stale_temp_files, extra, AuditedFailure, AuditedImage, ExtraColumn, ExtraValue, Manifest, ReadOptions,
    RecordKind, ShardReader, ShardWriter, WriterOptions,
};

use crate::error::{FetchStageError, Result};
use crate::shard_stats::{self, ShardStats};
use wit_contract::{AtPath, PathError};

/// The failures folder inside the output folder (`_`-named: readers of the corpus skip it).
pub const FAILURES_DIR: &str = wit_contract::FAILURES_DIR;
/// The status of corpus rows in the counts.
pub const SUCCESS: &str = "success";

/// Rows per status and per error kind of everything committed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub corpus_rows: u64,
    pub failure_rows: u64,
    pub by_status: BTreeMap<String, u64>,
    pub by_error_kind: BTreeMap<String, u64>,
}

impl Counts {
    pub(crate) fn add(&mut self, other: &Counts) {
        self.corpus_rows += other.corpus_rows;
        self.failure_rows += other.failure_rows;
        for (k, v) in &other.by_status {
            *self.by_status.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.by_error_kind {
            *self.by_error_kind.entry(k.clone()).or_default() += v;
        }
    }

    fn count_failure(&mut self, status: &str, kind: &str) {
        self.failure_rows += 1;
        *self.by_status.entry(status.to_string()).or_default() += 1;
        *self.by_error_kind.entry(kind.to_string()).or_default() += 1;
    }

    fn count_success(&mut self) {
        self.corpus_rows += 1;
        *self.by_status.entry(SUCCESS.to_string()).or_default() += 1;
    }
}

/// The error kind recorded in a failure row: the `kind: ` prefix of its message.
pub fn failure_kind(error_message: &str) -> &str {
    error_message.split_once(':').map(|(kind, _)| kind).unwrap_or("unknown")
}

/// A finished pair, ready for a shard.
#[derive(Debug)]
pub enum Outcome {
    Image(AuditedImage),
    Failed(AuditedFailure),
}

/// What the committed output already holds.
#[derive(Debug, Default)]
pub struct ResumeState {
    /// xxh3 of every committed key (corpus and failures).
    pub done_keys: HashSet<u64>,
    /// `image_xxh3` of every committed corpus row.
    pub image_hashes: HashSet<u64>,
    pub counts: Counts,
}

/// The hash fetch keeps of a pair key.
pub fn key_hash(key: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key.as_bytes())
}

/// Rows written per `write_records` call.
const WRITE_BATCH: usize = 64;

/// One numbered series of shards (corpus or failures) with its manifest.
struct Series<T: Record> {
    dir: PathBuf,
    manifest: Manifest,
    writer: Option<ShardWriter>,
    pending: Vec<T>,
    /// The extra values of the pending rows (one `Vec` a row, in `manifest.extra_columns` order).
    pending_extra: Vec<Vec<ExtraValue>>,
    shard_rows: u64,
    /// Counts of the rows in the open shard, added to the committed counts on commit.
    open_counts: Counts,
    /// Encoded image bytes of the open shard's rows.
    open_image_bytes: u64,
    /// When the open shard got its first row (RFC 3339 and a clock).
    opened: Option<(String, Instant)>,
}

impl<T: Record> Series<T> {
    /// Adds a row with its extra values; true when the open shard is full.
    fn push(&mut self, row: T, mut extra: Vec<ExtraValue>) -> Result<bool> {
        if self.opened.is_none() {
            self.opened = Some((wit_contract::now_rfc3339(), Instant::now()));
        }
        extra.resize(self.manifest.extra_columns.len(), ExtraValue::Null);
        self.pending.push(row);
        self.pending_extra.push(extra);
        if self.pending.len() >= WRITE_BATCH {
            self.write_pending()?;
        }
        let rows = self.writer.as_ref().map_or(0, ShardWriter::rows) + self.pending.len() as u64;
        Ok(rows >= self.shard_rows)
    }

    fn write_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let columns = &self.manifest.extra_columns;
        if self.writer.is_none() {
            let path = wit_contract::shard_path(&self.dir, self.manifest.shards.len());
            let schema = extra::schema_with(T::KIND, columns);
            self.writer = Some(ShardWriter::create(path, schema, &WriterOptions::default())?);
        }
        let batch = extra::append(T::to_batch(&self.pending)?, T::KIND, columns, &self.pending_extra)?;
        if let Some(writer) = self.writer.as_mut() {
            writer.write_batch(&batch)?;
        }
        self.pending.clear();
        self.pending_extra.clear();
        Ok(())
    }

    /// Finishes the open shard (if it has rows) into the manifest (not yet saved) and writes its
    /// stats file; returns its counts.
    fn finish_shard(&mut self) -> Result<Counts> {
        self.write_pending()?;
        let counts = std::mem::take(&mut self.open_counts);
        let image_bytes = std::mem::take(&mut self.open_image_bytes);
        let opened = self.opened.take();
        if let Some(writer) = self.writer.take() {
            let info = writer.finish()?;
            let (started_at, clock) = opened.unwrap_or_else(|| (wit_contract::now_rfc3339(), Instant::now()));
            ShardStats::new(&info, &counts, image_bytes, started_at, clock.elapsed().as_secs_f64()).save(&self.dir)?;
            self.manifest.add_shard(info);
        }
        Ok(counts)
    }

    fn save(&mut self, stats: serde_json::Value) -> Result<()> {
        self.manifest.stats = stats;
        self.manifest.save(&self.dir)?;
        Ok(())
    }
}

/// Whether the output folder needs work.
pub enum Opened {
    /// A complete run with this configuration is already there: its stats.
    Complete(Box<Manifest>),
    Ready(Box<Sink>, ResumeState),
}

/// The writer of both series.
pub struct Sink {
    corpus: Series<AuditedImage>,
    failures: Series<AuditedFailure>,
    committed: Counts,
    /// Extra figures of the run merged into the manifests' stats.
    pub run_stats: serde_json::Value,
}

impl Sink {
    /// Opens (or resumes) `out` (its failures in `failures_dir`) for a run recorded as `config`.
    pub fn open(out: &Path, failures_dir: &Path, config: &serde_json::Value, shard_rows: u64) -> Result<Opened> {
        Self::open_with(out, failures_dir, config, shard_rows, &ExtraColumns::default())
    }

    /// [`Sink::open`] for rows with extra columns after the kinds' own.
    pub fn open_with(
        out: &Path,
        failures_dir: &Path,
        config: &serde_json::Value,
        shard_rows: u64,
        extra: &ExtraColumns,
    ) -> Result<Opened> {
        if let Some(existing) = Manifest::load_if_present(out)? {
            if existing.kind != RecordKind::Corpus {
                return Err(FetchStageError::Output {
                    path: out.to_path_buf(),
                    problem: format!("holds a {} folder, not a corpus; choose another output folder", existing.kind),
                });
            }
            if existing.config != *config {
                return Err(FetchStageError::Output {
                    path: out.to_path_buf(),
                    problem: "holds a fetch run with another configuration (see its _manifest.json); rerun with the \
                              same options to resume, or use another folder"
                        .into(),
                });
            }
            if existing.complete {
                return Ok(Opened::Complete(Box::new(existing)));
            }
        }
        let mut state = ResumeState::default();
        let corpus = open_series::<AuditedImage>(out, config, shard_rows, &extra.corpus, &mut state)?;
        let failures = open_series::<AuditedFailure>(failures_dir, config, shard_rows, &extra.failures, &mut state)?;
        let sink = Sink { corpus, failures, committed: state.counts.clone(), run_stats: serde_json::json!({}) };
        Ok(Opened::Ready(Box::new(sink), state))
    }

    /// Adds one finished pair; commits a shard when one is full.
    pub fn push(&mut self, outcome: Outcome) -> Result<()> {
        self.push_with(outcome, Vec::new())
    }

    /// Adds one finished pair with its extra values (the corpus series' columns; a failure keeps
    /// the first ones, those the failures series has).
    pub fn push_with(&mut self, outcome: Outcome, extra: Vec<ExtraValue>) -> Result<()> {
        match outcome {
            Outcome::Image(row) => {
                self.corpus.open_counts.count_success();
                self.corpus.open_image_bytes += row.image.image.len() as u64;
                if self.corpus.push(row, extra)? {
                    let counts = self.corpus.finish_shard()?;
                    self.committed.add(&counts);
                    let stats = self.stats_json();
                    self.corpus.save(stats)?;
                }
            }
            Outcome::Failed(row) => {
                self.failures.open_counts.count_failure(&row.failure.status, failure_kind(&row.failure.error_message));
                if self.failures.push(row, extra)? {
                    let counts = self.failures.finish_shard()?;
                    self.committed.add(&counts);
                    let stats = self.stats_json();
                    self.failures.save(stats)?;
                }
            }
        }
        Ok(())
    }

    /// Commits both open shards; `complete` marks the run finished in both manifests.
    pub fn commit(&mut self, complete: bool) -> Result<Counts> {
        let failures = self.failures.finish_shard()?;
        self.committed.add(&failures);
        let corpus = self.corpus.finish_shard()?;
        self.committed.add(&corpus);
        let stats = self.stats_json();
        // Failures first: the corpus manifest is the one readers open, so it is marked complete last.
        self.failures.manifest.complete = complete;
        self.failures.save(stats.clone())?;
        self.corpus.manifest.complete = complete;
        self.corpus.save(stats)?;
        Ok(self.committed.clone())
    }

    /// Committed plus open rows.
    pub fn counts(&self) -> Counts {
        let mut counts = self.committed.clone();
        counts.add(&self.corpus.open_counts);
        counts.add(&self.failures.open_counts);
        counts
    }

    pub fn shard_counts(&self) -> (u64, u64) {
        (self.corpus.manifest.shards.len() as u64, self.failures.manifest.shards.len() as u64)
    }

    fn stats_json(&self) -> serde_json::Value {
        self.stats_with(&self.committed)
    }

    fn stats_with(&self, counts: &Counts) -> serde_json::Value {
        let mut value = serde_json::to_value(counts).unwrap_or_default();
        if let (Some(map), Some(run)) = (value.as_object_mut(), self.run_stats.as_object()) {
            for (k, v) in run {
                map.insert(k.clone(), v.clone());
            }
        }
        value
    }
}

/// The extra columns of both series: the corpus's are the failures' followed by its own (`exif`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtraColumns {
    pub corpus: Vec<ExtraColumn>,
    pub failures: Vec<ExtraColumn>,
}

fn open_series<T: Record>(
    dir: &Path,
    config: &serde_json::Value,
    shard_rows: u64,
    extra_columns: &[ExtraColumn],
    state: &mut ResumeState,
) -> Result<Series<T>> {
    let kind = T::KIND;
    fs::create_dir_all(dir).at_path(dir)?;
    clean_stale_temp_files(dir)?;
    let mut manifest = match Manifest::load_if_present(dir)? {
        Some(manifest) if manifest.kind == kind && manifest.config == *config => manifest,
        Some(_) => {
            return Err(FetchStageError::Output {
                path: dir.to_path_buf(),
                problem: format!("_manifest.json is not a {kind} manifest of this run"),
            })
        }
        None => Manifest { extra_columns: extra_columns.to_vec(), ..Manifest::new(kind, config.clone(), None) },
    };
    if manifest.extra_columns != extra_columns {
        return Err(FetchStageError::Output {
            path: dir.to_path_buf(),
            problem: "_manifest.json lists other extra columns (or other types) than this run's input has".into(),
        });
    }
    manifest.complete = false;
    remove_unlisted_shards(dir, &manifest)?;
    shard_stats::remove_unlisted(dir, &manifest)?;
    for path in manifest.shard_paths(dir) {
        read_committed(&path, kind, state)?;
    }
    manifest.save(dir)?;
    Ok(Series {
        dir: dir.to_path_buf(),
        manifest,
        writer: None,
        pending: Vec::new(),
        pending_extra: Vec::new(),
        shard_rows,
        open_counts: Counts::default(),
        open_image_bytes: 0,
        opened: None,
    })
}

/// Deletes this series' shard files the manifest does not list: finished by a run that was killed
/// before it could record them; their rows are fetched again.
fn remove_unlisted_shards(dir: &Path, manifest: &Manifest) -> Result<()> {
    let home = wit_contract::data_home(dir);
    let entries = match fs::read_dir(&home.dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(PathError::io(&home.dir, e).into()),
    };
    for entry in entries {
        let entry = entry.at_path(&home.dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if home.owns(&name) && !manifest.has_shard(&format!("{}{name}", home.listed)) {
            tracing::info!(file = %entry.path().display(), "removing a shard the manifest does not list (interrupted run)");
            fs::remove_file(entry.path()).at_path(entry.path())?;
        }
    }
    Ok(())
}

fn read_committed(path: &Path, kind: RecordKind, state: &mut ResumeState) -> Result<()> {
    let columns: Vec<String> = match kind {
        RecordKind::Corpus => vec![col::KEY.into(), col::IMAGE_XXH3.into()],
        _ => vec![col::KEY.into(), col::STATUS.into(), col::ERROR_MESSAGE.into()],
    };
    let bad = |problem: &str| FetchStageError::Output { path: path.to_path_buf(), problem: problem.to_string() };
    let options = ReadOptions { batch_size: 8192, columns: Some(columns) };
    for batch in ShardReader::open(path, &options)? {
        let batch = batch?;
        let keys = batch.column(0).as_string_opt::<i32>().ok_or_else(|| bad("`key` is not a string column"))?;
        for r in 0..keys.len() {
            state.done_keys.insert(key_hash(keys.value(r)));
        }
        if kind == RecordKind::Corpus {
            let hashes =
                batch.column(1).as_primitive_opt::<UInt64Type>().ok_or_else(|| bad("`image_xxh3` is not u64"))?;
            state.image_hashes.extend(hashes.values().iter().copied());
            for _ in 0..keys.len() {
                state.counts.count_success();
            }
        } else {
            let statuses = batch.column(1).as_string_opt::<i32>().ok_or_else(|| bad("`status` is not a string"))?;
            let messages =
                batch.column(2).as_string_opt::<i32>().ok_or_else(|| bad("`error_message` is not a string"))?;
            for r in 0..keys.len() {
                state.counts.count_failure(statuses.value(r), failure_kind(messages.value(r)));
            }
        }
    }
    Ok(())
}
