//! The Slurm executor: one sbatch script per step in [`script_dir`] (OUTPUT/slurm), array
//! steps as `--array=0-(N-1)` with the rank from `SLURM_ARRAY_TASK_ID`, chained with
//! `--dependency=afterok:JOBID` (`--kill-on-invalid-dep=yes`: a failed rank cancels what follows).
//! A resubmission submits only what is incomplete: the missing ranks of a step, and every step
//! after one that is submitted; it is refused while the last submission's jobs (`jobs.txt` beside
//! the scripts) are still in the queue.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::config::{join, SlurmOptions};
use crate::error::{BuildError, Result};
use crate::plan::{rank_suffix, Plan, Step};
use crate::progress::{plan_progress, StepProgress};
use wit_contract::AtPath;

/// How to submit a plan.
#[derive(Debug, Clone)]
pub struct SlurmSubmit {
    /// The `wit` binary the jobs run (absolute: jobs start in another process tree).
    pub wit: PathBuf,
    /// The folder jobs `cd` into (relative paths of the configuration are relative to it).
    pub workdir: PathBuf,
    pub options: SlurmOptions,
    /// Write and print the scripts, submit nothing.
    pub dry_run: bool,
}

/// One step's submission.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub step: String,
    pub script: PathBuf,
    /// Job id (None: skipped because complete, or a dry run).
    pub job_id: Option<String>,
    /// The ranks submitted (empty: skipped).
    pub ranks: Vec<usize>,
    /// The sbatch command line.
    pub command: Vec<String>,
}

/// The folder scripts and logs go to: `[slurm] dir`; else OUTPUT/slurm for a local OUTPUT, and
/// `wit-slurm/<OUTPUT's URL as a name>` in the submitting folder for an object-store OUTPUT (Slurm
/// writes logs to a filesystem, and jobs `cd` there: it must be shared with the compute nodes).
pub fn script_dir(plan: &Plan, submit: &SlurmSubmit) -> PathBuf {
    if let Some(dir) = &submit.options.dir {
        return PathBuf::from(dir);
    }
    if wit_storage::is_url(&plan.output) {
        let name: String =
            plan.output.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).collect();
        let name = name.split('-').filter(|part| !part.is_empty()).collect::<Vec<_>>().join("-");
        return submit.workdir.join("wit-slurm").join(name);
    }
    PathBuf::from(join(&plan.output, "slurm"))
}

fn quote(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c)) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The sbatch script of step `index` of `plan`.
pub fn render_script(plan: &Plan, index: usize, submit: &SlurmSubmit) -> String {
    let step = &plan.steps[index];
    let logs = script_dir(plan, submit).join("logs");
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!(
        "# wit build step {}/{}: {} ({}), written by `wit build --slurm`\n",
        index + 1,
        plan.steps.len(),
        step.name,
        if step.is_array() { format!("{} ranks", step.ranks) } else { "one process".to_string() }
    ));
    s.push_str(&format!("#SBATCH --job-name=wit-{}\n", step.name));
    let options = &submit.options;
    if step.is_array() {
        s.push_str(&format!("#SBATCH --array=0-{}\n", step.ranks - 1));
        s.push_str(&format!("#SBATCH --output={}\n", logs.join(format!("{}-%A_%a.log", step.name)).display()));
    } else {
        s.push_str(&format!("#SBATCH --output={}\n", logs.join(format!("{}-%j.log", step.name)).display()));
    }
    for (flag, value) in [
        ("partition", &options.partition),
        ("time", &options.time),
        ("mem", &options.mem),
        ("account", &options.account),
    ] {
        if let Some(value) = value {
            s.push_str(&format!("#SBATCH --{flag}={value}\n"));
        }
    }
    if let Some(cpus) = options.cpus_per_task {
        s.push_str(&format!("#SBATCH --cpus-per-task={cpus}\n"));
    }
    for extra in &options.extra_args {
        s.push_str(&format!("#SBATCH {extra}\n"));
    }
    s.push_str("set -euo pipefail\n");
    s.push_str(&format!("cd {}\n", quote(&submit.workdir.display().to_string())));
    let mut line = vec![quote(&submit.wit.display().to_string())];
    if step.is_array() {
        s.push_str("RANK=\"$SLURM_ARRAY_TASK_ID\"\n");
        if step.args.iter().any(|a| a.contains("{rank}")) {
            s.push_str(&format!("RANK_SUFFIX=$(printf '%05d-of-%05d' \"$RANK\" {})\n", step.ranks));
        }
        for arg in &step.args {
            // `{rank}` inside an argument: the rank's folder or file suffix.
            let parts: Vec<String> = arg.split("{rank}").map(quote).collect();
            line.push(parts.join("\"$RANK_SUFFIX\""));
        }
        line.extend(["--rank".into(), "\"$RANK\"".into(), "--world-size".into(), step.ranks.to_string()]);
    } else {
        line.extend(step.argv(0).iter().map(|a| quote(a)));
    }
    s.push_str(&format!("exec {}\n", line.join(" ")));
    s
}

