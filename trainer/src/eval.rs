//! Evaluation on the held-out shards: image↔text retrieval (R@1/5/10 both ways, each image against
//! every held-out caption) and zero-shot classification with the dictionary's query strings as
//! class names (CLIP's prompt templates, the mean of the normalised text embeddings per class; an
//! image is right when the best class is one of its query ids). Results are appended to
//! `results.jsonl`, one JSON object per evaluation.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};
use wit_contract::{AtPath, Manifest, QueryEntry, RecordKind};

use crate::data::{DataError, DataPosition, DeviceFeeder, Loader, LoaderOptions, Split};
use crate::model::Clip;
use crate::tokenizer::Tokenizer;

/// The prompt templates of CLIP's ImageNet notebook's short list, plus the plain photo prompt.
pub const TEMPLATES: [&str; 8] = [
    "a photo of a {}.",
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
];

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Path(#[from] wit_contract::PathError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Contract(#[from] wit_contract::ContractError),
    #[error("{dir}: manifest kind is {kind}, zero-shot needs a queries folder")]
    NotQueries { dir: PathBuf, kind: String },
    #[error("{0}: no held-out images to evaluate on")]
    NoImages(PathBuf),
}

#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub data: PathBuf,
    pub holdout_shards: usize,
    pub batch_size: usize,
    pub workers: usize,
    /// A queries folder (the dictionary); zero-shot is skipped without one.
    pub queries: Option<PathBuf>,
    /// Where to append the results line.
    pub results: Option<PathBuf>,
    /// The training step the evaluated weights are from (recorded in the results).
    pub step: u64,
}

