//! The run: an input thread, an async download loop, CPU workers for images, and a writer thread.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use wit_contract::progress::{Progress, Spec};
use wit_contract::{
    extra, recorded_path, CorpusImage, ExtraColumn, ExtraType, ExtraValue, Failure, Manifest, RecordKind,
};
use wit_contract::{AuditedFailure, AuditedImage, ImageAudit};
use wit_net::{Audit, ErrorKind, FetchError, Fetcher, RequestOptions};

use crate::error::{FetchStageError, Result};
use crate::imaging::{self, ImageOptions};
use crate::input::InputPair;
use crate::output::{key_hash, Counts, ExtraColumns, Opened, Outcome, Sink};
use crate::{FetchConfig, FetchStats};

/// The configuration recorded in the manifests: what decides the output (not concurrency). Tools
/// that write corpus shards themselves (the scale benchmark) open a [`crate::output::Sink`] with it.
pub fn recorded_config(config: &FetchConfig) -> serde_json::Value {
    let net = &config.net;
    let mut value = serde_json::json!({
        "stage": "fetch",
        "input": recorded_path(config.input.path()),
        "input_kind": config.input.kind_name(),
        "image": config.image,
        "net": {
            "user_agent": net.user_agent,
            "robots_token": net.robots_token,
            "allow_private_networks": net.allow_private_networks,
            "allowed_addresses": net.allowed_addresses,
            "respect_robots": net.respect_robots,
            "opt_out_directives": net.opt_out_directives,
            "max_body_bytes": net.max_body_bytes,
            "max_redirects": net.max_redirects,
            "request_timeout_s": net.request_timeout.as_secs_f64(),
            "retries": net.retries,
        },
        "shard_rows": config.shard_rows,
        "compute_hash": config.compute_hash,
        "rank": config.rank,
        "world_size": config.world_size,
    });
    // Recorded only when asked, so folders written before these options still resume.
    if let crate::input::FetchInput::UrlList { options, .. } = &config.input {
        if !options.keep_columns.is_empty() {
            value["save_additional_columns"] = options.keep_columns.clone().into();
        }
    }
    if config.keep_exif {
        value["keep_exif"] = true.into();
    }
    value
}

/// The extra columns of a run: the URL list's kept columns on both series, then `exif` on the
/// corpus. A name that is one of wit's own columns is an error.
pub(crate) fn extra_columns(config: &FetchConfig) -> Result<ExtraColumns> {
    let failures = config.input.extra_columns()?;
    let mut corpus = failures.clone();
    if config.keep_exif {
        if corpus.iter().any(|c| c.name == extra::EXIF) {
            return Err(FetchStageError::Config(
                "--save-additional-columns keeps a column named `exif`, which --keep-exif adds".into(),
            ));
        }
        corpus.push(ExtraColumn::new(extra::EXIF, ExtraType::Text));
    }
    let mut clashes = extra::clashes(RecordKind::Corpus, &corpus);
    clashes.extend(extra::clashes(RecordKind::Failures, &failures));
    clashes.sort();
    clashes.dedup();
    if !clashes.is_empty() {
        return Err(FetchStageError::Config(format!(
            "--save-additional-columns: {} is the name of one of wit's own columns; rename it in {}",
            clashes.join(", "),
            config.input.path().display()
        )));
    }
    Ok(ExtraColumns { corpus, failures })
}

fn validate(config: &FetchConfig) -> Result<()> {
    if config.world_size == 0 || config.rank >= config.world_size {
        return Err(FetchStageError::Config(format!("rank {} of world size {}", config.rank, config.world_size)));
    }
    if config.concurrency == 0 || config.shard_rows == 0 || config.image.image_size == 0 {
        return Err(FetchStageError::Config("concurrency, shard rows and image size must be positive".into()));
    }
    if config.image.max_aspect_ratio.is_nan() || config.image.max_aspect_ratio < 1.0 {
        return Err(FetchStageError::Config(format!(
            "max aspect ratio {} (must be ≥ 1)",
            config.image.max_aspect_ratio
        )));
    }
    Ok(())
}

fn stats_from(counts: &Counts, shards: (u64, u64)) -> FetchStats {
    FetchStats {
        corpus_rows: counts.corpus_rows,
        failure_rows: counts.failure_rows,
        by_status: counts.by_status.clone(),
        by_error_kind: counts.by_error_kind.clone(),
        corpus_shards: shards.0,
        failure_shards: shards.1,
        ..FetchStats::default()
    }
}

