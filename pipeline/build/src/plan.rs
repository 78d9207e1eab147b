//! The plan of a build: the configured stages in order, each split into steps — one process, or an
//! array of N ranks plus the merge that joins them — with the folders wired and TOML keys turned
//! into flags (`min_count = 5` is `--min-count 5`; `true` adds a switch, a list repeats the flag).
//!
//! ```text
//! stage    world size 1          world size N
//! queries  queries build DUMPS…  --phase count (×N) → --phase merge (no dumps)
//! crawl    harvest crawl         harvest crawl (one process: one polite crawler per host)
//! harvest  harvest INPUTS…       --phase harvest (×N) → --phase merge (same inputs)
//! curate   curate                --phase count (×N) → --phase select (×N) → --phase merge
//! fetch    fetch OUTPUT/curated  --phase fetch (×N) → --phase merge
//! report   report OUTPUT         report OUTPUT
//! ```
//! Ranks of a wave get `--rank R --world-size N`, merges `--world-size N`; every other flag is the
//! same for all of a stage's steps (the stages record and check them). Per-rank outputs:
//! `queries/counts/counts-R-of-N.json`, `candidates/ranks/rank-R-of-N/`,
//! `curated/counts/{matched,shards}-R-of-N.*`, `corpus/ranks/rank-R-of-N/`.

use toml::{Table, Value};

use crate::config::{join, stage_folder, BuildConfig, STAGES};
use crate::error::{BuildError, Result};

/// What marks a step (or one rank of it) as done; `{rank}` in a path is `RRRRR-of-NNNNN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// A folder whose manifest.json says `complete` (partial: shards so far).
    Manifest(String),
    /// A file that is written last (atomically) by the step.
    File(String),
}

/// One step of a plan: a `wit` command run once, or once per rank.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Unique within the plan: the stage, or `stage-phase` for the steps of a multi-rank stage.
    pub name: String,
    pub stage: String,
    /// `wit` arguments; array steps get `--rank R --world-size N` appended by [`Step::argv`], and
    /// `{rank}` in an argument becomes `RRRRR-of-NNNNN`.
    pub args: Vec<String>,
    /// 1: one process; N: an array of N ranks.
    pub ranks: usize,
    /// Indices (in the plan) of the steps that must finish first.
    pub after: Vec<usize>,
    pub done: Done,
}

/// The steps of a build, in an order that respects every step's `after`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub output: String,
    pub world_size: usize,
    pub steps: Vec<Step>,
}

impl Step {
    /// Whether the step runs as N ranks (a Slurm array, a Kubernetes Indexed Job).
    pub fn is_array(&self) -> bool {
        self.ranks > 1
    }

    /// The `wit` arguments of rank `rank` (0 for a one-process step).
    pub fn argv(&self, rank: usize) -> Vec<String> {
        let suffix = rank_suffix(rank, self.ranks);
        let mut argv: Vec<String> = self.args.iter().map(|a| a.replace("{rank}", &suffix)).collect();
        if self.is_array() {
            argv.extend(["--rank".into(), rank.to_string(), "--world-size".into(), self.ranks.to_string()]);
        }
        argv
    }

    /// What shows that rank `rank` is done (see [`Done`]), `{rank}` filled in.
    pub fn done_for(&self, rank: usize) -> Done {
        let suffix = rank_suffix(rank, self.ranks);
        match &self.done {
            Done::Manifest(p) => Done::Manifest(p.replace("{rank}", &suffix)),
            Done::File(p) => Done::File(p.replace("{rank}", &suffix)),
        }
    }
}

/// `RRRRR-of-NNNNN`, the suffix the stages give per-rank files and folders.
pub fn rank_suffix(rank: usize, world_size: usize) -> String {
    format!("{rank:05}-of-{world_size:05}")
}

