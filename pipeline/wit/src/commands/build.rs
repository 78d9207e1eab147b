//! `wit build --config wit.toml [--slurm [--wait]] [--dry-run]`: the whole build from one TOML file.
//!
//! The plan (stage order, folder wiring, TOML keys as flags, ranks and merges at `world_size` > 1)
//! lives in wit-plan; see its docs and examples/demo.toml. Here: the flags, the demo web
//! (`[demo_web]`: started for the duration of the build, `{demo_web}` and `{demo_wat}` substituted),
//! each step's arguments checked by the stage's own clap parser, and the executor — in this process
//! (default) or sbatch array jobs chained with `afterok` (`--slurm`).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use toml::Table;
use wit_demoweb::{DemoWeb, SiteConfig};
use wit_plan::slurm::{self, SlurmSubmit};
use wit_plan::{plan, BuildConfig};

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  wit build --config examples/demo.toml
  wit build --config examples/full-enwiki.toml --slurm --dry-run")]
pub struct BuildArgs {
    /// The build's TOML file (see examples/demo.toml and examples/full-enwiki.toml).
    #[arg(long)]
    config: PathBuf,
    /// Print each step's command line (with --slurm: write and print the sbatch scripts) without
    /// running or submitting anything.
    #[arg(long)]
    dry_run: bool,
    /// Submit the steps to Slurm as array jobs (`world_size` ranks) chained with
    /// `--dependency=afterok`; a rerun submits only what is incomplete. Options: the `[slurm]` table.
    #[arg(long)]
    slurm: bool,
    /// With --slurm: wait until the jobs have left the queue and fail unless every step completed
    /// (needed with `[demo_web]`, which lives as long as this process).
    #[arg(long, requires = "slurm")]
    wait: bool,
}

pub fn run(args: &BuildArgs) -> Result<ExitCode> {
    let config = BuildConfig::load(&args.config)?;
    let mut substitutions = Vec::new();
    let demo_web = match &config.demo_web {
        Some(table) if !args.dry_run => {
            if args.slurm && !args.wait {
                bail!(
                    "{}: [demo_web] lives as long as `wit build`: add --wait to --slurm, or start `wit demo-web` \
                     yourself and put its URL in the configuration",
                    args.config.display()
                );
            }
            // The demo web's WAT file goes into OUTPUT, or, when OUTPUT is an object store, into
            // a scratch folder of its own (the demo web is on 127.0.0.1: one machine anyway).
            let wat_dir = if wit_storage::is_url(&config.output) {
                wit_storage::scratch_folder("demo-web", &config.output)
            } else {
                PathBuf::from(&config.output)
            };
            std::fs::create_dir_all(&wat_dir).with_context(|| format!("creating {}", wat_dir.display()))?;
            let web = start_demo_web(table).with_context(|| format!("{}: [demo_web]", args.config.display()))?;
            let wat = wat_dir.join("demo.wat.gz");
            let records = web.write_wat(&wat)?;
            println!("build: demo web on {}/ ({records} WAT records in {})", web.base_url(), wat.display());
            substitutions.push(("{demo_web}".to_string(), web.base_url()));
            substitutions.push(("{demo_wat}".to_string(), wat.display().to_string()));
            Some(web)
        }
        _ => None,
    };
    let plan = plan(&config, &substitutions).with_context(|| format!("in {}", args.config.display()))?;
    for step in &plan.steps {
        crate::Cli::from_args(step.argv(0))
            .map_err(|e| anyhow::anyhow!("{}: [{}]: {e}", args.config.display(), step.stage))?;
    }
    if args.slurm {
        run_slurm(args, &config, &plan)?;
    } else {
        for step in &plan.steps {
            // The shape the stage declared: `×4 ranks`, `×4 buckets`, `1 process, metadata only`…
            println!("build: {} ({}): wit {}", step.name, step.shape(), step.argv(0).join(" "));
        }
        if !args.dry_run {
            wit_plan::local::run_local(&plan, |step, rank, argv| {
                if step.is_array() {
                    println!("build: {} rank {rank}/{}", step.name, step.ranks);
                }
                if let Some(signal) = wit_contract::interrupt::received() {
                    return Err(format!(
                        "interrupted by {signal} before {}; the steps before it are complete",
                        step.name
                    ));
                }
                let cli = crate::Cli::from_args(argv.iter().cloned()).map_err(|e| e.to_string())?;
                crate::dispatch(cli.command)
                    .map(|code| code == ExitCode::SUCCESS)
                    .map_err(|e| wit_contract::error_line(e.as_ref()))
            })?;
            println!("build: complete in {}", plan.output);
        }
    }
    drop(demo_web);
    Ok(ExitCode::SUCCESS)
}

