//! `wit-train`: CLIP training on wit's corpus. Flags are parsed here; the work is in the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tch::Device;
use wit_trainer::config::ClipConfig;
use wit_trainer::smoke::smoke;

#[derive(Parser)]
#[command(name = "wit-train", version, about = "CLIP training in tch over wit's Parquet shards")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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

fn main() -> ExitCode {
    let Command::Smoke { config, device, batch, steps, seed } = Cli::parse().command;
    let device = match device.as_str() {
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        "auto" => Device::cuda_if_available(),
        other => {
            eprintln!("error: unknown device {other:?} (cpu, cuda or auto)");
            return ExitCode::FAILURE;
        }
    };
    println!("libtorch: cuda available: {}, devices: {}", tch::Cuda::is_available(), tch::Cuda::device_count());
    let report = smoke(&config, device, batch, steps.max(1), seed);
    let first = report.losses[0];
    let last = report.losses[report.losses.len() - 1];
    println!("model {config} on {:?}: {} parameters", report.device, report.parameters);
    println!("loss: step 1 {first:.4}, step {} {last:.4}; logit scale {:.4}", report.losses.len(), report.logit_scale);
    println!("every parameter received a gradient: {}", report.every_parameter_learns);
    if report.every_parameter_learns && last.is_finite() && last < first {
        println!("smoke: ok");
        ExitCode::SUCCESS
    } else {
        println!("smoke: FAILED");
        ExitCode::FAILURE
    }
}
