//! Data-parallel training over a c10d process group ([`crate::dist`]), with the exact gradient of
//! the **global** batch's loss.
//!
//! Every rank holds the same parameters (broadcast from rank 0 at the start) and its own `n` rows
//! of the global batch of `N = n · world` rows. One step:
//! 1. forward on the local rows → normalised image and text features (`n × d` each);
//! 2. all-gather the features (detached) → `N × d`, as leaves that collect gradients;
//! 3. the rank's local loss `ℓ_r` (its rows against all rows; [`crate::loss`]), divided by the world
//!    size, backward → gradients for the gathered features and the logit scale / bias;
//! 4. all-reduce (sum) those feature gradients: rank `r`'s rows of the sum are
//!    `∂L/∂f_r` of the global loss `L = mean_r ℓ_r` — what open_clip's gather-with-grad
//!    (`torch.distributed.nn.all_gather`, whose backward reduces the gradients of every rank's copy)
//!    gives; the same all-reduce carries `ℓ_r / world`, so the global loss arrives with it;
//! 5. backward from the local features with those gradients → this rank's share of `∂L/∂θ`;
//! 6. all-reduce (sum) the parameter gradients in flat buckets → `∂L/∂θ` on every rank, exactly the
//!    gradient one process would compute on the whole global batch. (DDP averages per-rank
//!    gradients of a loss that each rank scaled by the world size; this is the same sum.)
//!
//! Then every rank takes the same optimiser step, so the parameters stay identical without being
//! sent again. Two small collectives per step carry features (`N × 2d`), then the gradients.

use std::collections::BTreeMap;

use tch::Tensor;

use crate::dist::{DistError, ProcessGroup};
use crate::loss::{local_loss, LossKind};
use crate::model::Clip;

/// Parameter bytes per all-reduce (as DDP's default bucket, 25 MiB).
pub const BUCKET_BYTES: usize = 25 << 20;

/// Forward and backward of one step on this rank's rows; gradients are left in the parameters
/// (for a group, only this rank's share: call [`all_reduce_gradients`] next). Returns the global
/// batch's loss as a tensor on the device (read it back only when it is logged).
pub fn forward_backward(
    model: &Clip,
    images: &Tensor,
    tokens: &Tensor,
    loss: LossKind,
    group: Option<&ProcessGroup>,
) -> Result<Tensor, DistError> {
    let (image, text) = model.forward(images, tokens);
    global_loss_backward(&image, &text, &model.logit_scale, model.logit_bias.as_ref(), loss, group)
}

/// Steps 2–5 above for this rank's normalised features (`n × d`, with their graph): the global
/// batch's loss, backward into the features' graph and the logit scale / bias. Returns the loss.
pub fn global_loss_backward(
    image: &Tensor,
    text: &Tensor,
    logit_scale: &Tensor,
    logit_bias: Option<&Tensor>,
    loss: LossKind,
    group: Option<&ProcessGroup>,
) -> Result<Tensor, DistError> {
    let rows = image.size()[0];
    let group = match group {
        Some(group) if group.world_size > 1 => group,
        _ => {
            let value = local_loss(loss, image, text, 0, rows, logit_scale, logit_bias);
            value.backward();
            return Ok(value.detach());
        }
    };
    let (world, rank) = (group.world_size as i64, group.rank as i64);
    let dim = image.size()[1];
    let local = Tensor::cat(&[image.detach(), text.detach()], 1);
    let gathered = group.all_gather(&local, "all-gather of the features")?.set_requires_grad(true);
    let (all_image, all_text) = (gathered.narrow(1, 0, dim), gathered.narrow(1, dim, dim));
    let share = local_loss(loss, &all_image, &all_text, rank, rows, logit_scale, logit_bias) / world as f64;
    share.backward();
    let kind = gathered.kind();
    let mut packed = Tensor::cat(&[gathered.grad().reshape([-1]), share.detach().to_kind(kind).reshape([1])], 0);
    group.all_reduce_sum(&mut packed, "all-reduce of the feature gradients")?;
    let total = world * rows * 2 * dim;
    let feature_grads = packed.narrow(0, 0, total).view([world * rows, 2 * dim]).narrow(0, rank * rows, rows);
    let surrogate =
        (image * feature_grads.narrow(1, 0, dim)).sum(kind) + (text * feature_grads.narrow(1, dim, dim)).sum(kind);
    surrogate.backward();
    Ok(packed.narrow(0, total, 1).view([]))
}

