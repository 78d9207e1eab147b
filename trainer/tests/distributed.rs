//! Data-parallel training over real c10d process groups (Gloo on loopback), with real processes:
//! each test re-runs this test binary as the job's ranks (environment `WIT_DIST_ROLE`), the way
//! torchrun runs a script N times.
//!
//! - N steps of 2-rank training with global batch B end with the parameters of one process
//!   training on the same global batch (f64, so that only the arithmetic's order differs);
//! - the global-batch loss and its feature gradients equal open_clip's `ClipLoss` with
//!   gather-with-grad (and `local_loss`), and the SigLIP loss open_clip's `SigLipLoss`, run by
//!   torch.distributed over Gloo on the same features;
//! - a rank killed mid-run makes the other exit non-zero within the timeout, naming the failure;
//! - a 2-rank checkpoint resumes with 1 rank and a 1-rank checkpoint with 2 ranks.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tch::{nn, Device, Kind, Tensor};
use wit_trainer::checkpoint;
use wit_trainer::config::ClipConfig;
use wit_trainer::dist::{Backend, DistEnv, ProcessGroup};
use wit_trainer::loss::LossKind;
use wit_trainer::model::Clip;
use wit_trainer::optim::{AdamW, AdamWConfig};
use wit_trainer::parallel;
use wit_trainer::rng::Rng;

const ROLE: &str = "WIT_DIST_ROLE";
const OUT: &str = "WIT_DIST_OUT";
const GLOBAL_BATCH: i64 = 8;
const STEPS: usize = 4;

fn free_port() -> u16 {
    wit_trainer::launch::free_port().unwrap()
}

