//! A small but complete build for the report tests, written with the contract's writers: a query
//! dictionary, candidates, curated pairs with their per-query table, a corpus of real images from
//! fixtures/images, and fetch failures. It returns what it wrote so tests can count independently.

#![allow(dead_code)] // each test binary uses part of the fixture

use std::path::{Path, PathBuf};

use wit_contract::{
    pair_key, Candidate, CorpusImage, CuratedPair, Failure, Manifest, QueryCount, QueryEntry, QuerySource, RecordKind,
    ShardWriter, WriterOptions,
};

/// The cap the fixture's curate "ran" with.
pub const CAP: u64 = 5;

/// One query of the fixture and what happened to its pairs.
#[derive(Debug, Clone)]
pub struct QuerySpec {
    pub id: u32,
    pub query: &'static str,
    pub source: QuerySource,
    /// Candidates that matched (the per-query table's `matched`).
    pub matched: u64,
    /// Curated pairs made for this query (each also holds `also`, when given).
    pub pairs: u64,
    pub also: Option<u32>,
    /// The first pairs fail to download with these (status, HTTP status) …
    pub failures: Vec<(&'static str, Option<u16>)>,
    /// … the next ones are never fetched; the rest are in the corpus.
    pub unfetched: u64,
}

fn spec(id: u32, query: &'static str, source: QuerySource, matched: u64, pairs: u64) -> QuerySpec {
    QuerySpec { id, query, source, matched, pairs, also: None, failures: Vec::new(), unfetched: 0 }
}

/// The dictionary of build A. A hostile query checks HTML escaping.
pub fn specs() -> Vec<QuerySpec> {
    use QuerySource::*;
    let mut specs = vec![
        spec(10, "dog", Unigram, 20, 4),
        spec(11, "cat", Unigram, 12, 5),
        spec(12, "hot dog", Bigram, 8, 5),
        spec(13, "red car", Bigram, 5, 5),
        spec(14, "Eiffel Tower", Title, 3, 3),
        spec(15, "owl", Wordnet, 2, 2),
        spec(16, "tree", Unigram, 1, 1),
        spec(17, "<script>alert(\"x\")</script> & 'co'", Title, 2, 2),
        spec(18, "sky", Unigram, 4, 4),
        spec(19, "boat", Wordnet, 6, 5),
        spec(20, "zebra", Wordnet, 0, 0),
        spec(21, "emu", Unigram, 0, 0),
    ];
    // Hot dogs are dogs too: a pair holding two queries counts once for each.
    specs[2].also = Some(10);
    specs[0].failures = vec![("failed_to_download", Some(404))];
    specs[1].failures = vec![("failed_to_download", Some(500)), ("failed_to_resize", None)];
    specs[2].failures = vec![("opted_out", Some(200))];
    specs[9].unfetched = 1;
    specs
}

/// What [`write_build`] wrote, row by row.
#[derive(Debug, Clone, Default)]
pub struct Written {
    pub candidates: u64,
    pub matched_texts: u64,
    pub curated: Vec<Vec<u32>>,
    pub corpus: Vec<Vec<u32>>,
    /// (query ids, status, HTTP status).
    pub failures: Vec<(Vec<u32>, String, Option<u16>)>,
}

fn image_files() -> Vec<Vec<u8>> {
    let dir = wit_tests::workspace_root().join("fixtures/images");
    ["rocket.jpg", "horse.png", "microaneurysms.png", "phantom.png"]
        .iter()
        .map(|name| {
            let path = dir.join(name);
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run `make fixtures`)", path.display()))
        })
        .collect()
}

fn candidate(n: usize, caption: String) -> Candidate {
    let url = format!("http://127.0.0.1:9/img/{n}.jpg");
    Candidate {
        key: pair_key(&url, &caption),
        url,
        caption,
        page_url: Some(format!("http://127.0.0.1:9/page/{n}.html")),
        source: "list".into(),
        lang: Some("eng".into()),
        lang_conf: Some(0.9),
        provenance: Default::default(),
    }
}

fn save<T: wit_contract::Record>(
    dir: &Path,
    kind: RecordKind,
    rows: &[T],
    config: serde_json::Value,
    stats: serde_json::Value,
) {
    std::fs::create_dir_all(dir).unwrap();
    let mut manifest = wit_contract::write_stage_folder::<T>(dir, config, [rows]).unwrap();
    assert_eq!(manifest.kind, kind);
    manifest.seed = Some(0);
    manifest.stats = stats;
    manifest.save(dir).unwrap();
}

