//! Scale benchmark of the partitioned merges (issue 18), driven by `scripts/bench-scale.sh`
//! (`make bench` runs it as a row group of its own; `scripts/bench-scale.sh RELEASE_DIR` alone).
//!
//! It measures every step of a world-size-N build — harvest merge, curate (soft and strict) and
//! the fetch merge path — on synthetic stage inputs at 1× and 10×: wall time and peak RSS of each
//! rank (one process each, run through the stage libraries as `wit build` runs them), and the
//! bytes each one-process step reads, so that peak RSS can be seen flat within `--memory-budget`
//! and serial steps can be seen to read metadata only.
//!
//! ```text
//! bench_scale gen DIR --scale K --ranks N [--seed S] [--divisor D]
//!     2M×K candidate pairs (~30% repeat an earlier pair, within and across inputs) as the shards a
//!     harvest rank leaves (100k pairs per input, inputs round-robin over N ranks); a dictionary of
//!     the 50k most frequent words of a Zipf vocabulary; 200k×K corpus rows (~10% repeat an
//!     earlier image) plus 5% failures as N fetch ranks leave them. Writes DIR/bench.json.
//!     `--divisor D` divides every row count by D (a smoke test of the driver).
//! bench_scale run DIR STAGE PHASE RANK N [--strict] [--budget BYTES]
//!     one rank of one step (STAGE harvest|curate|fetch; PHASE as `wit … --phase`), one thread;
//!     prints one JSON line: step, rank, wall s, peak RSS (VmHWM), rows, bytes read, load.
//! bench_scale check DIR        the merged outputs against what gen wrote (exit 1 on a mismatch)
//! bench_scale table FILE…      the markdown tables from the JSON lines of `run` (one file per scale)
//! ```
//! Candidates are written directly (running harvest's reader would measure language id, not the
//! merges): every rank folder holds complete-per-input shards and an incomplete manifest, so
//! `--phase harvest` finds every input done and only sends its keys to the buckets; likewise fetch
//! rank folders are complete, so `--phase fetch` only sends image hashes.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::{json, Value};
use wit_contract::{
    pair_key, recorded_path, Candidate, CorpusImage, Failure, Manifest, QueryEntry, QuerySource, RecordKind,
    ShardWriter, WriterOptions,
};
use wit_ranks::{RankOf, Width};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, Error>;

/// Candidate pairs per input (and per shard), at every scale.
const PAIRS_PER_INPUT: u64 = 100_000;
const CANDIDATES_PER_SCALE: u64 = 2_000_000;
const CORPUS_PER_SCALE: u64 = 200_000;
/// Out of 1000: repeated candidate pairs, repeated images, failures (on top of the corpus rows).
const DUPLICATE_PAIRS: u64 = 300;
const DUPLICATE_IMAGES: u64 = 100;
const FAILURES: u64 = 50;
const VOCABULARY: usize = 100_000;
const QUERIES: usize = 50_000;
const ZIPF_S: f64 = 1.0;
/// Rows per fetch shard (FetchConfig's default).
const FETCH_SHARD_ROWS: u64 = 10_000;
const CURATE_CAP: u64 = 20_000;
const WRITE_BATCH: usize = 8192;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("gen") => gen(&args[1..]),
        Some("run") => run(&args[1..]),
        Some("check") => check(&args[1..]),
        Some("table") => table(&args[1..]),
        _ => Err("usage: bench_scale gen|run|check|table … (see the module docs)".into()),
    };
    if let Err(e) = result {
        eprintln!("bench_scale: {e}");
        std::process::exit(1);
    }
}

// ------------------------------------------------------------------------------------- arguments

/// `--name VALUE` from `args`, removed from it.
fn take_flag(args: &mut Vec<String>, name: &str) -> Result<Option<String>> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) if i + 1 < args.len() => {
            let value = args.remove(i + 1);
            args.remove(i);
            Ok(Some(value))
        }
        Some(_) => Err(format!("{name} needs a value").into()),
    }
}

fn take_switch(args: &mut Vec<String>, name: &str) -> bool {
    let before = args.len();
    args.retain(|a| a != name);
    args.len() != before
}

fn number<T: std::str::FromStr>(value: &str, what: &str) -> Result<T> {
    value.parse().map_err(|_| format!("{what}: {value:?} is not a number").into())
}

/// `64M`, `1G`, `65536`.
fn bytes_arg(value: &str) -> Result<u64> {
    let (digits, unit) = match value.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => value.split_at(i),
        None => (value, ""),
    };
    let n: u64 = number(digits, "--budget")?;
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        other => return Err(format!("--budget: unknown unit {other:?}").into()),
    };
    Ok(n << shift)
}

fn canonical(dir: &str) -> Result<PathBuf> {
    fs::canonicalize(dir).map_err(|e| format!("{dir}: {e}").into())
}

// ------------------------------------------------------------------------------------ randomness

