//! CLIP in tch: a ViT image tower and a GPT-2-style causal text tower, projected to one width.
//!
//! Parameter names mirror open_clip's `CLIP` module (`visual.conv1.weight`,
//! `transformer.resblocks.0.attn.in_proj_weight`, `text_projection`, `logit_scale`, …) so a
//! state dict moves between the two. Layout, as open_clip's: pre-LN blocks with fused q/k/v
//! projection, exact GELU MLP of width 4×; the image tower adds a class token and `ln_pre`, pools
//! the class token through `ln_post` and `proj`; the text tower pools the end-of-text token (the
//! highest id in each row) through `ln_final` and `text_projection`. Initialisation follows
//! open_clip's text-tower scheme (normal, std from width and depth) in both towers.
//!
//! Mixed precision: with [`Clip::compute_kind`] set to bf16 (the trainer does on CUDA) every
//! matrix product, the patch convolution and attention run in bf16 on bf16 copies of the f32
//! weights, while layer norms, the residual stream and the features stay in the weights' precision
//! (f32) — what torch's autocast does. tch's own `autocast` cannot choose bf16 (it only toggles
//! CUDA's default, f16). A var store converted to f64 (with `compute_kind` f64) runs wholly in f64,
//! which the exactness tests of data-parallel training use.
//!
//! For the SigLIP loss ([`Clip::new_for`] with [`LossKind::Siglip`]) the model also has open_clip's
//! `logit_bias` (initialised to −10) and its logit scale starts at ln 10.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::config::{ClipConfig, TowerConfig};
use crate::loss::LossKind;

/// ln(1/0.07), the logit scale CLIP starts from.
pub const INITIAL_LOGIT_SCALE: f64 = 2.659_260_036_932_778_3;
/// ln(100): the logit scale is clamped to this after every step.
pub const MAX_LOGIT_SCALE: f64 = 4.605_170_185_988_091;
/// ln 10 and −10: SigLIP's initial logit scale and bias (open_clip's `init_logit_scale`, `init_logit_bias`).
pub const SIGLIP_LOGIT_SCALE: f64 = std::f64::consts::LN_10;
pub const SIGLIP_LOGIT_BIAS: f64 = -10.0;

fn normal(stdev: f64) -> nn::Init {
    nn::Init::Randn { mean: 0.0, stdev }
}

fn linear(path: nn::Path, inputs: i64, outputs: i64, stdev: f64) -> nn::Linear {
    let config = nn::LinearConfig { ws_init: normal(stdev), bs_init: Some(nn::Init::Const(0.0)), bias: true };
    nn::linear(path, inputs, outputs, config)
}

fn layer_norm(path: nn::Path, width: i64) -> nn::LayerNorm {
    nn::layer_norm(path, vec![width], Default::default())
}

/// A pre-LN transformer block: `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`.
#[derive(Debug)]
struct ResidualAttentionBlock {
    ln_1: nn::LayerNorm,
    in_proj_weight: Tensor,
    in_proj_bias: Tensor,
    out_proj: nn::Linear,
    ln_2: nn::LayerNorm,
    c_fc: nn::Linear,
    c_proj: nn::Linear,
    heads: i64,
}

impl ResidualAttentionBlock {
    fn new(path: &nn::Path, tower: &TowerConfig) -> Self {
        let width = tower.width;
        let attn_std = (width as f64).powf(-0.5);
        let proj_std = attn_std * ((2 * tower.layers) as f64).powf(-0.5);
        let fc_std = ((2 * width) as f64).powf(-0.5);
        let attn = path / "attn";
        let mlp = path / "mlp";
        ResidualAttentionBlock {
            ln_1: layer_norm(path / "ln_1", width),
            in_proj_weight: attn.var("in_proj_weight", &[3 * width, width], normal(attn_std)),
            in_proj_bias: attn.zeros("in_proj_bias", &[3 * width]),
            out_proj: linear(&attn / "out_proj", width, width, proj_std),
            ln_2: layer_norm(path / "ln_2", width),
            c_fc: linear(&mlp / "c_fc", width, 4 * width, fc_std),
            c_proj: linear(&mlp / "c_proj", 4 * width, width, proj_std),
            heads: tower.heads,
        }
    }

