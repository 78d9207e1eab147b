//! `wit verify DIR`: a folder against its manifest. Exits 1 when anything does not match.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use wit_contract::Manifest;

pub fn run(dir: &Path) -> Result<ExitCode> {
    let manifest = Manifest::load(dir).with_context(|| format!("reading the manifest of {}", dir.display()))?;
    let problems = manifest.verify(dir).with_context(|| format!("verifying {}", dir.display()))?;
    let state = if manifest.complete { "complete" } else { "incomplete" };
    println!(
        "{}: {} folder, {state}, {} shards, {} rows, written by wit {}",
        dir.display(),
        manifest.kind,
        manifest.shards.len(),
        manifest.total_rows(),
        manifest.tool.version
    );
    if problems.is_empty() {
        println!("ok: every listed shard is present, whole and readable");
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &problems {
        println!("problem: {problem}");
    }
    println!("{} problem(s)", problems.len());
    Ok(ExitCode::FAILURE)
}
