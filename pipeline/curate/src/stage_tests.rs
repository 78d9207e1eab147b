//! The stage over real Parquet folders: outputs, ranks, determinism, errors.

use std::collections::BTreeMap;

use super::*;
use crate::curate;
use wit_contract::{pair_key, write_stage_folder, QuerySource};

const QUERIES: [&str; 8] = ["A", "hot", "dog", "hot dog", "cat", "U.S.", "never seen", "the"];

/// Ids are sparse on purpose: the output must carry dictionary ids, not positions.
fn query_id(i: usize) -> u32 {
    (i as u32) * 10 + 3
}

fn write_queries(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let rows: Vec<QueryEntry> = QUERIES
        .iter()
        .enumerate()
        .map(|(i, q)| QueryEntry {
            id: query_id(i),
            query: q.to_string(),
            source: QuerySource::Unigram,
            count: 100,
            pmi: None,
        })
        .rev()
        .collect();
    write_stage_folder::<QueryEntry>(dir, serde_json::json!({}), [&rows]).unwrap();
}

fn candidate(url: &str, caption: &str) -> Candidate {
    Candidate {
        key: pair_key(url, caption),
        url: url.into(),
        caption: caption.into(),
        page_url: Some("http://page.example/".into()),
        source: "list".into(),
        lang: Some("eng".into()),
        lang_conf: Some(0.9),
        provenance: Default::default(),
    }
}

/// A pool in `shards` shards: many texts about dogs and cats, a few rarer ones.
fn pool(shards: usize) -> Vec<Vec<Candidate>> {
    let captions = [
        "A hot dog",
        "the dog sleeps",
        "a cat, a dog.",
        "hot\tdog stand",
        "the U.S. flag",
        "nothing here",
        "cat",
        "dog's bed",
    ];
    let mut out = vec![Vec::new(); shards];
    for i in 0..600 {
        let caption = format!("{} {}", captions[i % captions.len()], if i % 3 == 0 { "today" } else { "" });
        out[i % shards].push(candidate(&format!("http://img.example/{i}.jpg"), caption.trim_end()));
    }
    out
}

fn write_candidates(dir: &Path, shards: &[Vec<Candidate>], complete: bool) {
    fs::create_dir_all(dir).unwrap();
    let mut manifest = write_stage_folder::<Candidate>(dir, serde_json::json!({}), shards).unwrap();
    if !complete {
        manifest.complete = false;
        manifest.save(dir).unwrap();
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    pool: Vec<Vec<Candidate>>,
}

impl Fixture {
    fn new(shards: usize) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        write_queries(&dir.path().join("queries"));
        let pool = pool(shards);
        write_candidates(&dir.path().join("candidates"), &pool, true);
        Fixture { dir, pool }
    }

    fn config(&self, out: &str) -> CurateConfig {
        CurateConfig {
            queries: self.dir.path().join("queries"),
            candidates: self.dir.path().join("candidates"),
            out: self.dir.path().join(out),
            cap: 40,
            seed: 11,
            threads: 2,
            ..CurateConfig::default()
        }
    }
}

/// Kept pairs by key, and the per-query table, of an output folder (checked against its manifest).
fn output(out: &Path) -> (BTreeMap<String, CuratedPair>, Vec<QueryCount>) {
    let manifest = Manifest::load(out).unwrap();
    assert!(manifest.complete);
    assert_eq!(manifest.kind, RecordKind::Curated);
    assert_eq!(manifest.verify(out).unwrap(), vec![]);
    let mut pairs = BTreeMap::new();
    for path in manifest.shard_paths(out) {
        for pair in read_records::<CuratedPair>(&path).unwrap() {
            assert!(pairs.insert(pair.candidate.key.clone(), pair).is_none());
        }
    }
    let counts_dir = out.join(QUERY_COUNTS_DIR);
    let counts_manifest = Manifest::load(&counts_dir).unwrap();
    assert_eq!(counts_manifest.kind, RecordKind::QueryCounts);
    assert_eq!(counts_manifest.verify(&counts_dir).unwrap(), vec![]);
    assert_eq!(manifest.config["query_counts"], "_query_counts/data/query_counts.parquet");
    let counts = read_records::<QueryCount>(out.join(manifest.config["query_counts"].as_str().unwrap())).unwrap();
    (pairs, counts)
}

/// The naive MetaCLIP rule, written independently of the matcher.
fn naive_matches(caption: &str) -> Vec<u32> {
    let mut spaced = format!(" {caption} ");
    for p in [",", ".", ";", ":", "?", "!", "`"] {
        spaced = spaced.replace(p, &format!(" {p} "));
    }
    for c in ["\t", "\n", "\r"] {
        spaced = spaced.replace(c, " ");
    }
    (0..QUERIES.len()).filter(|&i| spaced.contains(&format!(" {} ", QUERIES[i]))).map(query_id).collect()
}

