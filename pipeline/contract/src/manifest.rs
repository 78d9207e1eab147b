//! `_manifest.json`: which shards of a folder are complete, and what made them.
//!
//! A stage appends a [`ShardInfo`] after each shard's rename and saves the manifest atomically, so
//! after a crash the manifest lists exactly the shards that are whole. Readers trust only the
//! manifest; [`Manifest::verify`] checks the folder against it (presence, size, xxh3, row counts,
//! schema kind, stray files).

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::error::{ContractError, Result};
use crate::reader::{ReadOptions, ShardReader};
use crate::schema::{check_compatible, RecordKind};
use crate::writer::{is_temp_file_name, write_file_atomically};
use crate::{AtPath, PathError};

/// The manifest format this version writes and reads.
pub const FORMAT: &str = "wit-manifest/1";

/// One complete shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// File name inside the manifest's folder.
    pub file: String,
    pub rows: u64,
    pub bytes: u64,
    /// xxh3-64 of the whole file, 16 hex digits.
    pub xxh3: String,
}

/// The tool that wrote a folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub kind: RecordKind,
    pub tool: ToolInfo,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
    /// The seed of every random choice the stage made, when it made any.
    pub seed: Option<u64>,
    /// The stage's full configuration, so a folder says how it was made.
    pub config: serde_json::Value,
    /// Set when the stage finished all its work; a rerun skips a complete stage.
    pub complete: bool,
    pub shards: Vec<ShardInfo>,
    /// Stage statistics (counts by reason, durations); free-form per stage.
    #[serde(default)]
    pub stats: serde_json::Value,
    /// Columns every shard holds after the kind's own (see [`crate::extra`]); checked by verify.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_columns: Vec<crate::extra::ExtraColumn>,
}

/// Something in a folder that does not match its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyProblem {
    Missing {
        file: String,
    },
    SizeMismatch {
        file: String,
        manifest: u64,
        found: u64,
    },
    ChecksumMismatch {
        file: String,
        manifest: String,
        found: String,
    },
    RowCountMismatch {
        file: String,
        manifest: u64,
        found: u64,
    },
    Unreadable {
        file: String,
        error: String,
    },
    WrongSchema {
        file: String,
        error: String,
    },
    /// A Parquet file in the folder that the manifest does not list (readers ignore it).
    Unlisted {
        file: String,
    },
    /// A temporary file a killed writer left behind.
    StaleTemporary {
        file: String,
    },
}

impl std::fmt::Display for VerifyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyProblem::Missing { file } => write!(f, "{file}: listed in the manifest but missing"),
            VerifyProblem::SizeMismatch { file, manifest, found } => {
                write!(f, "{file}: {found} bytes, manifest says {manifest}")
            }
            VerifyProblem::ChecksumMismatch { file, manifest, found } => {
                write!(f, "{file}: xxh3 {found}, manifest says {manifest}")
            }
            VerifyProblem::RowCountMismatch { file, manifest, found } => {
                write!(f, "{file}: {found} rows, manifest says {manifest}")
            }
            VerifyProblem::Unreadable { file, error } => write!(f, "{file}: unreadable: {error}"),
            VerifyProblem::WrongSchema { file, error } => write!(f, "{file}: wrong schema: {error}"),
            VerifyProblem::Unlisted { file } => write!(f, "{file}: not listed in the manifest (ignored by readers)"),
            VerifyProblem::StaleTemporary { file } => write!(f, "{file}: temporary file left by an interrupted writer"),
        }
    }
}

impl Manifest {
    pub const FILE_NAME: &'static str = crate::layout::MANIFEST_FILE;

    pub fn new(kind: RecordKind, config: serde_json::Value, seed: Option<u64>) -> Self {
        let now = now_rfc3339();
        Manifest {
            format: FORMAT.to_owned(),
            kind,
            tool: ToolInfo { name: "wit".to_owned(), version: crate::TOOL_VERSION.to_owned() },
            created_at: now.clone(),
            updated_at: now,
            seed,
            config,
            complete: false,
            shards: Vec::new(),
            stats: serde_json::Value::Null,
            extra_columns: Vec::new(),
        }
    }

