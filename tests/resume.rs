//! Crash and resume: every stage that writes is killed with SIGKILL at random moments, rerun to
//! completion, and its output compared with an uninterrupted run's — the same rows by key, no
//! duplicates, and a manifest that matches the folder (complete, shard list = Parquet files on disk,
//! row counts = rows in the shards, no temporary files left).
//!
//! The kill delays are drawn from a seeded generator within the stage's uninterrupted wall time
//! measured in the same test; the seed is printed, and `WIT_RESUME_SEED=N` replays a run.
//! (fetch's kill test lives in fetch_cli.rs.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use wit_contract::{read_records, Candidate, CuratedPair, Manifest, QueryCount, QueryEntry, Record};
use wit_demoweb::{Site, SiteConfig};
use wit_tests::kill::{copy_dir, run_and_kill, run_to_end, Rng};
use wit_tests::wit;

/// Kills per stage, after the reference run.
const KILLS: usize = 5;

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The reference run into `reference_args`' folder (timed), then `KILLS` killed runs into
/// `resumed_args`' folder at random moments within that time, then a run to completion.
fn reference_then_killed(stage: &str, reference_args: &[String], resumed_args: &[String]) {
    let wall = run_to_end(reference_args);
    let mut rng = Rng::seeded(stage);
    let mut killed = 0;
    for _ in 0..KILLS {
        let delay = rng.delay_within(wall);
        let was_running = run_and_kill(resumed_args, delay);
        killed += was_running as usize;
        eprintln!("{stage}: killed after {delay:?} of {wall:?} (running: {was_running})");
        if !was_running {
            // It finished first: start the next one afresh, so its kill lands in real work.
            std::fs::remove_dir_all(output_of(resumed_args)).ok();
        }
    }
    eprintln!("{stage}: {killed} of {KILLS} runs killed part-way");
    run_to_end(resumed_args);
}

/// The `-o` folder of a command line.
fn output_of(args: &[String]) -> PathBuf {
    let at = args.iter().position(|a| a == "-o").expect("an -o argument") + 1;
    PathBuf::from(&args[at])
}

/// A whole folder's files and those of its `data/` (as `data/NAME`), for checking it against its manifest.
fn files_in(dir: &Path) -> Vec<String> {
    let list = |folder: &Path, prefix: &str| -> Vec<String> {
        match std::fs::read_dir(folder) {
            Ok(entries) => entries
                .map(|e| e.unwrap())
                .filter(|e| e.file_type().unwrap().is_file())
                .map(|e| format!("{prefix}{}", e.file_name().to_string_lossy()))
                .collect(),
            Err(_) => Vec::new(),
        }
    };
    let mut names = list(dir, "");
    names.extend(list(&dir.join("data"), "data/"));
    names.sort();
    names
}

/// The folder's manifest is complete, lists exactly the Parquet files there, with their row
/// counts; no temporary file is left; `wit verify` agrees. Returns the rows, in manifest order.
fn consistent_rows<R: Record>(dir: &Path) -> Vec<R> {
    let manifest = Manifest::load(dir).unwrap();
    assert!(manifest.complete, "{}: manifest not complete", dir.display());
    let files = files_in(dir);
    let temporary: Vec<&String> = files.iter().filter(|f| f.rsplit('/').next().unwrap_or(f).starts_with('.')).collect();
    assert!(temporary.is_empty(), "{}: temporary files left: {temporary:?}", dir.display());
    let parquet: BTreeSet<&str> = files.iter().map(String::as_str).filter(|f| f.ends_with(".parquet")).collect();
    let listed: BTreeSet<&str> = manifest.shards.iter().map(|s| s.file.as_str()).collect();
    assert_eq!(parquet, listed, "{}: Parquet files on disk vs manifest", dir.display());
    let mut rows = Vec::new();
    for shard in &manifest.shards {
        let shard_rows: Vec<R> = read_records(dir.join(&shard.file)).unwrap();
        assert_eq!(shard_rows.len() as u64, shard.rows, "{}: rows in {}", dir.display(), shard.file);
        rows.extend(shard_rows);
    }
    let verify = wit(&["verify", &dir.display().to_string()]);
    assert!(verify.status.success(), "wit verify {}:\n{}", dir.display(), String::from_utf8_lossy(&verify.stdout));
    rows
}

