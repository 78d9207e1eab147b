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

#[derive(Subcommand)]
enum Command {
    /// Print the columns of wit's record kinds (the data contract every stage writes).
    Schema {
        /// queries, candidates, curated, corpus or failures; all when omitted.
        kind: Option<String>,
    },
    /// Check an output folder against its manifest.json: every listed shard present, whole
    /// (size and xxh3), readable, of the right schema and row count; no stray files.
    Verify {
        /// A folder holding manifest.json.
        dir: PathBuf,
    },
    /// Build the query dictionary from a Wikipedia dump (and print the text it counts).
    Queries(commands::queries::QueriesArgs),
    /// Match candidate texts against the query dictionary and balance them per query (MetaCLIP).
    Curate(commands::curate::CurateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    commands::init_logging(cli.quiet, cli.verbose);
    let result = match cli.command {
        Command::Queries(args) => commands::queries::run(&args),
        Command::Schema { kind } => commands::schema::run(kind.as_deref()),
        Command::Verify { dir } => commands::verify::run(&dir),
        Command::Curate(args) => commands::curate::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
