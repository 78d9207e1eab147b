//! `wit dedup`: drop near-duplicate images of a corpus, keeping one pair per cluster.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use wit_dedup::{dedup, DedupConfig, Phase, SearchChoice};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DedupPhaseArg {
    /// Every step in this process (world size 1).
    All,
    /// Rank R: send the band records of its shards to the bucket ranks.
    Send,
    /// Bucket rank R: compare the rows of each group (see --search); send each loser to its rank.
    Pairs,
    /// Rank R: write its shards without the losers, and the losers to OUT/_near_duplicates/.
    Apply,
    /// List every rank's shards in OUT/_manifest.json (once, after every rank).
    Merge,
}

/// `--search`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SearchArg {
    Auto,
    /// threshold + 1 bands; rows sharing a band value compared (cheap at low thresholds).
    ExactBands,
    /// threshold / 3 + 1 wider bands; rows within 1 bit of a common value compared (large corpora).
    Balls,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  wit dedup out/corpus -o out/corpus-dedup
  wit dedup out/corpus -o out/corpus-dedup --threshold 6 --no-mirror
  wit dedup out/corpus -o out/dd --rank $SLURM_ARRAY_TASK_ID --world-size 8 --phase send   (then pairs, apply, merge)

Kept: per cluster of near duplicates, the row with the most original pixels (then the smallest key).
Each dropped row is listed in OUT/_near_duplicates/ with the row it lost to and their distance.")]
pub struct DedupArgs {
    /// A corpus folder (`wit fetch` output).
    corpus: PathBuf,
    /// Output folder: the kept rows (same shards, same columns) and _near_duplicates/.
    #[arg(short, long)]
    out: PathBuf,
    /// Most differing bits (of image_phash's 64) for two images to be near duplicates.
    #[arg(long, default_value_t = wit_dedup::DEFAULT_THRESHOLD)]
    threshold: u32,
    /// Do not match an image with the mirror image of another.
    #[arg(long)]
    no_mirror: bool,
    /// How pairs are met: both schemes find the same pairs; auto takes the cheaper for the corpus size.
    #[arg(long, value_enum, default_value = "auto")]
    search: SearchArg,
    /// Memory the sorts may use before spilling sorted runs to disk (e.g. 1G, 512M).
    #[arg(long, default_value = "1G", value_parser = super::queries::parse_bytes)]
    memory_budget: u64,
    #[command(flatten)]
    ranks: super::RankArgs,
    /// Which step of a multi-rank run to do.
    #[arg(long, value_enum, default_value = "all")]
    phase: DedupPhaseArg,
}

pub fn run(args: &DedupArgs) -> Result<ExitCode> {
    let config = DedupConfig {
        threshold: args.threshold,
        mirror: !args.no_mirror,
        search: match args.search {
            SearchArg::Auto => SearchChoice::Auto,
            SearchArg::ExactBands => SearchChoice::ExactBands,
            SearchArg::Balls => SearchChoice::Balls,
        },
        memory_budget: args.memory_budget,
        rank: args.ranks.rank,
        world_size: args.ranks.world_size,
        phase: match args.phase {
            DedupPhaseArg::All => Phase::All,
            DedupPhaseArg::Send => Phase::Send,
            DedupPhaseArg::Pairs => Phase::Pairs,
            DedupPhaseArg::Apply => Phase::Apply,
            DedupPhaseArg::Merge => Phase::Merge,
        },
        ..DedupConfig::new(&args.corpus, &args.out)
    };
    let stats =
        dedup(&config).with_context(|| format!("dedup of {} into {}", args.corpus.display(), args.out.display()))?;
    println!(
        "{}: {} kept, {} near duplicates dropped ({} pairs within {} bits, {} through a mirror; {} rows without a hash kept; {}, {} comparisons)",
        args.out.display(),
        stats.kept,
        stats.dropped,
        stats.near_pairs,
        args.threshold,
        stats.mirrored_pairs,
        stats.unhashed,
        stats.search,
        stats.compared
    );
    Ok(ExitCode::SUCCESS)
}