/// Rows keyed and sorted; fails on a duplicate key.
fn by_key<R: std::fmt::Debug>(rows: Vec<R>, key: impl Fn(&R) -> String, what: &str) -> Vec<(String, R)> {
    let mut keyed: Vec<(String, R)> = rows.into_iter().map(|r| (key(&r), r)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    for pair in keyed.windows(2) {
        assert_ne!(pair[0].0, pair[1].0, "{what}: duplicate key {}", pair[0].0);
    }
    keyed
}

fn same_rows<R: std::fmt::Debug + PartialEq>(reference: Vec<(String, R)>, resumed: Vec<(String, R)>, what: &str) {
    let keys = |rows: &[(String, R)]| rows.iter().map(|r| r.0.clone()).collect::<BTreeSet<_>>();
    let (a, b) = (keys(&reference), keys(&resumed));
    assert_eq!(a.difference(&b).count(), 0, "{what}: rows lost on resume: {:?}", a.difference(&b).collect::<Vec<_>>());
    assert_eq!(
        b.difference(&a).count(),
        0,
        "{what}: rows only after resume: {:?}",
        b.difference(&a).collect::<Vec<_>>()
    );
    assert!(reference == resumed, "{what}: the same keys but different values");
}

fn fixture(relative: &str) -> PathBuf {
    let path = wit_tests::workspace_root().join("fixtures").join(relative);
    assert!(path.exists(), "{} missing: run `make fixtures`", path.display());
    path
}

const ENWIKI: &str = "enwiki/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2";

fn queries_args(out: &Path) -> Vec<String> {
    let (dump, out) = (fixture(ENWIKI).display().to_string(), out.display().to_string());
    // A 64 KiB budget spills sorted runs many times over the excerpt.
    strings(&[
        "queries",
        "build",
        &dump,
        "-o",
        &out,
        "--min-count",
        "5",
        "--size",
        "3000",
        "--memory-budget",
        "64K",
        "--threads",
        "2",
    ])
}

fn check_queries(reference: &Path, resumed: &Path) {
    let key = |q: &QueryEntry| format!("{:08}", q.id);
    let a = by_key(consistent_rows::<QueryEntry>(reference), key, "queries");
    let b = by_key(consistent_rows::<QueryEntry>(resumed), key, "queries");
    assert!(a.len() > 100, "{} queries: too few to mean anything", a.len());
    same_rows(a, b, "queries");
    for file in ["data/queries.parquet", "_queries.tsv"] {
        let read = |dir: &Path| std::fs::read(dir.join(file)).unwrap();
        assert!(read(reference) == read(resumed), "{file} differs after resume");
    }
    let left: Vec<String> = std::fs::read_dir(resumed)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("spill"))
        .collect();
    assert!(left.is_empty(), "spill folders left after completion: {left:?}");
    let stats = Manifest::load(reference).unwrap().stats;
    assert!(stats["spilled_runs"].as_u64().unwrap() > 2, "the budget should force spills: {stats}");
}

#[test]
fn queries_killed_while_counting_and_spilling_resume_to_the_same_dictionary() {
    let dir = tempfile::tempdir().unwrap();
    let (reference, resumed) = (dir.path().join("reference"), dir.path().join("resumed"));
    reference_then_killed("queries", &queries_args(&reference), &queries_args(&resumed));
    check_queries(&reference, &resumed);
}

#[test]
fn queries_two_ranks_and_merge_killed_resume_to_the_same_dictionary() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference");
    run_to_end(&queries_args(&reference));
    let resumed = dir.path().join("resumed");
    let phase = |rank: &str, phase: &str| -> Vec<String> {
        let mut args = queries_args(&resumed);
        args.extend(strings(&["--rank", rank, "--world-size", "2", "--phase", phase]));
        args
    };
    for (n, (rank, step)) in [("0", "count"), ("1", "count"), ("0", "merge")].into_iter().enumerate() {
        let args = phase(rank, step);
        // Time this step on a scratch copy of the folder, then kill it in the real one.
        let scratch = dir.path().join(format!("scratch-{n}"));
        copy_dir(&resumed, &scratch);
        let mut scratch_args = args.clone();
        let at = scratch_args.iter().position(|a| a == "-o").unwrap() + 1;
        scratch_args[at] = scratch.display().to_string();
        let wall = run_to_end(&scratch_args);
        let mut rng = Rng::seeded(&format!("queries rank {rank} {step}"));
        for _ in 0..3 {
            let delay = rng.delay_within(wall);
            let was_running = run_and_kill(&args, delay);
            eprintln!("queries rank {rank} {step}: killed after {delay:?} of {wall:?} (running: {was_running})");
        }
        run_to_end(&args);
    }
    // The merged dictionary equals a one-machine run's; the count folder is a side product.
    let key = |q: &QueryEntry| format!("{:08}", q.id);
    let a = by_key(consistent_rows::<QueryEntry>(&reference), key, "queries");
    let b = by_key(consistent_rows::<QueryEntry>(&resumed), key, "queries merged");
    same_rows(a, b, "queries merged");
}

