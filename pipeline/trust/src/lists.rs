//! The lists `wit remove` reads: one entry a line, checked so a wrong file fails with its line.

use std::path::Path;

use wit_contract::{AtPath, BlockEntry, BlockKind, PathError};

use crate::Result;

/// What a list file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Pair keys: 16 hex digits (`wit_contract::pair_key`).
    Keys,
    /// Image URLs, as in the `url` column.
    Urls,
    /// Host names; each blocks its subdomains too.
    Domains,
    /// sha256 (64 hex digits) or md5 (32) of original image bytes.
    ImageHashes,
}

/// The entries of list file `path`.
pub fn read_list(path: &Path, kind: ListKind) -> Result<Vec<BlockEntry>> {
    let text = std::fs::read_to_string(path).at_path(path)?;
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let value = line.trim();
        if value.is_empty() || value.starts_with('#') {
            continue;
        }
        let bad = |problem: String| -> crate::TrustError {
            PathError::input(path, format!("line {}: {problem}", index + 1)).into()
        };
        let hex = value.bytes().all(|b| b.is_ascii_hexdigit());
        let block = match kind {
            ListKind::Keys if hex && value.len() == 16 => BlockKind::Key,
            ListKind::Keys => return Err(bad(format!("{value:?} is not a pair key (16 hex digits)"))),
            ListKind::Urls if value.contains("://") => BlockKind::Url,
            ListKind::Urls => return Err(bad(format!("{value:?} is not a URL"))),
            ListKind::Domains if !value.contains(['/', ':', ' ']) => BlockKind::Domain,
            ListKind::Domains => {
                return Err(bad(format!("{value:?} is not a domain (a host name, no scheme or path)")))
            }
            ListKind::ImageHashes if hex && value.len() == 64 => BlockKind::Sha256,
            ListKind::ImageHashes if hex && value.len() == 32 => BlockKind::Md5,
            ListKind::ImageHashes => {
                return Err(bad(format!("{value:?} is neither a sha256 (64 hex digits) nor an md5 (32)")))
            }
        };
        entries.push(BlockEntry::new(block, value, None));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_checked_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hashes.txt");
        let sha = "AB".repeat(32);
        std::fs::write(&file, format!("# takedown 7\n{sha}\n\n{}\n", "c".repeat(32))).unwrap();
        let entries = read_list(&file, ListKind::ImageHashes).unwrap();
        assert_eq!(entries.iter().map(|e| e.kind).collect::<Vec<_>>(), [BlockKind::Sha256, BlockKind::Md5]);
        assert_eq!(entries[0].value, sha.to_ascii_lowercase());
        std::fs::write(&file, "0123456789abcdef\nnot-a-key\n").unwrap();
        let err = read_list(&file, ListKind::Keys).unwrap_err().to_string();
        assert!(err.contains("hashes.txt") && err.contains("line 2") && err.contains("not-a-key"), "{err}");
        std::fs::write(&file, "http://x.example/a.jpg\n").unwrap();
        assert!(read_list(&file, ListKind::Domains).unwrap_err().to_string().contains("line 1"));
        assert_eq!(read_list(&file, ListKind::Urls).unwrap()[0].kind, BlockKind::Url);
    }
}
