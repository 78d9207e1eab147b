//! [`Location`]: a local path or an object store URL, parsed from the string a user typed.
//!
//! Schemes: `s3://bucket/prefix` (credentials and endpoint from `AWS_*`), `gs://bucket/prefix`
//! (`GOOGLE_*`), `az://container/prefix` or `azure://…` (`AZURE_*`), `http(s)://host/path` (read
//! only), `file:///path` and anything without a scheme (a local path).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore};

use crate::error::{Result, StorageError};

/// Where a stage reads or writes.
#[derive(Clone)]
pub enum Location {
    Local(PathBuf),
    Remote(Remote),
}

/// A folder or file in an object store.
#[derive(Clone)]
pub struct Remote {
    /// The URL as given (without a trailing slash).
    pub url: String,
    pub store: Arc<dyn ObjectStore>,
    /// The object path the URL names inside the store (may be empty: the whole bucket).
    pub prefix: ObjectPath,
    /// http(s) stores can be read but neither written nor listed.
    pub read_only: bool,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(path) => write!(f, "Local({})", path.display()),
            Location::Remote(remote) => write!(f, "Remote({})", remote.url),
        }
    }
}

/// True when `text` names an object store rather than a local path.
pub fn is_url(text: &str) -> bool {
    matches!(scheme(text), Some(s) if s != "file")
}

fn scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once("://")?;
    let valid = !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then_some(scheme)
}

impl Location {
    /// Parses a local path or a URL. Builders read credentials from the environment (`from_env`).
    pub fn parse(text: &str) -> Result<Location> {
        let Some(scheme) = scheme(text) else {
            return Ok(Location::Local(PathBuf::from(text)));
        };
        let bad = |reason: &str| StorageError::BadUrl { url: text.to_string(), reason: reason.to_string() };
        let rest = &text[scheme.len() + 3..];
        if scheme == "file" {
            return Ok(Location::Local(PathBuf::from(rest)));
        }
        let url = text.trim_end_matches('/').to_string();
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.is_empty() {
            return Err(bad("no bucket, container or host"));
        }
        let prefix = object_path(path.trim_matches('/'));
        let (store, read_only): (Arc<dyn ObjectStore>, bool) = match scheme.to_ascii_lowercase().as_str() {
            "s3" | "s3a" => {
                let store = AmazonS3Builder::from_env().with_bucket_name(authority).build();
                (Arc::new(store.map_err(|e| StorageError::store(text, e))?), false)
            }
            "gs" => {
                let store = GoogleCloudStorageBuilder::from_env().with_bucket_name(authority).build();
                (Arc::new(store.map_err(|e| StorageError::store(text, e))?), false)
            }
            "az" | "azure" => {
                let store = MicrosoftAzureBuilder::from_env().with_container_name(authority).build();
                (Arc::new(store.map_err(|e| StorageError::store(text, e))?), false)
            }
            "http" | "https" => {
                let origin = format!("{scheme}://{authority}");
                let options = ClientOptions::new().with_allow_http(scheme == "http");
                let store = HttpBuilder::new().with_url(origin).with_client_options(options).build();
                (Arc::new(store.map_err(|e| StorageError::store(text, e))?), true)
            }
            _ => return Err(bad("unknown scheme (s3://, gs://, az://, http(s)://, file:// or a local path)")),
        };
        Ok(Location::Remote(Remote { url, store, prefix, read_only }))
    }

    /// Parses a path-typed argument (clap hands paths over as `PathBuf`).
    pub fn from_path(path: &Path) -> Result<Location> {
        match path.to_str() {
            Some(text) => Location::parse(text),
            None => Ok(Location::Local(path.to_path_buf())),
        }
    }
}

/// An object path from a `/`-separated relative path (empty segments dropped).
pub(crate) fn object_path(relative: &str) -> ObjectPath {
    ObjectPath::from_iter(relative.split('/').filter(|part| !part.is_empty()))
}

impl Remote {
    /// The object at `relative` (a `/`-separated path) under this location.
    pub fn child(&self, relative: &str) -> ObjectPath {
        let mut parts: Vec<String> = self.prefix.parts().map(|p| p.as_ref().to_string()).collect();
        parts.extend(relative.split('/').filter(|p| !p.is_empty()).map(str::to_string));
        ObjectPath::from_iter(parts)
    }

    /// `location` relative to this prefix, `/`-separated; None when it lies outside.
    pub fn relative(&self, location: &ObjectPath) -> Option<String> {
        let parts: Vec<String> = location.prefix_match(&self.prefix)?.map(|p| p.as_ref().to_string()).collect();
        Some(parts.join("/"))
    }

    /// The URL of `relative` under this location, for messages.
    pub fn url_of(&self, relative: &str) -> String {
        if relative.is_empty() {
            self.url.clone()
        } else {
            format!("{}/{relative}", self.url)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_and_file_urls_stay_local() {
        assert!(matches!(Location::parse("out/corpus").unwrap(), Location::Local(p) if p == Path::new("out/corpus")));
        assert!(matches!(Location::parse("file:///data/x").unwrap(), Location::Local(p) if p == Path::new("/data/x")));
        assert!(matches!(Location::parse("-").unwrap(), Location::Local(_)));
        assert!(!is_url("C:/data") && !is_url("a/b://c") && is_url("s3://b/p") && !is_url("file:///x"));
    }

    #[test]
    fn urls_name_a_store_and_a_prefix() {
        let Location::Remote(remote) = Location::parse("s3://bucket/a/b/").unwrap() else { panic!("remote") };
        assert_eq!(remote.url, "s3://bucket/a/b");
        assert_eq!(remote.prefix.as_ref(), "a/b");
        assert_eq!(remote.child("ranks/x.parquet").as_ref(), "a/b/ranks/x.parquet");
        assert_eq!(remote.relative(&remote.child("c/d")).as_deref(), Some("c/d"));
        assert!(!remote.read_only);
        let Location::Remote(web) = Location::parse("http://127.0.0.1:8080/files/x.wat.gz").unwrap() else {
            panic!("remote")
        };
        assert!(web.read_only);
        assert_eq!(web.prefix.as_ref(), "files/x.wat.gz");
    }

    #[test]
    fn unknown_schemes_and_missing_buckets_are_errors() {
        assert!(Location::parse("ftp://host/x").unwrap_err().to_string().contains("unknown scheme"));
        assert!(Location::parse("s3:///x").unwrap_err().to_string().contains("no bucket"));
    }
}
