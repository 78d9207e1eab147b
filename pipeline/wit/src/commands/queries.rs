//! `wit queries build` / `wit queries text`: the query dictionary from a Wikipedia dump.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::RankArgs;
use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use wit_queries::{build, write_text, DumpInput, Phase, QueriesConfig, Quotas, TextConfig};
use wit_storage::{with_storage, LocalPaths, Seed, StoragePlan};

#[derive(Args, Debug)]
pub struct QueriesArgs {
    #[command(subcommand)]
    command: QueriesCommand,
}

// Parsed once per run: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum QueriesCommand {
    /// Count words and bigrams of a dump and write the query dictionary.
    Build(BuildArgs),
    /// Print the plain text the counter sees (wikitext stripped), article after article.
    Text(TextArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PhaseArg {
    /// Count, merge and select in one process (world size 1).
    All,
    /// Count this rank's share into OUT/_counts/.
    Count,
    /// Merge every rank's counts and write the dictionary.
    Merge,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  wit queries build enwiki-latest-pages-articles-multistream.xml.bz2 --wordnet /usr/share/wordnet -o out/queries
  wit queries build dump.xml.bz2 --min-count 5 --size 20000 -o out/queries")]
struct BuildArgs {
    /// pages-articles dumps: .xml, .xml.bz2 (single or multistream), or - for stdin (none for --phase merge);
    /// local paths or URLs (s3://, gs://, az://, http(s)://).
    dumps: Vec<PathBuf>,
    /// Output folder (local path or s3://, gs://, az:// URL): _manifest.json, data/queries.parquet, _queries.tsv.
    #[arg(short, long)]
    out: PathBuf,
    /// The multistream index (`…-multistream-index.txt.bz2`); found beside the dump when omitted.
    #[arg(long)]
    index: Option<PathBuf>,
    /// Unigrams and bigrams need at least this many occurrences.
    #[arg(long, default_value_t = 100)]
    min_count: u64,
    /// Most entries in the dictionary.
    #[arg(long, default_value_t = 500_000)]
    size: u64,
    /// WordNet 3.x dict folder (e.g. /usr/share/wordnet): noun synset head words.
    #[arg(long)]
    wordnet: Option<PathBuf>,
    /// Take head words of verb, adjective and adverb synsets too.
    #[arg(long)]
    wordnet_all_pos: bool,
    /// Titles list: TITLE or TITLE<TAB>VIEWS per line.
    #[arg(long)]
    titles: Option<PathBuf>,
    /// Keep titles with at least this many page views.
    #[arg(long)]
    title_min_views: Option<u64>,
    /// Quotas (default: MetaCLIP's 500k mix scaled to --size).
    #[arg(long)]
    quota_wordnet: Option<u64>,
    /// Unigram entries of the dictionary (default: MetaCLIP-shaped share of --size).
    #[arg(long)]
    quota_unigrams: Option<u64>,
    /// Bigram entries, ranked by PMI (default: MetaCLIP-shaped share of --size).
    #[arg(long)]
    quota_bigrams: Option<u64>,
    /// Article-title entries (default: MetaCLIP-shaped share of --size).
    #[arg(long)]
    quota_titles: Option<u64>,
    /// Keep each source to its quota even when others leave room under --size.
    #[arg(long)]
    no_fill: bool,
    /// Memory the count tables may use before spilling sorted runs to disk (e.g. 2G, 512M).
    #[arg(long, default_value = "2G", value_parser = parse_bytes)]
    memory_budget: u64,
    /// Folder for spill runs (default: inside the output folder).
    #[arg(long)]
    spill_dir: Option<PathBuf>,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Compressed bytes per unit of work when decoding a multistream dump in parallel.
    #[arg(long, default_value = "4M", value_parser = parse_bytes)]
    unit_bytes: u64,
    /// Read multistream dumps as one stream (no parallel decoding).
    #[arg(long)]
    no_parallel_streams: bool,
    #[command(flatten)]
    ranks: RankArgs,
    /// Which step of a multi-rank run to do.
    #[arg(long, value_enum, default_value = "all")]
    phase: PhaseArg,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  wit queries text enwiki-latest-pages-articles1.xml.bz2 | head
  bzcat dump.xml.bz2 | wit queries text -")]
struct TextArgs {
    /// A pages-articles dump (.xml, .xml.bz2) or - for stdin.
    dump: PathBuf,
    /// Stop after this many articles.
    #[arg(long)]
    limit: Option<u64>,
    /// Print "### TITLE" before each article.
    #[arg(long)]
    titles: bool,
}

pub(crate) fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (number, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
    let value: f64 = number.trim().parse().map_err(|_| format!("{text:?}: expected a size such as 2G or 512M"))?;
    let scale = match unit.to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 1u64,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("{text:?}: unknown unit {unit:?}")),
    };
    Ok((value * scale as f64) as u64)
}

pub fn run(args: &QueriesArgs) -> Result<ExitCode> {
    match &args.command {
        QueriesCommand::Build(args) => run_build(args),
        QueriesCommand::Text(args) => run_text(args),
    }
}

fn run_build(args: &BuildArgs) -> Result<ExitCode> {
    let phase = match args.phase {
        PhaseArg::All => Phase::All,
        PhaseArg::Count => Phase::Count,
        PhaseArg::Merge => Phase::Merge,
    };
    let mut quotas = Quotas::metaclip_shaped(args.size);
    quotas.wordnet = args.quota_wordnet.unwrap_or(quotas.wordnet);
    quotas.unigram = args.quota_unigrams.unwrap_or(quotas.unigram);
    quotas.bigram = args.quota_bigrams.unwrap_or(quotas.bigram);
    quotas.title = args.quota_titles.unwrap_or(quotas.title);
    let seed = match phase {
        Phase::Count => args.ranks.this_rank(),
        _ => Seed::Everything,
    };
    let mut plan = StoragePlan::new()
        .optional_input(args.index.as_deref())
        .optional_input(args.wordnet.as_deref())
        .optional_input(args.titles.as_deref())
        .output(&args.out, seed);
    for dump in &args.dumps {
        plan = plan.input(dump);
    }
    with_storage(plan, |local| build_locally(args, phase, quotas, local))
}

/// Runs the build on local paths (remote inputs downloaded, a remote output staged).
fn build_locally(args: &BuildArgs, phase: Phase, quotas: Quotas, local: &LocalPaths) -> Result<ExitCode> {
    let index = local.optional_input(0);
    let config = QueriesConfig {
        inputs: local.inputs_from(3).into_iter().map(|path| DumpInput { path, index: index.clone() }).collect(),
        out: local.output(),
        min_count: args.min_count,
        size: args.size,
        quotas: Some(quotas),
        fill: !args.no_fill,
        wordnet: local.optional_input(1),
        wordnet_all_pos: args.wordnet_all_pos,
        titles: local.optional_input(2),
        title_min_views: args.title_min_views,
        memory_budget: args.memory_budget,
        spill_dir: args.spill_dir.clone(),
        threads: args.threads,
        rank: args.ranks.rank,
        world_size: args.ranks.world_size,
        phase,
        parallel_streams: !args.no_parallel_streams,
        unit_bytes: args.unit_bytes,
    };
    let inputs: Vec<String> = args.dumps.iter().map(|p| p.display().to_string()).collect();
    let stats = build(&config)
        .with_context(|| format!("building queries from {} into {}", inputs.join(", "), args.out.display()))?;
    if stats.skipped {
        println!("{}: already complete with this configuration; nothing to do", args.out.display());
    } else if phase == Phase::Count {
        println!(
            "{}: rank {} counted {} articles ({} pages, {} redirects skipped), {} tokens, {} distinct keys",
            args.out.display(),
            args.ranks.rank,
            stats.articles,
            stats.pages,
            stats.redirects,
            stats.tokens,
            stats.distinct_total
        );
    } else {
        let s = stats.selected;
        println!(
            "{}: {} queries ({} unigrams, {} bigrams, {} titles, {} wordnet) from {} articles ({} pages, {} redirects skipped), {} tokens, {} distinct unigrams, {} distinct bigrams",
            args.out.display(),
            stats.entries,
            s.unigram,
            s.bigram,
            s.title,
            s.wordnet,
            stats.articles,
            stats.pages,
            stats.redirects,
            stats.tokens,
            stats.distinct_unigrams,
            stats.distinct_bigrams
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn run_text(args: &TextArgs) -> Result<ExitCode> {
    let config = TextConfig {
        input: DumpInput { path: args.dump.clone(), index: None },
        limit: args.limit,
        titles: args.titles,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let stats = write_text(&config, &mut out).with_context(|| format!("reading {}", args.dump.display()))?;
    let _ = out.flush();
    tracing::info!(pages = stats.pages, redirects = stats.redirects, articles = stats.articles, "printed");
    Ok(ExitCode::SUCCESS)
}
