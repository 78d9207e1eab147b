//! Unit tests: plans at world size 1 (the flags `wit build` always ran) and N, scripts, progress.

use std::path::PathBuf;

use toml::Table;

use crate::config::BuildConfig;
use crate::plan::{plan, Done};
use crate::progress::{folder_progress, plan_progress, RankState};
use crate::slurm::{render_script, submit, SlurmSubmit};

const CONFIG: &str = r#"
    output = "out/b"
    [queries]
    inputs = ["dump.xml.bz2"]
    min_count = 5
    wordnet = "fixtures/wordnet"
    [crawl]
    seeds = ["{demo_web}/", "{demo_web}/real.html"]
    allow_private_networks = true
    [harvest]
    inputs = ["a.wat.gz"]
    [curate]
    cap = 50
    strict = false
    [fetch]
    image_size = 32
"#;

fn config(text: &str) -> BuildConfig {
    BuildConfig::from_table(text.parse::<Table>().unwrap()).unwrap()
}

#[test]
fn tables_become_the_stages_flags_with_wired_folders() {
    let subs = vec![("{demo_web}".to_string(), "http://127.0.0.1:9".to_string())];
    let plan = plan(&config(CONFIG), &subs).unwrap();
    let stages: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(stages, ["queries", "crawl", "harvest", "curate", "fetch"]);
    assert!(plan.steps.iter().all(|s| s.ranks == 1));
    let argv = |i: usize| plan.steps[i].argv(0);
    assert_eq!(
        argv(0),
        [
            "queries",
            "build",
            "dump.xml.bz2",
            "-o",
            "out/b/queries",
            "--min-count",
            "5",
            "--wordnet",
            "fixtures/wordnet"
        ]
    );
    assert_eq!(
        argv(1),
        [
            "harvest",
            "crawl",
            "-o",
            "out/b/crawl",
            "--allow-private-networks",
            "--seeds",
            "http://127.0.0.1:9/",
            "--seeds",
            "http://127.0.0.1:9/real.html"
        ]
    );
    assert_eq!(argv(2), ["harvest", "a.wat.gz", "out/b/crawl/_crawl/pages.warc.gz", "-o", "out/b/candidates"]);
    let curate = "curate --queries out/b/queries --candidates out/b/candidates -o out/b/curated --cap 50";
    assert_eq!(argv(3).join(" "), curate);
    assert_eq!(argv(4), ["fetch", "out/b/curated", "-o", "out/b/corpus", "--image-size", "32"]);
    assert_eq!(plan.steps[2].after, [1]);
    assert_eq!(plan.steps[3].after, [0, 2]);
}

#[test]
fn world_size_splits_stages_into_ranks_and_merges() {
    let text = format!("world_size = 4\n{CONFIG}\n[report]\n");
    let plan = plan(&config(&text), &[]).unwrap();
    let steps: Vec<(&str, usize)> = plan.steps.iter().map(|s| (s.name.as_str(), s.ranks)).collect();
    assert_eq!(
        steps,
        [
            ("queries-count", 4),
            ("queries-merge", 1),
            ("crawl", 1),
            ("harvest-ranks", 4),
            ("harvest-dedup", 4),
            ("harvest-apply", 4),
            ("harvest-merge", 1),
            ("curate-count", 4),
            ("curate-select", 4),
            ("curate-merge", 1),
            ("fetch-ranks", 4),
            ("fetch-dedup", 4),
            ("fetch-apply", 4),
            ("fetch-merge", 1),
            ("report", 1),
        ]
    );
    let harvest = &plan.steps[3];
    assert_eq!(harvest.after, [2]);
    assert_eq!(
        harvest.argv(2).join(" "),
        "harvest a.wat.gz out/b/crawl/_crawl/pages.warc.gz -o out/b/candidates --phase harvest --rank 2 --world-size 4"
    );
    assert_eq!(
        harvest.done_for(2),
        Done::Marker {
            file: "out/b/candidates/_steps/harvest-00002-of-00004.json".into(),
            folder: "out/b/candidates/_ranks/rank-00002-of-00004".into()
        }
    );
    assert_eq!(
        plan.steps[4].argv(1).join(" "),
        "harvest a.wat.gz out/b/crawl/_crawl/pages.warc.gz -o out/b/candidates --phase dedup --rank 1 --world-size 4"
    );
    assert_eq!(
        plan.steps[4].done_for(1),
        Done::File("out/b/candidates/_steps/harvest-dedup-00001-of-00004.json".into())
    );
    assert_eq!(plan.steps[7].after, [1, 6]);
    assert!(plan.steps[9].argv(0).ends_with(&["--phase".into(), "merge".into(), "--world-size".into(), "4".into()]));
    assert_eq!(
        plan.steps[1].argv(0).join(" "),
        "queries build -o out/b/queries --min-count 5 --wordnet fixtures/wordnet --phase merge --world-size 4"
    );
    assert_eq!(
        plan.steps[10].done_for(1),
        Done::Marker {
            file: "out/b/corpus/_steps/fetch-00001-of-00004.json".into(),
            folder: "out/b/corpus/_ranks/rank-00001-of-00004".into()
        }
    );
    assert_eq!(plan.steps[14].after, [1, 2, 6, 9, 13]);
}