/// Writes a build folder (queries/, candidates/, curated/, corpus/) under `root`.
pub fn write_build(root: &Path, specs: &[QuerySpec]) -> Written {
    let mut written = Written::default();
    let dictionary: Vec<QueryEntry> = specs
        .iter()
        .map(|s| QueryEntry {
            id: s.id,
            query: s.query.into(),
            source: s.source,
            count: 100 + u64::from(s.id),
            pmi: (s.source == QuerySource::Bigram).then_some(3.5),
        })
        .collect();
    save(
        &root.join("queries"),
        RecordKind::Queries,
        &dictionary,
        serde_json::json!({"stage": "queries"}),
        serde_json::Value::Null,
    );

    let images = image_files();
    let mut curated = Vec::new();
    let mut corpus = Vec::new();
    let mut failures = Vec::new();
    for s in specs {
        for j in 0..s.pairs {
            let n = curated.len();
            let mut ids = vec![s.id];
            ids.extend(s.also);
            let pair = candidate(n, format!("a photo of {} number {j}", s.query));
            curated.push(CuratedPair { candidate: pair.clone(), query_ids: ids.clone(), keep_prob: 1.0 });
            written.curated.push(ids.clone());
            let j = j as usize;
            if let Some(&(status, http)) = s.failures.get(j) {
                failures.push(Failure {
                    candidate: pair,
                    query_ids: ids.clone(),
                    status: status.into(),
                    error_message: format!("{status} for test"),
                    http_status: http,
                    fetched_at_us: 0,
                });
                written.failures.push((ids, status.into(), http));
            } else if (j as u64) < s.failures.len() as u64 + s.unfetched {
                // never fetched
            } else {
                let image = images[n % images.len()].clone();
                corpus.push(CorpusImage {
                    candidate: pair,
                    query_ids: ids.clone(),
                    width: 64,
                    height: 64,
                    original_width: 64,
                    original_height: 64,
                    image_xxh3: xxh3(&image),
                    image,
                    image_format: "jpeg".into(),
                    fetched_at_us: 0,
                    image_phash: None,
                });
                written.corpus.push(ids);
            }
        }
    }

    // Candidates: every curated pair plus unmatched and balanced-away texts.
    let matched_texts = curated.len() as u64 + 7;
    let candidates_total = matched_texts + 13;
    let candidates: Vec<Candidate> =
        (0..candidates_total as usize).map(|n| candidate(n, format!("candidate text {n}"))).collect();
    save(
        &root.join("candidates"),
        RecordKind::Candidates,
        &candidates,
        serde_json::json!({"stage": "harvest"}),
        serde_json::Value::Null,
    );
    written.candidates = candidates_total;
    written.matched_texts = matched_texts;

    let curated_dir = root.join("curated");
    let config = serde_json::json!({
        "stage": "curate",
        "queries": root.join("queries").display().to_string(),
        "candidates": root.join("candidates").display().to_string(),
        "cap": CAP,
        "effective_cap": CAP,
        "oversample": 1.0,
        "strict": true,
        "query_counts": "_query_counts/data/query_counts.parquet",
    });
    let stats = serde_json::json!({
        "queries": specs.len(),
        "candidates": candidates_total,
        "matched": matched_texts,
        "kept": curated.len(),
    });
    save(&curated_dir, RecordKind::Curated, &curated, config.clone(), stats);
    let counts: Vec<QueryCount> = specs
        .iter()
        .map(|s| QueryCount {
            id: s.id,
            query: s.query.into(),
            matched: s.matched,
            kept: written.curated.iter().filter(|ids| ids.contains(&s.id)).count() as u64,
        })
        .collect();
    let counts_dir = curated_dir.join("_query_counts");
    std::fs::create_dir_all(counts_dir.join("data")).unwrap();
    let mut writer =
        ShardWriter::for_records::<QueryCount>(counts_dir.join("data/query_counts.parquet"), &WriterOptions::default())
            .unwrap();
    writer.write_records(&counts).unwrap();
    let mut manifest = Manifest::new(RecordKind::QueryCounts, config, Some(0));
    manifest.add_shard(writer.finish().unwrap());
    manifest.complete = true;
    manifest.save(&counts_dir).unwrap();

    let corpus_dir = root.join("corpus");
    let fetch_config = serde_json::json!({"stage": "fetch", "input": curated_dir.display().to_string()});
    let fetch_stats = serde_json::json!({"success": corpus.len(), "failed": failures.len()});
    save(&corpus_dir, RecordKind::Corpus, &corpus, fetch_config.clone(), fetch_stats);
    save(&corpus_dir.join("_failures"), RecordKind::Failures, &failures, fetch_config, serde_json::Value::Null);
    written
}

fn xxh3(bytes: &[u8]) -> u64 {
    u64::from_str_radix(&wit_contract::xxh3_hex(bytes), 16).unwrap()
}

/// A fresh build of `specs` in a temporary folder.
pub fn build(specs: &[QuerySpec]) -> (tempfile::TempDir, PathBuf, Written) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("build");
    let written = write_build(&root, specs);
    (dir, root, written)
}
