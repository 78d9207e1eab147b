//! `wit build --slurm` on a real one-node Slurm cluster (tests/src/slurm.rs) with inputs and
//! outputs on a local S3 server (moto, tests/src/s3.rs), both started by the test: the demo web
//! built at world size 4 as sbatch array jobs chained with `afterok`, every stage reading and
//! writing `s3://`, gives the same corpus (keys, per-query counts) as the single-process build on
//! local folders; a failed rank and a rank killed with SIGKILL mid-way are resubmitted by rerunning
//! the command (only what is incomplete, read from the store; refused while the jobs are still in
//! the queue), and the final corpus is again the same. `wit status s3://…` reports the ranks in
//! between.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wit_contract::{read_records, CorpusImage, CuratedPair, Manifest, QueryCount};
use wit_demoweb::{DemoWeb, SiteConfig};
use wit_tests::demo_build::DemoBuild;
use wit_tests::s3::S3Server;
use wit_tests::slurm::SlurmCluster;
use wit_tests::{wit, workspace_binary};

/// What two builds must agree on.
#[derive(Debug, PartialEq)]
struct Outcome {
    curated_keys: BTreeSet<String>,
    /// query → (matched, kept), from curated/query_counts.
    query_counts: BTreeMap<String, (u64, u64)>,
    corpus_keys: BTreeSet<String>,
    /// query id → corpus rows holding it.
    corpus_per_query: BTreeMap<u32, u64>,
}

fn shards(dir: &Path) -> Vec<PathBuf> {
    let manifest = Manifest::load(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    assert!(manifest.complete, "{} is not complete", dir.display());
    manifest.shard_paths(dir)
}

fn outcome(out: &Path) -> Outcome {
    let mut o = Outcome {
        curated_keys: BTreeSet::new(),
        query_counts: BTreeMap::new(),
        corpus_keys: BTreeSet::new(),
        corpus_per_query: BTreeMap::new(),
    };
    for shard in shards(&out.join("curated")) {
        o.curated_keys.extend(read_records::<CuratedPair>(&shard).unwrap().into_iter().map(|p| p.candidate.key));
    }
    for shard in shards(&out.join("curated/_query_counts")) {
        for row in read_records::<QueryCount>(&shard).unwrap() {
            o.query_counts.insert(row.query, (row.matched, row.kept));
        }
    }
    for shard in shards(&out.join("corpus")) {
        for row in read_records::<CorpusImage>(&shard).unwrap() {
            for id in &row.query_ids {
                *o.corpus_per_query.entry(*id).or_default() += 1;
            }
            assert!(o.corpus_keys.insert(row.candidate.key.clone()), "{} twice in the corpus", row.candidate.key);
        }
    }
    o
}

const BUCKET: &str = "wit-slurm";

/// The demo web and the build's two WAT inputs (local paths or `s3://` URLs).
struct Demo {
    base: String,
    wats: [String; 2],
}

/// The build's TOML (tests/src/demo_build.rs): two WAT inputs (the second a copy: harvest
/// deduplicates across inputs), soft-capped curation, five images per corpus shard.
fn config(demo: &Demo, out: &str, world_size: usize, fetch_delay_ms: u64) -> String {
    DemoBuild {
        output: out,
        world_size,
        base: &demo.base,
        wats: &demo.wats,
        curate: "cap = 40",
        fetch_delay_ms,
        shard_rows: 5,
        report: "",
    }
    .toml()
}

fn text(output: &Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Where `wit` runs for the Slurm builds: the cluster's `SLURM_CONF`, the S3 server's endpoint
/// and credentials (sbatch hands its environment to the jobs), one scratch folder for every rank,
/// and a working folder of the test's own (the Slurm scripts of an `s3://` build land there).
struct Site {
    cluster: SlurmCluster,
    s3: S3Server,
    env: Vec<(String, String)>,
    workdir: PathBuf,
}

impl Site {
    fn wit(&self, args: &[&str]) -> Command {
        let mut command = self.cluster.command(workspace_binary("wit"));
        command.args(args).envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))).current_dir(&self.workdir);
        command
    }

    /// `wit build --config TOML --slurm --wait`.
    fn slurm_build(&self, toml: &Path) -> Output {
        self.wit(&["build", "--config", toml.to_str().unwrap(), "--slurm", "--wait"]).output().expect("wit runs")
    }

    /// `wit status URL --json`, read from the store.
    fn status(&self, url: &str) -> serde_json::Value {
        let output = self.wit(&["status", url, "--json"]).output().expect("wit runs");
        assert!(output.status.success(), "{}", text(&output));
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// The outcome of the build under `prefix`, downloaded with boto3 (not wit) into `dir`.
    fn stored_outcome(&self, prefix: &str, dir: &Path) -> Outcome {
        let back = dir.join(format!("back-{prefix}"));
        self.s3.download(BUCKET, prefix, &back);
        let corpus = wit(&["verify", back.join("corpus").to_str().unwrap()]);
        assert!(corpus.status.success(), "{}", text(&corpus));
        outcome(&back)
    }
}

