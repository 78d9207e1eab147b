//! AdamW as `torch.optim.AdamW` computes it, with open_clip's defaults and parameter groups, and
//! with its moment tensors held here (tch cannot save an optimiser's state) so that a checkpoint
//! restores the optimiser exactly. Also the learning-rate schedule (linear warm-up, then cosine to
//! zero, as open_clip's `cosine_lr`) and gradient-norm clipping (`clip_grad_norm_`).

use std::collections::BTreeMap;

use tch::{Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    /// open_clip's defaults for ViT models.
    fn default() -> Self {
        AdamWConfig { beta1: 0.9, beta2: 0.98, eps: 1e-6, weight_decay: 0.2 }
    }
}

/// open_clip's rule: no weight decay on gains, biases, the logit scale or any tensor of rank < 2
/// (`p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n`).
pub fn decays(name: &str, shape: &[i64]) -> bool {
    !(shape.len() < 2
        || name.contains("bn")
        || name.contains("ln")
        || name.contains("bias")
        || name.contains("logit_scale"))
}

struct Slot {
    name: String,
    param: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    decay: bool,
}

/// AdamW over named parameters (a var store's trainable variables).
pub struct AdamW {
    pub config: AdamWConfig,
    slots: Vec<Slot>,
    /// Optimiser steps taken (the bias corrections use it).
    pub steps: i64,
}

impl AdamW {
    pub fn new(parameters: BTreeMap<String, Tensor>, config: AdamWConfig) -> Self {
        let slots = parameters
            .into_iter()
            .map(|(name, param)| Slot {
                decay: decays(&name, &param.size()),
                exp_avg: param.zeros_like().detach(),
                exp_avg_sq: param.zeros_like().detach(),
                name,
                param,
            })
            .collect();
        AdamW { config, slots, steps: 0 }
    }

    pub fn zero_grad(&mut self) {
        for slot in &mut self.slots {
            let mut grad = slot.param.grad();
            if grad.defined() {
                let _ = grad.detach_().zero_();
            }
        }
    }

    /// Scales all gradients so their joint L2 norm is at most `max_norm`; returns the norm before.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        let total = self.grad_norm();
        let coef = max_norm / (total + 1e-6);
        if coef < 1.0 {
            tch::no_grad(|| {
                for slot in &self.slots {
                    let mut grad = slot.param.grad();
                    if grad.defined() {
                        let _ = grad.g_mul_scalar_(coef);
                    }
                }
            });
        }
        total
    }

    /// The joint L2 norm of all gradients.
    pub fn grad_norm(&self) -> f64 {
        let norms: Vec<Tensor> = self
            .slots
            .iter()
            .map(|s| s.param.grad())
            .filter(Tensor::defined)
            .map(|g| g.norm().to_kind(Kind::Float))
            .collect();
        if norms.is_empty() {
            return 0.0;
        }
        Tensor::stack(&norms, 0).norm().double_value(&[])
    }

    /// One AdamW step at learning rate `lr`.
    pub fn step(&mut self, lr: f64) {
        self.steps += 1;
        let AdamWConfig { beta1, beta2, eps, weight_decay } = self.config;
        let bias_correction1 = 1.0 - beta1.powi(self.steps as i32);
        let bias_correction2_sqrt = (1.0 - beta2.powi(self.steps as i32)).sqrt();
        tch::no_grad(|| {
            for slot in &mut self.slots {
                let grad = slot.param.grad();
                if !grad.defined() {
                    continue;
                }
                if slot.decay {
                    let _ = slot.param.g_mul_scalar_(1.0 - lr * weight_decay);
                }
                let _ = slot.exp_avg.lerp_(&grad, 1.0 - beta1);
                let _ = slot.exp_avg_sq.g_mul_scalar_(beta2).addcmul_(&grad, &grad.g_mul_scalar(1.0 - beta2));
                let denom = slot.exp_avg_sq.sqrt() / bias_correction2_sqrt + eps;
                let _ = slot.param.addcdiv_(&(&slot.exp_avg * (-lr / bias_correction1)), &denom);
            }
        });
    }

    /// The moments as named tensors (`exp_avg.NAME`, `exp_avg_sq.NAME`) for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut named = Vec::with_capacity(2 * self.slots.len());
        for slot in &self.slots {
            named.push((format!("exp_avg.{}", slot.name), slot.exp_avg.shallow_clone()));
            named.push((format!("exp_avg_sq.{}", slot.name), slot.exp_avg_sq.shallow_clone()));
        }
        named
    }

    /// Restores the moments saved by [`AdamW::state`]; every one must be present with its shape.
    pub fn load_state(&mut self, steps: i64, named: &BTreeMap<String, Tensor>) -> Result<(), String> {
        for slot in &mut self.slots {
            for (prefix, moment) in [("exp_avg", &mut slot.exp_avg), ("exp_avg_sq", &mut slot.exp_avg_sq)] {
                let key = format!("{prefix}.{}", slot.name);
                let saved = named.get(&key).ok_or_else(|| format!("no {key}"))?;
                if saved.size() != moment.size() {
                    return Err(format!("{key}: shape {:?}, the model has {:?}", saved.size(), moment.size()));
                }
                tch::no_grad(|| moment.copy_(saved));
            }
        }
        self.steps = steps;
        Ok(())
    }
}

