//! `wit export FORMAT CORPUS -o DIR`: a corpus in the formats other tools read as they are
//! (WebDataset tars for open_clip, Parquet with an Image feature for HF datasets).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use wit_export::{export_hf, export_webdataset, HfConfig, WebDatasetConfig};

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(subcommand)]
    format: ExportFormat,
}

#[derive(Subcommand, Debug)]
enum ExportFormat {
    /// WebDataset tars open_clip trains on as they are (`--dataset-type webdataset`): DIR/00000.tar,
    /// … with KEY.jpg|png|webp, KEY.txt and KEY.json per sample, and DIR/sizes.json. Finished tars
    /// are kept on a rerun; rank R of N writes tars i with i % N == R.
    ///
    /// Example: wit export webdataset out/demo/corpus -o out/demo/wds --samples-per-tar 10000
    Webdataset(WebDatasetArgs),
    /// Parquet Hugging Face `datasets` loads with `image` as an Image feature (pictures, no cast):
    /// DIR/data/train-IIIII-of-NNNNN.parquet, one per corpus shard; rank R of N writes shards
    /// i % N == R; finished files are kept on a rerun.
    ///
    /// Example: wit export hf out/demo/corpus -o out/demo/hf, then in Python
    /// datasets.load_dataset("parquet", data_dir="out/demo/hf/data", split="train")
    Hf(HfArgs),
}

#[derive(Args, Debug)]
struct HfArgs {
    /// A corpus folder (`wit fetch` output).
    corpus: PathBuf,
    /// Output folder (its data/ holds the files).
    #[arg(short, long)]
    out: PathBuf,
    #[arg(long, default_value_t = 0)]
    rank: usize,
    #[arg(long, default_value_t = 1)]
    world_size: usize,
}

#[derive(Args, Debug)]
struct WebDatasetArgs {
    /// A corpus folder (`wit fetch` output).
    corpus: PathBuf,
    /// Output folder for the tars.
    #[arg(short, long)]
    out: PathBuf,
    /// Samples per tar (img2dataset's default).
    #[arg(long, default_value_t = 10_000)]
    samples_per_tar: usize,
    #[arg(long, default_value_t = 0)]
    rank: usize,
    #[arg(long, default_value_t = 1)]
    world_size: usize,
}

pub fn run(args: &ExportArgs) -> Result<ExitCode> {
    match &args.format {
        ExportFormat::Webdataset(a) => {
            let config = WebDatasetConfig {
                corpus: a.corpus.clone(),
                out: a.out.clone(),
                samples_per_tar: a.samples_per_tar,
                rank: a.rank,
                world_size: a.world_size,
            };
            let stats = export_webdataset(&config)
                .with_context(|| format!("exporting {} as WebDataset into {}", a.corpus.display(), a.out.display()))?;
            println!(
                "webdataset: {} tars of rank {} of {} ({} written, {} kept from an earlier run), {} samples written, \
                 {} in the export; {}",
                stats.files,
                a.rank,
                a.world_size,
                stats.files_written,
                stats.files_kept,
                stats.samples_written,
                stats.samples_total,
                a.out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        ExportFormat::Hf(a) => {
            let config =
                HfConfig { corpus: a.corpus.clone(), out: a.out.clone(), rank: a.rank, world_size: a.world_size };
            let stats = export_hf(&config).with_context(|| {
                format!("exporting {} for HF datasets into {}", a.corpus.display(), a.out.display())
            })?;
            println!(
                "hf: {} files of rank {} of {} ({} written, {} kept from an earlier run), {} rows written; {}",
                stats.files,
                a.rank,
                a.world_size,
                stats.files_written,
                stats.files_kept,
                stats.samples_written,
                a.out.join(wit_contract::DATA_DIR).display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
