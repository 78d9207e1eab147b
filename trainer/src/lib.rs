//! wit-trainer: contrastive image-text pre-training (CLIP) in tch, the consumer of wit's corpus.
//!
//! - [`config`]: model sizes (`tiny` for tests, `ViT-S-32`, `ViT-B-32` with open_clip's dimensions);
//! - [`model`]: the ViT image tower and causal text transformer, parameter names as open_clip's;
//! - [`tokenizer`]: CLIP's byte-level BPE, as open_clip's `SimpleTokenizer`;
//! - [`html`]: HTML character references decoded as Python's `html.unescape` and ftfy do;
//! - [`loss`]: the symmetric contrastive loss (open_clip's `ClipLoss`) and SigLIP's sigmoid loss;
//! - [`launch`]: N local ranks of one job (torchrun's environment);
//! - [`dist`]: PyTorch's c10d process groups (Gloo, NCCL) through a small C++ shim;
//! - [`parallel`]: data-parallel steps with the global batch's loss and gradient;
//! - [`data`]: the input pipeline from corpus shards to normalised batches on the device;
//! - [`optim`]: AdamW with open_clip's defaults and its own moments, the warm-up + cosine schedule;
//! - [`checkpoint`]: safetensors checkpoints written atomically, `--resume latest`;
//! - [`train`]: the training run (the crate's door: [`train::train`]);
//! - [`eval`]: zero-shot classification and retrieval on held-out shards;
//! - [`synthetic`]: a generated corpus of coloured shapes with captions, for tests and benchmarks;
//! - [`speed`]: training-step throughput on a fixed batch, and a check of the pinned copies;
//! - [`smoke`]: one real training step on CPU or GPU, to check a libtorch install end to end.
//!
//! This is the only crate of the workspace that links libtorch.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod dist;
pub mod eval;
pub mod launch;
pub mod loss;
pub mod model;
pub mod optim;
pub mod parallel;
pub mod rng;
pub mod smoke;
pub mod speed;
pub mod synthetic;
pub mod tokenizer;
pub mod train;

pub use train::{train, Precision, Resume, TrainOptions, TrainStats};
