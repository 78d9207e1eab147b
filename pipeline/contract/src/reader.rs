//! Streaming readers: record batches of one shard ([`ShardReader`]), optionally only some columns,
//! and typed rows ([`RecordReader`]). Memory stays at one batch whatever the shard's size.

use std::collections::VecDeque;
use std::fs::File;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::{RecordBatch, RecordBatchReader};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::ParquetMetaData;

use crate::error::{ContractError, Result};
use crate::records::Record;
use crate::schema::{check_compatible, RecordKind};
use crate::AtPath;

/// How to read a shard.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Rows per record batch.
    pub batch_size: usize,
    /// Read only these columns (all when None).
    pub columns: Option<Vec<String>>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { batch_size: 8192, columns: None }
    }
}

/// The record batches of one Parquet file, in order.
pub struct ShardReader {
    path: PathBuf,
    metadata: std::sync::Arc<ParquetMetaData>,
    schema: SchemaRef,
    batches: ParquetRecordBatchReader,
    rows_read: u64,
}

impl ShardReader {
    pub fn open(path: impl AsRef<Path>, options: &ReadOptions) -> Result<Self> {
        Self::open_rows(path, options, 0..u64::MAX)
    }

    /// Reads only the rows `rows` of the file (row numbers within it; clipped to its length). The
    /// rows before are skipped by the Parquet reader (pages are not decoded into batches), so a
    /// reader that needs a slice of a large shard does not pay for the rest.
    pub fn open_rows(path: impl AsRef<Path>, options: &ReadOptions, rows: std::ops::Range<u64>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).at_path(&path)?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| ContractError::parquet(&path, e))?;
        let metadata = builder.metadata().clone();
        let builder = match &options.columns {
            None => builder,
            Some(columns) => {
                for column in columns {
                    builder.schema().field_with_name(column).map_err(|_| ContractError::InShard {
                        path: path.clone(),
                        first_row: 0,
                        source: Box::new(ContractError::column(column, "missing")),
                    })?;
                }
                let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().map(String::as_str));
                builder.with_projection(mask)
            }
        };
        let mut builder = builder.with_batch_size(options.batch_size.max(1));
        if rows.start > 0 {
            builder = builder.with_offset(usize::try_from(rows.start).unwrap_or(usize::MAX));
        }
        if rows.end != u64::MAX {
            builder = builder.with_limit(usize::try_from(rows.end.saturating_sub(rows.start)).unwrap_or(usize::MAX));
        }
        let batches = builder.build().map_err(|e| ContractError::parquet(&path, e))?;
        let schema = batches.schema();
        Ok(ShardReader { path, metadata, schema, batches, rows_read: rows.start })
    }

    /// Opens a shard that must hold every column of `kind`.
    pub fn open_kind(path: impl AsRef<Path>, kind: RecordKind, options: &ReadOptions) -> Result<Self> {
        let reader = Self::open(path, options)?;
        check_compatible(&reader.schema, kind).map_err(|e| ContractError::InShard {
            path: reader.path.clone(),
            first_row: 0,
            source: Box::new(e),
        })?;
        Ok(reader)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema of the batches this reader yields (after projection).
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn metadata(&self) -> &ParquetMetaData {
        &self.metadata
    }

    /// Rows in the whole file, from its footer.
    pub fn num_rows(&self) -> u64 {
        self.metadata.file_metadata().num_rows().max(0) as u64
    }
}

impl Iterator for ShardReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let first_row = self.rows_read;
        match self.batches.next()? {
            Ok(batch) => {
                self.rows_read += batch.num_rows() as u64;
                Some(Ok(batch))
            }
            Err(e) => Some(Err(ContractError::InShard {
                path: self.path.clone(),
                first_row,
                source: Box::new(ContractError::Arrow(e)),
            })),
        }
    }
}

/// The typed rows of one shard, read a batch at a time.
pub struct RecordReader<T> {
    shard: ShardReader,
    pending: VecDeque<T>,
    failed: bool,
    _kind: PhantomData<T>,
}

impl<T: Record> RecordReader<T> {
    pub fn open(path: impl AsRef<Path>, batch_size: usize) -> Result<Self> {
        let options = ReadOptions { batch_size, columns: None };
        let shard = ShardReader::open(path, &options)?;
        Ok(RecordReader { shard, pending: VecDeque::new(), failed: false, _kind: PhantomData })
    }
}

