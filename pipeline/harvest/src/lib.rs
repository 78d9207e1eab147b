//! wit-harvest: candidate (image URL, text, page URL) pairs from crawl data — Common Crawl WAT
//! and WARC files and img2dataset-style URL lists — cleaned, language-tagged, deduplicated and
//! written as a `candidates` folder that `wit curate` reads.
//!
//! One door: [`harvest`] with a [`HarvestConfig`]; the seed crawler ([`crawl()`], module [`crawl`])
//! fetches pages politely through wit-net, archives them as WARC and harvests that. The parts a
//! crawler or the fetch stage reuse are public: [`html::extract_html`] (pairs and links of a page), [`text::clean_text`],
//! [`lang::LanguageFilter`], [`wit_lists::open`], [`warc::WarcReader`] and [`wat::extract_wat`].
//!
//! # Output folder
//! ```text
//! OUT/_manifest.json         kind `candidates`; config; stats with one entry per input
//! OUT/shard-NNNNN.parquet    Candidate rows of input NNNNN (its index in the expanded input list)
//! OUT/data/rank-RRRRR-of-NNNNN-…   a multi-rank run's shards, where its ranks wrote them (below)
//! OUT/_buckets/ _drops/ _steps/    a multi-rank run's shuffle files and completion markers
//! ```
//! Inputs that yield no pair have no shard. Rows are deduplicated on [`wit_contract::pair_key`]
//! (xxh3 of url NUL text): within an input while it is read, then across inputs in input order,
//! so the first input holding a pair keeps it and the output does not depend on thread timing.
//!
//! # Ranks
//! With `--world-size N` ([`steps`] declares them for the planner): [`Phase::Harvest`] on rank R
//! reads every N-th input (starting at R) into `OUT/data/rank-R-of-N-…` and sends each row's key
//! to one of N buckets; [`Phase::Dedup`] on bucket rank B finds the later duplicates of bucket B;
//! [`Phase::Apply`] on rank R drops them from its own shards; [`Phase::Merge`] lists every rank's
//! shards in `OUT/_manifest.json` without reading a row. No step holds every key: the sorts spill
//! within `memory_budget`. [`Phase::All`] does it all in one process (see the `dedup` module).
//!
//! # Resume
//! A complete output made with the same configuration is left alone. An interrupted one resumes:
//! the manifest lists each finished input with its shard, and only the others are read again.

pub mod crawl;
pub mod error;
pub mod gzip;
pub mod html;
pub mod http;
pub mod lang;
pub mod language_decision;
pub mod opt_out;
pub mod text;
pub mod warc;
pub mod wat;

mod dedup;
mod inputs;
mod reading;
mod stage;

use std::collections::BTreeMap;
use std::path::PathBuf;
use wit_lists::UrlListOptions;

pub use crawl::{crawl, CrawlConfig, CrawlStats};
pub use dedup::{STEP_APPLY, STEP_DEDUP, STEP_SEND};
pub use error::{HarvestError, Result};
pub use html::{extract_html, HtmlOptions, ImageText, PageExtract, TextOrigin};
pub use lang::{detect_language, Detected, LangReject, LanguageFilter};
pub use language_decision::{DecisionMode, LangSource, LanguageRule, PageEvidence, PageLanguage};
pub use text::{clean_text, DropReason, TextRules};

/// Which part of a (possibly multi-rank) run to do; see the crate docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Harvest and deduplicate in one process (world size 1).
    #[default]
    All,
    /// Harvest this rank's inputs into `OUT/data/rank-R-of-N-…`, then send every row's key to
    /// its bucket (`OUT/_buckets/`).
    Harvest,
    /// Bucket rank R: find the later duplicates among the keys of bucket R of every rank.
    Dedup,
    /// Rank R: drop the duplicates the buckets found from its own shards (rewritten in place).
    Apply,
    /// List every rank's shards in `OUT/_manifest.json` (metadata only: no row is read or copied).
    Merge,
}

/// The steps of a harvest at world size `world_size`, for the build planner.
pub fn steps(world_size: usize) -> Vec<wit_ranks::StepDecl> {
    use wit_ranks::steps::{dedup_waves, one_process, DedupSteps};
    if world_size == 1 {
        return one_process("harvest and deduplicate");
    }
    dedup_waves(DedupSteps {
        phase: "harvest",
        markers: [dedup::STEP_SEND, dedup::STEP_DEDUP, dedup::STEP_APPLY],
        what: [
            "read every N-th input; send each row's key to its bucket",
            "find later duplicate keys in one bucket (external sort)",
            "drop the rank's duplicates from its own shards",
            "list every rank's shards in one manifest",
        ],
    })
}