/// The state of `rank` of `step`; `wit status` on a folder shows the stages whose folders exist.
fn rank_state(status: &serde_json::Value, step: &str, rank: usize) -> String {
    rank_entry(status, step, rank).unwrap_or_else(|| panic!("no step {step} in {status}"))["state"]
        .as_str()
        .unwrap()
        .to_string()
}

fn rank_entry<'a>(status: &'a serde_json::Value, step: &str, rank: usize) -> Option<&'a serde_json::Value> {
    let steps = status["steps"].as_array().unwrap();
    steps.iter().find(|s| s["step"] == step).map(|s| &s["ranks"][rank])
}

#[test]
fn slurm_on_s3_world_size_4_equals_one_process_and_resubmits_killed_ranks() {
    let Some(cluster) = SlurmCluster::start() else { return };
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let mut env = s3.env();
    env.push(("WIT_SCRATCH".into(), dir.path().join("scratch").to_str().unwrap().into()));
    env.push(("WIT_SYNC_INTERVAL_SECS".into(), "0.2".into()));
    let workdir = dir.path().join("work");
    std::fs::create_dir_all(&workdir).unwrap();
    let site = Site { cluster, s3, env, workdir };

    let web_site = SiteConfig { pages: 24, images_per_page: 6, real_images: None, ..SiteConfig::default() };
    let web = DemoWeb::start(web_site, "127.0.0.1:0".parse().unwrap()).unwrap();
    let wat = dir.path().join("demo.wat.gz");
    web.write_wat(&wat).unwrap();
    let whole = std::fs::read(&wat).unwrap();
    let truncated = dir.path().join("truncated.wat.gz");
    std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();
    for key in ["inputs/demo.wat.gz", "inputs/demo-copy.wat.gz"] {
        site.s3.put_file(BUCKET, key, &wat);
    }

    // A: one process, world size 1, local folders (what `wit build` always did).
    let wat_copy = dir.path().join("demo-copy.wat.gz");
    std::fs::copy(&wat, &wat_copy).unwrap();
    let local = Demo { base: web.base_url(), wats: [wat.display().to_string(), wat_copy.display().to_string()] };
    let single = dir.path().join("single");
    let toml = dir.path().join("single.toml");
    std::fs::write(&toml, config(&local, single.to_str().unwrap(), 1, 0)).unwrap();
    let build = wit(&["build", "--config", toml.to_str().unwrap()]);
    assert!(build.status.success(), "{}", text(&build));
    let expected = outcome(&single);
    assert!(
        expected.curated_keys.len() > 20 && expected.corpus_keys.len() > 20,
        "too small a test build: {expected:?}"
    );

    // B: world size 4 on Slurm, inputs and every stage's output on S3, uninterrupted.
    let remote = Demo {
        base: web.base_url(),
        wats: [format!("s3://{BUCKET}/inputs/demo.wat.gz"), format!("s3://{BUCKET}/inputs/demo-copy.wat.gz")],
    };
    let b = format!("s3://{BUCKET}/slurm");
    let toml = dir.path().join("slurm.toml");
    std::fs::write(&toml, config(&remote, &b, 4, 0)).unwrap();
    let dry = site.wit(&["build", "--config", toml.to_str().unwrap(), "--slurm", "--dry-run"]).output().unwrap();
    assert!(dry.status.success(), "{}", text(&dry));
    let dry_text = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry_text.contains("#SBATCH --array=0-3") && dry_text.contains("--rank \"$RANK\" --world-size 4"),
        "{dry_text}"
    );
    assert!(dry_text.contains(&format!("exec {}", workspace_binary("wit").display())), "{dry_text}");
    assert!(dry_text.contains(&format!("-o {b}/corpus")), "the jobs write to the store: {dry_text}");
    let scripts = site.workdir.join("wit-slurm/s3-wit-slurm-slurm");
    assert!(dry_text.contains(&format!("--output={}/logs/", scripts.display())), "scripts of an s3 build: {dry_text}");
    let queue = site.cluster.command("squeue").args(["-h"]).output().unwrap();
    assert!(queue.stdout.is_empty(), "a dry run submitted jobs: {}", text(&queue));
    let build = site.slurm_build(&toml);
    assert!(build.status.success(), "{}\n{}", text(&build), site.cluster.logs());
    let stdout = String::from_utf8_lossy(&build.stdout);
    assert!(stdout.contains("harvest-ranks: job ") && stdout.contains("ranks [0, 1, 2, 3]"), "{stdout}");
    let objects = site.s3.list(BUCKET, "slurm/");
    assert!(!objects.iter().any(|(k, _)| k.contains("/.")), "temporary objects left: {objects:?}");
    assert!(site.s3.manifests_point_at_whole_objects(BUCKET, "slurm", dir.path()) > 0);
    assert_eq!(
        site.stored_outcome("slurm", dir.path()),
        expected,
        "world size 4 on Slurm + S3 differs from one process"
    );
    let done = site.status(&b);
    assert_eq!(done["world_size"], 4);
    assert!(
        done["steps"].as_array().unwrap().iter().all(|s| s["ranks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "complete")),
        "{done}"
    );

    // C: harvest rank 1's input is corrupt at first (that rank fails, the jobs after it are
    // cancelled); then, on the resubmission, fetch rank 2 is killed with SIGKILL mid-way.
    let c = format!("s3://{BUCKET}/killed");
    let toml = dir.path().join("killed.toml");
    std::fs::write(&toml, config(&remote, &c, 4, 300)).unwrap();
    // A truncated gzip stream is an error, not a counted skip, until the whole file is back.
    site.s3.put_file(BUCKET, "inputs/demo-copy.wat.gz", &truncated);
    let build = site.slurm_build(&toml);
    site.s3.put_file(BUCKET, "inputs/demo-copy.wat.gz", &wat);
    assert!(!build.status.success(), "a build with a corrupt input succeeded: {}", text(&build));
    assert!(text(&build).contains("harvest-ranks rank 00001-of-00004"), "{}", text(&build));
    let between = site.status(&c);
    assert_eq!(rank_state(&between, "harvest-ranks", 0), "complete", "{between}");
    assert_ne!(rank_state(&between, "harvest-ranks", 1), "complete", "{between}");
    assert_eq!(rank_state(&between, "harvest-merge", 0), "missing", "{between}");

    let mut child = site
        .wit(&["build", "--config", toml.to_str().unwrap(), "--slurm", "--wait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        })
    };
    // Wait until fetch rank 2 has published a partial manifest with a shard (read from the
    // store, as `wit status` reads it), then kill it.
    let started = Instant::now();
    let job = loop {
        let job = lines.lock().unwrap().iter().find_map(|l| {
            l.strip_prefix("build: fetch-ranks: job ").and_then(|rest| rest.split_whitespace().next()).map(String::from)
        });
        if let Some(job) = job {
            let now = site.status(&c);
            if let Some(rank2) = rank_entry(&now, "fetch-ranks", 2) {
                assert_ne!(rank2["state"], "complete", "fetch rank 2 finished before the test could kill it: {now}");
                if rank2["state"] == "partial" && rank2["shards"].as_u64() >= Some(1) {
                    break job;
                }
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "fetch rank 2 never started: {:?}",
            lines.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // A second submission while these jobs are in the queue would run ranks twice at once.
    let twice = site.wit(&["build", "--config", toml.to_str().unwrap(), "--slurm"]).output().unwrap();
    assert!(
        !twice.status.success() && text(&twice).contains("still in the queue"),
        "a resubmission while the jobs run was not refused: {}",
        text(&twice)
    );
    let kill = site.cluster.command("scancel").args(["--signal=KILL", "--full", &format!("{job}_2")]).output().unwrap();
    assert!(kill.status.success(), "{}", text(&kill));
    let resubmitted = child.wait().unwrap();
    reader.join().unwrap();
    let printed = lines.lock().unwrap().join("\n");
    assert!(!resubmitted.success(), "the build with a killed rank succeeded: {printed}");
    assert!(printed.contains("queries-count: complete, not submitted"), "{printed}");
    assert!(printed.contains("ranks [1]"), "only harvest rank 1 is resubmitted: {printed}");
    let killed = site.status(&c);
    assert_eq!(rank_state(&killed, "fetch-ranks", 2), "partial", "{killed}");
    assert_eq!(rank_state(&killed, "fetch-merge", 0), "missing", "{killed}");

    let build = site.slurm_build(&toml);
    assert!(build.status.success(), "{}\n{}", text(&build), site.cluster.logs());
    let stdout = String::from_utf8_lossy(&build.stdout);
    assert!(stdout.contains("harvest-merge: complete, not submitted"), "{stdout}");
    let fetch_line = stdout.lines().find(|l| l.starts_with("build: fetch-ranks: job ")).unwrap_or_default();
    assert!(fetch_line.contains("(ranks [2])"), "only fetch rank 2 is resubmitted: {stdout}");
    assert!(site.s3.manifests_point_at_whole_objects(BUCKET, "killed", dir.path()) > 0);
    assert_eq!(
        site.stored_outcome("killed", dir.path()),
        expected,
        "the resubmitted build differs from the uninterrupted one"
    );
    // The killed rank's staging folder went with the rerun; every other run removed its own.
    let staging = dir.path().join("scratch/staging");
    let runs_left: Vec<PathBuf> = std::fs::read_dir(&staging)
        .unwrap()
        .flatten()
        .flat_map(|key| std::fs::read_dir(key.path()).unwrap().flatten().map(|run| run.path()))
        .collect();
    assert!(runs_left.is_empty(), "staging folders left in {}: {runs_left:?}", staging.display());
    let human = site.wit(&["status", &c]).output().unwrap();
    assert!(
        human.status.success() && String::from_utf8_lossy(&human.stdout).contains("steps complete"),
        "{}",
        text(&human)
    );
    drop(web);
}
