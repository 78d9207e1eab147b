//! The stage itself: count a dump (or merge ranks' counts), select, write the dictionary folder.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use wit_contract::{
    clean_stale_temp_files, recorded_path, write_file_atomically, Manifest, QueryEntry, RecordKind, ShardWriter,
    WriterOptions,
};

use crate::counts::{write_run, Counter, Merged, Run, RunReader, SpillDir, Totals};
use crate::dump::{self, for_each_article, Parallel, Tally, Unit};
use crate::error::{QueriesError, Result};
use crate::select::{self, Candidates, Quotas};
use crate::sources;
use crate::wikitext::to_plain_text;
use crate::{Phase, QueriesConfig, QueriesStats, TextConfig, TextStats};
use wit_contract::progress::{Progress, Spec};
use wit_contract::{AtPath, PathError};

/// The dictionary's file names inside the output folder.
/// The dictionary shard, inside the folder's `data/` (see `wit_contract::layout`).
pub const QUERIES_FILE: &str = "data/queries.parquet";
pub const QUERIES_TSV: &str = "_queries.tsv";
/// Per-rank count files of a multi-rank run.
pub const COUNTS_DIR: &str = "_counts";

fn rank_suffix(rank: usize, world_size: usize) -> String {
    format!("{rank:05}-of-{world_size:05}")
}

/// What decides the output (not threads, memory budget or rank).
fn recorded_config(config: &QueriesConfig, quotas: &Quotas) -> serde_json::Value {
    serde_json::json!({
        "stage": "queries",
        "inputs": config.inputs.iter().map(|i| recorded_path(&i.path)).collect::<Vec<_>>(),
        "min_count": config.min_count,
        "size": config.size,
        "quotas": quotas,
        "fill": config.fill,
        "wordnet": config.wordnet.as_deref().map(recorded_path),
        "wordnet_all_pos": config.wordnet_all_pos,
        "titles": config.titles.as_deref().map(recorded_path),
        "title_min_views": config.title_min_views,
        "world_size": config.world_size,
        "tokens": "letters/digits with inner ' ’ - . joiners, case kept; bigrams only across spaces",
    })
}

/// A recorded config without its inputs: what a merge (which reads no dump) can check.
fn without_inputs(config: &serde_json::Value) -> serde_json::Value {
    let mut config = config.clone();
    if let Some(map) = config.as_object_mut() {
        map.remove("inputs");
    }
    config
}

/// The counting half of a rank's stats, saved beside its count run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CountPart {
    rank: usize,
    world_size: usize,
    config: serde_json::Value,
    stats: QueriesStats,
}

fn validate(config: &QueriesConfig) -> Result<()> {
    if config.world_size == 0 || config.rank >= config.world_size {
        return Err(QueriesError::Config(format!("rank {} of world size {}", config.rank, config.world_size)));
    }
    if config.phase == Phase::All && config.world_size > 1 {
        return Err(QueriesError::Config("with --world-size > 1 run the count and merge phases explicitly".into()));
    }
    if config.phase != Phase::Merge && config.inputs.is_empty() {
        return Err(QueriesError::Config("no dump to read".into()));
    }
    if config.inputs.iter().filter(|i| i.is_stdin()).count() > 1 {
        return Err(QueriesError::Config("standard input (-) can be read once".into()));
    }
    if config.min_count == 0 {
        return Err(QueriesError::Config("--min-count must be at least 1".into()));
    }
    Ok(())
}

fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).at_path(dir)?;
    clean_stale_temp_files(dir)?;
    Ok(())
}

/// `create_dir`, without the cleaning when other ranks may be writing into `dir` at the same time.
fn create_dir_shared(dir: &Path, shared: bool) -> Result<()> {
    if shared {
        return Ok(fs::create_dir_all(dir).at_path(dir)?);
    }
    create_dir(dir)
}

