//! `wit harvest INPUT… -o DIR`: candidate pairs from WARC / WAT files and URL lists;
//! `wit harvest crawl --seeds URL… -o DIR`: the same from a polite crawl.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use std::time::Duration;

use clap::Subcommand;
use wit_harvest::{crawl, harvest, CrawlConfig, DecisionMode, HarvestConfig, LanguageRule, Phase, TextRules};
use wit_lists::UrlListOptions;
use wit_net::NetOptions;
use wit_storage::{with_storage, InputReads, Seed, StoragePlan};

use super::queries::parse_bytes;
use super::RankArgs;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PhaseArg {
    /// Harvest and deduplicate in one process (world size 1).
    All,
    /// Harvest this rank's inputs into OUT/data/rank-RRRRR-of-NNNNN-… (manifest in OUT/_ranks/) and send each row's key to its bucket.
    Harvest,
    /// Bucket rank R: find the later duplicate keys of bucket R (every rank has harvested).
    Dedup,
    /// Rank R: drop the duplicates the buckets found from its own shards.
    Apply,
    /// List every rank's shards in OUT/_manifest.json (run once, with the same INPUTs; reads no rows).
    Merge,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LangDecisionArg {
    /// The caption's own detection when it is long and confident, or when its script rules the
    /// page's language out; else the page's language (WARC-Identified-Content-Language, the page
    /// text, <html lang>, <meta http-equiv=content-language>, Content-Language).
    Page,
    /// whatlang on the caption alone.
    Caption,
}

/// Which texts are kept: language, language decision, length (harvest and its crawl alike).
#[derive(Args, Debug, Clone)]
pub struct TextArgs {
    /// Languages to keep (ISO 639-1/3 codes or names, comma-separated); `any` keeps all.
    #[arg(long, value_delimiter = ',', default_value = "en")]
    lang: Vec<String>,
    /// Minimum confidence (0–1) of a kept pair's language, where its decision has one (whatlang on
    /// the caption or the page text; a declared page language has none).
    #[arg(long, default_value_t = 0.0)]
    min_lang_conf: f32,
    #[command(flatten)]
    lang_rule: LangRuleArgs,
    /// Shortest kept text, in characters (after cleaning).
    #[arg(long, default_value_t = TextRules::default().min_chars)]
    min_chars: usize,
    /// Longest kept text, in characters.
    #[arg(long, default_value_t = TextRules::default().max_chars)]
    max_chars: usize,
}

/// How a pair's language is decided (see wit_harvest::language_decision).
#[derive(Args, Debug, Clone)]
pub struct LangRuleArgs {
    /// Where a pair's language comes from.
    #[arg(long, value_enum, default_value = "page")]
    lang_decision: LangDecisionArg,
    /// A caption's own language detection is trusted from this many characters (with
    /// --lang-trust-conf); shorter captions take their page's language.
    #[arg(long, default_value_t = LanguageRule::default().trust_chars)]
    lang_trust_chars: usize,
    /// …and from this whatlang confidence (0–1).
    #[arg(long, default_value_t = LanguageRule::default().trust_confidence)]
    lang_trust_conf: f32,
}

impl LangRuleArgs {
    fn rule(&self) -> LanguageRule {
        LanguageRule {
            mode: match self.lang_decision {
                LangDecisionArg::Page => DecisionMode::Page,
                LangDecisionArg::Caption => DecisionMode::Caption,
            },
            trust_chars: self.lang_trust_chars,
            trust_confidence: self.lang_trust_conf,
            ..LanguageRule::default()
        }
    }
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
#[command(after_help = "Examples:
  wit harvest CC-MAIN-20241201-00000.warc.wat.gz -o out/candidates
  wit harvest warcs/ -o out/candidates --lang en,de --min-lang-conf 0.5
  wit harvest laion-part-00000.parquet --url-col URL --caption-col TEXT --lang any -o out/candidates

Ctrl-C or SIGTERM keeps the finished inputs; the same command resumes.")]
pub struct HarvestArgs {
    #[command(subcommand)]
    mode: Option<HarvestMode>,
    /// WARC (.warc, .warc.gz), WAT (.wat, .wat.gz) or URL list files (csv, tsv, jsonl, parquet,
    /// txt; optionally .gz), or folders of them; local paths or URLs (s3://, gs://, az://, http(s)://).
    /// The format comes from the name, else the content.
    #[arg(required = true, num_args = 1..)]
    inputs: Vec<PathBuf>,
    /// Output folder (local path or s3://, gs://, az:// URL): candidate shards in data/ and _manifest.json.
    #[arg(short, long, required = true)]
    out: Option<PathBuf>,
    #[command(flatten)]
    text: TextArgs,
    /// URL lists: the column holding the image URL.
    #[arg(long, default_value = "url")]
    url_col: String,
    /// URL lists: the column holding the text.
    #[arg(long, default_value = "caption")]
    caption_col: String,
    /// WARC records larger than this many MiB are skipped (counted).
    #[arg(long, default_value_t = 64)]
    max_record_mb: u64,
    #[command(flatten)]
    ranks: RankArgs,
    /// Which step of a multi-rank run to do.
    #[arg(long, value_enum, default_value = "all")]
    phase: PhaseArg,
    /// Record an input that cannot be read to its end (truncated or corrupt) as failed, with its
    /// error in the manifest's stats, and go on; by default the run stops at it. Its pairs are not
    /// kept. For large crawls where one bad download must not stop a rank.
    #[arg(long)]
    skip_bad_inputs: bool,
    /// Page-level opt-outs that drop all of a page's pairs (comma-separated; empty: none): `noai`,
    /// `noimageai`, `noindex`… in `<meta name="robots"|"ai">`, and `tdm-reservation` (TDMRep's
    /// header or meta). Dropped pairs are counted as `page_opt_out:DIRECTIVE`.
    #[arg(long, default_value = "noai,noimageai,tdm-reservation")]
    page_opt_out_directives: String,
    /// A takedown blocklist (`wit remove` keeps one in BUILD/_blocklist.jsonl; `wit build` passes
    /// it): the pairs it lists are left out, counted as `blocklisted`.
    #[arg(long, value_name = "FILE")]
    blocklist: Option<PathBuf>,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Memory the dedup sorts may use before spilling sorted runs to disk (e.g. 1G, 512M).
    #[arg(long, default_value = "1G", value_parser = parse_bytes)]
    memory_budget: u64,
}

#[derive(Subcommand, Debug)]
pub enum HarvestMode {
    /// Crawl HTML pages from seed URLs (robots.txt, per-host delay, domain allow-list, limits),
    /// archive them as OUT/_crawl/pages.warc.gz and harvest that into OUT.
    Crawl(CrawlArgs),
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  wit harvest crawl --seeds https://example.org/ --max-pages 1000 -o out/crawl")]
pub struct CrawlArgs {
    /// Where the crawl starts (http/https URLs).
    #[arg(long, required = true, num_args = 1..)]
    seeds: Vec<String>,
    /// Output folder: candidate shards in data/, _manifest.json, _crawl/pages.warc.gz and _crawl/crawl.json.
    #[arg(short, long)]
    out: PathBuf,
    /// Hosts the crawl may enter, with their subdomains (default: the seeds' hosts).
    #[arg(long)]
    allow_domain: Vec<String>,
    /// Most pages requested.
    #[arg(long, default_value_t = 1000)]
    max_pages: u64,
    /// Most link steps from a seed.
    #[arg(long, default_value_t = 3)]
    max_depth: u32,
    /// Pages requested at once across hosts (each host still gets one at a time by default).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Requests in flight to one host at once.
    #[arg(long, default_value_t = 1)]
    per_host_concurrency: usize,
    /// Minimum time between two requests to one host, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    per_host_delay_ms: u64,
    /// An honest User-Agent naming the crawler and where to learn about it.
    #[arg(long, default_value = wit_net::options::DEFAULT_USER_AGENT)]
    user_agent: String,
    /// Total time for one page request, in seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Allow private, loopback and link-local addresses (tests and the demo web on 127.0.0.1).
    #[arg(long)]
    allow_private_networks: bool,
    /// A name server to ask instead of /etc/resolv.conf's (IP:PORT), repeatable. Answers are
    /// cached in-process for their TTL either way.
    #[arg(long = "dns-server", value_name = "IP:PORT")]
    dns_servers: Vec<std::net::SocketAddr>,
    #[command(flatten)]
    text: TextArgs,
    /// A takedown blocklist (`wit remove` keeps one in BUILD/_blocklist.jsonl; `wit build` passes
    /// it): pages whose URL or domain it lists are not requested (counted), and the pairs it lists
    /// are left out of the harvest (counted as `blocklisted`).
    #[arg(long, value_name = "FILE")]
    blocklist: Option<PathBuf>,
}

pub fn run(args: &HarvestArgs) -> Result<ExitCode> {
    if let Some(HarvestMode::Crawl(crawl_args)) = &args.mode {
        return run_crawl(crawl_args);
    }
    let out = args.out.clone().context("-o/--out is required")?;
    // A rank reads every N-th input; the merge reads none (it compares the input list).
    let (seed, reads) = match args.phase {
        PhaseArg::Harvest => (args.ranks.this_rank(), args.ranks.input_slice()),
        PhaseArg::Dedup | PhaseArg::Apply => (args.ranks.this_rank(), InputReads::NoneRead),
        PhaseArg::Merge => (Seed::Metadata, InputReads::NoneRead),
        PhaseArg::All => (Seed::Everything, InputReads::All),
    };
    let plan = args.inputs.iter().fold(StoragePlan::new(), |plan, input| plan.input(input)).output(&out, seed);
    let plan = plan.reads(reads);
    let stats = with_storage(plan, |local| {
        let config = HarvestConfig {
            inputs: local.inputs_from(0),
            out: local.output(),
            text: TextRules { min_chars: args.text.min_chars, max_chars: args.text.max_chars },
            languages: args.text.lang.clone(),
            min_lang_confidence: args.text.min_lang_conf,
            language_rule: args.text.lang_rule.rule(),
            list: UrlListOptions {
                url_col: args.url_col.clone(),
                caption_col: Some(args.caption_col.clone()),
                ..UrlListOptions::default()
            },
            max_record_bytes: args.max_record_mb << 20,
            rank: args.ranks.rank,
            world_size: args.ranks.world_size,
            phase: match args.phase {
                PhaseArg::All => Phase::All,
                PhaseArg::Harvest => Phase::Harvest,
                PhaseArg::Dedup => Phase::Dedup,
                PhaseArg::Apply => Phase::Apply,
                PhaseArg::Merge => Phase::Merge,
            },
            memory_budget: args.memory_budget,
            threads: args.threads,
            skip_bad_inputs: args.skip_bad_inputs,
            cancel: wit_contract::Cancel::on_signals(),
            page_opt_out_directives: wit_harvest::opt_out::parse_directives(&args.page_opt_out_directives),
            blocklist: super::load_blocklist(args.blocklist.as_deref())?,
        };
        harvest(&config).with_context(|| format!("harvesting into {}", out.display()))
    })?;
    print_harvest(&out, &stats);
    Ok(ExitCode::SUCCESS)
}

fn run_crawl(args: &CrawlArgs) -> Result<ExitCode> {
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        anyhow::bail!("--timeout {} (must be a positive number of seconds)", args.timeout);
    }
    // A remote OUT (s3://…) is crawled into a staging folder and published (wit-storage).
    let plan = StoragePlan::new().output(&args.out, Seed::Everything);
    let blocklist = super::load_blocklist(args.blocklist.as_deref())?;
    let stats = with_storage(plan, |local| {
        let config = crawl_config(args, local.output(), blocklist.clone());
        crawl(&config).with_context(|| format!("crawling into {}", args.out.display()))
    })?;
    if stats.reused_earlier_crawl {
        println!("{}: the crawl had finished earlier; harvesting its WARC", args.out.display());
    } else {
        let failed: Vec<String> = stats.failed.iter().map(|(kind, n)| format!("{kind} {n}")).collect();
        println!(
            "crawl: {} pages requested, {} HTML pages archived, {} not HTML, failed: [{}], {} links ({} out of scope, {} over limits), {} pages blocklisted in {:.1} s",
            stats.pages_fetched,
            stats.pages_html,
            stats.not_html,
            failed.join(", "),
            stats.links_found,
            stats.links_out_of_scope,
            stats.links_over_limits,
            stats.pages_blocklisted,
            stats.seconds
        );
    }
    if let Some(harvest_stats) = &stats.harvest {
        print_harvest(&args.out, harvest_stats);
    }
    Ok(ExitCode::SUCCESS)
}

/// The crawl's configuration from its flags, writing into `out` (the local or staging folder).
fn crawl_config(
    args: &CrawlArgs,
    out: std::path::PathBuf,
    blocklist: std::sync::Arc<wit_contract::Blocklist>,
) -> CrawlConfig {
    CrawlConfig {
        seeds: args.seeds.clone(),
        allow_domains: args.allow_domain.clone(),
        max_pages: args.max_pages,
        max_depth: args.max_depth,
        concurrency: args.concurrency,
        net: NetOptions {
            user_agent: args.user_agent.clone(),
            allow_private_networks: args.allow_private_networks,
            dns_servers: args.dns_servers.clone(),
            request_timeout: Duration::from_secs_f64(args.timeout),
            per_host_concurrency: args.per_host_concurrency,
            per_host_min_delay: Duration::from_millis(args.per_host_delay_ms),
            ..NetOptions::default()
        },
        harvest: HarvestConfig {
            out,
            text: TextRules { min_chars: args.text.min_chars, max_chars: args.text.max_chars },
            languages: args.text.lang.clone(),
            min_lang_confidence: args.text.min_lang_conf,
            language_rule: args.text.lang_rule.rule(),
            blocklist,
            ..HarvestConfig::default()
        },
    }
}

fn print_harvest(out: &std::path::Path, stats: &wit_harvest::HarvestStats) {
    if stats.already_complete {
        println!("{}: already complete with this configuration; nothing to do", out.display());
        return;
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
    if stats.inputs_failed > 0 {
        println!("{} inputs could not be read and were skipped:", stats.inputs_failed);
        for input in stats.per_input.iter().filter(|i| i.error.is_some()) {
            println!("  {}", input.error.as_deref().unwrap_or_default());
        }
    }
}