fn run_slurm(args: &BuildArgs, config: &BuildConfig, plan: &wit_plan::Plan) -> Result<()> {
    let submit = SlurmSubmit {
        wit: std::env::current_exe().context("finding the wit binary")?,
        workdir: std::env::current_dir().context("finding the working folder")?,
        options: config.slurm.clone(),
        dry_run: args.dry_run,
    };
    let submitted = slurm::submit(plan, &submit)?;
    for s in &submitted {
        if args.dry_run {
            println!("# {}", s.script.display());
            print!("{}", std::fs::read_to_string(&s.script).unwrap_or_default());
            println!("# submit: {}\n", s.command.join(" "));
        } else if let Some(id) = &s.job_id {
            println!("build: {}: job {id} (ranks {:?}): {}", s.step, s.ranks, s.command.join(" "));
        } else {
            println!("build: {}: complete, not submitted", s.step);
        }
    }
    let ids: Vec<String> = submitted.iter().filter_map(|s| s.job_id.clone()).collect();
    if args.dry_run || !args.wait {
        if !args.dry_run {
            println!("build: {} jobs submitted; follow with `squeue` and `wit status {}`", ids.len(), plan.output);
        }
        return Ok(());
    }
    println!("build: waiting for {} jobs", ids.len());
    slurm::wait_for(&ids, Duration::from_millis(500))?;
    let progress = wit_plan::progress::plan_progress(plan)?;
    let mut failed = Vec::new();
    for ((step, p), s) in plan.steps.iter().zip(&progress).zip(&submitted) {
        for (rank, state) in p.ranks.iter().enumerate() {
            if !state.is_complete() {
                let log = s.job_id.as_deref().map(|id| slurm::log_path(plan, &submit, step, id, rank));
                let log = log.map(|l| format!(" (log: {})", l.display())).unwrap_or_default();
                failed.push(format!("{} {}{log}", step.name, slurm::rank_label(step, rank)));
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "incomplete after the jobs ended: {}; rerun `wit build --slurm` to resubmit only these",
            failed.join(", ")
        );
    }
    println!("build: complete in {}", plan.output);
    Ok(())
}

fn start_demo_web(table: &Table) -> Result<DemoWeb> {
    let mut site = SiteConfig::default();
    let mut port = 0u16;
    for (key, value) in table {
        let number = || value.as_integer().filter(|n| *n >= 0).with_context(|| format!("`{key}` must be a number ≥ 0"));
        match key.as_str() {
            "pages" => site.pages = number()? as u64,
            "images_per_page" => site.images_per_page = number()? as u64,
            "image_size" => site.image_size = number()? as u32,
            "seed" => site.seed = number()? as u64,
            "port" => port = u16::try_from(number()?).context("`port` is over 65535")?,
            "real_images" => {
                let dir = PathBuf::from(value.as_str().context("`real_images` must be a folder path")?);
                site.real_images = dir.is_dir().then_some(dir);
            }
            other => bail!("unknown key `{other}` (pages, images_per_page, image_size, seed, port, real_images)"),
        }
    }
    Ok(DemoWeb::start(site, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_examples_are_valid_builds() {
        let examples = std::path::PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
        )
        .join("../../examples");
        for name in ["demo.toml", "full-enwiki.toml"] {
            for world_size in [1i64, 4] {
                let mut table: Table = std::fs::read_to_string(examples.join(name)).unwrap().parse().unwrap();
                table.insert("world_size".into(), world_size.into());
                let config = BuildConfig::from_table(table).unwrap();
                let subs = vec![
                    ("{demo_web}".to_string(), "http://127.0.0.1:1".to_string()),
                    ("{demo_wat}".to_string(), "demo.wat.gz".to_string()),
                ];
                let plan = plan(&config, &subs).unwrap();
                assert!(plan.steps.len() >= 5, "{name}");
                for step in &plan.steps {
                    if let Err(e) = crate::Cli::from_args(step.argv(step.ranks - 1)) {
                        panic!("{name} world size {world_size} [{}]: {e}", step.name);
                    }
                }
            }
        }
    }
}
