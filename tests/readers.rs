//! Folders every reader takes: a demo build (one rank, then two) read back by pyarrow
//! (`read_table`, `dataset`), DuckDB, polars and HF `datasets` from the project venv. Each stage
//! folder's readers must return exactly the rows and columns its `_manifest.json` lists — no
//! failures mixed in, no rank copies, nothing read twice (tests/python/read_folders.py); and so do
//! the per-query counts and failures tables, which have the same shape.

use wit_tests::demo_build::run_demo_build;
use wit_tests::{run_python, wit, workspace_root};

/// The stage folders, and the two tables inside them shaped like one (`_manifest.json` + `data/`).
const STAGE_FOLDERS: [&str; 6] =
    ["queries", "candidates", "curated", "corpus", "curated/_query_counts", "corpus/_failures"];

fn build(world_size: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    run_demo_build(12, world_size, 20)
}

fn read_back(out: &std::path::Path) -> serde_json::Value {
    let script = std::fs::read_to_string(workspace_root().join("tests/python/read_folders.py")).unwrap();
    serde_json::from_str(&run_python(&script, &[out.to_str().unwrap()])).unwrap()
}

/// The README's reader example (the fenced block after `<!-- readers example -->`), run on `out`.
fn run_readme_example(out: &std::path::Path) {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let after = readme.split("<!-- readers example -->").nth(1).expect("README holds the readers example");
    let code = after.split("```python\n").nth(1).and_then(|rest| rest.split("```").next()).unwrap();
    let script = format!("import sys\nBUILD = sys.argv[1]\n{code}\nprint('ran')\n");
    assert_eq!(run_python(&script, &[out.to_str().unwrap()]).trim(), "ran");
}

fn check(seen: &serde_json::Value, world_size: usize) {
    for stage in STAGE_FOLDERS {
        let readers = seen[stage]["readers"].as_object().unwrap();
        assert_eq!(readers.len(), 7, "{stage}: {readers:?}");
        let rows = seen[stage]["rows"].as_u64().unwrap();
        assert!(rows > 0, "world size {world_size}: {stage} is empty");
        for (reader, got) in readers {
            assert_eq!(got["rows"].as_u64(), Some(rows), "{stage} by {reader}");
            assert_eq!(got["columns"], seen[stage]["columns"], "{stage} by {reader}");
        }
    }
    let corpus_columns = seen["corpus"]["columns"].as_array().unwrap();
    assert!(corpus_columns.iter().any(|c| c == "image") && !corpus_columns.iter().any(|c| c == "error_message"));
}

#[test]
fn every_reader_takes_every_stage_folder_of_one_and_of_two_ranks() {
    let (_one, out) = build(1);
    let one = read_back(&out);
    check(&one, 1);
    run_readme_example(&out);
    let (_two, out) = build(2);
    let two = read_back(&out);
    check(&two, 2);
    run_readme_example(&out);
    // Two ranks make the same dataset: same rows in every stage.
    for stage in STAGE_FOLDERS {
        assert_eq!(one[stage]["rows"], two[stage]["rows"], "{stage}");
    }
    // The rank folders hold manifests, their shards are the stage's data/ shards.
    let ranks = out.join("corpus/_ranks");
    assert!(ranks.is_dir());
    let data: Vec<String> = std::fs::read_dir(out.join("corpus/data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(data.iter().all(|n| n.starts_with("rank-") && n.ends_with(".parquet")), "{data:?}");
}

#[test]
fn an_older_layout_is_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("corpus");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join("manifest.json"), "{}").unwrap();
    let run = wit(&["verify", old.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("corpus/manifest.json") && stderr.contains("older wit"), "{stderr}");
}
