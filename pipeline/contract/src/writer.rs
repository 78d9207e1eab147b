//! The Parquet shard writer: zstd, row groups sized in bytes, and atomic publication.
//!
//! A shard is written under a hidden temporary name (`.NAME.PID-N.tmp`) in its final folder and
//! renamed to its final name only by [`ShardWriter::finish`], after the footer is written and the
//! file is synced. A writer dropped before `finish` deletes its temporary file; a process killed
//! mid-write leaves only a temporary file, which [`clean_stale_temp_files`] removes on the next run.
//! So a file under a final name is always complete.
//!
//! Binary columns (encoded images) are stored without dictionary, statistics or compression: they
//! are already compressed, and zstd over JPEG bytes costs CPU for nothing.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use xxhash_rust::xxh3::Xxh3;

use crate::error::{ContractError, Result};
use crate::manifest::ShardInfo;
use crate::records::Record;
use crate::{AtPath, PathError};

/// How shards are laid out.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// A row group is closed once its encoded size reaches this many bytes. Smaller groups let a
    /// streaming reader (the trainer) start sooner and hold less; larger ones compress better.
    pub row_group_bytes: usize,
    /// ... or once it holds this many rows, whichever comes first.
    pub row_group_rows: usize,
    /// zstd level for non-binary columns (1–22).
    pub zstd_level: i32,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions { row_group_bytes: 64 << 20, row_group_rows: 1 << 20, zstd_level: 3 }
    }
}

/// The conventional name of shard number `index`: `shard-00042.parquet`.
pub fn shard_file_name(index: usize) -> String {
    format!("shard-{index:05}.parquet")
}

/// Writes one Parquet shard; see the module docs for the atomicity rules.
pub struct ShardWriter {
    final_path: PathBuf,
    temp_path: PathBuf,
    writer: Option<ArrowWriter<HashingFile>>,
    row_group_bytes: usize,
    rows: u64,
}

impl ShardWriter {
    /// Starts a shard that will appear at `path` once finished.
    pub fn create(path: impl AsRef<Path>, schema: SchemaRef, options: &WriterOptions) -> Result<Self> {
        let final_path = path.as_ref().to_path_buf();
        if let Some(parent) = final_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).at_path(parent)?;
        }
        let temp_path = temp_path_for(&final_path)?;
        let file = File::create(&temp_path).at_path(&temp_path)?;
        let properties = writer_properties(&schema, options).map_err(|e| ContractError::parquet(&final_path, e))?;
        let writer = ArrowWriter::try_new(HashingFile::new(file), schema, Some(properties))
            .map_err(|e| ContractError::parquet(&final_path, e));
        let writer = match writer {
            Ok(writer) => writer,
            Err(e) => {
                let _ = fs::remove_file(&temp_path);
                return Err(e);
            }
        };
        Ok(ShardWriter {
            final_path,
            temp_path,
            writer: Some(writer),
            row_group_bytes: options.row_group_bytes,
            rows: 0,
        })
    }

    /// Starts a shard of record kind `T`.
    pub fn for_records<T: Record>(path: impl AsRef<Path>, options: &WriterOptions) -> Result<Self> {
        Self::create(path, T::KIND.schema(), options)
    }

    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let writer = self.writer.as_mut().expect("a ShardWriter is only unfinished before finish()");
        writer.write(batch).map_err(|e| ContractError::parquet(&self.final_path, e))?;
        self.rows += batch.num_rows() as u64;
        if writer.in_progress_size() >= self.row_group_bytes {
            writer.flush().map_err(|e| ContractError::parquet(&self.final_path, e))?;
        }
        Ok(())
    }

    pub fn write_records<T: Record>(&mut self, rows: &[T]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let batch = T::to_batch(rows)?;
        self.write_batch(&batch)
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The path the shard will have once finished.
    pub fn path(&self) -> &Path {
        &self.final_path
    }

    /// Writes the footer, syncs the file, renames it to its final name and syncs the folder.
    pub fn finish(mut self) -> Result<ShardInfo> {
        let writer = self.writer.take().expect("finish() is called once");
        let hashing = writer.into_inner().map_err(|e| ContractError::parquet(&self.final_path, e))?;
        let (file, bytes, xxh3) = hashing.into_parts();
        file.sync_all().at_path(&self.temp_path)?;
        drop(file);
        fs::rename(&self.temp_path, &self.final_path).at_path(&self.final_path)?;
        sync_parent_dir(&self.final_path)?;
        let file_name = crate::layout::listed_name(&self.final_path);
        Ok(ShardInfo { file: file_name, rows: self.rows, bytes, xxh3: format!("{xxh3:016x}") })
    }
}

impl Drop for ShardWriter {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            // Not finished: the shard is incomplete, so it must never become visible.
            drop(writer);
            let _ = fs::remove_file(&self.temp_path);
        }
    }
}

