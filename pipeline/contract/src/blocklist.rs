//! A build's takedown blocklist, `BUILD/_blocklist.jsonl` ([`crate::layout::BLOCKLIST_FILE`]):
//! what `wit remove` took out, so that later runs of harvest, curate and fetch leave it out too.
//!
//! One JSON object a line, appended to, never rewritten:
//! `{"kind": "key"|"url"|"domain"|"sha256"|"md5", "value": "…", "added_at": "RFC 3339", "reason": "…"}`.
//! A `domain` blocks its host and every subdomain; `sha256`/`md5` (lower-case hex) block an image by
//! the hash of its original bytes (fetch's columns). The whole list is held in memory: takedown lists
//! are small next to a corpus (a million entries take about 100 MB).

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{AtPath, PathError, Result};

/// What an entry matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    Key,
    Url,
    Domain,
    Sha256,
    Md5,
}

impl BlockKind {
    pub fn name(self) -> &'static str {
        match self {
            BlockKind::Key => "key",
            BlockKind::Url => "url",
            BlockKind::Domain => "domain",
            BlockKind::Sha256 => "sha256",
            BlockKind::Md5 => "md5",
        }
    }
}

/// One line of the blocklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEntry {
    pub kind: BlockKind,
    pub value: String,
    pub added_at: String,
    /// Why it is there, e.g. `sha256:…` for the key of a pair whose image matched a hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl BlockEntry {
    /// An entry of `kind` for `value`, normalised as it is matched (domains and hashes lower case,
    /// a domain without a leading dot).
    pub fn new(kind: BlockKind, value: &str, reason: Option<String>) -> Self {
        let value = value.trim();
        let value = match kind {
            BlockKind::Domain => value.trim_start_matches('.').to_ascii_lowercase(),
            BlockKind::Sha256 | BlockKind::Md5 => value.to_ascii_lowercase(),
            BlockKind::Key | BlockKind::Url => value.to_owned(),
        };
        BlockEntry { kind, value, added_at: crate::now_rfc3339(), reason }
    }
}

/// The entries of a blocklist, ready to match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blocklist {
    keys: HashSet<String>,
    urls: HashSet<String>,
    domains: HashSet<String>,
    sha256: HashSet<String>,
    md5: HashSet<String>,
}

impl Blocklist {
    /// The blocklist at `path`; a missing file is an empty list. A bad line is an error naming the
    /// file and the line.
    pub fn load(path: &Path) -> Result<Self> {
        let mut list = Blocklist::default();
        for entry in Blocklist::entries(path)? {
            list.insert(&entry);
        }
        Ok(list)
    }

    /// The lines of the blocklist at `path` as written, repeats included (a missing file: none);
    /// a bad line is an error naming the file and the line.
    pub fn entries(path: &Path) -> Result<Vec<BlockEntry>> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(PathError::io(path, e).into()),
        };
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let entry: BlockEntry = serde_json::from_str(line)
                .map_err(|e| PathError::input(path, format!("blocklist line {}: {e}", index + 1)))?;
            entries.push(entry);
        }
        Ok(entries)
    }

    /// Adds `entry`; false when it was there already.
    pub fn insert(&mut self, entry: &BlockEntry) -> bool {
        self.set_mut(entry.kind).insert(entry.value.clone())
    }

    pub fn contains(&self, entry: &BlockEntry) -> bool {
        self.set(entry.kind).contains(&entry.value)
    }

    fn set(&self, kind: BlockKind) -> &HashSet<String> {
        match kind {
            BlockKind::Key => &self.keys,
            BlockKind::Url => &self.urls,
            BlockKind::Domain => &self.domains,
            BlockKind::Sha256 => &self.sha256,
            BlockKind::Md5 => &self.md5,
        }
    }

    fn set_mut(&mut self, kind: BlockKind) -> &mut HashSet<String> {
        match kind {
            BlockKind::Key => &mut self.keys,
            BlockKind::Url => &mut self.urls,
            BlockKind::Domain => &mut self.domains,
            BlockKind::Sha256 => &mut self.sha256,
            BlockKind::Md5 => &mut self.md5,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        self.keys.len() + self.urls.len() + self.domains.len() + self.sha256.len() + self.md5.len()
    }

    /// Whether the list holds image hashes (only fetch and the corpus can match those).
    pub fn has_hashes(&self) -> bool {
        !self.sha256.is_empty() || !self.md5.is_empty()
    }

    /// What blocks the pair (`key`, `url`), if anything: its key, its URL, or its URL's host or a
    /// parent domain of it.
    pub fn blocks_pair(&self, key: &str, url: &str) -> Option<BlockKind> {
        if self.keys.contains(key) {
            return Some(BlockKind::Key);
        }
        self.blocks_url(url)
    }

    /// What blocks `url` itself, if anything: the URL, or its host or a parent domain of it (a
    /// crawler checks its pages with this before requesting them).
    pub fn blocks_url(&self, url: &str) -> Option<BlockKind> {
        if self.urls.contains(url) {
            return Some(BlockKind::Url);
        }
        if !self.domains.is_empty() {
            let mut host = host_of(url);
            loop {
                if self.domains.contains(host.as_str()) {
                    return Some(BlockKind::Domain);
                }
                match host.split_once('.') {
                    Some((_, parent)) if !parent.is_empty() => host = parent.to_owned(),
                    _ => break,
                }
            }
        }
        None
    }

    /// What blocks an image with these hashes of its original bytes, if anything.
    pub fn blocks_hashes(&self, sha256: Option<&str>, md5: Option<&str>) -> Option<BlockKind> {
        if sha256.is_some_and(|h| self.sha256.contains(h)) {
            return Some(BlockKind::Sha256);
        }
        if md5.is_some_and(|h| self.md5.contains(h)) {
            return Some(BlockKind::Md5);
        }
        None
    }

    /// Appends `entries` to the blocklist at `path` (created if missing) and syncs it.
    pub fn append(path: &Path, entries: &[BlockEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for entry in entries {
            text.push_str(&serde_json::to_string(entry).map_err(|e| PathError::input(path, e.to_string()))?);
            text.push('\n');
        }
        let mut file = OpenOptions::new().create(true).append(true).open(path).at_path(path)?;
        file.write_all(text.as_bytes()).at_path(path)?;
        Ok(file.sync_all().at_path(path)?)
    }
}

/// What `wit remove` records as `stats.takedowns` in the `_query_counts/` manifest of a curated
/// folder that takedowns took rows from: `kept` per query was recounted from the curated shards
/// that are left (exact), while `matched` is still what curate counted — a removed candidate's
/// queries are not known without matching it again, so `matched` is from before the takedowns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryCountsTakedowns {
    /// Curated rows takedowns had removed when `kept` was recounted (all removals so far).
    pub curated_rows_removed: u64,
    /// What the recounts took off `kept`, summed over queries (a pair with k queries counts k times).
    pub kept_lowered_by: u64,
    /// `matched` counts the candidates as curate matched them, the taken-down ones included.
    pub matched_before_takedowns: bool,
    /// When `kept` was last recounted (RFC 3339).
    pub recounted_at: String,
}