/// The failure status of a network error.
fn net_status(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::RefusedPrivate => "refused_private",
        ErrorKind::RobotsDisallowed => "robots_disallowed",
        ErrorKind::OptedOut => "opted_out",
        _ => "failed_to_download",
    }
}

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

fn failure(pair: InputPair, status: &str, kind: &str, message: String, http_status: Option<u16>) -> Outcome {
    Outcome::Failed(AuditedFailure::from(Failure {
        candidate: pair.candidate,
        query_ids: pair.query_ids,
        status: status.to_string(),
        error_message: format!("{kind}: {message}"),
        http_status,
        fetched_at_us: now_us(),
    }))
}

/// Shared by the download tasks.
struct Shared {
    fetcher: Fetcher,
    image: ImageOptions,
    cpu: Semaphore,
    image_hashes: Mutex<KeptImages>,
    fetched: AtomicU64,
    bytes: AtomicU64,
    progress: Progress,
    keep_exif: bool,
    compute_hash: crate::ComputeHash,
    blocklist: Arc<wit_contract::Blocklist>,
    /// Images whose EXIF could not be read (stored with a null `exif`).
    exif_unreadable: AtomicU64,
}

/// The hashes of the images kept so far, up to a size set by the memory budget: a copy of one of
/// them is a `duplicate` at once. Beyond the cap hashes are no longer remembered, and the exact
/// pass after the run (module `dedup`) catches the copies this set let through.
struct KeptImages {
    hashes: HashSet<u64>,
    cap: usize,
}

impl KeptImages {
    fn new(mut hashes: HashSet<u64>, budget: u64) -> Self {
        // ~32 bytes per entry of a HashSet<u64>, a quarter of the budget.
        let cap = (budget / 128).max(1024) as usize;
        if hashes.len() > cap {
            hashes = hashes.into_iter().take(cap).collect();
        }
        KeptImages { hashes, cap }
    }

    fn contains(&self, hash: &u64) -> bool {
        self.hashes.contains(hash)
    }

    /// False when `hash` was kept before.
    fn insert(&mut self, hash: u64) -> bool {
        if self.hashes.contains(&hash) {
            return false;
        }
        if self.hashes.len() < self.cap {
            self.hashes.insert(hash);
        }
        true
    }
}

/// Fetches, checks and encodes one pair; its extra values (the list's, then `exif` for an image
/// when asked) come with it.
async fn handle_pair(shared: Arc<Shared>, mut pair: InputPair) -> (Outcome, Vec<ExtraValue>) {
    let mut extra = std::mem::take(&mut pair.extra);
    let mut checked = Audit::default();
    let (mut outcome, exif) = fetch_pair(shared.clone(), pair, &mut checked).await;
    let audit = image_audit(checked);
    match &mut outcome {
        Outcome::Image(row) => row.audit = audit,
        Outcome::Failed(row) => row.audit = audit,
    }
    if shared.keep_exif && matches!(outcome, Outcome::Image(_)) {
        extra.push(exif.map_or(ExtraValue::Null, ExtraValue::Text));
    }
    (outcome, extra)
}

