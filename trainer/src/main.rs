//! `wit-train`: CLIP training on wit's corpus. Flags are parsed here; the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use tch::Device;
use wit_storage::{with_storage, StoragePlan};
use wit_trainer::config::ClipConfig;
use wit_trainer::eval::EvalOptions;
use wit_trainer::optim::AdamWConfig;
use wit_trainer::smoke::smoke;
use wit_trainer::{Precision, Resume, TrainOptions};

#[derive(Parser)]
#[command(name = "wit-train", version, about = "CLIP training in tch over wit's Parquet shards")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Less output (warnings only).
    #[arg(short, long, global = true)]
    quiet: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Train (or resume) a CLIP model on a corpus folder (`wit fetch` output).
    Train(Box<TrainArgs>),
    /// Evaluate a checkpoint on the corpus's held-out shards: retrieval R@1/5/10 and zero-shot.
    Eval(EvalArgs),
    /// Check libtorch end to end: build a model, train a few steps on a fixed random batch, and
    /// report whether the loss falls.
    Smoke {
        /// Model config: tiny, ViT-S-32 or ViT-B-32.
        #[arg(long, default_value = "tiny")]
        config: ClipConfig,
        /// cpu, cuda, or auto (cuda when available).
        #[arg(long, default_value = "auto")]
        device: String,
        #[arg(long, default_value_t = 8)]
        batch: i64,
        #[arg(long, default_value_t = 20)]
        steps: usize,
        #[arg(long, default_value_t = 0)]
        seed: i64,
    },
}

#[derive(Args)]
struct TrainArgs {
    /// Corpus folder (manifest.json of kind corpus + shard-NNNNN.parquet): a path, or a URL
    /// (s3://, gs://, az://, http(s)://) downloaded into $WIT_SCRATCH first.
    #[arg(long)]
    data: PathBuf,
    /// Output folder: checkpoints/step-NNNNNNNN/, results.jsonl.
    #[arg(long, short = 'o', default_value = "out/train")]
    out: PathBuf,
    /// Model config: tiny, ViT-S-32 or ViT-B-32.
    #[arg(long, default_value = "tiny")]
    config: ClipConfig,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Total optimiser steps (the schedule's length).
    #[arg(long, default_value_t = 100)]
    steps: u64,
    #[arg(long, default_value_t = 5e-4)]
    lr: f64,
    /// Linear warm-up steps.
    #[arg(long, default_value_t = 10)]
    warmup: u64,
    #[arg(long, default_value_t = 0.2)]
    weight_decay: f64,
    /// Clip the gradients' joint L2 norm to this (off by default, as in open_clip).
    #[arg(long)]
    grad_clip: Option<f64>,
    /// Image decoding threads.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Batches prepared ahead.
    #[arg(long, default_value_t = 4)]
    prefetch: usize,
    /// Rows shuffled together (windows across shard boundaries).
    #[arg(long, default_value_t = 4096)]
    shuffle_window: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 0)]
    rank: usize,
    #[arg(long, default_value_t = 1)]
    world_size: usize,
    /// Shards at the end of the manifest held out for evaluation (evaluated after the last step).
    #[arg(long, default_value_t = 0)]
    holdout: usize,
    /// Queries folder naming the corpus's query ids, for zero-shot evaluation.
    #[arg(long)]
    queries: Option<PathBuf>,
    /// `latest` (newest checkpoint under --out, if any) or a checkpoint folder.
    #[arg(long)]
    resume: Option<String>,
    #[arg(long, default_value_t = 1000)]
    save_every: u64,
    #[arg(long, default_value_t = 10)]
    log_every: u64,
    /// Stop (with a checkpoint) after this step although the schedule runs to --steps.
    #[arg(long)]
    stop_after: Option<u64>,
    /// cpu, cuda, or auto (cuda when available).
    #[arg(long, default_value = "auto")]
    device: String,
    /// auto (bf16 on CUDA, fp32 on CPU), fp32 or bf16.
    #[arg(long, default_value = "auto")]
    precision: String,
    /// CLIP's BPE merges (bpe_simple_vocab_16e6.txt.gz; `make fixtures` fetches it).
    #[arg(long)]
    bpe: Option<PathBuf>,
}

#[derive(Args)]
struct EvalArgs {
    /// Corpus folder whose held-out shards to evaluate on.
    #[arg(long)]
    data: PathBuf,
    /// A checkpoint folder, or `latest` under --out.
    #[arg(long, default_value = "latest")]
    checkpoint: String,
    #[arg(long, short = 'o', default_value = "out/train")]
    out: PathBuf,
    #[arg(long, default_value_t = 1)]
    holdout: usize,
    #[arg(long)]
    queries: Option<PathBuf>,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 4)]
    workers: usize,
    #[arg(long, default_value = "auto")]
    device: String,
    #[arg(long)]
    bpe: Option<PathBuf>,
}

