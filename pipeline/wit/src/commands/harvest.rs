//! `wit harvest INPUT… -o DIR`: candidate pairs from WARC / WAT files and URL lists.
//!
//! Room for the crawler: `wit harvest crawl --seeds …` is meant to become a subcommand of this
//! command. Add `#[command(subcommand)] mode: Option<HarvestMode>` to [`HarvestArgs`] with
//! `enum HarvestMode { Crawl(CrawlArgs) }`; the attributes on [`HarvestArgs`] already make a
//! subcommand exclusive with the file arguments and lift their requiredness, so
//! `wit harvest INPUT… -o DIR` keeps working unchanged.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use wit_harvest::{harvest, HarvestConfig, Phase, TextRules, UrlListOptions};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PhaseArg {
    /// Harvest and deduplicate in one process (world size 1).
    All,
    /// Harvest this rank's inputs into OUT/ranks/.
    Harvest,
    /// Deduplicate every rank's folder into OUT (run once, with the same INPUTs).
    Merge,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct HarvestArgs {
    /// WARC (.warc, .warc.gz), WAT (.wat, .wat.gz) or URL list files (csv, tsv, jsonl, parquet,
    /// txt; optionally .gz), or folders of them. The format comes from the name, else the content.
    #[arg(required = true, num_args = 1..)]
    inputs: Vec<PathBuf>,
    /// Output folder: candidate shards and manifest.json.
    #[arg(short, long, required = true)]
    out: Option<PathBuf>,
    /// Languages to keep (ISO 639-1/3 codes or names, comma-separated); `any` keeps all.
    #[arg(long, value_delimiter = ',', default_value = "en")]
    lang: Vec<String>,
    /// Minimum whatlang confidence (0–1) of a kept text's language.
    #[arg(long, default_value_t = 0.0)]
    min_lang_conf: f32,
    /// Shortest kept text, in characters (after cleaning).
    #[arg(long, default_value_t = TextRules::default().min_chars)]
    min_chars: usize,
    /// Longest kept text, in characters.
    #[arg(long, default_value_t = TextRules::default().max_chars)]
    max_chars: usize,
    /// URL lists: the column holding the image URL.
    #[arg(long, default_value = "url")]
    url_col: String,
    /// URL lists: the column holding the text.
    #[arg(long, default_value = "caption")]
    caption_col: String,
    /// WARC records larger than this many MiB are skipped (counted).
    #[arg(long, default_value_t = 64)]
    max_record_mb: u64,
    #[arg(long, default_value_t = 0)]
    rank: usize,
    #[arg(long, default_value_t = 1)]
    world_size: usize,
    /// Which step of a multi-rank run to do.
    #[arg(long, value_enum, default_value = "all")]
    phase: PhaseArg,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

pub fn run(args: &HarvestArgs) -> Result<ExitCode> {
    let out = args.out.clone().context("-o/--out is required")?;
    let config = HarvestConfig {
        inputs: args.inputs.clone(),
        out: out.clone(),
        text: TextRules { min_chars: args.min_chars, max_chars: args.max_chars },
        languages: args.lang.clone(),
        min_lang_confidence: args.min_lang_conf,
        list: UrlListOptions {
            url_col: args.url_col.clone(),
            caption_col: Some(args.caption_col.clone()),
            format: None,
        },
        max_record_bytes: args.max_record_mb << 20,
        rank: args.rank,
        world_size: args.world_size,
        phase: match args.phase {
            PhaseArg::All => Phase::All,
            PhaseArg::Harvest => Phase::Harvest,
            PhaseArg::Merge => Phase::Merge,
        },
        threads: args.threads,
    };
    let stats = harvest(&config).with_context(|| format!("harvesting into {}", out.display()))?;
    if stats.already_complete {
        println!("{}: already complete with this configuration; nothing to do", out.display());
        return Ok(ExitCode::SUCCESS);
    }
    let skipped: Vec<String> = stats.skipped.iter().map(|(reason, n)| format!("{reason} {n}")).collect();
    println!(
        "{}: {} inputs, {} records, {} pages, {} pairs found, {} written in {} shards ({:.1} MB/s)",
        out.display(),
        stats.inputs,
        stats.records,
        stats.pages,
        stats.pairs_found,
        stats.pairs_out,
        stats.shards,
        stats.bytes as f64 / 1e6 / stats.seconds.max(1e-9)
    );
    if !skipped.is_empty() {
        println!("skipped: {}", skipped.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
