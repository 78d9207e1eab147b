//! wit-storage: where a stage's inputs and outputs live — a local path or an object store URL
//! (`s3://`, `gs://`, `az://`; `http(s)://` for inputs), through the `object_store` crate.
//!
//! One door: [`with_storage`] runs a stage's work on local paths. Local paths pass through
//! untouched. A remote input is downloaded into a cache folder first: a file as is; a stage folder
//! as its `_manifest.json` plus the files it lists (and nested stage folders such as `_failures/`;
//! never the per-rank `_ranks/`/`_counts/` working files); a folder without a manifest whole. A
//! remote output is worked on in a local staging folder that is first seeded from the store (so a
//! rerun resumes; [`Seed::Rank`] leaves other ranks' files out), published every
//! `WIT_SYNC_INTERVAL_SECS` (default 30; 0: only at the end) while the work runs, and published
//! once more when it ends (also when it fails, so a crashed rank's committed work is kept).
//!
//! Publishing keeps the stages' atomicity on the store: every file goes up as a hidden temporary
//! object and is renamed to its final name, and each `_manifest.json` — a snapshot taken before the
//! data files were uploaded — goes up after every file it lists. Readers trust only manifests, so a
//! killed upload never leaves a manifest entry pointing at a missing or partial object.
//!
//! Folders: `$WIT_SCRATCH` (default: the system temp folder, then `wit/`) holds `cache/` (one
//! folder per input URL: xxh3 of the URL, then its last segment) and `staging/` (per output URL,
//! one folder per run, removed once published; a killed run's folder is removed by the next run
//! of that output on the same machine). Cache paths depend on the URL only, so every rank
//! and every rerun sees the same input paths; manifests record the URLs, not these paths (each
//! local stand-in is registered with `wit_contract::set_origin`), so `$WIT_SCRATCH` may differ
//! between machines and jobs.
//!
//! Credentials and endpoints come from the usual environment variables of each provider
//! (`object_store`'s `from_env` builders): `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`…; `GOOGLE_SERVICE_ACCOUNT`…; `AZURE_STORAGE_ACCOUNT_NAME`,
//! `AZURE_STORAGE_ACCOUNT_KEY`….

pub mod error;
pub mod folder;
pub mod location;
mod sync;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use error::{Result, StorageError};
pub use folder::StoredFolder;
pub use location::{is_url, Location, Remote};

pub use sync::MANIFEST;
use wit_contract::AtPath;

/// Which of the remote output's files a run needs locally before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seed {
    /// Everything published (merges, and steps that read every rank's files).
    Everything,
    /// Everything except other ranks' per-rank files (`…-RRRRR-of-NNNNN…` names of other ranks).
    Rank { rank: usize, world_size: usize },
    /// Only the JSON files (manifests, completion markers, per-rank stats): the metadata-only steps
    /// that list the ranks' shards in one manifest without reading (or downloading) them.
    Metadata,
}

/// Which inputs a run reads, when it reads only some (harvest's ranks take every N-th input file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputReads {
    /// Every input is read (the default).
    #[default]
    All,
    /// Input i is read when i % world_size == rank, provided every input is a file (with a folder
    /// among them the numbering depends on the folders' contents, so everything is downloaded).
    Slice { rank: usize, world_size: usize },
    /// The inputs are only named (a merge that compares input lists).
    NoneRead,
}

/// The inputs and the output of one stage run, as the user gave them.
#[derive(Debug, Default)]
pub struct StoragePlan {
    inputs: Vec<Option<PathBuf>>,
    output: Option<(PathBuf, Seed)>,
    reads: InputReads,
}

impl StoragePlan {
    pub fn new() -> Self {
        StoragePlan::default()
    }

    /// An input file or folder (local path or URL); `-` (stdin) passes through.
    pub fn input(mut self, path: &Path) -> Self {
        self.inputs.push(Some(path.to_path_buf()));
        self
    }

    /// An input that may be absent (keeps the numbering of [`LocalPaths::input`]).
    pub fn optional_input(mut self, path: Option<&Path>) -> Self {
        self.inputs.push(path.map(Path::to_path_buf));
        self
    }

    /// Which inputs the run reads: the others are not downloaded but stand in the cache as empty
    /// placeholder files (so paths and numbering stay the same; a later run that reads one
    /// downloads it, the sizes differing).
    pub fn reads(mut self, reads: InputReads) -> Self {
        self.reads = reads;
        self
    }

    /// The output folder (local path or URL) and what to seed its staging folder with.
    pub fn output(mut self, path: &Path, seed: Seed) -> Self {
        self.output = Some((path.to_path_buf(), seed));
        self
    }
}

/// The local paths the stage works on, in the plan's order.
#[derive(Debug, Clone)]
pub struct LocalPaths {
    inputs: Vec<Option<PathBuf>>,
    output: Option<PathBuf>,
}

