//! Parity with the real open_clip (from the project's venv, on CPU): an exported `tiny` model
//! loads into open_clip's `CLIP` of the same dimensions with `load_state_dict(strict=True)` and
//! gives the same embeddings; the named configs have open_clip's parameter names and shapes; the
//! loss equals open_clip's `ClipLoss` on the same features; a trained checkpoint folder loads with
//! `open_clip.create_model_and_transforms('local-dir:DIR')` (its `open_clip_config.json`) and
//! open_clip's own transform and tokenizer reproduce `wit-train eval`'s retrieval and zero-shot numbers.

mod common;

use std::collections::BTreeMap;

use tch::{nn, Device, Kind, Tensor};
use wit_trainer::config::ClipConfig;
use wit_trainer::loss::clip_loss;
use wit_trainer::model::Clip;
use wit_trainer::tokenizer::{default_bpe_path, Tokenizer};
use wit_trainer::{train, TrainOptions};

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

/// `wit-train eval` redone with open_clip alone: the checkpoint folder as `local-dir:`, open_clip's
/// preprocess and tokenizer, the held-out shard read with pyarrow.
const LOCAL_DIR_EVAL: &str = r#"
import io, json, os, sys, torch, open_clip, pyarrow.parquet as pq
from PIL import Image
checkpoint, corpus, queries, templates = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{checkpoint}")
tokenizer = open_clip.get_tokenizer(f"local-dir:{checkpoint}")
model.eval()
manifest = json.load(open(os.path.join(corpus, "_manifest.json")))
rows = pq.read_table(os.path.join(corpus, manifest["shards"][-1]["file"])).to_pylist()
names = {r["id"]: r["query"] for r in pq.read_table(os.path.join(queries, "data")).to_pylist()}
with torch.no_grad():
    images = torch.stack([preprocess(Image.open(io.BytesIO(r["image"])).convert("RGB")) for r in rows])
    image = model.encode_image(images, normalize=True)
    text = model.encode_text(tokenizer([r["caption"] for r in rows]), normalize=True)
    def recall(sim):
        ranks = (sim > sim.diagonal().unsqueeze(1)).sum(1)
        return {f"r{k}": float((ranks < k).double().mean()) for k in (1, 5, 10)}
    sim = image @ text.T
    labels = [r["query_ids"] for r in rows]
    classes = sorted({q for l in labels for q in l if q in names})
    labelled = [i for i, l in enumerate(labels) if any(q in names for q in l)]
    embeddings = []
    for c in classes:
        e = model.encode_text(tokenizer([t.replace("{}", names[c]) for t in templates]), normalize=True).mean(0)
        embeddings.append(e / e.norm())
    scores = image[labelled] @ torch.stack(embeddings, 1)
    top = scores.topk(min(5, len(classes)), 1).indices.tolist()
    top1 = sum(classes[row[0]] in labels[i] for row, i in zip(top, labelled)) / len(labelled)
    top5 = sum(any(classes[c] in labels[i] for c in row) for row, i in zip(top, labelled)) / len(labelled)
print(json.dumps({"images": len(rows), "image_to_text": recall(sim), "text_to_image": recall(sim.T),
                  "zero_shot": {"classes": len(classes), "top1": top1, "top5": top5}}))
"#;

#[test]
fn a_checkpoint_folder_loads_with_local_dir_and_reproduces_wit_train_eval() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, queries) = common::shapes_corpus(dir.path(), 3, 40, 32, 0);
    let out = dir.path().join("run");
    let mut options = TrainOptions::new(&corpus, &out);
    options.workers = 2;
    options.batch_size = 20;
    options.steps = 60;
    options.warmup = 5;
    options.lr = 2e-3;
    options.holdout_shards = 1;
    options.save_every = 1000;
    let stats = train(&options).unwrap();
    let checkpoint = stats.checkpoint.expect("a checkpoint at the last step");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(checkpoint.join("open_clip_config.json")).unwrap()).unwrap();
    assert_eq!(config["model_cfg"]["vision_cfg"]["image_size"], 32, "{config}");

    let eval_options = wit_trainer::eval::EvalOptions {
        data: corpus.clone(),
        holdout_shards: 1,
        batch_size: 16,
        workers: 2,
        queries: Some(queries.clone()),
        results: None,
        step: 0,
    };
    let ours =
        wit_trainer::train::evaluate_checkpoint(&checkpoint, Device::Cpu, &default_bpe_path(), &eval_options).unwrap();
    let templates = serde_json::to_string(&wit_trainer::eval::TEMPLATES).unwrap();
    let args = [checkpoint.as_path(), corpus.as_path(), queries.as_path(), std::path::Path::new(&templates)];
    let theirs: serde_json::Value = serde_json::from_str(&common::run_python(LOCAL_DIR_EVAL, &args)).unwrap();
    eprintln!("wit-train eval: {ours:?}\nopen_clip local-dir: {theirs}");
    assert_eq!(theirs["images"], ours.images as u64, "{theirs}");
    let zero_shot = ours.zero_shot.expect("zero-shot with the queries folder");
    let close = |a: f64, b: &serde_json::Value, what: &str| {
        // One image's rank may move across a tie on a last-bit difference; nothing more.
        assert!((a - b.as_f64().unwrap()).abs() <= 1.0 / ours.images as f64 + 1e-9, "{what}: ours {a}, open_clip {b}");
    };
    for (what, recall) in [("image_to_text", ours.image_to_text), ("text_to_image", ours.text_to_image)] {
        close(recall.r1, &theirs[what]["r1"], what);
        close(recall.r5, &theirs[what]["r5"], what);
        close(recall.r10, &theirs[what]["r10"], what);
    }
    assert_eq!(theirs["zero_shot"]["classes"], zero_shot.classes as u64);
    close(zero_shot.top1, &theirs["zero_shot"]["top1"], "zero-shot top-1");
    close(zero_shot.top5, &theirs["zero_shot"]["top5"], "zero-shot top-5");
    // Trained, not chance: the comparison is between real numbers.
    assert!(zero_shot.top1 > 2.0 / 7.0, "{zero_shot:?}");
}