/// Shows the dump read (compressed bytes of the input, pages in the note) until dropped: a bar on
/// a terminal, plain lines elsewhere (`wit_contract::progress`).
struct ProgressLog {
    stop: Option<crossbeam_channel::Sender<()>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl ProgressLog {
    fn start(tally: std::sync::Arc<Tally>, total: u64) -> Self {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let total = (total > 0).then_some(total);
        let progress = Progress::start(Spec::bytes_of("queries build: read the dump", total));
        let handle = std::thread::spawn(move || {
            let show = || {
                progress.set_done(tally.compressed_bytes.load(Ordering::Relaxed));
                progress.note(format!("{} pages", tally.pages.load(Ordering::Relaxed)));
            };
            while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(Duration::from_millis(250))
            {
                show();
            }
            show();
            progress.finish();
        });
        ProgressLog { stop: Some(stop), handle: Some(handle) }
    }
}

impl Drop for ProgressLog {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Counts this rank's share of the inputs: the runs to merge, totals and tallies.
fn count(config: &QueriesConfig, spill: &SpillDir, stats: &mut QueriesStats) -> Result<(Vec<Run>, Totals)> {
    let threads = if config.threads == 0 {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    } else {
        config.threads
    };
    let (units, plan) = dump::plan(&config.inputs, config.unit_bytes.max(1), config.parallel_streams)?;
    stats.streams = plan.streams;
    stats.units = units.len() as u64;
    let tally = std::sync::Arc::new(Tally::default());
    let budget = (config.memory_budget / threads as u64).max(1) as usize;
    let parallel = Parallel { threads, rank: config.rank, world_size: config.world_size, batch_bytes: 4 << 20 };
    // A rank reads about its share of the bytes (units go to ranks by index).
    let progress = ProgressLog::start(tally.clone(), plan.input_bytes.div_ceil(config.world_size.max(1) as u64));
    let counters = for_each_article(
        &config.inputs,
        &units,
        &tally,
        &parallel,
        || Counter::new(budget, spill.clone()),
        |counter, page| counter.add_text(&to_plain_text(&page.text)),
    )?;
    drop(progress);
    // Each table is sorted on a thread of its own: with several workers this is otherwise a serial
    // step between counting and merging.
    let finished = std::thread::scope(|scope| {
        let sorting: Vec<_> =
            counters.into_iter().map(|counter| scope.spawn(move || (counter.spilled(), counter.finish()))).collect();
        sorting.into_iter().map(|h| h.join()).collect::<std::result::Result<Vec<_>, _>>()
    })
    .map_err(|_| QueriesError::Config("a thread sorting counts panicked".into()))?;
    let mut runs = Vec::new();
    let mut totals = Totals::default();
    for (spilled, (memory, files, t)) in finished {
        stats.spilled_runs += spilled as u64;
        totals.add(t);
        runs.push(Run::Memory(memory.into_iter()));
        for file in files {
            runs.push(Run::File(RunReader::open(&file)?));
        }
    }
    stats.pages = tally.pages.load(Ordering::Relaxed);
    stats.articles = tally.articles.load(Ordering::Relaxed) - tally.other_ranks.load(Ordering::Relaxed);
    stats.redirects = tally.redirects.load(Ordering::Relaxed);
    stats.other_namespaces = tally.other_namespaces.load(Ordering::Relaxed);
    stats.compressed_bytes = tally.compressed_bytes.load(Ordering::Relaxed);
    stats.xml_bytes = tally.xml_bytes.load(Ordering::Relaxed);
    // An empty file, or another kind of file read as XML: not a dump, not an empty dictionary. (With
    // several ranks a rank may be left no multistream unit, so only a single process can tell.)
    if stats.pages == 0 && config.world_size == 1 {
        let names: Vec<String> = config.inputs.iter().map(|i| i.path.display().to_string()).collect();
        return Err(PathError::input(
            names.join(", "),
            "no <page> element: the input is empty or not a MediaWiki pages-articles XML dump",
        )
        .into());
    }
    stats.tokens = totals.tokens;
    stats.bigram_occurrences = totals.bigrams;
    Ok((runs, totals))
}

type KeyCounts = Vec<(String, u64)>;

/// Walks the merged counts: distinct totals, and what reaches min-count.
fn collect_candidates(merged: Merged, min_count: u64, stats: &mut QueriesStats) -> Result<(KeyCounts, KeyCounts)> {
    let (mut unigrams, mut bigrams) = (Vec::new(), Vec::new());
    for entry in merged {
        let (key, count) = entry?;
        let bigram = key.contains(' ');
        if bigram {
            stats.distinct_bigrams += 1;
        } else {
            stats.distinct_unigrams += 1;
        }
        if count >= min_count {
            if bigram {
                bigrams.push((key, count));
            } else {
                unigrams.push((key, count));
            }
        }
    }
    stats.unigrams_over_min = unigrams.len() as u64;
    stats.bigrams_over_min = bigrams.len() as u64;
    Ok((unigrams, bigrams))
}

fn format_tsv(entries: &[QueryEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 24);
    out.extend_from_slice(b"id\tquery\tsource\tcount\tpmi\n");
    for e in entries {
        let pmi = e.pmi.map(|p| format!("{p:.4}")).unwrap_or_default();
        let _ = writeln!(out, "{}\t{}\t{}\t{}\t{}", e.id, e.query, e.source, e.count, pmi);
    }
    out
}

pub(crate) fn run(config: &QueriesConfig) -> Result<QueriesStats> {
    validate(config)?;
    let started = Instant::now();
    let out = config.out.as_path();
    let quotas = config.quotas.unwrap_or_else(|| Quotas::metaclip_shaped(config.size));
    let config_json = recorded_config(config, &quotas);
    if config.phase == Phase::All {
        if let Some(existing) = Manifest::load_if_present(out)? {
            if existing.complete && existing.kind == RecordKind::Queries && existing.config == config_json {
                tracing::info!(out = %out.display(), "queries output already complete with this config; nothing to do");
                let mut stats: QueriesStats = existing.stats_as(out)?;
                stats.skipped = true;
                return Ok(stats);
            }
        }
    }
    // Count ranks run at once and share OUT and OUT/counts: one rank's stale temp-file cleaning
    // would delete another's file in progress, so only a one-process run and the merge clean.
    let shared = config.phase == Phase::Count;
    create_dir_shared(out, shared)?;
    let counts_dir = out.join(COUNTS_DIR);
    let suffix = rank_suffix(config.rank, config.world_size);
    let mut stats = QueriesStats::default();

    let spill_dir = config.spill_dir.clone().unwrap_or_else(|| out.join(format!("spill-{suffix}")));
    let mut merged_config = None;
    let (runs, totals) = if config.phase == Phase::Merge {
        let mut runs = Vec::new();
        let mut totals = Totals::default();
        for rank in 0..config.world_size {
            let suffix = rank_suffix(rank, config.world_size);
            let part_path = counts_dir.join(format!("counts-{suffix}.json"));
            let text = fs::read_to_string(&part_path)
                .map_err(|e| PathError::input(&part_path, format!("{e} (has every rank finished counting?)")))?;
            let part: CountPart =
                serde_json::from_str(&text).map_err(|e| PathError::input(&part_path, e.to_string()))?;
            if without_inputs(&part.config) != without_inputs(&config_json) {
                return Err(PathError::input(&part_path, "counted with another configuration").into());
            }
            if rank == 0 {
                merged_config = Some(part.config.clone());
            }
            stats.add_counting(&part.stats);
            totals.add(Totals { tokens: part.stats.tokens, bigrams: part.stats.bigram_occurrences });
            runs.push(Run::File(RunReader::open(&counts_dir.join(format!("counts-{suffix}.run")))?));
        }
        (runs, totals)
    } else {
        create_dir(&spill_dir)?;
        let spill = SpillDir::new(&spill_dir);
        let counted = count(config, &spill, &mut stats);
        let (runs, totals) = match counted {
            Ok(counted) => counted,
            Err(e) => {
                let _ = fs::remove_dir_all(&spill_dir);
                return Err(e);
            }
        };
        tracing::info!(
            articles = stats.articles,
            tokens = stats.tokens,
            spilled_runs = stats.spilled_runs,
            seconds = started.elapsed().as_secs_f32(),
            "counted"
        );
        if config.phase == Phase::Count {
            create_dir_shared(&counts_dir, true)?;
            let summary = write_run(&counts_dir.join(format!("counts-{suffix}.run")), Merged::new(runs));
            let _ = fs::remove_dir_all(&spill_dir);
            let summary = summary?;
            stats.distinct_total = summary.entries;
            stats.seconds = started.elapsed().as_secs_f64();
            let part = CountPart {
                rank: config.rank,
                world_size: config.world_size,
                config: config_json,
                stats: stats.clone(),
            };
            let json = serde_json::to_vec_pretty(&part).map_err(|e| QueriesError::Config(e.to_string()))?;
            write_file_atomically(&counts_dir.join(format!("counts-{suffix}.json")), &json)?;
            return Ok(stats);
        }
        (runs, totals)
    };

    let collected = collect_candidates(Merged::new(runs), config.min_count, &mut stats);
    if config.phase != Phase::Merge {
        let _ = fs::remove_dir_all(&spill_dir);
    }
    let (unigrams, bigrams) = collected?;
    stats.distinct_total = stats.distinct_unigrams + stats.distinct_bigrams;

    let mut candidates = Candidates { unigrams, bigrams, tokens: totals.tokens, ..Default::default() };
    if let Some(dir) = &config.wordnet {
        let words = sources::read_wordnet(dir, config.wordnet_all_pos)?;
        stats.wordnet_synsets = words.synsets;
        stats.wordnet_words = words.words.len() as u64;
        candidates.wordnet = words.words;
    }
    if let Some(path) = &config.titles {
        let (titles, read) = sources::read_titles(path, config.title_min_views)?;
        stats.titles_read = read;
        stats.titles_kept = titles.len() as u64;
        candidates.titles = titles;
    }
    let (entries, selected) = select::select(candidates, config.size, quotas, config.fill);
    stats.selected = selected;
    stats.entries = entries.len() as u64;

    // A merge records the inputs the ranks read.
    let mut manifest = Manifest::new(RecordKind::Queries, merged_config.unwrap_or(config_json), None);
    let mut writer = ShardWriter::for_records::<QueryEntry>(out.join(QUERIES_FILE), &WriterOptions::default())?;
    writer.write_records(&entries)?;
    manifest.add_shard(writer.finish()?);
    write_file_atomically(&out.join(QUERIES_TSV), &format_tsv(&entries))?;
    stats.seconds = started.elapsed().as_secs_f64();
    manifest.stats = serde_json::to_value(&stats).unwrap_or_default();
    manifest.complete = true;
    manifest.save(out)?;
    tracing::info!(
        entries = stats.entries,
        unigrams = selected.unigram,
        bigrams = selected.bigram,
        titles = selected.title,
        wordnet = selected.wordnet,
        seconds = stats.seconds as f32,
        "wrote the query dictionary"
    );
    Ok(stats)
}

/// `wit queries text`: every article's plain text, in dump order.
pub(crate) fn text(config: &TextConfig, out: &mut dyn Write) -> Result<TextStats> {
    let input = [config.input.clone()];
    let tally = Tally::default();
    let mut stats = TextStats::default();
    let write_err = |e: std::io::Error| PathError::io(PathBuf::from("<stdout>"), e);
    let result = dump::read_unit(&input, &Unit::Whole { input: 0 }, &tally, |page| {
        if !page.is_article() || config.limit.is_some_and(|limit| stats.articles >= limit) {
            return Ok(());
        }
        stats.articles += 1;
        let plain = to_plain_text(&page.text);
        if config.titles {
            writeln!(out, "### {}", page.title).map_err(write_err)?;
        }
        out.write_all(plain.as_bytes()).map_err(write_err)?;
        out.write_all(b"\n").map_err(write_err)?;
        Ok(())
    });
    match result {
        // A closed pipe (`| head`) is the reader's choice, not an error.
        Err(QueriesError::Path(e)) if e.io_kind() == Some(std::io::ErrorKind::BrokenPipe) => {}
        other => other?,
    }
    stats.pages = tally.pages.load(Ordering::Relaxed);
    stats.redirects = tally.redirects.load(Ordering::Relaxed);
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::DumpInput;
    use crate::tokens::gensim_tokens;

    fn fixture(relative: &str) -> PathBuf {
        let path = std::path::PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
        )
        .join("../fixtures")
        .join(relative);
        assert!(path.exists(), "{} missing: run `make fixtures`", path.display());
        path
    }

