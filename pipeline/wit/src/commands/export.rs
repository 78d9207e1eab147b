//! `wit export FORMAT CORPUS -o DIR`: a corpus in the formats other tools read as they are
//! (WebDataset tars for open_clip, Parquet with an Image feature for HF datasets).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use wit_export::{export_hf, export_webdataset, HfConfig, WebDatasetConfig};
use wit_storage::{with_storage, Seed, StoragePlan};

use super::RankArgs;

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
    #[command(after_help = "Examples:
  wit export webdataset out/demo/corpus -o out/demo/wds --samples-per-tar 10000
  wit export webdataset s3://bucket/corpus -o s3://bucket/wds --rank 3 --world-size 16")]
    Webdataset(WebDatasetArgs),
    /// Parquet Hugging Face `datasets` loads with `image` as an Image feature (pictures, no cast):
    /// DIR/data/train-IIIII-of-NNNNN.parquet, one per corpus shard; rank R of N writes shards
    /// i % N == R; finished files are kept on a rerun.
    #[command(after_help = "Examples:
  wit export hf out/demo/corpus -o out/demo/hf
  (then in Python: datasets.load_dataset(\"parquet\", data_dir=\"out/demo/hf/data\", split=\"train\"))")]
    Hf(HfArgs),
}

#[derive(Args, Debug)]
struct HfArgs {
    /// A corpus folder (`wit fetch` output): a path or a URL (s3://, gs://, az://, http(s)://).
    corpus: PathBuf,
    /// Output folder (its data/ holds the files): a path or an object-store URL.
    #[arg(short, long)]
    out: PathBuf,
    #[command(flatten)]
    ranks: RankArgs,
}

#[derive(Args, Debug)]
struct WebDatasetArgs {
    /// A corpus folder (`wit fetch` output): a path or a URL (s3://, gs://, az://, http(s)://).
    corpus: PathBuf,
    /// Output folder for the tars: a path or an object-store URL.
    #[arg(short, long)]
    out: PathBuf,
    /// Samples per tar (img2dataset's default).
    #[arg(long, default_value_t = 10_000)]
    samples_per_tar: usize,
    #[command(flatten)]
    ranks: RankArgs,
}

/// The corpus (local or a URL) read, the output (local or a URL) written through local stand-ins.
/// A remote output is seeded with its JSON files only: a rerun writes this rank's files again (the
/// same bytes) instead of downloading the finished ones to find them.
fn storage(corpus: &std::path::Path, out: &std::path::Path) -> StoragePlan {
    StoragePlan::new().input(corpus).output(out, Seed::Metadata)
}

pub fn run(args: &ExportArgs) -> Result<ExitCode> {
    match &args.format {
        ExportFormat::Webdataset(a) => {
            let stats = with_storage(storage(&a.corpus, &a.out), |local| {
                let config = WebDatasetConfig {
                    corpus: local.input(0),
                    out: local.output(),
                    samples_per_tar: a.samples_per_tar,
                    rank: a.ranks.rank,
                    world_size: a.ranks.world_size,
                };
                export_webdataset(&config).map_err(anyhow::Error::from)
            })
            .with_context(|| format!("exporting {} as WebDataset into {}", a.corpus.display(), a.out.display()))?;
            println!(
                "webdataset: {} tars of rank {} of {} ({} written, {} kept from an earlier run), {} samples written, \
                 {} in the export; {}",
                stats.files,
                a.ranks.rank,
                a.ranks.world_size,
                stats.files_written,
                stats.files_kept,
                stats.samples_written,
                stats.samples_total,
                a.out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        ExportFormat::Hf(a) => {
            let stats = with_storage(storage(&a.corpus, &a.out), |local| {
                let config = HfConfig {
                    corpus: local.input(0),
                    out: local.output(),
                    rank: a.ranks.rank,
                    world_size: a.ranks.world_size,
                };
                export_hf(&config).map_err(anyhow::Error::from)
            })
            .with_context(|| format!("exporting {} for HF datasets into {}", a.corpus.display(), a.out.display()))?;
            println!(
                "hf: {} files of rank {} of {} ({} written, {} kept from an earlier run), {} rows written; {}",
                stats.files,
                a.ranks.rank,
                a.ranks.world_size,
                stats.files_written,
                stats.files_kept,
                stats.samples_written,
                a.out.join(wit_contract::DATA_DIR).display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
