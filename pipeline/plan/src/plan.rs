//! The plan of a build: the configured stages in order, each split into the steps the stage itself
//! declares (`wit_harvest::steps`, `wit_curate::steps`, …: phase, width, whether a step reads
//! rows, what marks it done), with the folders wired and TOML keys turned into flags
//! (`min_count = 5` is `--min-count 5`; `true` adds a switch, a list repeats the flag).
//!
//! ```text
//! stage    world size 1          world size N (each merge a wave; one-process steps read metadata)
//! queries  queries build DUMPS…  count ×N → merge (sums per-rank count tables)
//! crawl    harvest crawl         harvest crawl (one process: one polite crawler per host)
//! harvest  harvest INPUTS…       harvest ×N → dedup ×N buckets → apply ×N → merge (manifest only)
//! curate   curate                count ×N → select ×N → merge (per-query tables)
//!          (strict)              count ×N → order ×N → strict (one pass, entries) → select ×N → merge
//! fetch    fetch OUTPUT/curated  fetch ×N → dedup ×N buckets → apply ×N → merge (manifests only)
//! report   report OUTPUT         report OUTPUT
//! ```
//! Ranks of a wave get `--rank R --world-size N`, one-process steps `--world-size N`; every other
//! flag is the same for all of a stage's steps (the stages record and check them). What marks each
//! rank done is the stage's declaration (see wit-ranks: `_steps/STEP-RRRRR-of-NNNNN.json` markers,
//! or a folder's complete manifest).

use toml::{Table, Value};
use wit_ranks::steps::DoneMark;
use wit_ranks::{Reads, StepDecl, Width};

use crate::config::{join, stage_folder, BuildConfig, STAGES};
use crate::error::{BuildError, Result};

/// What marks a step (or one rank of it) as done; `{rank}` in a path is `RRRRR-of-NNNNN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// A folder whose _manifest.json says `complete` (partial: shards so far).
    Manifest(String),
    /// A file that is written last (atomically) by the step.
    File(String),
    /// A marker file written last, and the folder whose manifest shows progress before it.
    Marker { file: String, folder: String },
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
    /// 1: one process; N: an array of N ranks (or N buckets).
    pub ranks: usize,
    /// Indices (in the plan) of the steps that must finish first.
    pub after: Vec<usize>,
    pub done: Done,
    /// How the stage declared the step's width.
    pub width: Width,
    /// What the step reads (rows, compact entries, or metadata), as the stage declared it.
    pub reads: Reads,
    /// What the step does, from the stage's declaration.
    pub what: String,
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

    /// A one-process step that reads data rows: what the partitioned merges exist to avoid.
    pub fn is_serial_on_rows(&self) -> bool {
        self.ranks == 1 && self.reads == Reads::Rows
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
            Done::Marker { file, folder } => {
                Done::Marker { file: file.replace("{rank}", &suffix), folder: folder.replace("{rank}", &suffix) }
            }
        }
    }

    /// How the step runs, for `--dry-run`: `×4 ranks`, `×4 buckets`, `1 process, metadata only`.
    pub fn shape(&self) -> String {
        match (self.width, self.ranks) {
            (_, 1) => match self.reads {
                Reads::Rows => "1 process".into(),
                Reads::Entries => "1 process, entries only".into(),
                Reads::Metadata => "1 process, metadata only".into(),
            },
            (Width::Buckets, n) => format!("×{n} buckets"),
            (_, n) => format!("×{n} ranks"),
        }
    }
}

pub use wit_ranks::rank_suffix;

/// The steps `stage` declares at world size `n` (`strict`: curate's strict cap).
fn declared(stage: &str, n: usize, strict: bool) -> Vec<StepDecl> {
    match stage {
        "queries" => wit_queries::steps(n),
        "harvest" => wit_harvest::steps(n),
        "curate" => wit_curate::steps(n, strict),
        "fetch" => wit_fetch::steps(n),
        "crawl" => wit_ranks::steps::one_process("crawl politely (one process: one crawler per host)"),
        "report" => vec![StepDecl {
            phase: None,
            width: Width::One,
            reads: Reads::Rows,
            done: DoneMark::File("report.html".into()),
            what: "per-query tables and charts (reads the corpus's query-id column)",
        }],
        _ => Vec::new(),
    }
}

