//! WebDataset tars from a corpus folder (see the crate docs for the layout).

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use wit_contract::extra::values_of;
use wit_contract::progress::{Progress, Spec};
use wit_contract::records::Record;
use wit_contract::{CorpusImage, ExtraColumn, ExtraValue, Manifest, ReadOptions, RecordKind, ShardReader};

use crate::{ExportError, Result};
use wit_contract::{AtPath, PathError};

/// What the export records in `DIR/_export.json`: a rerun with other settings is refused.
const SETTINGS_FILE: &str = "_export.json";
/// Samples per tar in open_clip's dataset-size file.
pub const SIZES_FILE: &str = "sizes.json";
/// Rows read per batch (images included: memory is this many rows at most).
const BATCH: usize = 64;

#[derive(Debug, Clone)]
pub struct WebDatasetConfig {
    /// A corpus folder (`wit fetch` output).
    pub corpus: PathBuf,
    pub out: PathBuf,
    /// Samples per tar (img2dataset's default is 10,000).
    pub samples_per_tar: usize,
    pub rank: usize,
    pub world_size: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExportStats {
    /// Files this rank owns (tars, or Parquet files of the hf export).
    pub files: usize,
    /// Of those, the ones a finished earlier run had written (kept as they are).
    pub files_kept: usize,
    pub files_written: usize,
    pub samples_written: u64,
    pub bytes_written: u64,
    /// Samples in the whole export (every rank's).
    pub samples_total: u64,
}

/// `00042.tar`: tar `index`'s name, as img2dataset names its shards.
pub fn tar_name(index: usize) -> String {
    format!("{index:05}.tar")
}

/// The sample key of row `row` of tar `index`: the tar number then the row, fixed width, no dot.
fn sample_key(index: usize, row: usize, samples_per_tar: usize) -> String {
    let width = (samples_per_tar.saturating_sub(1).max(1)).to_string().len().max(4);
    format!("{index:05}{row:0width$}")
}

/// The file extension of a stored image format.
fn extension(format: &str) -> &str {
    match format {
        "jpeg" | "jpg" => "jpg",
        "png" => "png",
        "webp" => "webp",
        other => other,
    }
}

/// The `KEY.json` of a sample: img2dataset's columns where they overlap, plus wit's identity.
fn sample_json(row: &CorpusImage) -> serde_json::Value {
    let c = &row.candidate;
    serde_json::json!({
        "key": c.key,
        "url": c.url,
        "caption": c.caption,
        "status": "success",
        "error_message": null,
        "width": row.width,
        "height": row.height,
        "original_width": row.original_width,
        "original_height": row.original_height,
        "page_url": c.page_url,
        "source": c.source,
        "lang": c.lang,
        "query_ids": row.query_ids,
        "image_format": row.image_format,
        "image_xxh3": format!("{:016x}", row.image_xxh3),
        "source_file": c.provenance.file,
        "source_offset": c.provenance.offset,
    })
}

/// Corpus rows of one shard with the values of its extra columns (a URL list's kept columns,
/// `exif`), which go into each sample's JSON as img2dataset puts its additional columns there.
struct ExtraRows {
    batches: ShardReader,
    columns: Vec<ExtraColumn>,
    pending: std::vec::IntoIter<(CorpusImage, serde_json::Map<String, serde_json::Value>)>,
}

impl ExtraRows {
    /// Rows `rows` of the shard at `path` (row numbers within it).
    fn open(path: &Path, columns: &[ExtraColumn], rows: std::ops::Range<u64>) -> Result<Self> {
        let batches = ShardReader::open_rows(path, &ReadOptions { batch_size: BATCH, columns: None }, rows)?;
        Ok(ExtraRows { batches, columns: columns.to_vec(), pending: Vec::new().into_iter() })
    }

