//! The build's TOML file: `output`, `world_size`, one table per stage (that stage's command-line
//! flags), `[demo_web]` (started by the binary) and `[slurm]` (sbatch options).

use std::num::{NonZeroU64, NonZeroUsize};
use std::path::Path;

use serde::Deserialize;
use toml::{Table, Value};

use crate::error::{BuildError, Result};

/// The stages a build runs, in order, with the folder each writes under OUTPUT.
pub const STAGES: [(&str, &str); 6] = [
    ("queries", "queries"),
    ("crawl", "crawl"),
    ("harvest", "candidates"),
    ("curate", "curated"),
    ("fetch", "corpus"),
    ("report", "report"),
];

/// The folder (under OUTPUT) that `stage` writes.
pub fn stage_folder(stage: &str) -> &str {
    STAGES.iter().find(|(s, _)| *s == stage).map(|(_, folder)| *folder).unwrap_or(stage)
}

/// A parsed build configuration.
#[derive(Debug, Clone)]
pub struct BuildConfig {
    /// The output root: a folder path or an object-store URL; joined with `/`.
    pub output: String,
    /// Ranks per parallel stage (1: every stage in one process, as `wit build` always did).
    pub world_size: usize,
    /// The stage tables, by stage name (only the configured ones).
    pub stages: Table,
    /// `[demo_web]`, for the binary to start.
    pub demo_web: Option<Table>,
    /// `[slurm]`.
    pub slurm: SlurmOptions,
}

/// The file as written: every key known, each with its type; a stage's table holds that stage's
/// flags, checked when the plan turns them into arguments.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildFile {
    output: NonEmpty,
    #[serde(default = "one")]
    world_size: NonZeroUsize,
    demo_web: Option<Table>,
    #[serde(default)]
    slurm: SlurmOptions,
    queries: Option<Table>,
    crawl: Option<Table>,
    harvest: Option<Table>,
    curate: Option<Table>,
    fetch: Option<Table>,
    report: Option<Table>,
}

fn one() -> NonZeroUsize {
    NonZeroUsize::MIN
}

/// A string that must not be empty.
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct NonEmpty(String);

impl TryFrom<String> for NonEmpty {
    type Error = &'static str;
    fn try_from(s: String) -> std::result::Result<Self, Self::Error> {
        if s.is_empty() {
            Err("must not be empty")
        } else {
            Ok(NonEmpty(s))
        }
    }
}

/// sbatch options from the `[slurm]` table; each one becomes an `#SBATCH` line of every script.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmOptions {
    #[serde(default, deserialize_with = "text")]
    pub partition: Option<String>,
    /// `--time` (e.g. `4:00:00`).
    #[serde(default, deserialize_with = "text")]
    pub time: Option<String>,
    pub cpus_per_task: Option<NonZeroU64>,
    /// `--mem` (e.g. `8G`).
    #[serde(default, deserialize_with = "text")]
    pub mem: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub account: Option<String>,
    /// More sbatch options, verbatim (e.g. `--qos=low`).
    #[serde(default)]
    pub extra_args: Vec<String>,
    /// Where the scripts and logs go (default OUTPUT/slurm; must be a shared folder).
    #[serde(default, deserialize_with = "text")]
    pub dir: Option<String>,
}

/// A string option that may be written as a number (`time = 60`, `mem = 8000`).
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "expected a string")]
    enum Text {
        String(String),
        Number(i64),
    }
    Ok(Some(match Text::deserialize(d)? {
        Text::String(s) => s,
        Text::Number(n) => n.to_string(),
    }))
}

impl BuildConfig {
    /// Reads and checks a build's TOML file.
    pub fn load(path: &Path) -> Result<BuildConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BuildError::Config { path: path.to_path_buf(), problem: format!("reading: {e}") })?;
        let table: Table = text
            .parse()
            .map_err(|e| BuildError::Config { path: path.to_path_buf(), problem: format!("parsing as TOML: {e}") })?;
        BuildConfig::from_table(table)
            .map_err(|e| BuildError::Config { path: path.to_path_buf(), problem: e.to_string() })
    }

    /// Checks a parsed TOML table; an error names the table and key (`[slurm] cpus_per_task: …`).
    pub fn from_table(table: Table) -> Result<BuildConfig> {
        let file: BuildFile = serde_path_to_error::deserialize(Value::Table(table)).map_err(|e| {
            let place = place_of(e.path());
            BuildError::table(place, e.into_inner().message().trim())
        })?;
        let mut stages = Table::new();
        let tables = [file.queries, file.crawl, file.harvest, file.curate, file.fetch, file.report];
        for ((name, _), table) in STAGES.iter().zip(tables) {
            if let Some(table) = table {
                stages.insert(name.to_string(), Value::Table(table));
            }
        }
        Ok(BuildConfig {
            output: file.output.0,
            world_size: file.world_size.get(),
            stages,
            demo_web: file.demo_web,
            slurm: file.slurm,
        })
    }

    /// A stage's table, if configured.
    pub fn stage(&self, stage: &str) -> Option<&Table> {
        self.stages.get(stage).and_then(Value::as_table)
    }
}

/// `slurm.cpus_per_task` as the file's reader sees it: `[slurm] cpus_per_task`; a top-level key as is.
fn place_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut table = None;
    let mut key = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => key.push_str(&format!("[{index}]")),
            Segment::Map { key: name } if table.is_none() && key.is_empty() => table = Some(name.clone()),
            other => {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(&other.to_string());
            }
        }
    }
    match (table, key.is_empty()) {
        (None, _) => "the file".to_string(),
        (Some(top), true) => top,
        (Some(table), false) => format!("[{table}] {key}"),
    }
}

/// `root/child` for a folder path or a URL.
pub fn join(root: &str, child: &str) -> String {
    format!("{}/{}", root.trim_end_matches('/'), child)
}
