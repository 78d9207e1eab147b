//! Checkpoints: `OUT/checkpoints/step-NNNNNNNN/` holding `model.safetensors` (open_clip's
//! parameter names, loadable with `load_state_dict(strict=True)`), `optimizer.safetensors` (the
//! AdamW moments), `state.json` (step, seed, data position, run settings) and
//! `open_clip_config.json` (model and preprocess config: `open_clip.create_model_and_transforms(
//! 'local-dir:DIR')` loads the folder as it is).
//!
//! A checkpoint is written into a temporary folder and renamed when complete, so a run killed
//! mid-write leaves no half checkpoint for `--resume latest` to find.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

use crate::data::DataPosition;
use crate::loss::LossKind;
use wit_contract::{AtPath, PathError};

pub const MODEL_FILE: &str = "model.safetensors";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// open_clip's config beside the weights (`open_clip.create_model_and_transforms('local-dir:DIR')`).
pub const OPEN_CLIP_CONFIG_FILE: &str = "open_clip_config.json";
pub const STATE_FILE: &str = "state.json";
const PREFIX: &str = "step-";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Path(#[from] wit_contract::PathError),
    #[error("{path}: {source}")]
    Torch { path: PathBuf, source: tch::TchError },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("no checkpoint to resume from in {0}")]
    NoneFound(PathBuf),
}

/// Everything besides tensors that a resumed run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub format: String,
    /// Optimiser steps completed.
    pub step: u64,
    pub config: String,
    /// The seed every random choice derives from (torch's initialisation and the data pipeline's
    /// keyed streams, which carry no other state).
    pub seed: u64,
    /// The reader's position after the last batch trained on.
    pub data: DataPosition,
    pub samples_seen: u64,
    /// The schedule and settings the run was started with.
    pub total_steps: u64,
    pub settings: serde_json::Value,
    /// The number of data-parallel ranks that wrote it (1 for one process).
    #[serde(default = "one")]
    pub world_size: usize,
    /// Every rank's data position, in rank order (`data` is rank 0's).
    #[serde(default)]
    pub ranks: Vec<DataPosition>,
}

fn one() -> usize {
    1
}

/// The loss the checkpoint's run trained with (its settings' `loss`; CLIP when absent — a value that
/// does not parse never gets here: [`read_state`] refuses the checkpoint naming its file).
pub fn loss_of(state: &TrainState) -> LossKind {
    state.settings.get("loss").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
}

/// Where a resumed rank starts reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumeData {
    /// Same world size: this rank continues exactly where it stopped.
    Exact(DataPosition),
    /// Another world size: the shards are dealt anew ([`crate::data::reshard`] of every old rank's position).
    Reshard(Vec<DataPosition>),
}

/// Where rank `rank` of `world` ranks resumes reading from a checkpoint's `state`.
pub fn resume_data(state: &TrainState, rank: usize, world: usize) -> ResumeData {
    let ranks = if state.ranks.is_empty() { std::slice::from_ref(&state.data) } else { &state.ranks[..] };
    if ranks.len() == world {
        ResumeData::Exact(ranks[rank].clone())
    } else {
        ResumeData::Reshard(ranks.to_vec())
    }
}

pub const STATE_FORMAT: &str = "wit-train-checkpoint/1";

/// The folder a checkpoint of `step` lives in.
pub fn checkpoint_dir(out: &Path, step: u64) -> PathBuf {
    out.join("checkpoints").join(format!("{PREFIX}{step:08}"))
}