/// Turns a configuration into its plan. `substitutions` are applied to every string value
/// (`{output}` is always OUTPUT; the binary adds `{demo_web}` and `{demo_wat}`).
pub fn plan(config: &BuildConfig, substitutions: &[(String, String)]) -> Result<Plan> {
    let output = config.output.clone();
    let n = config.world_size;
    let mut subs = vec![("{output}".to_string(), output.clone())];
    subs.extend(substitutions.iter().cloned());
    let dir = |stage: &str| join(&output, stage_folder(stage));
    let mut steps: Vec<Step> = Vec::new();
    // Index of the last step of each stage planned so far.
    let mut last: Vec<(&str, usize)> = Vec::new();
    let last_of = |last: &Vec<(&str, usize)>, stage: &str| last.iter().find(|(s, _)| *s == stage).map(|(_, i)| *i);
    for (stage, _) in STAGES {
        let Some(table) = config.stage(stage) else { continue };
        let inputs = string_list(table.get("inputs"), &subs).map_err(|e| in_table(stage, "inputs", e))?;
        let flags = flags(stage, table, &subs)?;
        let out = dir(stage);
        let push = |steps: &mut Vec<Step>, name: String, args: Vec<String>, ranks: usize, after: Vec<usize>, done| {
            steps.push(Step { name, stage: stage.to_string(), args, ranks, after, done });
            steps.len() - 1
        };
        let with = |head: Vec<String>, out: &str, tail: &[&str]| -> Vec<String> {
            let mut argv = head;
            argv.extend(["-o".to_string(), out.to_string()]);
            argv.extend(flags.iter().cloned());
            argv.extend(tail.iter().map(|s| s.to_string()));
            argv
        };
        let ws = n.to_string();
        let index = match stage {
            "queries" => {
                let head: Vec<String> = ["queries", "build"].map(String::from).into_iter().chain(inputs).collect();
                if n == 1 {
                    push(&mut steps, stage.into(), with(head, &out, &[]), 1, vec![], Done::Manifest(out.clone()))
                } else {
                    let counts = join(&out, "counts/counts-{rank}.json");
                    let count = push(
                        &mut steps,
                        "queries-count".into(),
                        with(head, &out, &["--phase", "count"]),
                        n,
                        vec![],
                        Done::File(counts),
                    );
                    // The merge reads the count files, not the dumps.
                    let merge_args = with(
                        vec!["queries".into(), "build".into()],
                        &out,
                        &["--phase", "merge", "--world-size", ws.as_str()],
                    );
                    push(&mut steps, "queries-merge".into(), merge_args, 1, vec![count], Done::Manifest(out.clone()))
                }
            }
            "crawl" => {
                let head = vec!["harvest".to_string(), "crawl".to_string()];
                push(&mut steps, stage.into(), with(head, &out, &[]), 1, vec![], Done::Manifest(out.clone()))
            }
            "harvest" => {
                let mut head: Vec<String> = std::iter::once("harvest".to_string()).chain(inputs).collect();
                let mut after = Vec::new();
                if let Some(crawl) = last_of(&last, "crawl") {
                    head.push(join(&dir("crawl"), "crawl/pages.warc.gz"));
                    after.push(crawl);
                }
                if n == 1 {
                    push(&mut steps, stage.into(), with(head, &out, &[]), 1, after, Done::Manifest(out.clone()))
                } else {
                    let ranks = join(&out, "ranks/rank-{rank}");
                    let harvest = push(
                        &mut steps,
                        "harvest-ranks".into(),
                        with(head.clone(), &out, &["--phase", "harvest"]),
                        n,
                        after,
                        Done::Manifest(ranks),
                    );
                    let merge_args = with(head, &out, &["--phase", "merge", "--world-size", ws.as_str()]);
                    push(&mut steps, "harvest-merge".into(), merge_args, 1, vec![harvest], Done::Manifest(out.clone()))
                }
            }
            "curate" => {
                let candidates = if config.stage("harvest").is_some() { "harvest" } else { "crawl" };
                let head =
                    vec!["curate".into(), "--queries".into(), dir("queries"), "--candidates".into(), dir(candidates)];
                let after: Vec<usize> = ["queries", candidates].iter().filter_map(|s| last_of(&last, s)).collect();
                if n == 1 {
                    push(&mut steps, stage.into(), with(head, &out, &[]), 1, after, Done::Manifest(out.clone()))
                } else {
                    let count = push(
                        &mut steps,
                        "curate-count".into(),
                        with(head.clone(), &out, &["--phase", "count"]),
                        n,
                        after,
                        Done::File(join(&out, "counts/matched-{rank}.parquet")),
                    );
                    let select = push(
                        &mut steps,
                        "curate-select".into(),
                        with(head.clone(), &out, &["--phase", "select"]),
                        n,
                        vec![count],
                        Done::File(join(&out, "counts/shards-{rank}.json")),
                    );
                    let merge_args = with(head, &out, &["--phase", "merge", "--world-size", ws.as_str()]);
                    push(&mut steps, "curate-merge".into(), merge_args, 1, vec![select], Done::Manifest(out.clone()))
                }
            }
            "fetch" => {
                let head = vec!["fetch".to_string(), dir("curate")];
                let after: Vec<usize> = last_of(&last, "curate").into_iter().collect();
                if n == 1 {
                    push(&mut steps, stage.into(), with(head, &out, &[]), 1, after, Done::Manifest(out.clone()))
                } else {
                    let fetch = push(
                        &mut steps,
                        "fetch-ranks".into(),
                        with(head.clone(), &out, &["--phase", "fetch"]),
                        n,
                        after,
                        Done::Manifest(join(&out, "ranks/rank-{rank}")),
                    );
                    let merge_args = with(head, &out, &["--phase", "merge", "--world-size", ws.as_str()]);
                    push(&mut steps, "fetch-merge".into(), merge_args, 1, vec![fetch], Done::Manifest(out.clone()))
                }
            }
            "report" => {
                let head = vec!["report".to_string(), output.clone()];
                let after: Vec<usize> = last.iter().map(|(_, i)| *i).collect();
                let html = join(&out, "report.html");
                push(&mut steps, stage.into(), with(head, &out, &[]), 1, after, Done::File(html))
            }
            _ => unreachable!("STAGES lists every stage"),
        };
        last.push((stage, index));
    }
    Ok(Plan { output, world_size: n, steps })
}

