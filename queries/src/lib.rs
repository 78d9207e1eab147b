//! wit-queries: the query dictionary from a Wikipedia dump — the first stage of the CLIP/WIT recipe.
//!
//! One door: [`build`] with a [`QueriesConfig`] (and [`write_text`] for inspecting what is counted).
//! The pipeline, module by module:
//!
//! - [`dump`] plans the work ([`bz2`] finds the streams of a multistream dump from its index or by
//!   scanning) and reads pages on worker threads; [`pages`] parses `<page>` elements with quick-xml;
//! - [`wikitext`] turns wikitext into plain text;
//! - [`tokens`] splits it into case-kept tokens and sentence-bounded bigrams;
//! - [`counts`] counts exactly under a memory budget (sorted spill runs, k-way merge);
//! - [`sources`] reads WordNet and title lists; [`select`] ranks, applies quotas, dedupes, ids.
//!
//! # Output folder
//! ```text
//! OUT/_manifest.json         kind `queries`: config, stats (pages, redirects, tokens, distinct…), complete
//! OUT/data/queries.parquet   QueryEntry rows (id, query, source, count, pmi), ids in byte order of query
//! OUT/_queries.tsv           the same, for people
//! OUT/_counts/               per-rank count runs of a multi-rank run (below)
//! ```
//! # Ranks
//! [`Phase::Count`] on each rank counts its share (stream groups `i % N == R` of multistream dumps,
//! else articles by ordinal) into `OUT/_counts/counts-RRRRR-of-NNNNN.{run,json}`; [`Phase::Merge`]
//! once merges all N runs and selects. [`Phase::All`] does both in one process.

pub mod bz2;
pub mod counts;
pub mod dump;
pub mod error;
pub mod pages;
pub mod select;
pub mod sources;
mod stage;
pub mod tokens;
pub mod wikitext;

use std::io::Write;
use std::path::PathBuf;

pub use dump::DumpInput;
pub use error::{QueriesError, Result};
pub use select::{Quotas, Selected};
pub use stage::{QUERIES_FILE, QUERIES_TSV};

/// Which part of a (possibly multi-rank) run to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Count, merge and select in one process (world size 1).
    #[default]
    All,
    /// Count this rank's share into OUT/counts/.
    Count,
    /// Merge every rank's counts and select.
    Merge,
}

/// Everything a `wit queries build` run needs.
#[derive(Debug, Clone)]
pub struct QueriesConfig {
    pub inputs: Vec<DumpInput>,
    pub out: PathBuf,
    /// Unigrams and bigrams need at least this many occurrences.
    pub min_count: u64,
    /// Most entries in the dictionary.
    pub size: u64,
    /// Per-source quotas; `None`: MetaCLIP's mix scaled to `size`.
    pub quotas: Option<Quotas>,
    /// Give room a source leaves unused to the others (see [`select`]).
    pub fill: bool,
    /// A WordNet 3.x dict folder (data.noun, …).
    pub wordnet: Option<PathBuf>,
    /// Also verbs, adjectives and adverbs (default: noun synsets only).
    pub wordnet_all_pos: bool,
    /// A titles list (`TITLE` or `TITLE<TAB>VIEWS` per line).
    pub titles: Option<PathBuf>,
    pub title_min_views: Option<u64>,
    /// Bytes the count tables may hold (all workers together) before spilling to disk.
    pub memory_budget: u64,
    /// Where spill runs go (default `OUT/spill-RRRRR-of-NNNNN`, removed at the end).
    pub spill_dir: Option<PathBuf>,
    /// Worker threads; 0 = one per core.
    pub threads: usize,
    pub rank: usize,
    pub world_size: usize,
    pub phase: Phase,
    /// Decode the streams of multistream dumps in parallel.
    pub parallel_streams: bool,
    /// Compressed bytes per unit of work in a multistream dump.
    pub unit_bytes: u64,
}

