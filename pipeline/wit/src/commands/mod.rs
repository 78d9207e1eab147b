//! One module per subcommand: each turns parsed flags into a call to its stage crate and prints
//! the outcome.

pub mod build;
pub mod curate;
pub mod decontaminate;
pub mod dedup;
pub mod demo_web;
pub mod export;
pub mod fetch;
pub mod harvest;
pub mod queries;
pub mod report;
pub mod schema;
pub mod status;
pub mod verify;

use tracing_subscriber::EnvFilter;

/// Plain log lines on stderr (colours only on a terminal, lifted around progress bars); `RUST_LOG`
/// overrides the level chosen by -q/-v. Progress: bars on a terminal, plain lines otherwise.
pub fn init_logging(quiet: bool, verbose: u8) {
    wit_contract::progress::configure(quiet);
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(wit_contract::progress::colour_logs())
        .with_writer(wit_contract::progress::LogWriter::default)
        .init();
}
