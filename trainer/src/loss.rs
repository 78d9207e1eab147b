//! The losses, as open_clip computes them: CLIP's symmetric contrastive loss (`ClipLoss`) and the
//! sigmoid loss of SigLIP (`SigLipLoss`).
//!
//! Both are written as a rank's *local* loss over the global batch, so that data-parallel training
//! (see [`crate::parallel`]) gets exactly the single-process loss of the global batch: rank `r`
//! holds rows `r·n .. (r+1)·n` of the gathered features, scores its own rows against every row
//! (open_clip's `local_loss=True`), and the global loss is the mean of the ranks' local losses.
//! With one rank the local loss is the plain loss.

use tch::{Kind, Tensor};

/// Which loss the model trains with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    /// CLIP's softmax contrastive loss (open_clip's `ClipLoss`).
    #[default]
    Clip,
    /// SigLIP's pairwise sigmoid loss with a learnable bias (open_clip's `SigLipLoss`).
    Siglip,
}

impl std::str::FromStr for LossKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "clip" => Ok(LossKind::Clip),
            "siglip" => Ok(LossKind::Siglip),
            other => Err(format!("unknown loss {other:?} (clip or siglip)")),
        }
    }
}

/// Image→text and text→image logits: `logit_scale.exp() · image · textᵀ` on normalised features.
pub fn clip_logits(image_features: &Tensor, text_features: &Tensor, logit_scale: &Tensor) -> (Tensor, Tensor) {
    let logits_per_image = logit_scale.exp() * image_features.matmul(&text_features.transpose(0, 1));
    let logits_per_text = logits_per_image.transpose(0, 1);
    (logits_per_image, logits_per_text)
}

/// `(CE(logits_per_image, i) + CE(logits_per_text, i)) / 2` with labels `i = 0..batch`.
pub fn clip_loss(image_features: &Tensor, text_features: &Tensor, logit_scale: &Tensor) -> Tensor {
    let rows = image_features.size()[0];
    clip_local_loss(image_features, text_features, 0, rows, logit_scale)
}

/// Rank `rank`'s share of the contrastive loss of the gathered batch (`all_*`: every rank's `rows`
/// rows, in rank order): its images against all texts and its texts against all images.
pub fn clip_local_loss(all_image: &Tensor, all_text: &Tensor, rank: i64, rows: i64, logit_scale: &Tensor) -> Tensor {
    let scale = logit_scale.exp();
    let (image, text) = (all_image.narrow(0, rank * rows, rows), all_text.narrow(0, rank * rows, rows));
    let logits_per_image = &scale * image.matmul(&all_text.transpose(0, 1));
    let logits_per_text = &scale * text.matmul(&all_image.transpose(0, 1));
    let labels = Tensor::arange_start(rank * rows, (rank + 1) * rows, (Kind::Int64, all_image.device()));
    (cross_entropy(&logits_per_image, &labels) + cross_entropy(&logits_per_text, &labels)) / 2.0
}

/// SigLIP's loss: `−Σ log σ(y_ij · (scale·⟨image_i, text_j⟩ + bias)) / batch`, y = +1 on the
/// diagonal, −1 elsewhere.
pub fn siglip_loss(
    image_features: &Tensor,
    text_features: &Tensor,
    logit_scale: &Tensor,
    logit_bias: &Tensor,
) -> Tensor {
    let rows = image_features.size()[0];
    siglip_local_loss(image_features, text_features, 0, rows, logit_scale, logit_bias)
}

/// Rank `rank`'s share of the sigmoid loss of the gathered batch: its images against all texts,
/// divided by its own row count (so the ranks' mean is the global batch's loss).
pub fn siglip_local_loss(
    all_image: &Tensor,
    all_text: &Tensor,
    rank: i64,
    rows: i64,
    logit_scale: &Tensor,
    logit_bias: &Tensor,
) -> Tensor {
    let image = all_image.narrow(0, rank * rows, rows);
    let total = all_text.size()[0];
    let logits = logit_scale.exp() * image.matmul(&all_text.transpose(0, 1)) + logit_bias;
    let (kind, device) = (logits.kind(), logits.device());
    let positives = Tensor::zeros([rows, total], (kind, device));
    positives.narrow(1, rank * rows, rows).copy_(&Tensor::eye(rows, (kind, device)));
    let labels = positives * 2.0 - 1.0;
    -(labels * logits).log_sigmoid().sum(kind) / rows as f64
}