/// [`handle_pair`] less the extra values; with the image's EXIF as JSON when asked and it has one
/// (an unreadable one is counted and left out).
async fn fetch_pair(shared: Arc<Shared>, pair: InputPair, checked: &mut Audit) -> (Outcome, Option<String>) {
    shared.fetched.fetch_add(1, Ordering::Relaxed);
    let response = match shared.fetcher.get_audited(&pair.candidate.url, &RequestOptions::default(), checked).await {
        Ok(response) => response,
        Err(error) => return (net_failure(pair, &error), None),
    };
    shared.bytes.fetch_add(response.body.len() as u64, Ordering::Relaxed);
    shared.progress.add_bytes(response.body.len() as u64);
    let image_xxh3 = xxhash_rust::xxh3::xxh3_64(&response.body);
    // `image_hashes` holds the bytes of corpus rows only: a pair is a duplicate of a row that was
    // kept, never of one whose decoding is still running or failed.
    let duplicate = |pair: InputPair| {
        let message = format!("the same image bytes (xxh3 {image_xxh3:016x}) as another pair's");
        failure(pair, "duplicate", "duplicate_image", message, Some(response.status))
    };
    if shared.image_hashes.lock().map(|hashes| hashes.contains(&image_xxh3)).unwrap_or(false) {
        return (duplicate(pair), None);
    }
    let processed = {
        let _permit = shared.cpu.acquire().await.expect("the CPU semaphore is never closed");
        let worker = shared.clone();
        let body = response.body.clone();
        tokio::task::spawn_blocking(move || {
            // Every hash the blocklist lists is checked, whether or not the corpus keeps it.
            let checked = match worker.blocklist.has_hashes() {
                true => crate::ComputeHash::Both.hashes(&body),
                false => worker.compute_hash.hashes(&body),
            };
            let blocked = worker.blocklist.blocks_hashes(checked.sha256.as_deref(), checked.md5.as_deref());
            let hashes = wit_contract::ImageHashes {
                sha256: checked.sha256.filter(|_| worker.compute_hash.sha256()),
                md5: checked.md5.filter(|_| worker.compute_hash.md5()),
            };
            if let Some(kind) = blocked {
                return (Err(kind), None, hashes);
            }
            let exif = worker.keep_exif.then(|| imaging::exif_json(&body));
            (Ok(imaging::process(&body, &worker.image)), exif, hashes)
        })
        .await
    };
    let (processed, hashes) = match processed {
        Ok((Err(kind), ..)) => {
            let message = format!("the image's {} is on the build's blocklist", kind.name());
            return (failure(pair, "blocklisted", "blocklisted_image", message, Some(response.status)), None);
        }
        Ok((Ok(image), exif, hashes)) => (Ok((image, exif)), hashes),
        Err(join) => (Err(join), Default::default()),
    };
    let exif = match processed.as_ref().map(|(_, exif)| exif) {
        Ok(Some(Ok(json))) => json.clone(),
        Ok(Some(Err(problem))) => {
            tracing::debug!(url = %pair.candidate.url, "unreadable EXIF, stored as null: {problem}");
            shared.exif_unreadable.fetch_add(1, Ordering::Relaxed);
            None
        }
        _ => None,
    };
    let processed = processed.map(|(image, _)| image);
    match processed {
        Ok(Ok(image)) => {
            // Two copies processed at once: the first to get here is kept.
            if !shared.image_hashes.lock().map(|mut hashes| hashes.insert(image_xxh3)).unwrap_or(true) {
                return (duplicate(pair), None);
            }
            let row = Outcome::Image(AuditedImage::from(CorpusImage {
                candidate: pair.candidate,
                query_ids: pair.query_ids,
                width: image.width,
                height: image.height,
                original_width: image.original_width,
                original_height: image.original_height,
                image: image.bytes,
                image_format: shared.image.output_format.name().to_string(),
                image_xxh3,
                fetched_at_us: now_us(),
                image_phash: Some(image.phash),
            }));
            let row = match row {
                Outcome::Image(mut image) => {
                    image.hashes = hashes;
                    Outcome::Image(image)
                }
                failed => failed,
            };
            (row, exif)
        }
        Ok(Err(error)) => (failure(pair, error.status(), error.kind(), error.to_string(), Some(response.status)), None),
        Err(join) => {
            (failure(pair, "failed_to_decode", "decoder_panic", join.to_string(), Some(response.status)), None)
        }
    }
}

/// The opt-out audit columns of what the client checked for one image URL.
fn image_audit(audit: Audit) -> ImageAudit {
    let robots = audit.robots;
    ImageAudit {
        robots_txt: Some(
            match &robots {
                Some(check) if check.allowed => "allowed",
                Some(_) => "disallowed",
                None => "not_checked",
            }
            .to_string(),
        ),
        robots_txt_rule: robots.as_ref().and_then(|check| check.rule.clone()),
        robots_txt_fetched_at_us: robots.as_ref().map(|check| check.fetched_at_us),
        robots_txt_xxh3: robots.as_ref().and_then(|check| check.body_xxh3),
        x_robots_tag: audit.x_robots_tag,
    }
}

fn net_failure(pair: InputPair, error: &FetchError) -> Outcome {
    let kind = error.kind();
    failure(pair, net_status(kind), kind.as_str(), error.to_string(), error.http_status())
}

