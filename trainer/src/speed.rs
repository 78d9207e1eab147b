//! Training-step throughput on a device, the way the trainer runs a step: a host batch of u8
//! pixels and token ids copied by the [`DeviceFeeder`] (pinned memory and a non-blocking copy on
//! CUDA), normalised there, forward, the loss, backward, AdamW and the logit-scale clamp. The data
//! pipeline is left out (a fixed batch), as in the peer measurement (`scripts/open_clip_speed.py`
//! drives open_clip's own `train_one_epoch` on a fixed batch) so the two compare like for like.
//!
//! It also checks that the pinned, non-blocking copy delivers exactly what a plain copy does.

use std::collections::BTreeMap;
use std::time::Instant;

use tch::{nn, Device, Kind, Tensor};

use crate::config::ClipConfig;
use crate::data::{DataPosition, DeviceFeeder, HostBatch};
use crate::loss::LossKind;
use crate::model::Clip;
use crate::optim::{AdamW, AdamWConfig};
use crate::parallel;
use crate::rng::Rng;

#[derive(Debug, Clone)]
pub struct SpeedReport {
    pub device: Device,
    pub precision: Kind,
    pub batch: usize,
    pub steps: usize,
    pub samples_per_s: f64,
    pub step_ms: f64,
    /// The loss of the last step (finite when training works).
    pub loss: f64,
    /// The pinned, non-blocking copy gave the same normalised pixels and ids as a plain copy.
    pub pinned_copy_matches: bool,
}

/// A random host batch of `batch` images and captions' token rows.
pub fn random_host_batch(config: &ClipConfig, batch: usize, seed: u64) -> HostBatch {
    let mut rng = Rng::keyed(seed, &[]);
    let pixels = batch * 3 * (config.image_size * config.image_size) as usize;
    let images: Vec<u8> = (0..pixels).map(|_| rng.below(256) as u8).collect();
    let context = config.context_length as usize;
    let mut tokens = vec![0i64; batch * context];
    for row in tokens.chunks_mut(context) {
        let length = 2 + rng.below(14) as usize;
        row[0] = crate::tokenizer::START_OF_TEXT;
        for id in &mut row[1..length] {
            *id = 1 + rng.below(49_000) as i64;
        }
        row[length] = crate::tokenizer::END_OF_TEXT;
    }
    HostBatch {
        images,
        tokens,
        captions: vec![String::new(); batch],
        query_ids: vec![Vec::new(); batch],
        keys: vec![String::new(); batch],
        len: batch,
        position: DataPosition::default(),
        skipped: BTreeMap::new(),
    }
}

fn synchronize(device: Device) {
    if let Device::Cuda(index) = device {
        tch::Cuda::synchronize(index as i64);
    }
}

/// Times `steps` training steps (after `warmup` untimed ones) of `config` at `batch` pairs.
pub fn training_speed(
    config: &ClipConfig,
    device: Device,
    precision: Kind,
    batch: usize,
    warmup: usize,
    steps: usize,
) -> SpeedReport {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(device);
    let mut model = Clip::new(&vs.root(), config);
    model.compute_kind = precision;
    let parameters: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let mut optimizer = AdamW::new(parameters, AdamWConfig::default());
    let feeder = DeviceFeeder::new(device);
    let host = random_host_batch(config, batch, 1);

    let (images, tokens) = feeder.to_device(&host, config.image_size, config.context_length);
    let n = batch as i64;
    let plain_images = feeder.normalise(
        &Tensor::from_slice(&host.images).view([n, 3, config.image_size, config.image_size]).to_device(device),
    );
    let plain_tokens = Tensor::from_slice(&host.tokens).view([n, config.context_length]).to_device(device);
    let pinned_copy_matches = images.device() == device
        && (images - plain_images).abs().max().double_value(&[]) == 0.0
        && tokens.equal(&plain_tokens);

    let mut loss = Tensor::from(f64::NAN);
    let mut start = Instant::now();
    for step in 0..warmup + steps {
        if step == warmup {
            synchronize(device);
            start = Instant::now();
        }
        let (images, tokens) = feeder.to_device(&host, config.image_size, config.context_length);
        optimizer.zero_grad();
        loss = parallel::forward_backward(&model, &images, &tokens, LossKind::Clip, None)
            .expect("one process has no collectives to fail");
        optimizer.step(1e-4);
        model.clamp_logit_scale();
    }
    synchronize(device);
    let elapsed = start.elapsed().as_secs_f64().max(1e-9);
    SpeedReport {
        device,
        precision,
        batch,
        steps,
        samples_per_s: (batch * steps) as f64 / elapsed,
        step_ms: elapsed * 1000.0 / steps.max(1) as f64,
        loss: loss.double_value(&[]),
        pinned_copy_matches,
    }
}
