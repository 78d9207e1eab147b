//! Which stage folders a report reads: a `wit build` folder (its `queries/`, `candidates/`,
//! `curated/`, `corpus/` subfolders), or one stage folder whose manifest config points at the
//! folders it was made from; explicit paths override both. Whatever exists is used.

use std::path::{Path, PathBuf};

use serde::Serialize;
use wit_contract::{Manifest, RecordKind};

use crate::error::Result;
use wit_contract::PathError;

/// The subfolders of a `wit build` output folder, by stage.
pub const BUILD_SUBFOLDERS: [(&str, RecordKind); 4] = [
    ("queries", RecordKind::Queries),
    ("candidates", RecordKind::Candidates),
    ("curated", RecordKind::Curated),
    ("corpus", RecordKind::Corpus),
];

/// The failures subfolder of a corpus folder.
pub const FAILURES_DIR: &str = wit_contract::FAILURES_DIR;

/// Paths given explicitly; each replaces what would be found.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub queries: Option<PathBuf>,
    pub curated: Option<PathBuf>,
    pub corpus: Option<PathBuf>,
}

/// The stage folders a report reads (None: that stage is absent).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Located {
    /// A queries folder, or one Parquet file of dictionary rows.
    pub queries: Option<PathBuf>,
    pub candidates: Option<PathBuf>,
    pub curated: Option<PathBuf>,
    /// The curate per-query table (a Parquet file of `QueryCount` rows).
    pub query_counts: Option<PathBuf>,
    pub corpus: Option<PathBuf>,
    pub failures: Option<PathBuf>,
    /// Corpus folders `wit dedup` and `wit decontaminate` wrote (their manifest's `config.stage`):
    /// the build folder's other subfolders, or the chain a derived corpus was made from.
    pub derived: Vec<PathBuf>,
    /// The build's takedown blocklist (`_blocklist.jsonl`), when it has one.
    pub blocklist: Option<PathBuf>,
    /// What could not be followed (a config pointer to a missing folder, say).
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// A manifest, or the manifest of an older layout (whose load then says what to do).
fn has_manifest(dir: &Path) -> bool {
    Manifest::path_in(dir).is_file() || dir.join(wit_contract::layout::LEGACY_MANIFEST_FILE).is_file()
}

fn kind_of(dir: &Path) -> Result<Option<RecordKind>> {
    Ok(Manifest::load_if_present(dir)?.map(|m| m.kind))
}

/// The stages whose output is a corpus made from another corpus.
pub const DERIVED_STAGES: [&str; 2] = ["dedup", "decontaminate"];

/// `config.stage` of the corpus folder `dir` when it is one of [`DERIVED_STAGES`].
pub fn derived_stage(dir: &Path) -> Result<Option<String>> {
    let Some(manifest) = Manifest::load_if_present(dir)? else { return Ok(None) };
    let stage = manifest.config.get("stage").and_then(|v| v.as_str()).unwrap_or_default();
    Ok((manifest.kind == RecordKind::Corpus && DERIVED_STAGES.contains(&stage)).then(|| stage.to_owned()))
}

/// The derived corpus folders among the subfolders of the build folder `build`, by name.
fn derived_in_build(build: &Path) -> Result<Vec<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(build) else { return Ok(Vec::new()) };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with(['_', '.']))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    let mut derived = Vec::new();
    for dir in dirs {
        if derived_stage(&dir)?.is_some() {
            derived.push(dir);
        }
    }
    Ok(derived)
}

/// A path a manifest config names: absolute, relative to the working folder, to the stage folder,
/// or to its parent (a build folder), whichever exists.
pub(crate) fn resolve_pointer(stage_dir: &Path, value: &str) -> Option<PathBuf> {
    let path = Path::new(value);
    if path.is_absolute() {
        return path.exists().then(|| path.to_path_buf());
    }
    let mut tries = vec![path.to_path_buf(), stage_dir.join(path)];
    if let Some(parent) = stage_dir.parent() {
        tries.push(parent.join(path));
    }
    tries.into_iter().find(|p| p.exists())
}