/// Everything a harvest run needs.
#[derive(Debug, Clone)]
pub struct HarvestConfig {
    /// Files (WARC, WAT, URL lists) or folders of them.
    pub inputs: Vec<PathBuf>,
    pub out: PathBuf,
    pub text: TextRules,
    /// Allowed languages (ISO 639-1/3 codes or English names); empty or `any`: all.
    pub languages: Vec<String>,
    pub min_lang_confidence: f32,
    /// How each pair's language is decided from its caption and its page (see
    /// [`language_decision`]); `languages` and `min_lang_confidence` filter the decision.
    pub language_rule: LanguageRule,
    /// Columns of URL lists. The caption column defaults to `caption` here (rows need a text).
    pub list: UrlListOptions,
    /// WARC records with a larger block are skipped.
    pub max_record_bytes: u64,
    pub rank: usize,
    pub world_size: usize,
    pub phase: Phase,
    /// Worker threads; 0: one per core.
    pub threads: usize,
    /// An input that cannot be read to its end (truncated or corrupt stream, unreadable file) is
    /// recorded as failed, with its error, and the run goes on; otherwise the run stops with that
    /// error. Pairs read from it before the fault are not kept (an input is all or nothing).
    pub skip_bad_inputs: bool,
    /// Memory for the dedup sorts (bytes); beyond it they spill sorted runs to disk.
    pub memory_budget: u64,
    /// Set on SIGINT/SIGTERM: inputs being read are abandoned (their shards not published), the
    /// finished ones stay committed, and the run returns [`HarvestError::Interrupted`].
    pub cancel: wit_contract::Cancel,
    /// Page-level opt-out directives that drop a page's pairs (see [`opt_out`]); empty: none do.
    pub page_opt_out_directives: Vec<String>,
    /// The build's takedowns (`wit remove`): pairs it blocks are left out, counted as `blocklisted`.
    pub blocklist: std::sync::Arc<wit_contract::Blocklist>,
}

impl Default for HarvestConfig {
    fn default() -> Self {
        HarvestConfig {
            inputs: Vec::new(),
            out: PathBuf::new(),
            text: TextRules::default(),
            languages: vec!["en".into()],
            min_lang_confidence: 0.0,
            language_rule: LanguageRule::default(),
            list: UrlListOptions { caption_col: Some("caption".into()), ..Default::default() },
            max_record_bytes: 64 << 20,
            rank: 0,
            world_size: 1,
            phase: Phase::All,
            threads: 0,
            skip_bad_inputs: false,
            memory_budget: wit_ranks::DEFAULT_MEMORY_BUDGET,
            cancel: wit_contract::Cancel::never(),
            page_opt_out_directives: opt_out::DEFAULT_PAGE_OPT_OUT_DIRECTIVES.iter().map(|d| d.to_string()).collect(),
            blocklist: Default::default(),
        }
    }
}

/// What one input gave.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InputStats {
    pub path: String,
    /// `warc`, `wat` or the list format.
    pub format: String,
    /// Its shard in the output folder, when it yielded pairs.
    pub shard: Option<String>,
    /// Size of the file as stored.
    pub bytes: u64,
    /// WARC records or list rows read.
    pub records: u64,
    /// HTML pages or WAT page records the pairs came from.
    pub pages: u64,
    /// Image-text pairs found before cleaning and filtering.
    pub pairs_found: u64,
    /// Pairs written.
    pub pairs_out: u64,
    /// Records and pairs left out, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Pairs the language filter left out, by the language decided for them (`und`: none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lang_dropped: BTreeMap<String, u64>,
    /// Pairs the language filter kept, by where their language came from (`caption`, `script`,
    /// `page`, `caption_only`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lang_sources: BTreeMap<String, u64>,
    pub seconds: f64,
    /// Why the input could not be read (`skip_bad_inputs`); it then gave nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a run did (also the output manifest's `stats`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HarvestStats {
    /// Inputs this run (or rank) covered.
    pub inputs: u64,
    pub bytes: u64,
    pub records: u64,
    pub pages: u64,
    pub pairs_found: u64,
    pub pairs_out: u64,
    pub shards: u64,
    /// Totals over the inputs, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Totals of [`InputStats::lang_dropped`]: pairs left out for their language, by language.
    #[serde(default)]
    pub lang_dropped: BTreeMap<String, u64>,
    /// Totals of [`InputStats::lang_sources`].
    #[serde(default)]
    pub lang_sources: BTreeMap<String, u64>,
    /// Inputs that could not be read and were skipped (`skip_bad_inputs`; see `per_input`).
    #[serde(default)]
    pub inputs_failed: u64,
    pub per_input: Vec<InputStats>,
    pub seconds: f64,
    /// The run found a complete output with the same config and did nothing.
    #[serde(default)]
    pub already_complete: bool,
    /// Cross-input duplicates are removed (set by the dedup pass; a rank folder without it has not
    /// been through `--phase apply`).
    #[serde(default)]
    pub deduplicated: bool,
}

/// The configuration a run with `config` records in its output manifest (a rank's folder: with the
/// rank). Tools that write candidate shards themselves (the scale benchmark) list them under it.
pub fn recorded_config(config: &HarvestConfig) -> Result<serde_json::Value> {
    stage::recorded(config)
}

/// Runs the harvest stage (or one phase of it) as `config` says.
pub fn harvest(config: &HarvestConfig) -> Result<HarvestStats> {
    stage::run(config)
}
