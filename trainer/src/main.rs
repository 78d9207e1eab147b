//! `wit-train`: CLIP training on wit's corpus. Flags are parsed here; the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use tch::Device;
use wit_storage::{with_storage, StoragePlan};
use wit_trainer::config::ClipConfig;
use wit_trainer::dist::{Backend, DistEnv, ProcessGroup};
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
    /// Run N ranks of a data-parallel job on this machine: `wit-train launch --nproc 2 -- train …`
    /// (each rank gets torchrun's environment: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT).
    Launch {
        #[arg(long, default_value_t = 2)]
        nproc: usize,
        /// Rendezvous port on 127.0.0.1 (default: a free one).
        #[arg(long)]
        master_port: Option<u16>,
        /// Seconds the other ranks get to fail on their own after one failed, before being killed.
        #[arg(long, default_value_t = 60)]
        grace: u64,
        /// The wit-train command each rank runs (after `--`).
        #[arg(trailing_var_arg = true, required = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Check the c10d collectives (all-reduce, all-gather, broadcast, barrier) of this job's
    /// process group (from the torchrun/Slurm environment; one rank without it) on a device.
    Collectives {
        /// cpu, cuda, or auto (cuda when available).
        #[arg(long, default_value = "auto")]
        device: String,
        /// auto (nccl on CUDA, gloo on CPU), gloo or nccl.
        #[arg(long, default_value = "auto")]
        backend: String,
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Time training steps on a fixed batch (pinned host→device copies, forward, loss, backward,
    /// AdamW) and check the pinned copies: samples/s of the step alone, without the data pipeline.
    Speed {
        #[arg(long, default_value = "ViT-B-32")]
        config: ClipConfig,
        #[arg(long, default_value = "auto")]
        device: String,
        /// auto (bf16 on CUDA, fp32 on CPU), fp32 or bf16.
        #[arg(long, default_value = "auto")]
        precision: String,
        #[arg(long, default_value_t = 256)]
        batch: usize,
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        #[arg(long, default_value_t = 20)]
        steps: usize,
    },
    /// Write a generated corpus of captioned coloured shapes (a corpus folder and its queries).
    Shapes {
        #[arg(long, short = 'o')]
        out: PathBuf,
        #[arg(long, default_value_t = 2)]
        shards: usize,
        #[arg(long, default_value_t = 64)]
        rows: usize,
        #[arg(long, default_value_t = 64)]
        size: u32,
    },
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
#[command(after_help = "Examples:
  wit-train train --data out/corpus --config tiny -o out/train
  wit-train train --data out/corpus --config ViT-B-32 --device cuda --steps 10000 --holdout 1 -o out/train
  wit-train train --data out/corpus --config ViT-B-32 --device cuda --steps 10000 -o out/train --resume latest

Ctrl-C or SIGTERM saves a checkpoint of the last finished step; --resume latest goes on from it.")]
struct TrainArgs {
    /// Corpus folder (_manifest.json of kind corpus + data/shard-NNNNN.parquet): a path, or a URL
    /// (s3://, gs://, az://, http(s)://) downloaded into $WIT_SCRATCH first.
    #[arg(long)]
    data: PathBuf,
    /// Output folder: checkpoints/step-NNNNNNNN/, results.jsonl.
    #[arg(long, short = 'o', default_value = "out/train")]
    out: PathBuf,
    /// Model config: tiny, ViT-S-32 or ViT-B-32.
    #[arg(long, default_value = "tiny")]
    config: ClipConfig,
    /// Rows per step on each rank.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Total optimiser steps (the schedule's length).
    #[arg(long, default_value_t = 100)]
    steps: u64,
    /// Peak learning rate of the cosine schedule.
    #[arg(long, default_value_t = 5e-4)]
    lr: f64,
    /// Linear warm-up steps.
    #[arg(long, default_value_t = 10)]
    warmup: u64,
    /// AdamW weight decay.
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
    /// Seed of the initialisation and the data order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// This process's rank (default: RANK or SLURM_PROCID from the environment, else 0).
    #[arg(long)]
    rank: Option<usize>,
    /// Data-parallel ranks (default: WORLD_SIZE or SLURM_NTASKS, else 1). Above 1, the ranks meet
    /// at MASTER_ADDR:MASTER_PORT (default 127.0.0.1:29500) and train one model on a global batch
    /// of `--batch × world size`.
    #[arg(long)]
    world_size: Option<usize>,
    /// Collectives backend: auto (nccl on CUDA, gloo on CPU), gloo or nccl.
    #[arg(long, default_value = "auto")]
    dist_backend: String,
    /// Seconds a rank waits for the others (rendezvous and every collective) before failing.
    #[arg(long, default_value_t = 600)]
    dist_timeout: u64,
    /// clip (CLIP's contrastive loss) or siglip (sigmoid loss with a learnable bias).
    #[arg(long, default_value = "clip")]
    loss: String,
    /// Shards at the end of the manifest held out for evaluation (evaluated after the last step).
    #[arg(long, default_value_t = 0)]
    holdout: usize,
    /// Queries folder naming the corpus's query ids, for zero-shot evaluation.
    #[arg(long)]
    queries: Option<PathBuf>,
    /// `latest` (newest checkpoint under --out, if any) or a checkpoint folder.
    #[arg(long)]
    resume: Option<String>,
    /// Write a checkpoint every this many steps (and at the last).
    #[arg(long, default_value_t = 1000)]
    save_every: u64,
    /// Log the loss and throughput every this many steps.
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
#[command(after_help = "Examples:
  wit-train eval --data out/corpus -o out/train --queries out/queries
  wit-train eval --data out/corpus --checkpoint out/train/checkpoints/step-00001000")]
struct EvalArgs {
    /// Corpus folder whose held-out shards to evaluate on.
    #[arg(long)]
    data: PathBuf,
    /// A checkpoint folder, or `latest` under --out.
    #[arg(long, default_value = "latest")]
    checkpoint: String,
    /// The training output folder holding checkpoints/.
    #[arg(long, short = 'o', default_value = "out/train")]
    out: PathBuf,
    /// Shards at the end of the manifest held out for evaluation.
    #[arg(long, default_value_t = 1)]
    holdout: usize,
    /// Queries folder naming the corpus's query ids, for zero-shot evaluation.
    #[arg(long)]
    queries: Option<PathBuf>,
    /// Rows per evaluation batch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Image decoding threads.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// cpu, cuda, or auto (cuda when available).
    #[arg(long, default_value = "auto")]
    device: String,
    /// CLIP's BPE merges (bpe_simple_vocab_16e6.txt.gz; `make fixtures` fetches it).
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
    // Colours only on a terminal: log files and launchers' pipes get plain `key=value` lines.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    wit_contract::progress::configure(cli.quiet);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(wit_contract::progress::LogWriter::default)
        .with_ansi(ansi)
        .init();
    let result = match cli.command {
        Command::Train(args) => run_train(*args),
        Command::Eval(args) => run_eval(args),
        Command::Smoke { config, device, batch, steps, seed } => run_smoke(config, &device, batch, steps, seed),
        Command::Launch { nproc, master_port, grace, command } => run_launch(nproc, master_port, grace, &command),
        Command::Collectives { device, backend, timeout } => run_collectives(&device, &backend, timeout),
        Command::Speed { config, device, precision, batch, warmup, steps } => {
            run_speed(config, &device, &precision, batch, warmup, steps)
        }
        Command::Shapes { out, shards, rows, size } => run_shapes(&out, shards, rows, size),
    };
    match (result, wit_contract::interrupt::received()) {
        (Ok(code), _) => code,
        // Training stopped on SIGINT/SIGTERM after saving a checkpoint.
        (Err(e), Some(signal)) => {
            let mut command = wit_contract::interrupt::resume_command();
            if !std::env::args().any(|arg| arg == "--resume" || arg.starts_with("--resume=")) {
                command.push_str(" --resume latest");
            }
            let message = wit_contract::error_line(e.as_ref());
            eprintln!("wit-train: {}", wit_contract::interrupt::resume_note_for(&message, &command));
            ExitCode::from(signal.exit_code())
        }
        (Err(e), None) => {
            eprintln!("error: {}", wit_contract::error_line(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// The job's place from the environment (one rank of one when there is none).
fn job_env() -> anyhow::Result<DistEnv> {
    Ok(DistEnv::from_env(|name| std::env::var(name).ok())?.unwrap_or(DistEnv {
        rank: 0,
        world_size: 1,
        local_rank: 0,
        master_addr: "127.0.0.1".into(),
        master_port: wit_trainer::launch::free_port()?,
    }))
}

fn parse_backend(name: &str, device: Device) -> anyhow::Result<Backend> {
    Ok(match name {
        "auto" => Backend::for_device(device),
        "gloo" => Backend::Gloo,
        "nccl" => Backend::Nccl,
        other => bail!("unknown backend {other:?} (auto, gloo or nccl)"),
    })
}

fn run_collectives(device: &str, backend: &str, timeout: u64) -> anyhow::Result<ExitCode> {
    let env = job_env()?;
    let mut device = parse_device(device)?;
    if device.is_cuda() {
        device = Device::Cuda(env.local_rank);
    }
    let backend = parse_backend(backend, device)?;
    println!(
        "c10d: {} on {device:?}, rank {} of {} (NCCL built in: {})",
        backend.name(),
        env.rank,
        env.world_size,
        wit_trainer::dist::nccl_built()
    );
    let group = ProcessGroup::new(&env, backend, Duration::from_secs(timeout))?;
    for line in wit_trainer::dist::self_check(&group, device)? {
        println!("{line}");
    }
    println!("collectives: ok");
    Ok(ExitCode::SUCCESS)
}

fn parse_precision(name: &str) -> anyhow::Result<Precision> {
    Ok(match name {
        "auto" => Precision::Auto,
        "fp32" => Precision::Fp32,
        "bf16" => Precision::Bf16,
        other => bail!("unknown precision {other:?} (auto, fp32 or bf16)"),
    })
}

fn run_speed(
    config: ClipConfig,
    device: &str,
    precision: &str,
    batch: usize,
    warmup: usize,
    steps: usize,
) -> anyhow::Result<ExitCode> {
    let device = parse_device(device)?;
    let kind = parse_precision(precision)?.kind(device);
    let report = wit_trainer::speed::training_speed(&config, device, kind, batch, warmup, steps.max(1));
    println!(
        "speed: {config} {kind:?} batch {batch} on {device:?}: {:.1} samples/s ({:.1} ms/step over {} steps), loss {:.4}",
        report.samples_per_s, report.step_ms, report.steps, report.loss
    );
    println!("pinned copies: {}", if report.pinned_copy_matches { "ok" } else { "WRONG" });
    Ok(if report.pinned_copy_matches && report.loss.is_finite() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn run_shapes(out: &std::path::Path, shards: usize, rows: usize, size: u32) -> anyhow::Result<ExitCode> {
    use wit_trainer::synthetic::{write_shapes_corpus, write_shapes_queries, ShapesOptions};
    let options = ShapesOptions { shards, rows_per_shard: rows, image_size: size, seed: 11, broken_rows: 0 };
    write_shapes_corpus(&out.join("corpus"), &options).with_context(|| format!("writing {}", out.display()))?;
    write_shapes_queries(&out.join("queries")).with_context(|| format!("writing {}", out.display()))?;
    println!("shapes: {} shards of {rows} rows in {}", shards, out.join("corpus").display());
    Ok(ExitCode::SUCCESS)
}

fn run_launch(nproc: usize, port: Option<u16>, grace: u64, command: &[String]) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("finding this wit-train executable")?;
    wit_trainer::launch::launch_local(&exe, command, nproc, port, Duration::from_secs(grace))?;
    Ok(ExitCode::SUCCESS)
}

fn run_train(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let env = DistEnv::from_env(|name| std::env::var(name).ok())?;
    let env = DistEnv::with_flags(env, args.rank, args.world_size, |name| std::env::var(name).ok())?;
    let mut device = parse_device(&args.device)?;
    if let (Device::Cuda(_), Some(env)) = (device, &env) {
        device = Device::Cuda(env.local_rank);
    }
    let backend = parse_backend(&args.dist_backend, device)?;
    let group = match &env {
        Some(env) if env.world_size > 1 || args.dist_backend != "auto" => {
            Some(Arc::new(ProcessGroup::new(env, backend, Duration::from_secs(args.dist_timeout))?))
        }
        _ => None,
    };
    let precision = parse_precision(&args.precision)?;
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
    options.loss = args.loss.parse().map_err(anyhow::Error::msg)?;
    options.group = group;
    options.holdout_shards = args.holdout;
    options.eval = args.holdout > 0;
    options.resume = resume;
    options.save_every = args.save_every;
    options.log_every = args.log_every;
    options.stop_after = args.stop_after;
    options.cancel = wit_contract::Cancel::on_signals();
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
