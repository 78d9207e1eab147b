//! How far a build has got, per step and per rank, read from the manifests and per-rank files the
//! stages write (`wit status DIR`; also what `wit build --slurm` skips on a resubmission).

use std::path::Path;

use serde::Serialize;
use wit_contract::Manifest;

use crate::config::{stage_folder, BuildConfig, STAGES};
use crate::error::{BuildError, Result};
use crate::plan::{plan, Done, Plan, Step};

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

/// Every step of `plan`, rank by rank (local folders only).
pub fn plan_progress(plan: &Plan) -> Result<Vec<StepProgress>> {
    plan.steps.iter().map(step_progress).collect()
}

/// One step's ranks.
pub fn step_progress(step: &Step) -> Result<StepProgress> {
    let ranks = (0..step.ranks).map(|rank| rank_state(&step.done_for(rank))).collect::<Result<_>>()?;
    Ok(StepProgress { step: step.name.clone(), stage: step.stage.clone(), ranks })
}

fn rank_state(done: &Done) -> Result<RankState> {
    Ok(match done {
        Done::File(path) => {
            if Path::new(path).is_file() {
                RankState::Complete { rows: None }
            } else {
                RankState::Missing
            }
        }
        Done::Manifest(dir) => match Manifest::load_if_present(dir)? {
            None => RankState::Missing,
            Some(m) if m.complete => RankState::Complete { rows: Some(m.total_rows()) },
            Some(m) => RankState::Partial { rows: m.total_rows(), shards: m.shards.len() },
        },
    })
}

/// The progress of the build folder `dir` without its configuration: the stages whose folders
/// exist, at the world size their per-rank files name (1 when there are none).
pub fn folder_progress(dir: &Path) -> Result<(Plan, Vec<StepProgress>)> {
    if !dir.is_dir() {
        return Err(BuildError::io(dir, std::io::Error::new(std::io::ErrorKind::NotFound, "not a build folder")));
    }
    let mut table = toml::Table::new();
    table.insert("output".into(), dir.display().to_string().into());
    let world_size = detect_world_size(dir);
    table.insert("world_size".into(), (world_size as i64).into());
    for (stage, folder) in STAGES {
        if dir.join(folder).is_dir() {
            table.insert(stage.into(), toml::Table::new().into());
        }
    }
    let config = BuildConfig::from_table(table)?;
    let plan = plan(&config, &[])?;
    let progress = plan_progress(&plan)?;
    Ok((plan, progress))
}

/// The largest `-of-NNNNN` in the per-rank files and folders of a build folder.
fn detect_world_size(dir: &Path) -> usize {
    let places = [
        (stage_folder("queries"), "counts"),
        (stage_folder("harvest"), "ranks"),
        (stage_folder("curate"), "counts"),
        (stage_folder("fetch"), "ranks"),
    ];
    let mut world_size = 1;
    for (folder, sub) in places {
        let Ok(entries) = std::fs::read_dir(dir.join(folder).join(sub)) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(n) = name.split("-of-").nth(1).and_then(|rest| rest.get(..5)).and_then(|d| d.parse().ok()) {
                world_size = world_size.max(n);
            }
        }
    }
    world_size
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
