//! Helpers for wit's end-to-end tests: where the workspace, its virtual environment and the built
//! binaries are, and running the real Python clients (pyarrow, DuckDB) that `make setup` installs.

pub mod azure;
pub mod demo_build;
pub mod faultweb;
pub mod kill;
pub mod loopback;
pub mod pipeline;
pub mod s3;
pub mod shard_stats;
pub mod slurm;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (the folder holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .parent()
    .expect("tests/ sits in the workspace")
    .to_path_buf()
}

/// The project venv's python (or `WIT_PYTHON`). Tests need it: a missing venv fails the test
/// with the command that makes it, rather than skipping.
pub fn venv_python() -> PathBuf {
    let python =
        std::env::var_os("WIT_PYTHON").map(PathBuf::from).unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: run `make setup` (the tests read files back with pyarrow and DuckDB)",
        python.display()
    );
    python
}

/// Runs a Python script with the venv's interpreter and returns its stdout; fails the test with
/// the script's stderr when it exits non-zero.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let output = Command::new(venv_python()).arg("-c").arg(script).args(args).output().expect("python runs");
    assert!(output.status.success(), "python failed ({}):\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("python prints UTF-8")
}

/// A binary of the workspace, built by `make test` (`cargo build --workspace --bins`) before the
/// tests run.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let path = exe.parent().and_then(Path::parent).map(|dir| dir.join(name)).expect("target layout");
    assert!(
        path.exists(),
        "{} not built: run the tests with `make test`, which builds the binaries first",
        path.display()
    );
    path
}

/// Runs `wit` with `args`.
pub fn wit(args: &[&str]) -> Output {
    Command::new(workspace_binary("wit")).args(args).output().expect("wit runs")
}

/// Runs `wit ARGS…`, asserting that it succeeds (its stderr in the message); its stdout.
pub fn wit_stdout(args: &[&str]) -> String {
    let output = wit(args);
    assert!(output.status.success(), "wit {args:?}:\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `KEY SIZE` lines (what the tests' Python store clients print) as sorted (key, size) pairs.
pub fn parse_listing(printed: &str) -> Vec<(String, u64)> {
    let mut objects: Vec<(String, u64)> = printed
        .lines()
        .filter_map(|line| line.rsplit_once(' '))
        .map(|(key, size)| (key.to_string(), size.parse().expect("a size")))
        .collect();
    objects.sort();
    objects
}

/// One uncompressed WARC/1.0 record of `warc_type` for `uri` holding `block`.
pub fn warc_record(warc_type: &str, uri: &str, content_type: &str, block: &[u8]) -> Vec<u8> {
    let mut record = format!(
        "WARC/1.0\r\nWARC-Type: {warc_type}\r\nWARC-Target-URI: {uri}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        block.len()
    )
    .into_bytes();
    record.extend_from_slice(block);
    record.extend_from_slice(b"\r\n\r\n");
    record
}
