//! Moving files between a local folder and an object store: seeding a staging folder, publishing
//! it (data first, manifests last, each through a temporary object), and downloading inputs.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use futures_util::{StreamExt, TryStreamExt};
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;

use crate::error::{Result, StorageError};
use crate::location::Remote;
use crate::Seed;
use wit_contract::{AtPath, PathError};

/// The file every stage folder's readers trust; published after the files it lists.
pub const MANIFEST: &str = wit_contract::MANIFEST_FILE;
/// Marks the temporary objects of an upload (hidden names: readers and seeding skip them).
const UPLOAD_MARK: &str = ".wit-upload-";
/// Temporary objects older than this are left-overs of a killed upload and deleted when seen.
const STALE_UPLOAD: Duration = Duration::from_secs(3600);
/// Subfolders of a stage folder that hold per-rank working files, not the published output.
const RANK_FOLDERS: [&str; 2] = [wit_contract::layout::RANKS_DIR, "_counts"];
/// Transfers in flight at once.
const PARALLEL: usize = 8;

/// Files known to equal their remote object: relative path → (length, modification time).
pub type Known = HashMap<String, (u64, SystemTime)>;

static UPLOADS: AtomicU64 = AtomicU64::new(0);

/// Hidden names (temporary files and objects) are never published nor seeded.
fn hidden(relative: &str) -> bool {
    relative.split('/').any(|part| part.starts_with('.'))
}

/// Scratch a stage keeps inside its output folder and removes itself (queries' `spill-…/` runs,
/// the external sorts' `_spill/`).
fn scratch_only(relative: &str) -> bool {
    relative
        .split('/')
        .next()
        .is_some_and(|first| (first.starts_with("spill-") || first == "_spill") && relative.contains('/'))
}

fn stamp(path: &Path) -> Result<(u64, SystemTime)> {
    let meta = fs::metadata(path).at_path(path)?;
    Ok((meta.len(), meta.modified().at_path(path)?))
}

/// Every non-hidden file under `root`, as (`/`-separated relative path, path).
fn local_files(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(PathError::io(&dir, e).into()),
        };
        for entry in entries {
            let entry = entry.at_path(&dir)?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let kind = entry.file_type().at_path(&path)?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let relative = path.strip_prefix(root).unwrap_or(&path);
                let parts: Vec<String> =
                    relative.components().map(|c| c.as_os_str().to_string_lossy().into()).collect();
                out.push((parts.join("/"), path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Streams one object into `local` (a hidden temporary file, renamed when whole).
async fn download(remote: &Remote, location: &ObjectPath, local: &Path) -> Result<()> {
    let url = format!("{}#{}", remote.url, location);
    let parent = local.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).at_path(parent)?;
    let name = local.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let temp = parent.join(format!(".{name}.download-{}.tmp", std::process::id()));
    let result = remote.store.get(location).await.map_err(|e| StorageError::store(&url, e))?;
    let mut file = tokio::fs::File::create(&temp).await.at_path(&temp)?;
    let mut stream = result.into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| StorageError::store(&url, e))?;
        file.write_all(&chunk).await.at_path(&temp)?;
    }
    file.flush().await.at_path(&temp)?;
    drop(file);
    Ok(fs::rename(&temp, local).at_path(local)?)
}

/// Uploads `local` (or `bytes`, a snapshot of it) to `relative`: first as a hidden temporary
/// object, then renamed to the final name, so the final name only ever holds a whole file.
async fn upload(remote: &Remote, relative: &str, local: &Path, bytes: Option<&[u8]>) -> Result<()> {
    let url = remote.url_of(relative);
    let (parent, name) = relative.rsplit_once('/').map_or(("", relative), |(p, n)| (p, n));
    let n = UPLOADS.fetch_add(1, Ordering::Relaxed);
    let temp_relative = format!("{parent}/.{name}{UPLOAD_MARK}{}-{n}", std::process::id());
    let temp = remote.child(&temp_relative);
    let mut writer = BufWriter::new(remote.store.clone(), temp.clone());
    match bytes {
        Some(bytes) => writer.write_all(bytes).await.at_path(local)?,
        None => {
            let mut file = tokio::fs::File::open(local).await.at_path(local)?;
            tokio::io::copy(&mut file, &mut writer).await.at_path(local)?;
        }
    }
    writer.shutdown().await.at_path(local)?;
    remote.store.rename(&temp, &remote.child(relative)).await.map_err(|e| StorageError::store(&url, e))
}

