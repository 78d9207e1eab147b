//! One real training run in miniature: a model of the given config, a fixed batch of random images
//! and token rows, and a few AdamW steps with forward, backward and the logit-scale clamp. It
//! proves libtorch is linked and working on the chosen device, and that the model can learn (the
//! loss on a fixed batch must fall).

use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::config::ClipConfig;
use crate::loss::clip_loss;
use crate::model::Clip;

/// Start- and end-of-text ids of CLIP's tokenizer.
pub const START_OF_TEXT: i64 = 49_406;
pub const END_OF_TEXT: i64 = 49_407;

#[derive(Debug, Clone)]
pub struct SmokeReport {
    pub device: Device,
    pub parameters: i64,
    pub losses: Vec<f64>,
    /// Whether every trainable tensor received a finite, non-zero gradient in the first step.
    pub every_parameter_learns: bool,
    pub logit_scale: f64,
}

/// Trains `config` for `steps` AdamW steps on one fixed random batch of `batch` pairs.
pub fn smoke(config: &ClipConfig, device: Device, batch: i64, steps: usize, seed: i64) -> SmokeReport {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(device);
    let mut model = Clip::new(&vs.root(), config);
    let adamw = nn::AdamW { beta1: 0.9, beta2: 0.98, wd: 0.2, eps: 1e-6, amsgrad: false };
    let mut optimizer = adamw.build(&vs, 1e-3).expect("AdamW over the var store");

    let images = Tensor::randn([batch, 3, config.image_size, config.image_size], (Kind::Float, device));
    let tokens = random_token_rows(config, batch, device);
    let parameters = vs.trainable_variables().iter().map(Tensor::numel).sum::<usize>() as i64;

    let mut losses = Vec::with_capacity(steps);
    let mut every_parameter_learns = false;
    for step in 0..steps {
        optimizer.zero_grad();
        let (image_features, text_features) = model.forward(&images, &tokens);
        let loss = clip_loss(&image_features, &text_features, &model.logit_scale);
        loss.backward();
        if step == 0 {
            every_parameter_learns = vs.trainable_variables().iter().all(|v| {
                let grad = v.grad();
                grad.defined()
                    && grad.isfinite().all().int64_value(&[]) == 1
                    && grad.abs().sum(Kind::Double).double_value(&[]) > 0.0
            });
        }
        optimizer.step();
        model.clamp_logit_scale();
        losses.push(loss.double_value(&[]));
    }
    let logit_scale = model.logit_scale.double_value(&[]);
    SmokeReport { device, parameters, losses, every_parameter_learns, logit_scale }
}

/// Rows of `[start, k random ids, end, 0…]` with k from 1 to 8.
fn random_token_rows(config: &ClipConfig, batch: i64, device: Device) -> Tensor {
    let lengths = Tensor::randint_low(1, 9, [batch], (Kind::Int64, Device::Cpu));
    let ids = Tensor::randint_low(1, START_OF_TEXT, [batch, 8], (Kind::Int64, Device::Cpu));
    let mut rows = vec![0i64; (batch * config.context_length) as usize];
    for b in 0..batch {
        let row = &mut rows[(b * config.context_length) as usize..((b + 1) * config.context_length) as usize];
        let length = lengths.int64_value(&[b]);
        row[0] = START_OF_TEXT;
        for i in 0..length {
            row[1 + i as usize] = ids.int64_value(&[b, i]);
        }
        row[1 + length as usize] = END_OF_TEXT;
    }
    Tensor::from_slice(&rows).view([batch, config.context_length]).to(device)
}