/// splitmix64's finalizer: a good 64-bit mix, enough for synthetic data.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        Rng(mix(seed ^ mix(stream)))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A vocabulary of pseudo-words (distinct, 3–4 syllables, length not tied to frequency) with a
/// Zipf distribution over word ranks.
struct Vocabulary {
    words: Vec<String>,
    cdf: Vec<f64>,
}

impl Vocabulary {
    fn new() -> Self {
        const SYLLABLES: [&str; 40] = [
            "ba", "ke", "li", "mo", "nu", "ra", "se", "ti", "vo", "zu", "da", "fe", "gi", "ho", "ju", "la", "me", "ni",
            "po", "qu", "sa", "te", "vi", "wo", "xu", "ya", "ze", "ka", "ro", "mi", "an", "el", "in", "or", "us", "ch",
            "st", "tr", "pl", "gr",
        ];
        let three = 40u64.pow(3);
        let space = three + 40u64.pow(4);
        let words = (0..VOCABULARY as u64)
            .map(|rank| {
                // A bijection of [0, space) (multiplier coprime with 2 and 5) spreads ranks over codes.
                let code = (rank * 7_919_017 + 12_345) % space;
                let (mut code, syllables) = if code < three { (code, 3) } else { (code - three, 4) };
                let mut word = String::with_capacity(8);
                for _ in 0..syllables {
                    word.push_str(SYLLABLES[(code % 40) as usize]);
                    code /= 40;
                }
                word
            })
            .collect();
        let mut cdf = Vec::with_capacity(VOCABULARY);
        let mut total = 0.0;
        for rank in 0..VOCABULARY {
            total += 1.0 / ((rank + 1) as f64).powf(ZIPF_S);
            cdf.push(total);
        }
        cdf.iter_mut().for_each(|c| *c /= total);
        Vocabulary { words, cdf }
    }

    fn probability(&self, rank: usize) -> f64 {
        self.cdf[rank] - if rank == 0 { 0.0 } else { self.cdf[rank - 1] }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let x = rng.unit();
        self.cdf.partition_point(|&c| c < x).min(VOCABULARY - 1)
    }

    /// The caption of pair `id`: 3–10 words.
    fn caption(&self, seed: u64, id: u64) -> String {
        let mut rng = Rng::new(seed, id);
        let n = 3 + rng.below(8);
        let mut caption = String::with_capacity(n as usize * 9);
        for i in 0..n {
            if i > 0 {
                caption.push(' ');
            }
            caption.push_str(&self.words[self.sample(&mut rng)]);
        }
        caption
    }
}

/// Candidate pair number `id` (the same id always gives the same pair).
fn candidate(vocabulary: &Vocabulary, seed: u64, id: u64) -> Candidate {
    let caption = vocabulary.caption(seed, id);
    let url = format!("https://img{}.example.com/{}/{:08x}.jpg", id % 997, id / 997, mix(id ^ seed) as u32);
    Candidate {
        key: pair_key(&url, &caption),
        url,
        caption,
        page_url: Some(format!("https://site{}.example.org/page/{}", id % 5003, id / 7)),
        source: "wat".into(),
        lang: Some("eng".into()),
        lang_conf: Some(0.9),
        provenance: Default::default(),
    }
}

// ---------------------------------------------------------------------------------- the layout

/// What gen wrote: DIR/bench.json.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Generated {
    scale: u64,
    ranks: usize,
    seed: u64,
    inputs: u64,
    candidates: u64,
    distinct_pairs: u64,
    queries: u64,
    corpus_rows: u64,
    distinct_images: u64,
    failures: u64,
    seconds: f64,
}

impl Generated {
    fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("bench.json");
        let text =
            fs::read_to_string(&path).map_err(|e| format!("{}: {e} (run `bench_scale gen` first)", path.display()))?;
        Ok(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?)
    }
}

fn inputs_dir(dir: &Path) -> PathBuf {
    dir.join("inputs")
}
fn candidates_dir(dir: &Path) -> PathBuf {
    dir.join("candidates")
}
fn queries_file(dir: &Path) -> PathBuf {
    dir.join("data/queries.parquet")
}
fn curated_dir(dir: &Path, strict: bool) -> PathBuf {
    dir.join(if strict { "curated-strict" } else { "curated" })
}
fn fetch_input_dir(dir: &Path) -> PathBuf {
    dir.join("fetch-input")
}
fn corpus_dir(dir: &Path) -> PathBuf {
    dir.join("corpus")
}

fn harvest_config(
    dir: &Path,
    phase: wit_harvest::Phase,
    rank: usize,
    world_size: usize,
    budget: u64,
) -> wit_harvest::HarvestConfig {
    wit_harvest::HarvestConfig {
        inputs: vec![inputs_dir(dir)],
        out: candidates_dir(dir),
        languages: vec!["any".into()],
        rank,
        world_size,
        phase,
        threads: 1,
        memory_budget: budget,
        ..Default::default()
    }
}

fn curate_config(
    dir: &Path,
    strict: bool,
    phase: wit_curate::Phase,
    rank: usize,
    world_size: usize,
    budget: u64,
) -> wit_curate::CurateConfig {
    wit_curate::CurateConfig {
        queries: queries_file(dir),
        candidates: candidates_dir(dir),
        out: curated_dir(dir, strict),
        cap: CURATE_CAP,
        strict,
        rank,
        world_size,
        phase,
        threads: 1,
        memory_budget: budget,
        ..Default::default()
    }
}

