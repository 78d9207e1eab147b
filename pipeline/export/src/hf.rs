//! Parquet for Hugging Face `datasets` with `image` as an `Image` feature (see the crate docs).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, StructArray};
use arrow::datatypes::{DataType, Field, Fields, Schema};
use wit_contract::progress::{Progress, Spec};
use wit_contract::{Manifest, ReadOptions, RecordKind, ShardReader, ShardWriter, WriterOptions};

use crate::{ExportStats, Result};
use wit_contract::{AtPath, PathError};

#[derive(Debug, Clone)]
pub struct HfConfig {
    /// A corpus folder (`wit fetch` output).
    pub corpus: PathBuf,
    /// Output folder: `OUT/data/train-IIIII-of-NNNNN.parquet`, one per corpus shard.
    pub out: PathBuf,
    pub rank: usize,
    pub world_size: usize,
}

/// The `huggingface` schema metadata: `image` is an `Image` feature (the other columns' features
/// `datasets` infers from their Arrow types).
pub const HF_METADATA: &str = r#"{"info": {"features": {"image": {"_type": "Image"}}}}"#;

/// `datasets`' storage type of an image: `{bytes: binary, path: string}`.
fn image_fields() -> Fields {
    Fields::from(vec![Field::new("bytes", DataType::Binary, true), Field::new("path", DataType::Utf8, true)])
}

/// `batch` with its `image` column as `datasets`' image struct and the features in the metadata.
fn as_hf(batch: &RecordBatch, path: &Path) -> Result<RecordBatch> {
    let schema = batch.schema();
    let index = schema.index_of("image").map_err(|_| PathError::input(path, "no `image` column"))?;
    let image = batch.column(index).clone();
    let paths: ArrayRef = Arc::new(StringArray::new_null(image.len()));
    let structs = StructArray::try_new(image_fields(), vec![image, paths], None)
        .map_err(|e| PathError::input(path, format!("`image`: {e}")))?;
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[index] = Field::new("image", DataType::Struct(image_fields()), true);
    let mut metadata = schema.metadata().clone();
    metadata.insert("huggingface".to_owned(), HF_METADATA.to_owned());
    let mut columns = batch.columns().to_vec();
    columns[index] = Arc::new(structs);
    Ok(RecordBatch::try_new(Arc::new(Schema::new_with_metadata(fields, metadata)), columns)
        .map_err(|e| PathError::input(path, e.to_string()))?)
}

/// `train-00003-of-00010.parquet`: the name `datasets` maps to the train split.
pub fn hf_file_name(index: usize, count: usize) -> String {
    format!("train-{index:05}-of-{count:05}.parquet")
}

/// Writes rank `config.rank`'s files: corpus shards `i % world_size == rank`, one file each; a file
/// already there (whole: written under a temporary name, renamed when finished) is kept.
pub fn export_hf(config: &HfConfig) -> Result<ExportStats> {
    let world_size = config.world_size.max(1);
    let manifest = Manifest::load(&config.corpus)?;
    if manifest.kind != RecordKind::Corpus || !manifest.complete {
        return Err(PathError::input(
            Manifest::path_in(&config.corpus),
            format!(
                "a {} folder, complete: {}; `wit export hf` reads a complete corpus",
                manifest.kind, manifest.complete
            ),
        )
        .into());
    }
    let data = config.out.join(wit_contract::DATA_DIR);
    std::fs::create_dir_all(&data).at_path(&data)?;
    wit_contract::clean_stale_temp_files(&config.out)?;
    let count = manifest.shards.len();
    let mut stats = ExportStats { samples_total: manifest.total_rows(), ..ExportStats::default() };
    let mine: u64 = manifest.shards.iter().skip(config.rank).step_by(world_size).map(|s| s.rows).sum();
    let progress = Progress::start(Spec::new("export hf", "samples", Some(mine)).with_bytes());
    for (index, shard) in manifest.shards.iter().enumerate().skip(config.rank).step_by(world_size) {
        stats.files += 1;
        let path = data.join(hf_file_name(index, count));
        if path.is_file() {
            stats.files_kept += 1;
            progress.resumed(shard.rows);
            continue;
        }
        let source = config.corpus.join(&shard.file);
        let reader = ShardReader::open(&source, &ReadOptions { batch_size: 256, columns: None })?;
        let mut writer: Option<ShardWriter> = None;
        for batch in reader {
            let batch = as_hf(&batch?, &source)?;
            if writer.is_none() {
                writer = Some(ShardWriter::create(&path, batch.schema(), &WriterOptions::default())?);
            }
            if let Some(writer) = writer.as_mut() {
                writer.write_batch(&batch)?;
            }
            progress.add_bytes(batch.get_array_memory_size() as u64);
            progress.add(batch.num_rows() as u64, 0);
        }
        if let Some(writer) = writer {
            let info = writer.finish()?;
            stats.files_written += 1;
            stats.samples_written += info.rows;
            stats.bytes_written += info.bytes;
        }
    }
    progress.finish();
    Ok(stats)
}