    fn attention(&self, x: &Tensor, causal: bool) -> Tensor {
        let (batch, length, width) = x.size3().expect("blocks take (batch, length, width)");
        let head_width = width / self.heads;
        let qkv = x.linear(&self.in_proj_weight.to_kind(x.kind()), Some(&self.in_proj_bias.to_kind(x.kind())));
        let split = |t: &Tensor| t.view([batch, length, self.heads, head_width]).transpose(1, 2);
        let chunks = qkv.chunk(3, -1);
        let (q, k, v) = (split(&chunks[0]), split(&chunks[1]), split(&chunks[2]));
        let attended = Tensor::scaled_dot_product_attention(&q, &k, &v, None::<Tensor>, 0.0, causal, None, false);
        cast_linear(&self.out_proj, &attended.transpose(1, 2).reshape([batch, length, width]))
    }

    /// `x` is the residual stream (in the weights' precision); the products run in `compute`.
    fn forward(&self, x: &Tensor, causal: bool, compute: Kind) -> Tensor {
        let stream = x.kind();
        let x = x + self.attention(&self.ln_1.forward(x).to_kind(compute), causal).to_kind(stream);
        let hidden = cast_linear(&self.c_fc, &self.ln_2.forward(&x).to_kind(compute)).gelu("none");
        &x + cast_linear(&self.c_proj, &hidden).to_kind(stream)
    }
}

/// A stack of blocks under `transformer.resblocks.N`.
#[derive(Debug)]
struct Transformer {
    resblocks: Vec<ResidualAttentionBlock>,
}

impl Transformer {
    fn new(path: &nn::Path, tower: &TowerConfig) -> Self {
        let blocks = path / "resblocks";
        let resblocks = (0..tower.layers).map(|i| ResidualAttentionBlock::new(&(&blocks / i), tower)).collect();
        Transformer { resblocks }
    }

    fn forward(&self, x: &Tensor, causal: bool, compute: Kind) -> Tensor {
        self.resblocks.iter().fold(x.shallow_clone(), |x, block| block.forward(&x, causal, compute))
    }
}

/// The image tower (`visual.*`).
#[derive(Debug)]
struct VisionTransformer {
    patch_size: i64,
    conv1: nn::Conv2D,
    class_embedding: Tensor,
    positional_embedding: Tensor,
    ln_pre: nn::LayerNorm,
    transformer: Transformer,
    ln_post: nn::LayerNorm,
    proj: Tensor,
}

impl VisionTransformer {
    fn new(path: &nn::Path, config: &ClipConfig) -> Self {
        let width = config.vision.width;
        let scale = (width as f64).powf(-0.5);
        let conv = nn::ConvConfig { stride: config.patch_size, bias: false, ..Default::default() };
        let tokens = config.grid_size() * config.grid_size() + 1;
        VisionTransformer {
            patch_size: config.patch_size,
            conv1: nn::conv2d(path / "conv1", 3, width, config.patch_size, conv),
            class_embedding: path.var("class_embedding", &[width], normal(scale)),
            positional_embedding: path.var("positional_embedding", &[tokens, width], normal(scale)),
            ln_pre: layer_norm(path / "ln_pre", width),
            transformer: Transformer::new(&(path / "transformer"), &config.vision),
            ln_post: layer_norm(path / "ln_post", width),
            proj: path.var("proj", &[width, config.embed_dim], normal(scale)),
        }
    }

