//! `wit export webdataset`: a demo build's corpus as WebDataset tars, written by two ranks, read
//! back with Python's tarfile (every row once, bytes and captions as stored, img2dataset names),
//! resumed after a lost tar and a killed writer's temporary file, and trained on by open_clip's own
//! trainer (`python -m open_clip_train.main --dataset-type webdataset`) as it is; and `wit export
//! hf`, whose `image` column HF `datasets` decodes as pictures without a cast.

use std::path::Path;

use wit_tests::demo_build::run_demo_build;
use wit_tests::{run_python, venv_python, wit};

fn corpus() -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, out) = run_demo_build(10, 1, 20);
    (dir, out.join("corpus"))
}

fn export(corpus: &Path, out: &Path, rank: usize) -> String {
    let (rank, corpus, out) = (rank.to_string(), corpus.to_str().unwrap(), out.to_str().unwrap());
    let args =
        ["export", "webdataset", corpus, "-o", out, "--samples-per-tar", "16", "--rank", &rank, "--world-size", "2"];
    let run = wit(&args);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    String::from_utf8(run.stdout).unwrap()
}

/// Every tar against the corpus rows in manifest order: names, extensions, bytes, captions, json.
const CHECK_TARS: &str = r#"
import json, os, sys, tarfile, pyarrow.parquet as pq
corpus, wds = sys.argv[1], sys.argv[2]
manifest = json.load(open(os.path.join(corpus, "_manifest.json")))
rows = [r for s in manifest["shards"] for r in pq.read_table(os.path.join(corpus, s["file"])).to_pylist()]
sizes = json.load(open(os.path.join(wds, "sizes.json")))
tars = sorted(n for n in os.listdir(wds) if n.endswith(".tar"))
assert tars == sorted(sizes) == [f"{i:05d}.tar" for i in range(len(tars))], (tars, sizes)
ext = {"jpeg": "jpg", "png": "png", "webp": "webp"}
at = 0
for name in tars:
    with tarfile.open(os.path.join(wds, name)) as tar:
        members = tar.getmembers()
        assert len(members) == 3 * sizes[name], (name, len(members))
        for i in range(0, len(members), 3):
            row = rows[at]
            key = f"{name[:5]}{i // 3:04d}"
            names = [m.name for m in members[i:i + 3]]
            assert names == [f"{key}.{ext[row['image_format']]}", f"{key}.txt", f"{key}.json"], names
            image, text, meta = (tar.extractfile(m).read() for m in members[i:i + 3])
            assert image == row["image"] and text.decode() == row["caption"], key
            meta = json.loads(meta)
            assert meta["key"] == row["key"] and meta["url"] == row["url"] and meta["width"] == row["width"], meta
            at += 1
assert at == len(rows), (at, len(rows))
print(json.dumps({"samples": at, "tars": len(tars)}))
"#;

/// `wit export hf` output through HF `datasets`: an Image feature, pictures of the stored sizes, every
/// row in corpus order with its other columns as they are.
const CHECK_HF: &str = r#"
import io, json, os, sys, tempfile, warnings
warnings.filterwarnings("ignore")
import datasets, pyarrow.parquet as pq
from PIL import Image
datasets.disable_progress_bars()
corpus, hf = sys.argv[1], sys.argv[2]
manifest = json.load(open(os.path.join(corpus, "_manifest.json")))
rows = [r for s in manifest["shards"] for r in pq.read_table(os.path.join(corpus, s["file"])).to_pylist()]
ds = datasets.load_dataset("parquet", data_dir=os.path.join(hf, "data"), split="train", cache_dir=tempfile.mkdtemp())
assert type(ds.features["image"]).__name__ == "Image", ds.features
assert ds.num_rows == len(rows), (ds.num_rows, len(rows))
for got, row in zip(ds, rows):
    assert isinstance(got["image"], Image.Image), type(got["image"])
    assert got["image"].size == (row["width"], row["height"]), (got["image"].size, row["width"], row["height"])
    assert got["key"] == row["key"] and got["caption"] == row["caption"] and got["query_ids"] == row["query_ids"]
raw = ds.cast_column("image", datasets.Image(decode=False))
assert [r["image"]["bytes"] for r in raw] == [r["image"] for r in rows]
print(json.dumps({"rows": ds.num_rows}))
"#;