fn writer_properties(schema: &SchemaRef, options: &WriterOptions) -> parquet::errors::Result<WriterProperties> {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(options.zstd_level)?))
        .set_max_row_group_row_count(Some(options.row_group_rows.max(1)))
        .set_created_by(format!("wit {}", crate::TOOL_VERSION));
    for field in schema.fields() {
        if matches!(field.data_type(), DataType::Binary | DataType::LargeBinary | DataType::BinaryView) {
            let path = ColumnPath::from(field.name().as_str());
            builder = builder
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_statistics_enabled(path.clone(), EnabledStatistics::None)
                .set_column_compression(path, Compression::UNCOMPRESSED);
        }
    }
    Ok(builder.build())
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

const TEMP_SUFFIX: &str = ".tmp";

/// `.NAME.PID-N.tmp` beside `final_path`: hidden, unique within and across processes.
fn temp_path_for(final_path: &Path) -> Result<PathBuf> {
    let name = final_path
        .file_name()
        .ok_or_else(|| PathError::io(final_path, io::Error::new(io::ErrorKind::InvalidInput, "not a file path")))?;
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp_name = format!(".{}.{}-{n}{TEMP_SUFFIX}", name.to_string_lossy(), std::process::id());
    Ok(final_path.with_file_name(temp_name))
}

/// Whether `name` is a temporary file of this writer (or of the manifest's atomic save).
pub(crate) fn is_temp_file_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(TEMP_SUFFIX)
}

/// Removes temporary files a killed writer left in `dir`; returns how many. Call it when a stage
/// starts on an output folder, before anything in that folder is written.
/// The series' own temporary files in its `data/` folder go too (for a rank, only its own names).
pub fn clean_stale_temp_files(dir: impl AsRef<Path>) -> Result<usize> {
    let dir = dir.as_ref();
    let home = crate::layout::data_home(dir);
    let own = format!(".{}", home.prefix);
    Ok(clean_temp_files_in(dir, "")? + clean_temp_files_in(&home.dir, &own)?)
}