/// Writes every step's script and submits the incomplete steps in order, each depending on the
/// job ids of the submitted steps it comes after. Returns one entry per step.
pub fn submit(plan: &Plan, submit: &SlurmSubmit) -> Result<Vec<Submitted>> {
    let dir = script_dir(plan, submit);
    std::fs::create_dir_all(dir.join("logs")).at_path(&dir)?;
    let jobs_file = dir.join(JOBS_FILE);
    if !submit.dry_run {
        refuse_while_queued(&jobs_file)?;
    }
    let progress = if submit.dry_run { None } else { Some(plan_progress(plan)?) };
    let mut results: Vec<Submitted> = Vec::new();
    for (index, step) in plan.steps.iter().enumerate() {
        let script = dir.join(format!("{:02}-{}.sbatch", index + 1, step.name));
        let text = render_script(plan, index, submit);
        std::fs::write(&script, &text).at_path(&script)?;
        let upstream: Vec<&Submitted> = step.after.iter().map(|&i| &results[i]).collect();
        let upstream_runs = upstream.iter().any(|u| !u.ranks.is_empty());
        let ranks: Vec<usize> = match &progress {
            Some(progress) if !upstream_runs => incomplete_ranks(&progress[index]),
            _ => (0..step.ranks).collect(),
        };
        let mut command = vec!["sbatch".to_string(), "--parsable".to_string()];
        let deps: Vec<String> = upstream.iter().filter_map(|u| u.job_id.clone()).collect();
        if submit.dry_run {
            let names: Vec<String> =
                upstream.iter().filter(|u| !u.ranks.is_empty()).map(|u| format!("<{}>", u.step)).collect();
            if !names.is_empty() {
                command.push(format!("--dependency=afterok:{}", names.join(":")));
            }
        } else if !deps.is_empty() {
            command.push(format!("--dependency=afterok:{}", deps.join(":")));
        }
        if !upstream.is_empty() {
            command.push("--kill-on-invalid-dep=yes".into());
        }
        if step.is_array() && !ranks.is_empty() && ranks.len() < step.ranks {
            let list: Vec<String> = ranks.iter().map(|r| r.to_string()).collect();
            command.push(format!("--array={}", list.join(",")));
        }
        command.push(script.display().to_string());
        let job_id = if submit.dry_run || ranks.is_empty() { None } else { Some(sbatch(&command)?) };
        results.push(Submitted { step: step.name.clone(), script, job_id, ranks, command });
    }
    if !submit.dry_run {
        let lines: String =
            results.iter().filter_map(|r| r.job_id.as_ref().map(|id| format!("{id} {}\n", r.step))).collect();
        std::fs::write(&jobs_file, lines).at_path(&jobs_file)?;
    }
    Ok(results)
}

/// The job ids of the last submission, one `JOBID STEP` per line, in the scripts folder.
const JOBS_FILE: &str = "jobs.txt";

/// A resubmission while the last submission's jobs are still queued or running would run ranks
/// twice at once (both writing the same rank folders): refused, naming the jobs.
fn refuse_while_queued(jobs_file: &std::path::Path) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(jobs_file) else { return Ok(()) };
    let ours: Vec<&str> = text.lines().filter_map(|line| line.split_whitespace().next()).collect();
    if ours.is_empty() {
        return Ok(());
    }
    let queued = queued_job_ids()?;
    let still: Vec<&str> = ours.into_iter().filter(|id| queued.iter().any(|q| q == id)).collect();
    if still.is_empty() {
        return Ok(());
    }
    Err(BuildError::Slurm {
        command: "sbatch".into(),
        problem: format!(
            "jobs {} of this build's last submission (listed in {}) are still in the queue; wait for them \
             (`wit build --slurm --wait` or `squeue`) or cancel them (`scancel {}`), then rerun",
            still.join(", "),
            jobs_file.display(),
            still.join(" ")
        ),
    })
}

/// The ids of every job in the queue (pending, running or completing; array jobs by their id).
fn queued_job_ids() -> Result<Vec<String>> {
    let command = "squeue -h -o %F";
    let output = Command::new("squeue")
        .args(["-h", "-o", "%F"])
        .output()
        .map_err(|e| BuildError::Slurm { command: command.into(), problem: e.to_string() })?;
    if !output.status.success() {
        return Err(BuildError::Slurm {
            command: command.into(),
            problem: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).lines().map(|line| line.trim().to_string()).collect())
}

fn incomplete_ranks(progress: &StepProgress) -> Vec<usize> {
    progress.ranks.iter().enumerate().filter(|(_, r)| !r.is_complete()).map(|(i, _)| i).collect()
}

fn sbatch(command: &[String]) -> Result<String> {
    let output = Command::new(&command[0]).args(&command[1..]).output().map_err(|e| BuildError::Slurm {
        command: command.join(" "),
        problem: format!("{e} (is Slurm installed and SLURM_CONF set?)"),
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(BuildError::Slurm {
            command: command.join(" "),
            problem: format!("{}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim()),
        });
    }
    // `--parsable` prints `JOBID` or `JOBID;CLUSTER`.
    let id = stdout.trim().split(';').next().unwrap_or_default().to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(BuildError::Slurm { command: command.join(" "), problem: format!("unexpected output {stdout:?}") });
    }
    Ok(id)
}

/// Waits until none of `job_ids` is in `squeue` any more (pending, running or completing).
pub fn wait_for(job_ids: &[String], poll: Duration) -> Result<()> {
    loop {
        let queued = queued_job_ids()?;
        if !queued.iter().any(|line| job_ids.contains(line)) {
            return Ok(());
        }
        std::thread::sleep(poll);
    }
}

/// The log of rank `rank` of a submitted step (`%A_%a` / `%j`).
pub fn log_path(plan: &Plan, submit: &SlurmSubmit, step: &Step, job_id: &str, rank: usize) -> PathBuf {
    let logs = script_dir(plan, submit).join("logs");
    if step.is_array() {
        logs.join(format!("{}-{job_id}_{rank}.log", step.name))
    } else {
        logs.join(format!("{}-{job_id}.log", step.name))
    }
}

/// `rank-RRRRR-of-NNNNN` for messages.
pub fn rank_label(step: &Step, rank: usize) -> String {
    if step.is_array() {
        format!("rank {}", rank_suffix(rank, step.ranks))
    } else {
        "one process".into()
    }
}
