//! Clean interrupts: SIGINT and SIGTERM sent to the real `wit fetch`, `wit harvest` and
//! `wit-train train` part-way through a run. The finished work is committed (readable Parquet
//! with a manifest, or a checkpoint), the message says what was saved and how to resume, the exit
//! code is 130 / 143, and the rerun does only the rest. A second signal exits at once.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wit_contract::{read_records, CorpusImage, HarvestedCandidate, Manifest};
use wit_tests::loopback::{png, LoopbackServer, Reply};
use wit_tests::workspace_binary;

/// A running binary whose stderr is collected line by line.
struct Running {
    child: Child,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start(binary: &str, args: &[String]) -> Running {
        let mut child = Command::new(workspace_binary(binary))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} starts: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (pipe, sink) = (child.stderr.take().unwrap(), stderr.clone());
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { return };
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        Running { child, stderr, reader: Some(reader) }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn signal(&self, name: &str) {
        let sent = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status().unwrap();
        assert!(sent.success(), "kill -{name}");
    }

    /// Waits until `ready` holds (checked every 20 ms), failing the test after a minute.
    fn wait_until(&mut self, what: &str, mut ready: impl FnMut(&Running) -> bool) {
        let started = Instant::now();
        while !ready(self) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("exited ({status}) before {what}:\n{}", self.stderr());
            }
            assert!(started.elapsed() < Duration::from_secs(60), "no {what} within a minute:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the exit (20 s at most); returns its status and the whole stderr.
    fn finish(mut self) -> (ExitStatus, String) {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(20) {
                let pid = self.child.id();
                let threads = Command::new("sh")
                    .arg("-c")
                    .arg(format!("for t in /proc/{pid}/task/*; do cat $t/comm $t/wchan; echo; done"))
                    .output()
                    .unwrap();
                eprintln!("threads of {pid}:\n{}", String::from_utf8_lossy(&threads.stdout));
                let _ = self.child.kill();
                panic!("still running 20 s after the signal:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let stderr = self.stderr();
        (status, stderr)
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn image_hits(server: &LoopbackServer) -> usize {
    server.log().iter().filter(|l| l.path.starts_with("/img/")).count()
}

/// Corpus rows listed in `out`'s manifest, read back from the Parquet shards.
fn committed_rows(out: &Path) -> (Manifest, Vec<CorpusImage>) {
    let manifest = Manifest::load(out).unwrap();
    let rows = manifest.shard_paths(out).iter().flat_map(|p| read_records::<CorpusImage>(p).unwrap()).collect();
    (manifest, rows)
}

/// 20 quick images, then 5 whose server sends headers and stalls: with 4 downloads at once, the
/// fourth stalled request starts only after every quick image was handed to the writer.
fn fetch_interrupted(signal: &str, code: i32) {
    const QUICK: usize = 20;
    const SLOW: usize = 5;
    let server = LoopbackServer::start((0..QUICK + SLOW).map(|i| {
        let reply =
            if i < QUICK { Reply::ok("image/png", png(40, 40, i as u8)) } else { Reply::Stall { length: 10_000 } };
        (format!("/img/{i}.png"), reply)
    }));
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("urls.csv");
    let mut csv = String::from("url,caption\n");
    for i in 0..QUICK + SLOW {
        csv.push_str(&format!("{},picture {i}\n", server.url(&format!("/img/{i}.png"))));
    }
    std::fs::write(&list, csv).unwrap();
    let out = dir.path().join("corpus");
    let args = strings(&[
        "fetch",
        list.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--allow-private-networks",
        "--ignore-robots",
        "--image-size",
        "16",
        "--retries",
        "0",
        "--timeout",
        "300",
        "--concurrency",
        "4",
        "--per-host-concurrency",
        "4",
        "--shard-rows",
        "8",
    ]);
    let mut run = Running::start("wit", &args);
    run.wait_until("four stalled downloads", |_| {
        (QUICK..QUICK + SLOW).filter(|i| server.hits(&format!("/img/{i}.png")) > 0).count() == 4
    });
    run.signal(signal);
    let (status, stderr) = run.finish();
    assert_eq!(status.code(), Some(code), "exit code after {signal}:\n{stderr}");
    assert!(stderr.contains(&format!("interrupted by SIG{signal}")), "{stderr}");
    assert!(stderr.contains(&format!("{QUICK} images and 0 failures committed")), "{stderr}");
    assert!(stderr.contains("4 downloads in flight were dropped"), "{stderr}");
    assert!(stderr.contains("resume with"), "{stderr}");
    assert!(stderr.contains(&format!("fetch {} -o {}", list.display(), out.display())), "the command: {stderr}");

    // Every quick image is in readable shards the manifest lists, the open one (4 rows) included.
    let (manifest, rows) = committed_rows(&out);
    assert!(!manifest.complete);
    assert_eq!(rows.len(), QUICK);
    assert_eq!(manifest.shards.iter().map(|s| s.rows).collect::<Vec<_>>(), [8, 8, 4]);
    let verify = Command::new(workspace_binary("wit")).args(["verify", out.to_str().unwrap()]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    wit_tests::shard_stats::assert_shard_stats_match(&out);

    // The rerun fetches only the five that were not committed.
    for i in QUICK..QUICK + SLOW {
        server.route(&format!("/img/{i}.png"), Reply::ok("image/png", png(40, 40, i as u8)));
    }
    let before = image_hits(&server);
    let rerun = Command::new(workspace_binary("wit")).args(&args).output().unwrap();
    assert!(rerun.status.success(), "{}", String::from_utf8_lossy(&rerun.stderr));
    assert_eq!(image_hits(&server) - before, SLOW, "the rerun requests only the unfinished images");
    for i in 0..QUICK {
        assert_eq!(server.hits(&format!("/img/{i}.png")), 1, "image {i} was fetched once");
    }
    let (manifest, rows) = committed_rows(&out);
    assert!(manifest.complete);
    assert_eq!(rows.len(), QUICK + SLOW);
    // Each shard's stats file, the interrupted run's and the rerun's, sums to the totals.
    wit_tests::shard_stats::assert_shard_stats_match(&out);
}

#[test]
fn fetch_commits_finished_images_on_sigint() {
    fetch_interrupted("INT", 130);
}

#[test]
fn fetch_commits_finished_images_on_sigterm() {
    fetch_interrupted("TERM", 143);
}

fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
}

fn list_rows(prefix: &str, n: usize) -> String {
    (0..n).map(|i| format!("http://example.com/{prefix}/{i}.jpg\ta photograph of a red house number {i}\n")).collect()
}

fn harvest_args(first: &Path, second: &Path, out: &Path) -> Vec<String> {
    strings(&[
        "harvest",
        first.to_str().unwrap(),
        second.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--threads",
        "1",
        "--lang",
        "any",
    ])
}

fn harvested_urls(out: &Path) -> Vec<String> {
    let manifest = Manifest::load(out).unwrap();
    let mut urls: Vec<String> = manifest
        .shard_paths(out)
        .iter()
        .flat_map(|p| read_records::<HarvestedCandidate>(p).unwrap())
        .map(|row| row.candidate.url)
        .collect();
    urls.sort();
    urls
}

/// Two inputs, the second a pipe the test feeds: the signal comes while the second is being read.
fn harvest_interrupted(signal: &str, code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let (first, second, out) = (dir.path().join("a.tsv"), dir.path().join("b.tsv"), dir.path().join("candidates"));
    std::fs::write(&first, format!("url\tcaption\n{}", list_rows("a", 3))).unwrap();
    mkfifo(&second);
    let args = harvest_args(&first, &second, &out);
    let mut run = Running::start("wit", &args);
    // Opening the pipe waits for the reader: the first input is committed by then (one thread).
    let mut pipe = std::fs::OpenOptions::new().write(true).open(&second).unwrap();
    pipe.write_all(format!("url\tcaption\n{}", list_rows("b", 2)).as_bytes()).unwrap();
    pipe.flush().unwrap();
    run.wait_until("the first input committed", |_| Manifest::load(&out).map(|m| m.shards.len() == 1).unwrap_or(false));
    run.signal(signal);
    // The reader looks at the flag at each row: keep rows coming until it stops (the handler may
    // run just after the reader took a row).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feeder = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if pipe.write_all(list_rows("late", 1).as_bytes()).is_err() {
                    return; // the reader closed the pipe
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let (status, stderr) = run.finish();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    feeder.join().unwrap();
    assert_eq!(status.code(), Some(code), "exit code after {signal}:\n{stderr}");
    assert!(stderr.contains(&format!("interrupted by SIG{signal}; 1 of 2 inputs harvested and committed")), "{stderr}");
    assert!(stderr.contains("resume with"), "{stderr}");
    let manifest = Manifest::load(&out).unwrap();
    assert!(!manifest.complete);
    let kept = harvested_urls(&out);
    assert_eq!(kept, (0..3).map(|i| format!("http://example.com/a/{i}.jpg")).collect::<Vec<_>>());

    // The rerun reads only the second input: the first, rewritten meanwhile, is not read again.
    std::fs::write(&first, format!("url\tcaption\n{}", list_rows("changed", 3))).unwrap();
    let feeder = {
        let second = second.clone();
        std::thread::spawn(move || {
            let mut pipe = std::fs::OpenOptions::new().write(true).open(&second).unwrap();
            pipe.write_all(format!("url\tcaption\n{}", list_rows("b", 2)).as_bytes()).unwrap();
        })
    };
    let rerun = Command::new(workspace_binary("wit")).args(&args).output().unwrap();
    feeder.join().unwrap();
    assert!(rerun.status.success(), "{}", String::from_utf8_lossy(&rerun.stderr));
    let mut want: Vec<String> = (0..3).map(|i| format!("http://example.com/a/{i}.jpg")).collect();
    want.extend((0..2).map(|i| format!("http://example.com/b/{i}.jpg")));
    assert_eq!(harvested_urls(&out), want);
    assert!(Manifest::load(&out).unwrap().complete);
}

#[test]
fn harvest_keeps_finished_inputs_on_sigint() {
    harvest_interrupted("INT", 130);
}

#[test]
fn harvest_keeps_finished_inputs_on_sigterm() {
    harvest_interrupted("TERM", 143);
}

#[test]
fn a_second_signal_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second, out) = (dir.path().join("a.tsv"), dir.path().join("b.tsv"), dir.path().join("candidates"));
    std::fs::write(&first, format!("url\tcaption\n{}", list_rows("a", 3))).unwrap();
    mkfifo(&second);
    let mut run = Running::start("wit", &harvest_args(&first, &second, &out));
    // The pipe is open and empty: the reader waits in read(2) and cannot look at the flag.
    let pipe = std::fs::OpenOptions::new().write(true).open(&second).unwrap();
    run.wait_until("the first input committed", |_| Manifest::load(&out).map(|m| m.shards.len() == 1).unwrap_or(false));
    run.signal("INT");
    // Two pending SIGINTs would merge into one: send the second once the first has reached its handler.
    run.wait_until("the first SIGINT delivered", |r| !signal_pending(r.child.id(), SIGINT));
    run.signal("INT");
    let (status, stderr) = run.finish();
    drop(pipe);
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("second signal: exiting at once"), "{stderr}");
    // What was committed before stays.
    assert_eq!(harvested_urls(&out).len(), 3);
}

const SIGINT: u32 = 2;

/// Whether `signal` is still pending for process `pid` (sent, not yet delivered to a handler):
/// its bit in the process-wide or main-thread pending masks of /proc/PID/status.
fn signal_pending(pid: u32, signal: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .filter(|line| line.starts_with("ShdPnd:") || line.starts_with("SigPnd:"))
        .filter_map(|line| u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok())
        .any(|mask| mask & (1 << (signal - 1)) != 0)
}

fn checkpoints(out: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(out.join("checkpoints"))
        .map(|entries| entries.map(|e| e.unwrap().path()).filter(|p| !p.starts_with(".")).collect())
        .unwrap_or_default();
    found.retain(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'));
    found.sort();
    found
}

fn train_interrupted(signal: &str, code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let shapes = dir.path().join("shapes");
    let made = Command::new(workspace_binary("wit-train"))
        .args(["shapes", "-o", shapes.to_str().unwrap(), "--shards", "2", "--rows", "32", "--size", "32"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let out = dir.path().join("train");
    let args = strings(&[
        "train",
        "--data",
        shapes.join("corpus").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--config",
        "tiny",
        "--device",
        "cpu",
        "--batch",
        "8",
        "--workers",
        "1",
        "--steps",
        "100000",
        "--log-every",
        "1",
        "--save-every",
        "100000",
    ]);
    let mut run = Running::start("wit-train", &args);
    run.wait_until("three steps", |run| run.stderr().contains("step=3"));
    run.signal(signal);
    let (status, stderr) = run.finish();
    assert_eq!(status.code(), Some(code), "exit code after {signal}:\n{stderr}");
    assert!(stderr.contains(&format!("interrupted by SIG{signal}; step ")), "{stderr}");
    assert!(stderr.contains("of 100000 finished and saved as checkpoint"), "{stderr}");
    assert!(stderr.contains("--resume latest"), "the resume command: {stderr}");
    let saved = checkpoints(&out);
    assert_eq!(saved.len(), 1, "{saved:?}");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(saved[0].join("state.json")).unwrap()).unwrap();
    let step = state["step"].as_u64().unwrap();
    assert!(step >= 3, "{state}");

    // `--resume latest` goes on from the saved step.
    let mut resumed = args.clone();
    resumed.extend(strings(&["--resume", "latest", "--stop-after", &(step + 2).to_string()]));
    let rerun = Command::new(workspace_binary("wit-train")).args(&resumed).output().unwrap();
    assert!(rerun.status.success(), "{}", String::from_utf8_lossy(&rerun.stderr));
    let printed = String::from_utf8_lossy(&rerun.stdout);
    assert!(printed.contains(&format!("steps {step}..{}", step + 2)), "{printed}");
}

#[test]
fn training_saves_a_checkpoint_on_sigint() {
    train_interrupted("INT", 130);
}

#[test]
fn training_saves_a_checkpoint_on_sigterm() {
    train_interrupted("TERM", 143);
}
