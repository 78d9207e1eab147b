//! Model configurations, named and sized as open_clip's so weights are interchangeable.

use std::fmt;
use std::str::FromStr;

/// A transformer tower's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TowerConfig {
    pub width: i64,
    pub layers: i64,
    pub heads: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipConfig {
    pub name: &'static str,
    /// Width of the shared image-text embedding.
    pub embed_dim: i64,
    pub image_size: i64,
    pub patch_size: i64,
    pub vision: TowerConfig,
    pub context_length: i64,
    pub vocab_size: i64,
    pub text: TowerConfig,
}

/// CLIP's BPE vocabulary size and context length (the tokenizer's, shared by every config).
pub const VOCAB_SIZE: i64 = 49_408;
pub const CONTEXT_LENGTH: i64 = 77;

impl ClipConfig {
    /// A model small enough for CPU tests: 32 px images in 8 px patches, 2-layer towers.
    pub const TINY: ClipConfig = ClipConfig {
        name: "tiny",
        embed_dim: 32,
        image_size: 32,
        patch_size: 8,
        vision: TowerConfig { width: 64, layers: 2, heads: 2 },
        context_length: CONTEXT_LENGTH,
        vocab_size: VOCAB_SIZE,
        text: TowerConfig { width: 64, layers: 2, heads: 2 },
    };

    /// open_clip `ViT-S-32`.
    pub const VIT_S_32: ClipConfig = ClipConfig {
        name: "ViT-S-32",
        embed_dim: 384,
        image_size: 224,
        patch_size: 32,
        vision: TowerConfig { width: 384, layers: 12, heads: 6 },
        context_length: CONTEXT_LENGTH,
        vocab_size: VOCAB_SIZE,
        text: TowerConfig { width: 384, layers: 12, heads: 6 },
    };

    /// open_clip `ViT-B-32`.
    pub const VIT_B_32: ClipConfig = ClipConfig {
        name: "ViT-B-32",
        embed_dim: 512,
        image_size: 224,
        patch_size: 32,
        vision: TowerConfig { width: 768, layers: 12, heads: 12 },
        context_length: CONTEXT_LENGTH,
        vocab_size: VOCAB_SIZE,
        text: TowerConfig { width: 512, layers: 12, heads: 8 },
    };

    pub const ALL: [ClipConfig; 3] = [ClipConfig::TINY, ClipConfig::VIT_S_32, ClipConfig::VIT_B_32];

    /// Patches per image side.
    pub fn grid_size(&self) -> i64 {
        self.image_size / self.patch_size
    }

    /// open_clip's `open_clip_config.json` for this model, written beside every exported
    /// `model.safetensors` so that `open_clip.create_model_and_transforms('local-dir:DIR')` builds
    /// the same network and the transform wit-train evaluates with: `model_cfg` holds the arguments
    /// of open_clip's `CLIP` (a SigLIP-trained model adds its `init_logit_bias`), `preprocess_cfg`
    /// CLIP's mean and standard deviation, bicubic resize of the shortest side and a centre crop.
    pub fn open_clip_config(&self, loss: crate::loss::LossKind) -> serde_json::Value {
        let mut model_cfg = serde_json::json!({
            "embed_dim": self.embed_dim,
            "vision_cfg": {
                "image_size": self.image_size,
                "patch_size": self.patch_size,
                "width": self.vision.width,
                "layers": self.vision.layers,
                "head_width": self.vision.width / self.vision.heads,
            },
            "text_cfg": {
                "context_length": self.context_length,
                "vocab_size": self.vocab_size,
                "width": self.text.width,
                "heads": self.text.heads,
                "layers": self.text.layers,
            },
        });
        if loss == crate::loss::LossKind::Siglip {
            model_cfg["init_logit_bias"] = crate::model::SIGLIP_LOGIT_BIAS.into();
        }
        serde_json::json!({
            "model_cfg": model_cfg,
            "preprocess_cfg": {
                "size": self.image_size,
                "mode": "RGB",
                "mean": crate::data::CLIP_MEAN,
                "std": crate::data::CLIP_STD,
                "interpolation": "bicubic",
                "resize_mode": "shortest",
            },
        })
    }
}

impl FromStr for ClipConfig {
    type Err = String;
    fn from_str(name: &str) -> Result<Self, String> {
        ClipConfig::ALL.into_iter().find(|c| c.name == name).ok_or_else(|| {
            let names: Vec<&str> = ClipConfig::ALL.iter().map(|c| c.name).collect();
            format!("unknown model config {name:?}; known: {}", names.join(", "))
        })
    }
}

impl fmt::Display for ClipConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}