/// Runs `test` of this binary as ranks 0..world with torchrun's variables; returns the children.
fn spawn_ranks(test: &str, role: &str, world: usize, out: &Path) -> Vec<Child> {
    let port = free_port();
    (0..world)
        .map(|rank| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", test, "--nocapture", "--test-threads", "1"])
                .env(ROLE, role)
                .env(OUT, out)
                .env("RANK", rank.to_string())
                .env("WORLD_SIZE", world.to_string())
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", port.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect()
}

/// Waits for every child (at most `limit`), failing the test with their output if one fails.
fn wait_all(children: Vec<Child>, limit: Duration) {
    let start = Instant::now();
    for mut child in children {
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a rank failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn this_rank() -> Option<(String, DistEnv, PathBuf)> {
    let role = std::env::var(ROLE).ok()?;
    let env = DistEnv::from_env(|name| std::env::var(name).ok()).unwrap().expect("RANK and WORLD_SIZE set");
    Some((role, env, PathBuf::from(std::env::var(OUT).unwrap())))
}

/// The global batch of `step`: random pixels and random captions' token rows, the same in every
/// process.
fn global_batch(step: usize) -> (Tensor, Tensor) {
    let config = ClipConfig::TINY;
    let mut rng = Rng::keyed(77, &[step as u64]);
    let pixels: Vec<f64> =
        (0..GLOBAL_BATCH * 3 * config.image_size * config.image_size).map(|_| rng.uniform(-2.0, 2.0)).collect();
    let images = Tensor::from_slice(&pixels).view([GLOBAL_BATCH, 3, config.image_size, config.image_size]);
    let mut tokens = vec![0i64; (GLOBAL_BATCH * config.context_length) as usize];
    for row in tokens.chunks_mut(config.context_length as usize) {
        let length = 2 + rng.below(8) as usize;
        row[0] = 49_406;
        for id in &mut row[1..length] {
            *id = 1 + rng.below(2000) as i64;
        }
        row[length] = 49_407;
    }
    let tokens = Tensor::from_slice(&tokens).view([GLOBAL_BATCH, config.context_length]);
    (images, tokens)
}

/// `STEPS` steps of the trainer's data-parallel step (one process when `group` is None) in f64;
/// returns the parameters and the losses.
fn train_steps(group: Option<&ProcessGroup>, loss: LossKind, init_seed: i64) -> (BTreeMap<String, Tensor>, Vec<f64>) {
    tch::manual_seed(init_seed);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let mut model = Clip::new_for(&vs.root(), &ClipConfig::TINY, loss);
    vs.double();
    model.compute_kind = Kind::Double;
    let parameters: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let ordered = parallel::ordered_parameters(&parameters);
    let mut optimizer = AdamW::new(parameters.iter().map(|(k, v)| (k.clone(), v.shallow_clone())).collect(), {
        AdamWConfig::default()
    });
    if let Some(group) = group {
        parallel::broadcast_parameters(&ordered, group).unwrap();
    }
    let (rank, world) = group.map_or((0, 1), |g| (g.rank as i64, g.world_size as i64));
    let rows = GLOBAL_BATCH / world;
    let mut losses = Vec::new();
    for step in 0..STEPS {
        let (images, tokens) = global_batch(step);
        let (images, tokens) = (images.narrow(0, rank * rows, rows), tokens.narrow(0, rank * rows, rows));
        optimizer.zero_grad();
        let value = parallel::forward_backward(&model, &images, &tokens, loss, group).unwrap();
        if let Some(group) = group {
            parallel::all_reduce_gradients(&ordered, group, 4096).unwrap();
        }
        optimizer.step(1e-3);
        model.clamp_logit_scale();
        losses.push(value.double_value(&[]));
    }
    (parameters, losses)
}

fn save(path: &Path, tensors: &BTreeMap<String, Tensor>) {
    let named: Vec<(&str, &Tensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    Tensor::write_safetensors(&named, path).unwrap();
}

fn load(path: &Path) -> BTreeMap<String, Tensor> {
    Tensor::read_safetensors(path).unwrap().into_iter().collect()
}

/// The largest relative difference over the tensors: max |a − b| / max |b| per tensor.
fn max_relative_difference(a: &BTreeMap<String, Tensor>, b: &BTreeMap<String, Tensor>) -> (f64, String) {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let mut worst = (0.0, String::new());
    for (name, x) in a {
        let y = &b[name];
        let scale = y.abs().max().double_value(&[]).max(1e-12);
        let diff = (x - y).abs().max().double_value(&[]) / scale;
        if diff > worst.0 {
            worst = (diff, name.clone());
        }
    }
    worst
}

#[test]
fn two_gloo_ranks_train_exactly_like_one_process_on_the_global_batch() {
    if let Some((role, env, out)) = this_rank() {
        assert_eq!(role, "train");
        let group = ProcessGroup::new(&env, Backend::Gloo, Duration::from_secs(60)).unwrap();
        for loss in [LossKind::Clip, LossKind::Siglip] {
            // Rank 1 initialises differently: the broadcast from rank 0 must make them equal.
            let (parameters, losses) = train_steps(Some(&group), loss, 3 + env.rank as i64);
            save(&out.join(format!("{loss:?}-rank{}.safetensors", env.rank)), &parameters);
            std::fs::write(
                out.join(format!("{loss:?}-rank{}.json", env.rank)),
                serde_json::to_string(&losses).unwrap(),
            )
            .unwrap();
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let children =
        spawn_ranks("two_gloo_ranks_train_exactly_like_one_process_on_the_global_batch", "train", 2, dir.path());
    let references: Vec<_> = [LossKind::Clip, LossKind::Siglip].map(|loss| (loss, train_steps(None, loss, 3))).into();
    wait_all(children, Duration::from_secs(600));
    for (loss, (reference, reference_losses)) in references {
        let rank0 = load(&dir.path().join(format!("{loss:?}-rank0.safetensors")));
        let rank1 = load(&dir.path().join(format!("{loss:?}-rank1.safetensors")));
        let (between_ranks, name) = max_relative_difference(&rank0, &rank1);
        assert_eq!(between_ranks, 0.0, "{loss:?}: the ranks' parameters differ ({name})");
        let (difference, name) = max_relative_difference(&rank0, &reference);
        assert!(difference <= 1e-5, "{loss:?}: 2 ranks vs 1 process differ by {difference:e} (relative) in {name}");
        // The parameters moved: the comparison is not of two initialisations.
        let initial = train_steps_initial(loss);
        let (moved, _) = max_relative_difference(&rank0, &initial);
        assert!(moved > 1e-4, "{loss:?}: parameters barely moved ({moved:e})");
        let losses: Vec<f64> =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(format!("{loss:?}-rank0.json"))).unwrap())
                .unwrap();
        for (a, b) in losses.iter().zip(&reference_losses) {
            assert!((a - b).abs() <= 1e-9 * b.abs(), "{loss:?}: losses {losses:?} vs one process {reference_losses:?}");
        }
        eprintln!("{loss:?}: {STEPS} steps, 2 ranks vs 1 process: max relative parameter difference {difference:e}");
    }
}

fn train_steps_initial(loss: LossKind) -> BTreeMap<String, Tensor> {
    tch::manual_seed(3);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let _model = Clip::new_for(&vs.root(), &ClipConfig::TINY, loss);
    vs.double();
    vs.variables().into_iter().collect()
}

/// open_clip's losses over torch.distributed (Gloo, 2 processes) on the features each rank saved:
/// ClipLoss with gather-with-grad (global and local variants) and SigLipLoss; per rank, the losses
/// and the gradients of the local features.
const OPEN_CLIP_DISTRIBUTED: &str = r#"
import json, os, sys
import torch, torch.distributed as dist, torch.multiprocessing as mp
from safetensors.torch import load_file
from open_clip.loss import ClipLoss, SigLipLoss

def run(rank, world, port, folder, queue):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    f = load_file(os.path.join(folder, f"features-rank{rank}.safetensors"))
    result = {}
    for name, loss_fn in [
        ("clip", ClipLoss(gather_with_grad=True, local_loss=False, rank=rank, world_size=world)),
        ("clip_local", ClipLoss(gather_with_grad=True, local_loss=True, rank=rank, world_size=world)),
    ]:
        image = f["image"].clone().requires_grad_(True)
        text = f["text"].clone().requires_grad_(True)
        loss = loss_fn(image, text, f["logit_scale"].exp())
        loss.backward()
        result[name] = {"loss": loss.item(), "image_grad": image.grad.flatten().tolist(), "text_grad": text.grad.flatten().tolist()}
    image = f["image"].clone().requires_grad_(True)
    text = f["text"].clone().requires_grad_(True)
    loss = SigLipLoss(rank=rank, world_size=world)(image, text, f["logit_scale"].exp(), f["logit_bias"])
    loss.backward()
    result["siglip"] = {"loss": loss.item(), "image_grad": image.grad.flatten().tolist(), "text_grad": text.grad.flatten().tolist()}
    queue.put((rank, result))
    dist.barrier()
    dist.destroy_process_group()

if __name__ == "__main__":
    folder, port = sys.argv[1], int(sys.argv[2])
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=run, args=(r, 2, port, folder, queue)) for r in range(2)]
    for p in procs: p.start()
    results = dict(queue.get(timeout=300) for _ in procs)
    for p in procs:
        p.join()
        assert p.exitcode == 0, p.exitcode
    print(json.dumps([results[0], results[1]]))
"#;

#[test]
fn the_global_loss_equals_open_clips_gather_with_grad_losses() {
    if let Some((role, env, out)) = this_rank() {
        assert_eq!(role, "loss");
        let group = ProcessGroup::new(&env, Backend::Gloo, Duration::from_secs(60)).unwrap();
        let normalised = |t: Tensor| &t / t.norm_scalaropt_dim(2.0, [-1], true);
        // Each rank's 4 rows of a global batch of 8, 16-dimensional features.
        tch::manual_seed(20 + env.rank as i64);
        let image = normalised(Tensor::randn([4, 16], (Kind::Double, Device::Cpu)));
        let text = normalised(&image * 0.3 + Tensor::randn([4, 16], (Kind::Double, Device::Cpu)));
        let scale = Tensor::from(2.3f64).set_requires_grad(true);
        let bias = Tensor::from(-1.5f64).set_requires_grad(true);
        let mut saved = BTreeMap::from([
            ("image".to_owned(), image.shallow_clone()),
            ("text".to_owned(), text.shallow_clone()),
            ("logit_scale".to_owned(), scale.detach()),
            ("logit_bias".to_owned(), bias.detach()),
        ]);
        for (name, loss) in [("clip", LossKind::Clip), ("siglip", LossKind::Siglip)] {
            let (image, text) = (image.detach().set_requires_grad(true), text.detach().set_requires_grad(true));
            let value = parallel::global_loss_backward(&image, &text, &scale, Some(&bias), loss, Some(&group)).unwrap();
            saved.insert(format!("{name}_loss"), value.view([1]));
            saved.insert(format!("{name}_image_grad"), image.grad());
            saved.insert(format!("{name}_text_grad"), text.grad());
        }
        save(&out.join(format!("features-rank{}.safetensors", env.rank)), &saved);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let children = spawn_ranks("the_global_loss_equals_open_clips_gather_with_grad_losses", "loss", 2, dir.path());
    wait_all(children, Duration::from_secs(300));
    let port = free_port().to_string();
    let script = dir.path().join("open_clip_distributed.py");
    std::fs::write(&script, OPEN_CLIP_DISTRIBUTED).unwrap();
    let output = Command::new(common::python()).arg(&script).arg(dir.path()).arg(&port).output().unwrap();
    assert!(output.status.success(), "python failed:\n{}", String::from_utf8_lossy(&output.stderr));
    let theirs: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let values = |v: &serde_json::Value| -> Vec<f64> { serde_json::from_value(v.clone()).unwrap() };
    let mut local_losses = 0.0;
    let mut siglip_losses = 0.0;
    for (rank, theirs) in theirs.iter().enumerate() {
        let ours = load(&dir.path().join(format!("features-rank{rank}.safetensors")));
        let ours_of = |key: &str| Vec::<f64>::try_from(ours[key].flatten(0, -1)).unwrap();
        let clip_loss = ours_of("clip_loss")[0];
        // ClipLoss(local_loss=False) gives every rank the global batch's loss.
        let open_clip = theirs["clip"]["loss"].as_f64().unwrap();
        assert!((clip_loss - open_clip).abs() <= 1e-6, "rank {rank}: ours {clip_loss}, open_clip {open_clip}");
        local_losses += theirs["clip_local"]["loss"].as_f64().unwrap() / 2.0;
        siglip_losses += theirs["siglip"]["loss"].as_f64().unwrap() / 2.0;
        // Gather-with-grad: every rank back-propagates its own loss and the all-gather's backward
        // sums the gradients that all ranks' losses send to these features: world size × ours
        // (the gradient of the one global loss, the mean over ranks), which DDP's averaging of the
        // parameter gradients divides out again.
        for (name, theirs_name) in [("clip", "clip"), ("clip", "clip_local"), ("siglip", "siglip")] {
            let factor = 2.0;
            for part in ["image_grad", "text_grad"] {
                let ours = ours_of(&format!("{name}_{part}"));
                let theirs = values(&theirs[theirs_name][part]);
                assert_eq!(ours.len(), theirs.len());
                for (a, b) in ours.iter().zip(&theirs) {
                    assert!(
                        (a * factor - b).abs() <= 1e-9,
                        "rank {rank} {theirs_name} {part}: ours {a} × {factor} vs {b}"
                    );
                }
            }
        }
    }
    let ours = load(&dir.path().join("features-rank0.safetensors"));
    let clip_loss = ours["clip_loss"].double_value(&[0]);
    assert!((clip_loss - local_losses).abs() <= 1e-6, "local_loss=True: mean {local_losses}, ours {clip_loss}");
    let siglip = ours["siglip_loss"].double_value(&[0]);
    assert!((siglip - siglip_losses).abs() <= 1e-6, "SigLipLoss: mean over ranks {siglip_losses}, ours {siglip}");
    assert!(clip_loss > 0.1 && siglip > 0.1, "{clip_loss} {siglip}");
}

fn wit_train() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wit-train"));
    command.env_remove("LD_LIBRARY_PATH");
    for name in ["RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", ROLE] {
        command.env_remove(name);
    }
    command
}

fn run_ok(args: &[&str]) -> String {
    let output = wit_train().args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "wit-train {args:?}:\n{text}");
    text
}

/// Collects a child's stderr on a thread; `watch` is told when a line contains `needle`.
fn drain(
    stream: impl std::io::Read + Send + 'static,
    needle: &'static str,
) -> (std::sync::mpsc::Receiver<()>, std::thread::JoinHandle<String>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if line.contains(needle) {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    (rx, handle)
}

#[test]
fn a_killed_rank_makes_the_other_exit_with_an_error_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, _) = common::shapes_corpus(dir.path(), 2, 16, 24, 0);
    let (corpus, out) = (corpus.to_str().unwrap().to_owned(), dir.path().join("run"));
    let port = free_port();
    let timeout_s = 20;
    let spawn = |rank: usize| {
        wit_train()
            .args(["train", "--data", &corpus, "--out", out.to_str().unwrap(), "--device", "cpu"])
            .args(["--batch", "4", "--steps", "100000", "--log-every", "1", "--workers", "1"])
            .args(["--dist-timeout", &timeout_s.to_string()])
            .env("RANK", rank.to_string())
            .env("WORLD_SIZE", "2")
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (mut survivor, mut victim) = (spawn(0), spawn(1));
    let (_, survivor_log) = drain(survivor.stderr.take().unwrap(), "\u{0}");
    let (training, victim_log) = drain(victim.stderr.take().unwrap(), " step=3 ");
    if training.recv_timeout(Duration::from_secs(180)).is_err() {
        let _ = (survivor.kill(), victim.kill());
        panic!("rank 1 never reached step 3:\n{}", victim_log.join().unwrap());
    }
    victim.kill().unwrap();
    victim.wait().unwrap();
    let killed = Instant::now();
    let status = loop {
        if let Some(status) = survivor.try_wait().unwrap() {
            break status;
        }
        if killed.elapsed() > Duration::from_secs(timeout_s + 60) {
            let _ = survivor.kill();
            panic!(
                "rank 0 still running {} s after rank 1 was killed:\n{}",
                killed.elapsed().as_secs(),
                survivor_log.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = survivor_log.join().unwrap();
    assert!(!status.success(), "rank 0 exited successfully:\n{log}");
    let error = log.lines().find(|l| l.starts_with("error:")).unwrap_or_else(|| panic!("no error line:\n{log}"));
    assert!(error.contains("rank 0 of 2") && error.contains("failed"), "{error}");
    eprintln!("rank 0 exited {:.1} s after rank 1 was killed: {error}", killed.elapsed().as_secs_f64());
}

#[test]
fn checkpoints_resume_with_another_world_size() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, _) = common::shapes_corpus(dir.path(), 4, 12, 24, 0);
    let corpus = corpus.to_str().unwrap().to_owned();
    let base = |out: &Path, batch: &str| -> Vec<String> {
        ["train", "--data", &corpus, "--out", out.to_str().unwrap(), "--device", "cpu", "--steps", "6"]
            .iter()
            .chain(&["--batch", batch, "--save-every", "3", "--log-every", "1", "--workers", "1"])
            .map(|s| s.to_string())
            .collect()
    };
    let run = |parts: &[&[&str]]| run_ok(&parts.concat());

    // 2 ranks (3 rows each) stop at step 3; 1 rank (6 rows) resumes and finishes.
    let two_then_one = dir.path().join("two-then-one");
    let args = base(&two_then_one, "3");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&[&["launch", "--nproc", "2", "--"], &args, &["--stop-after", "3"]]);
    let state = checkpoint::read_state(&checkpoint::checkpoint_dir(&two_then_one, 3)).unwrap();
    assert_eq!((state.world_size, state.ranks.len(), state.samples_seen), (2, 2, 18), "{state:?}");
    let args = base(&two_then_one, "6");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = run(&[&args, &["--resume", "latest"]]);
    assert!(text.contains("steps 3..6") && text.contains("written by 2 ranks, resuming with 1"), "{text}");
    let state = checkpoint::read_state(&checkpoint::checkpoint_dir(&two_then_one, 6)).unwrap();
    assert_eq!((state.world_size, state.ranks.len(), state.samples_seen), (1, 1, 36), "{state:?}");

    // 1 rank stops at step 3; 2 ranks resume and finish.
    let one_then_two = dir.path().join("one-then-two");
    let args = base(&one_then_two, "6");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&[&args, &["--stop-after", "3"]]);
    let args = base(&one_then_two, "3");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = run(&[&["launch", "--nproc", "2", "--"], &args, &["--resume", "latest"]]);
    assert!(text.contains("steps 3..6") && text.contains("written by 1 ranks, resuming with 2"), "{text}");
    let state = checkpoint::read_state(&checkpoint::checkpoint_dir(&one_then_two, 6)).unwrap();
    assert_eq!((state.world_size, state.ranks.len(), state.samples_seen), (2, 2, 36), "{state:?}");
    // The resumed runs continued the checkpoint's optimiser: both end at the schedule's last step
    // with finite weights.
    for out in [&two_then_one, &one_then_two] {
        let weights = load(&checkpoint::checkpoint_dir(out, 6).join(checkpoint::MODEL_FILE));
        assert!(weights.values().all(|t| t.isfinite().all().int64_value(&[]) == 1));
    }
}

