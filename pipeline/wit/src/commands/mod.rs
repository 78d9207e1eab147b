//! One module per subcommand: each turns parsed flags into a call to its stage crate and prints
//! the outcome.

pub mod build;
pub mod curate;
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

/// Plain log lines on stderr; `RUST_LOG` overrides the level chosen by -q/-v.
pub fn init_logging(quiet: bool, verbose: u8) {
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
