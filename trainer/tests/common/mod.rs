//! Shared by the trainer's integration tests: the project's Python (with open_clip) and a tiny
//! generated corpus.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use wit_trainer::synthetic::{write_shapes_corpus, write_shapes_queries, ShapesOptions};

/// The project's virtual environment's interpreter (torch, open_clip, safetensors).
pub fn python() -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../.venv/bin/python")
}

/// Runs a Python script with arguments; returns its stdout, failing the test with its stderr.
pub fn run_python(script: &str, args: &[&Path]) -> String {
    let output = Command::new(python()).arg("-c").arg(script).args(args).output().expect("running .venv/bin/python");
    assert!(
        output.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A shapes corpus of `shards` × `rows` images of `size` px (with `broken` undecodable rows) in
/// `root/corpus`, and its queries folder in `root/queries`.
pub fn shapes_corpus(root: &Path, shards: usize, rows: usize, size: u32, broken: usize) -> (PathBuf, PathBuf) {
    let corpus = root.join("corpus");
    let options = ShapesOptions { shards, rows_per_shard: rows, image_size: size, seed: 11, broken_rows: broken };
    write_shapes_corpus(&corpus, &options).expect("writing the shapes corpus");
    let queries = root.join("queries");
    write_shapes_queries(&queries).expect("writing the shapes queries");
    (corpus, queries)
}