/// The path under `config[key]` of the manifest in `dir`, if it names one that exists.
fn follow(dir: &Path, key: &str, notes: &mut Vec<String>) -> Result<Option<PathBuf>> {
    let Some(manifest) = Manifest::load_if_present(dir)? else { return Ok(None) };
    let Some(value) = manifest.config.get(key).and_then(|v| v.as_str()) else { return Ok(None) };
    let found = resolve_pointer(dir, value);
    if found.is_none() {
        notes.push(format!("{}: config.{key} names {value:?}, which is not there", Manifest::path_in(dir).display()));
    }
    Ok(found)
}

fn check_kind(path: &Path, expected: RecordKind) -> Result<()> {
    if expected == RecordKind::Queries && path.is_file() {
        return Ok(());
    }
    match kind_of(path)? {
        Some(kind) if kind == expected => Ok(()),
        Some(kind) => Err(PathError::input(path, format!("a {kind} folder, not a {expected} folder")).into()),
        None => Err(PathError::input(path, format!("no _manifest.json: not a {expected} folder")).into()),
    }
}

/// Finds the stage folders for `input` (a build folder or a stage folder) and `overrides`.
pub fn locate(input: &Path, overrides: &Overrides) -> Result<Located> {
    let mut found = Located::default();
    if !input.exists() {
        return Err(PathError::input(input, "no such folder").into());
    }
    match kind_of(input)? {
        None => {
            for (name, kind) in BUILD_SUBFOLDERS {
                let dir = input.join(name);
                if !has_manifest(&dir) {
                    continue;
                }
                check_kind(&dir, kind)?;
                match kind {
                    RecordKind::Queries => found.queries = Some(dir),
                    RecordKind::Candidates => found.candidates = Some(dir),
                    RecordKind::Curated => found.curated = Some(dir),
                    _ => found.corpus = Some(dir),
                }
            }
        }
        Some(RecordKind::Queries) => found.queries = Some(input.to_path_buf()),
        Some(RecordKind::Candidates) => found.candidates = Some(input.to_path_buf()),
        Some(RecordKind::Curated) => found.curated = Some(input.to_path_buf()),
        Some(RecordKind::Corpus) => found.corpus = Some(input.to_path_buf()),
        Some(RecordKind::QueryCounts) => {
            let parent = input.parent().filter(|p| matches!(kind_of(p), Ok(Some(RecordKind::Curated))));
            match parent {
                Some(parent) => found.curated = Some(parent.to_path_buf()),
                None => found.query_counts = Manifest::load(input)?.shard_paths(input).into_iter().next(),
            }
        }
        Some(RecordKind::Failures) => {
            let parent = input.parent().filter(|p| matches!(kind_of(p), Ok(Some(RecordKind::Corpus))));
            match parent {
                Some(parent) => found.corpus = Some(parent.to_path_buf()),
                None => found.failures = Some(input.to_path_buf()),
            }
        }
    }
    if let Some(corpus) = &overrides.corpus {
        check_kind(corpus, RecordKind::Corpus)?;
        found.corpus = Some(corpus.clone());
    }
    if let Some(curated) = &overrides.curated {
        check_kind(curated, RecordKind::Curated)?;
        found.curated = Some(curated.clone());
    }
    if let Some(queries) = &overrides.queries {
        check_kind(queries, RecordKind::Queries)?;
        found.queries = Some(queries.clone());
    }

    let mut notes = Vec::new();
    if kind_of(input)?.is_none() {
        found.derived = derived_in_build(input)?;
        found.blocklist = Some(input.join(wit_contract::layout::BLOCKLIST_FILE)).filter(|p| p.is_file());
    }
    // A corpus `wit dedup`/`wit decontaminate` made: the chain back to the corpus fetch wrote,
    // whose failures, curated folder and build the report reads.
    let mut fetched = found.corpus.clone();
    while let Some(dir) = fetched.clone() {
        if derived_stage(&dir)?.is_none() || found.derived.contains(&dir) {
            break;
        }
        found.derived.push(dir.clone());
        fetched = follow(&dir, "input", &mut notes)?;
    }
    if found.blocklist.is_none() {
        let build = fetched.as_ref().or(found.curated.as_ref()).and_then(|d| d.parent());
        found.blocklist = build.map(|b| b.join(wit_contract::layout::BLOCKLIST_FILE)).filter(|p| p.is_file());
    }
    if let Some(corpus) = fetched {
        let failures = corpus.join(FAILURES_DIR);
        if found.failures.is_none() && has_manifest(&failures) {
            check_kind(&failures, RecordKind::Failures)?;
            found.failures = Some(failures);
        }
        if found.curated.is_none() {
            // fetch's input may also be a plain URL list: follow it only to a curated folder.
            if let Some(input) = follow(&corpus, "input", &mut notes)? {
                if input.is_dir() && kind_of(&input)? == Some(RecordKind::Curated) {
                    found.curated = Some(input);
                }
            }
        }
    }
    if let Some(curated) = found.curated.clone() {
        if found.queries.is_none() {
            found.queries = follow(&curated, "queries", &mut notes)?;
        }
        if found.candidates.is_none() {
            found.candidates = follow(&curated, "candidates", &mut notes)?.filter(|p| has_manifest(p));
        }
        if found.query_counts.is_none() {
            found.query_counts = follow(&curated, "query_counts", &mut notes)?.filter(|p| p.is_file());
        }
    }
    if found.queries.is_none() && found.curated.is_none() && found.corpus.is_none() && found.query_counts.is_none() {
        return Err(PathError::input(
            input,
            "nothing to report on: no queries, curated or corpus folder here (a build folder holds queries/, \
             candidates/, curated/ and corpus/; a stage folder holds _manifest.json)",
        )
        .into());
    }
    found.notes = notes;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(dir: &Path, kind: RecordKind, config: serde_json::Value) {
        std::fs::create_dir_all(dir).unwrap();
        let mut m = Manifest::new(kind, config, None);
        m.complete = true;
        m.save(dir).unwrap();
    }

    #[test]
    fn a_build_folder_and_a_stage_folder_find_the_same_stages() {
        let root = tempfile::tempdir().unwrap();
        let build = root.path();
        manifest(&build.join("queries"), RecordKind::Queries, serde_json::json!({}));
        manifest(&build.join("candidates"), RecordKind::Candidates, serde_json::json!({}));
        let curated_config = serde_json::json!({
            "queries": build.join("queries").display().to_string(),
            "candidates": "candidates",
            "query_counts": "_query_counts/data/query_counts.parquet",
        });
        manifest(&build.join("curated"), RecordKind::Curated, curated_config);
        std::fs::create_dir_all(build.join("curated/_query_counts/data")).unwrap();
        std::fs::write(build.join("curated/_query_counts/data/query_counts.parquet"), b"").unwrap();
        manifest(&build.join("corpus"), RecordKind::Corpus, serde_json::json!({"input": "curated"}));
        manifest(&build.join("corpus/_failures"), RecordKind::Failures, serde_json::json!({}));

        let from_build = locate(build, &Overrides::default()).unwrap();
        let from_corpus = locate(&build.join("corpus"), &Overrides::default()).unwrap();
        for located in [&from_build, &from_corpus] {
            assert_eq!(located.corpus.as_deref(), Some(build.join("corpus").as_path()));
            assert_eq!(located.failures.as_deref(), Some(build.join("corpus/_failures").as_path()));
            assert_eq!(located.curated.as_deref(), Some(build.join("curated").as_path()));
            assert_eq!(located.queries.as_deref(), Some(build.join("queries").as_path()));
            assert!(located.candidates.is_some());
            assert!(located.query_counts.as_ref().unwrap().ends_with("_query_counts/data/query_counts.parquet"));
        }
    }

    #[test]
    fn wrong_kinds_and_empty_folders_are_named_errors() {
        let root = tempfile::tempdir().unwrap();
        let err = locate(root.path(), &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("nothing to report on"), "{err}");
        manifest(&root.path().join("corpus"), RecordKind::Queries, serde_json::json!({}));
        let err = locate(root.path(), &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("corpus") && err.contains("not a corpus folder"), "{err}");
        let overrides = Overrides { curated: Some(root.path().join("corpus")), ..Default::default() };
        let err = locate(&root.path().join("corpus"), &overrides).unwrap_err().to_string();
        assert!(err.contains("not a curated folder"), "{err}");
    }

    #[test]
    fn a_dangling_pointer_is_a_note_not_an_error() {
        let root = tempfile::tempdir().unwrap();
        let curated = root.path().join("curated");
        manifest(&curated, RecordKind::Curated, serde_json::json!({"queries": "/nowhere/queries"}));
        let located = locate(&curated, &Overrides::default()).unwrap();
        assert!(located.queries.is_none());
        assert!(located.notes.iter().any(|n| n.contains("/nowhere/queries")), "{:?}", located.notes);
    }
}