    /// (batch, 3, size, size) normalised pixels → (batch, embed_dim).
    fn forward(&self, images: &Tensor, compute: Kind) -> Tensor {
        let weight = self.conv1.ws.to_kind(compute);
        let stride = [self.patch_size, self.patch_size];
        let patches = images.to_kind(compute).conv2d(&weight, None::<Tensor>, stride, [0, 0], [1, 1], 1);
        let stream = self.class_embedding.kind();
        let patches = patches.to_kind(stream).flatten(2, 3).transpose(1, 2);
        let (batch, _, width) = patches.size3().expect("conv1 gives (batch, width, grid, grid)");
        let class = self.class_embedding.to_kind(patches.kind()).expand([batch, 1, width], false);
        let x = Tensor::cat(&[class, patches], 1) + &self.positional_embedding;
        let x = self.transformer.forward(&self.ln_pre.forward(&x), false, compute);
        let pooled = self.ln_post.forward(&x.select(1, 0)).to_kind(compute);
        pooled.matmul(&self.proj.to_kind(compute)).to_kind(stream)
    }
}

/// CLIP: both towers, their projections and the learnable logit scale.
#[derive(Debug)]
pub struct Clip {
    pub config: ClipConfig,
    /// The precision of matrix products: f32, or bf16 for mixed precision (see the module docs).
    pub compute_kind: Kind,
    visual: VisionTransformer,
    token_embedding: nn::Embedding,
    positional_embedding: Tensor,
    transformer: Transformer,
    ln_final: nn::LayerNorm,
    text_projection: Tensor,
    pub logit_scale: Tensor,
    /// SigLIP's learnable bias (None for the contrastive loss).
    pub logit_bias: Option<Tensor>,
}

impl Clip {
    /// A freshly initialised model for the contrastive loss, its variables in `root`'s var store.
    pub fn new(root: &nn::Path, config: &ClipConfig) -> Self {
        Self::new_for(root, config, LossKind::Clip)
    }

    /// A freshly initialised model for `loss` (SigLIP adds `logit_bias` and starts at scale ln 10).
    pub fn new_for(root: &nn::Path, config: &ClipConfig, loss: LossKind) -> Self {
        let width = config.text.width;
        let embedding = nn::EmbeddingConfig { ws_init: normal(0.02), ..Default::default() };
        Clip {
            config: *config,
            compute_kind: Kind::Float,
            visual: VisionTransformer::new(&(root / "visual"), config),
            token_embedding: nn::embedding(root / "token_embedding", config.vocab_size, width, embedding),
            positional_embedding: root.var("positional_embedding", &[config.context_length, width], normal(0.01)),
            transformer: Transformer::new(&(root / "transformer"), &config.text),
            ln_final: layer_norm(root / "ln_final", width),
            text_projection: root.var("text_projection", &[width, config.embed_dim], normal((width as f64).powf(-0.5))),
            logit_scale: root.var(
                "logit_scale",
                &[],
                nn::Init::Const(match loss {
                    LossKind::Clip => INITIAL_LOGIT_SCALE,
                    LossKind::Siglip => SIGLIP_LOGIT_SCALE,
                }),
            ),
            logit_bias: (loss == LossKind::Siglip)
                .then(|| root.var("logit_bias", &[], nn::Init::Const(SIGLIP_LOGIT_BIAS))),
        }
    }

    /// Image features, L2-normalised when `normalize`.
    pub fn encode_image(&self, images: &Tensor, normalize: bool) -> Tensor {
        let features = self.visual.forward(images, self.compute_kind);
        if normalize {
            l2_normalize(&features)
        } else {
            features
        }
    }

