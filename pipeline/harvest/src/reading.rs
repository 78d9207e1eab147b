//! One input read into candidate rows: WARC records dispatched by type (HTML pages, WAT metadata),
//! URL-list rows, each pair cleaned, language-checked, keyed and deduplicated within the input by
//! the [`Collector`], and written to the input's shard by [`Output`].

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use url::Url;
use wit_contract::{
    pair_key, recorded_path, Candidate, HarvestedCandidate, Provenance, ShardInfo, ShardWriter, WriterOptions,
};

use crate::error::Result;
use crate::html::{extract_html, HtmlOptions, ImageText};
use crate::http::{media_type, parse_response};
use crate::inputs::{detect_kind, InputKind};
use crate::lang::LanguageFilter;
use crate::language_decision::{self, PageEvidence, PageLanguage};
use crate::opt_out::PageSignals;
use crate::text::clean_text;
use crate::warc::{WarcItem, WarcLimits, WarcReader, WarcRecord};
use crate::wat::extract_wat;
use crate::{HarvestConfig, InputStats};
use wit_contract::{AtPath, PathError};
use wit_lists::{self as url_list, ListFormat, UrlListOptions};

/// Candidates buffered per input before they are written.
const FLUSH_ROWS: usize = 8192;

/// Turns raw pairs into candidates: cleaning, language, key, within-input dedup; counts drops.
pub(crate) struct Collector<'a> {
    config: &'a HarvestConfig,
    filter: &'a LanguageFilter,
    stats: InputStats,
    seen: HashSet<u64>,
    buffer: Vec<HarvestedCandidate>,
}

impl Collector<'_> {
    pub(crate) fn skip(&mut self, reason: &str, n: u64) {
        if n > 0 {
            *self.stats.skipped.entry(reason.to_owned()).or_default() += n;
        }
    }

    pub(crate) fn offer(
        &mut self,
        url: &str,
        raw_text: &str,
        page_url: Option<&str>,
        page: Option<&PageLanguage>,
        source: &str,
        provenance: &Provenance,
    ) {
        self.stats.pairs_found += 1;
        let text = match clean_text(raw_text, &self.config.text) {
            Ok(text) => text,
            Err(reason) => return self.skip(reason.name(), 1),
        };
        let decision = match language_decision::judge(&self.config.language_rule, self.filter, &text, page) {
            Ok(decision) => decision,
            Err(rejected) => {
                *self.stats.lang_dropped.entry(rejected.lang).or_default() += 1;
                return self.skip(rejected.reason.name(), 1);
            }
        };
        let key = pair_key(url, &text);
        if self.config.blocklist.blocks_pair(&key, url).is_some() {
            return self.skip("blocklisted", 1);
        }
        let hash = u64::from_str_radix(&key, 16).unwrap_or_default();
        if !self.seen.insert(hash) {
            return self.skip("duplicate", 1);
        }
        *self.stats.lang_sources.entry(decision.source.name().to_owned()).or_default() += 1;
        let candidate = Candidate {
            key,
            url: url.to_owned(),
            caption: text,
            page_url: page_url.map(str::to_owned),
            source: source.to_owned(),
            lang: decision.lang.clone(),
            lang_conf: decision.confidence,
            provenance: provenance.clone(),
        };
        self.buffer.push(HarvestedCandidate { candidate, language: decision.columns(page) });
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn offer_all(
        &mut self,
        pairs: &[ImageText],
        page_url: Option<&str>,
        evidence: &PageEvidence,
        opt_out: &PageSignals,
        source: &str,
        record: &WarcRecord,
    ) {
        if pairs.is_empty() {
            return;
        }
        if let Some(directive) = opt_out.dropped_by(&self.config.page_opt_out_directives) {
            self.stats.pairs_found += pairs.len() as u64;
            return self.skip(&format!("page_opt_out:{directive}"), pairs.len() as u64);
        }
        let page = evidence.language(&self.config.language_rule);
        let provenance = Provenance {
            file: Some(self.stats.path.clone()),
            offset: Some(record.stored_offset),
            record_id: record.record_id().map(str::to_owned),
            row: None,
            page_opt_out: Some(opt_out.column()),
        };
        for pair in pairs {
            self.offer(&pair.url, &pair.text, page_url, page.as_ref(), source, &provenance);
        }
    }
}

/// Writes a collector's buffer into a shard opened on first use.
pub(crate) struct Output {
    path: PathBuf,
    writer: Option<ShardWriter>,
}