/// The lower-case host of `url` (no user info, no port); the whole string when it has no `://`.
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_match_keys_urls_domains_and_hashes() {
        let mut list = Blocklist::default();
        for (kind, value) in [
            (BlockKind::Key, "00ff"),
            (BlockKind::Url, "http://a.example/x.jpg"),
            (BlockKind::Domain, ".Photos.Example"),
            (BlockKind::Sha256, "AB12"),
            (BlockKind::Md5, "cd34"),
        ] {
            assert!(list.insert(&BlockEntry::new(kind, value, None)));
        }
        assert!(!list.insert(&BlockEntry::new(BlockKind::Key, "00ff", None)), "a repeat is not new");
        assert_eq!(list.blocks_pair("00ff", "http://z/"), Some(BlockKind::Key));
        assert_eq!(list.blocks_pair("1", "http://a.example/x.jpg"), Some(BlockKind::Url));
        assert_eq!(list.blocks_pair("1", "http://a.example/y.jpg"), None);
        assert_eq!(list.blocks_pair("1", "https://user@CDN.photos.example:8443/p?q"), Some(BlockKind::Domain));
        assert_eq!(list.blocks_pair("1", "https://photos.example/p"), Some(BlockKind::Domain));
        assert_eq!(list.blocks_pair("1", "https://notphotos.example/p"), None, "a suffix is not a subdomain");
        assert_eq!(list.blocks_hashes(Some("ab12"), None), Some(BlockKind::Sha256));
        assert_eq!(list.blocks_hashes(Some("ffff"), Some("cd34")), Some(BlockKind::Md5));
        assert_eq!(list.blocks_hashes(None, None), None);
        assert_eq!(host_of("http://[::1]:80/x"), "::1");
        assert_eq!(list.blocks_url("http://www.photos.example/page.html"), Some(BlockKind::Domain));
        assert_eq!(list.blocks_url("http://a.example/x.jpg"), Some(BlockKind::Url));
        assert_eq!(list.blocks_url("http://a.example/page.html"), None);
    }

    #[test]
    fn a_blocklist_appends_and_loads_and_names_a_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::layout::BLOCKLIST_FILE);
        assert!(Blocklist::load(&path).unwrap().is_empty(), "no file: nothing blocked");
        Blocklist::append(&path, &[BlockEntry::new(BlockKind::Key, "k1", None)]).unwrap();
        Blocklist::append(&path, &[BlockEntry::new(BlockKind::Md5, "M", Some("why".into()))]).unwrap();
        Blocklist::append(&path, &[BlockEntry::new(BlockKind::Key, "k1", None)]).unwrap();
        let list = Blocklist::load(&path).unwrap();
        assert_eq!(list.len(), 2, "a repeated line is one entry");
        let lines = Blocklist::entries(&path).unwrap();
        assert_eq!(lines.iter().map(|e| e.kind).collect::<Vec<_>>(), [BlockKind::Key, BlockKind::Md5, BlockKind::Key]);
        assert_eq!(lines[1].reason.as_deref(), Some("why"));
        assert!(list.contains(&BlockEntry::new(BlockKind::Md5, "m", None)));
        fs::write(&path, "{\"kind\": \"key\", \"value\": \"a\", \"added_at\": \"x\"}\n{\"kind\": \"face\"}\n").unwrap();
        let err = Blocklist::load(&path).unwrap_err().to_string();
        assert!(err.contains("_blocklist.jsonl") && err.contains("line 2"), "{err}");
    }
}
