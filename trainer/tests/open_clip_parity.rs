//! Parity with the real open_clip (from the project's venv, on CPU): an exported `tiny` model
//! loads into open_clip's `CLIP` of the same dimensions with `load_state_dict(strict=True)` and
//! gives the same embeddings; the named configs have open_clip's parameter names and shapes; the
//! loss equals open_clip's `ClipLoss` on the same features.

mod common;

use std::collections::BTreeMap;

use tch::{nn, Device, Kind, Tensor};
use wit_trainer::config::ClipConfig;
use wit_trainer::loss::clip_loss;
use wit_trainer::model::Clip;
use wit_trainer::tokenizer::{default_bpe_path, Tokenizer};

const TINY_OPEN_CLIP: &str = r#"
import json, sys, torch
from safetensors.torch import load_file
from open_clip.model import CLIP
model = CLIP(
    embed_dim=32,
    vision_cfg=dict(image_size=32, patch_size=8, width=64, layers=2, head_width=32),
    text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2),
)
model.load_state_dict(load_file(sys.argv[1]), strict=True)
model.eval()
io = load_file(sys.argv[2])
with torch.no_grad():
    image = model.encode_image(io["images"])
    text = model.encode_text(io["tokens"])
diff = lambda a, b: float((a - b).abs().max())
print(json.dumps({
    "image": diff(image, io["image_features"]),
    "text": diff(text, io["text_features"]),
    "image_scale": float(image.abs().max()),
    "logit_scale": float(model.logit_scale),
}))
"#;

#[test]
fn a_tiny_export_loads_into_open_clip_strictly_and_embeds_the_same() {
    tch::manual_seed(5);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Clip::new(&vs.root(), &ClipConfig::TINY);
    // Perturb every tensor (gains and biases start at 1 and 0) so that each one matters.
    tch::no_grad(|| {
        for (_, mut v) in vs.variables() {
            let noise = Tensor::randn_like(&v) * 0.05;
            let _ = v.g_add_(&noise);
        }
    });
    let tokenizer = Tokenizer::from_file(default_bpe_path()).expect("run `make fixtures` for the BPE merges");
    let captions = ["a red circle", "two dogs on a beach at sunset", "Ölgemälde “Kathedrale”", ""];
    let tokens = Tensor::from_slice(&tokenizer.tokenize_batch(&captions, 77)).view([4, 77]);
    let images = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
    let (image_features, text_features) =
        tch::no_grad(|| (model.encode_image(&images, false), model.encode_text(&tokens, false)));

    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("model.safetensors");
    let variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    Tensor::write_safetensors(&variables, &weights).unwrap();
    let io = dir.path().join("io.safetensors");
    let io_tensors =
        [("images", images), ("tokens", tokens), ("image_features", image_features), ("text_features", text_features)];
    Tensor::write_safetensors(&io_tensors, &io).unwrap();

    let report: BTreeMap<String, f64> =
        serde_json::from_str(&common::run_python(TINY_OPEN_CLIP, &[&weights, &io])).unwrap();
    assert!(report["image"] < 1e-4, "image embeddings differ by {}: {report:?}", report["image"]);
    assert!(report["text"] < 1e-4, "text embeddings differ by {}: {report:?}", report["text"]);
    assert!(report["image_scale"] > 1e-2, "degenerate embeddings: {report:?}");
    assert!((report["logit_scale"] - model.logit_scale.double_value(&[])).abs() < 1e-6);
}

const SHAPES_OF: &str = r#"
import json, sys, open_clip
shapes = {}
for name in sys.argv[1:]:
    model = open_clip.create_model(name, pretrained=None)
    shapes[name] = {k: list(v.shape) for k, v in model.state_dict().items()}
print(json.dumps(shapes))
"#;

#[test]
fn named_configs_have_open_clips_parameter_names_and_shapes() {
    let mut args = Vec::new();
    let mut ours = BTreeMap::new();
    for config in [ClipConfig::VIT_S_32, ClipConfig::VIT_B_32] {
        // Shapes only: a meta-free CPU var store of the full model is cheap enough (~150M floats).
        let vs = nn::VarStore::new(Device::Cpu);
        let _model = Clip::new(&vs.root(), &config);
        let shapes: BTreeMap<String, Vec<i64>> = vs.variables().into_iter().map(|(k, v)| (k, v.size())).collect();
        ours.insert(config.name.to_owned(), shapes);
        args.push(std::path::PathBuf::from(config.name));
    }
    let args: Vec<&std::path::Path> = args.iter().map(|p| p.as_path()).collect();
    let theirs: BTreeMap<String, BTreeMap<String, Vec<i64>>> =
        serde_json::from_str(&common::run_python(SHAPES_OF, &args)).unwrap();
    for (name, shapes) in &ours {
        assert_eq!(shapes, &theirs[name], "{name}");
    }
}

const CLIP_LOSS: &str = r#"
import json, sys
from safetensors.torch import load_file
from open_clip.loss import ClipLoss
f = load_file(sys.argv[1])
loss = ClipLoss()(f["image"], f["text"], f["logit_scale"].exp())
print(json.dumps(float(loss)))
"#;

#[test]
fn the_loss_equals_open_clips_clip_loss() {
    tch::manual_seed(9);
    let normalised = |t: Tensor| &t / t.norm_scalaropt_dim(2.0, [-1], true);
    let image = normalised(Tensor::randn([16, 32], (Kind::Double, Device::Cpu)));
    let text = normalised(&image * 0.5 + Tensor::randn([16, 32], (Kind::Double, Device::Cpu)));
    let scale = Tensor::from(3.2f64);
    let ours = clip_loss(&image, &text, &scale).double_value(&[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.safetensors");
    Tensor::write_safetensors(&[("image", &image), ("text", &text), ("logit_scale", &scale)], &path).unwrap();
    let theirs: f64 = serde_json::from_str(common::run_python(CLIP_LOSS, &[&path]).trim()).unwrap();
    assert!((ours - theirs).abs() < 1e-6, "ours {ours}, open_clip {theirs}");
    assert!(ours > 0.1, "{ours}");
}
