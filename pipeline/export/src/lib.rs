//! wit-export: a corpus folder into the formats other tools read as they are.
//!
//! [`webdataset`]: WebDataset tar shards as img2dataset writes them and open_clip's trainer reads
//! them (`--dataset-type webdataset`): `DIR/00000.tar`, `00001.tar`, … each holding, per sample,
//! `KEY.jpg` (or `.png`/`.webp`, the stored bytes unchanged), `KEY.txt` (the caption) and `KEY.json`
//! (the row's other columns), plus `DIR/sizes.json` (samples per tar, which open_clip reads for the
//! dataset size). Tar `i` holds corpus rows `i·N … i·N+N−1` in manifest order, so the split is a
//! function of the corpus alone: rank R of W writes the tars `i % W == R`, a finished tar is kept
//! on a rerun (each is written under a hidden temporary name and renamed when whole), and memory
//! holds one read batch.
//!
//! [`hf`]: Parquet that Hugging Face `datasets` loads with `image` as an `Image` feature (decoded
//! to a picture without a cast): the corpus columns with `image` as the struct `{bytes, path}`
//! `datasets` stores images as, and the features in the schema metadata (`huggingface`). The corpus
//! keeps plain binary `image` (what the trainer, report, DuckDB and polars read); this is a copy.

pub mod hf;
pub mod webdataset;

pub use hf::{export_hf, HfConfig};
pub use webdataset::{export_webdataset, ExportStats, WebDatasetConfig};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Path(#[from] wit_contract::PathError),
    #[error(transparent)]
    Contract(#[from] wit_contract::ContractError),
    #[error("{path}: {problem}")]
    Output { path: PathBuf, problem: String },
}

pub type Result<T, E = ExportError> = std::result::Result<T, E>;
