//! The stage itself: expand and slice the inputs, read each one on a worker thread into its own
//! shard, and keep the manifest current so an interrupted run resumes; then hand the shards to the
//! cross-input dedup (module `dedup`).

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use url::Url;
use wit_contract::progress::{Progress, Spec};
use wit_contract::{
    clean_stale_temp_files, pair_key, recorded_path, Candidate, HarvestedCandidate, Manifest, Provenance, RecordKind,
    ShardInfo, ShardWriter, WriterOptions,
};

use crate::dedup::{self, total};
use crate::error::{HarvestError, Result};
use crate::html::{extract_html, HtmlOptions, ImageText};
use crate::http::{media_type, parse_response};
use crate::lang::LanguageFilter;
use crate::language_decision::{self, PageEvidence, PageLanguage};
use crate::opt_out::PageSignals;
use crate::text::clean_text;
use crate::warc::{WarcItem, WarcLimits, WarcReader, WarcRecord};
use crate::wat::extract_wat;
use crate::{HarvestConfig, HarvestStats, InputStats, Phase};
use wit_contract::{AtPath, PathError};
use wit_lists::{self as url_list, ListFormat, UrlListOptions};
use wit_ranks::{RankOf, StepMarker};

/// Candidates buffered per input before they are written.
const FLUSH_ROWS: usize = 8192;

/// What kind of file an input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InputKind {
    /// WARC or WAT (both are WARC files; records decide what each one holds).
    Warc {
        wat: bool,
    },
    List(ListFormat),
}

impl InputKind {
    fn name(self) -> &'static str {
        match self {
            InputKind::Warc { wat: true } => "wat",
            InputKind::Warc { wat: false } => "warc",
            InputKind::List(format) => format.name(),
        }
    }
}

/// The kind of `path`, from its name, else from its first bytes.
fn detect_kind(path: &Path) -> Result<InputKind> {
    if let Some((format, _)) = url_list::format_from_name(path) {
        return Ok(InputKind::List(format));
    }
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    if stem.ends_with(".wat") {
        return Ok(InputKind::Warc { wat: true });
    }
    if stem.ends_with(".warc") || stem.ends_with(".wet") || stem.ends_with(".arc") {
        return Ok(InputKind::Warc { wat: false });
    }
    let mut head = Vec::new();
    let file = fs::File::open(path).at_path(path)?;
    let mut magic = Vec::new();
    (&file).take(2).read_to_end(&mut magic).at_path(path)?;
    let file = fs::File::open(path).at_path(path)?;
    let read = if magic == [0x1f, 0x8b] {
        flate2::read::MultiGzDecoder::new(file).take(512).read_to_end(&mut head)
    } else {
        file.take(512).read_to_end(&mut head)
    };
    read.at_path(path)?;
    let text = String::from_utf8_lossy(&head);
    if head.starts_with(b"WARC/") {
        return Ok(InputKind::Warc { wat: text.contains("application/json") });
    }
    if head.starts_with(b"PAR1") {
        return Ok(InputKind::List(ListFormat::Parquet));
    }
    if text.trim_start().starts_with('{') {
        return Ok(InputKind::List(ListFormat::Jsonl));
    }
    Err(PathError::input(
        path,
        "cannot tell the format: not WARC/WAT (name or content), nor a csv/tsv/jsonl/parquet/txt list by name",
    )
    .into())
}

/// The input files: files as given, folders as their (sorted, non-hidden) files.
fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        let meta = fs::metadata(input).at_path(input)?;
        if meta.is_dir() {
            let mut inside = Vec::new();
            for entry in fs::read_dir(input).at_path(input)? {
                let entry = entry.at_path(input)?;
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                if !hidden && entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                    inside.push(entry.path());
                }
            }
            inside.sort();
            files.extend(inside);
        } else {
            files.push(input.clone());
        }
    }
    if files.is_empty() {
        return Err(HarvestError::Config("no input files".into()));
    }
    Ok(files)
}

