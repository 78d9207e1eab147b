//! `wit report`: per-query balance of a build (terminal summary, JSON, Parquet, HTML).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use wit_report::{render_text, report, Overrides, ReportOptions};
use wit_storage::{with_storage, Seed, StoragePlan};

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  wit report out
  wit report out --query dog --query \"red car\"
  wit report out --against out-previous --json")]
pub struct ReportArgs {
    /// A `wit build` folder (queries/, candidates/, curated/, corpus/) or one stage folder; a local
    /// path or a URL (downloaded into the cache; give -o to keep the report elsewhere).
    dir: PathBuf,
    /// Write a page of sample captions and thumbnails for this query (repeatable).
    #[arg(long = "query")]
    queries: Vec<String>,
    /// Another build to compare with: per-query differences (this build − that one).
    #[arg(long)]
    against: Option<PathBuf>,
    /// Output folder, a local path or a URL (default: DIR/report for a build folder, DIR-report
    /// beside a stage folder).
    #[arg(short, long)]
    out: Option<PathBuf>,
    /// Print the JSON report to stdout instead of the summary.
    #[arg(long)]
    json: bool,
    /// Length of the top-N and bottom-N lists.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// The queries folder to use (overrides what DIR leads to).
    #[arg(long = "queries")]
    queries_dir: Option<PathBuf>,
    /// The curated folder to use.
    #[arg(long)]
    curated: Option<PathBuf>,
    /// The corpus folder to use.
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Sample pairs per query page.
    #[arg(long, default_value_t = 24)]
    samples: usize,
    /// Rows of the HTML tables (JSON and Parquet hold every query).
    #[arg(long, default_value_t = 5000)]
    html_rows: usize,
    /// The cap to measure against when the build has no curate output.
    #[arg(long)]
    cap: Option<u64>,
}

pub fn run(args: &ReportArgs) -> Result<ExitCode> {
    let mut plan = StoragePlan::new()
        .input(&args.dir)
        .optional_input(args.queries_dir.as_deref())
        .optional_input(args.curated.as_deref())
        .optional_input(args.corpus.as_deref())
        .optional_input(args.against.as_deref());
    if let Some(out) = &args.out {
        plan = plan.output(out, Seed::Everything);
    }
    with_storage(plan, |local| {
        let options = ReportOptions {
            input: local.input(0),
            overrides: Overrides {
                queries: local.optional_input(1),
                curated: local.optional_input(2),
                corpus: local.optional_input(3),
            },
            against: local.optional_input(4),
            out: args.out.as_ref().map(|_| local.output()),
            queries_of_interest: args.queries.clone(),
            top: args.top,
            samples: args.samples,
            html_rows: args.html_rows,
            cap: args.cap,
            ..ReportOptions::default()
        };
        print_report(args, &options)
    })
}

fn print_report(args: &ReportArgs, options: &ReportOptions) -> Result<ExitCode> {
    let outcome = report(options).with_context(|| format!("reporting on {}", args.dir.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome.report).context("serialising the report")?);
    } else {
        print!("{}", render_text(&outcome.report));
        println!("\nwrote {}, {} and {}", outcome.html.display(), outcome.json.display(), outcome.parquet.display());
        for page in &outcome.query_pages {
            println!("wrote {}", page.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