/// The loss `kind` of rank `rank`'s rows of the gathered batch.
pub fn local_loss(
    kind: LossKind,
    all_image: &Tensor,
    all_text: &Tensor,
    rank: i64,
    rows: i64,
    logit_scale: &Tensor,
    logit_bias: Option<&Tensor>,
) -> Tensor {
    match (kind, logit_bias) {
        (LossKind::Siglip, Some(bias)) => siglip_local_loss(all_image, all_text, rank, rows, logit_scale, bias),
        (LossKind::Siglip, None) => panic!("the SigLIP loss needs a model built with a logit bias"),
        (LossKind::Clip, _) => clip_local_loss(all_image, all_text, rank, rows, logit_scale),
    }
}

/// Mean cross-entropy in the logits' own precision (tch's `cross_entropy_for_logits` always
/// computes in f32, which would make double-precision parity checks impossible).
fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Tensor {
    logits.log_softmax(-1, logits.kind()).nll_loss(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn normalised(rows: i64, dim: i64, seed: i64) -> Tensor {
        tch::manual_seed(seed);
        let x = Tensor::randn([rows, dim], (Kind::Double, Device::Cpu));
        &x / x.norm_scalaropt_dim(2.0, [-1], true)
    }

    #[test]
    fn equals_the_written_out_formula() {
        let (image, text) = (normalised(6, 8, 1), normalised(6, 8, 2));
        let scale = Tensor::from(10f64.ln());
        let loss = clip_loss(&image, &text, &scale).double_value(&[]);
        // -mean(log softmax diag) over rows, then over columns, by hand.
        let logits = image.matmul(&text.transpose(0, 1)) * 10.0;
        let by_rows = -logits.log_softmax(1, Kind::Double).diagonal(0, 0, 1).mean(Kind::Double).double_value(&[]);
        let by_cols = -logits.log_softmax(0, Kind::Double).diagonal(0, 0, 1).mean(Kind::Double).double_value(&[]);
        assert!((loss - (by_rows + by_cols) / 2.0).abs() < 1e-12, "{loss} vs {by_rows} and {by_cols}");
    }

    #[test]
    fn matched_pairs_score_lower_than_shuffled_ones() {
        let image = normalised(8, 16, 3);
        let scale = Tensor::from(100f64.ln());
        let matched = clip_loss(&image, &image, &scale).double_value(&[]);
        let shuffled = clip_loss(&image, &image.roll([1], [0]), &scale).double_value(&[]);
        assert!(matched < 0.1 && shuffled > 1.0, "matched {matched}, shuffled {shuffled}");
    }

    /// The ranks' local losses average to the loss of the whole batch (both kinds).
    #[test]
    fn local_losses_average_to_the_global_loss() {
        let (image, text) = (normalised(8, 6, 4), normalised(8, 6, 5));
        let (scale, bias) = (Tensor::from(2.5f64), Tensor::from(-3.0f64));
        for kind in [LossKind::Clip, LossKind::Siglip] {
            let global = local_loss(kind, &image, &text, 0, 8, &scale, Some(&bias)).double_value(&[]);
            let mean = (0..4)
                .map(|rank| local_loss(kind, &image, &text, rank, 2, &scale, Some(&bias)).double_value(&[]))
                .sum::<f64>()
                / 4.0;
            assert!((global - mean).abs() < 1e-12, "{kind:?}: {global} vs {mean}");
        }
        // SigLIP by hand on one pair of rows.
        let (i, t) = (normalised(2, 3, 6), normalised(2, 3, 7));
        let z = i.matmul(&t.transpose(0, 1)) * 2.5f64.exp() - 3.0;
        let z = Vec::<f64>::try_from(z.flatten(0, 1)).unwrap();
        let ls = |x: f64| -(1.0 + (-x).exp()).ln();
        let by_hand = -(ls(z[0]) + ls(-z[1]) + ls(-z[2]) + ls(z[3])) / 2.0;
        let ours = siglip_loss(&i, &t, &scale, &bias).double_value(&[]);
        assert!((ours - by_hand).abs() < 1e-12, "{ours} vs {by_hand}");
    }
}