fn fetch_config(
    dir: &Path,
    phase: wit_fetch::Phase,
    rank: usize,
    world_size: usize,
    budget: u64,
) -> Result<wit_fetch::FetchConfig> {
    let input = wit_fetch::FetchInput::from_folder(&fetch_input_dir(dir))?;
    let mut config = wit_fetch::FetchConfig::new(input, corpus_dir(dir));
    config.shard_rows = FETCH_SHARD_ROWS;
    config.rank = rank;
    config.world_size = world_size;
    config.phase = phase;
    config.threads = 1;
    config.memory_budget = budget;
    Ok(config)
}

// ------------------------------------------------------------------------------------------ gen

fn gen(args: &[String]) -> Result<()> {
    let mut args = args.to_vec();
    let scale: u64 = number(&take_flag(&mut args, "--scale")?.unwrap_or_else(|| "1".into()), "--scale")?;
    let ranks: usize = number(&take_flag(&mut args, "--ranks")?.unwrap_or_else(|| "4".into()), "--ranks")?;
    let seed: u64 = number(&take_flag(&mut args, "--seed")?.unwrap_or_else(|| "42".into()), "--seed")?;
    let divisor: u64 = number(&take_flag(&mut args, "--divisor")?.unwrap_or_else(|| "1".into()), "--divisor")?;
    let [dir] = args.as_slice() else { return Err("usage: bench_scale gen DIR --scale K --ranks N [--seed S]".into()) };
    if scale == 0 || ranks == 0 || divisor == 0 || divisor > 1000 {
        return Err("--scale and --ranks must be positive, --divisor 1 to 1000".into());
    }
    fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
    let dir = canonical(dir)?;
    if dir.join("bench.json").exists() || candidates_dir(&dir).exists() {
        return Err(format!("{}: already generated (use an empty folder)", dir.display()).into());
    }
    let started = Instant::now();
    let vocabulary = Vocabulary::new();
    let inputs = scale * CANDIDATES_PER_SCALE / PAIRS_PER_INPUT;
    let pairs_per_input = PAIRS_PER_INPUT / divisor;
    let distinct_pairs = gen_candidates(&dir, &vocabulary, inputs, pairs_per_input, ranks, seed)?;
    let queries = gen_queries(&dir, &vocabulary, scale)?;
    gen_fetch_input(&dir, &vocabulary, seed)?;
    let (corpus_rows, distinct_images, failures) =
        gen_corpus(&dir, &vocabulary, scale * CORPUS_PER_SCALE / divisor, ranks, seed)?;
    let generated = Generated {
        scale,
        ranks,
        seed,
        inputs,
        candidates: inputs * pairs_per_input,
        distinct_pairs,
        queries,
        corpus_rows,
        distinct_images,
        failures,
        seconds: started.elapsed().as_secs_f64(),
    };
    let path = dir.join("bench.json");
    fs::write(&path, serde_json::to_vec_pretty(&generated)?).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("{}", serde_json::to_string(&generated)?);
    Ok(())
}

/// Whether row `row` of input `input` repeats an earlier pair.
fn is_repeat(seed: u64, input: u64, row: u64) -> bool {
    (input, row) != (0, 0) && mix(seed ^ mix((input << 32) | (row ^ 0xD0D0))) % 1000 < DUPLICATE_PAIRS
}

