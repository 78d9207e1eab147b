//! `wit fetch`: download, check and re-encode the images of a curated (or candidates) folder.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::RankArgs;
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use wit_fetch::{
    fetch, ComputeHash, FetchConfig, FetchInput, ImageOptions, NetOptions, OutputFormat, Phase, ResizeMode,
};
use wit_lists::UrlListOptions;
use wit_storage::{with_storage, Seed, StoragePlan};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PhaseArg {
    /// Fetch this rank's pairs into OUT itself (world size 1, or one output folder per rank).
    All,
    /// Fetch this rank's pairs into OUT/data/rank-RRRRR-of-NNNNN-shard-… (its manifest in OUT/_ranks/) and send its image hashes.
    Fetch,
    /// Bucket rank R: find the later copies of each image of bucket R (every rank has fetched).
    Dedup,
    /// Rank R: move the later copies the buckets found from its corpus to its failures.
    Apply,
    /// List every rank's shards in OUT's manifests (once, after all ranks; same INPUT and flags).
    Merge,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum HashArg {
    Sha256,
    Md5,
    Both,
    None,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ResizeArg {
    No,
    Border,
    #[value(name = "keep_ratio")]
    KeepRatio,
    #[value(name = "keep_ratio_largest")]
    KeepRatioLargest,
    #[value(name = "center_crop")]
    CenterCrop,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    Jpg,
    Png,
    Webp,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  wit fetch out/curated -o out/corpus
  wit fetch laion.parquet --url-col URL --caption-col TEXT --image-size 224 --resize-mode center_crop -o out/corpus
  wit fetch laion.parquet --url-col URL --caption-col TEXT --save-additional-columns LICENSE,similarity --keep-exif -o out/corpus
  wit fetch out/curated -o out/corpus --rank $SLURM_ARRAY_TASK_ID --world-size 8 --phase fetch

Ctrl-C or SIGTERM commits the finished images; the same command resumes and fetches only the rest.")]
pub struct FetchArgs {
    /// A `wit curate` folder, a `wit harvest` candidates folder, or a URL list file (csv, tsv,
    /// jsonl, parquet, txt; optionally .gz) as img2dataset reads; a local path or a URL.
    input: PathBuf,
    /// Output folder (local path or s3://, gs://, az:// URL): corpus shards in data/, _manifest.json and _failures/.
    #[arg(short, long)]
    out: PathBuf,
    /// URL lists: the column holding the image URL.
    #[arg(long, default_value = "url")]
    url_col: String,
    /// URL lists: the column holding the caption (none: pairs without text).
    #[arg(long)]
    caption_col: Option<String>,
    /// URL lists: columns to keep in the corpus and failure rows, after wit's own (e.g.
    /// LICENSE,similarity). Parquet lists keep each column's type; csv, tsv and jsonl give text.
    #[arg(long, value_name = "COL[,COL…]", value_delimiter = ',')]
    save_additional_columns: Vec<String>,
    /// Keep the original image's EXIF tags as a JSON column `exif` of corpus rows (null without).
    #[arg(long)]
    keep_exif: bool,
    /// Side length the resize mode fits images to.
    #[arg(long, default_value_t = 256)]
    image_size: u32,
    /// How images are fitted to --image-size (img2dataset's modes).
    #[arg(long, value_enum, default_value = "border")]
    resize_mode: ResizeArg,
    /// Never upscale: images already small enough keep their size.
    #[arg(long)]
    resize_only_if_bigger: bool,
    /// Refuse images whose smaller side is below this many pixels.
    #[arg(long, default_value_t = 0)]
    min_image_size: u32,
    /// Refuse images whose longer/shorter side ratio is above this.
    #[arg(long, default_value_t = f64::INFINITY)]
    max_aspect_ratio: f64,
    /// Refuse images of more pixels than this (read from the header, before decoding).
    #[arg(long, default_value_t = 50_000_000)]
    max_pixels: u64,
    /// Encoding of the stored images.
    #[arg(long, value_enum, default_value = "jpg")]
    output_format: FormatArg,
    /// JPEG quality (1-100).
    #[arg(long, default_value_t = 95)]
    encode_quality: u8,
    /// Downloads in flight at once.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// Downloads in flight to one host at once.
    #[arg(long, default_value_t = 4)]
    per_host_concurrency: usize,
    /// Minimum milliseconds between the starts of two requests to one host.
    #[arg(long, default_value_t = 0)]
    per_host_delay_ms: u64,
    /// Image-processing threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Total seconds one attempt may take (connect, redirects and the whole body).
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Retries for 429, 5xx, timeouts and connection errors.
    #[arg(long, default_value_t = 2)]
    retries: u32,
    /// Largest body downloaded, in bytes.
    #[arg(long, default_value_t = 20 << 20)]
    max_body_bytes: u64,
    /// User-Agent header.
    #[arg(long, default_value = wit_net::options::DEFAULT_USER_AGENT)]
    user_agent: String,
    /// X-Robots-Tag directives that opt an image out (comma-separated; empty: ignore the header).
    #[arg(long, default_value = "noai,noimageai,noindex,noimageindex")]
    disallowed_header_directives: String,
    /// Do not read robots.txt.
    #[arg(long)]
    ignore_robots: bool,
    /// Hashes of the original downloaded bytes written as corpus columns (`sha256`, `md5`, hex;
    /// they cannot be computed later from re-encoded images). md5 costs 2.3× sha256 here; `both`
    /// for takedown lists that come as md5.
    #[arg(long, value_enum, default_value = "sha256")]
    compute_hash: HashArg,
    /// A takedown blocklist (`wit remove` keeps one in BUILD/_blocklist.jsonl; `wit build` passes
    /// it): the pairs it lists are left out, counted as `blocklisted`.
    #[arg(long, value_name = "FILE")]
    blocklist: Option<PathBuf>,
    /// Allow private, loopback and link-local addresses (off: refused at connect time).
    #[arg(long)]
    allow_private_networks: bool,
    /// Allow one address of the private ranges (a local mirror), repeatable; the rest stay refused.
    #[arg(long = "allow-address", value_name = "IP")]
    allow_addresses: Vec<std::net::IpAddr>,
    /// A name server to ask instead of /etc/resolv.conf's (IP:PORT), repeatable. Answers are
    /// cached in-process for their TTL either way.
    #[arg(long = "dns-server", value_name = "IP:PORT")]
    dns_servers: Vec<std::net::SocketAddr>,
    /// Consecutive failures (connection, timeout, 5xx) after which a host is skipped for two
    /// minutes (`circuit_open`); 0: never.
    #[arg(long, default_value_t = 10)]
    breaker_threshold: u32,
    /// Rows per shard (a kill loses at most the open shard).
    #[arg(long, default_value_t = 10_000)]
    shard_rows: u64,
    #[command(flatten)]
    ranks: RankArgs,
    /// Which step of a multi-rank run to do.
    #[arg(long, value_enum, default_value = "all")]
    phase: PhaseArg,
    /// Memory the image-dedup set and sorts may use before spilling sorted runs (e.g. 1G, 512M).
    #[arg(long, default_value = "1G", value_parser = super::queries::parse_bytes)]
    memory_budget: u64,
}

pub fn run(args: &FetchArgs) -> Result<ExitCode> {
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        anyhow::bail!("--timeout {} (must be a positive number of seconds)", args.timeout);
    }
    let list = UrlListOptions {
        url_col: args.url_col.clone(),
        caption_col: args.caption_col.clone(),
        format: None,
        keep_columns: args.save_additional_columns.clone(),
    };
    let (phase, seed) = match args.phase {
        PhaseArg::All => (Phase::All, Seed::Everything),
        PhaseArg::Fetch => (Phase::Fetch, args.ranks.this_rank()),
        PhaseArg::Dedup => (Phase::Dedup, args.ranks.this_rank()),
        PhaseArg::Apply => (Phase::Apply, args.ranks.this_rank()),
        PhaseArg::Merge => (Phase::Merge, Seed::Metadata),
    };
    let plan = StoragePlan::new().input(&args.input).output(&args.out, seed);
    let stats = with_storage(plan, |local| {
        let input = local.input(0);
        let input =
            FetchInput::from_path(&input, &list).with_context(|| format!("reading {}", args.input.display()))?;
        let blocklist = super::load_blocklist(args.blocklist.as_deref())?;
        let config = FetchConfig { phase, blocklist, ..config_of(args, input, local.output()) };
        fetch(&config).with_context(|| format!("fetching {} into {}", args.input.display(), args.out.display()))
    })?;
    print_stats(args, &stats);
    Ok(ExitCode::SUCCESS)
}

/// The stage's options from the flags.
fn config_of(args: &FetchArgs, input: FetchInput, out: PathBuf) -> FetchConfig {
    let net = NetOptions {
        user_agent: args.user_agent.clone(),
        allow_private_networks: args.allow_private_networks,
        allowed_addresses: args.allow_addresses.clone(),
        dns_servers: args.dns_servers.clone(),
        breaker_threshold: args.breaker_threshold,
        request_timeout: Duration::from_secs_f64(args.timeout),
        max_body_bytes: args.max_body_bytes,
        retries: args.retries,
        per_host_concurrency: args.per_host_concurrency,
        per_host_min_delay: Duration::from_millis(args.per_host_delay_ms),
        respect_robots: !args.ignore_robots,
        opt_out_directives: args
            .disallowed_header_directives
            .split(',')
            .map(|d| d.trim().to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect(),
        ..NetOptions::default()
    };
    let image = ImageOptions {
        image_size: args.image_size,
        resize_mode: match args.resize_mode {
            ResizeArg::No => ResizeMode::No,
            ResizeArg::Border => ResizeMode::Border,
            ResizeArg::KeepRatio => ResizeMode::KeepRatio,
            ResizeArg::KeepRatioLargest => ResizeMode::KeepRatioLargest,
            ResizeArg::CenterCrop => ResizeMode::CenterCrop,
        },
        resize_only_if_bigger: args.resize_only_if_bigger,
        min_image_size: args.min_image_size,
        max_aspect_ratio: args.max_aspect_ratio,
        max_pixels: args.max_pixels,
        output_format: match args.output_format {
            FormatArg::Jpg => OutputFormat::Jpeg,
            FormatArg::Png => OutputFormat::Png,
            FormatArg::Webp => OutputFormat::Webp,
        },
        quality: args.encode_quality,
        ..ImageOptions::default()
    };
    FetchConfig {
        net,
        image,
        concurrency: args.concurrency,
        threads: args.threads,
        shard_rows: args.shard_rows,
        rank: args.ranks.rank,
        world_size: args.ranks.world_size,
        memory_budget: args.memory_budget,
        cancel: wit_contract::Cancel::on_signals(),
        compute_hash: match args.compute_hash {
            HashArg::Sha256 => ComputeHash::Sha256,
            HashArg::Md5 => ComputeHash::Md5,
            HashArg::Both => ComputeHash::Both,
            HashArg::None => ComputeHash::None,
        },
        keep_exif: args.keep_exif,
        ..FetchConfig::new(input, out)
    }
}

fn print_stats(args: &FetchArgs, stats: &wit_fetch::FetchStats) {
    if stats.skipped {
        println!("{}: already complete with this configuration; nothing to do", args.out.display());
    } else {
        let statuses: Vec<String> = stats.by_status.iter().map(|(s, n)| format!("{s} {n}")).collect();
        println!(
            "{}: {} images, {} failures ({}); {} pairs fetched this run, {} resumed, {:.1} MB in {:.1} s",
            args.out.display(),
            stats.corpus_rows,
            stats.failure_rows,
            statuses.join(", "),
            stats.fetched,
            stats.resumed,
            stats.bytes_downloaded as f64 / 1e6,
            stats.seconds
        );
    }
}