/// The configuration recorded in manifests: what decides the output (not threads).
fn base_config(config: &HarvestConfig, inputs: &[PathBuf], filter: &LanguageFilter) -> serde_json::Value {
    serde_json::json!({
        "stage": "harvest",
        "inputs": inputs.iter().map(|p| recorded_path(p)).collect::<Vec<_>>(),
        "languages": filter.allowed_codes(),
        "min_lang_confidence": filter.min_confidence(),
        "language_rule": config.language_rule,
        "min_chars": config.text.min_chars,
        "max_chars": config.text.max_chars,
        "url_col": config.list.url_col,
        "caption_col": config.list.caption_col,
        "max_record_bytes": config.max_record_bytes,
        "page_opt_out_directives": config.page_opt_out_directives,
        "world_size": config.world_size,
    })
}

/// The configuration a harvest run records in its manifest (rank folders: with their rank), as
/// [`crate::recorded_config`] exposes it.
pub(crate) fn recorded(config: &HarvestConfig) -> Result<serde_json::Value> {
    let filter = LanguageFilter::new(&config.languages, config.min_lang_confidence).map_err(HarvestError::Config)?;
    let inputs = expand_inputs(&config.inputs)?;
    let base = base_config(config, &inputs, &filter);
    Ok(match config.phase {
        Phase::All => base,
        _ => rank_config(&base, config.rank),
    })
}

fn rank_config(base: &serde_json::Value, rank: usize) -> serde_json::Value {
    let mut config = base.clone();
    config["rank"] = rank.into();
    config
}

fn validate(config: &HarvestConfig) -> Result<()> {
    if config.world_size == 0 || config.rank >= config.world_size {
        return Err(HarvestError::Config(format!("rank {} of world size {}", config.rank, config.world_size)));
    }
    if config.phase == Phase::All && config.world_size > 1 {
        return Err(HarvestError::Config(
            "with --world-size > 1 run --phase harvest, dedup and apply on every rank, then --phase merge once".into(),
        ));
    }
    if config.text.min_chars > config.text.max_chars {
        return Err(HarvestError::Config(format!(
            "min chars {} above max chars {}",
            config.text.min_chars, config.text.max_chars
        )));
    }
    Ok(())
}

pub(crate) fn run(config: &HarvestConfig) -> Result<HarvestStats> {
    validate(config)?;
    let started = Instant::now();
    let filter = LanguageFilter::new(&config.languages, config.min_lang_confidence).map_err(HarvestError::Config)?;
    let inputs = expand_inputs(&config.inputs)?;
    let base = base_config(config, &inputs, &filter);
    let me = RankOf::new(config.rank, config.world_size);
    let out = config.out.as_path();
    let mut stats = match config.phase {
        Phase::All => {
            let all: Vec<usize> = (0..inputs.len()).collect();
            match harvest_into(config, &filter, &inputs, &all, out, &base)? {
                Done::Already(stats) => return Ok(stats),
                Done::Harvested(manifest) => dedup::dedup_in_place(out, manifest, config.memory_budget)?,
            }
        }
        Phase::Harvest => {
            let dir = me.dir(out);
            let rank_config = rank_config(&base, config.rank);
            if StepMarker::done_with(&me.marker(out, dedup::STEP_SEND), &base).map_err(dedup::ranks_error)?.is_some() {
                tracing::info!(rank = config.rank, "harvest rank already complete with this config; nothing to do");
                let mut stats = dedup::stats_of(&Manifest::load(&dir)?, &dir)?;
                stats.already_complete = true;
                return Ok(stats);
            }
            let mine: Vec<usize> = (0..inputs.len()).filter(|i| i % config.world_size == config.rank).collect();
            let manifest = match harvest_into(config, &filter, &inputs, &mine, &dir, &rank_config)? {
                // Complete but its keys not (all) sent: a kill between the two.
                Done::Already(_) => Manifest::load(&dir)?,
                Done::Harvested(manifest) => manifest,
            };
            dedup::send_keys(out, me, &dir, manifest, &base)?
        }
        Phase::Dedup => dedup::dedup_bucket(out, me, &base, config.memory_budget)?,
        Phase::Apply => dedup::apply(out, me, &base, &rank_config(&base, config.rank), config.memory_budget)?,
        Phase::Merge => dedup::merge(out, config.world_size, &base, |rank| rank_config(&base, rank))?,
    };
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}