/// A model open_clip builds from `local-dir:` (what wit-train writes beside its weights).
const TINY_OPEN_CLIP_CONFIG: &str = r#"{"model_cfg": {"embed_dim": 32,
  "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 64, "layers": 2, "head_width": 32},
  "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}},
  "preprocess_cfg": {"size": 32, "interpolation": "bicubic", "resize_mode": "shortest"}}"#;

#[test]
fn two_ranks_write_tars_open_clip_trains_on() {
    let (dir, corpus) = corpus();
    let wds = dir.path().join("wds");
    let first = export(&corpus, &wds, 0);
    export(&corpus, &wds, 1);
    assert!(first.contains("0 kept"), "{first}");
    let checked: serde_json::Value =
        serde_json::from_str(&run_python(CHECK_TARS, &[corpus.to_str().unwrap(), wds.to_str().unwrap()])).unwrap();
    let (samples, tars) = (checked["samples"].as_u64().unwrap(), checked["tars"].as_u64().unwrap());
    assert!(tars >= 4 && samples > 48, "{checked}");

    // Resume: tar 1 lost, a killed writer's temporary file of tar 3 left: rank 1 rewrites tar 1 only.
    let kept = std::fs::metadata(wds.join("00003.tar")).unwrap().modified().unwrap();
    std::fs::remove_file(wds.join("00001.tar")).unwrap();
    std::fs::write(wds.join(".00003.tar.tmp"), b"half a tar").unwrap();
    let again = export(&corpus, &wds, 1);
    assert!(again.contains("(1 written,"), "{again}");
    assert!(!wds.join(".00003.tar.tmp").exists());
    assert_eq!(std::fs::metadata(wds.join("00003.tar")).unwrap().modified().unwrap(), kept);
    let rechecked: serde_json::Value =
        serde_json::from_str(&run_python(CHECK_TARS, &[corpus.to_str().unwrap(), wds.to_str().unwrap()])).unwrap();
    assert_eq!(rechecked, checked);

    // Another --samples-per-tar into the same folder is refused, naming the file.
    let run =
        wit(&["export", "webdataset", corpus.to_str().unwrap(), "-o", wds.to_str().unwrap(), "--samples-per-tar", "8"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("_export.json"), "{stderr}");

    // HF datasets: `wit export hf` by two ranks; the image column decodes as pictures.
    let hf = dir.path().join("hf");
    for rank in ["0", "1"] {
        let args =
            ["export", "hf", corpus.to_str().unwrap(), "-o", hf.to_str().unwrap(), "--rank", rank, "--world-size", "2"];
        let run = wit(&args);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    }
    let read: serde_json::Value =
        serde_json::from_str(&run_python(CHECK_HF, &[corpus.to_str().unwrap(), hf.to_str().unwrap()])).unwrap();
    assert_eq!(read["rows"].as_u64(), Some(samples));

    // open_clip's own trainer reads the tars as they are.
    let model = dir.path().join("tiny");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("open_clip_config.json"), TINY_OPEN_CLIP_CONFIG).unwrap();
    let pattern = format!("{}/{{00000..{:05}}}.tar", wds.display(), tars - 1);
    let logs = dir.path().join("logs");
    let run = std::process::Command::new(venv_python())
        .args(["-m", "open_clip_train.main", "--train-data", &pattern, "--dataset-type", "webdataset"])
        .args(["--train-num-samples", &samples.to_string(), "--batch-size", "8", "--epochs", "1", "--workers", "1"])
        .args(["--model", &format!("local-dir:{}", model.display()), "--precision", "fp32", "--lr", "1e-3"])
        .args(["--warmup", "1", "--log-every-n-steps", "1", "--seed", "0", "--name", "wds", "--save-frequency", "0"])
        .arg("--logs")
        .arg(&logs)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&run.stderr).into_owned() + &String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{log}");
    let steps = log.lines().filter(|l| l.contains("Train Epoch: 0 [") && l.contains("Contrastive_loss")).count();
    assert!(steps as u64 >= samples / 8, "{steps} steps logged:\n{log}");
    assert!(log.contains("(100%)"), "{log}");
}
