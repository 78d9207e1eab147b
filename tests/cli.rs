//! The `wit` binary as users run it.

use std::fs;

use wit_contract::{shard_file_name, Manifest, QueryEntry, QuerySource, RecordKind, ShardWriter, WriterOptions};
use wit_tests::wit;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn help_lists_only_working_subcommands() {
    let output = wit(&["--help"]);
    assert!(output.status.success());
    let help = stdout(&output);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(
        commands,
        ["schema", "verify", "queries", "harvest", "curate", "fetch", "report", "build", "status", "demo-web", "help"],
        "{help}"
    );
}

#[test]
fn schema_prints_the_contract_and_names_unknown_kinds() {
    let output = wit(&["schema", "corpus"]);
    assert!(output.status.success());
    let text = stdout(&output);
    for column in ["key", "url", "caption", "query_ids", "original_width", "image", "fetched_at"] {
        assert!(text.lines().any(|l| l.split_whitespace().next() == Some(column)), "{column} missing:\n{text}");
    }
    let output = wit(&["schema", "pictures"]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("\"pictures\"") && err.contains("corpus"), "{err}");
}

#[test]
fn verify_passes_a_whole_folder_and_names_a_damaged_shard() {
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = Manifest::new(RecordKind::Queries, serde_json::json!({}), None);
    for shard in 0..2 {
        let rows =
            vec![QueryEntry { id: shard, query: format!("q{shard}"), source: QuerySource::Title, count: 0, pmi: None }];
        let mut writer = ShardWriter::for_records::<QueryEntry>(
            dir.path().join(shard_file_name(shard as usize)),
            &WriterOptions::default(),
        )
        .unwrap();
        writer.write_records(&rows).unwrap();
        manifest.add_shard(writer.finish().unwrap());
    }
    manifest.complete = true;
    manifest.save(dir.path()).unwrap();
    let path = dir.path().display().to_string();

    let output = wit(&["verify", &path]);
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(stdout(&output).contains("queries folder, complete, 2 shards, 2 rows"), "{}", stdout(&output));

    let shard = dir.path().join(shard_file_name(1));
    let mut bytes = fs::read(&shard).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    fs::write(&shard, bytes).unwrap();
    let output = wit(&["verify", &path]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("problem: shard-00001.parquet: xxh3"), "{}", stdout(&output));

    let output = wit(&["verify", &dir.path().join("nowhere").display().to_string()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("manifest.json"));
}