enum Done {
    /// A complete output with this config was there already.
    Already(HarvestStats),
    /// Every input is harvested (not yet deduplicated across inputs).
    Harvested(Manifest),
}

fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).at_path(dir)?;
    clean_stale_temp_files(dir)?;
    Ok(())
}

/// Harvests inputs `todo` (indices into `inputs`) into `dir`, resuming a run with the same config.
fn harvest_into(
    config: &HarvestConfig,
    filter: &LanguageFilter,
    inputs: &[PathBuf],
    todo: &[usize],
    dir: &Path,
    config_json: &serde_json::Value,
) -> Result<Done> {
    // Signals stop this loop cleanly; elsewhere (the dedup passes, which survive `kill -9`) they
    // end the process at once.
    let _watching = config.cancel.watch();
    let mut done: Vec<InputStats> = Vec::new();
    let mut manifest = match Manifest::load_if_present(dir)? {
        Some(existing) if existing.kind == RecordKind::Candidates && existing.config == *config_json => {
            dedup::sweep(dir, &existing)?;
            if existing.complete {
                tracing::info!(out = %dir.display(), "harvest output already complete with this config; nothing to do");
                let mut stats = dedup::stats_of(&existing, dir)?;
                stats.already_complete = true;
                return Ok(Done::Already(stats));
            }
            done = dedup::stats_of(&existing, dir)?.per_input;
            // Only inputs whose shard (if any) is still listed count as done; an input that could
            // not be read (skip_bad_inputs) is tried again.
            done.retain(|input| input.error.is_none() && input.shard.as_ref().is_none_or(|s| existing.has_shard(s)));
            if !done.is_empty() {
                tracing::info!(done = done.len(), of = todo.len(), "resuming an interrupted harvest");
            }
            existing
        }
        Some(existing) => {
            // Another configuration: its shards are not ours.
            for shard in existing.shard_paths(dir) {
                let _ = fs::remove_file(shard);
            }
            Manifest::new(RecordKind::Candidates, config_json.clone(), None)
        }
        None => Manifest::new(RecordKind::Candidates, config_json.clone(), None),
    };
    create_dir(dir)?;
    let done_paths: HashSet<String> = done.iter().map(|d| d.path.clone()).collect();
    let pending: Vec<usize> =
        todo.iter().copied().filter(|&i| !done_paths.contains(&recorded_path(&inputs[i]))).collect();
    manifest.shards.retain(|s| done.iter().any(|d| d.shard.as_deref() == Some(s.file.as_str())));
    manifest.stats = serde_json::to_value(total(done.clone())).unwrap_or_default();
    manifest.complete = false;
    manifest.save(dir)?;

    let threads = match config.threads {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    }
    .min(pending.len().max(1));
    let progress = Progress::start(Spec::new("harvest", "inputs", Some(todo.len() as u64)).with_split().with_bytes());
    progress.resumed((todo.len() - pending.len()) as u64);
    let shared = Mutex::new((manifest, done));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<HarvestError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                if failed.load(Ordering::Relaxed) || config.cancel.is_set() {
                    return;
                }
                let at = next.fetch_add(1, Ordering::Relaxed);
                let Some(&index) = pending.get(at) else { return };
                let harvested = match harvest_input(config, filter, &inputs[index], index, dir) {
                    Err(e) if config.skip_bad_inputs && is_input_fault(&e, &inputs[index]) => {
                        tracing::warn!("{e}; skipped (--skip-bad-inputs)");
                        Ok((failed_input(&inputs[index], &e), None))
                    }
                    other => other,
                };
                if let Ok((input, _)) = &harvested {
                    progress.add(u64::from(input.error.is_none()), u64::from(input.error.is_some()));
                    progress.add_bytes(input.bytes);
                }
                let result = harvested.and_then(|(input, shard)| {
                    let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
                    let (manifest, done) = &mut *guard;
                    if let Some(shard) = shard {
                        manifest.add_shard(shard);
                    }
                    done.push(input);
                    done.sort_by(|a, b| a.shard.cmp(&b.shard).then(a.path.cmp(&b.path)));
                    manifest.stats = serde_json::to_value(total(done.clone())).unwrap_or_default();
                    manifest.save(dir)?;
                    Ok(())
                });
                if let Err(e) = result {
                    failed.store(true, Ordering::Relaxed);
                    first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                    return;
                }
            });
        }
    });
    progress.finish();
    let first_error = first_error.into_inner().unwrap_or_else(|p| p.into_inner());
    let (mut manifest, done) = shared.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = first_error.filter(|e| !matches!(e, HarvestError::Interrupted(_))) {
        return Err(e);
    }
    if let Some(signal) = config.cancel.signal() {
        let finished = done.len() - (todo.len() - pending.len());
        let saved = format!(
            "{} of {} inputs harvested and committed in {} ({finished} this run; {} shards listed in {}); \
             the {} inputs left (an input being read is started over) are harvested by the rerun",
            done.len(),
            todo.len(),
            dir.display(),
            manifest.shards.len(),
            Manifest::FILE_NAME,
            todo.len() - done.len(),
        );
        return Err(wit_contract::Interrupted { signal, saved }.into());
    }
    manifest.stats = serde_json::to_value(total(done)).unwrap_or_default();
    Ok(Done::Harvested(manifest))
}