impl Output {
    pub(crate) fn flush(&mut self, collector: &mut Collector<'_>, force: bool) -> Result<()> {
        if collector.buffer.is_empty() || (!force && collector.buffer.len() < FLUSH_ROWS) {
            return Ok(());
        }
        if self.writer.is_none() {
            self.writer = Some(ShardWriter::for_records::<HarvestedCandidate>(&self.path, &WriterOptions::default())?);
        }
        if let Some(writer) = self.writer.as_mut() {
            writer.write_records(&collector.buffer)?;
        }
        collector.stats.pairs_out += collector.buffer.len() as u64;
        collector.buffer.clear();
        Ok(())
    }
}

/// Reads one input into `dir/shard-INDEX.parquet`.
pub(crate) fn harvest_input(
    config: &HarvestConfig,
    filter: &LanguageFilter,
    path: &Path,
    index: usize,
    dir: &Path,
) -> Result<(InputStats, Option<ShardInfo>)> {
    let started = Instant::now();
    let kind = detect_kind(path)?;
    let metadata = fs::metadata(path).at_path(path)?;
    let bytes = metadata.len();
    // A pipe (`<(zcat …)`, a FIFO) has no length: only a regular file can be known empty.
    if bytes == 0 && metadata.is_file() {
        return Err(PathError::input(path, "the file is empty (0 bytes): nothing to harvest").into());
    }
    let stats = InputStats { path: recorded_path(path), format: kind.name().to_owned(), bytes, ..Default::default() };
    let mut collector = Collector { config, filter, stats, seen: HashSet::new(), buffer: Vec::new() };
    let mut output = Output { path: wit_contract::shard_path(dir, index), writer: None };
    match kind {
        InputKind::Warc { .. } => read_warc(path, config, &mut collector, &mut output)?,
        InputKind::List(format) => read_list(path, format, config, &mut collector, &mut output)?,
    }
    output.flush(&mut collector, true)?;
    let shard = match output.writer.take() {
        Some(writer) => Some(writer.finish()?),
        None => None,
    };
    let mut stats = collector.stats;
    stats.shard = shard.as_ref().map(|s| s.file.clone());
    stats.seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        input = %path.display(),
        format = %stats.format,
        records = stats.records,
        pairs_found = stats.pairs_found,
        pairs_out = stats.pairs_out,
        mb_per_s = %format!("{:.1}", stats.bytes as f64 / 1e6 / stats.seconds.max(1e-9)),
        "harvested input"
    );
    Ok((stats, shard))
}

pub(crate) fn read_warc(
    path: &Path,
    config: &HarvestConfig,
    collector: &mut Collector<'_>,
    output: &mut Output,
) -> Result<()> {
    let limits = WarcLimits { max_block: config.max_record_bytes, ..Default::default() };
    let mut last_log = Instant::now();
    let mut reader = WarcReader::open(path, limits)?;
    while let Some(item) = reader.next() {
        match item? {
            WarcItem::Skipped { offset, reason, detail } => {
                tracing::warn!(input = %path.display(), offset, reason, "{detail}");
                collector.skip(reason, 1);
            }
            WarcItem::Record(record) => {
                stop_if_cancelled(config)?;
                collector.stats.records += 1;
                read_record(&record, config, collector);
                reader.recycle(record);
            }
        }
        output.flush(collector, false)?;
        if last_log.elapsed().as_secs() >= 10 {
            last_log = Instant::now();
            tracing::info!(input = %path.display(), records = collector.stats.records, pairs = collector.stats.pairs_out, "reading");
        }
    }
    Ok(())
}

/// Ends the reading of an input when the run was asked to stop (the caller says what was saved).
pub(crate) fn stop_if_cancelled(config: &HarvestConfig) -> Result<()> {
    Ok(config.cancel.check(String::new)?)
}

pub(crate) fn is_html(mime: &str) -> bool {
    matches!(mime, "text/html" | "application/xhtml+xml")
}

