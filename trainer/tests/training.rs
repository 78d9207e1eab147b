//! Training end to end on CPU with the `tiny` model: it learns a generated corpus whose captions
//! describe the images, and a run stopped and resumed from its checkpoint ends bit-identical to an
//! uninterrupted one.

mod common;

use std::path::Path;

use wit_trainer::checkpoint::{self, MODEL_FILE, OPTIMIZER_FILE};
use wit_trainer::{train, Resume, TrainOptions};

fn options(corpus: &Path, out: &Path) -> TrainOptions {
    let mut options = TrainOptions::new(corpus, out);
    options.workers = 2;
    options.log_every = 50;
    options
}

#[test]
fn the_tiny_model_learns_captioned_shapes_and_retrieves_held_out_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, queries) = common::shapes_corpus(dir.path(), 4, 48, 40, 0);
    let out = dir.path().join("run");
    let mut options = options(&corpus, &out);
    options.batch_size = 24;
    options.steps = 160;
    options.warmup = 10;
    options.lr = 2e-3;
    options.shuffle_window = 48;
    options.holdout_shards = 1;
    options.eval = true;
    options.queries = Some(queries);
    options.save_every = 1000;
    let stats = train(&options).unwrap();
    assert_eq!((stats.start_step, stats.end_step), (0, 160));
    let mean = |losses: &[(u64, f64)]| losses.iter().map(|l| l.1).sum::<f64>() / losses.len() as f64;
    let (first, last) = (mean(&stats.losses[..5]), mean(&stats.losses[150..]));
    // Chance for 24 pairs is ln 24 ≈ 3.18.
    assert!((first - 24f64.ln()).abs() < 0.6, "initial loss {first}");
    assert!(last < first * 0.5, "loss {first} -> {last}");
    let eval = stats.eval.expect("evaluated on the held-out shard");
    assert_eq!(eval.images, 48);
    // 12 distinct captions among 48 held-out images. Image→text (identical captions tie, and ties
    // count): chance R@1 is 1/12. Text→image: chance is 1/48, and at most 1/4 is possible, as each
    // caption belongs to 4 images.
    assert!(eval.image_to_text.r1 > 0.3, "{eval:?}");
    assert!(eval.text_to_image.r1 > 0.1, "{eval:?}");
    assert!(eval.image_to_text.r10 >= eval.image_to_text.r5 && eval.image_to_text.r5 >= eval.image_to_text.r1);
    let zero_shot = eval.zero_shot.expect("zero-shot with the queries folder");
    assert_eq!(zero_shot.classes, 7);
    // Each image has 2 of the 7 classes right: chance top-1 is 2/7.
    assert!(zero_shot.top1 > 0.45, "{zero_shot:?}");
    let results = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    assert_eq!(results.lines().count(), 1);
    assert!(results.contains("\"image_to_text\"") && results.contains("\"zero_shot\""), "{results}");
    assert!(stats.checkpoint.unwrap().join(MODEL_FILE).is_file());
}