/// Counts of the input thread.
#[derive(Default)]
struct InputCounts {
    read: u64,
    resumed: u64,
    duplicate_keys: u64,
    blocklisted: u64,
    bad_rows: u64,
}

/// Caps glibc's malloc arenas at one per image thread (at least 2). By default glibc opens up to
/// 8 per core, one for each thread that allocates (runtime workers, the blocking pool that decodes,
/// the writer), and each keeps the fragments of the bodies and rasters it served: on 2 threads
/// over the mixed real photos (`bench_fetch run`, 2,000 and 20,000 images) peak RSS was 538 and
/// 723 MB by default, 383 and 492 MB with two arenas, no slower. Process-wide; a no-op off glibc.
fn cap_malloc_arenas(threads: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; any value is valid to pass.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, threads.clamp(2, i32::MAX as usize) as i32);
    }
}

pub(crate) fn run(config: &FetchConfig, failures_dir: &Path) -> Result<FetchStats> {
    validate(config)?;
    let _watching = config.cancel.watch();
    let started = Instant::now();
    let recorded = recorded_config(config);
    let extra_columns = extra_columns(config)?;
    let (mut sink, resume) = match Sink::open_with(
        &config.out,
        failures_dir,
        &recorded,
        config.shard_rows,
        &extra_columns,
    )? {
        Opened::Complete(manifest) => {
            tracing::info!(out = %config.out.display(), "fetch output already complete with this config; nothing to do");
            let mut stats: FetchStats = manifest.stats_as(&config.out)?;
            stats.skipped = true;
            return Ok(stats);
        }
        Opened::Ready(sink, resume) => (sink, resume),
    };
    if !resume.done_keys.is_empty() {
        tracing::info!(committed = resume.done_keys.len(), "resuming: skipping pairs already committed");
    }
    let threads = match config.threads {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    };
    cap_malloc_arenas(threads);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| FetchStageError::Config(format!("async runtime: {e}")))?;
    // The rank's share of the input (key hashes spread evenly: an estimate when world_size > 1).
    let total = config.input.size_hint().map(|n| n.div_ceil(config.world_size as u64));
    let progress = Progress::start(Spec::new("fetch", "pairs", total).with_split().with_bytes());
    let shared = Arc::new(Shared {
        fetcher: Fetcher::new(config.net.clone())?,
        image: config.image.clone(),
        cpu: Semaphore::new(threads),
        image_hashes: Mutex::new(KeptImages::new(resume.image_hashes, config.memory_budget)),
        fetched: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        progress: progress.clone(),
        keep_exif: config.keep_exif,
        compute_hash: config.compute_hash,
        blocklist: config.blocklist.clone(),
        exif_unreadable: AtomicU64::new(0),
    });

    let (pair_tx, mut pair_rx) = mpsc::channel::<InputPair>(config.concurrency * 2);
    let input = config.input.clone();
    let (rank, world_size) = (config.rank as u64, config.world_size as u64);
    let mut done_keys = resume.done_keys;
    // Curated and candidate folders hold each key once (harvest deduplicated them): only a URL
    // list needs the set of keys seen, which grows with the list.
    let lists_keys = matches!(input, crate::input::FetchInput::UrlList { .. });
    let input_cancel = config.cancel.clone();
    let input_progress = progress.clone();
    let blocklist = config.blocklist.clone();
    let input_thread = std::thread::spawn(move || {
        let mut counts = InputCounts::default();
        let mut seen: HashSet<u64> = HashSet::new();
        let result = input.for_each(|pair| {
            if input_cancel.is_set() {
                return false;
            }
            let hash = key_hash(&pair.candidate.key);
            if hash % world_size != rank {
                return true;
            }
            counts.read += 1;
            if done_keys.remove(&hash) {
                counts.resumed += 1;
                input_progress.resumed(1);
                if lists_keys {
                    seen.insert(hash);
                }
                return true;
            }
            if blocklist.blocks_pair(&pair.candidate.key, &pair.candidate.url).is_some() {
                counts.blocklisted += 1;
                input_progress.resumed(1);
                return true;
            }
            if lists_keys && !seen.insert(hash) {
                counts.duplicate_keys += 1;
                input_progress.resumed(1);
                return true;
            }
            pair_tx.blocking_send(pair).is_ok()
        });
        let result = result.map(|bad_rows| counts.bad_rows = bad_rows);
        (result, counts)
    });

    let (row_tx, mut row_rx) = mpsc::channel::<(Outcome, Vec<ExtraValue>)>(1024);
    let writer_progress = progress.clone();
    let writer_thread = std::thread::spawn(move || -> Result<Box<Sink>> {
        while let Some((outcome, extra)) = row_rx.blocking_recv() {
            let ok = matches!(outcome, Outcome::Image(_));
            sink.push_with(outcome, extra)?;
            writer_progress.add(u64::from(ok), u64::from(!ok));
        }
        Ok(sink)
    });

    let concurrency = config.concurrency;
    let loop_shared = shared.clone();
    let cancel = config.cancel.clone();
    let dropped_in_flight = runtime.block_on(async move {
        let mut tasks = JoinSet::new();
        // How often a cancel request is looked at while every download is waiting on the network.
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
        let (mut input_open, mut dropped) = (true, 0);
        loop {
            if input_open && cancel.is_set() {
                // Pairs in flight are dropped (not committed): the rerun fetches them again.
                input_open = false;
                pair_rx.close();
                dropped = tasks.len();
                tasks.abort_all();
            }
            if !input_open && tasks.is_empty() {
                break;
            }
            tokio::select! {
                pair = pair_rx.recv(), if input_open && tasks.len() < concurrency => match pair {
                    // A closed row channel: the writer failed; its error is reported below.
                    Some(pair) if !row_tx.is_closed() => {
                        let (shared, row_tx) = (loop_shared.clone(), row_tx.clone());
                        tasks.spawn(async move {
                            let outcome = handle_pair(shared, pair).await;
                            let _ = row_tx.send(outcome).await;
                        });
                    }
                    _ => input_open = false,
                },
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = tick.tick() => {}
            }
        }
        dropped
    });
    drop(runtime);

    let (input_result, input_counts) =
        input_thread.join().map_err(|_| FetchStageError::Writer("the input reader panicked".into()))?;
    let mut sink = writer_thread.join().map_err(|_| FetchStageError::Writer("the writer panicked".into()))??;
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    let fetched = shared.fetched.load(Ordering::Relaxed);
    let bytes_downloaded = shared.bytes.load(Ordering::Relaxed);
    sink.run_stats = serde_json::json!({
        "last_run": {
            "input_pairs": input_counts.read,
            "resumed": input_counts.resumed,
            "duplicate_input_keys": input_counts.duplicate_keys,
            "bad_input_rows": input_counts.bad_rows,
            "blocklisted": input_counts.blocklisted,
            "fetched": fetched,
            "bytes_downloaded": bytes_downloaded,
            "seconds": seconds,
            "exif_unreadable": shared.exif_unreadable.load(Ordering::Relaxed),
        }
    });
    // An input error still commits what was done, so the rerun resumes from there.
    let interrupted = config.cancel.signal();
    let counts = sink.commit(input_result.is_ok() && interrupted.is_none())?;
    if let Some(signal) = interrupted {
        let (corpus_shards, failure_shards) = sink.shard_counts();
        let saved = format!(
            "{} images and {} failures committed in {} ({corpus_shards} corpus and {failure_shards} failure shards \
             listed in {}); {dropped_in_flight} downloads in flight were dropped and will be fetched again",
            counts.corpus_rows,
            counts.failure_rows,
            config.out.display(),
            Manifest::FILE_NAME,
        );
        return Err(wit_contract::Interrupted { signal, saved }.into());
    }
    input_result?;
    let mut stats = stats_from(&counts, sink.shard_counts());
    stats.input_pairs = input_counts.read;
    stats.resumed = input_counts.resumed;
    stats.duplicate_input_keys = input_counts.duplicate_keys;
    stats.bad_input_rows = input_counts.bad_rows;
    stats.blocklisted = input_counts.blocklisted;
    stats.fetched = fetched;
    stats.bytes_downloaded = bytes_downloaded;
    stats.seconds = seconds;
    tracing::info!(
        corpus = stats.corpus_rows,
        failures = stats.failure_rows,
        seconds = format!("{seconds:.1}"),
        "fetch finished"
    );
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_of_network_errors() {
        assert_eq!(net_status(ErrorKind::OptedOut), "opted_out");
        assert_eq!(net_status(ErrorKind::Timeout), "failed_to_download");
        assert_eq!(net_status(ErrorKind::RefusedPrivate), "refused_private");
    }
}
