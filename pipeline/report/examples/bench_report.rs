//! Report benchmark: a synthetic build (a Zipf-shaped dictionary of QUERIES queries, curate's
//! per-query table, a corpus of CORPUS rows with 1–3 query ids and small image bytes), then
//! `wit_report::report` on it, printing a table of times and output sizes.
//!
//! `cargo run --release -p wit-report --example bench_report -- [QUERIES] [CORPUS] [DIR]`

use std::path::Path;
use std::time::Instant;

use wit_contract::{
    pair_key, Candidate, CorpusImage, Manifest, QueryCount, QueryEntry, QuerySource, RecordKind, ShardWriter,
    WriterOptions,
};
use wit_report::{report, ReportOptions};

const CAP: u64 = 20_000;

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        .map_or(0, |kb| kb / 1024)
}

fn save_manifest(dir: &Path, kind: RecordKind, shards: Vec<wit_contract::ShardInfo>, config: serde_json::Value) {
    let mut manifest = Manifest::new(kind, config, Some(0));
    shards.into_iter().for_each(|s| manifest.add_shard(s));
    manifest.complete = true;
    manifest.save(dir).unwrap();
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn generate(root: &Path, queries: u32, corpus_rows: u64) {
    let sources = [QuerySource::Unigram, QuerySource::Bigram, QuerySource::Title, QuerySource::Wordnet];
    let dir = root.join("queries");
    std::fs::create_dir_all(&dir).unwrap();
    let entries: Vec<QueryEntry> = (0..queries)
        .map(|id| QueryEntry {
            id,
            query: format!("query {id}"),
            source: sources[id as usize % 4],
            count: 100 + u64::from(queries - id),
            pmi: None,
        })
        .collect();
    let mut writer =
        ShardWriter::for_records::<QueryEntry>(wit_contract::shard_path(&dir, 0), &WriterOptions::default()).unwrap();
    writer.write_records(&entries).unwrap();
    save_manifest(&dir, RecordKind::Queries, vec![writer.finish().unwrap()], serde_json::json!({}));

    // Zipf: query of rank r matched about 5,000,000 / r candidates; every 7th matched nothing.
    let curated = root.join("curated");
    let counts_dir = curated.join("_query_counts");
    std::fs::create_dir_all(counts_dir.join("data")).unwrap();
    let counts: Vec<QueryCount> = (0..queries)
        .map(|id| {
            let matched = if id % 7 == 6 { 0 } else { 5_000_000 / (u64::from(id) + 1) };
            QueryCount { id, query: format!("query {id}"), matched, kept: matched.min(CAP) }
        })
        .collect();
    let mut writer =
        ShardWriter::for_records::<QueryCount>(counts_dir.join("data/query_counts.parquet"), &WriterOptions::default())
            .unwrap();
    writer.write_records(&counts).unwrap();
    writer.finish().unwrap();
    let config = serde_json::json!({
        "queries": root.join("queries").display().to_string(),
        "cap": CAP, "effective_cap": CAP, "strict": false,
        "query_counts": "_query_counts/data/query_counts.parquet",
    });
    save_manifest(&curated, RecordKind::Curated, Vec::new(), config);

    let corpus = root.join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut shards = Vec::new();
    let per_shard = 100_000u64;
    let image = vec![0xABu8; 256];
    for shard in 0..corpus_rows.div_ceil(per_shard) {
        let rows: Vec<CorpusImage> = (shard * per_shard..((shard + 1) * per_shard).min(corpus_rows))
            .map(|n| {
                let ids = (0..1 + rng.next() % 3).map(|_| (rng.next() % u64::from(queries)) as u32).collect();
                let url = format!("http://example.com/{n}.jpg");
                let caption = format!("caption {n}");
                CorpusImage {
                    candidate: Candidate {
                        key: pair_key(&url, &caption),
                        url,
                        caption,
                        page_url: None,
                        source: "list".into(),
                        lang: None,
                        lang_conf: None,
                        provenance: Default::default(),
                    },
                    query_ids: ids,
                    width: 256,
                    height: 256,
                    original_width: 256,
                    original_height: 256,
                    image: image.clone(),
                    image_format: "jpeg".into(),
                    image_xxh3: n,
                    fetched_at_us: 0,
                    image_phash: None,
                }
            })
            .collect();
        let mut writer = ShardWriter::for_records::<CorpusImage>(
            wit_contract::shard_path(&corpus, shard as usize),
            &WriterOptions::default(),
        )
        .unwrap();
        writer.write_records(&rows).unwrap();
        shards.push(writer.finish().unwrap());
    }
    save_manifest(&corpus, RecordKind::Corpus, shards, serde_json::json!({"input": curated.display().to_string()}));
}

fn size_mb(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1e6)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let queries: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(500_000);
    let corpus_rows: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let temp = tempfile::tempdir().unwrap();
    let root = args.get(3).map(std::path::PathBuf::from).unwrap_or_else(|| temp.path().to_path_buf());
    let t = Instant::now();
    generate(&root, queries, corpus_rows);
    let generate_s = t.elapsed().as_secs_f64();

    let options =
        ReportOptions { input: root.clone(), queries_of_interest: vec!["query 3".into()], ..Default::default() };
    let t = Instant::now();
    let outcome = report(&options).unwrap();
    let report_s = t.elapsed().as_secs_f64();

    println!(
        "wit report benchmark: {queries} queries, {corpus_rows} corpus rows, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("{:<34} {:>10}", "work", "value");
    println!("{:<34} {:>10.2}", "generate the build (s)", generate_s);
    println!("{:<34} {:>10.2}", "wit report: read + write all (s)", report_s);
    println!("{:<34} {:>10.0}", "corpus rows per second", corpus_rows as f64 / report_s);
    println!("{:<34} {:>10.1}", "report.json (MB)", size_mb(&outcome.json));
    println!("{:<34} {:>10.1}", "queries.parquet (MB)", size_mb(&outcome.parquet));
    println!("{:<34} {:>10.1}", "report.html (MB)", size_mb(&outcome.html));
    println!("{:<34} {:>10}", "peak RSS (MiB)", peak_rss_mib());
}