/// Writes model, optimiser moments and state into `checkpoint_dir(out, state.step)` atomically.
pub fn save(
    out: &Path,
    vs: &nn::VarStore,
    moments: &[(String, Tensor)],
    state: &TrainState,
) -> Result<PathBuf, CheckpointError> {
    let dir = checkpoint_dir(out, state.step);
    let parent = dir.parent().unwrap_or(out).to_owned();
    let temp = parent.join(format!(".{PREFIX}{:08}.tmp-{}", state.step, std::process::id()));
    std::fs::create_dir_all(&temp).at_path(&temp)?;
    let model_path = temp.join(MODEL_FILE);
    let mut variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    let torch = |path: &Path| {
        let path = path.to_owned();
        move |source| CheckpointError::Torch { path, source }
    };
    Tensor::write_safetensors(&variables, &model_path).map_err(torch(&model_path))?;
    let optimizer_path = temp.join(OPTIMIZER_FILE);
    Tensor::write_safetensors(moments, &optimizer_path).map_err(torch(&optimizer_path))?;
    let state_path = temp.join(STATE_FILE);
    let json = serde_json::to_vec_pretty(state)
        .map_err(|e| CheckpointError::Invalid { path: state_path.clone(), message: e.to_string() })?;
    std::fs::write(&state_path, json).at_path(&state_path)?;
    let open_clip_path = temp.join(OPEN_CLIP_CONFIG_FILE);
    let config: crate::config::ClipConfig =
        state.config.parse().map_err(|message| CheckpointError::Invalid { path: open_clip_path.clone(), message })?;
    let json = serde_json::to_vec_pretty(&config.open_clip_config(loss_of(state)))
        .map_err(|e| CheckpointError::Invalid { path: open_clip_path.clone(), message: e.to_string() })?;
    std::fs::write(&open_clip_path, json).at_path(&open_clip_path)?;
    for file in [MODEL_FILE, OPTIMIZER_FILE, STATE_FILE, OPEN_CLIP_CONFIG_FILE] {
        let path = temp.join(file);
        std::fs::File::open(&path).and_then(|f| f.sync_all()).at_path(&path)?;
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).at_path(&dir)?;
    }
    std::fs::rename(&temp, &dir).at_path(&dir)?;
    Ok(dir)
}

/// The complete checkpoint with the highest step under `out/checkpoints`, if any.
pub fn latest(out: &Path) -> Result<Option<PathBuf>, CheckpointError> {
    let root = out.join("checkpoints");
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(PathError::io(root, source).into()),
    };
    let mut best: Option<(u64, PathBuf)> = None;
    for entry in entries {
        let entry = entry.at_path(&root)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(step) = name.strip_prefix(PREFIX).and_then(|s| s.parse::<u64>().ok()) else { continue };
        if entry.path().join(STATE_FILE).is_file() && best.as_ref().is_none_or(|(b, _)| step > *b) {
            best = Some((step, entry.path()));
        }
    }
    Ok(best.map(|(_, path)| path))
}

/// A checkpoint read back: state, moments, and the weights copied into `vs`.
pub struct Loaded {
    pub state: TrainState,
    pub moments: BTreeMap<String, Tensor>,
}

pub fn read_state(dir: &Path) -> Result<TrainState, CheckpointError> {
    let path = dir.join(STATE_FILE);
    let bytes = std::fs::read(&path).at_path(&path)?;
    let state: TrainState = serde_json::from_slice(&bytes)
        .map_err(|e| CheckpointError::Invalid { path: path.clone(), message: e.to_string() })?;
    if state.format != STATE_FORMAT {
        let message = format!("format {:?}, this trainer reads {STATE_FORMAT:?}", state.format);
        return Err(CheckpointError::Invalid { path, message });
    }
    if let Some(loss) = state.settings.get("loss") {
        if let Err(e) = serde_json::from_value::<LossKind>(loss.clone()) {
            return Err(CheckpointError::Invalid { path, message: format!("settings.loss: {e}") });
        }
    }
    Ok(state)
}

/// Copies `path`'s tensors into every variable of `vs` (each must be present, with its shape).
pub fn load_weights(vs: &nn::VarStore, path: &Path) -> Result<(), CheckpointError> {
    let saved: BTreeMap<String, Tensor> = Tensor::read_safetensors(path)
        .map_err(|source| CheckpointError::Torch { path: path.into(), source })?
        .into_iter()
        .collect();
    for (name, mut variable) in vs.variables() {
        let invalid = |message: String| CheckpointError::Invalid { path: path.into(), message };
        let tensor = saved.get(&name).ok_or_else(|| invalid(format!("no tensor {name}")))?;
        if tensor.size() != variable.size() {
            return Err(invalid(format!("{name}: shape {:?}, the model has {:?}", tensor.size(), variable.size())));
        }
        tch::no_grad(|| variable.copy_(tensor));
    }
    Ok(())
}

/// Reads the checkpoint in `dir`, copying its weights into `vs`.
pub fn load(dir: &Path, vs: &nn::VarStore) -> Result<Loaded, CheckpointError> {
    let state = read_state(dir)?;
    load_weights(vs, &dir.join(MODEL_FILE))?;
    let path = dir.join(OPTIMIZER_FILE);
    let moments = Tensor::read_safetensors(&path)
        .map_err(|source| CheckpointError::Torch { path: path.clone(), source })?
        .into_iter()
        .collect();
    Ok(Loaded { state, moments })
}