/// Groups tensors (in the given order) into buckets of at most `bucket_bytes` (a larger tensor
/// is a bucket of its own), all of one dtype and device.
fn buckets(tensors: &[Tensor], bucket_bytes: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut bytes = 0usize;
    let mut last_kind = None;
    for (i, t) in tensors.iter().enumerate() {
        let size = t.numel() * t.kind().elt_size_in_bytes();
        let same = last_kind == Some((t.kind(), t.device()));
        match out.last_mut() {
            Some(bucket) if same && bytes + size <= bucket_bytes => {
                bucket.push(i);
                bytes += size;
            }
            _ => {
                out.push(vec![i]);
                bytes = size;
            }
        }
        last_kind = Some((t.kind(), t.device()));
    }
    out
}

/// Sums every parameter's gradient over the group, in flat buckets (one all-reduce each). A
/// parameter without a gradient contributes zeros (and is left without one).
pub fn all_reduce_gradients(parameters: &[Tensor], group: &ProcessGroup, bucket_bytes: usize) -> Result<(), DistError> {
    if group.world_size <= 1 {
        return Ok(());
    }
    tch::no_grad(|| {
        for bucket in buckets(parameters, bucket_bytes) {
            let grads: Vec<Tensor> = bucket
                .iter()
                .map(|&i| {
                    let grad = parameters[i].grad();
                    if grad.defined() {
                        grad.reshape([-1])
                    } else {
                        parameters[i].zeros_like().reshape([-1])
                    }
                })
                .collect();
            let mut flat = Tensor::cat(&grads, 0);
            group.all_reduce_sum(&mut flat, "all-reduce of the gradients")?;
            let mut offset = 0;
            for &i in &bucket {
                let numel = parameters[i].numel() as i64;
                let mut grad = parameters[i].grad();
                if grad.defined() {
                    grad.copy_(&flat.narrow(0, offset, numel).view_as(&grad));
                }
                offset += numel;
            }
        }
        Ok(())
    })
}

/// Overwrites every rank's parameters with rank 0's (at the start, so that all ranks begin alike).
pub fn broadcast_parameters(parameters: &[Tensor], group: &ProcessGroup) -> Result<(), DistError> {
    if group.world_size <= 1 {
        return Ok(());
    }
    tch::no_grad(|| {
        for bucket in buckets(parameters, BUCKET_BYTES) {
            let flats: Vec<Tensor> = bucket.iter().map(|&i| parameters[i].detach().reshape([-1])).collect();
            let mut flat = Tensor::cat(&flats, 0);
            group.broadcast(&mut flat, 0, "broadcast of the parameters from rank 0")?;
            let mut offset = 0;
            for &i in &bucket {
                let mut param = parameters[i].shallow_clone();
                let numel = param.numel() as i64;
                param.copy_(&flat.narrow(0, offset, numel).view_as(&param));
                offset += numel;
            }
        }
        Ok(())
    })
}

/// The parameters in name order (the same order on every rank).
pub fn ordered_parameters(variables: &BTreeMap<String, Tensor>) -> Vec<Tensor> {
    variables.values().map(Tensor::shallow_clone).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn buckets_respect_the_byte_budget_and_dtypes() {
        let t = |n: i64, kind: Kind| Tensor::zeros([n], (kind, Device::Cpu));
        let tensors =
            [t(10, Kind::Float), t(10, Kind::Float), t(100, Kind::Float), t(1, Kind::Double), t(1, Kind::Float)];
        assert_eq!(buckets(&tensors, 80), vec![vec![0, 1], vec![2], vec![3], vec![4]]);
        assert_eq!(buckets(&tensors, 1 << 20), vec![vec![0, 1, 2], vec![3], vec![4]]);
    }
}