fn clean_temp_files_in(dir: &Path, prefix: &str) -> Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(PathError::io(dir, e).into()),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.at_path(dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_temp_file_name(&name) && name.starts_with(prefix) {
            fs::remove_file(entry.path()).at_path(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, synced, then renamed (and the
/// folder synced). Manifests and any stage's small bookkeeping files use it.
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp_path = temp_path_for(path)?;
    let written = File::create(&temp_path)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temp_path, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&temp_path);
        return Err(PathError::io(path, e).into());
    }
    sync_parent_dir(path)
}

fn sync_parent_dir(path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    Ok(File::open(parent).and_then(|dir| dir.sync_all()).at_path(parent)?)
}

/// A file that hashes (xxh3) and counts every byte written to it, so a shard's checksum costs no
/// second read.
struct HashingFile {
    file: File,
    hasher: Xxh3,
    bytes: u64,
}

impl HashingFile {
    fn new(file: File) -> Self {
        HashingFile { file, hasher: Xxh3::new(), bytes: 0 }
    }

    fn into_parts(self) -> (File, u64, u64) {
        let digest = self.hasher.digest();
        (self.file, self.bytes, digest)
    }
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.file.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Copies the batches of `reader` into `writer`, keeping the rows `keep` marks true for each batch
/// (called with the batch and its first row number in the shard); every column stays as it is.
/// Returns the rows dropped. The one row filter of wit's shard rewrites (takedowns, dedup).
pub fn copy_kept_rows<E: From<ContractError>>(
    reader: crate::ShardReader,
    writer: &mut ShardWriter,
    mut keep: impl FnMut(&RecordBatch, u64) -> std::result::Result<arrow::array::BooleanArray, E>,
) -> std::result::Result<u64, E> {
    let (mut first_row, mut dropped) = (0u64, 0u64);
    for batch in reader {
        let batch = batch?;
        let mask = keep(&batch, first_row)?;
        let kept = arrow::compute::filter_record_batch(&batch, &mask).map_err(ContractError::from)?;
        dropped += (batch.num_rows() - kept.num_rows()) as u64;
        if kept.num_rows() > 0 {
            writer.write_batch(&kept)?;
        }
        first_row += batch.num_rows() as u64;
    }
    Ok(dropped)
}

/// Writes `shards` as data shards 0, 1, … of the stage folder `dir` (`data/shard-NNNNN.parquet`)
/// and a complete `_manifest.json` of `T`'s kind recording `config`: the one way tests, benchmarks
/// and generators make a finished input folder. Returns the saved manifest.
pub fn write_stage_folder<T: Record>(
    dir: &Path,
    config: serde_json::Value,
    shards: impl IntoIterator<Item = impl AsRef<[T]>>,
) -> Result<crate::Manifest> {
    let mut manifest = crate::Manifest::new(T::KIND, config, None);
    for (index, rows) in shards.into_iter().enumerate() {
        let mut writer = ShardWriter::for_records::<T>(crate::shard_path(dir, index), &WriterOptions::default())?;
        writer.write_records(rows.as_ref())?;
        manifest.add_shard(writer.finish()?);
    }
    manifest.complete = true;
    manifest.save(dir)?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::{read_records, ShardReader};
    use crate::records::{Candidate, CorpusImage};

    fn candidates(n: usize) -> Vec<Candidate> {
        (0..n)
            .map(|i| {
                let url = format!("http://127.0.0.1/{i}.png");
                let caption = format!("caption {i}");
                Candidate {
                    key: crate::pair_key(&url, &caption),
                    url,
                    caption,
                    page_url: None,
                    source: "list".into(),
                    lang: Some("eng".into()),
                    lang_conf: Some(1.0),
                    provenance: Default::default(),
                }
            })
            .collect()
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_finished_shard_appears_under_its_name_with_a_true_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(shard_file_name(0));
        let mut writer = ShardWriter::for_records::<Candidate>(&path, &WriterOptions::default()).unwrap();
        writer.write_records(&candidates(100)).unwrap();
        assert!(!path.exists(), "visible before finish");
        let info = writer.finish().unwrap();
        assert_eq!(files_in(dir.path()), vec!["shard-00000.parquet"]);
        let bytes = fs::read(&path).unwrap();
        assert_eq!(info.rows, 100);
        assert_eq!(info.bytes, bytes.len() as u64);
        assert_eq!(info.xxh3, crate::xxh3_hex(&bytes));
        assert_eq!(read_records::<Candidate>(&path).unwrap(), candidates(100));
    }

    #[test]
    fn a_writer_dropped_mid_write_leaves_no_file_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shard-00001.parquet");
        let options = WriterOptions { row_group_bytes: 1, ..WriterOptions::default() };
        let mut writer = ShardWriter::for_records::<Candidate>(&path, &options).unwrap();
        writer.write_records(&candidates(50)).unwrap();
        writer.write_records(&candidates(50)).unwrap();
        assert_eq!(files_in(dir.path()).len(), 1, "the temporary file exists while writing");
        drop(writer);
        assert!(!path.exists());
        assert!(files_in(dir.path()).is_empty(), "left behind: {:?}", files_in(dir.path()));
    }

    #[test]
    fn a_killed_writer_leaves_only_a_temp_file_that_cleaning_removes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shard-00002.parquet");
        let mut writer = ShardWriter::for_records::<Candidate>(&path, &WriterOptions::default()).unwrap();
        writer.write_records(&candidates(10)).unwrap();
        // A killed process runs no destructor.
        std::mem::forget(writer);
        assert!(!path.exists());
        let left = files_in(dir.path());
        assert_eq!(left.len(), 1);
        assert!(is_temp_file_name(&left[0]), "{left:?}");
        fs::write(dir.path().join("keep.parquet"), b"not ours to delete").unwrap();
        assert_eq!(clean_stale_temp_files(dir.path()).unwrap(), 1);
        assert_eq!(files_in(dir.path()), vec!["keep.parquet"]);
    }

    #[test]
    fn row_groups_close_at_the_byte_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("images.parquet");
        let options = WriterOptions { row_group_bytes: 64 << 10, ..WriterOptions::default() };
        let mut writer = ShardWriter::for_records::<CorpusImage>(&path, &options).unwrap();
        for chunk in 0..20u8 {
            let rows: Vec<CorpusImage> = (0..4)
                .map(|i| CorpusImage {
                    candidate: candidates(1).remove(0),
                    query_ids: vec![1],
                    width: 8,
                    height: 8,
                    original_width: 8,
                    original_height: 8,
                    // Incompressible bytes, as an encoded image is.
                    image: (0..8192u32)
                        .map(|b| (xxhash_rust::xxh3::xxh3_64(&[chunk, i, b as u8, (b >> 8) as u8]) & 0xff) as u8)
                        .collect(),
                    image_format: "jpeg".into(),
                    image_xxh3: 0,
                    fetched_at_us: 0,
                    image_phash: None,
                })
                .collect();
            writer.write_records(&rows).unwrap();
        }
        writer.finish().unwrap();
        let reader = ShardReader::open(&path, &Default::default()).unwrap();
        let groups = reader.metadata().num_row_groups();
        // 80 rows of 8 KiB = 640 KiB in 64 KiB groups: about ten (a group closes after the batch that fills it).
        assert!((8..=11).contains(&groups), "{groups} row groups");
        assert_eq!(read_records::<CorpusImage>(&path).unwrap().len(), 80);
    }
}
