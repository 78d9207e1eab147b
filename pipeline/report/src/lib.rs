//! wit-report: per-query balance reports of a build, for people to read and trust.
//!
//! One door: [`report`] with [`ReportOptions`]. It finds the stage folders ([`inputs`]: a `wit
//! build` folder, or one stage folder and the folders its manifest config names), reads the
//! dictionary, curate's per-query table and the corpus and failure shards ([`load`]), and writes:
//!
//! ```text
//! OUT/report.json          everything: stage totals, drop-off, measures, top/bottom, sources, trust, per-query table
//! OUT/queries.parquet      the per-query table (id, query, source, dictionary_count, pmi, matched, kept, corpus, failed)
//! OUT/report.html          one self-contained page: inline SVG charts, sortable/filterable query table
//! OUT/query-SLUG-HASH.html one page per --query: counts, sample captions, thumbnails as data: URIs
//! ```
//! The terminal summary is [`text::render_text`] of the returned [`Report`]. Its Trust section
//! ([`trust`]) says what the build left out and why: opt-outs, takedowns, near duplicates and
//! decontamination, from the manifests and side tables of the folders [`inputs`] finds.
//!
//! Measures ([`measures`]) are over the queries that matched at least one candidate (every query
//! when the build has no curate output); a pair holding k queries counts once for each.

pub mod charts;
pub mod compare;
pub mod error;
pub mod html;
pub mod inputs;
pub mod load;
pub mod measures;
pub mod summary;
pub mod table;
pub mod text;
pub mod thumbs;
pub mod trust;

use std::fs;
use std::path::{Path, PathBuf};

pub use compare::Comparison;
pub use error::{ReportError, Result};
pub use inputs::{locate, Located, Overrides};
pub use measures::Distribution;
pub use summary::Report;
pub use table::{Column, QueryRow};
pub use text::render_text;
use wit_contract::AtPath;

/// File names inside the output folder.
pub const JSON_FILE: &str = "report.json";
pub const PARQUET_FILE: &str = "queries.parquet";
pub const HTML_FILE: &str = "report.html";

/// What to report on and where to write it.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// A `wit build` folder or one stage folder.
    pub input: PathBuf,
    /// Explicit stage folders, overriding what `input` leads to.
    pub overrides: Overrides,
    /// Another build to compare with (`--against`).
    pub against: Option<PathBuf>,
    /// Output folder; None: `INPUT/report` for a build folder, `INPUT-report` beside a stage folder.
    pub out: Option<PathBuf>,
    /// Queries to write a page of samples for (`--query`).
    pub queries_of_interest: Vec<String>,
    /// Rows of the top-N / bottom-N lists and of the name lists.
    pub top: usize,
    /// Sample pairs per query page.
    pub samples: usize,
    /// Thumbnail size in pixels (the longer side).
    pub thumbnail_size: u32,
    /// Rows of the HTML query and difference tables (the JSON and Parquet hold every query).
    pub html_rows: usize,
    /// The cap to measure against when the build has no curate output to say it.
    pub cap: Option<u64>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            input: PathBuf::new(),
            overrides: Overrides::default(),
            against: None,
            out: None,
            queries_of_interest: Vec::new(),
            top: 10,
            samples: 24,
            thumbnail_size: 160,
            html_rows: 5000,
            cap: None,
        }
    }
}

/// What [`report`] wrote, and the report itself.
#[derive(Debug, Clone)]
pub struct ReportOutcome {
    pub report: Report,
    pub out: PathBuf,
    pub json: PathBuf,
    pub parquet: PathBuf,
    pub html: PathBuf,
    pub query_pages: Vec<PathBuf>,
}

/// The default output folder for `input`.
pub fn default_out(input: &Path) -> PathBuf {
    if wit_contract::Manifest::path_in(input).is_file() {
        let input = input.canonicalize().unwrap_or_else(|_| input.to_path_buf());
        let name = input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "stage".into());
        input.with_file_name(format!("{name}-report"))
    } else {
        input.join("report")
    }
}

/// The report of one build, without writing anything.
pub fn build_report(options: &ReportOptions) -> Result<Report> {
    let located = locate(&options.input, &options.overrides)?;
    tracing::info!(
        queries = ?located.queries, curated = ?located.curated, corpus = ?located.corpus,
        "reading the build"
    );
    let loaded = load::load(&located)?;
    let mut report = summary::build(loaded, &options.input.display().to_string(), options.top, options.cap);
    report.trust = trust::read(&located, options.top, options.thumbnail_size)?;
    if let Some(note) = report.trust.takedowns.as_ref().and_then(trust::Takedowns::funnel_note) {
        report.notes.push(note);
    }

    if !options.queries_of_interest.is_empty() {
        let find = |query: &str| {
            report
                .queries
                .iter()
                .find(|r| r.query == query)
                .or_else(|| report.queries.iter().find(|r| r.query.to_lowercase() == query.to_lowercase()))
                .cloned()
        };
        let rows: Vec<(String, Option<QueryRow>)> =
            options.queries_of_interest.iter().map(|q| (q.clone(), find(q))).collect();
        let ids: Vec<u32> = rows.iter().filter_map(|(_, r)| r.as_ref().map(|r| r.id)).collect();
        let mut samples = load::samples(&located, &ids, options.samples, options.thumbnail_size)?;
        let samples_from = match (&located.corpus, &located.curated) {
            (Some(_), _) => Some("corpus".to_owned()),
            (None, Some(_)) => Some("curated".to_owned()),
            _ => None,
        };
        for (query, row) in rows {
            let samples = row.as_ref().and_then(|r| samples.remove(&r.id)).unwrap_or_default();
            report.query_pages.push(summary::QueryPage {
                file: html::query_page_file(&query),
                query,
                row,
                samples_from: samples_from.clone(),
                samples,
            });
        }
    }

    if let Some(other) = &options.against {
        let other_located = locate(other, &Overrides::default())?;
        let other_loaded = load::load(&other_located)?;
        let other_report = summary::build(other_loaded, &other.display().to_string(), options.top, options.cap);
        report.against = Some(compare::compare(
            &report.queries,
            &other_report.queries,
            &other.display().to_string(),
            report.distributions.clone(),
            other_report.distributions,
        ));
    }
    Ok(report)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(wit_contract::write_file_atomically(path, bytes)?)
}

/// Builds the report of `options.input` and writes its JSON, Parquet and HTML files.
pub fn report(options: &ReportOptions) -> Result<ReportOutcome> {
    let report = build_report(options)?;
    let out = options.out.clone().unwrap_or_else(|| default_out(&options.input));
    fs::create_dir_all(&out).at_path(&out)?;
    wit_contract::clean_stale_temp_files(&out)?;

    let json_path = out.join(JSON_FILE);
    let mut json =
        serde_json::to_vec_pretty(&report).map_err(|e| ReportError::Json { path: json_path.clone(), source: e })?;
    json.push(b'\n');
    write(&json_path, &json)?;
    let parquet_path = out.join(PARQUET_FILE);
    table::write_parquet(&parquet_path, &report.queries)?;
    let html_path = out.join(HTML_FILE);
    write(&html_path, html::render(&report, options.html_rows).as_bytes())?;
    let mut query_pages = Vec::new();
    for page in &report.query_pages {
        let path = out.join(&page.file);
        write(&path, html::render_query_page(&report, page).as_bytes())?;
        query_pages.push(path);
    }
    tracing::info!(out = %out.display(), queries = report.queries.len(), "wrote the report");
    Ok(ReportOutcome { report, out, json: json_path, parquet: parquet_path, html: html_path, query_pages })
}