/// One WARC record: an HTTP response or resource holding HTML, or a WAT metadata record.
pub(crate) fn read_record(record: &WarcRecord, config: &HarvestConfig, collector: &mut Collector<'_>) {
    let warc_type = record.warc_type();
    let (block_mime, _) = media_type(record.header("Content-Type").unwrap_or(""));
    match warc_type.as_str() {
        "metadata" if block_mime == "application/json" => match extract_wat(&record.block, record.target_uri()) {
            Ok(page) if page.has_html => {
                collector.stats.pages += 1;
                collector.skip("image_url_unusable", page.skipped_urls);
                let evidence = PageEvidence {
                    identified: page.identified_language,
                    content_language: page.content_language,
                    meta_language: page.meta_language,
                    ..Default::default()
                };
                collector.offer_all(&page.pairs, page.page_url.as_deref(), &evidence, &page.opt_out, "wat", record);
            }
            Ok(_) => collector.skip("wat_without_html", 1),
            Err(e) => {
                tracing::debug!(offset = record.offset, "WAT JSON: {e}");
                collector.skip("wat_bad_json", 1);
            }
        },
        "response" | "resource" => {
            let Some(page_url) = record.target_uri().and_then(|u| Url::parse(u).ok()) else {
                return collector.skip("warc_no_target_uri", 1);
            };
            let mut evidence = PageEvidence {
                identified: record.header("WARC-Identified-Content-Language").map(str::to_owned),
                ..Default::default()
            };
            let mut headers_opt_out = PageSignals::default();
            let (body, charset) = if warc_type == "response" && block_mime == "application/http" {
                let response = match parse_response(&record.block, config.max_record_bytes as usize) {
                    Ok(response) => response,
                    Err(problem) => {
                        tracing::debug!(offset = record.offset, reason = problem.name(), "HTTP payload");
                        return collector.skip(problem.name(), 1);
                    }
                };
                if !(200..300).contains(&response.status) {
                    return collector.skip("http_status_not_2xx", 1);
                }
                evidence.content_language = response.header("content-language").map(str::to_owned);
                for (name, value) in &response.headers {
                    headers_opt_out.add_header(name, value);
                }
                let (mime, charset) = media_type(response.header("content-type").unwrap_or(""));
                let sniffed = mime.is_empty() && looks_like_html(&response.body);
                if !is_html(&mime) && !sniffed {
                    return collector.skip("not_html", 1);
                }
                (response.body, charset)
            } else if warc_type == "resource" && is_html(&block_mime) {
                let (_, charset) = media_type(record.header("Content-Type").unwrap_or(""));
                (record.block.clone(), charset)
            } else {
                return collector.skip("not_html", 1);
            };
            let page_text = language_decision::page_text_bytes(&config.language_rule);
            let options = HtmlOptions { charset, links: false, page_text, ..Default::default() };
            match extract_html(&body, &page_url, &options) {
                Ok(page) => {
                    collector.stats.pages += 1;
                    collector.skip("image_url_unusable", page.skipped_urls);
                    evidence.html_lang = page.html_lang;
                    evidence.meta_language = page.meta_language;
                    evidence.text = page.text;
                    let mut opt_out = headers_opt_out;
                    opt_out.merge(&page.opt_out);
                    collector.offer_all(&page.pairs, Some(page_url.as_str()), &evidence, &opt_out, "warc", record);
                }
                Err(e) => {
                    tracing::debug!(offset = record.offset, "{e}");
                    collector.skip("html_unparsable", 1);
                }
            }
        }
        other => {
            let reason = match other {
                "request" | "warcinfo" | "revisit" | "metadata" | "conversion" | "continuation" => other,
                _ => "other",
            };
            collector.skip(&format!("warc_{reason}_record"), 1);
        }
    }
}

pub(crate) fn looks_like_html(body: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
    head.contains("<html") || head.contains("<!doctype html")
}

pub(crate) fn read_list(
    path: &Path,
    format: ListFormat,
    config: &HarvestConfig,
    collector: &mut Collector<'_>,
    output: &mut Output,
) -> Result<()> {
    let options = UrlListOptions { format: Some(format), ..config.list.clone() };
    let mut bad_rows_logged = 0;
    for row in url_list::open(path, &options)? {
        let row = match row {
            Ok(row) => row,
            Err(e) if e.is_row_error() => {
                collector.stats.records += 1;
                collector.skip("list_bad_row", 1);
                if bad_rows_logged < 10 {
                    bad_rows_logged += 1;
                    tracing::warn!("{e}");
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        stop_if_cancelled(config)?;
        collector.stats.records += 1;
        let url = match Url::parse(&row.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            _ => {
                collector.skip("list_bad_url", 1);
                continue;
            }
        };
        let Some(caption) = row.caption.as_deref() else {
            collector.skip("list_no_caption", 1);
            continue;
        };
        let page_url = row.extra.get("page_url").map(String::as_str);
        let provenance =
            Provenance { file: Some(collector.stats.path.clone()), row: Some(row.row), ..Default::default() };
        collector.offer(url.as_str(), caption, page_url, None, "list", &provenance);
        output.flush(collector, false)?;
    }
    Ok(())
}