/// Harvest inputs: demo-web WATs (one of them twice under another name, so cross-input dedup
/// drops a whole shard) and the real WARC fixtures.
fn harvest_inputs(dir: &Path) -> Vec<String> {
    let inputs = dir.join("inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    for seed in 0..3u64 {
        let site = Site::new(SiteConfig { seed: 100 + seed, pages: 150, images_per_page: 8, ..Default::default() });
        let path = inputs.join(format!("site-{seed}.wat.gz"));
        wit_demoweb::wat::write_wat(&site, "http://127.0.0.1:8080", &path).unwrap();
    }
    std::fs::copy(inputs.join("site-0.wat.gz"), inputs.join("site-3-copy-of-0.wat.gz")).unwrap();
    for warc in ["warc/warcat/at.warc.gz", "warc/warcbench/example.com.warc", "warc/warcbench/fb.warc.gz"] {
        let from = fixture(warc);
        std::fs::copy(&from, inputs.join(from.file_name().unwrap())).unwrap();
    }
    vec![inputs.display().to_string()]
}

fn harvest_args(inputs: &[String], out: &Path) -> Vec<String> {
    let mut args = strings(&["harvest"]);
    args.extend(inputs.iter().cloned());
    args.extend(strings(&["-o", &out.display().to_string(), "--lang", "any", "--threads", "2"]));
    args
}

fn harvested(dir: &Path) -> Vec<(String, Candidate)> {
    by_key(consistent_rows::<Candidate>(dir), |c| c.key.clone(), "candidates")
}

#[test]
fn harvest_killed_at_random_moments_resumes_to_the_same_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = harvest_inputs(dir.path());
    let (reference, resumed) = (dir.path().join("reference"), dir.path().join("resumed"));
    reference_then_killed("harvest", &harvest_args(&inputs, &reference), &harvest_args(&inputs, &resumed));
    let (a, b) = (harvested(&reference), harvested(&resumed));
    assert!(a.len() > 1000, "{} candidates: too few to mean anything", a.len());
    let stats = |d: &Path| Manifest::load(d).unwrap().stats;
    let (sa, sb) = (stats(&reference), stats(&resumed));
    same_rows(a, b, "candidates");
    // The stats tell the same story (duplicates across inputs included).
    for field in ["inputs", "records", "pages", "pairs_found", "pairs_out", "shards", "skipped"] {
        assert_eq!(sa[field], sb[field], "stats.{field}");
    }
    assert_eq!(sb["pairs_out"].as_u64().unwrap(), Manifest::load(&resumed).unwrap().total_rows());
}

#[test]
fn curate_killed_at_random_moments_resumes_to_the_same_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = harvest_inputs(dir.path());
    let candidates = dir.path().join("candidates");
    run_to_end(&harvest_args(&inputs, &candidates));
    let queries = dir.path().join("queries");
    run_to_end(&queries_args(&queries));
    let args = |out: &Path, strict: bool| {
        let mut args = strings(&[
            "curate",
            "--queries",
            &queries.display().to_string(),
            "--candidates",
            &candidates.display().to_string(),
            "-o",
            &out.display().to_string(),
            "--cap",
            "20",
            "--seed",
            "7",
            "--threads",
            "2",
        ]);
        if strict {
            args.push("--strict".into());
        }
        args
    };
    for strict in [false, true] {
        let what = if strict { "curate --strict" } else { "curate" };
        let (reference, resumed) =
            (dir.path().join(format!("{what}-reference")), dir.path().join(format!("{what}-resumed")));
        reference_then_killed(what, &args(&reference, strict), &args(&resumed, strict));
        let key = |p: &CuratedPair| p.candidate.key.clone();
        let (a, b) = (by_key(consistent_rows(&reference), key, what), by_key(consistent_rows(&resumed), key, what));
        assert!(!a.is_empty(), "{what}: nothing kept");
        same_rows(a, b, what);
        let counts = |d: &Path| consistent_rows::<QueryCount>(&d.join("_query_counts"));
        assert!(counts(&reference) == counts(&resumed), "{what}: per-query counts differ");
    }
}
