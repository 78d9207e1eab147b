//! Matcher benchmark, driven by `scripts/bench-curate.sh`.
//!
//! `bench_matcher gen DIR [QUERIES] [CAPTIONS] [SEED]` writes a deterministic synthetic dictionary
//! (`queries.txt`: unigrams, bigrams and 3-word titles over a Zipf vocabulary of pseudo-words) and
//! captions (`captions.txt`, one per line, with MetaCLIP's punctuation, brackets and possessives
//! mixed in). `bench_matcher run DIR nfa|dfa|daac|tokens [SAMPLE]` builds the automaton over the dictionary,
//! matches every caption on one thread and on all threads (MetaCLIP mode), and prints one JSON line:
//! build time, automaton heap, peak RSS, captions/s, and the total matches over the first SAMPLE
//! captions (to cross-check the Python run on the same sample).

use std::collections::HashSet;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use wit_curate::{AutomatonKind, MatchMode, Matcher, MatcherOptions, Scratch};
use xxhash_rust::xxh3::xxh3_64_with_seed;

const SYLLABLES: [&str; 40] = [
    "ba", "ke", "li", "mo", "nu", "ra", "se", "ti", "vo", "zu", "da", "fe", "gi", "ho", "ju", "la", "me", "ni", "po",
    "qu", "sa", "te", "vi", "wo", "xu", "ya", "ze", "ka", "ro", "mi", "an", "el", "in", "or", "us", "ch", "st", "tr",
    "pl", "gr",
];

/// A small deterministic generator (xxh3 of a counter).
struct Rng {
    seed: u64,
    n: u64,
}

