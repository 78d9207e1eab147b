//! The eval set, read from what eval sets ship as: a folder of images (captions, if any, in a
//! `.txt` of the same stem, as WebDataset and many class folders do), Parquet files with an image
//! column (`image` as bytes, or HF's `{bytes, path}` struct) and an optional `caption`/`text`
//! column, and WebDataset tars (`KEY.jpg` + `KEY.txt`). Folders are walked recursively; names
//! starting with `_` or `.` are skipped (a wit corpus folder reads as its `data/` shards).
//!
//! An eval set is held in memory (one hash and the caption n-grams per item): eval sets are
//! thousands to a few hundred thousand items, the corpus is what must stream.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, BinaryArray, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use wit_dedup::{DedupError, Result};

/// Image extensions read from folders and tars.
const IMAGE_EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "webp", "gif"];
/// Most pixels an eval image may have (as fetch's default).
const MAX_PIXELS: u64 = 100_000_000;
const MAX_DECODE_BYTES: u64 = 1 << 30;

/// One eval item: where it came from, its image hash (None: no image or unreadable) and caption.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalItem {
    pub name: String,
    pub hash: Option<u64>,
    pub caption: Option<String>,
}

/// Every item of the eval sources, and the unreadable images (name and reason), counted apart.
#[derive(Debug, Default)]
pub struct EvalSet {
    pub items: Vec<EvalItem>,
    pub unreadable: Vec<(String, String)>,
}

impl EvalSet {
    pub fn read(sources: &[PathBuf]) -> Result<EvalSet> {
        let mut set = EvalSet::default();
        for source in sources {
            if !source.exists() {
                return Err(DedupError::input(source, "no such file or folder"));
            }
            set.read_path(source)?;
        }
        Ok(set)
    }

    fn read_path(&mut self, path: &Path) -> Result<()> {
        if path.is_dir() {
            return self.read_folder(path);
        }
        match extension(path).as_str() {
            "parquet" => self.read_parquet(path),
            "tar" => self.read_tar(path),
            ext if IMAGE_EXTENSIONS.contains(&ext) => {
                let bytes = std::fs::read(path).map_err(|e| DedupError::io(path, e))?;
                self.push_image(path.display().to_string(), &bytes, caption_beside(path));
                Ok(())
            }
            _ => Err(DedupError::input(path, "not an image, .parquet or .tar file")),
        }
    }

    fn read_folder(&mut self, dir: &Path) -> Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| DedupError::io(dir, e))?
            .map(|entry| entry.map(|e| e.path()).map_err(|e| DedupError::io(dir, e)))
            .collect::<Result<_>>()?;
        entries.sort();
        for path in entries {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            let ext = extension(&path);
            if path.is_dir() || ext == "parquet" || ext == "tar" || IMAGE_EXTENSIONS.contains(&ext.as_str()) {
                self.read_path(&path)?;
            }
        }
        Ok(())
    }

    fn read_parquet(&mut self, path: &Path) -> Result<()> {
        let file = std::fs::File::open(path).map_err(|e| DedupError::io(path, e))?;
        let parquet = |e: parquet::errors::ParquetError| DedupError::input(path, e.to_string());
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(parquet)?
            .with_batch_size(256)
            .build()
            .map_err(parquet)?;
        let mut row = 0usize;
        for batch in reader {
            let batch = batch.map_err(|e| DedupError::input(path, e.to_string()))?;
            let images = match batch.column_by_name("image") {
                Some(column) => Some(image_bytes(column).map_err(|e| DedupError::input(path, e))?),
                None => None,
            };
            let captions = ["caption", "text"]
                .iter()
                .find_map(|name| batch.column_by_name(name))
                .map(|c| cast(c, &DataType::Utf8).map(|c| c.as_string::<i32>().clone()))
                .transpose()
                .map_err(|e| DedupError::input(path, format!("caption column: {e}")))?;
            if images.is_none() && captions.is_none() {
                return Err(DedupError::input(path, "no `image`, `caption` or `text` column"));
            }
            for i in 0..batch.num_rows() {
                let name = format!("{}#{row}", path.display());
                row += 1;
                let caption =
                    captions.as_ref().and_then(|c: &StringArray| c.is_valid(i).then(|| c.value(i).to_owned()));
                match images.as_ref().filter(|images| images.is_valid(i)) {
                    Some(images) => self.push_image(name, images.value(i), caption),
                    None => self.items.push(EvalItem { name, hash: None, caption }),
                }
            }
        }
        Ok(())
    }

    fn read_tar(&mut self, path: &Path) -> Result<()> {
        let file = std::fs::File::open(path).map_err(|e| DedupError::io(path, e))?;
        let mut archive = tar::Archive::new(std::io::BufReader::new(file));
        // A sample's files are consecutive in a WebDataset tar; keep the open sample only.
        let mut sample: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut current = String::new();
        let entries = archive.entries().map_err(|e| DedupError::io(path, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| DedupError::io(path, e))?;
            let name = entry.path().map_err(|e| DedupError::io(path, e))?.to_string_lossy().into_owned();
            let Some((key, ext)) = name.split_once('.') else { continue };
            if key != current {
                self.push_sample(path, &current, std::mem::take(&mut sample));
                current = key.to_owned();
            }
            let mut bytes = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut bytes).map_err(|e| DedupError::io(path, e))?;
            sample.insert(ext.to_ascii_lowercase(), bytes);
        }
        self.push_sample(path, &current, sample);
        Ok(())
    }

    fn push_sample(&mut self, tar: &Path, key: &str, sample: BTreeMap<String, Vec<u8>>) {
        if sample.is_empty() {
            return;
        }
        let caption = sample.get("txt").map(|t| String::from_utf8_lossy(t).into_owned());
        let name = format!("{}:{key}", tar.display());
        match IMAGE_EXTENSIONS.iter().find_map(|ext| sample.get(*ext)) {
            Some(bytes) => self.push_image(name, bytes, caption),
            None => self.items.push(EvalItem { name, hash: None, caption }),
        }
    }

    fn push_image(&mut self, name: String, bytes: &[u8], caption: Option<String>) {
        match wit_imaging::phash_of(bytes, MAX_PIXELS, MAX_DECODE_BYTES) {
            Ok(hash) => self.items.push(EvalItem { name, hash: Some(hash), caption }),
            Err(e) => {
                self.unreadable.push((name.clone(), e.to_string()));
                self.items.push(EvalItem { name, hash: None, caption });
            }
        }
    }
}

fn extension(path: &Path) -> String {
    path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default()
}

/// `NAME.txt` beside `NAME.jpg`, if there is one.
fn caption_beside(image: &Path) -> Option<String> {
    std::fs::read_to_string(image.with_extension("txt")).ok()
}

/// The bytes of an `image` column: binary, or a struct with a `bytes` field (HF datasets' Image).
fn image_bytes(column: &dyn Array) -> std::result::Result<BinaryArray, String> {
    let column = match column.data_type() {
        DataType::Struct(_) => {
            let s = column.as_struct();
            s.column_by_name("bytes").ok_or("the image struct has no `bytes` field")?.clone()
        }
        _ => arrow::array::make_array(column.to_data()),
    };
    let binary = cast(&column, &DataType::Binary).map_err(|e| format!("image column: {e}"))?;
    Ok(binary.as_binary::<i32>().clone())
}