/// A stage table's keys as flags (all but `inputs`).
fn flags(stage: &str, table: &Table, subs: &[(String, String)]) -> Result<Vec<String>> {
    let mut argv = Vec::new();
    for (key, value) in table {
        if key == "inputs" {
            continue;
        }
        let flag = format!("--{}", key.replace('_', "-"));
        match value {
            Value::Boolean(true) => argv.push(flag),
            Value::Boolean(false) => {}
            Value::Array(items) => {
                for item in items {
                    argv.extend([flag.clone(), scalar(item, subs).map_err(|e| in_table(stage, key, e))?]);
                }
            }
            other => argv.extend([flag, scalar(other, subs).map_err(|e| in_table(stage, key, e))?]),
        }
    }
    Ok(argv)
}

fn in_table(stage: &str, key: &str, problem: String) -> BuildError {
    BuildError::table(format!("[{stage}] {key}"), problem)
}

fn scalar(value: &Value, subs: &[(String, String)]) -> Result<String, String> {
    Ok(match value {
        Value::String(s) => substitute(s, subs),
        Value::Integer(n) => n.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Boolean(b) => b.to_string(),
        other => return Err(format!("expected a string, number or boolean, found {other}")),
    })
}

fn string_list(value: Option<&Value>, subs: &[(String, String)]) -> Result<Vec<String>, String> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(|item| scalar(item, subs)).collect(),
        Some(other) => Ok(vec![scalar(other, subs)?]),
    }
}

fn substitute(text: &str, subs: &[(String, String)]) -> String {
    subs.iter().fold(text.to_string(), |acc, (from, to)| acc.replace(from, to))
}