/// The candidate shards of every input in its rank's folder, and each rank's manifest as a harvest
/// rank leaves it before sending keys. Returns the number of distinct pairs.
fn gen_candidates(
    dir: &Path,
    vocabulary: &Vocabulary,
    inputs: u64,
    per_input: u64,
    ranks: usize,
    seed: u64,
) -> Result<u64> {
    let inputs_dir = inputs_dir(dir);
    fs::create_dir_all(&inputs_dir).map_err(|e| format!("{}: {e}", inputs_dir.display()))?;
    for input in 0..inputs {
        let path = inputs_dir.join(format!("in-{input:05}.parquet"));
        fs::write(&path, b"").map_err(|e| format!("{}: {e}", path.display()))?;
    }
    // Pair ids: new pairs of input i are numbered from first_new[i]; a repeat picks any id issued
    // before it (earlier inputs, or earlier rows of the same input).
    let mut first_new = Vec::with_capacity(inputs as usize + 1);
    let mut issued = 0u64;
    for input in 0..inputs {
        first_new.push(issued);
        issued += (0..per_input).filter(|&row| !is_repeat(seed, input, row)).count() as u64;
    }
    let out = candidates_dir(dir);
    for rank in 0..ranks {
        let rank_dir = RankOf::new(rank, ranks).dir(&out);
        fs::create_dir_all(&rank_dir).map_err(|e| format!("{}: {e}", rank_dir.display()))?;
    }
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(4);
    let results: Vec<Result<Vec<(u64, wit_contract::ShardInfo)>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<Vec<(u64, wit_contract::ShardInfo)>> {
                    let mut done = Vec::new();
                    loop {
                        let input = next.fetch_add(1, Ordering::Relaxed) as u64;
                        if input >= inputs {
                            return Ok(done);
                        }
                        let rank_dir = RankOf::new(input as usize % ranks, ranks).dir(&out);
                        let path = wit_contract::shard_path(&rank_dir, input as usize);
                        let mut writer = ShardWriter::for_records::<Candidate>(&path, &WriterOptions::default())?;
                        let mut rng = Rng::new(seed, 0xC0FFEE ^ input);
                        let mut new_id = first_new[input as usize];
                        let mut batch = Vec::with_capacity(WRITE_BATCH);
                        for row in 0..per_input {
                            let id = if is_repeat(seed, input, row) {
                                rng.below(new_id)
                            } else {
                                new_id += 1;
                                new_id - 1
                            };
                            batch.push(candidate(vocabulary, seed, id));
                            if batch.len() == WRITE_BATCH {
                                writer.write_records(&batch)?;
                                batch.clear();
                            }
                        }
                        writer.write_records(&batch)?;
                        done.push((input, writer.finish()?));
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_else(|_| Err("a generator thread panicked".into()))).collect()
    });
    let mut shards: Vec<(u64, wit_contract::ShardInfo)> = Vec::new();
    for result in results {
        shards.extend(result?);
    }
    shards.sort_by_key(|(input, _)| *input);
    // The inputs as harvest expands the inputs folder (sorted file names).
    let expanded: Vec<PathBuf> = (0..inputs).map(|i| inputs_dir.join(format!("in-{i:05}.parquet"))).collect();
    for rank in 0..ranks {
        let config = harvest_config(dir, wit_harvest::Phase::Harvest, rank, ranks, wit_ranks::DEFAULT_MEMORY_BUDGET);
        let recorded = wit_harvest::recorded_config(&config)?;
        let mut manifest = Manifest::new(RecordKind::Candidates, recorded, None);
        let mut per_input = Vec::new();
        for (input, info) in shards.iter().filter(|(input, _)| *input as usize % ranks == rank) {
            per_input.push(wit_harvest::InputStats {
                path: recorded_path(&expanded[*input as usize]),
                format: "parquet".into(),
                shard: Some(info.file.clone()),
                records: info.rows,
                pairs_found: info.rows,
                pairs_out: info.rows,
                ..Default::default()
            });
            manifest.add_shard(info.clone());
        }
        let mut stats = wit_harvest::HarvestStats { inputs: per_input.len() as u64, ..Default::default() };
        for input in &per_input {
            stats.records += input.records;
            stats.pairs_found += input.pairs_found;
            stats.pairs_out += input.pairs_out;
            stats.shards += 1;
        }
        stats.per_input = per_input;
        manifest.stats = serde_json::to_value(&stats)?;
        manifest.complete = false;
        let rank_dir = RankOf::new(rank, ranks).dir(&out);
        manifest.save(&rank_dir)?;
    }
    Ok(issued)
}

/// The dictionary: the QUERIES most frequent words as unigram queries (ids = frequency ranks).
fn gen_queries(dir: &Path, vocabulary: &Vocabulary, scale: u64) -> Result<u64> {
    let words_per_caption = 6.5;
    let pool = (scale * CANDIDATES_PER_SCALE) as f64 * words_per_caption;
    let entries: Vec<QueryEntry> = (0..QUERIES)
        .map(|rank| QueryEntry {
            id: rank as u32,
            query: vocabulary.words[rank].clone(),
            source: QuerySource::Unigram,
            count: (pool * vocabulary.probability(rank)).round() as u64,
            pmi: None,
        })
        .collect();
    let mut writer = ShardWriter::for_records::<QueryEntry>(queries_file(dir), &WriterOptions::default())?;
    writer.write_records(&entries)?;
    writer.finish()?;
    Ok(entries.len() as u64)
}

/// A small complete candidates folder: what the fetch ranks record as their input (their rows are
/// written directly, so fetch never reads it).
fn gen_fetch_input(dir: &Path, vocabulary: &Vocabulary, seed: u64) -> Result<()> {
    let out = fetch_input_dir(dir);
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let rows: Vec<Candidate> = (0..1000).map(|i| candidate(vocabulary, seed, u64::MAX / 2 + i)).collect();
    let mut writer =
        ShardWriter::for_records::<Candidate>(wit_contract::shard_path(&out, 0), &WriterOptions::default())?;
    writer.write_records(&rows)?;
    let mut manifest = Manifest::new(RecordKind::Candidates, json!({ "stage": "bench_scale" }), None);
    manifest.add_shard(writer.finish()?);
    manifest.complete = true;
    manifest.save(&out)?;
    Ok(())
}