impl<T: Record> Iterator for RecordReader<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.pending.is_empty() {
            if self.failed {
                return None;
            }
            let first_row = self.shard.rows_read;
            let batch = match self.shard.next()? {
                Ok(batch) => batch,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            };
            match T::from_batch(&batch) {
                Ok(rows) => self.pending.extend(rows),
                Err(e) => {
                    self.failed = true;
                    let path = self.shard.path.clone();
                    return Some(Err(ContractError::InShard { path, first_row, source: Box::new(e) }));
                }
            }
        }
        self.pending.pop_front().map(Ok)
    }
}

/// Every row of a shard of kind `T` (for small files; stream with [`RecordReader`] otherwise).
pub fn read_records<T: Record>(path: impl AsRef<Path>) -> Result<Vec<T>> {
    RecordReader::<T>::open(path, ReadOptions::default().batch_size)?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{QueryEntry, QuerySource};
    use crate::writer::{ShardWriter, WriterOptions};

    fn dictionary(n: u32) -> Vec<QueryEntry> {
        (0..n)
            .map(|id| QueryEntry {
                id,
                query: format!("q{id}"),
                source: QuerySource::Unigram,
                count: id as u64 * 3,
                pmi: None,
            })
            .collect()
    }

    fn write(path: &Path, rows: &[QueryEntry]) {
        let mut writer = ShardWriter::for_records::<QueryEntry>(path, &WriterOptions::default()).unwrap();
        writer.write_records(rows).unwrap();
        writer.finish().unwrap();
    }

    #[test]
    fn rows_stream_in_batches_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queries.parquet");
        write(&path, &dictionary(1000));
        let reader = ShardReader::open(&path, &ReadOptions { batch_size: 64, columns: None }).unwrap();
        assert_eq!(reader.num_rows(), 1000);
        let sizes: Vec<usize> = reader.map(|b| b.unwrap().num_rows()).collect();
        assert_eq!(sizes.len(), 16);
        assert!(sizes[..15].iter().all(|&n| n == 64));
        let typed: Vec<QueryEntry> = RecordReader::open(&path, 7).unwrap().map(Result::unwrap).collect();
        assert_eq!(typed, dictionary(1000));
    }

    #[test]
    fn a_row_range_reads_exactly_those_rows_across_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queries.parquet");
        let rows = dictionary(1000);
        let options = WriterOptions { row_group_rows: 128, ..WriterOptions::default() };
        let mut writer = ShardWriter::for_records::<QueryEntry>(&path, &options).unwrap();
        writer.write_records(&rows).unwrap();
        writer.finish().unwrap();
        for range in [0..1000u64, 0..1, 127..129, 300..700, 999..1000, 990..5000, 1000..1000, 0..u64::MAX] {
            let reader = ShardReader::open_rows(&path, &ReadOptions { batch_size: 50, columns: None }, range.clone());
            let got: Vec<QueryEntry> =
                reader.unwrap().flat_map(|b| QueryEntry::from_batch(&b.unwrap()).unwrap()).collect();
            let end = range.end.min(1000) as usize;
            let expected = &rows[(range.start as usize).min(end)..end];
            assert_eq!(got, expected, "{range:?}");
        }
    }

    #[test]
    fn a_projection_reads_only_the_asked_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queries.parquet");
        write(&path, &dictionary(10));
        let options = ReadOptions { batch_size: 100, columns: Some(vec!["query".into(), "count".into()]) };
        let batch = ShardReader::open(&path, &options).unwrap().next().unwrap().unwrap();
        let schema = batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["query", "count"]);
        let missing = ReadOptions { batch_size: 100, columns: Some(vec!["caption".into()]) };
        let err = ShardReader::open(&path, &missing).err().unwrap().to_string();
        assert!(err.contains("queries.parquet") && err.contains("caption"), "{err}");
    }

    #[test]
    fn the_wrong_kind_and_a_broken_file_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queries.parquet");
        write(&path, &dictionary(3));
        let err = ShardReader::open_kind(&path, RecordKind::Corpus, &ReadOptions::default()).err().unwrap().to_string();
        assert!(err.contains("queries.parquet") && err.contains("missing"), "{err}");
        let err = read_records::<crate::records::Candidate>(&path).unwrap_err().to_string();
        assert!(err.contains("queries.parquet") && err.contains("rows from 0"), "{err}");

        let truncated = dir.path().join("truncated.parquet");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        let err = ShardReader::open(&truncated, &ReadOptions::default()).err().unwrap().to_string();
        assert!(err.contains("truncated.parquet"), "{err}");
    }
}