#[test]
fn a_run_writes_kept_pairs_and_a_table_of_every_query() {
    let fixture = Fixture::new(3);
    let config = fixture.config("out");
    let stats = curate(&config).unwrap();
    let (pairs, counts) = output(&config.out);

    let all: Vec<&Candidate> = fixture.pool.iter().flatten().collect();
    let mut matched = BTreeMap::<u32, u64>::new();
    for c in &all {
        naive_matches(&c.caption).into_iter().for_each(|id| *matched.entry(id).or_default() += 1);
    }
    assert_eq!(counts.len(), QUERIES.len(), "every query has a row");
    let ids: Vec<u32> = counts.iter().map(|c| c.id).collect();
    assert_eq!(ids, (0..QUERIES.len()).map(query_id).collect::<Vec<_>>());
    for row in &counts {
        assert_eq!(row.matched, matched.get(&row.id).copied().unwrap_or(0), "{}", row.query);
        let kept = pairs.values().filter(|p| p.query_ids.contains(&row.id)).count() as u64;
        assert_eq!(row.kept, kept, "{}", row.query);
    }
    let zero: Vec<&str> = counts.iter().filter(|c| c.matched == 0).map(|c| c.query.as_str()).collect();
    assert_eq!(zero, ["U.S.", "never seen"]);

    let count_of = |id: u32| counts.iter().find(|c| c.id == id).unwrap().matched;
    for pair in pairs.values() {
        assert_eq!(pair.query_ids, naive_matches(&pair.candidate.caption));
        let original = all.iter().find(|c| c.key == pair.candidate.key).unwrap();
        assert_eq!(&pair.candidate, *original);
        let none: f64 = pair.query_ids.iter().map(|&id| 1.0 - 40.0 / (count_of(id).max(40) as f64)).product();
        assert!((pair.keep_prob - (1.0 - none)).abs() < 1e-12);
    }
    assert_eq!(stats.candidates, 600);
    assert_eq!(stats.matched, all.iter().filter(|c| !naive_matches(&c.caption).is_empty()).count() as u64);
    assert_eq!(stats.kept, pairs.len() as u64);
    assert_eq!(stats.queries_matched, 6);
    let manifest = Manifest::load(&config.out).unwrap();
    assert_eq!(manifest.seed, Some(11));
    assert_eq!(manifest.config["cap"], 40);
    assert_eq!(manifest.config["matching"], "metaclip");
    assert_eq!(manifest.stats["kept"], pairs.len() as u64);
}

#[test]
fn reruns_agree_and_a_complete_run_is_skipped() {
    let fixture = Fixture::new(2);
    let a = fixture.config("a");
    let b = fixture.config("b");
    curate(&a).unwrap();
    curate(&b).unwrap();
    let (pairs_a, counts_a) = output(&a.out);
    let (pairs_b, counts_b) = output(&b.out);
    assert_eq!(pairs_a, pairs_b);
    assert_eq!(counts_a, counts_b);
    assert!(curate(&a).unwrap().skipped);

    let other_seed = CurateConfig { seed: 12, ..fixture.config("c") };
    curate(&other_seed).unwrap();
    let (pairs_c, _) = output(&other_seed.out);
    assert_ne!(pairs_a.keys().collect::<Vec<_>>(), pairs_c.keys().collect::<Vec<_>>(), "the seed decides");
}

fn run_ranks(base: &CurateConfig, world_size: usize) {
    let phases: &[Phase] = if base.strict {
        &[Phase::Count, Phase::Order, Phase::Strict, Phase::Select]
    } else {
        &[Phase::Count, Phase::Select]
    };
    for &phase in phases {
        if phase == Phase::Strict {
            curate(&CurateConfig { world_size, phase, ..base.clone() }).unwrap();
            continue;
        }
        for rank in (0..world_size).rev() {
            curate(&CurateConfig { rank, world_size, phase, ..base.clone() }).unwrap();
        }
    }
    curate(&CurateConfig { world_size, phase: Phase::Merge, ..base.clone() }).unwrap();
}

