//! `wit report`: per-query balance of a build (terminal summary, JSON, Parquet, HTML).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use wit_report::{render_text, report, Overrides, ReportOptions};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A `wit build` folder (queries/, candidates/, curated/, corpus/) or one stage folder.
    dir: PathBuf,
    /// Write a page of sample captions and thumbnails for this query (repeatable).
    #[arg(long = "query")]
    queries: Vec<String>,
    /// Another build to compare with: per-query differences (this build − that one).
    #[arg(long)]
    against: Option<PathBuf>,
    /// Output folder (default: DIR/report for a build folder, DIR-report beside a stage folder).
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
    let options = ReportOptions {
        input: args.dir.clone(),
        overrides: Overrides {
            queries: args.queries_dir.clone(),
            curated: args.curated.clone(),
            corpus: args.corpus.clone(),
        },
        against: args.against.clone(),
        out: args.out.clone(),
        queries_of_interest: args.queries.clone(),
        top: args.top,
        samples: args.samples,
        html_rows: args.html_rows,
        cap: args.cap,
        ..ReportOptions::default()
    };
    let outcome = report(&options).with_context(|| format!("reporting on {}", args.dir.display()))?;
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