/// Whether `error` is the input's own fault (cannot be read to its end), not the output's.
fn is_input_fault(error: &HarvestError, input: &Path) -> bool {
    match error {
        HarvestError::AtOffset { .. } | HarvestError::Path(PathError::Input { .. }) | HarvestError::UrlList(_) => true,
        HarvestError::Path(PathError::Io { path, .. }) => path == input,
        HarvestError::Contract(_) | HarvestError::Config(_) | HarvestError::Interrupted(_) => false,
    }
}

/// The record of an input skipped because it could not be read.
fn failed_input(input: &Path, error: &HarvestError) -> InputStats {
    InputStats {
        path: recorded_path(input),
        format: "unreadable".into(),
        bytes: fs::metadata(input).map(|m| m.len()).unwrap_or(0),
        error: Some(error.to_string()),
        ..Default::default()
    }
}

/// Turns raw pairs into candidates: cleaning, language, key, within-input dedup; counts drops.
struct Collector<'a> {
    config: &'a HarvestConfig,
    filter: &'a LanguageFilter,
    stats: InputStats,
    seen: HashSet<u64>,
    buffer: Vec<HarvestedCandidate>,
}

impl Collector<'_> {
    fn skip(&mut self, reason: &str, n: u64) {
        if n > 0 {
            *self.stats.skipped.entry(reason.to_owned()).or_default() += n;
        }
    }

    fn offer(
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
    fn offer_all(
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
struct Output {
    path: PathBuf,
    writer: Option<ShardWriter>,
}

impl Output {
    fn flush(&mut self, collector: &mut Collector<'_>, force: bool) -> Result<()> {
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
fn harvest_input(
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

fn read_warc(path: &Path, config: &HarvestConfig, collector: &mut Collector<'_>, output: &mut Output) -> Result<()> {
    let limits = WarcLimits { max_block: config.max_record_bytes, ..Default::default() };
    let mut last_log = Instant::now();
    for item in WarcReader::open(path, limits)? {
        match item? {
            WarcItem::Skipped { offset, reason, detail } => {
                tracing::warn!(input = %path.display(), offset, reason, "{detail}");
                collector.skip(reason, 1);
            }
            WarcItem::Record(record) => {
                stop_if_cancelled(config)?;
                collector.stats.records += 1;
                read_record(&record, config, collector);
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
fn stop_if_cancelled(config: &HarvestConfig) -> Result<()> {
    Ok(config.cancel.check(String::new)?)
}

fn is_html(mime: &str) -> bool {
    matches!(mime, "text/html" | "application/xhtml+xml")
}

/// One WARC record: an HTTP response or resource holding HTML, or a WAT metadata record.
fn read_record(record: &WarcRecord, config: &HarvestConfig, collector: &mut Collector<'_>) {
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

fn looks_like_html(body: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
    head.contains("<html") || head.contains("<!doctype html")
}

fn read_list(
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

#[cfg(test)]
#[path = "stage_tests.rs"]
mod tests;