/// Linear warm-up over `warmup` steps to `base`, then cosine decay to 0 at `total` (open_clip's
/// `cosine_lr`; `step` counts from 0).
pub fn cosine_lr(base: f64, warmup: u64, total: u64, step: u64) -> f64 {
    if step < warmup {
        base * (step + 1) as f64 / warmup as f64
    } else {
        let progress = (step - warmup) as f64;
        let span = total.saturating_sub(warmup).max(1) as f64;
        0.5 * (1.0 + (std::f64::consts::PI * progress / span).cos()) * base
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn groups_follow_open_clip() {
        assert!(decays("visual.conv1.weight", &[64, 3, 8, 8]));
        assert!(decays("token_embedding.weight", &[10, 4]));
        assert!(decays("text_projection", &[4, 4]));
        assert!(!decays("visual.class_embedding", &[64]));
        assert!(!decays("ln_final.weight", &[64]));
        assert!(!decays("transformer.resblocks.0.attn.in_proj_bias", &[12]));
        assert!(!decays("logit_scale", &[]));
    }

    #[test]
    fn schedule_warms_up_then_follows_a_cosine() {
        assert!((cosine_lr(1.0, 10, 110, 0) - 0.1).abs() < 1e-12);
        assert!((cosine_lr(1.0, 10, 110, 9) - 1.0).abs() < 1e-12);
        assert!((cosine_lr(1.0, 10, 110, 10) - 1.0).abs() < 1e-12);
        assert!((cosine_lr(1.0, 10, 110, 60) - 0.5).abs() < 1e-12);
        assert!(cosine_lr(1.0, 10, 110, 110).abs() < 1e-12);
    }

    /// The same updates as torch.optim.AdamW, written out step by step in f64.
    #[test]
    fn steps_match_the_written_out_update() {
        let param = Tensor::from_slice(&[1.0f64, -2.0, 0.5, 3.0]).view([2, 2]).set_requires_grad(true);
        let mut optimizer =
            AdamW::new(BTreeMap::from([("w".to_owned(), param.shallow_clone())]), AdamWConfig::default());
        let (mut p, mut m, mut v) = (vec![1.0f64, -2.0, 0.5, 3.0], [0.0f64; 4], [0.0f64; 4]);
        for step in 1..=3 {
            optimizer.zero_grad();
            let loss = (&param * &param * &param).sum(Kind::Double);
            loss.backward();
            optimizer.step(0.1);
            let c = AdamWConfig::default();
            for i in 0..4 {
                let g = 3.0 * p[i] * p[i];
                p[i] *= 1.0 - 0.1 * c.weight_decay;
                m[i] = c.beta1 * m[i] + (1.0 - c.beta1) * g;
                v[i] = c.beta2 * v[i] + (1.0 - c.beta2) * g * g;
                let denom = (v[i].sqrt() / (1.0 - c.beta2.powi(step)).sqrt()) + c.eps;
                p[i] -= 0.1 / (1.0 - c.beta1.powi(step)) * m[i] / denom;
            }
        }
        let got = Vec::<f64>::try_from(param.detach().flatten(0, 1)).unwrap();
        for (a, b) in got.iter().zip(&p) {
            assert!((a - b).abs() < 1e-12, "{got:?} vs {p:?}");
        }
        let _ = Device::Cpu;
    }

    #[test]
    fn clipping_bounds_the_joint_norm() {
        let a = Tensor::from_slice(&[3.0f32, 0.0]).set_requires_grad(true);
        let b = Tensor::from_slice(&[0.0f32, 4.0]).set_requires_grad(true);
        let params = BTreeMap::from([("a".to_owned(), a.shallow_clone()), ("b".to_owned(), b.shallow_clone())]);
        let mut optimizer = AdamW::new(params, AdamWConfig::default());
        ((&a * &a).sum(Kind::Float) / 2.0 + (&b * &b).sum(Kind::Float) / 2.0).backward();
        let before = optimizer.clip_grad_norm(1.0);
        assert!((before - 5.0).abs() < 1e-5);
        assert!((optimizer.grad_norm() - 1.0).abs() < 1e-4);
    }
}
