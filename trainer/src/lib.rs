//! wit-trainer: contrastive image-text pre-training (CLIP) in tch, the consumer of wit's corpus.
//!
//! - [`config`]: model sizes (`tiny` for tests, `ViT-S-32`, `ViT-B-32` with open_clip's dimensions);
//! - [`model`]: the ViT image tower and causal text transformer, parameter names as open_clip's;
//! - [`loss`]: the symmetric contrastive loss (open_clip's `ClipLoss`);
//! - [`smoke`]: one real training step on CPU or GPU, to check a libtorch install end to end.
//!
//! This is the only crate of the workspace that links libtorch.

pub mod config;
pub mod loss;
pub mod model;
pub mod smoke;