fn parse_device(name: &str) -> anyhow::Result<Device> {
    Ok(match name {
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        "auto" => Device::cuda_if_available(),
        other => bail!("unknown device {other:?} (cpu, cuda or auto)"),
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = if cli.quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let result = match cli.command {
        Command::Train(args) => run_train(*args),
        Command::Eval(args) => run_eval(args),
        Command::Smoke { config, device, batch, steps, seed } => run_smoke(config, &device, batch, steps, seed),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", wit_contract::error_line(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn run_train(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let device = parse_device(&args.device)?;
    let precision = match args.precision.as_str() {
        "auto" => Precision::Auto,
        "fp32" => Precision::Fp32,
        "bf16" => Precision::Bf16,
        other => bail!("unknown precision {other:?} (auto, fp32 or bf16)"),
    };
    let resume = match args.resume.as_deref() {
        None => Resume::Fresh,
        Some("latest") => Resume::Latest,
        Some(dir) => Resume::Dir(dir.into()),
    };
    let mut options = TrainOptions::new(&args.data, &args.out);
    options.config = args.config;
    options.device = device;
    options.precision = precision;
    if let Some(bpe) = args.bpe {
        options.bpe = bpe;
    }
    options.batch_size = args.batch;
    options.steps = args.steps;
    options.lr = args.lr;
    options.warmup = args.warmup;
    options.adamw = AdamWConfig { weight_decay: args.weight_decay, ..AdamWConfig::default() };
    options.grad_clip = args.grad_clip;
    options.workers = args.workers;
    options.prefetch = args.prefetch;
    options.shuffle_window = args.shuffle_window;
    options.seed = args.seed;
    options.rank = args.rank;
    options.world_size = args.world_size;
    options.holdout_shards = args.holdout;
    options.eval = args.holdout > 0;
    options.resume = resume;
    options.save_every = args.save_every;
    options.log_every = args.log_every;
    options.stop_after = args.stop_after;
    // A corpus or queries folder given as a URL (s3://, gs://, az://, http(s)://) is downloaded
    // into $WIT_SCRATCH first, as the pipeline's stages do; checkpoints stay in the local --out.
    let inputs = StoragePlan::new().input(&args.data).optional_input(args.queries.as_deref());
    let stats = with_storage(inputs, |local| {
        options.data = local.input(0);
        options.queries = local.optional_input(1);
        wit_trainer::train(&options).with_context(|| format!("training on {}", args.data.display()))
    })?;
    let first = stats.losses.first().map_or(f64::NAN, |l| l.1);
    let last = stats.losses.last().map_or(f64::NAN, |l| l.1);
    println!(
        "trained {} on {device:?}: steps {}..{}, {} samples, loss {first:.4} -> {last:.4}",
        options.config, stats.start_step, stats.end_step, stats.samples
    );
    println!(
        "time: data {:.1} s, compute {:.1} s; skipped {:?}",
        stats.data_seconds, stats.step_seconds, stats.skipped
    );
    if let Some(dir) = &stats.checkpoint {
        println!("checkpoint: {}", dir.display());
    }
    if let Some(eval) = &stats.eval {
        println!("eval: {}", serde_json::to_string(eval)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn run_eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let device = parse_device(&args.device)?;
    let dir = if args.checkpoint == "latest" {
        wit_trainer::checkpoint::latest(&args.out)?
            .with_context(|| format!("no checkpoint under {}", args.out.display()))?
    } else {
        PathBuf::from(&args.checkpoint)
    };
    let bpe = args.bpe.unwrap_or_else(wit_trainer::tokenizer::default_bpe_path);
    let inputs = StoragePlan::new().input(&args.data).optional_input(args.queries.as_deref());
    let results = with_storage(inputs, |local| {
        let options = EvalOptions {
            data: local.input(0),
            holdout_shards: args.holdout,
            batch_size: args.batch,
            workers: args.workers,
            queries: local.optional_input(1),
            results: Some(args.out.join("results.jsonl")),
            step: 0,
        };
        wit_trainer::train::evaluate_checkpoint(&dir, device, &bpe, &options)
            .with_context(|| format!("evaluating {} on {}", dir.display(), args.data.display()))
    })?;
    println!("{}", serde_json::to_string(&results)?);
    Ok(ExitCode::SUCCESS)
}

fn run_smoke(config: ClipConfig, device: &str, batch: i64, steps: usize, seed: i64) -> anyhow::Result<ExitCode> {
    let device = parse_device(device)?;
    println!("libtorch: cuda available: {}, devices: {}", tch::Cuda::is_available(), tch::Cuda::device_count());
    let report = smoke(&config, device, batch, steps.max(1), seed);
    let first = report.losses[0];
    let last = report.losses[report.losses.len() - 1];
    println!("model {config} on {:?}: {} parameters", report.device, report.parameters);
    println!("loss: step 1 {first:.4}, step {} {last:.4}; logit scale {:.4}", report.losses.len(), report.logit_scale);
    println!("every parameter received a gradient: {}", report.every_parameter_learns);
    if report.every_parameter_learns && last.is_finite() && last < first {
        println!("smoke: ok");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("smoke: FAILED");
        Ok(ExitCode::FAILURE)
    }
}