/// Turns a configuration into its plan. `substitutions` are applied to every string value
/// (`{output}` is always OUTPUT; the binary adds `{demo_web}` and `{demo_wat}`).
pub fn plan(config: &BuildConfig, substitutions: &[(String, String)]) -> Result<Plan> {
    let output = config.output.clone();
    let n = config.world_size;
    let mut subs = vec![("{output}".to_string(), output.clone())];
    subs.extend(substitutions.iter().cloned());
    let dir = |stage: &str| join(&output, stage_folder(stage));
    let blocklist = join(&output, wit_contract::layout::BLOCKLIST_FILE);
    let blocklist_exists = std::path::Path::new(&blocklist).is_file();
    let mut steps: Vec<Step> = Vec::new();
    // Index of the last step of each stage planned so far.
    let mut last: Vec<(&str, usize)> = Vec::new();
    let last_of = |last: &Vec<(&str, usize)>, stage: &str| last.iter().find(|(s, _)| *s == stage).map(|(_, i)| *i);
    for (stage, _) in STAGES {
        let Some(table) = config.stage(stage) else { continue };
        let inputs = string_list(table.get("inputs"), &subs).map_err(|e| in_table(stage, "inputs", e))?;
        let flags = flags(stage, table, &subs)?;
        let strict = matches!(table.get("strict"), Some(Value::Boolean(true)));
        let out = dir(stage);
        // The command (before -o) of each step, and the steps the stage's first step waits for.
        let (head, after): (Vec<String>, Vec<usize>) = match stage {
            "queries" => (["queries", "build"].map(String::from).into_iter().chain(inputs).collect(), vec![]),
            "crawl" => (vec!["harvest".into(), "crawl".into()], vec![]),
            "harvest" => {
                let mut head: Vec<String> = std::iter::once("harvest".to_string()).chain(inputs).collect();
                let crawl = last_of(&last, "crawl");
                if crawl.is_some() {
                    head.push(join(&dir("crawl"), "_crawl/pages.warc.gz"));
                }
                (head, crawl.into_iter().collect())
            }
            "curate" => {
                let candidates = if config.stage("harvest").is_some() { "harvest" } else { "crawl" };
                let head =
                    vec!["curate".into(), "--queries".into(), dir("queries"), "--candidates".into(), dir(candidates)];
                (head, ["queries", candidates].iter().filter_map(|s| last_of(&last, s)).collect())
            }
            "fetch" => (vec!["fetch".to_string(), dir("curate")], last_of(&last, "curate").into_iter().collect()),
            "report" => (vec!["report".to_string(), output.clone()], last.iter().map(|(_, i)| *i).collect()),
            _ => unreachable!("STAGES lists every stage"),
        };
        let decls = declared(stage, n, strict);
        let mut after = after;
        for decl in &decls {
            let mut args = head.clone();
            // The queries merge reads the count files, not the dumps.
            if stage == "queries" && decl.phase == Some("merge") {
                args.truncate(2);
            }
            args.extend(["-o".to_string(), out.clone()]);
            args.extend(flags.iter().cloned());
            // A build's takedowns (`wit remove`) stay out of every later run of the stages that
            // could bring them back.
            if blocklist_exists && matches!(stage, "crawl" | "harvest" | "curate" | "fetch") {
                args.extend(["--blocklist".to_string(), blocklist.clone()]);
            }
            let ranks = match decl.width {
                Width::One => 1,
                Width::Ranks | Width::Buckets => n,
            };
            if let Some(phase) = decl.phase {
                args.extend(["--phase".to_string(), phase.to_string()]);
                if ranks == 1 {
                    args.extend(["--world-size".to_string(), n.to_string()]);
                }
            }
            // A stage's own-named rank phase is its `-ranks` step (harvest-ranks, fetch-ranks).
            let name = match decl.phase {
                Some(phase) if decls.len() > 1 && phase == stage => format!("{stage}-ranks"),
                Some(phase) if decls.len() > 1 => format!("{stage}-{phase}"),
                _ => stage.to_string(),
            };
            let done = match &decl.done {
                DoneMark::Manifest(rel) if rel.is_empty() => Done::Manifest(out.clone()),
                DoneMark::Manifest(rel) => Done::Manifest(join(&out, rel)),
                DoneMark::File(rel) => Done::File(join(&out, rel)),
                DoneMark::Marker { file, folder } => {
                    Done::Marker { file: join(&out, file), folder: join(&out, folder) }
                }
            };
            steps.push(Step {
                name,
                stage: stage.to_string(),
                args,
                ranks,
                after: std::mem::take(&mut after),
                done,
                width: decl.width,
                reads: decl.reads,
                what: decl.what.to_string(),
            });
            after = vec![steps.len() - 1];
        }
        if let Some(index) = after.first() {
            last.push((stage, *index));
        }
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