/// Every merge is a wave or a metadata step: at world size 4 no one-process step reads data
/// rows but the crawl (one polite crawler by design) and the report; the one-process steps that
/// read compact entries are named (the queries merge's count tables, curate's strict greedy).
#[test]
fn no_merge_runs_as_one_process_on_rows() {
    for strict in [false, true] {
        let text =
            format!("world_size = 4\n{CONFIG}\n[report]\n").replace("strict = false", &format!("strict = {strict}"));
        let plan = plan(&config(&text), &[]).unwrap();
        let serial_on_rows: Vec<&str> =
            plan.steps.iter().filter(|s| s.is_serial_on_rows()).map(|s| s.name.as_str()).collect();
        assert_eq!(serial_on_rows, ["crawl", "report"], "strict = {strict}");
        let serial_on_entries: Vec<&str> = plan
            .steps
            .iter()
            .filter(|s| s.ranks == 1 && s.reads == wit_ranks::Reads::Entries)
            .map(|s| s.name.as_str())
            .collect();
        let expected: &[&str] = if strict { &["queries-merge", "curate-strict"] } else { &["queries-merge"] };
        assert_eq!(serial_on_entries, expected, "strict = {strict}");
        for step in plan.steps.iter().filter(|s| s.name.ends_with("-merge") && s.stage != "queries") {
            assert_eq!((step.ranks, step.reads), (1, wit_ranks::Reads::Metadata), "{}", step.name);
        }
        for step in plan.steps.iter().filter(|s| s.name.ends_with("-dedup")) {
            assert_eq!((step.ranks, step.width, step.reads), (4, wit_ranks::Width::Buckets, wit_ranks::Reads::Entries));
            assert!(step.shape().contains("×4 buckets"));
        }
        if strict {
            let names: Vec<&str> = plan.steps.iter().filter(|s| s.stage == "curate").map(|s| s.name.as_str()).collect();
            assert_eq!(names, ["curate-count", "curate-order", "curate-strict", "curate-select", "curate-merge"]);
        }
    }
}

#[test]
fn array_scripts_take_the_rank_from_slurm() {
    let text = format!(
        "world_size = 4\n{CONFIG}\n[slurm]\npartition = \"cpu\"\ncpus_per_task = 2\nextra_args = [\"--qos=low\"]\n"
    );
    let config = config(&text);
    let plan = plan(&config, &[]).unwrap();
    let submit = SlurmSubmit {
        wit: PathBuf::from("/opt/wit/bin/wit"),
        workdir: PathBuf::from("/home/me/wit dir"),
        options: config.slurm.clone(),
        dry_run: true,
    };
    let fetch = render_script(&plan, 10, &submit);
    assert!(fetch.contains("#SBATCH --array=0-3\n"), "{fetch}");
    assert!(fetch.contains("#SBATCH --partition=cpu\n#SBATCH --cpus-per-task=2\n#SBATCH --qos=low\n"), "{fetch}");
    assert!(fetch.contains("cd '/home/me/wit dir'\n"), "{fetch}");
    assert!(
        fetch.contains(
            "exec /opt/wit/bin/wit fetch out/b/curated -o out/b/corpus --image-size 32 --phase fetch --rank \"$RANK\" \
             --world-size 4\n"
        ),
        "{fetch}"
    );
    let merge = render_script(&plan, 13, &submit);
    assert!(!merge.contains("--array") && merge.contains("--phase merge --world-size 4\n"), "{merge}");
}

