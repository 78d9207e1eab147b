//! World size 4 builds the same corpus as world size 1. Four demo webs (one WAT file each, so each
//! harvest rank has an input) feed queries → harvest → curate → fetch, once as single processes and
//! once as the rank/merge sequence of `wit_tests::pipeline` (every rank its own `wit` process, as a
//! Slurm array runs them). Dictionary, candidates, curated pairs, per-query counts and corpus keys
//! must agree; a rank rerun after the build finds its part complete.

use wit_contract::Manifest;
use wit_tests::pipeline::{demo_webs, outcome, path_str, wit_ok, Pipeline};

#[test]
fn four_ranks_build_what_one_process_builds() {
    let dir = tempfile::tempdir().unwrap();
    let (_webs, wats) = demo_webs(dir.path(), 6, 6);
    let pipeline = |name: &str| Pipeline::demo(&dir.path().join(name), wats.clone());
    let one = pipeline("one");
    one.run(1);
    let four = pipeline("four");
    four.run(4);

    let (a, b) = (outcome(&dir.path().join("one")), outcome(&dir.path().join("four")));
    assert!(a.corpus.corpus_rows > 20, "a real test: {} rows", a.corpus.corpus_rows);
    assert_eq!(a.queries, b.queries, "dictionary");
    assert_eq!(a.candidates, b.candidates, "candidates");
    assert_eq!(a.curated, b.curated, "curated pairs");
    assert_eq!(a.query_counts, b.query_counts, "per-query matched and kept");
    assert_eq!(a, b);
    // The merged corpus is one folder a reader can verify, and it lists the ranks' shards where
    // they lie: no shard was copied, every Parquet file of a rank folder is listed exactly once.
    wit_ok(&["verify".into(), path_str(&dir.path().join("four/corpus"))], &[]);
    for (stage, failures) in [("candidates", false), ("corpus", false), ("corpus/_failures", true)] {
        let folder = dir.path().join("four").join(stage);
        let listed: Vec<String> = Manifest::load(&folder).unwrap().shards.iter().map(|s| s.file.clone()).collect();
        assert!(listed.iter().all(|f| f.starts_with("data/rank-")), "{stage}: {listed:?}");
        let mut on_disk = Vec::new();
        for entry in std::fs::read_dir(folder.join("data")).unwrap() {
            on_disk.push(format!("data/{}", entry.unwrap().file_name().into_string().unwrap()));
        }
        // The rank folders hold manifests only: no shard lies there.
        for rank in 0..4 {
            let rank_dir = folder.join(format!("_ranks/rank-{rank:05}-of-00004"));
            for entry in std::fs::read_dir(&rank_dir).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                assert!(!name.ends_with(".parquet"), "{}: {name}", rank_dir.display());
            }
        }
        on_disk.sort();
        let mut sorted = listed.clone();
        sorted.sort();
        assert_eq!(sorted, on_disk, "{stage}: every rank shard listed once, none left over");
        if !failures {
            let top: Vec<_> = std::fs::read_dir(&folder)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.ends_with(".parquet"))
                .collect();
            assert!(top.is_empty(), "{stage}: no copied shard at the top: {top:?}");
        }
    }

    // A rank rerun after the build redoes nothing; so does every later step of the fetch.
    let steps = four.steps(4);
    let fetch_steps = &steps[steps.len() - 4..];
    for (wave, one) in fetch_steps {
        let args = match one {
            Some(args) => args,
            None => &wave[2],
        };
        let stdout = String::from_utf8(wit_ok(args, &[]).stdout).unwrap();
        assert!(stdout.contains("already complete"), "wit {}: {stdout}", args.join(" "));
    }
}
