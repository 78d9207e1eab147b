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
        [
            "schema",
            "verify",
            "queries",
            "harvest",
            "curate",
            "fetch",
            "dedup",
            "decontaminate",
            "report",
            "build",
            "remove",
            "status",
            "export",
            "demo-web",
            "help"
        ],
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

/// `wit build --dry-run` at world size 4 prints every step with the shape its stage declared: each
/// merge of rows is a wave (`×4 buckets`), and the one-process merges read metadata only.
#[test]
fn a_dry_run_at_world_size_4_shows_every_merge_as_a_wave() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wit.toml");
    let out = dir.path().join("b");
    let text = format!(
        "output = \"{}\"\nworld_size = 4\n[queries]\ninputs = [\"d.xml.bz2\"]\n[harvest]\ninputs = [\"a.wat.gz\"]\n\
         [curate]\nstrict = true\n[fetch]\nimage_size = 32\n",
        out.display()
    );
    fs::write(&config, text).unwrap();
    let output = wit(&["build", "--config", config.to_str().unwrap(), "--dry-run"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = stdout(&output);
    let shapes: Vec<(&str, &str)> = printed
        .lines()
        .filter_map(|l| l.strip_prefix("build: "))
        .filter_map(|l| l.split_once(": wit "))
        .map(|(step, _)| {
            step.split_once(" (").map(|(name, shape)| (name, shape.trim_end_matches(')'))).unwrap_or((step, ""))
        })
        .collect();
    assert_eq!(
        shapes,
        [
            ("queries-count", "×4 ranks"),
            ("queries-merge", "1 process, entries only"),
            ("harvest-ranks", "×4 ranks"),
            ("harvest-dedup", "×4 buckets"),
            ("harvest-apply", "×4 ranks"),
            ("harvest-merge", "1 process, metadata only"),
            ("curate-count", "×4 ranks"),
            ("curate-order", "×4 ranks"),
            ("curate-strict", "1 process, entries only"),
            ("curate-select", "×4 ranks"),
            ("curate-merge", "1 process, metadata only"),
            ("fetch-ranks", "×4 ranks"),
            ("fetch-dedup", "×4 buckets"),
            ("fetch-apply", "×4 ranks"),
            ("fetch-merge", "1 process, metadata only"),
        ],
        "{printed}"
    );
    assert!(!out.exists(), "a dry run writes nothing");
}