#[test]
fn stopping_and_resuming_ends_bit_identical_to_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    // 2 training shards of 15 rows (one broken), windows of 8 rows, batches of 6: the stop lands
    // mid-window and mid-epoch, and both runs cross epoch boundaries.
    let (corpus, _) = common::shapes_corpus(dir.path(), 3, 15, 24, 1);
    let base = |out: &Path| {
        let mut options = options(&corpus, out);
        options.batch_size = 6;
        options.steps = 12;
        options.warmup = 3;
        options.lr = 1e-3;
        options.grad_clip = Some(1.0);
        options.shuffle_window = 8;
        options.holdout_shards = 1;
        options.save_every = 4;
        options
    };
    let straight_dir = dir.path().join("straight");
    let straight = train(&base(&straight_dir)).unwrap();

    let resumed_dir = dir.path().join("resumed");
    let first = train(&TrainOptions { stop_after: Some(7), ..base(&resumed_dir) }).unwrap();
    assert_eq!(first.end_step, 7);
    // A half-written checkpoint (as a kill mid-save leaves) and an incomplete folder are ignored.
    std::fs::create_dir_all(resumed_dir.join("checkpoints/.step-00000009.tmp-1")).unwrap();
    std::fs::create_dir_all(resumed_dir.join("checkpoints/step-00000010")).unwrap();
    let latest = checkpoint::latest(&resumed_dir).unwrap().unwrap();
    assert!(latest.ends_with("step-00000007"), "{}", latest.display());
    let second = train(&TrainOptions { resume: Resume::Latest, ..base(&resumed_dir) }).unwrap();
    assert_eq!((second.start_step, second.end_step), (7, 12));

    // Same losses step by step, same data position, same bytes in the final checkpoint.
    let resumed_losses: Vec<(u64, f64)> = first.losses.iter().chain(&second.losses).copied().collect();
    assert_eq!(resumed_losses, straight.losses);
    assert_eq!(second.data_position, straight.data_position);
    assert!(straight.data_position.epoch >= 1, "{:?}", straight.data_position);
    assert_eq!(
        first.skipped.values().sum::<u64>() + second.skipped.values().sum::<u64>(),
        straight.skipped.values().sum::<u64>()
    );
    for file in [MODEL_FILE, OPTIMIZER_FILE] {
        let a = std::fs::read(checkpoint::checkpoint_dir(&straight_dir, 12).join(file)).unwrap();
        let b = std::fs::read(checkpoint::checkpoint_dir(&resumed_dir, 12).join(file)).unwrap();
        assert!(a == b, "{file} differs between the straight and the resumed run");
    }
    // The straight run's step-4 and step-8 checkpoints exist; the schedule's end is step 12.
    assert!(checkpoint::checkpoint_dir(&straight_dir, 8).join("state.json").is_file());
    let state = checkpoint::read_state(&checkpoint::checkpoint_dir(&resumed_dir, 12)).unwrap();
    assert_eq!((state.step, state.total_steps, state.samples_seen), (12, 12, 72));
}

#[test]
fn bf16_mixed_precision_trains_on_cpu_close_to_fp32() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, _) = common::shapes_corpus(dir.path(), 1, 16, 24, 0);
    let run = |precision, name: &str| {
        let mut options = options(&corpus, &dir.path().join(name));
        options.batch_size = 8;
        options.steps = 3;
        options.precision = precision;
        train(&options).unwrap().losses
    };
    let fp32 = run(wit_trainer::Precision::Fp32, "fp32");
    let bf16 = run(wit_trainer::Precision::Bf16, "bf16");
    for ((_, a), (_, b)) in fp32.iter().zip(&bf16) {
        assert!(b.is_finite() && (a - b).abs() < 0.05 * a.abs().max(1.0), "fp32 {fp32:?} vs bf16 {bf16:?}");
    }
    assert_ne!(fp32, bf16, "bf16 computes in another precision");
}

#[test]
fn the_binary_trains_resumes_and_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, queries) = common::shapes_corpus(dir.path(), 2, 12, 24, 0);
    let out = dir.path().join("run");
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_wit-train"))
            .args(args)
            .env_remove("LD_LIBRARY_PATH")
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{args:?}:\n{text}");
        text
    };
    let (corpus, queries, out_s) = (corpus.to_str().unwrap(), queries.to_str().unwrap(), out.to_str().unwrap());
    let common =
        ["--data", corpus, "--out", out_s, "--batch", "6", "--steps", "4", "--device", "cpu", "--holdout", "1"];
    let text = run(&[&["train"][..], &common, &["--stop-after", "2", "--log-every", "1"]].concat());
    assert!(text.contains("steps 0..2") && text.contains("samples_per_s"), "{text}");
    let text = run(&[&["train"][..], &common, &["--resume", "latest", "--queries", queries]].concat());
    assert!(text.contains("steps 2..4") && text.contains("eval: {"), "{text}");
    let text = run(&["eval", "--data", corpus, "--out", out_s, "--queries", queries, "--device", "cpu"]);
    assert!(text.contains("\"step\":4") && text.contains("\"zero_shot\":{"), "{text}");
    assert_eq!(std::fs::read_to_string(out.join("results.jsonl")).unwrap().lines().count(), 2);

    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_wit-train"))
        .args(["train", "--data", out_s, "--device", "cpu"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("manifest"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}
