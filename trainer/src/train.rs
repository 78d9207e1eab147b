//! The training run: model, AdamW with open_clip's groups and schedule, the input pipeline,
//! periodic logs and checkpoints, exact resume, and an evaluation on the held-out shards at the end.
//!
//! With a process group ([`TrainOptions::group`]) the run is data-parallel ([`crate::parallel`]):
//! each rank reads its own shards (`batch_size` rows per rank per step; the global batch is
//! `batch_size × world`), parameters start from rank 0's, the loss is the global batch's and every
//! rank takes the same step. Rank 0 alone writes checkpoints (holding every rank's data position)
//! and evaluates. The loss stays on the device between log steps: it is read back (one sync) only
//! when a line is logged.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tch::{nn, Device, Kind, Tensor};

use crate::checkpoint::{self, ResumeData, TrainState, STATE_FORMAT};
use crate::config::ClipConfig;
use crate::data::{self, DataError, DataPosition, DeviceFeeder, Loader, LoaderOptions, Split};
use crate::dist::{DistError, ProcessGroup};
use crate::eval::{self, EvalOptions, EvalResults};
use crate::loss::LossKind;
use crate::model::Clip;
use crate::optim::{cosine_lr, AdamW, AdamWConfig};
use crate::parallel;
use crate::tokenizer::{Tokenizer, TokenizerError};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    #[error("{dir}: resuming: {message}")]
    Resume { dir: PathBuf, message: String },
    #[error("{0}: the input pipeline ended before the last step")]
    DataEnded(PathBuf),
    #[error("evaluation: {0}")]
    Eval(#[from] eval::EvalError),
    #[error(transparent)]
    Dist(#[from] DistError),
    /// SIGINT/SIGTERM: a checkpoint of the last finished step was saved; `--resume latest` goes on.
    #[error(transparent)]
    Interrupted(#[from] wit_contract::Interrupted),
    #[error("world size {0} needs a process group (launch with `wit-train launch`, torchrun or srun)")]
    NoGroup(usize),
}

static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The precision of the matrix products (see [`crate::model`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Precision {
    /// bf16 on CUDA, f32 on CPU.
    Auto,
    Fp32,
    Bf16,
}

impl Precision {
    pub fn kind(self, device: Device) -> Kind {
        match self {
            Precision::Auto if device.is_cuda() => Kind::BFloat16,
            Precision::Auto | Precision::Fp32 => Kind::Float,
            Precision::Bf16 => Kind::BFloat16,
        }
    }
}

/// Where to start from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    Fresh,
    /// The newest complete checkpoint under `out/checkpoints` (fresh when there is none).
    Latest,
    Dir(PathBuf),
}

#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub data: PathBuf,
    pub out: PathBuf,
    pub config: ClipConfig,
    pub device: Device,
    pub precision: Precision,
    pub bpe: PathBuf,
    pub batch_size: usize,
    /// Total optimiser steps of the schedule.
    pub steps: u64,
    pub lr: f64,
    pub warmup: u64,
    pub adamw: AdamWConfig,
    /// Gradient-norm clipping (None: off, as open_clip's default).
    pub grad_clip: Option<f64>,
    pub workers: usize,
    pub prefetch: usize,
    pub shuffle_window: usize,
    pub seed: u64,
    pub rank: usize,
    pub world_size: usize,
    /// Shards at the end of the manifest kept for evaluation.
    pub holdout_shards: usize,
    pub resume: Resume,
    pub save_every: u64,
    pub log_every: u64,
    /// Stop (with a checkpoint) after this step although the schedule runs to `steps`.
    pub stop_after: Option<u64>,
    /// Evaluate on the held-out shards at the end (needs `holdout_shards > 0`).
    pub eval: bool,
    /// A queries folder naming the query ids, for zero-shot classification.
    pub queries: Option<PathBuf>,
    /// The loss: CLIP's contrastive loss or SigLIP's sigmoid loss.
    pub loss: LossKind,
    /// The c10d process group of a data-parallel run (its rank and world size replace `rank` and
    /// `world_size`); None for one process.
    pub group: Option<Arc<ProcessGroup>>,
    /// Set on SIGINT/SIGTERM: save a checkpoint of the step just finished and return
    /// [`TrainError::Interrupted`]. One process looks at it after every step; the ranks of a group
    /// agree on it (one all-reduce) at every log step.
    pub cancel: wit_contract::Cancel,
}

impl TrainOptions {
    /// Defaults for a corpus folder and an output folder (tiny model, CPU).
    pub fn new(data: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        TrainOptions {
            data: data.into(),
            out: out.into(),
            config: ClipConfig::TINY,
            device: Device::Cpu,
            precision: Precision::Auto,
            bpe: crate::tokenizer::default_bpe_path(),
            batch_size: 32,
            steps: 100,
            lr: 5e-4,
            warmup: 10,
            adamw: AdamWConfig::default(),
            grad_clip: None,
            workers: 2,
            prefetch: 4,
            shuffle_window: 1024,
            seed: 0,
            rank: 0,
            world_size: 1,
            holdout_shards: 0,
            resume: Resume::Fresh,
            save_every: 1000,
            log_every: 10,
            stop_after: None,
            eval: false,
            queries: None,
            loss: LossKind::Clip,
            group: None,
            cancel: wit_contract::Cancel::never(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TrainStats {
    pub start_step: u64,
    pub end_step: u64,
    pub samples: u64,
    /// (step, loss) of every step this run took.
    pub losses: Vec<(u64, f64)>,
    pub skipped: BTreeMap<String, u64>,
    pub data_seconds: f64,
    pub step_seconds: f64,
    pub logit_scale: f64,
    pub checkpoint: Option<PathBuf>,
    pub data_position: DataPosition,
    pub eval: Option<EvalResults>,
}

/// Trains (or resumes) as `options` say; returns what happened.
pub fn train(options: &TrainOptions) -> Result<TrainStats, TrainError> {
    let group = options.group.as_deref();
    let (rank, world) = match group {
        Some(group) => (group.rank, group.world_size),
        None if options.world_size > 1 => return Err(TrainError::NoGroup(options.world_size)),
        None => (0, 1),
    };
    let options = &TrainOptions { rank, world_size: world, ..options.clone() };
    let watching = options.cancel.watch();
    let tokenizer = Arc::new(Tokenizer::from_file(&options.bpe)?);
    let vs = nn::VarStore::new(options.device);
    let mut model = {
        // torch's generator is global to the process: seed and initialise under one lock so that
        // runs in parallel threads (tests) each get the initialisation their seed gives.
        let _guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        tch::manual_seed(options.seed as i64);
        Clip::new_for(&vs.root(), &options.config, options.loss)
    };
    model.compute_kind = options.precision.kind(options.device);
    let parameters: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let ordered = parallel::ordered_parameters(&parameters);
    let mut optimizer = AdamW::new(parameters, options.adamw);

    let resume_dir = match &options.resume {
        Resume::Fresh => None,
        Resume::Latest => checkpoint::latest(&options.out)?,
        Resume::Dir(dir) => Some(dir.clone()),
    };
    let (mut step, mut position, mut samples_seen) = (0u64, DataPosition::default(), 0u64);
    if let Some(dir) = &resume_dir {
        let loaded = checkpoint::load(dir, &vs)?;
        let state = loaded.state;
        let resume_error = |message: String| TrainError::Resume { dir: dir.clone(), message };
        if state.config != options.config.name {
            return Err(resume_error(format!("checkpoint of {}, asked for {}", state.config, options.config)));
        }
        optimizer.load_state(state.step as i64, &loaded.moments).map_err(resume_error)?;
        if checkpoint::loss_of(&state) != options.loss {
            let saved = checkpoint::loss_of(&state);
            return Err(resume_error(format!(
                "checkpoint trained with the {saved:?} loss, asked for {:?}",
                options.loss
            )));
        }
        position = match checkpoint::resume_data(&state, rank, world) {
            ResumeData::Exact(position) => position,
            ResumeData::Reshard(old) => {
                let position = data::reshard(&old, &loader_options(options, DataPosition::default()))?;
                tracing::warn!(
                    "checkpoint written by {} ranks, resuming with {world}: epoch {} starts over without the {} \
                     shards every old rank had finished",
                    old.len(),
                    position.epoch,
                    position.done.len()
                );
                position
            }
        };
        (step, samples_seen) = (state.step, state.samples_seen);
        tracing::info!(step, ?position, "resumed from {}", dir.display());
    }
    if let Some(group) = group {
        parallel::broadcast_parameters(&ordered, group)?;
    }
    let start_position = position.clone();

    let mut loader = Loader::start(loader_options(options, position.clone()), tokenizer.clone())?;
    let feeder = DeviceFeeder::new(options.device);
    let last = options.stop_after.map_or(options.steps, |stop| stop.min(options.steps));
    let mut stats =
        TrainStats { start_step: step, end_step: step, data_position: position.clone(), ..Default::default() };
    let (mut window_data, mut window_step, mut window_samples) = (0.0, 0.0, 0u64);
    let mut window_start = Instant::now();
    // The losses of the steps since the last log line, still on the device.
    let mut pending: Vec<(u64, Tensor)> = Vec::new();
    let config = options.config;
    let spec = wit_contract::progress::Spec::new("train", "steps", Some(last));
    let progress = if rank == 0 {
        wit_contract::progress::Progress::start(spec)
    } else {
        wit_contract::progress::Progress::hidden(spec)
    };
    progress.resumed(step);
    while step < last {
        let fetch_start = Instant::now();
        let batch = loader.next_batch()?.ok_or_else(|| TrainError::DataEnded(options.data.clone()))?;
        let data_time = fetch_start.elapsed().as_secs_f64();
        let compute_start = Instant::now();
        let (images, tokens) = feeder.to_device(&batch, config.image_size, config.context_length);
        let lr = cosine_lr(options.lr, options.warmup, options.steps, step);
        optimizer.zero_grad();
        let loss = parallel::forward_backward(&model, &images, &tokens, options.loss, group)?;
        if let Some(group) = group {
            parallel::all_reduce_gradients(&ordered, group, parallel::BUCKET_BYTES)?;
        }
        if let Some(max_norm) = options.grad_clip {
            optimizer.clip_grad_norm(max_norm);
        }
        optimizer.step(lr);
        model.clamp_logit_scale();
        let step_time = compute_start.elapsed().as_secs_f64();

        step += 1;
        progress.set_done(step);
        let global_rows = (batch.len * world) as u64;
        samples_seen += global_rows;
        position = batch.position;
        for (reason, count) in batch.skipped {
            *stats.skipped.entry(reason).or_default() += count;
        }
        pending.push((step, loss));
        stats.samples += global_rows;
        stats.data_seconds += data_time;
        stats.step_seconds += step_time;
        (window_data, window_step, window_samples) =
            (window_data + data_time, window_step + step_time, window_samples + global_rows);
        if step % options.log_every.max(1) == 0 || step == last {
            let losses = read_back(&mut pending);
            let loss = losses.last().map_or(f64::NAN, |l| l.1);
            stats.losses.extend(losses);
            let elapsed = window_start.elapsed().as_secs_f64().max(1e-9);
            tracing::info!(
                step,
                samples_per_s = %format!("{:.1}", window_samples as f64 / elapsed),
                data_s = %format!("{window_data:.3}"),
                step_s = %format!("{window_step:.3}"),
                lr = %format!("{lr:.3e}"),
                logit_scale = %format!("{:.3}", model.logit_scale.double_value(&[]).exp()),
                loss = %format!("{loss:.4}"),
                "train"
            );
            progress.note(format!("loss {loss:.4}, {:.1} samples/s", window_samples as f64 / elapsed));
            (window_data, window_step, window_samples) = (0.0, 0.0, 0);
            window_start = Instant::now();
        }
        let interrupted = match group {
            None => options.cancel.signal(),
            Some(group) if step % options.log_every.max(1) == 0 => agreed_stop(&options.cancel, group, options.device)?,
            Some(_) => None,
        };
        if step % options.save_every.max(1) == 0 || step == last || interrupted.is_some() {
            let ranks = match group {
                Some(group) => gather_positions(&position, &start_position, group, options.device)?,
                None => vec![position.clone()],
            };
            if rank == 0 {
                let state = TrainState {
                    format: STATE_FORMAT.into(),
                    step,
                    config: config.name.into(),
                    seed: options.seed,
                    data: position.clone(),
                    samples_seen,
                    total_steps: options.steps,
                    settings: settings_json(options),
                    world_size: world,
                    ranks,
                };
                let dir = checkpoint::save(&options.out, &vs, &optimizer.state(), &state)?;
                tracing::info!(step, "checkpoint {}", dir.display());
                stats.checkpoint = Some(dir);
            }
        }
        if let Some(signal) = interrupted {
            let saved = match &stats.checkpoint {
                Some(dir) if rank == 0 => {
                    format!("step {step} of {} finished and saved as checkpoint {}", options.steps, dir.display())
                }
                _ => {
                    format!("rank {rank} stopped after step {step} of {} (rank 0 saved the checkpoint)", options.steps)
                }
            };
            return Err(wit_contract::Interrupted { signal, saved }.into());
        }
    }
    progress.finish();
    drop(watching);
    drop(loader);
    stats.losses.extend(read_back(&mut pending));
    stats.end_step = step;
    stats.data_position = position;
    stats.logit_scale = model.logit_scale.double_value(&[]);
    if options.eval && step == options.steps && rank == 0 {
        let eval_options = EvalOptions {
            data: options.data.clone(),
            holdout_shards: options.holdout_shards,
            batch_size: options.batch_size,
            workers: options.workers,
            queries: options.queries.clone(),
            results: Some(options.out.join("results.jsonl")),
            step,
        };
        stats.eval = Some(eval::evaluate(&model, &tokenizer, &eval_options)?);
    }
    Ok(stats)
}

/// The pending losses as (step, value), in one device-to-host copy.
fn read_back(pending: &mut Vec<(u64, Tensor)>) -> Vec<(u64, f64)> {
    if pending.is_empty() {
        return Vec::new();
    }
    let tensors: Vec<Tensor> = pending.iter().map(|(_, t)| t.to_kind(Kind::Double).reshape([1])).collect();
    let values = Vec::<f64>::try_from(Tensor::cat(&tensors, 0).to_device(Device::Cpu)).unwrap_or_default();
    let steps = pending.drain(..).map(|(step, _)| step);
    steps.zip(values).collect()
}

/// Whether any rank of `group` was asked to stop (one all-reduce); the signal is this rank's own,
/// or SIGTERM when another rank's was.
fn agreed_stop(
    cancel: &wit_contract::Cancel,
    group: &ProcessGroup,
    device: Device,
) -> Result<Option<wit_contract::Signal>, DistError> {
    let mine = cancel.signal();
    let mut flag = Tensor::from_slice(&[i64::from(mine.is_some())]).to_device(device);
    group.all_reduce_sum(&mut flag, "all-reduce of the stop flag")?;
    let any = flag.to_device(Device::Cpu).int64_value(&[0]) > 0;
    Ok(any.then(|| mine.unwrap_or(wit_contract::Signal::Terminate)))
}

/// Every rank's data position, in rank order (for the checkpoint that rank 0 writes). The `done`
/// shards of an epoch come from the position all ranks started from (they share it).
fn gather_positions(
    position: &DataPosition,
    start: &DataPosition,
    group: &ProcessGroup,
    device: Device,
) -> Result<Vec<DataPosition>, DistError> {
    let fields = [position.epoch, position.window, position.shard_cursor as u64, position.row, position.consumed];
    let local = Tensor::from_slice(&fields.map(|f| f as i64)).view([1, 5]).to_device(device);
    let all = group.all_gather(&local, "all-gather of the data positions")?.to_device(Device::Cpu);
    let values = Vec::<i64>::try_from(all.reshape([-1])).unwrap_or_default();
    Ok(values
        .chunks_exact(5)
        .map(|f| DataPosition {
            epoch: f[0] as u64,
            window: f[1] as u64,
            shard_cursor: f[2] as usize,
            row: f[3] as u64,
            consumed: f[4] as u64,
            done: if f[0] as u64 == start.epoch { start.done.clone() } else { Vec::new() },
        })
        .collect())
}

fn loader_options(options: &TrainOptions, start: DataPosition) -> LoaderOptions {
    LoaderOptions {
        data: options.data.clone(),
        split: Split::Train,
        holdout_shards: options.holdout_shards,
        batch_size: options.batch_size,
        image_size: options.config.image_size as u32,
        context_length: options.config.context_length as usize,
        workers: options.workers,
        prefetch: options.prefetch,
        shuffle_window: options.shuffle_window,
        shuffle: true,
        seed: options.seed,
        rank: options.rank,
        world_size: options.world_size,
        epochs: None,
        start,
        keep_partial_batch: false,
    }
}

fn settings_json(options: &TrainOptions) -> serde_json::Value {
    serde_json::json!({
        "data": options.data,
        "batch_size": options.batch_size,
        "lr": options.lr,
        "warmup": options.warmup,
        "beta1": options.adamw.beta1,
        "beta2": options.adamw.beta2,
        "eps": options.adamw.eps,
        "weight_decay": options.adamw.weight_decay,
        "grad_clip": options.grad_clip,
        "shuffle_window": options.shuffle_window,
        "rank": options.rank,
        "world_size": options.world_size,
        "holdout_shards": options.holdout_shards,
        "loss": options.loss,
        "precision": format!("{:?}", options.precision.kind(options.device)),
    })
}

/// Evaluates the checkpoint in `dir` (its config is read from its state) on `options.data`'s
/// held-out shards.
pub fn evaluate_checkpoint(
    dir: &std::path::Path,
    device: Device,
    bpe: &std::path::Path,
    options: &EvalOptions,
) -> Result<EvalResults, TrainError> {
    let state = checkpoint::read_state(dir)?;
    let config: ClipConfig = state.config.parse().map_err(|message| TrainError::Resume { dir: dir.into(), message })?;
    let tokenizer = Arc::new(Tokenizer::from_file(bpe)?);
    let vs = nn::VarStore::new(device);
    let loss = checkpoint::loss_of(&state);
    let model = Clip::new_for(&vs.root(), &config, loss);
    checkpoint::load_weights(&vs, &dir.join(checkpoint::MODEL_FILE))?;
    let options = EvalOptions { step: state.step, ..options.clone() };
    Ok(eval::evaluate(&model, &tokenizer, &options)?)
}
