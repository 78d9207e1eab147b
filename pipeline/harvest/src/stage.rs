//! The stage itself: expand and slice the inputs (module `inputs`), read each one on a worker
//! thread into its own shard (module `reading`), and keep the manifest current so an interrupted run
//! resumes; then hand the shards to the cross-input dedup (module `dedup`).

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use wit_contract::progress::{Progress, Spec};
use wit_contract::{clean_stale_temp_files, recorded_path, Manifest, RecordKind};

use crate::dedup::{self, total};
use crate::error::{HarvestError, Result};
use crate::inputs::expand_inputs;
use crate::lang::LanguageFilter;
use crate::reading::harvest_input;
use crate::{HarvestConfig, HarvestStats, InputStats, Phase};
use wit_contract::{AtPath, PathError};
use wit_ranks::{RankOf, StepMarker};

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

#[cfg(test)]
#[path = "stage_tests.rs"]
mod tests;
