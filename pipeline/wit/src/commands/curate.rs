//! `wit curate`: match candidate texts against the query dictionary and balance them per query.

use std::path::PathBuf;
use std::process::ExitCode;

use super::RankArgs;
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use wit_curate::{curate, CurateConfig, MatchMode, Phase};
use wit_storage::{with_storage, Seed, StoragePlan};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Matching {
    /// MetaCLIP's exact substring rule (case-sensitive, space-padded).
    Metaclip,
    /// NFKC + Unicode word boundaries (`U.S.`, `(dog)` match).
    Words,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PhaseArg {
    /// Count, select and merge in one process (world size 1).
    All,
    /// Count this rank's matches into OUT/_counts/.
    Count,
    /// Strict cap: write this rank's claims in the strict order (needs every rank's counts).
    Order,
    /// Strict cap: the greedy over every rank's claims (once; reads claims, not rows).
    Strict,
    /// Select and write this rank's shards (needs every rank's counts; strict: the strict step).
    Select,
    /// Combine every rank's output into OUT/_manifest.json and the per-query table.
    Merge,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  wit curate --queries out/queries --candidates out/candidates -o out/curated
  wit curate --queries out/queries --candidates out/candidates --cap 20000 --strict -o out/curated")]
pub struct CurateArgs {
    /// The query dictionary: a `wit queries build` folder or one Parquet file (a local path or a URL).
    #[arg(long)]
    queries: PathBuf,
    /// A `wit harvest` candidates folder.
    #[arg(long)]
    candidates: PathBuf,
    /// Output folder (local path or s3://, gs://, az:// URL): curated shards in data/, _manifest.json and _query_counts/.
    #[arg(short, long)]
    out: PathBuf,
    /// How texts match queries: metaclip (substring, as MetaCLIP) or words (whole words).
    #[arg(long, value_enum, default_value = "metaclip")]
    matching: Matching,
    /// Case-insensitive matching (words mode only).
    #[arg(long)]
    case_fold: bool,
    /// Per-query cap t (MetaCLIP: 20000).
    #[arg(long, default_value_t = 20_000)]
    cap: u64,
    /// Never let a query hold more than the cap (instead of MetaCLIP's soft cap).
    #[arg(long)]
    strict: bool,
    /// Keep up to cap × F per query so fetch can top queries up after download failures.
    #[arg(long, default_value_t = 1.0)]
    oversample: f64,
    /// Seed of the keep decisions (recorded in the manifest).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    ranks: RankArgs,
    /// Which step of a multi-rank run to do.
    #[arg(long, value_enum, default_value = "all")]
    phase: PhaseArg,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Memory the strict pass's sorts may use before spilling sorted runs (e.g. 1G, 512M).
    #[arg(long, default_value = "1G", value_parser = super::queries::parse_bytes)]
    memory_budget: u64,
    /// A takedown blocklist (`wit remove` keeps one in BUILD/_blocklist.jsonl; `wit build` passes
    /// it): the pairs it lists are left out, counted as `blocklisted`.
    #[arg(long, value_name = "FILE")]
    blocklist: Option<PathBuf>,
}

pub fn run(args: &CurateArgs) -> Result<ExitCode> {
    if args.case_fold && matches!(args.matching, Matching::Metaclip) {
        anyhow::bail!("--case-fold needs --matching words (metaclip matching is case-sensitive by definition)");
    }
    // Select reads every rank's match counts; merge reads everything.
    let seed = match args.phase {
        PhaseArg::Count | PhaseArg::Order => args.ranks.this_rank(),
        _ => Seed::Everything,
    };
    let plan = StoragePlan::new().input(&args.queries).input(&args.candidates).output(&args.out, seed);
    let stats = with_storage(plan, |local| {
        let config = CurateConfig {
            queries: local.input(0),
            candidates: local.input(1),
            out: local.output(),
            mode: match args.matching {
                Matching::Metaclip => MatchMode::Metaclip,
                Matching::Words => MatchMode::Words { case_fold: args.case_fold },
            },
            cap: args.cap,
            strict: args.strict,
            oversample: args.oversample,
            seed: args.seed,
            rank: args.ranks.rank,
            world_size: args.ranks.world_size,
            phase: match args.phase {
                PhaseArg::All => Phase::All,
                PhaseArg::Count => Phase::Count,
                PhaseArg::Order => Phase::Order,
                PhaseArg::Strict => Phase::Strict,
                PhaseArg::Select => Phase::Select,
                PhaseArg::Merge => Phase::Merge,
            },
            threads: args.threads,
            memory_budget: args.memory_budget,
            blocklist: super::load_blocklist(args.blocklist.as_deref())?,
        };
        curate(&config).with_context(|| {
            format!(
                "curating {} with {} into {}",
                args.candidates.display(),
                args.queries.display(),
                args.out.display()
            )
        })
    })?;
    if stats.skipped {
        println!("{}: already complete with this configuration; nothing to do", args.out.display());
    } else {
        println!(
            "{}: {} candidates, {} matched, {} kept in {} shards; {} of {} queries matched, {} at the cap",
            args.out.display(),
            stats.candidates,
            stats.matched,
            stats.kept,
            stats.shards,
            stats.queries_matched,
            stats.queries,
            stats.queries_at_cap
        );
    }
    Ok(ExitCode::SUCCESS)
}