/// The check commands of the README and of scripts/gpu-check.sh, on CPU: `collectives` at world
/// size 1 and as 2 ranks under `launch`, `speed` (with its pinned-copy check) and `shapes`.
#[test]
fn the_check_commands_run_on_cpu() {
    let text = run_ok(&["collectives", "--device", "cpu"]);
    assert!(text.contains("gloo on Cpu, rank 0 of 1") && text.contains("collectives: ok"), "{text}");
    let text = run_ok(&["launch", "--nproc", "2", "--", "collectives", "--device", "cpu", "--timeout", "60"]);
    assert_eq!(text.matches("collectives: ok").count(), 2, "{text}");
    assert!(
        text.contains("all-gather: ok ([0, 1])") && text.contains("all-reduce Float: ok (sum 3..3, want 3)"),
        "{text}"
    );
    let text =
        run_ok(&["speed", "--config", "tiny", "--device", "cpu", "--batch", "4", "--warmup", "1", "--steps", "2"]);
    assert!(text.contains("samples/s") && text.contains("pinned copies: ok"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let text = run_ok(&["shapes", "-o", dir.path().to_str().unwrap(), "--shards", "2", "--rows", "8", "--size", "16"]);
    assert!(text.contains("2 shards of 8 rows"), "{text}");
    assert!(dir.path().join("corpus").is_dir() && dir.path().join("queries").is_dir());
    // A launcher whose rank fails reports which.
    let output = wit_train()
        .args(["launch", "--nproc", "2", "--grace", "5", "--", "train", "--data", "/nonexistent"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("of 2 failed"), "{stderr}");
}