    #[test]
    fn the_enwiki_excerpt_reads_like_gensim_reads_it() {
        let input = [DumpInput {
            path: fixture("enwiki/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"),
            index: None,
        }];
        let tally = Tally::default();
        let (mut total, mut long_articles) = (0usize, 0usize);
        dump::read_unit(&input, &Unit::Whole { input: 0 }, &tally, |page| {
            if page.is_article() {
                let tokens = gensim_tokens(&to_plain_text(&page.text));
                // gensim's WikiCorpus drops articles under 50 tokens.
                if tokens.len() >= 50 {
                    total += tokens.len();
                    long_articles += 1;
                }
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(tally.pages.load(Ordering::Relaxed), 206);
        assert_eq!(tally.articles.load(Ordering::Relaxed), 106);
        assert_eq!(tally.redirects.load(Ordering::Relaxed), 100);
        let gensim = 452_944f64;
        let off = (total as f64 - gensim).abs() / gensim;
        assert!(
            off < 0.05,
            "{total} tokens in {long_articles} articles, gensim 4.4.0 counts 452,944 ({:.1}% off)",
            off * 100.0
        );
    }

    #[test]
    fn wordnet_noun_head_words() {
        let words = sources::read_wordnet(&fixture("wordnet"), false).unwrap();
        assert_eq!(words.synsets, 82_115);
        assert_eq!(words.words.len(), 67_893);
        assert!(words.words.binary_search(&"physical entity".to_string()).is_ok());
        let all = sources::read_wordnet(&fixture("wordnet"), true).unwrap();
        assert_eq!(all.synsets, 117_659, "every WordNet 3.0 synset");
    }
}
