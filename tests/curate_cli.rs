//! `wit curate` as users run it: real Parquet in, the real binary, outputs read back with the
//! contract crate and with pyarrow.

use std::collections::BTreeSet;
use std::path::Path;

use wit_contract::{
    pair_key, read_records, shard_file_name, write_stage_folder, Candidate, CuratedPair, Manifest, QueryCount,
    QueryEntry, QuerySource, RecordKind, ShardWriter, WriterOptions,
};
use wit_tests::wit_stdout as run;
use wit_tests::{run_python, wit};

const QUERIES: [&str; 6] = ["A", "hot", "dog", "hot dog", "cat", "St. Louis"];

fn write_inputs(dir: &Path) {
    let queries = dir.join("queries");
    std::fs::create_dir_all(&queries).unwrap();
    let rows: Vec<QueryEntry> = QUERIES
        .iter()
        .enumerate()
        .map(|(i, q)| QueryEntry {
            id: 100 + i as u32,
            query: q.to_string(),
            source: QuerySource::Unigram,
            count: 1,
            pmi: None,
        })
        .collect();
    write_stage_folder::<QueryEntry>(&queries, serde_json::json!({}), [&rows]).unwrap();

    let candidates = dir.join("candidates");
    std::fs::create_dir_all(&candidates).unwrap();
    let captions = ["A hot dog", "a cat, a dog.", "St. Louis at night", "my dog's bed", "cat"];
    let mut manifest = Manifest::new(RecordKind::Candidates, serde_json::json!({}), None);
    for shard in 0..3 {
        let rows: Vec<Candidate> = (0..100)
            .map(|i| {
                let n = shard * 100 + i;
                let url = format!("http://127.0.0.1:9/{n}.jpg");
                let caption = captions[n % captions.len()].to_string();
                Candidate {
                    key: pair_key(&url, &caption),
                    url,
                    caption,
                    page_url: None,
                    source: "list".into(),
                    lang: None,
                    lang_conf: None,
                    provenance: Default::default(),
                }
            })
            .collect();
        let mut writer =
            ShardWriter::for_records::<Candidate>(candidates.join(shard_file_name(shard)), &WriterOptions::default())
                .unwrap();
        writer.write_records(&rows).unwrap();
        manifest.add_shard(writer.finish().unwrap());
    }
    manifest.complete = true;
    manifest.save(&candidates).unwrap();
}

fn kept_keys(out: &Path) -> BTreeSet<String> {
    let manifest = Manifest::load(out).unwrap();
    manifest
        .shard_paths(out)
        .iter()
        .flat_map(|p| read_records::<CuratedPair>(p).unwrap())
        .map(|pair| pair.candidate.key)
        .collect()
}

#[test]
fn curate_writes_a_verified_folder_and_a_per_query_table() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let d = |name: &str| dir.path().join(name).display().to_string();
    let text = run(&[
        "curate",
        "--queries",
        &d("queries"),
        "--candidates",
        &d("candidates"),
        "-o",
        &d("out"),
        "--cap",
        "30",
        "--seed",
        "5",
    ]);
    assert!(text.contains("300 candidates, 180 matched"), "{text}");
    run(&["verify", &d("out")]);
    run(&["verify", &d("out/_query_counts")]);

    let counts = read_records::<QueryCount>(dir.path().join("out/_query_counts/data/query_counts.parquet")).unwrap();
    let table: Vec<(&str, u64)> = counts.iter().map(|c| (c.query.as_str(), c.matched)).collect();
    // "my dog's bed" matches nothing; "St. Louis" can never match in metaclip mode.
    assert_eq!(table, [("A", 60), ("hot", 60), ("dog", 120), ("hot dog", 60), ("cat", 120), ("St. Louis", 0)]);
    assert!(counts.iter().all(|c| c.kept <= c.matched));

    // pyarrow reads the curated shards: query_ids are dictionary ids, keep_prob a probability.
    let out = d("out");
    let summary = run_python(
        "import sys, json, pyarrow.parquet as pq\n\
         m = json.load(open(sys.argv[1] + '/_manifest.json'))\n\
         t = pq.read_table([sys.argv[1] + '/' + s['file'] for s in m['shards']]) if m['shards'] else None\n\
         ids = sorted({i for row in t.column('query_ids').to_pylist() for i in row})\n\
         probs = t.column('keep_prob').to_pylist()\n\
         print(t.num_rows, ids, min(probs) > 0 and max(probs) <= 1)",
        &[&out],
    );
    let kept = kept_keys(&dir.path().join("out"));
    assert_eq!(summary.trim(), format!("{} [100, 101, 102, 103, 104] True", kept.len()));

    // A rerun with the same flags does nothing; words mode finds St. Louis.
    let text = run(&[
        "curate",
        "--queries",
        &d("queries"),
        "--candidates",
        &d("candidates"),
        "-o",
        &d("out"),
        "--cap",
        "30",
        "--seed",
        "5",
    ]);
    assert!(text.contains("nothing to do"), "{text}");
    run(&[
        "curate",
        "--queries",
        &d("queries"),
        "--candidates",
        &d("candidates"),
        "-o",
        &d("words"),
        "--matching",
        "words",
    ]);
    let counts = read_records::<QueryCount>(dir.path().join("words/_query_counts/data/query_counts.parquet")).unwrap();
    assert_eq!(counts.iter().find(|c| c.query == "St. Louis").unwrap().matched, 60);
}

#[test]
fn ranks_on_the_command_line_agree_with_one_process() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let d = |name: &str| dir.path().join(name).display().to_string();
    let base = ["--queries", &d("queries"), "--candidates", &d("candidates"), "--cap", "25", "--strict"];
    run(&[&["curate", "-o", &d("one")], &base[..]].concat());
    for phase in ["count", "order", "strict", "select"] {
        if phase == "strict" {
            // The greedy over both ranks' claims: one process.
            run(&[&["curate", "-o", &d("two"), "--phase", "strict", "--world-size", "2"], &base[..]].concat());
            continue;
        }
        for rank in ["0", "1"] {
            run(&[&["curate", "-o", &d("two"), "--phase", phase, "--rank", rank, "--world-size", "2"], &base[..]]
                .concat());
        }
    }
    run(&[&["curate", "-o", &d("two"), "--phase", "merge", "--world-size", "2"], &base[..]].concat());
    run(&["verify", &d("two")]);
    assert_eq!(kept_keys(&dir.path().join("one")), kept_keys(&dir.path().join("two")));
    let one = read_records::<QueryCount>(dir.path().join("one/_query_counts/data/query_counts.parquet")).unwrap();
    let two = read_records::<QueryCount>(dir.path().join("two/_query_counts/data/query_counts.parquet")).unwrap();
    assert_eq!(one, two);
    assert!(one.iter().all(|c| c.kept <= 25));
}

#[test]
fn bad_flags_and_inputs_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let d = |name: &str| dir.path().join(name).display().to_string();
    let output = wit(&["curate", "--queries", &d("queries"), "--candidates", &d("missing"), "-o", &d("out")]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("missing") && err.contains("manifest.json"), "{err}");
    let output =
        wit(&["curate", "--queries", &d("queries"), "--candidates", &d("candidates"), "-o", &d("out"), "--case-fold"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("--matching words"));
}