#[test]
fn ranks_agree_with_one_process_in_both_modes() {
    let fixture = Fixture::new(5);
    for strict in [false, true] {
        let one = CurateConfig { strict, ..fixture.config(&format!("one-{strict}")) };
        curate(&one).unwrap();
        let three = CurateConfig { strict, ..fixture.config(&format!("three-{strict}")) };
        run_ranks(&three, 3);
        let (pairs_one, counts_one) = output(&one.out);
        let (pairs_three, counts_three) = output(&three.out);
        assert_eq!(pairs_one, pairs_three, "strict {strict}");
        assert_eq!(counts_one, counts_three, "strict {strict}");
        assert_eq!(Manifest::load(&three.out).unwrap().shards.len(), 5);
        let stats: CurateStats = serde_json::from_value(Manifest::load(&three.out).unwrap().stats).unwrap();
        assert_eq!(stats.candidates, 600);
    }
}

#[test]
fn strict_mode_never_exceeds_the_cap_and_oversampling_raises_it() {
    let fixture = Fixture::new(2);
    let strict = CurateConfig { strict: true, cap: 25, ..fixture.config("strict") };
    curate(&strict).unwrap();
    let (pairs, counts) = output(&strict.out);
    assert!(counts.iter().all(|c| c.kept <= 25), "{counts:?}");
    assert!(counts.iter().any(|c| c.kept == 25));
    assert!(pairs.values().all(|p| p.keep_prob == 1.0));

    let over = CurateConfig { strict: true, cap: 25, oversample: 1.5, ..fixture.config("over") };
    curate(&over).unwrap();
    let (_, counts) = output(&over.out);
    assert!(counts.iter().all(|c| c.kept <= 38) && counts.iter().any(|c| c.kept > 25), "{counts:?}");
    let manifest = Manifest::load(&over.out).unwrap();
    assert_eq!((manifest.config["cap"].as_u64(), manifest.config["effective_cap"].as_u64()), (Some(25), Some(38)));
}

#[test]
fn words_mode_and_a_single_dictionary_file_work() {
    let fixture = Fixture::new(1);
    let file = wit_contract::shard_path(&fixture.dir.path().join("queries"), 0);
    let config = CurateConfig {
        queries: file,
        mode: MatchMode::Words { case_fold: true },
        cap: 1000,
        ..fixture.config("words")
    };
    curate(&config).unwrap();
    let (_, counts) = output(&config.out);
    let us = counts.iter().find(|c| c.query == "U.S.").unwrap();
    assert_eq!((us.matched, us.kept), (75, 75));
    let a = counts.iter().find(|c| c.query == "A").unwrap();
    assert!(a.matched > 75, "case folding: 'a cat' matches A");
    assert_eq!(Manifest::load(&config.out).unwrap().config["case_fold"], true);
}

#[test]
fn bad_inputs_are_named_errors() {
    let fixture = Fixture::new(2);
    // An unfinished harvest.
    let partial = fixture.dir.path().join("partial");
    write_candidates(&partial, &fixture.pool, false);
    let err = curate(&CurateConfig { candidates: partial.clone(), ..fixture.config("x") }).unwrap_err().to_string();
    assert!(err.contains("partial") && err.contains("incomplete"), "{err}");
    // Queries where candidates belong.
    let err = curate(&CurateConfig { candidates: fixture.dir.path().join("queries"), ..fixture.config("x") })
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a candidates folder"), "{err}");
    // No queries at all.
    let err = curate(&CurateConfig { queries: fixture.dir.path().join("nope"), ..fixture.config("x") })
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope"), "{err}");
    // A select without every rank's counts names the missing file.
    let base = fixture.config("ranks");
    curate(&CurateConfig { rank: 0, world_size: 2, phase: Phase::Count, ..base.clone() }).unwrap();
    let err =
        curate(&CurateConfig { rank: 0, world_size: 2, phase: Phase::Select, ..base.clone() }).unwrap_err().to_string();
    assert!(err.contains("matched-00001-of-00002.parquet") && err.contains("missing"), "{err}");
    let err = curate(&CurateConfig { world_size: 2, ..base.clone() }).unwrap_err().to_string();
    assert!(err.contains("phases"), "{err}");
    let err = curate(&CurateConfig { oversample: 0.5, ..base }).unwrap_err().to_string();
    assert!(err.contains("oversample"), "{err}");
    // Duplicate query ids.
    let dup = fixture.dir.path().join("dup.parquet");
    let rows: Vec<QueryEntry> = ["a", "b"]
        .iter()
        .map(|q| QueryEntry { id: 1, query: q.to_string(), source: QuerySource::Title, count: 0, pmi: None })
        .collect();
    let mut writer = ShardWriter::for_records::<QueryEntry>(&dup, &WriterOptions::default()).unwrap();
    writer.write_records(&rows).unwrap();
    writer.finish().unwrap();
    let err = curate(&CurateConfig { queries: dup, ..fixture.config("x") }).unwrap_err().to_string();
    assert!(err.contains("dup.parquet") && err.contains("twice"), "{err}");
}