    fn batch_rows(
        &self,
        batch: &RecordBatch,
    ) -> Result<Vec<(CorpusImage, serde_json::Map<String, serde_json::Value>)>> {
        let rows = CorpusImage::from_batch(batch)?;
        let mut extras = vec![serde_json::Map::new(); rows.len()];
        for column in &self.columns {
            let Some(array) = batch.column_by_name(&column.name) else { continue };
            for (extra, value) in extras.iter_mut().zip(values_of(array, column.data_type)?) {
                let value = match value {
                    ExtraValue::Null => serde_json::Value::Null,
                    ExtraValue::Bool(v) => v.into(),
                    ExtraValue::Int(v) => v.into(),
                    ExtraValue::UInt(v) => v.into(),
                    ExtraValue::Float(v) => v.into(),
                    ExtraValue::Text(v) => v.into(),
                };
                extra.insert(column.name.clone(), value);
            }
        }
        Ok(rows.into_iter().zip(extras).collect())
    }
}

impl Iterator for ExtraRows {
    type Item = Result<(CorpusImage, serde_json::Map<String, serde_json::Value>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(row) = self.pending.next() {
                return Some(Ok(row));
            }
            let batch = match self.batches.next()? {
                Ok(batch) => batch,
                Err(e) => return Some(Err(e.into())),
            };
            match self.batch_rows(&batch) {
                Ok(rows) => self.pending = rows.into_iter(),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Writes rank `config.rank`'s tars of the export.
pub fn export_webdataset(config: &WebDatasetConfig) -> Result<ExportStats> {
    let world_size = config.world_size.max(1);
    if config.rank >= world_size || config.samples_per_tar == 0 {
        return Err(ExportError::Output {
            path: config.out.clone(),
            problem: format!(
                "rank {} of world size {}, {} samples per tar: need rank < world size and at least 1 sample",
                config.rank, world_size, config.samples_per_tar
            ),
        });
    }
    let manifest = Manifest::load(&config.corpus)?;
    if manifest.kind != RecordKind::Corpus {
        return Err(PathError::input(
            Manifest::path_in(&config.corpus),
            format!("a {} folder; `wit export webdataset` reads a corpus (wit fetch output)", manifest.kind),
        )
        .into());
    }
    if !manifest.complete {
        return Err(PathError::input(
            Manifest::path_in(&config.corpus),
            "the corpus is not complete yet (its fetch has not finished)",
        )
        .into());
    }
    let out = &config.out;
    fs::create_dir_all(out).at_path(out)?;
    check_settings(out, &manifest, config)?;
    remove_own_temporaries(out, config.rank, world_size)?;

    let total = manifest.total_rows();
    let per_tar = config.samples_per_tar as u64;
    let tars = total.div_ceil(per_tar) as usize;
    write_sizes(out, total, per_tar, tars)?;
    let mut stats = ExportStats { samples_total: total, ..ExportStats::default() };
    let count_of = |index: usize| per_tar.min(total - index as u64 * per_tar);
    let mine: u64 = (config.rank..tars).step_by(world_size).map(count_of).sum();
    let progress = Progress::start(Spec::new("export webdataset", "samples", Some(mine)).with_bytes());
    for index in (config.rank..tars).step_by(world_size) {
        stats.files += 1;
        let path = out.join(tar_name(index));
        let (first, count) = (index as u64 * per_tar, count_of(index));
        if path.is_file() {
            stats.files_kept += 1;
            progress.resumed(count);
            continue;
        }
        let tar = Tar { index, first, count, samples_per_tar: config.samples_per_tar };
        let (samples, bytes) = write_tar(&config.corpus, &manifest, &path, &tar, &progress)?;
        stats.files_written += 1;
        stats.samples_written += samples;
        stats.bytes_written += bytes;
        tracing::debug!(tar = %path.display(), samples, "wrote");
    }
    progress.finish();
    Ok(stats)
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Settings {
    corpus: String,
    corpus_rows: u64,
    corpus_shards: Vec<String>,
    samples_per_tar: usize,
}

/// Records the export's settings, or refuses a folder an export with other settings made.
fn check_settings(out: &Path, manifest: &Manifest, config: &WebDatasetConfig) -> Result<()> {
    let settings = Settings {
        corpus: wit_contract::recorded_path(&config.corpus),
        corpus_rows: manifest.total_rows(),
        corpus_shards: manifest.shards.iter().map(|s| s.xxh3.clone()).collect(),
        samples_per_tar: config.samples_per_tar,
    };
    let path = out.join(SETTINGS_FILE);
    if let Ok(bytes) = fs::read(&path) {
        let earlier: Settings = serde_json::from_slice(&bytes)
            .map_err(|e| ExportError::Output { path: path.clone(), problem: format!("does not parse: {e}") })?;
        if earlier.samples_per_tar != settings.samples_per_tar || earlier.corpus_shards != settings.corpus_shards {
            return Err(ExportError::Output {
                path,
                problem: format!(
                    "holds an export of another corpus or with another --samples-per-tar ({}); use another folder",
                    earlier.samples_per_tar
                ),
            });
        }
        return Ok(());
    }
    let json = serde_json::to_vec_pretty(&settings)
        .map_err(|e| ExportError::Output { path: path.clone(), problem: e.to_string() })?;
    wit_contract::write_file_atomically(&path, &json)?;
    Ok(())
}

/// `sizes.json` (`{"00000.tar": N, …}`): a function of the corpus, so every rank writes the same file.
fn write_sizes(out: &Path, total: u64, per_tar: u64, tars: usize) -> Result<()> {
    let sizes: serde_json::Map<String, serde_json::Value> =
        (0..tars).map(|i| (tar_name(i), (per_tar.min(total - i as u64 * per_tar)).into())).collect();
    let json = serde_json::to_vec_pretty(&sizes).unwrap_or_default();
    wit_contract::write_file_atomically(&out.join(SIZES_FILE), &json)?;
    Ok(())
}

/// The hidden name tar `index` is written under until it is whole.
fn temp_name(index: usize) -> String {
    format!(".{}.tmp", tar_name(index))
}

/// Removes what a killed run left of this rank's tars: their hidden temporary files.
fn remove_own_temporaries(out: &Path, rank: usize, world_size: usize) -> Result<()> {
    for entry in fs::read_dir(out).at_path(out)? {
        let entry = entry.at_path(out)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let index =
            name.strip_prefix('.').and_then(|n| n.strip_suffix(".tar.tmp")).and_then(|n| n.parse::<usize>().ok());
        if index.is_some_and(|i| i % world_size == rank) {
            fs::remove_file(entry.path()).at_path(entry.path())?;
        }
    }
    Ok(())
}

/// Which rows one tar holds: corpus rows `first … first+count−1`, as tar number `index`.
struct Tar {
    index: usize,
    first: u64,
    count: u64,
    samples_per_tar: usize,
}

/// Writes the rows of `tar` into the file `path`; returns (samples, bytes).
fn write_tar(corpus: &Path, manifest: &Manifest, path: &Path, tar: &Tar, progress: &Progress) -> Result<(u64, u64)> {
    let Tar { index, first, count, samples_per_tar } = *tar;
    let temp = path.with_file_name(temp_name(index));
    let file = File::create(&temp).at_path(&temp)?;
    let mut builder = tar::Builder::new(BufWriter::new(file));
    builder.mode(tar::HeaderMode::Deterministic);
    let mut written = 0u64;
    let mut bytes = 0u64;
    let mut start = 0u64;
    let result = (|| -> Result<()> {
        for shard in &manifest.shards {
            let end = start + shard.rows;
            if end <= first || start >= first + count {
                start = end;
                continue;
            }
            // Only this tar's rows of the shard are read.
            let local = first.saturating_sub(start)..(first + count - start).min(shard.rows);
            let shard_path = corpus.join(&shard.file);
            let rows = ExtraRows::open(&shard_path, &manifest.extra_columns, local.clone())?;
            for (at, row) in rows.enumerate() {
                let global = start + local.start + at as u64;
                let (row, extra) = row?;
                let key = sample_key(index, (global - first) as usize, samples_per_tar);
                let mut sample = sample_json(&row);
                if let Some(map) = sample.as_object_mut() {
                    map.extend(extra);
                }
                let json = serde_json::to_vec(&sample).unwrap_or_default();
                let image_name = format!("{key}.{}", extension(&row.image_format));
                for (name, data) in [
                    (image_name.as_str(), row.image.as_slice()),
                    (&format!("{key}.txt"), row.candidate.caption.as_bytes()),
                    (&format!("{key}.json"), json.as_slice()),
                ] {
                    let mut header = tar::Header::new_gnu();
                    header.set_size(data.len() as u64);
                    header.set_mode(0o644);
                    header.set_mtime(0);
                    header.set_entry_type(tar::EntryType::Regular);
                    builder.append_data(&mut header, name, data).at_path(&temp)?;
                    bytes += data.len() as u64;
                    progress.add_bytes(data.len() as u64);
                }
                written += 1;
                progress.add(1, 0);
            }
            start = end;
        }
        let writer = builder.into_inner().at_path(&temp)?;
        let file = writer.into_inner().map_err(|e| PathError::io(&temp, e.into_error()))?;
        file.sync_all().at_path(&temp)?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    if written != count {
        let _ = fs::remove_file(&temp);
        return Err(PathError::input(
            corpus,
            format!("tar {index}: expected {count} rows from row {first}, the shards held {written}"),
        )
        .into());
    }
    fs::rename(&temp, path).at_path(path)?;
    Ok((written, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_img2dataset() {
        assert_eq!(tar_name(3), "00003.tar");
        assert_eq!(sample_key(3, 7, 10_000), "000030007");
        assert_eq!(sample_key(3, 7, 16), "000030007");
        assert_eq!(sample_key(0, 12_345, 100_000), "0000012345");
        assert_eq!(extension("jpeg"), "jpg");
    }
}