#[test]
fn a_dry_run_writes_every_script_and_names_dependencies() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b");
    let text = CONFIG.replace("out/b", out.to_str().unwrap()).replace("output =", "world_size = 2\noutput =");
    let plan = plan(&config(&text), &[]).unwrap();
    let submit_options =
        SlurmSubmit { wit: "/wit".into(), workdir: "/".into(), options: Default::default(), dry_run: true };
    let submitted = submit(&plan, &submit_options).unwrap();
    assert_eq!(submitted.len(), plan.steps.len());
    assert!(submitted.iter().all(|s| s.script.is_file() && s.job_id.is_none()));
    let curate = submitted.iter().find(|s| s.step == "curate-count").unwrap();
    assert!(curate.command.contains(&"--dependency=afterok:<queries-merge>:<harvest-merge>".to_string()));
    assert_eq!(submitted[0].script, out.join("slurm/01-queries-count.sbatch"));
}

#[test]
fn progress_reads_manifests_and_rank_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let text = format!(
        "output = \"{}\"\nworld_size = 2\n[queries]\ninputs = [\"d.xml\"]\n[harvest]\ninputs = [\"a.wat\"]\n",
        out.display()
    );
    let plan = plan(&config(&text), &[]).unwrap();
    std::fs::create_dir_all(out.join("queries/_counts")).unwrap();
    std::fs::write(out.join("queries/_counts/counts-00001-of-00002.json"), "{}").unwrap();
    let rank0 = out.join("candidates/_ranks/rank-00000-of-00002");
    std::fs::create_dir_all(&rank0).unwrap();
    let mut manifest = wit_contract::Manifest::new(wit_contract::RecordKind::Candidates, serde_json::json!({}), None);
    manifest.save(&rank0).unwrap();
    let progress = plan_progress(&plan).unwrap();
    assert_eq!(progress[0].ranks, [RankState::Missing, RankState::Complete { rows: None }]);
    assert_eq!(progress[1].ranks, [RankState::Missing]);
    assert_eq!(progress[2].ranks, [RankState::Partial { rows: 0, shards: 0 }, RankState::Missing]);
    let (found, _) = folder_progress(out.to_str().unwrap()).unwrap();
    assert_eq!(found.world_size, 2);
    assert_eq!(found.steps.len(), 6);
}

#[test]
fn unknown_keys_and_bad_values_are_errors_naming_them() {
    let err = BuildConfig::from_table("output = \"o\"\n[curat]\n".parse().unwrap()).unwrap_err();
    assert!(err.to_string().contains("curat"), "{err}");
    let err = BuildConfig::from_table("output = \"o\"\nworld_size = 0\n".parse().unwrap()).unwrap_err();
    assert!(err.to_string().contains("world_size"), "{err}");
    let err = plan(&config("output = \"o\"\n[curate]\ncap = { a = 1 }\n"), &[]).unwrap_err();
    assert!(err.to_string().contains("[curate] cap"), "{err}");
    let err = BuildConfig::from_table("output = \"o\"\n[slurm]\nqueue = \"x\"\n".parse().unwrap()).unwrap_err();
    assert!(err.to_string().contains("[slurm] queue"), "{err}");
    let err = BuildConfig::from_table("output = \"o\"\n[slurm]\nextra_args = [\"--qos=x\", 1]\n".parse().unwrap());
    assert!(err.unwrap_err().to_string().contains("[slurm] extra_args[1]"));
    let err = BuildConfig::from_table("output = \"\"\n".parse().unwrap()).unwrap_err();
    assert!(err.to_string().contains("output: must not be empty"), "{err}");
    let err = BuildConfig::from_table("world_size = 2\n".parse().unwrap()).unwrap_err();
    assert!(err.to_string().contains("missing field `output`"), "{err}");
    // Numbers are accepted where sbatch takes text.
    let config =
        BuildConfig::from_table("output = \"o\"\n[slurm]\ntime = 60\nmem = \"8G\"\n".parse().unwrap()).unwrap();
    assert_eq!((config.slurm.time.as_deref(), config.slurm.mem.as_deref()), (Some("60"), Some("8G")));
}

#[test]
fn a_build_blocklist_goes_to_every_stage_that_could_bring_a_takedown_back() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("b");
    std::fs::create_dir_all(&output).unwrap();
    std::fs::write(output.join(wit_contract::layout::BLOCKLIST_FILE), "").unwrap();
    let text = CONFIG.replace("out/b", output.to_str().unwrap());
    let subs = vec![("{demo_web}".to_string(), "http://127.0.0.1:9".to_string())];
    let plan = plan(&config(&text), &subs).unwrap();
    let blocklist = output.join(wit_contract::layout::BLOCKLIST_FILE).display().to_string();
    for step in &plan.steps {
        let argv = step.argv(0);
        let passed = argv.windows(2).any(|w| w[0] == "--blocklist" && w[1] == blocklist);
        assert_eq!(passed, step.name != "queries", "{}: {argv:?}", step.name);
    }
}
