//! [`StoredFolder`]: looking into a folder where it lies — a local path or an object-store URL —
//! without downloading it: whether a file is there, one file's bytes, the names directly inside a
//! subfolder. This is what
//! `wit status` and a Slurm resubmission need to see how far a build got; stages themselves go
//! through [`crate::with_storage`].

use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::{Result, StorageError};
use crate::location::Location;
use wit_contract::{AtPath, PathError};

/// A folder to read from, local or remote.
pub struct StoredFolder {
    location: Location,
    /// Drives the object store's requests (remote folders only).
    runtime: Option<tokio::runtime::Runtime>,
}

impl StoredFolder {
    /// Opens a local path or URL (credentials from the environment, as for the stages).
    pub fn open(text: &str) -> Result<StoredFolder> {
        StoredFolder::at(Location::parse(text.trim_end_matches('/'))?)
    }

    fn at(location: Location) -> Result<StoredFolder> {
        let runtime = match &location {
            Location::Local(_) => None,
            Location::Remote(_) => {
                Some(tokio::runtime::Builder::new_current_thread().enable_all().build().at_path("tokio runtime")?)
            }
        };
        Ok(StoredFolder { location, runtime })
    }

    /// The bytes of the file at `relative` (`/`-separated), None when there is none.
    pub fn read(&self, relative: &str) -> Result<Option<Vec<u8>>> {
        match (&self.location, &self.runtime) {
            (Location::Remote(remote), Some(rt)) => {
                let url = remote.url_of(relative);
                rt.block_on(async {
                    match remote.store.get(&remote.child(relative)).await {
                        Ok(result) => {
                            Ok(Some(result.bytes().await.map_err(|e| StorageError::store(&url, e))?.to_vec()))
                        }
                        Err(object_store::Error::NotFound { .. }) => Ok(None),
                        Err(e) => Err(StorageError::store(&url, e)),
                    }
                })
            }
            _ => {
                let path = self.local_path(relative);
                match std::fs::read(&path) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
                        Ok(None)
                    }
                    Err(e) => Err(PathError::io(&path, e).into()),
                }
            }
        }
    }

    /// The names of the files and folders directly inside `relative` ("" for the folder itself),
    /// sorted, hidden names (temporary files and uploads) left out; empty when there is nothing.
    pub fn list(&self, relative: &str) -> Result<Vec<String>> {
        let mut names = match (&self.location, &self.runtime) {
            (Location::Remote(remote), Some(rt)) => {
                if remote.read_only {
                    return Err(StorageError::BadUrl {
                        url: remote.url.clone(),
                        reason: "http(s) locations cannot be listed".into(),
                    });
                }
                let url = remote.url_of(relative);
                let listing = rt
                    .block_on(remote.store.list_with_delimiter(Some(&remote.child(relative))))
                    .map_err(|e| StorageError::store(&url, e))?;
                let folders = listing.common_prefixes.into_iter();
                let files = listing.objects.into_iter().map(|meta| meta.location);
                folders.chain(files).filter_map(|path| path.filename().map(str::to_string)).collect::<Vec<_>>()
            }
            _ => {
                let dir = self.local_path(relative);
                let entries = match std::fs::read_dir(&dir) {
                    Ok(entries) => entries,
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
                        return Ok(Vec::new())
                    }
                    Err(e) => return Err(PathError::io(&dir, e).into()),
                };
                let names: std::io::Result<Vec<String>> =
                    entries.map(|entry| entry.map(|e| e.file_name().to_string_lossy().to_string())).collect();
                names.at_path(&dir)?
            }
        };
        names.retain(|name| !name.starts_with('.'));
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Whether a file lies at `relative` (a HEAD request for a remote folder: nothing is read).
    pub fn is_file(&self, relative: &str) -> Result<bool> {
        match (&self.location, &self.runtime) {
            (Location::Remote(remote), Some(rt)) => {
                Ok(rt.block_on(crate::sync::object_size(remote, &remote.child(relative)))?.is_some())
            }
            _ => Ok(self.local_path(relative).is_file()),
        }
    }

    fn local_path(&self, relative: &str) -> std::path::PathBuf {
        let Location::Local(root) = &self.location else { return std::path::PathBuf::new() };
        relative.split('/').filter(|part| !part.is_empty()).fold(root.clone(), |path, part| path.join(part))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_folder_reads_files_and_lists_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("curated/counts")).unwrap();
        std::fs::write(dir.path().join("curated/manifest.json"), b"{}").unwrap();
        std::fs::write(dir.path().join("curated/counts/shards-00001-of-00004.json"), b"[]").unwrap();
        std::fs::write(dir.path().join("curated/counts/.partial.tmp"), b"").unwrap();
        let folder = StoredFolder::open(dir.path().to_str().unwrap()).unwrap();
        assert!(folder.is_file("curated/manifest.json").unwrap() && !folder.is_file("curated").unwrap());
        assert_eq!(folder.read("curated/manifest.json").unwrap().as_deref(), Some(&b"{}"[..]));
        assert_eq!(folder.read("curated/missing.json").unwrap(), None);
        assert_eq!(folder.read("curated/manifest.json/below").unwrap(), None);
        assert_eq!(folder.list("").unwrap(), vec!["curated"]);
        assert_eq!(folder.list("curated/counts").unwrap(), vec!["shards-00001-of-00004.json"]);
        assert!(folder.list("corpus").unwrap().is_empty());
        assert!(StoredFolder::open(dir.path().join("none").to_str().unwrap()).unwrap().list("").unwrap().is_empty());
    }

    #[test]
    fn a_remote_folder_reads_objects_and_lists_names_without_hidden_uploads() {
        let store = std::sync::Arc::new(object_store::memory::InMemory::new());
        let remote = crate::location::Remote {
            url: "mem://bucket/build".into(),
            store: store.clone(),
            prefix: object_store::path::Path::from("build"),
            read_only: false,
        };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        for (key, bytes) in [
            ("build/corpus/manifest.json", &b"{}"[..]),
            ("build/corpus/ranks/rank-00000-of-00002/manifest.json", b"{}"),
            ("build/corpus/.x.parquet.wit-upload-1-0", b"partial"),
            ("build/corpus/part-00000.parquet", b"PAR1"),
            ("other/corpus/manifest.json", b"{}"),
        ] {
            rt.block_on(store.put(&key.into(), bytes.to_vec().into())).unwrap();
        }
        let folder = StoredFolder::at(Location::Remote(remote.clone())).unwrap();
        assert!(folder.is_file("corpus/part-00000.parquet").unwrap() && !folder.is_file("corpus/x").unwrap());
        assert_eq!(folder.read("corpus/manifest.json").unwrap().as_deref(), Some(&b"{}"[..]));
        assert_eq!(folder.read("curated/manifest.json").unwrap(), None);
        assert_eq!(folder.list("").unwrap(), vec!["corpus"]);
        assert_eq!(folder.list("corpus").unwrap(), vec!["manifest.json", "part-00000.parquet", "ranks"]);
        assert_eq!(folder.list("corpus/ranks").unwrap(), vec!["rank-00000-of-00002"]);
        let empty = crate::location::Remote { prefix: object_store::path::Path::from("nothing"), ..remote };
        assert!(StoredFolder::at(Location::Remote(empty)).unwrap().list("").unwrap().is_empty());
    }
}