/// The bytes of image number `image`: 200–456 bytes, distinct per image.
fn image_bytes(seed: u64, image: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed ^ 0x1A6E, image);
    let len = 200 + rng.below(257) as usize;
    let mut bytes = Vec::with_capacity(len + 8);
    bytes.extend_from_slice(&image.to_le_bytes());
    while bytes.len() < len {
        bytes.extend_from_slice(&rng.next().to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Every fetch rank's folder as `--phase fetch` leaves it before sending hashes: corpus rows (some
/// images repeated, within and across ranks) and failures, committed complete through the stage's
/// own sink. Returns (corpus rows, distinct images, failures).
fn gen_corpus(dir: &Path, vocabulary: &Vocabulary, total: u64, ranks: usize, seed: u64) -> Result<(u64, u64, u64)> {
    let out = corpus_dir(dir);
    let mut sinks = Vec::with_capacity(ranks);
    for rank in 0..ranks {
        let config = fetch_config(dir, wit_fetch::Phase::Fetch, rank, ranks, wit_ranks::DEFAULT_MEMORY_BUDGET)?;
        let recorded = wit_fetch::recorded_config(&config);
        let (rank_dir, failures_dir) =
            (wit_fetch::rank_dir(&out, rank, ranks), wit_fetch::rank_failures_dir(&out, rank, ranks));
        match wit_fetch::output::Sink::open(&rank_dir, &failures_dir, &recorded, FETCH_SHARD_ROWS)? {
            wit_fetch::output::Opened::Ready(sink, _) => sinks.push(sink),
            wit_fetch::output::Opened::Complete(_) => {
                return Err(format!("{}: already complete", rank_dir.display()).into())
            }
        }
    }
    let mut rng = Rng::new(seed, 0xF37C);
    let (mut images, mut corpus_rows, mut failures) = (0u64, 0u64, 0u64);
    let mut pair = 0u64;
    while corpus_rows < total {
        // Pair ids far from the candidates' so keys are distinct from them.
        let candidate = candidate(vocabulary, seed, (1u64 << 48) + pair);
        pair += 1;
        let rank = (wit_fetch::output::key_hash(&candidate.key) % ranks as u64) as usize;
        let query_ids: Vec<u32> = (0..1 + rng.below(3)).map(|_| rng.below(QUERIES as u64) as u32).collect();
        let fetched_at_us = 1_764_000_000_000_000 + pair as i64;
        let outcome = if rng.below(1000) < FAILURES {
            failures += 1;
            wit_fetch::output::Outcome::Failed(
                Failure {
                    candidate,
                    query_ids,
                    status: "failed_to_download".into(),
                    error_message: "timeout: synthetic (bench_scale)".into(),
                    http_status: None,
                    fetched_at_us,
                }
                .into(),
            )
        } else {
            let image = if images > 0 && rng.below(1000) < DUPLICATE_IMAGES {
                rng.below(images)
            } else {
                images += 1;
                images - 1
            };
            let bytes = image_bytes(seed, image);
            let image_xxh3 = u64::from_str_radix(&wit_contract::xxh3_hex(&bytes), 16)?;
            corpus_rows += 1;
            wit_fetch::output::Outcome::Image(
                CorpusImage {
                    candidate,
                    query_ids,
                    width: 64,
                    height: 64,
                    original_width: 128,
                    original_height: 128,
                    image: bytes,
                    image_format: "jpeg".into(),
                    image_xxh3,
                    fetched_at_us,
                    image_phash: None,
                }
                .into(),
            )
        };
        sinks[rank].push(outcome)?;
    }
    for sink in sinks.iter_mut() {
        sink.commit(true)?;
    }
    Ok((corpus_rows, images, failures))
}

// ------------------------------------------------------------------------------------------ run

fn peak_rss_mb() -> f64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// User + system CPU seconds of this process so far (/proc/self/stat, 100 ticks per second).
fn cpu_seconds() -> f64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (ticks(11) + ticks(12)) / 100.0
}

fn load1() -> f64 {
    fs::read_to_string("/proc/loadavg").ok().and_then(|s| s.split_whitespace().next()?.parse().ok()).unwrap_or(f64::NAN)
}

fn file_size(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The total size of the files of `dir` whose names satisfy `pick` (0 when `dir` is missing).
fn sizes_in(dir: &Path, pick: impl Fn(&str) -> bool) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .filter(|e| pick(&e.file_name().to_string_lossy()))
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum()
}

/// The manifests of every rank folder under `ranks_parent/ranks/`.
fn rank_manifest_bytes(ranks_parent: &Path, world_size: usize) -> u64 {
    (0..world_size).map(|r| file_size(&Manifest::path_in(RankOf::new(r, world_size).dir(ranks_parent)))).sum()
}

/// Rows of the candidate shards rank `rank` of a curate wave reads (every N-th shard of the list).
fn curate_rows(dir: &Path, rank: usize, world_size: usize) -> Result<u64> {
    let manifest = Manifest::load(candidates_dir(dir))?;
    Ok(manifest.shards.iter().enumerate().filter(|(i, _)| i % world_size == rank).map(|(_, s)| s.rows).sum())
}

fn marker_stats(out: &Path, step: &str, rank: Option<RankOf>) -> Result<Value> {
    let path = out.join(wit_ranks::names::marker_relative(step, rank));
    let marker =
        wit_ranks::StepMarker::load(&path)?.ok_or_else(|| format!("{}: no marker after the step", path.display()))?;
    Ok(marker.stats)
}

fn u(value: &Value, key: &str) -> u64 {
    value.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// The width and what a step reads, from the stage's own declarations.
fn declared(stage: &str, phase: &str, world_size: usize, strict: bool) -> Result<(Width, wit_ranks::Reads)> {
    let steps = match stage {
        "harvest" => wit_harvest::steps(world_size),
        "curate" => wit_curate::steps(world_size, strict),
        "fetch" => wit_fetch::steps(world_size),
        other => return Err(format!("unknown stage {other:?} (harvest, curate, fetch)").into()),
    };
    steps
        .iter()
        .find(|s| s.phase == Some(phase))
        .map(|s| (s.width, s.reads))
        .ok_or_else(|| format!("{stage} declares no phase {phase:?} at world size {world_size}").into())
}

fn run(args: &[String]) -> Result<()> {
    let mut args = args.to_vec();
    let strict = take_switch(&mut args, "--strict");
    let budget = bytes_arg(&take_flag(&mut args, "--budget")?.unwrap_or_else(|| "64M".into()))?;
    let [dir, stage, phase, rank, world_size] = args.as_slice() else {
        return Err("usage: bench_scale run DIR STAGE PHASE RANK N [--strict] [--budget BYTES]".into());
    };
    let dir = canonical(dir)?;
    let generated = Generated::load(&dir)?;
    let (rank, n): (usize, usize) = (number(rank, "RANK")?, number(world_size, "N")?);
    let me = RankOf::new(rank, n);
    let (width, reads) = declared(stage, phase, n, strict)?;
    let started = Instant::now();
    // rows: what the step processes (rows, entries, claims; shards listed for a merge).
    let (rows, unit, bytes_read): (u64, &str, Option<u64>) = match stage.as_str() {
        "harvest" => {
            use wit_harvest::Phase;
            let out = candidates_dir(&dir);
            let phase = match phase.as_str() {
                "harvest" => Phase::Harvest,
                "dedup" => Phase::Dedup,
                "apply" => Phase::Apply,
                "merge" => Phase::Merge,
                other => return Err(format!("harvest has no phase {other:?} here").into()),
            };
            let before =
                (phase == Phase::Merge).then(|| rank_manifest_bytes(&out, n) + file_size(&Manifest::path_in(&out)));
            let stats = wit_harvest::harvest(&harvest_config(&dir, phase, rank, n, budget))?;
            match phase {
                Phase::Harvest => {
                    let sent = marker_stats(&out, wit_harvest::STEP_SEND, Some(me))?;
                    (u(&sent, "entries"), "rows", Some(u(&sent, "bytes")))
                }
                Phase::Dedup => {
                    let found = marker_stats(&out, wit_harvest::STEP_DEDUP, Some(me))?;
                    (u(&found, "entries"), "entries", Some(u(&found, "bytes")))
                }
                Phase::Apply => (stats.pairs_out + stats.skipped.get("duplicate").copied().unwrap_or(0), "rows", None),
                _ => (Manifest::load(&out)?.shards.len() as u64, "shards", before),
            }
        }
        "curate" => {
            use wit_curate::Phase;
            let out = curated_dir(&dir, strict);
            let phase = match phase.as_str() {
                "count" => Phase::Count,
                "order" => Phase::Order,
                "strict" => Phase::Strict,
                "select" => Phase::Select,
                "merge" => Phase::Merge,
                other => return Err(format!("curate has no phase {other:?} here").into()),
            };
            let queries = file_size(&queries_file(&dir));
            let counts = out.join("_counts");
            let before = match phase {
                Phase::Strict => {
                    Some(queries + sizes_in(&out.join(wit_curate::strict::STRICT_DIR), |f| f.starts_with("claims-")))
                }
                Phase::Merge => {
                    Some(queries + sizes_in(&counts, |f| f.starts_with("kept-") || f.starts_with("shards-")))
                }
                _ => None,
            };
            wit_curate::curate(&curate_config(&dir, strict, phase, rank, n, budget))?;
            match phase {
                Phase::Strict => {
                    let greedy = marker_stats(&out, wit_curate::strict::STEP_STRICT, None)?;
                    (u(&greedy, "claims"), "claims", before)
                }
                Phase::Merge => (Manifest::load(&out)?.shards.len() as u64, "shards", before),
                _ => (curate_rows(&dir, rank, n)?, "rows", None),
            }
        }
        "fetch" => {
            use wit_fetch::Phase;
            let out = corpus_dir(&dir);
            let phase = match phase.as_str() {
                "fetch" => Phase::Fetch,
                "dedup" => Phase::Dedup,
                "apply" => Phase::Apply,
                "merge" => Phase::Merge,
                other => return Err(format!("fetch has no phase {other:?} here").into()),
            };
            let before = match phase {
                Phase::Apply => Some(Manifest::load(me.dir(&out))?.total_rows()),
                Phase::Merge => Some(
                    rank_manifest_bytes(&out, n)
                        + rank_manifest_bytes(&out.join(wit_fetch::output::FAILURES_DIR), n)
                        + file_size(&Manifest::path_in(fetch_input_dir(&dir))),
                ),
                _ => None,
            };
            wit_fetch::fetch(&fetch_config(&dir, phase, rank, n, budget)?)?;
            match phase {
                Phase::Fetch => {
                    let sent = marker_stats(&out, wit_fetch::dedup::STEP_SEND, Some(me))?;
                    (u(&sent, "entries"), "rows", Some(u(&sent, "bytes")))
                }
                Phase::Dedup => {
                    let found = marker_stats(&out, wit_fetch::dedup::STEP_DEDUP, Some(me))?;
                    (u(&found, "entries"), "entries", Some(u(&found, "bytes")))
                }
                Phase::Apply => (before.unwrap_or(0), "rows", None),
                _ => (Manifest::load(&out)?.shards.len() as u64, "shards", before),
            }
        }
        other => return Err(format!("unknown stage {other:?} (harvest, curate, fetch)").into()),
    };
    let wall = started.elapsed().as_secs_f64();
    let label = match (stage.as_str(), strict) {
        ("curate", true) => "curate strict",
        ("curate", false) => "curate soft",
        (stage, _) => stage,
    };
    let line = json!({
        "scale": generated.scale,
        "step": format!("{label}: {phase}"),
        "width": format!("{width:?}"),
        "reads": format!("{reads:?}"),
        "rank": rank,
        "world_size": n,
        "budget": budget,
        "wall_s": wall,
        "cpu_s": cpu_seconds(),
        "peak_rss_mb": peak_rss_mb(),
        "rows": rows,
        "unit": unit,
        "bytes_read": bytes_read,
        "load1": load1(),
    });
    println!("{line}");
    Ok(())
}

// ---------------------------------------------------------------------------------------- check

fn check(args: &[String]) -> Result<()> {
    let [dir] = args else { return Err("usage: bench_scale check DIR".into()) };
    let dir = canonical(dir)?;
    let generated = Generated::load(&dir)?;
    let mut problems = Vec::new();
    let mut expect = |what: &str, found: u64, expected: u64| {
        if found != expected {
            problems.push(format!("{what}: {found}, expected {expected}"));
        }
    };
    let candidates = Manifest::load(candidates_dir(&dir))?;
    expect("merged candidate rows (distinct pairs)", candidates.total_rows(), generated.distinct_pairs);
    expect("merged candidates complete", candidates.complete as u64, 1);
    let corpus = Manifest::load(corpus_dir(&dir))?;
    expect("corpus rows (distinct images)", corpus.total_rows(), generated.distinct_images);
    let failures = Manifest::load(corpus_dir(&dir).join(wit_fetch::output::FAILURES_DIR))?;
    expect(
        "failure rows (failures + later copies of images)",
        failures.total_rows(),
        generated.failures + generated.corpus_rows - generated.distinct_images,
    );
    let mut matched: Vec<Vec<u64>> = Vec::new();
    for strict in [false, true] {
        let out = curated_dir(&dir, strict);
        let curated = Manifest::load(&out)?;
        let table = out.join("_query_counts/data/query_counts.parquet");
        let counts = wit_contract::read_records::<wit_contract::QueryCount>(&table)?;
        let kept: u64 = curated.total_rows();
        expect(&format!("{}: queries in the table", out.display()), counts.len() as u64, generated.queries);
        if strict {
            let over = counts.iter().filter(|c| c.kept > CURATE_CAP).count() as u64;
            expect("strict: queries above the cap", over, 0);
        }
        let head = counts.iter().filter(|c| c.matched > CURATE_CAP).count();
        println!(
            "{}",
            json!({ "curated": out.file_name().map(|n| n.to_string_lossy().into_owned()), "kept": kept, "head_queries": head })
        );
        matched.push(counts.iter().map(|c| c.matched).collect());
    }
    if matched.len() == 2 && matched[0] != matched[1] {
        problems.push("soft and strict disagree on per-query match counts".into());
    }
    println!(
        "{}",
        json!({ "candidates": candidates.total_rows(), "corpus": corpus.total_rows(), "failures": failures.total_rows(), "problems": problems })
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("check failed: {}", problems.join("; ")).into())
    }
}

// ---------------------------------------------------------------------------------------- table

#[derive(Default)]
struct Agg {
    width: String,
    reads: String,
    unit: String,
    processes: usize,
    max_wall: f64,
    sum_wall: f64,
    sum_cpu: f64,
    max_rss: f64,
    rows: u64,
    bytes_read: Option<u64>,
    load: Vec<f64>,
}

fn table(files: &[String]) -> Result<()> {
    if files.is_empty() {
        return Err("usage: bench_scale table RESULTS.jsonl… (one file per scale)".into());
    }
    let mut order: Vec<String> = Vec::new();
    let mut scales: Vec<u64> = Vec::new();
    let mut aggs: BTreeMap<(u64, String), Agg> = BTreeMap::new();
    let mut world_size = 0;
    let mut budget = 0;
    for file in files {
        let text = fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| l.starts_with('{')) {
            let v: Value = serde_json::from_str(line).map_err(|e| format!("{file}:{}: {e}", i + 1))?;
            let Some(step) = v.get("step").and_then(Value::as_str) else { continue };
            let scale = u(&v, "scale");
            if !scales.contains(&scale) {
                scales.push(scale);
            }
            if !order.iter().any(|s| s == step) {
                order.push(step.to_string());
            }
            world_size = u(&v, "world_size");
            budget = u(&v, "budget");
            let agg = aggs.entry((scale, step.to_string())).or_default();
            let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            agg.width = field("width");
            agg.reads = field("reads");
            agg.unit = field("unit");
            let wall = v.get("wall_s").and_then(Value::as_f64).unwrap_or(0.0);
            agg.processes += 1;
            agg.max_wall = agg.max_wall.max(wall);
            agg.sum_wall += wall;
            agg.sum_cpu += v.get("cpu_s").and_then(Value::as_f64).unwrap_or(f64::NAN);
            agg.max_rss = agg.max_rss.max(v.get("peak_rss_mb").and_then(Value::as_f64).unwrap_or(0.0));
            agg.rows += u(&v, "rows");
            if let Some(b) = v.get("bytes_read").and_then(Value::as_u64) {
                agg.bytes_read = Some(agg.bytes_read.unwrap_or(0) + b);
            }
            agg.load.extend(v.get("load1").and_then(Value::as_f64));
        }
    }
    scales.sort_unstable();
    let mut out = std::io::stdout().lock();
    let shape = |a: &Agg| match a.width.as_str() {
        "Ranks" => format!("×{world_size} ranks"),
        "Buckets" => format!("×{world_size} buckets"),
        _ => "1 process".to_string(),
    };
    let loads: Vec<f64> = aggs.values().flat_map(|a| a.load.iter().copied()).collect();
    let mean_load = loads.iter().sum::<f64>() / loads.len().max(1) as f64;
    let max_load = loads.iter().copied().fold(0.0, f64::max);
    writeln!(
        out,
        "Partitioned merges at world size {world_size}, --memory-budget {} MiB, ranks 2 at a time, one thread each; \
         load average (1 min) at the end of each process: mean {mean_load:.1}, max {max_load:.1} on {} cores.\n",
        budget >> 20,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    )?;
    let mut header = "| step | shape | reads |".to_string();
    let mut rule = "|---|---|---|".to_string();
    for s in &scales {
        header += &format!(" {s}× wall s (slowest) | {s}× peak RSS MB (max) |");
        rule += "---|---|";
    }
    header += " bytes read (one-process steps) |";
    rule += "---|";
    writeln!(out, "{header}\n{rule}")?;
    for step in &order {
        let first = scales.iter().find_map(|s| aggs.get(&(*s, step.clone())));
        let Some(first) = first else { continue };
        let mut row = format!("| {step} | {} | {} |", shape(first), first.reads.to_lowercase());
        let mut bytes = Vec::new();
        for s in &scales {
            match aggs.get(&(*s, step.clone())) {
                Some(a) => {
                    row += &format!(" {} | {:.0} |", seconds(a.max_wall), a.max_rss);
                    if a.width == "One" {
                        bytes.push(format!("{s}×: {}", human_bytes(a.bytes_read.unwrap_or(0))));
                    }
                }
                None => row += " – | – |",
            }
        }
        row += &format!(" {} |", if bytes.is_empty() { "–".to_string() } else { bytes.join(", ") });
        writeln!(out, "{row}")?;
    }
    writeln!(
        out,
        "\nRates per process (rows, entries or claims one process handles ÷ its wall time, and ÷ its CPU time — \
         the figure to trust on a loaded machine; summed over the wave's processes; merges: shards listed):\n"
    )?;
    let mut header = "| step | unit |".to_string();
    let mut rule = "|---|---|".to_string();
    for s in &scales {
        header += &format!(" {s}× per process | {s}× per wall s | {s}× per CPU s |");
        rule += "---|---|---|";
    }
    writeln!(out, "{header}\n{rule}")?;
    for step in &order {
        let Some(first) = scales.iter().find_map(|s| aggs.get(&(*s, step.clone()))) else { continue };
        let mut row = format!("| {step} | {} |", first.unit);
        for s in &scales {
            match aggs.get(&(*s, step.clone())) {
                Some(a) => {
                    let per = a.rows as f64 / a.processes.max(1) as f64;
                    let cpu = if a.sum_cpu > 0.0 { human(a.rows as f64 / a.sum_cpu) } else { "–".into() };
                    row += &format!(" {} | {} | {cpu} |", human(per), human(a.rows as f64 / a.sum_wall.max(1e-9)));
                }
                None => row += " – | – | – |",
            }
        }
        writeln!(out, "{row}")?;
    }
    Ok(())
}

fn seconds(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.2}")
    } else {
        format!("{s:.1}")
    }
}

fn human(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
