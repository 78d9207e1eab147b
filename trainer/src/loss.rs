//! The symmetric contrastive loss of CLIP, as open_clip's `ClipLoss` computes it on one device:
//! cross-entropy of image→text logits and of text→image logits against the diagonal, averaged.

use tch::{Kind, Tensor};

/// Image→text and text→image logits: `logit_scale.exp() · image · textᵀ` on normalised features.
pub fn clip_logits(image_features: &Tensor, text_features: &Tensor, logit_scale: &Tensor) -> (Tensor, Tensor) {
    let logits_per_image = logit_scale.exp() * image_features.matmul(&text_features.transpose(0, 1));
    let logits_per_text = logits_per_image.transpose(0, 1);
    (logits_per_image, logits_per_text)
}

/// `(CE(logits_per_image, i) + CE(logits_per_text, i)) / 2` with labels `i = 0..batch`.
pub fn clip_loss(image_features: &Tensor, text_features: &Tensor, logit_scale: &Tensor) -> Tensor {
    let (logits_per_image, logits_per_text) = clip_logits(image_features, text_features, logit_scale);
    let batch = logits_per_image.size()[0];
    let labels = Tensor::arange(batch, (Kind::Int64, logits_per_image.device()));
    (cross_entropy(&logits_per_image, &labels) + cross_entropy(&logits_per_text, &labels)) / 2.0
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
}
