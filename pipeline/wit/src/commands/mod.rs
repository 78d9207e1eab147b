//! One module per subcommand: each turns parsed flags into a call to its stage crate and prints
//! the outcome.

pub mod build;
pub mod curate;
pub mod demo_web;
pub mod export;
pub mod fetch;
pub mod harvest;
pub mod queries;
pub mod remove;
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

/// The blocklist a `--blocklist FILE` flag names (empty without one; a missing file blocks nothing).
pub fn load_blocklist(path: Option<&std::path::Path>) -> anyhow::Result<std::sync::Arc<wit_contract::Blocklist>> {
    Ok(std::sync::Arc::new(match path {
        Some(path) => wit_contract::Blocklist::load(path)?,
        None => wit_contract::Blocklist::default(),
    }))
}
