//! `wit decontaminate`: remove the pairs that would leak an eval set into training.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use wit_decontaminate::{decontaminate, DecontaminateConfig, Phase};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DecontaminatePhaseArg {
    /// Filter this rank's shards (world size 1: everything).
    Filter,
    /// List every rank's shards in OUT/_manifest.json (once, after every rank).
    Merge,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  wit decontaminate out/corpus --against imagenet-val/ -o out/corpus-clean
  wit decontaminate out/corpus --against coco-val.parquet eval-wds/ --caption-ngram 13 -o out/corpus-clean

Removed pairs are listed in OUT/_decontaminated/ with the reason (image or caption), the eval item,
and the distance or the shared n-gram.")]
pub struct DecontaminateArgs {
    /// A corpus folder (`wit fetch` output).
    corpus: PathBuf,
    /// Eval sets: folders of images (captions in NAME.txt), Parquet files with an `image` column
    /// (bytes or HF's {bytes, path}) and optional `caption`/`text`, WebDataset .tar files, or
    /// folders holding any of these.
    #[arg(long, required = true, num_args = 1..)]
    against: Vec<PathBuf>,
    /// Output folder: the kept rows (same shards, same columns) and _decontaminated/.
    #[arg(short, long)]
    out: PathBuf,
    /// Most differing bits (of image_phash's 64) for a corpus image to count as an eval image.
    #[arg(long, default_value_t = wit_decontaminate::DEFAULT_THRESHOLD)]
    threshold: u32,
    /// Do not match an image with the mirror image of an eval image.
    #[arg(long)]
    no_mirror: bool,
    /// Also remove pairs whose caption shares N consecutive tokens with an eval caption.
    #[arg(long, value_name = "N")]
    caption_ngram: Option<usize>,
    #[command(flatten)]
    ranks: super::RankArgs,
    /// Which step of a multi-rank run to do.
    #[arg(long, value_enum, default_value = "filter")]
    phase: DecontaminatePhaseArg,
}

pub fn run(args: &DecontaminateArgs) -> Result<ExitCode> {
    let config = DecontaminateConfig {
        threshold: args.threshold,
        mirror: !args.no_mirror,
        caption_ngram: args.caption_ngram,
        rank: args.ranks.rank,
        world_size: args.ranks.world_size,
        phase: match args.phase {
            DecontaminatePhaseArg::Filter => Phase::Filter,
            DecontaminatePhaseArg::Merge => Phase::Merge,
        },
        ..DecontaminateConfig::new(&args.corpus, args.against.clone(), &args.out)
    };
    let stats = decontaminate(&config)
        .with_context(|| format!("decontaminating {} into {}", args.corpus.display(), args.out.display()))?;
    println!(
        "{}: {} kept, {} removed for their image, {} for their caption (eval: {} items, {} images, {} unreadable, {} n-grams)",
        args.out.display(),
        stats.kept,
        stats.removed_image,
        stats.removed_caption,
        stats.eval_items,
        stats.eval_images,
        stats.eval_unreadable,
        stats.eval_ngrams
    );
    Ok(ExitCode::SUCCESS)
}
