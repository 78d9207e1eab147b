//! The partitioned merges at world size 4 with a memory budget so small that every sort spills
//! (harvest's key dedup, fetch's image dedup, curate's strict claims), every new step killed with
//! SIGKILL at random moments and rerun: the build still equals the one-process build (dictionary,
//! candidates, curated pairs, per-query counts, corpus), every bucket really spilled, and every
//! step's rerun does nothing.

use std::path::Path;
use std::time::Duration;

use wit_tests::kill::{run_and_kill, Rng};
use wit_tests::pipeline::{demo_webs, outcome, path_str, steps_of, wit_ok, Pipeline};

/// A budget of 1 KiB: 64 hash entries or 32 strict claims per sorted run.
const TINY: &str = "1K";
/// The strict cap: low enough to bind somewhere.
const CAP: i64 = 60;

/// `config` with the strict cap and the tiny budget on every stage that sorts.
fn strict_and_tiny(mut config: toml::Table) -> toml::Table {
    for stage in ["harvest", "curate", "fetch"] {
        let table = config.get_mut(stage).and_then(|t| t.as_table_mut()).expect("a stage table");
        table.insert("memory_budget".into(), TINY.into());
    }
    let curate = config["curate"].as_table_mut().expect("curate");
    curate.insert("strict".into(), true.into());
    curate.insert("cap".into(), CAP.into());
    config
}

/// The `stats` of a completion marker.
fn marker_stats(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["stats"].clone()
}

/// Whether an argument list is one of the steps the scale issue added (the shuffle and strict steps).
fn is_new_step(args: &[String]) -> bool {
    let phase = args.iter().position(|a| a == "--phase").map(|i| args[i + 1].as_str());
    matches!(phase, Some("dedup" | "apply" | "order" | "strict")) || (phase == Some("merge") && args[0] != "queries")
}

/// The output folder of a stage merge (`-o OUT ... --phase merge`), if `args` is one.
fn merge_output(args: &[String]) -> Option<std::path::PathBuf> {
    let flag = |name: &str| args.iter().position(|a| a == name).map(|i| args[i + 1].clone());
    (flag("--phase").as_deref() == Some("merge")).then(|| flag("-o").map(Into::into)).flatten()
}

/// What a merge killed inside its manifest's atomic save leaves: the manifest's temporary file
/// (in the folder, and in the failures folder beside a corpus). The merge's run must remove it.
fn plant_stale_manifest_temp(out: &Path) {
    std::fs::create_dir_all(out).unwrap();
    std::fs::write(out.join("._manifest.json.999999-0.tmp"), b"{").unwrap();
    if out.join("_failures").is_dir() {
        std::fs::write(out.join("_failures/._manifest.json.999999-0.tmp"), b"{").unwrap();
    }
}

#[test]
fn partitioned_merges_that_spill_and_are_killed_build_what_one_process_builds() {
    let dir = tempfile::tempdir().unwrap();
    let (_webs, wats) = demo_webs(dir.path(), 14, 10);
    let pipeline = |name: &str| Pipeline::demo(&dir.path().join(name), wats.clone());
    let one = pipeline("one");
    one.run_config(strict_and_tiny(one.config(1)));

    // World size 4, step by step; each new step is killed twice at random moments (within 0.4 s:
    // these steps take a few hundred milliseconds here; a scratch copy cannot time them, since the
    // stages record their folders' paths), then run to its end.
    let four = pipeline("four");
    let four_root = dir.path().join("four");
    let mut rng = Rng::seeded("partitioned");
    let mut kills = 0;
    for (wave, single) in steps_of(strict_and_tiny(four.config(4))) {
        let commands: Vec<Vec<String>> = wave.into_iter().chain(single).collect();
        for args in commands {
            if let Some(out) = merge_output(&args) {
                plant_stale_manifest_temp(&out);
            }
            if is_new_step(&args) {
                let wall = Duration::from_millis(400);
                for _ in 0..2 {
                    let delay = rng.delay_within(wall);
                    kills += run_and_kill(&args, delay) as usize;
                }
            }
            wit_ok(&args, &[]);
        }
    }
    eprintln!("{kills} runs of new steps killed part-way");

    let (a, b) = (outcome(&dir.path().join("one")), outcome(&four_root));
    assert!(a.corpus.corpus_rows > 80, "a real test: {} rows", a.corpus.corpus_rows);
    assert!(a.query_counts.iter().any(|q| q.kept == CAP as u64), "the strict cap binds somewhere");
    assert!(a.query_counts.iter().all(|q| q.kept <= CAP as u64), "the strict cap holds");
    assert_eq!(a.candidates, b.candidates, "candidates");
    assert_eq!(a.curated, b.curated, "curated pairs");
    assert_eq!(a.query_counts, b.query_counts, "per-query matched and kept");
    assert_eq!(a, b);
    for stage in ["candidates", "curated", "corpus"] {
        wit_ok(&["verify".into(), path_str(&four_root.join(stage))], &[]);
    }

    // Every harvest dedup bucket held more entries than a run and spilled; the fetch buckets (one
    // entry per corpus row: too few here to spill, the same shuffle code) saw every corpus image;
    // the strict pass read claims.
    let mut images = 0;
    for (stage, step) in [("candidates", "harvest-dedup"), ("corpus", "fetch-dedup")] {
        for bucket in 0..4 {
            let stats = marker_stats(&four_root.join(format!("{stage}/_steps/{step}-{bucket:05}-of-00004.json")));
            if step == "harvest-dedup" {
                assert!(stats["entries"].as_u64().unwrap() > 64, "{step} bucket {bucket}: {stats}");
                assert!(stats["spilled_runs"].as_u64().unwrap() > 0, "{step} bucket {bucket}: {stats}");
            } else {
                images += stats["entries"].as_u64().unwrap() - stats["duplicates"].as_u64().unwrap();
            }
        }
    }
    assert_eq!(images as usize, b.corpus.corpus_rows, "one kept row per distinct image");
    let strict = marker_stats(&four_root.join("curated/_steps/curate-strict.json"));
    assert!(strict["claims"].as_u64().unwrap() > 32 && strict["kept"].as_u64().unwrap() > 0, "{strict}");
    // Spill folders are gone once each step is done.
    for stage in ["candidates", "curated", "corpus"] {
        assert!(!four_root.join(stage).join("_spill").read_dir().is_ok_and(|mut d| d.next().is_some()), "{stage}");
    }

    // A rerun of every step finds it done.
    for (wave, single) in steps_of(strict_and_tiny(four.config(4))).into_iter().skip(2) {
        for args in wave.iter().take(1).chain(single.iter()) {
            if is_new_step(args) {
                let stdout = String::from_utf8(wit_ok(args, &[]).stdout).unwrap();
                assert!(stdout.contains("already complete"), "wit {}: {stdout}", args.join(" "));
            }
        }
    }
}