/// True when `relative` belongs to another rank (a path part ending `-of-NNNNN` of another rank).
fn other_ranks(relative: &str, seed: &Seed) -> bool {
    let Seed::Rank { rank, world_size } = seed else { return false };
    let of = format!("-of-{world_size:05}");
    let mine = format!("{rank:05}{of}");
    relative.split('/').any(|part| part.contains(&of) && !part.contains(&mine))
}

/// Fills the staging folder `local` from the remote output folder: every published object (the
/// other ranks' files left out for [`Seed::Rank`]) that is missing locally or of another size;
/// manifests always. Returns what is now known to match the store.
pub async fn seed_output(remote: &Remote, local: &Path, seed: &Seed) -> Result<Known> {
    let mut known = Known::new();
    let listed: Vec<_> =
        remote.store.list(Some(&remote.prefix)).try_collect().await.map_err(|e| StorageError::store(&remote.url, e))?;
    let mut wanted = Vec::new();
    for meta in listed {
        let Some(relative) = remote.relative(&meta.location) else { continue };
        if hidden(&relative) {
            let age = SystemTime::now().duration_since(SystemTime::from(meta.last_modified)).unwrap_or_default();
            if relative.contains(UPLOAD_MARK) && age > STALE_UPLOAD {
                let _ = remote.store.delete(&meta.location).await;
            }
            continue;
        }
        if relative.is_empty() || other_ranks(&relative, seed) {
            continue;
        }
        if *seed == Seed::Metadata && !relative.ends_with(".json") {
            continue;
        }
        let path = local.join(&relative);
        let same_size = fs::metadata(&path).map(|m| m.len() == meta.size).unwrap_or(false);
        let is_manifest = relative.rsplit('/').next() == Some(MANIFEST);
        if same_size && !is_manifest {
            known.insert(relative, stamp(&path)?);
        } else {
            wanted.push((relative, meta.location, path));
        }
    }
    let fetched: Vec<(String, (u64, SystemTime))> = futures_util::stream::iter(wanted)
        .map(|(relative, location, path)| async move {
            download(remote, &location, &path).await?;
            Ok::<_, StorageError>((relative, stamp(&path)?))
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    known.extend(fetched);
    Ok(known)
}

/// Publishes the staging folder: snapshots every manifest first, uploads every new or changed
/// data file, then the manifest snapshots (deepest first, the top-level one last), then deletes
/// the objects of files that disappeared locally. Any file a published manifest lists was
/// uploaded before it. Returns the number of files uploaded.
pub async fn publish(remote: &Remote, local: &Path, known: &mut Known) -> Result<usize> {
    if remote.read_only {
        return Err(StorageError::BadUrl { url: remote.url.clone(), reason: "http(s) locations are read-only".into() });
    }
    let files = local_files(local)?;
    let mut manifests = Vec::new();
    let mut data = Vec::new();
    for (relative, path) in files.iter().filter(|(relative, _)| !scratch_only(relative)) {
        if relative.rsplit('/').next() == Some(MANIFEST) {
            let stamp = stamp(path)?;
            if known.get(relative) != Some(&stamp) {
                let bytes = fs::read(path).at_path(path)?;
                manifests.push((relative.clone(), path.clone(), bytes, stamp));
            }
        } else {
            let stamp = stamp(path)?;
            if known.get(relative) != Some(&stamp) {
                data.push((relative.clone(), path.clone(), stamp));
            }
        }
    }
    let uploaded: Vec<(String, (u64, SystemTime))> = futures_util::stream::iter(data)
        .map(|(relative, path, stamp)| async move {
            upload(remote, &relative, &path, None).await?;
            Ok::<_, StorageError>((relative, stamp))
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    let mut count = uploaded.len();
    known.extend(uploaded);
    manifests.sort_by_key(|(relative, ..)| std::cmp::Reverse(relative.matches('/').count()));
    for (relative, path, bytes, stamp) in manifests {
        upload(remote, &relative, &path, Some(bytes.as_slice())).await?;
        known.insert(relative, stamp);
        count += 1;
    }
    let present: BTreeSet<&String> = files.iter().map(|(relative, _)| relative).collect();
    let gone: Vec<String> = known.keys().filter(|relative| !present.contains(relative)).cloned().collect();
    for relative in gone {
        let url = remote.url_of(&relative);
        match remote.store.delete(&remote.child(&relative)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(StorageError::store(url, e)),
        }
        known.remove(&relative);
    }
    Ok(count)
}

/// True when the URL names one object (rather than a folder).
/// http(s) locations are never taken for objects here (no HEAD): they are downloaded.
pub async fn is_object(remote: &Remote) -> Result<bool> {
    if remote.prefix.as_ref().is_empty() || remote.read_only {
        return Ok(false);
    }
    Ok(object_size(remote, &remote.prefix).await?.is_some())
}

/// The size of the object at `location`; None when there is none.
pub(crate) async fn object_size(remote: &Remote, location: &ObjectPath) -> Result<Option<u64>> {
    match remote.store.head(location).await {
        Ok(meta) => Ok(Some(meta.size)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(StorageError::store(format!("{}#{location}", remote.url), e)),
    }
}

/// An empty file standing for an input this run names but does not read (kept if already there).
/// Created only if absent, in one step: ranks sharing a cache folder may be downloading the same
/// input at the same moment, and a placeholder must never truncate their file.
pub fn placeholder(local: &Path) -> Result<PathBuf> {
    if !local.exists() {
        let parent = local.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).at_path(parent)?;
        match fs::OpenOptions::new().write(true).create_new(true).open(local) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(PathError::io(local, e).into()),
        }
    }
    Ok(local.to_path_buf())
}

/// Downloads an input into `local`: the object itself when the URL names one; else the folder it
/// names — see [`download_folder`]. Returns the local path (a file or a folder).
pub async fn fetch_input(remote: &Remote, local: &Path) -> Result<PathBuf> {
    if !remote.prefix.as_ref().is_empty() {
        // http(s): no HEAD (servers answer it unevenly); a GET that finds nothing means a folder.
        let size = if remote.read_only { None } else { object_size(remote, &remote.prefix).await? };
        let found = remote.read_only || size.is_some();
        if found {
            let same = matches!((size, fs::metadata(local)), (Some(size), Ok(m)) if m.is_file() && m.len() == size);
            if same {
                return Ok(local.to_path_buf());
            }
            if local.is_dir() {
                fs::remove_dir_all(local).at_path(local)?;
            }
            match download(remote, &remote.prefix, local).await {
                Ok(()) => return Ok(local.to_path_buf()),
                Err(StorageError::Store { source: object_store::Error::NotFound { .. }, .. }) if remote.read_only => {}
                Err(e) => return Err(e),
            }
        }
    }
    let mut fetched = BTreeSet::new();
    download_folder(remote, "", local, &mut fetched).await?;
    if fetched.is_empty() {
        return Err(StorageError::NotFound { url: remote.url.clone() });
    }
    // The cache mirrors the published folder exactly: files of an older version go.
    for (relative, path) in local_files(local)? {
        if !fetched.contains(&relative) {
            fs::remove_file(&path).at_path(&path)?;
        }
    }
    Ok(local.to_path_buf())
}

/// Downloads the folder at `relative`: with a manifest, the manifest and the files it lists (and
/// nested stage folders such as `failures/` and `query_counts/`); without one, every object
/// (recursively). Per-rank working folders (`_ranks/`, `_counts/`) are left out.
async fn download_folder(remote: &Remote, relative: &str, local: &Path, fetched: &mut BTreeSet<String>) -> Result<()> {
    let join = |name: &str| if relative.is_empty() { name.to_string() } else { format!("{relative}/{name}") };
    let mut files: Vec<(String, Option<u64>)> = Vec::new();
    let mut folders: Vec<String> = Vec::new();
    let manifest_relative = join(MANIFEST);
    let manifest = match remote.store.get(&remote.child(&manifest_relative)).await {
        Ok(result) => {
            Some(result.bytes().await.map_err(|e| StorageError::store(remote.url_of(&manifest_relative), e))?)
        }
        Err(object_store::Error::NotFound { .. }) => None,
        Err(e) => return Err(StorageError::store(remote.url_of(&manifest_relative), e)),
    };
    if let Some(bytes) = &manifest {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| StorageError::Manifest {
            url: remote.url_of(&manifest_relative),
            reason: format!("not a manifest: {e}"),
        })?;
        let shards = value.get("shards").and_then(|s| s.as_array()).cloned().unwrap_or_default();
        for shard in shards {
            let Some(file) = shard.get("file").and_then(|f| f.as_str()) else {
                return Err(StorageError::Manifest {
                    url: remote.url_of(&manifest_relative),
                    reason: "a shard without a file name".into(),
                });
            };
            files.push((join(file), shard.get("bytes").and_then(|b| b.as_u64())));
        }
    }
    if remote.read_only {
        // http(s) cannot list: the nested stage folders wit writes are probed by name.
        if manifest.is_some() {
            folders.extend(wit_contract::layout::TABLE_DIRS.map(join));
        }
    } else {
        let listing = remote
            .store
            .list_with_delimiter(Some(&remote.child(relative)))
            .await
            .map_err(|e| StorageError::store(remote.url_of(relative), e))?;
        for prefix in listing.common_prefixes {
            let Some(sub) = remote.relative(&prefix) else { continue };
            let name = sub.rsplit('/').next().unwrap_or_default().to_string();
            // The data folder's files come from the manifest; `_` folders are bookkeeping, except
            // the tables (failures, query counts) readers of the folder use.
            let table = wit_contract::layout::TABLE_DIRS.contains(&name.as_str());
            let skip = name.starts_with('.')
                || (name.starts_with('_') && !table)
                || RANK_FOLDERS.contains(&name.as_str())
                || (manifest.is_some() && name == wit_contract::DATA_DIR);
            if !skip {
                folders.push(sub);
            }
        }
        if manifest.is_none() {
            for object in listing.objects {
                let Some(sub) = remote.relative(&object.location) else { continue };
                if !hidden(&sub) {
                    files.push((sub, Some(object.size)));
                }
            }
        }
    }
    if let Some(bytes) = manifest {
        let path = local.join(&manifest_relative);
        let parent = path.parent().unwrap_or(local);
        fs::create_dir_all(parent).at_path(parent)?;
        fs::write(&path, &bytes).at_path(&path)?;
        fetched.insert(manifest_relative);
    }
    let done: Vec<String> = futures_util::stream::iter(files)
        .map(|(relative, size)| async move {
            let (path, location) = (local.join(&relative), remote.child(&relative));
            let same = matches!((size, fs::metadata(&path)), (Some(size), Ok(m)) if m.len() == size);
            if !same {
                download(remote, &location, &path).await?;
            }
            Ok::<_, StorageError>(relative)
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    fetched.extend(done);
    for folder in folders {
        Box::pin(download_folder(remote, &folder, local, fetched)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn memory_remote() -> Remote {
        let store = Arc::new(object_store::memory::InMemory::new());
        Remote { url: "mem://bucket/out".into(), store, prefix: ObjectPath::from("out"), read_only: false }
    }

    async fn keys(remote: &Remote) -> Vec<String> {
        let listed: Vec<_> = remote.store.list(None).try_collect().await.unwrap();
        let mut keys: Vec<String> = listed.into_iter().map(|m| m.location.to_string()).collect();
        keys.sort();
        keys
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn publish_seed_and_fetch_round_trip() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let remote = memory_remote();
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("stage");
        let manifest = r#"{"shards":[{"file":"shard-00000.parquet","bytes":4}]}"#;
        write(&local.join("shard-00000.parquet"), "data");
        write(&local.join("shard-00001.parquet"), "unlisted");
        write(&local.join(".shard-00002.parquet.1-1.tmp"), "temp");
        write(&local.join("_manifest.json"), manifest);
        write(&local.join("_ranks/rank-00001-of-00002/_manifest.json"), r#"{"shards":[]}"#);
        write(&local.join("spill-00000-of-00001/run-0"), "spill");
        let mut known = Known::new();
        assert_eq!(rt.block_on(publish(&remote, &local, &mut known)).unwrap(), 4);
        let published = [
            "out/_manifest.json",
            "out/_ranks/rank-00001-of-00002/_manifest.json",
            "out/shard-00000.parquet",
            "out/shard-00001.parquet",
        ];
        assert_eq!(rt.block_on(keys(&remote)), published, "no temporary, hidden or spill object");
        // Nothing changed: nothing uploaded. A deleted file goes from the store too.
        assert_eq!(rt.block_on(publish(&remote, &local, &mut known)).unwrap(), 0);
        fs::remove_file(local.join("shard-00001.parquet")).unwrap();
        rt.block_on(publish(&remote, &local, &mut known)).unwrap();
        assert!(!rt.block_on(keys(&remote)).contains(&"out/shard-00001.parquet".to_string()));

        // A rank seeds everything but other ranks' files.
        let seeded = dir.path().join("seeded");
        rt.block_on(seed_output(&remote, &seeded, &Seed::Rank { rank: 0, world_size: 2 })).unwrap();
        assert_eq!(fs::read_to_string(seeded.join("_manifest.json")).unwrap(), manifest);
        assert!(seeded.join("shard-00000.parquet").exists() && !seeded.join("_ranks").exists());

        // As an input, the folder is its manifest and the files it lists; stale cache files go.
        let cache = dir.path().join("cache");
        write(&cache.join("old.parquet"), "stale");
        assert_eq!(rt.block_on(fetch_input(&remote, &cache)).unwrap(), cache);
        let mut files: Vec<String> = local_files(&cache).unwrap().into_iter().map(|(r, _)| r).collect();
        files.sort();
        assert_eq!(files, ["_manifest.json", "shard-00000.parquet"]);
        // A single object is downloaded as a file; nothing at all is an error naming the URL.
        let one = Remote { prefix: ObjectPath::from("out/shard-00000.parquet"), ..memory_remote() };
        let one = Remote { store: remote.store.clone(), ..one };
        let file = dir.path().join("one.parquet");
        rt.block_on(fetch_input(&one, &file)).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "data");
        let none = Remote { prefix: ObjectPath::from("missing"), ..memory_remote() };
        let error = rt.block_on(fetch_input(&none, &dir.path().join("none"))).unwrap_err();
        assert!(error.to_string().contains("not found"), "{error}");
    }

    #[test]
    fn a_rank_seeds_only_its_own_per_rank_files() {
        let seed = Seed::Rank { rank: 1, world_size: 4 };
        assert!(other_ranks("ranks/rank-00000-of-00004/shard-00000.parquet", &seed));
        assert!(!other_ranks("ranks/rank-00001-of-00004/shard-00000.parquet", &seed));
        assert!(other_ranks("counts/matched-00003-of-00004.parquet", &seed));
        assert!(!other_ranks("counts/matched-00001-of-00004.parquet", &seed));
        assert!(!other_ranks("_manifest.json", &seed));
        assert!(other_ranks("data/rank-00000-of-00004-shard-00000.parquet", &seed));
        assert!(!other_ranks("data/rank-00001-of-00004-shard-00000.parquet", &seed));
        assert!(!other_ranks("counts/matched-00000-of-00004.parquet", &Seed::Everything));
    }

    #[test]
    fn hidden_parts_mark_temporary_files() {
        assert!(hidden("a/.shard-00000.parquet.wit-upload-1-2"));
        assert!(!hidden("failures/shard-00000.parquet"));
        assert!(scratch_only("spill-00000-of-00001/run-3") && !scratch_only("shard-00000.parquet"));
        assert!(scratch_only("_spill/dedup-00001-of-00004/run-00000.bin") && !scratch_only("_steps/fetch.json"));
    }
}
