//! `wit status DIR [--json]`: per-step, per-rank progress of a build folder, from its manifests
//! and per-rank files (complete / partial with rows so far / missing).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  wit status out
  wit status s3://bucket/build --json")]
pub struct StatusArgs {
    /// A `wit build` output folder: a local path or an object-store URL (s3://, gs://, az://).
    dir: String,
    /// Print JSON (one object per step, with its ranks) instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &StatusArgs) -> Result<ExitCode> {
    // Its errors name the folder, URL or manifest they are about.
    let (plan, progress) = wit_plan::progress::folder_progress(&args.dir)?;
    if args.json {
        let json = serde_json::json!({ "dir": plan.output, "world_size": plan.world_size, "steps": progress });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("{} (world size {})", plan.output, plan.world_size);
        print!("{}", wit_plan::progress::render(&progress));
    }
    Ok(ExitCode::SUCCESS)
}
