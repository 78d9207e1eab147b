//! The build's TOML file: `output`, `world_size`, one table per stage (that stage's command-line
//! flags), `[demo_web]` (started by the binary) and `[slurm]` (sbatch options).

use std::path::Path;

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
    /// The output root: a folder path, or (later) an object-store URL; joined with `/`.
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

/// sbatch options from the `[slurm]` table; each one becomes an `#SBATCH` line of every script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    /// `--time` (e.g. `4:00:00`).
    pub time: Option<String>,
    pub cpus_per_task: Option<u64>,
    /// `--mem` (e.g. `8G`).
    pub mem: Option<String>,
    pub account: Option<String>,
    /// More sbatch options, verbatim (e.g. `--qos=low`).
    pub extra_args: Vec<String>,
    /// Where the scripts and logs go (default OUTPUT/slurm; must be a shared folder).
    pub dir: Option<String>,
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

    /// Checks a parsed TOML table.
    pub fn from_table(mut table: Table) -> Result<BuildConfig> {
        let output = match table.remove("output") {
            Some(Value::String(s)) if !s.is_empty() => s,
            Some(other) => return Err(BuildError::table("output", format!("must be a folder path, not {other}"))),
            None => return Err(BuildError::table("output", "`output = \"FOLDER\"` is missing")),
        };
        let world_size = match table.remove("world_size") {
            None => 1,
            Some(Value::Integer(n)) if n >= 1 => n as usize,
            Some(other) => return Err(BuildError::table("world_size", format!("must be a number ≥ 1, not {other}"))),
        };
        let demo_web = match table.remove("demo_web") {
            None => None,
            Some(Value::Table(t)) => Some(t),
            Some(_) => return Err(BuildError::table("[demo_web]", "must be a table")),
        };
        let slurm = match table.remove("slurm") {
            None => SlurmOptions::default(),
            Some(Value::Table(t)) => slurm_options(&t)?,
            Some(_) => return Err(BuildError::table("[slurm]", "must be a table")),
        };
        for (key, value) in &table {
            if !STAGES.iter().any(|(stage, _)| stage == key) {
                return Err(BuildError::table(
                    key.as_str(),
                    "unknown table or key (stages: queries, harvest, crawl, curate, fetch, report; also output, \
                     world_size, [demo_web], [slurm])",
                ));
            }
            if !value.is_table() {
                return Err(BuildError::table(format!("[{key}]"), "must be a table"));
            }
        }
        Ok(BuildConfig { output, world_size, stages: table, demo_web, slurm })
    }

    /// A stage's table, if configured.
    pub fn stage(&self, stage: &str) -> Option<&Table> {
        self.stages.get(stage).and_then(Value::as_table)
    }
}

fn slurm_options(table: &Table) -> Result<SlurmOptions> {
    let mut options = SlurmOptions::default();
    for (key, value) in table {
        let text = || {
            value
                .as_str()
                .map(str::to_string)
                .or_else(|| value.as_integer().map(|n| n.to_string()))
                .ok_or_else(|| BuildError::table(format!("[slurm] {key}"), "must be a string"))
        };
        match key.as_str() {
            "partition" => options.partition = Some(text()?),
            "time" => options.time = Some(text()?),
            "mem" => options.mem = Some(text()?),
            "account" => options.account = Some(text()?),
            "dir" => options.dir = Some(text()?),
            "cpus_per_task" => {
                options.cpus_per_task = Some(
                    value
                        .as_integer()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| BuildError::table("[slurm] cpus_per_task", "must be a number ≥ 1"))?
                        as u64,
                )
            }
            "extra_args" => {
                let items = value
                    .as_array()
                    .ok_or_else(|| BuildError::table("[slurm] extra_args", "must be a list of strings"))?;
                for item in items {
                    let arg = item
                        .as_str()
                        .ok_or_else(|| BuildError::table("[slurm] extra_args", "must be a list of strings"))?;
                    options.extra_args.push(arg.to_string());
                }
            }
            other => {
                return Err(BuildError::table(
                    format!("[slurm] {other}"),
                    "unknown key (partition, time, cpus_per_task, mem, account, extra_args, dir)",
                ))
            }
        }
    }
    Ok(options)
}

/// `root/child` for a folder path or a URL.
pub fn join(root: &str, child: &str) -> String {
    format!("{}/{}", root.trim_end_matches('/'), child)
}
