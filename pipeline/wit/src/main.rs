//! The `wit` command line. It parses flags, sets up logging and calls into the stage crates; the
//! work itself lives in those crates (see the workspace README for the map).

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "wit", version, about = "Build a WIT-like (CLIP) image-text corpus, end to end")]
struct Cli {
    /// Only print warnings and errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// Parses `wit ARGS…` from a list (used by `wit build`, which turns its TOML into stage flags).
    pub(crate) fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("wit".to_string()).chain(args))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Print the columns of wit's record kinds (the data contract every stage writes).
    Schema {
        /// queries, candidates, curated, corpus or failures; all when omitted.
        kind: Option<String>,
    },
    /// Check an output folder against its _manifest.json: every listed shard present, whole
    /// (size and xxh3), readable, of the right schema and row count; no stray files.
    #[command(after_help = "Examples:\n  wit verify out/corpus\n  wit verify out/curated")]
    Verify {
        /// A folder holding _manifest.json.
        dir: PathBuf,
    },
    /// Build the query dictionary from a Wikipedia dump (and print the text it counts).
    Queries(commands::queries::QueriesArgs),
    /// Candidate image-text pairs from WARC / WAT files and URL lists.
    Harvest(commands::harvest::HarvestArgs),
    /// Match candidate texts against the query dictionary and balance them per query (MetaCLIP).
    Curate(commands::curate::CurateArgs),
    /// Download, check and re-encode the images of curated pairs into corpus shards.
    Fetch(commands::fetch::FetchArgs),
    /// Drop near-duplicate images of a corpus (perceptual hash within a threshold), one pair kept
    /// per cluster; the dropped pairs and what they duplicate go to OUT/_near_duplicates/.
    Dedup(commands::dedup::DedupArgs),
    /// Remove corpus pairs whose image is a near duplicate of an eval image (or whose caption
    /// shares a long n-gram with an eval caption); what was removed and why goes to OUT/_decontaminated/.
    Decontaminate(commands::decontaminate::DecontaminateArgs),
    /// Per-query balance of a build: terminal summary, JSON, Parquet and a self-contained HTML page.
    Report(commands::report::ReportArgs),
    /// Run queries → harvest → curate → fetch → report from one TOML file (here, or as Slurm array
    /// jobs with --slurm); complete stages are skipped.
    Build(commands::build::BuildArgs),
    /// Remove pairs from every folder of a build (by key, URL, domain or image hash) and keep them
    /// out of later runs (a blocklist in the build).
    Remove(commands::remove::RemoveArgs),
    /// Per-step, per-rank progress of a build folder (complete / partial / missing).
    Status(commands::status::StatusArgs),
    /// Write a corpus in another tool's format: `wit export webdataset CORPUS -o DIR` (open_clip's
    /// trainer), `wit export hf CORPUS -o DIR` (HF datasets with an Image column).
    Export(commands::export::ExportArgs),
    /// Serve the demo web (generated pictures with true captions, robots.txt, faults) on 127.0.0.1.
    DemoWeb(commands::demo_web::DemoWebArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    commands::init_logging(cli.quiet, cli.verbose);
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => match wit_contract::interrupt::received() {
            // A stage stopped on SIGINT/SIGTERM after committing its finished work.
            Some(signal) => {
                eprintln!("wit: {}", wit_contract::interrupt::resume_note(&wit_contract::error_line(e.as_ref())));
                ExitCode::from(signal.exit_code())
            }
            None => {
                eprintln!("error: {}", wit_contract::error_line(e.as_ref()));
                ExitCode::FAILURE
            }
        },
    }
}

/// Runs one subcommand.
fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Schema { kind } => commands::schema::run(kind.as_deref()),
        Command::Verify { dir } => commands::verify::run(&dir),
        Command::Queries(args) => commands::queries::run(&args),
        Command::Harvest(args) => commands::harvest::run(&args),
        Command::Curate(args) => commands::curate::run(&args),
        Command::Fetch(args) => commands::fetch::run(&args),
        Command::Dedup(args) => commands::dedup::run(&args),
        Command::Decontaminate(args) => commands::decontaminate::run(&args),
        Command::Report(args) => commands::report::run(&args),
        Command::DemoWeb(args) => commands::demo_web::run(&args),
        Command::Build(args) => commands::build::run(&args),
        Command::Remove(args) => commands::remove::run(&args),
        Command::Status(args) => commands::status::run(&args),
        Command::Export(args) => commands::export::run(&args),
    }
}