impl Default for QueriesConfig {
    fn default() -> Self {
        QueriesConfig {
            inputs: Vec::new(),
            out: PathBuf::new(),
            min_count: 100,
            size: select::METACLIP_SIZE,
            quotas: None,
            fill: true,
            wordnet: None,
            wordnet_all_pos: false,
            titles: None,
            title_min_views: None,
            memory_budget: 2 << 30,
            spill_dir: None,
            threads: 0,
            rank: 0,
            world_size: 1,
            phase: Phase::All,
            parallel_streams: true,
            unit_bytes: 4 << 20,
        }
    }
}

/// What a run did (also the manifest's `stats`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QueriesStats {
    /// Pages read (all namespaces).
    pub pages: u64,
    /// Namespace-0 non-redirect pages counted (by this rank).
    pub articles: u64,
    /// Redirect pages skipped (any namespace).
    pub redirects: u64,
    /// Non-redirect pages outside namespace 0, skipped.
    pub other_namespaces: u64,
    pub compressed_bytes: u64,
    pub xml_bytes: u64,
    /// bzip2 streams of multistream inputs, and units of work.
    pub streams: u64,
    pub units: u64,
    /// Token occurrences (N of the PMI formula) and bigram occurrences.
    pub tokens: u64,
    pub bigram_occurrences: u64,
    pub distinct_unigrams: u64,
    pub distinct_bigrams: u64,
    /// Distinct keys (unigrams + bigrams) in this run's counts.
    pub distinct_total: u64,
    pub unigrams_over_min: u64,
    pub bigrams_over_min: u64,
    /// Count tables written to disk because they outgrew the memory budget.
    pub spilled_runs: u64,
    pub wordnet_synsets: u64,
    pub wordnet_words: u64,
    pub titles_read: u64,
    pub titles_kept: u64,
    pub selected: Selected,
    pub entries: u64,
    pub seconds: f64,
    /// The run found a complete output with the same config and did nothing.
    #[serde(default)]
    pub skipped: bool,
}

impl QueriesStats {
    fn add_counting(&mut self, other: &QueriesStats) {
        self.pages += other.pages;
        self.articles += other.articles;
        self.redirects += other.redirects;
        self.other_namespaces += other.other_namespaces;
        self.compressed_bytes += other.compressed_bytes;
        self.xml_bytes += other.xml_bytes;
        self.streams = self.streams.max(other.streams);
        self.units = self.units.max(other.units);
        self.tokens += other.tokens;
        self.bigram_occurrences += other.bigram_occurrences;
        self.spilled_runs += other.spilled_runs;
    }
}

/// The steps of a dictionary build at world size `world_size`, for the build planner.
pub fn steps(world_size: usize) -> Vec<wit_ranks::StepDecl> {
    use wit_ranks::steps::DoneMark;
    use wit_ranks::{Reads, StepDecl, Width};
    let manifest = DoneMark::Manifest(String::new());
    if world_size == 1 {
        return wit_ranks::steps::one_process("count the dump and select");
    }
    vec![
        StepDecl {
            phase: Some("count"),
            width: Width::Ranks,
            reads: Reads::Rows,
            done: DoneMark::File("_counts/counts-{rank}.json".into()),
            what: "count n-grams of every N-th stream or article",
        },
        StepDecl {
            phase: Some("merge"),
            width: Width::One,
            reads: Reads::Entries,
            done: manifest,
            what: "merge the ranks' sorted count tables (size of the vocabulary, not of the dump) and select",
        },
    ]
}

/// Builds the query dictionary (or one phase of a multi-rank build) as `config` says.
pub fn build(config: &QueriesConfig) -> Result<QueriesStats> {
    stage::run(config)
}

/// What `wit queries text` prints.
#[derive(Debug, Clone)]
pub struct TextConfig {
    pub input: DumpInput,
    /// Stop after this many articles.
    pub limit: Option<u64>,
    /// Print `### TITLE` before each article.
    pub titles: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextStats {
    pub pages: u64,
    pub redirects: u64,
    pub articles: u64,
}

/// Writes the plain text of every article of a dump to `out`, one article after another
/// (paragraphs on their own lines, a blank line between articles).
pub fn write_text(config: &TextConfig, out: &mut dyn Write) -> Result<TextStats> {
    stage::text(config, out)
}
