//! wit-trainer: contrastive image-text pre-training (CLIP) in tch.
pub mod loss;