/// Recall at 1, 5 and 10.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recall {
    pub r1: f64,
    pub r5: f64,
    pub r10: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZeroShot {
    pub classes: usize,
    /// Images with at least one query id among the classes.
    pub images: usize,
    pub top1: f64,
    pub top5: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalResults {
    pub step: u64,
    pub images: usize,
    pub image_to_text: Recall,
    pub text_to_image: Recall,
    pub zero_shot: Option<ZeroShot>,
}

/// Evaluates `model` on the held-out shards of `options.data`.
pub fn evaluate(model: &Clip, tokenizer: &Arc<Tokenizer>, options: &EvalOptions) -> Result<EvalResults, EvalError> {
    let device = model.logit_scale.device();
    let config = model.config;
    let loader_options = LoaderOptions {
        data: options.data.clone(),
        split: Split::Holdout,
        holdout_shards: options.holdout_shards,
        batch_size: options.batch_size.max(1),
        image_size: config.image_size as u32,
        context_length: config.context_length as usize,
        workers: options.workers,
        prefetch: 2,
        shuffle_window: 1,
        shuffle: false,
        seed: 0,
        rank: 0,
        world_size: 1,
        epochs: Some(1),
        start: DataPosition::default(),
        keep_partial_batch: true,
    };
    let mut loader = Loader::start(loader_options, tokenizer.clone())?;
    let feeder = DeviceFeeder::new(device);
    let (mut image_features, mut text_features, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(batch) = loader.next_batch()? {
        let (images, tokens) = feeder.to_device(&batch, config.image_size, config.context_length);
        let (image, text) = tch::no_grad(|| model.forward(&images, &tokens));
        image_features.push(image);
        text_features.push(text);
        labels.extend(batch.query_ids);
    }
    if labels.is_empty() {
        return Err(EvalError::NoImages(options.data.clone()));
    }
    let images = Tensor::cat(&image_features, 0).to_kind(Kind::Float);
    let texts = Tensor::cat(&text_features, 0).to_kind(Kind::Float);
    let similarity = images.matmul(&texts.transpose(0, 1));
    let image_to_text = recall(&similarity);
    let text_to_image = recall(&similarity.transpose(0, 1));

    let zero_shot = match &options.queries {
        Some(dir) => Some(zero_shot(model, tokenizer, &images, &labels, &read_queries(dir)?, device)),
        None => None,
    };
    let results = EvalResults { step: options.step, images: labels.len(), image_to_text, text_to_image, zero_shot };
    if let Some(path) = &options.results {
        append_result(path, &results)?;
    }
    tracing::info!(
        step = options.step,
        images = results.images,
        i2t_r1 = %format!("{:.3}", image_to_text.r1),
        t2i_r1 = %format!("{:.3}", text_to_image.r1),
        zero_shot_top1 = ?results.zero_shot.as_ref().map(|z| z.top1),
        "eval"
    );
    Ok(results)
}

/// Row i's match is column i: the fraction of rows whose match ranks within the top k.
fn recall(similarity: &Tensor) -> Recall {
    let diagonal = similarity.diagonal(0, 0, 1).unsqueeze(1);
    // Rank = how many candidates score strictly higher than the match.
    let ranks = similarity.gt_tensor(&diagonal).sum_dim_intlist(1, false, Kind::Int64);
    let at = |k: i64| ranks.lt(k).to_kind(Kind::Double).mean(Kind::Double).double_value(&[]);
    Recall { r1: at(1), r5: at(5), r10: at(10) }
}

fn zero_shot(
    model: &Clip,
    tokenizer: &Tokenizer,
    images: &Tensor,
    labels: &[Vec<u32>],
    queries: &BTreeMap<u32, String>,
    device: Device,
) -> ZeroShot {
    let classes: Vec<u32> = labels
        .iter()
        .flatten()
        .copied()
        .filter(|id| queries.contains_key(id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let labelled: Vec<usize> =
        (0..labels.len()).filter(|&i| labels[i].iter().any(|id| queries.contains_key(id))).collect();
    if classes.is_empty() || labelled.is_empty() {
        return ZeroShot { classes: classes.len(), images: 0, top1: 0.0, top5: 0.0 };
    }
    let context = model.config.context_length;
    let class_embeddings: Vec<Tensor> = classes
        .iter()
        .map(|id| {
            let prompts: Vec<String> = TEMPLATES.iter().map(|t| t.replace("{}", &queries[id])).collect();
            let tokens = Tensor::from_slice(&tokenizer.tokenize_batch(&prompts, context as usize))
                .view([prompts.len() as i64, context])
                .to(device);
            let embedding = tch::no_grad(|| model.encode_text(&tokens, true)).mean_dim(0, false, Kind::Float);
            &embedding / embedding.norm()
        })
        .collect();
    let classifier = Tensor::stack(&class_embeddings, 1);
    let rows = Tensor::from_slice(&labelled.iter().map(|&i| i as i64).collect::<Vec<_>>()).to(device);
    let scores = images.index_select(0, &rows).matmul(&classifier);
    let k = 5.min(classes.len() as i64);
    let (_, top) = scores.topk(k, 1, true, true);
    let top: Vec<Vec<i64>> = Vec::<Vec<i64>>::try_from(top.to(Device::Cpu)).unwrap_or_default();
    let (mut top1, mut top5) = (0usize, 0usize);
    for (row, &image) in top.iter().zip(&labelled) {
        let hit = |index: &i64| labels[image].contains(&classes[*index as usize]);
        top1 += usize::from(row.first().is_some_and(hit));
        top5 += usize::from(row.iter().any(hit));
    }
    let n = labelled.len() as f64;
    ZeroShot { classes: classes.len(), images: labelled.len(), top1: top1 as f64 / n, top5: top5 as f64 / n }
}

/// id → query string of a queries folder (`wit queries build` output).
pub fn read_queries(dir: &Path) -> Result<BTreeMap<u32, String>, EvalError> {
    let manifest = Manifest::load(dir)?;
    if manifest.kind != RecordKind::Queries {
        return Err(EvalError::NotQueries { dir: dir.into(), kind: manifest.kind.name().into() });
    }
    let mut queries = BTreeMap::new();
    for path in manifest.shard_paths(dir) {
        for entry in wit_contract::read_records::<QueryEntry>(&path)? {
            queries.insert(entry.id, entry.query);
        }
    }
    Ok(queries)
}

fn append_result(path: &Path, results: &EvalResults) -> Result<(), EvalError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).at_path(parent)?;
    }
    let mut line = serde_json::to_string(results).unwrap_or_default();
    line.push('\n');
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).at_path(path)?;
    Ok(file.write_all(line.as_bytes()).at_path(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_counts_ranks_of_the_diagonal() {
        // Row 0: match best; row 1: match second; row 2: match last of 3.
        let similarity = Tensor::from_slice(&[0.9f32, 0.1, 0.0, 0.8, 0.5, 0.1, 0.9, 0.8, 0.1]).view([3, 3]);
        let r = recall(&similarity);
        assert!((r.r1 - 1.0 / 3.0).abs() < 1e-9 && (r.r5 - 1.0).abs() < 1e-9, "{r:?}");
    }
}