    /// Text features of (batch, context_length) token ids, L2-normalised when `normalize`.
    pub fn encode_text(&self, tokens: &Tensor, normalize: bool) -> Tensor {
        let x = self.token_embedding.forward(tokens) + &self.positional_embedding;
        let x = self.ln_final.forward(&self.transformer.forward(&x, true, self.compute_kind));
        let batch = tokens.size()[0];
        let end_of_text = tokens.argmax(-1, false);
        let rows = Tensor::arange(batch, (Kind::Int64, tokens.device()));
        let pooled = x.index(&[Some(rows), Some(end_of_text)]);
        let features = pooled.to_kind(self.compute_kind).matmul(&self.text_projection.to_kind(self.compute_kind));
        let features = features.to_kind(self.text_projection.kind());
        if normalize {
            l2_normalize(&features)
        } else {
            features
        }
    }

    /// Normalised image and text features, ready for [`crate::loss::clip_loss`].
    pub fn forward(&self, images: &Tensor, tokens: &Tensor) -> (Tensor, Tensor) {
        (self.encode_image(images, true), self.encode_text(tokens, true))
    }

    /// Keeps the logit scale at or below ln(100), as CLIP does after every optimiser step.
    pub fn clamp_logit_scale(&mut self) {
        tch::no_grad(|| {
            let _ = self.logit_scale.clamp_(0.0, MAX_LOGIT_SCALE);
        });
    }
}

/// A linear layer whose weights are cast to the input's precision.
fn cast_linear(layer: &nn::Linear, x: &Tensor) -> Tensor {
    let bias = layer.bs.as_ref().map(|b| b.to_kind(x.kind()));
    x.linear(&layer.ws.to_kind(x.kind()), bias.as_ref())
}

fn l2_normalize(x: &Tensor) -> Tensor {
    x / x.norm_scalaropt_dim(2.0, [-1], true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn parameter_names_and_shapes_follow_open_clip() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _model = Clip::new(&vs.root(), &ClipConfig::TINY);
        let variables = vs.variables();
        let shape = |name: &str| variables.get(name).unwrap_or_else(|| panic!("no {name}")).size();
        assert_eq!(shape("visual.conv1.weight"), [64, 3, 8, 8]);
        assert_eq!(shape("visual.class_embedding"), [64]);
        assert_eq!(shape("visual.positional_embedding"), [17, 64]);
        assert_eq!(shape("visual.transformer.resblocks.1.attn.in_proj_weight"), [192, 64]);
        assert_eq!(shape("visual.transformer.resblocks.0.mlp.c_fc.weight"), [256, 64]);
        assert_eq!(shape("visual.proj"), [64, 32]);
        assert_eq!(shape("token_embedding.weight"), [49408, 64]);
        assert_eq!(shape("positional_embedding"), [77, 64]);
        assert_eq!(shape("transformer.resblocks.1.attn.out_proj.bias"), [64]);
        assert_eq!(shape("ln_final.weight"), [64]);
        assert_eq!(shape("text_projection"), [64, 32]);
        assert_eq!(shape("logit_scale"), Vec::<i64>::new());
        // 2 towers × 2 blocks × 12 tensors, plus 8 visual and 6 text tensors outside the blocks.
        assert_eq!(variables.len(), 2 * 2 * 12 + 8 + 6, "{:?}", variables.keys());
    }

    #[test]
    fn text_is_causal_and_pooled_at_end_of_text() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let model = Clip::new(&vs.root(), &ClipConfig::TINY);
        let mut a = vec![0i64; 77];
        a[..4].copy_from_slice(&[49406, 320, 1929, 49407]);
        let mut b = a.clone();
        b[10] = 555; // after end-of-text: causal attention never lets it reach the pooled token
        let mut c = a.clone();
        c[1] = 321; // before end-of-text: changes the features
        let tokens = Tensor::from_slice2(&[a, b, c]);
        let features = tch::no_grad(|| model.encode_text(&tokens, true));
        let diff = |i: i64, j: i64| (features.get(i) - features.get(j)).abs().max().double_value(&[]);
        assert!(diff(0, 1) < 1e-6, "{}", diff(0, 1));
        assert!(diff(0, 2) > 1e-4, "{}", diff(0, 2));
    }
}