impl LocalPaths {
    /// The i-th input's local path (empty when the plan had none there).
    pub fn input(&self, i: usize) -> PathBuf {
        self.optional_input(i).unwrap_or_default()
    }

    pub fn optional_input(&self, i: usize) -> Option<PathBuf> {
        self.inputs.get(i).cloned().flatten()
    }

    /// The inputs from the i-th on.
    pub fn inputs_from(&self, i: usize) -> Vec<PathBuf> {
        self.inputs.iter().skip(i).flatten().cloned().collect()
    }

    /// The output's local path (the staging folder of a remote output).
    pub fn output(&self) -> PathBuf {
        self.output.clone().unwrap_or_default()
    }
}

/// The scratch root: `$WIT_SCRATCH`, else the system temp folder's `wit/`.
pub fn scratch_root() -> PathBuf {
    std::env::var_os("WIT_SCRATCH").map(PathBuf::from).unwrap_or_else(|| std::env::temp_dir().join("wit"))
}

/// A local folder of the scratch root that belongs to `url`: `scratch/<purpose>/<xxh3 of the
/// URL>/<last segment>` — the same path in every process and every rerun (e.g. the demo web's WAT
/// file of a build whose output is remote).
pub fn scratch_folder(purpose: &str, url: &str) -> PathBuf {
    let (key, last) = url_key(url);
    scratch_root().join(purpose).join(key).join(last)
}

/// The local name parts of a URL: its xxh3 and its last segment.
fn url_key(url: &str) -> (String, String) {
    let key = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(url.as_bytes()));
    let last = url.rsplit('/').next().filter(|s| !s.is_empty() && !s.contains(':')).unwrap_or("root");
    (key, last.to_string())
}

/// Where a remote input is cached: `scratch/cache/<xxh3 of the URL>/<last segment>`.
fn cache_path(remote: &Remote) -> PathBuf {
    scratch_folder("cache", &remote.url)
}

/// This run's staging folder for a remote output:
/// `scratch/staging/<xxh3 of the URL>/<host>-<pid>-<nanos>/<last segment>`.
fn staging_path(remote: &Remote) -> PathBuf {
    let (key, last) = url_key(&remote.url);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let run = format!("{}-{}-{}", host_name(), std::process::id(), now.as_nanos());
    scratch_root().join("staging").join(key).join(run).join(last)
}

/// This machine's name as a folder-name part (`host` when it cannot be read).
fn host_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String = name.trim().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
    if name.is_empty() {
        "host".into()
    } else {
        name
    }
}

/// Removes the staging folders that killed runs on this machine left beside `staging`'s run folder
/// (a SIGKILLed rank never removes its own; its committed work is on the store, and its rerun
/// seeds a fresh folder from there). A folder is stale when it names this host and a process that
/// no longer runs; folders of other hosts (a shared scratch) are never touched. Linux only.
fn remove_stale_staging(staging: &Path) {
    let Some(siblings) = staging.parent().and_then(Path::parent) else { return };
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!("{}-", host_name());
    let Ok(entries) = std::fs::read_dir(siblings) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name.strip_prefix(&prefix).and_then(|rest| rest.split('-').next()) else { continue };
        let stale =
            pid.parse::<u32>().is_ok_and(|pid| pid != std::process::id()) && !Path::new("/proc").join(pid).exists();
        if stale {
            tracing::info!(folder = %entry.path().display(), "removing a killed run's staging folder");
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                tracing::warn!("removing the stale staging folder {}: {e}", entry.path().display());
            }
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().at_path("tokio runtime")?)
}

