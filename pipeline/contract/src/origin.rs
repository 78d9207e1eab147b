//! Where a stage's files really are, for what manifests record. wit-storage runs a stage on local
//! copies: a remote input is read from a cache folder under `$WIT_SCRATCH`, a remote output is
//! written in a staging folder. Those local paths differ between machines, between Slurm jobs (a
//! job may get its own `TMPDIR`) and between runs, so a manifest must not record them: stages
//! record every input path through [`recorded_path`], which names the URL the user gave. wit-storage
//! registers each local stand-in with [`set_origin`] before the stage runs.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// Local stand-ins (cache or staging folders) and the URLs they stand for.
static ORIGINS: RwLock<Vec<(PathBuf, String)>> = RwLock::new(Vec::new());

/// Says that `local` (a file or folder) is this process's copy of `original` (a URL).
pub fn set_origin(local: &Path, original: &str) {
    let mut origins = ORIGINS.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    origins.retain(|(path, _)| path != local);
    origins.push((local.to_path_buf(), original.trim_end_matches('/').to_string()));
}

/// The name a manifest records for `path`: the URL it stands for when it lies in a registered
/// stand-in (the rest of its path appended with `/`), else the path as given.
pub fn recorded_path(path: &Path) -> String {
    let origins = ORIGINS.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    let best = origins
        .iter()
        .filter_map(|(local, original)| path.strip_prefix(local).ok().map(|rest| (local, original, rest)))
        .max_by_key(|(local, ..)| local.components().count());
    match best {
        Some((_, original, rest)) if rest.as_os_str().is_empty() => original.clone(),
        Some((_, original, rest)) => {
            let parts: Vec<String> = rest.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            format!("{original}/{}", parts.join("/"))
        }
        None => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_ins_are_recorded_as_their_urls_and_other_paths_as_given() {
        set_origin(Path::new("/scratch/a/cache/1f/curated"), "s3://bucket/build/curated/");
        set_origin(Path::new("/scratch/a/cache/2e/x.wat.gz"), "s3://bucket/in/x.wat.gz");
        set_origin(Path::new("/scratch/a/staging/3d/run/crawl"), "s3://bucket/build/crawl");
        assert_eq!(recorded_path(Path::new("/scratch/a/cache/1f/curated")), "s3://bucket/build/curated");
        assert_eq!(recorded_path(Path::new("/scratch/a/cache/2e/x.wat.gz")), "s3://bucket/in/x.wat.gz");
        assert_eq!(
            recorded_path(Path::new("/scratch/a/staging/3d/run/crawl/crawl/pages.warc.gz")),
            "s3://bucket/build/crawl/crawl/pages.warc.gz"
        );
        assert_eq!(recorded_path(Path::new("/scratch/a/cache/1f/curatedX")), "/scratch/a/cache/1f/curatedX");
        assert_eq!(recorded_path(Path::new("data/local.wat.gz")), "data/local.wat.gz");
    }
}