impl Rng {
    fn next(&mut self) -> u64 {
        self.n += 1;
        xxh3_64_with_seed(&self.n.to_le_bytes(), self.seed)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// A Zipf-like rank in 0..n (density ∝ 1/x).
    fn zipf(&mut self, n: usize) -> usize {
        ((n as f64).powf(self.unit()) as usize).clamp(1, n) - 1
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn word(rank: usize) -> String {
    // Distinct ranks give distinct words: base-40 digits, at least two syllables.
    let mut n = rank + 40;
    let mut w = String::new();
    while n > 0 {
        w.push_str(SYLLABLES[n % 40]);
        n /= 40;
    }
    if rank % 23 == 5 {
        // Some capitalised words, as names are.
        let mut c = w.chars();
        let first = c.next().map(|f| f.to_ascii_uppercase()).unwrap_or('X');
        w = std::iter::once(first).chain(c).collect();
    }
    w
}

const VOCABULARY: usize = 600_000;

fn generate(dir: &Path, num_queries: usize, num_captions: usize, seed: u64) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut rng = Rng { seed, n: 0 };
    let mut queries: Vec<String> = Vec::with_capacity(num_queries);
    let mut seen = HashSet::new();
    let unigrams = num_queries * 55 / 100;
    for rank in 0..unigrams {
        let w = word(rank);
        if seen.insert(w.clone()) {
            queries.push(w);
        }
    }
    let mut bigrams = Vec::new();
    let mut titles = Vec::new();
    while queries.len() < num_queries {
        let phrase = if rng.below(8) == 0 {
            format!("{} {} {}", word(rng.zipf(VOCABULARY)), word(rng.zipf(VOCABULARY)), word(rng.zipf(VOCABULARY)))
        } else {
            format!("{} {}", word(rng.zipf(20_000)), word(rng.zipf(VOCABULARY)))
        };
        if seen.insert(phrase.clone()) {
            if phrase.matches(' ').count() == 2 {
                titles.push(queries.len());
            } else {
                bigrams.push(queries.len());
            }
            queries.push(phrase);
        }
    }
    let mut out = BufWriter::new(fs::File::create(dir.join("queries.txt"))?);
    for q in &queries {
        writeln!(out, "{q}")?;
    }
    out.flush()?;

    let mut out = BufWriter::new(fs::File::create(dir.join("captions.txt"))?);
    let punct = [",", ".", "!", "?", ":", ";"];
    for _ in 0..num_captions {
        let len = 4 + rng.below(11);
        let mut caption = String::new();
        for i in 0..len {
            if i > 0 {
                caption.push(if rng.below(50) == 0 { '\t' } else { ' ' });
            }
            let roll = rng.below(100);
            let token = if roll < 12 && !bigrams.is_empty() {
                queries[bigrams[rng.below(bigrams.len())]].clone()
            } else if roll < 14 && !titles.is_empty() {
                queries[titles[rng.below(titles.len())]].clone()
            } else {
                word(rng.zipf(VOCABULARY))
            };
            match rng.below(40) {
                0 => caption.push_str(&format!("({token})")),
                1 => caption.push_str(&format!("{token}'s")),
                2 => caption.push_str(&format!("{token}-like")),
                _ => caption.push_str(&token),
            }
            if rng.below(10) == 0 {
                caption.push_str(punct[rng.below(punct.len())]);
            }
        }
        writeln!(out, "{caption}")?;
    }
    out.flush()
}

fn peak_rss_mb() -> f64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Seconds this thread has run on a CPU (Linux's schedstat, nanoseconds); NaN elsewhere. On a
/// shared machine this, not wall time, is what one core's rate is measured by.
fn thread_cpu_s() -> f64 {
    fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|ns| ns.parse::<f64>().ok()))
        .map(|ns| ns / 1e9)
        .unwrap_or(f64::NAN)
}

fn run(dir: &Path, options: MatcherOptions, sample: usize, max_queries: usize) -> std::io::Result<()> {
    let queries_text = fs::read_to_string(dir.join("queries.txt"))?;
    let captions_text = fs::read_to_string(dir.join("captions.txt"))?;
    let queries: Vec<&str> = queries_text.lines().take(max_queries).collect();
    let captions: Vec<&str> = captions_text.lines().collect();
    let rss_before = peak_rss_mb();

    let t = Instant::now();
    let matcher =
        Matcher::with_options(queries.iter().copied(), MatchMode::Metaclip, &options).map_err(std::io::Error::other)?;
    let build_s = t.elapsed().as_secs_f64();
    let rss_after_build = peak_rss_mb();

    let mut scratch = Scratch::default();
    let sample_matches: usize = captions.iter().take(sample).map(|c| matcher.find(c, &mut scratch).len()).sum();

    let t = Instant::now();
    let cpu = thread_cpu_s();
    let mut matches = 0usize;
    for c in &captions {
        matches += matcher.find(c, &mut scratch).len();
    }
    let one_cpu_s = thread_cpu_s() - cpu;
    let one_s = t.elapsed().as_secs_f64();

    let threads = rayon::current_num_threads();
    let t = Instant::now();
    let all_matches: usize = captions
        .par_chunks(1024)
        .map_init(Scratch::default, |scratch, chunk| {
            chunk.iter().map(|c| matcher.find(c, scratch).len()).sum::<usize>()
        })
        .sum();
    let all_s = t.elapsed().as_secs_f64();
    assert_eq!(matches, all_matches);

    let bytes: usize = captions.iter().map(|c| c.len()).sum();
    println!(
        "{}",
        serde_json::json!({
            "tool": "wit",
            "kind": format!("{:?}", matcher.automaton_kind()),
            "queries": queries.len(),
            "captions": captions.len(),
            "caption_bytes_mean": bytes as f64 / captions.len().max(1) as f64,
            "build_s": build_s,
            "automaton_mb": matcher.memory_usage() as f64 / (1 << 20) as f64,
            "rss_build_delta_mb": rss_after_build - rss_before,
            "peak_rss_mb": peak_rss_mb(),
            "rate_1t": captions.len() as f64 / one_s,
            "rate_1t_cpu": captions.len() as f64 / one_cpu_s,
            "threads": threads,
            "rate_all": captions.len() as f64 / all_s,
            "matches_per_caption": matches as f64 / captions.len().max(1) as f64,
            "sample": sample.min(captions.len()),
            "sample_matches": sample_matches,
        })
    );
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: bench_matcher gen DIR [QUERIES] [CAPTIONS] [SEED] | run DIR nfa|dfa|daac|tokens [SAMPLE] [MAX_QUERIES] [DENSE_DEPTH]";
    let arg = |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("gen"), Some(dir)) => generate(Path::new(dir), arg(3, 460_000), arg(4, 1_000_000), arg(5, 1) as u64),
        (Some("run"), Some(dir)) => {
            let kind = match args.get(3).map(String::as_str) {
                Some("dfa") => AutomatonKind::Dfa,
                Some("daac") => AutomatonKind::DoubleArray,
                Some("tokens") => AutomatonKind::TokenTrie,
                _ => AutomatonKind::ContiguousNfa,
            };
            let options = MatcherOptions { kind, dense_depth: arg(6, MatcherOptions::default().dense_depth) };
            run(Path::new(dir), options, arg(4, 100_000), arg(5, usize::MAX))
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2)
        }
    }
}