fn sync_interval() -> Option<Duration> {
    let seconds: f64 = std::env::var("WIT_SYNC_INTERVAL_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(30.0);
    (seconds > 0.0 && seconds.is_finite()).then(|| Duration::from_secs_f64(seconds))
}

/// Whether each input must be downloaded (true) or may be a placeholder: see [`InputReads`].
async fn which_inputs_to_read(locations: &[Option<Location>], reads: InputReads) -> Result<Vec<bool>> {
    let all = vec![true; locations.len()];
    let slice = match reads {
        InputReads::All => return Ok(all),
        InputReads::Slice { rank, world_size } => Some((rank, world_size.max(1))),
        InputReads::NoneRead => None,
    };
    // Only inputs that are files may stand in as placeholders: a folder changes the numbering.
    for location in locations.iter().flatten() {
        let is_file = match location {
            Location::Local(path) => !path.is_dir(),
            Location::Remote(remote) => sync::is_object(remote).await?,
        };
        if !is_file {
            return Ok(all);
        }
    }
    Ok((0..locations.len()).map(|i| slice.is_some_and(|(rank, world)| i % world == rank)).collect())
}

/// Runs `work` on local paths: remote inputs downloaded, a remote output staged, published while
/// `work` runs and after it (see the crate docs). Local paths cost nothing.
pub fn with_storage<T, E>(plan: StoragePlan, work: impl FnOnce(&LocalPaths) -> Result<T, E>) -> Result<T, E>
where
    E: From<StorageError>,
{
    let mut remote_paths = plan.inputs.iter().flatten().chain(plan.output.iter().map(|(path, _)| path));
    if !remote_paths.any(|path| path.to_str().is_some_and(is_url)) {
        let inputs = plan.inputs.clone();
        return work(&LocalPaths { inputs, output: plan.output.map(|(path, _)| path) });
    }
    let rt = runtime()?;
    let mut locations = Vec::new();
    for input in &plan.inputs {
        locations.push(input.as_deref().map(Location::from_path).transpose()?);
    }
    let read = rt.block_on(which_inputs_to_read(&locations, plan.reads))?;
    let mut inputs = Vec::new();
    for (location, read) in locations.into_iter().zip(read) {
        let local = match location {
            None => None,
            Some(Location::Local(local)) => Some(local),
            Some(Location::Remote(remote)) => {
                let local = cache_path(&remote);
                wit_contract::set_origin(&local, &remote.url);
                if read {
                    tracing::info!(url = %remote.url, cache = %local.display(), "downloading input");
                    Some(rt.block_on(sync::fetch_input(&remote, &local))?)
                } else {
                    Some(sync::placeholder(&local)?)
                }
            }
        };
        inputs.push(local);
    }
    let Some((output, seed)) = &plan.output else {
        return work(&LocalPaths { inputs, output: None });
    };
    let remote = match Location::from_path(output)? {
        Location::Local(local) => return work(&LocalPaths { inputs, output: Some(local) }),
        Location::Remote(remote) => remote,
    };
    if remote.read_only {
        return Err(StorageError::BadUrl { url: remote.url, reason: "http(s) locations are read-only".into() }.into());
    }
    // Each process stages on its own (ranks on one machine must not see each other's files); a
    // rerun re-seeds from the store, which is what makes it resume.
    let staging = staging_path(&remote);
    remove_stale_staging(&staging);
    wit_contract::set_origin(&staging, &remote.url);
    tracing::info!(url = %remote.url, staging = %staging.display(), "seeding the staging folder");
    let known = rt.block_on(sync::seed_output(&remote, &staging, seed))?;
    let known = Arc::new(Mutex::new(known));
    let (stop, stopped) = mpsc::channel::<()>();
    let periodic = sync_interval().map(|interval| {
        let (remote, staging, known) = (remote.clone(), staging.clone(), known.clone());
        std::thread::spawn(move || {
            let Ok(rt) = runtime() else { return };
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                let Ok(mut known) = known.lock() else { return };
                match rt.block_on(sync::publish(&remote, &staging, &mut known)) {
                    Ok(n) if n > 0 => tracing::info!(url = %remote.url, files = n, "published"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("publishing {}: {e}", remote.url),
                }
            }
        })
    });
    let outcome = work(&LocalPaths { inputs, output: Some(staging.clone()) });
    drop(stop);
    if let Some(thread) = periodic {
        let _ = thread.join();
    }
    let mut known = known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let published = rt.block_on(sync::publish(&remote, &staging, &mut known));
    if published.is_ok() {
        // Everything committed is on the store now; the staging folder has done its work.
        let run_folder = staging.parent().unwrap_or(&staging);
        if let Err(e) = std::fs::remove_dir_all(run_folder) {
            tracing::warn!("removing the staging folder {}: {e}", run_folder.display());
        }
    }
    match (outcome, published) {
        (Ok(value), Ok(n)) => {
            tracing::info!(url = %remote.url, files = n, "published");
            Ok(value)
        }
        (Ok(_), Err(e)) => Err(e.into()),
        (Err(e), Ok(_)) => Err(e),
        (Err(e), Err(publish_error)) => {
            tracing::warn!("publishing {} after a failed run: {publish_error}", remote.url);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_hosts_dead_runs_lose_their_staging_folders() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("staging/0123456789abcdef");
        let host = host_name();
        let me = std::process::id();
        let names = [
            format!("{host}-999999999-1"),  // no such process: a killed run
            format!("{host}-{me}-2"),       // this process
            format!("{host}-1-3"),          // pid 1 runs
            "otherhost-999999999-4".into(), // another machine's (shared scratch): never touched
        ];
        for name in &names {
            std::fs::create_dir_all(key.join(name).join("corpus")).unwrap();
        }
        remove_stale_staging(&key.join(format!("{host}-{me}-5")).join("corpus"));
        let left: Vec<bool> = names.iter().map(|name| key.join(name).exists()).collect();
        assert_eq!(left, [false, true, true, true]);
    }
}
