//! How far a build has got, per step and per rank, read from the manifests and per-rank files the
//! stages write (`wit status DIR`; also what `wit build --slurm` skips on a resubmission) — where
//! they lie, local or in an object store (through wit-storage's [`StoredFolder`]).

use serde::Serialize;
use wit_contract::Manifest;
use wit_storage::{StoredFolder, MANIFEST};

use crate::config::{join, stage_folder, BuildConfig, STAGES};
use crate::error::Result;
use crate::plan::{plan, Done, Plan, Step};
use wit_contract::PathError;

/// The state of one rank of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum RankState {
    Complete {
        rows: Option<u64>,
    },
    /// A manifest without `complete`: the shards committed so far.
    Partial {
        rows: u64,
        shards: usize,
    },
    Missing,
}

impl RankState {
    pub fn is_complete(&self) -> bool {
        matches!(self, RankState::Complete { .. })
    }
}

/// One step's ranks.
#[derive(Debug, Clone, Serialize)]
pub struct StepProgress {
    pub step: String,
    pub stage: String,
    pub ranks: Vec<RankState>,
}

impl StepProgress {
    pub fn complete(&self) -> usize {
        self.ranks.iter().filter(|r| r.is_complete()).count()
    }
}

/// Every step of `plan`, rank by rank, read where the build lies (a local folder or a URL).
pub fn plan_progress(plan: &Plan) -> Result<Vec<StepProgress>> {
    let folder = StoredFolder::open(&plan.output)?;
    plan.steps.iter().map(|step| step_progress(&folder, &plan.output, step)).collect()
}

/// One step's ranks; `folder` is the build's output root `output`.
fn step_progress(folder: &StoredFolder, output: &str, step: &Step) -> Result<StepProgress> {
    let ranks = (0..step.ranks).map(|rank| rank_state(folder, output, &step.done_for(rank))).collect::<Result<_>>()?;
    Ok(StepProgress { step: step.name.clone(), stage: step.stage.clone(), ranks })
}

/// `path` (a plan path under `output`) relative to `output`.
fn under<'a>(output: &str, path: &'a str) -> &'a str {
    let root = output.trim_end_matches('/');
    path.strip_prefix(root).map(|rest| rest.trim_start_matches('/')).unwrap_or(path)
}

fn rank_state(folder: &StoredFolder, output: &str, done: &Done) -> Result<RankState> {
    Ok(match done {
        Done::File(path) => match folder.is_file(under(output, path))? {
            true => RankState::Complete { rows: None },
            false => RankState::Missing,
        },
        Done::Manifest(dir) => match read_manifest(folder, output, dir)? {
            None => RankState::Missing,
            Some(m) if m.complete => RankState::Complete { rows: Some(m.total_rows()) },
            Some(m) => RankState::Partial { rows: m.total_rows(), shards: m.shards.len() },
        },
        Done::Marker { file, folder: dir } => match folder.is_file(under(output, file))? {
            true => match read_manifest(folder, output, dir)? {
                Some(m) => RankState::Complete { rows: Some(m.total_rows()) },
                None => RankState::Complete { rows: None },
            },
            // Not done until the marker is there, however far its folder got.
            false => match read_manifest(folder, output, dir)? {
                None => RankState::Missing,
                Some(m) => RankState::Partial { rows: m.total_rows(), shards: m.shards.len() },
            },
        },
    })
}

/// The manifest of the folder `dir` (a plan path under `output`), if there is one.
fn read_manifest(folder: &StoredFolder, output: &str, dir: &str) -> Result<Option<Manifest>> {
    let relative = format!("{}/{MANIFEST}", under(output, dir)).trim_start_matches('/').to_string();
    match folder.read(&relative)? {
        None => Ok(None),
        Some(bytes) => Ok(Some(Manifest::from_json(&bytes, join(output, &relative))?)),
    }
}

/// The progress of the build folder `dir` (a path or URL) without its configuration: the stages
/// whose folders exist, at the world size their per-rank files name (1 when there are none).
pub fn folder_progress(dir: &str) -> Result<(Plan, Vec<StepProgress>)> {
    let folder = StoredFolder::open(dir)?;
    let top = folder.list("")?;
    if top.is_empty() {
        let problem = std::io::Error::new(std::io::ErrorKind::NotFound, "not a build folder (nothing there)");
        return Err(PathError::io(dir, problem).into());
    }
    let mut table = toml::Table::new();
    table.insert("output".into(), dir.trim_end_matches('/').to_string().into());
    let world_size = detect_world_size(&folder)?;
    table.insert("world_size".into(), (world_size as i64).into());
    for (stage, stage_dir) in STAGES {
        if top.iter().any(|name| name == stage_dir) {
            table.insert(stage.into(), toml::Table::new().into());
        }
    }
    let config = BuildConfig::from_table(table)?;
    let plan = plan(&config, &[])?;
    let progress = plan.steps.iter().map(|step| step_progress(&folder, &plan.output, step)).collect::<Result<_>>()?;
    Ok((plan, progress))
}

/// The largest `-of-NNNNN` in the per-rank files and folders of a build folder.
fn detect_world_size(folder: &StoredFolder) -> Result<usize> {
    let places = [
        (stage_folder("queries"), "_counts"),
        (stage_folder("harvest"), "_ranks"),
        (stage_folder("curate"), "_counts"),
        (stage_folder("fetch"), "_ranks"),
    ];
    let mut world_size = 1;
    for (stage_dir, sub) in places {
        for name in folder.list(&format!("{stage_dir}/{sub}"))? {
            if let Some(n) = name.split("-of-").nth(1).and_then(|rest| rest.get(..5)).and_then(|d| d.parse().ok()) {
                world_size = world_size.max(n);
            }
        }
    }
    Ok(world_size)
}

/// A table for the terminal: STEP, RANK, STATE, ROWS.
pub fn render(progress: &[StepProgress]) -> String {
    let mut out = String::from("step             rank      state      rows\n");
    for step in progress {
        let n = step.ranks.len();
        for (rank, state) in step.ranks.iter().enumerate() {
            let rank = if n == 1 { "-".to_string() } else { format!("{rank}/{n}") };
            let (label, rows) = match state {
                RankState::Complete { rows } => ("complete", rows.map(|r| r.to_string()).unwrap_or_default()),
                RankState::Partial { rows, shards } => ("partial", format!("{rows} ({shards} shards so far)")),
                RankState::Missing => ("missing", String::new()),
            };
            out.push_str(format!("{:<16} {:<9} {:<10} {}", step.step, rank, label, rows).trim_end());
            out.push('\n');
        }
    }
    let done = progress.iter().filter(|s| s.complete() == s.ranks.len()).count();
    out.push_str(&format!("{done}/{} steps complete\n", progress.len()));
    out
}