    pub fn path_in(dir: impl AsRef<Path>) -> PathBuf {
        dir.as_ref().join(Self::FILE_NAME)
    }

    /// The manifest of `dir`; an error names the file when it is missing or not a wit manifest.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let path = Self::path_in(&dir);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let legacy = dir.as_ref().join(crate::layout::LEGACY_MANIFEST_FILE);
                if legacy.is_file() {
                    return Err(ContractError::Manifest {
                        path: legacy,
                        problem: format!(
                            "a folder in the layout of an older wit (manifest.json beside its shards); this wit \
                             writes and reads {} with the shards in {}/: remove the folder and rerun the stage \
                             that made it",
                            crate::layout::MANIFEST_FILE,
                            crate::layout::DATA_DIR
                        ),
                    });
                }
                return Err(PathError::io(&path, e).into());
            }
            Err(e) => return Err(PathError::io(&path, e).into()),
        };
        Self::from_json(&bytes, path)
    }

    /// A manifest from its JSON text; `source` (a path or URL) names it in errors.
    pub fn from_json(bytes: &[u8], source: impl Into<PathBuf>) -> Result<Self> {
        let path = source.into();
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| ContractError::Manifest { path: path.clone(), problem: e.to_string() })?;
        if manifest.format != FORMAT {
            return Err(ContractError::Manifest {
                path,
                problem: format!("format {:?}, this wit reads {FORMAT:?}", manifest.format),
            });
        }
        Ok(manifest)
    }

    /// The stats of this manifest (read from `dir`) as the stage's stats type. Stats that do not parse
    /// are an error naming the manifest: merging or reporting them as zeros would lose counts.
    pub fn stats_as<T: serde::de::DeserializeOwned>(&self, dir: impl AsRef<Path>) -> Result<T, PathError> {
        serde_json::from_value(self.stats.clone()).map_err(|e| {
            PathError::input(Self::path_in(dir), format!("stats do not parse ({e}); written by another wit version?"))
        })
    }

    /// The manifest of `dir` if there is one.
    pub fn load_if_present(dir: impl AsRef<Path>) -> Result<Option<Self>> {
        match Self::load(&dir) {
            Ok(manifest) => Ok(Some(manifest)),
            Err(ContractError::Path(e)) if e.io_kind() == Some(io::ErrorKind::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes the manifest into `dir` atomically (temporary file, sync, rename).
    pub fn save(&mut self, dir: impl AsRef<Path>) -> Result<()> {
        self.updated_at = now_rfc3339();
        let path = Self::path_in(dir);
        let mut json = serde_json::to_vec_pretty(self)
            .map_err(|e| ContractError::Manifest { path: path.clone(), problem: e.to_string() })?;
        json.push(b'\n');
        remove_stale_manifest_temps(&path)?;
        write_file_atomically(&path, &json)
    }

    /// Records a finished shard, replacing an earlier entry for the same file.
    pub fn add_shard(&mut self, shard: ShardInfo) {
        self.shards.retain(|s| s.file != shard.file);
        self.shards.push(shard);
        self.shards.sort_by(|a, b| a.file.cmp(&b.file));
    }

    pub fn has_shard(&self, file: &str) -> bool {
        self.shards.iter().any(|s| s.file == file)
    }

    pub fn total_rows(&self) -> u64 {
        self.shards.iter().map(|s| s.rows).sum()
    }

    /// The paths of the listed shards, in manifest order.
    pub fn shard_paths(&self, dir: impl AsRef<Path>) -> Vec<PathBuf> {
        self.shards.iter().map(|s| dir.as_ref().join(&s.file)).collect()
    }

    /// The shards rank `rank` of `world_size` reads: every `world_size`-th, starting at `rank`.
    pub fn shards_for_rank(&self, rank: usize, world_size: usize) -> Vec<&ShardInfo> {
        let world_size = world_size.max(1);
        self.shards.iter().enumerate().filter(|(i, _)| i % world_size == rank).map(|(_, s)| s).collect()
    }

    /// Checks `dir` against this manifest; an empty list means every listed shard is whole.
    pub fn verify(&self, dir: impl AsRef<Path>) -> Result<Vec<VerifyProblem>> {
        let dir = dir.as_ref();
        let mut problems = Vec::new();
        for shard in &self.shards {
            problems.extend(self.verify_shard(dir, shard));
        }
        let home = crate::layout::data_home(dir);
        let mut strays = Vec::new();
        // An unlisted Parquet file beside the manifest is read by pyarrow's `read_table(folder)`,
        // one in data/ by every reader of the folder: both are reported.
        for (folder, listed) in [(dir.to_path_buf(), ""), (home.dir.clone(), home.listed)] {
            let entries = match fs::read_dir(&folder) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(PathError::io(&folder, e).into()),
            };
            for entry in entries {
                let entry = entry.at_path(&folder)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.starts_with(home.prefix.as_str()) && !listed.is_empty() {
                    continue; // another rank's shard
                }
                let file = format!("{listed}{name}");
                if is_temp_file_name(&name) {
                    strays.push(VerifyProblem::StaleTemporary { file });
                } else if name.ends_with(".parquet") && !self.has_shard(&file) {
                    strays.push(VerifyProblem::Unlisted { file });
                }
            }
        }
        strays.sort_by_key(|p| p.to_string());
        problems.extend(strays);
        Ok(problems)
    }

    fn verify_shard(&self, dir: &Path, shard: &ShardInfo) -> Option<VerifyProblem> {
        let path = dir.join(&shard.file);
        let file = shard.file.clone();
        let (bytes, xxh3) = match hash_file(&path) {
            Ok(found) => found,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Some(VerifyProblem::Missing { file }),
            Err(e) => return Some(VerifyProblem::Unreadable { file, error: e.to_string() }),
        };
        if bytes != shard.bytes {
            return Some(VerifyProblem::SizeMismatch { file, manifest: shard.bytes, found: bytes });
        }
        if xxh3 != shard.xxh3 {
            return Some(VerifyProblem::ChecksumMismatch { file, manifest: shard.xxh3.clone(), found: xxh3 });
        }
        let reader = match ShardReader::open(&path, &ReadOptions::default()) {
            Ok(reader) => reader,
            Err(e) => return Some(VerifyProblem::Unreadable { file, error: e.to_string() }),
        };
        let schema = reader.schema();
        if let Err(e) =
            check_compatible(&schema, self.kind).and_then(|_| crate::extra::check(&schema, &self.extra_columns))
        {
            return Some(VerifyProblem::WrongSchema { file, error: e.to_string() });
        }
        if reader.num_rows() != shard.rows {
            return Some(VerifyProblem::RowCountMismatch { file, manifest: shard.rows, found: reader.num_rows() });
        }
        None
    }
}

/// Size and xxh3 (16 hex digits) of a file, read in 1 MiB blocks.
pub fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = Xxh3::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        total += n as u64;
    }
    Ok((total, format!("{:016x}", hasher.digest())))
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Removes the temporary files an earlier save of the manifest at `path` left when its process was
/// killed mid-write. A manifest has one writer at a time (the process that owns its folder), so any
/// such file beside it is stale; a folder holding a manifest has few entries, so the look is cheap.
fn remove_stale_manifest_temps(path: &Path) -> Result<()> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else { return Ok(()) };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(PathError::io(dir, e).into()),
    };
    let own = format!(".{name}.");
    for entry in entries {
        let entry = entry.at_path(dir)?;
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with(&own) && is_temp_file_name(&file) {
            fs::remove_file(entry.path()).at_path(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_save_removes_what_a_killed_save_of_the_same_manifest_left() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join("._manifest.json.999999-0.tmp");
        let other = dir.path().join(".shard-00001.parquet.999999-1.tmp");
        fs::write(&stale, b"{").unwrap();
        fs::write(&other, b"x").unwrap();
        Manifest::new(RecordKind::Candidates, serde_json::json!({}), None).save(dir.path()).unwrap();
        assert!(!stale.exists(), "the manifest's own temp file goes");
        assert!(other.exists(), "another writer's temp file is not the manifest's to remove");
    }

    #[test]
    fn stats_that_do_not_parse_name_the_manifest() {
        #[derive(serde::Deserialize, Debug)]
        struct Stats {
            rows: u64,
        }
        let mut manifest = Manifest::new(RecordKind::Corpus, serde_json::json!({}), None);
        manifest.stats = serde_json::json!({"rows": "many"});
        let err = manifest.stats_as::<Stats>("x").unwrap_err();
        assert!(err.to_string().starts_with("x/_manifest.json: stats do not parse"), "{err}");
        manifest.stats = serde_json::json!({"rows": 2});
        assert_eq!(manifest.stats_as::<Stats>("x").unwrap().rows, 2);
    }
    use crate::records::{QueryEntry, QuerySource};
    use crate::writer::{shard_file_name, ShardWriter, WriterOptions};

    fn build(dir: &Path, shards: usize) -> Manifest {
        let mut manifest = Manifest::new(RecordKind::Queries, serde_json::json!({"min_count": 100}), Some(7));
        for i in 0..shards {
            let rows: Vec<QueryEntry> = (0..10)
                .map(|j| QueryEntry {
                    id: (i * 10 + j) as u32,
                    query: format!("w{i}{j}"),
                    source: QuerySource::Unigram,
                    count: 1,
                    pmi: None,
                })
                .collect();
            let mut writer =
                ShardWriter::for_records::<QueryEntry>(dir.join(shard_file_name(i)), &WriterOptions::default())
                    .unwrap();
            writer.write_records(&rows).unwrap();
            manifest.add_shard(writer.finish().unwrap());
        }
        manifest.complete = true;
        manifest.save(dir).unwrap();
        manifest
    }

    #[test]
    fn a_saved_manifest_loads_back_and_verifies_clean() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = build(dir.path(), 3);
        let loaded = Manifest::load(dir.path()).unwrap();
        assert_eq!(loaded.shards, manifest.shards);
        assert_eq!(loaded.seed, Some(7));
        assert_eq!(loaded.config["min_count"], 100);
        assert_eq!(loaded.total_rows(), 30);
        assert!(loaded.complete);
        assert_eq!(loaded.verify(dir.path()).unwrap(), vec![]);
    }

    #[test]
    fn verify_finds_every_kind_of_damage() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = build(dir.path(), 4);
        let shard = |i| dir.path().join(shard_file_name(i));
        fs::remove_file(shard(0)).unwrap();
        let mut bytes = fs::read(shard(1)).unwrap();
        bytes[10] ^= 0xff;
        fs::write(shard(1), &bytes).unwrap();
        fs::write(shard(2), b"short").unwrap();
        fs::write(dir.path().join("shard-00009.parquet"), b"x").unwrap();
        fs::write(dir.path().join(".shard-00010.parquet.1-0.tmp"), b"x").unwrap();
        let problems: Vec<String> = manifest.verify(dir.path()).unwrap().iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(problems[0].starts_with("shard-00000.parquet: listed in the manifest but missing"));
        assert!(problems[1].starts_with("shard-00001.parquet: xxh3"));
        assert!(problems[2].starts_with("shard-00002.parquet: 5 bytes"));
        assert!(problems.iter().any(|p| p.contains("shard-00009.parquet: not listed")));
        assert!(problems.iter().any(|p| p.contains("temporary file")));
    }

    #[test]
    fn ranks_split_shards_without_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = build(dir.path(), 5);
        let mut seen: Vec<String> =
            (0..2).flat_map(|r| manifest.shards_for_rank(r, 2)).map(|s| s.file.clone()).collect();
        seen.sort();
        assert_eq!(seen, manifest.shards.iter().map(|s| s.file.clone()).collect::<Vec<_>>());
        assert_eq!(manifest.shards_for_rank(1, 2).len(), 2);
    }

    #[test]
    fn a_foreign_or_missing_manifest_is_a_named_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Manifest::load_if_present(dir.path()).unwrap().is_none());
        fs::write(Manifest::path_in(dir.path()), b"{\"format\": \"other\"}").unwrap();
        let err = Manifest::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("manifest.json"), "{err}");
    }
}
