//! A corpus without some of its rows: each input shard is read a batch at a time, the rows a
//! decision drops are filtered out (every column kept as it is, extra columns included), and the
//! kept rows go to the shard of the same number in the output folder; what was dropped and why
//! goes to a side table (`OUT/_near_duplicates/`, `OUT/_decontaminated/`: `_`-named so corpus
//! readers skip it, a `data/` folder of Parquet files any reader takes).
//!
//! Ranks: rank R of N takes the input shards `i` with `i mod N = R`, writes
//! `OUT/data/rank-R-of-N-shard-i.parquet` and its manifest under `OUT/_ranks/`, and [`merge`]
//! lists every rank's shards in `OUT/_manifest.json` (metadata only, nothing copied).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::BooleanArray;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use wit_contract::layout::{bare_shard_name, shard_path};
use wit_contract::{copy_kept_rows, Manifest, ReadOptions, RecordKind, ShardReader, ShardWriter, WriterOptions};
use wit_ranks::RankOf;

use crate::error::{DedupError, Result};

/// Rows read per batch.
pub const BATCH: usize = 1024;

/// Refuses an output folder that is the input (the input's shards are read while writing).
pub fn distinct_output(corpus: &Path, out: &Path) -> Result<()> {
    let same = match (corpus.canonicalize(), out.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => corpus == out,
    };
    if same {
        return Err(DedupError::input(out, "the output folder is the input corpus; write to another folder"));
    }
    Ok(())
}

/// The input shards of a corpus folder a rank takes: (shard number, path), in number order.
pub fn input_shards(corpus: &Path, me: RankOf) -> Result<(Manifest, Vec<(usize, PathBuf)>)> {
    let manifest = Manifest::load(corpus)?;
    if manifest.kind != RecordKind::Corpus {
        return Err(DedupError::input(corpus, format!("a {} folder, not a corpus", manifest.kind)));
    }
    if !manifest.complete {
        return Err(DedupError::input(corpus, "its manifest is not complete (is fetch still running?)"));
    }
    let shards = manifest
        .shards
        .iter()
        .enumerate()
        .filter(|(i, _)| i % me.world_size == me.rank)
        .map(|(i, shard)| (i, corpus.join(&shard.file)))
        .collect();
    Ok((manifest, shards))
}

/// Where a rank writes: `OUT` itself (world size 1) or `OUT/_ranks/rank-R-of-N`.
pub fn home(out: &Path, me: RankOf) -> PathBuf {
    if me.world_size == 1 {
        out.to_path_buf()
    } else {
        me.dir(out)
    }
}

/// A Parquet side table of one rank (`OUT/SIDE/data/[rank-R-of-N-]part.parquet`), written as rows come.
pub struct SideTable {
    path: PathBuf,
    temp: PathBuf,
    writer: ArrowWriter<std::fs::File>,
    pub rows: u64,
}

impl SideTable {
    pub fn create(out: &Path, side: &str, me: RankOf, schema: SchemaRef) -> Result<SideTable> {
        let dir = out.join(side).join(wit_contract::DATA_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| DedupError::io(&dir, e))?;
        let path = dir.join(side_part_name(me));
        let temp = path.with_extension("parquet.tmp");
        let file = std::fs::File::create(&temp).map_err(|e| DedupError::io(&temp, e))?;
        let writer = ArrowWriter::try_new(file, schema, None).map_err(|e| DedupError::input(&temp, e.to_string()))?;
        Ok(SideTable { path, temp, writer, rows: 0 })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch).map_err(|e| DedupError::input(&self.temp, e.to_string()))
    }

    pub fn finish(self) -> Result<PathBuf> {
        self.writer.close().map_err(|e| DedupError::input(&self.temp, e.to_string()))?;
        std::fs::rename(&self.temp, &self.path).map_err(|e| DedupError::io(&self.path, e))?;
        Ok(self.path)
    }
}

/// The file a rank's part of a side table goes to.
fn side_part_name(me: RankOf) -> String {
    if me.world_size == 1 {
        "part.parquet".to_owned()
    } else {
        format!("rank-{}-part.parquet", me.suffix())
    }
}

/// Removes what an earlier run into the same folder left and this one did not write: Parquet
/// files in `OUT/data/` the folder's (final) manifest does not list (from another corpus or world
/// size; readers of the folder would take them for rows), parts of the side table `side` other than
/// this run's, and temporary files. Call it once the folder's manifest is final (world size 1, or
/// the merge): ranks of one run never see another's files go. Returns how many files it removed.
pub fn remove_stale_files(out: &Path, side: &str, world_size: usize) -> Result<usize> {
    let manifest = Manifest::load(out)?;
    let name_of = |file: &str| Path::new(file).file_name().map(|n| n.to_string_lossy().into_owned());
    let listed: HashSet<String> = manifest.shards.iter().filter_map(|s| name_of(&s.file)).collect();
    let written: HashSet<String> = (0..world_size).map(|rank| side_part_name(RankOf::new(rank, world_size))).collect();
    let mut removed = 0;
    for (dir, keep) in
        [(out.join(wit_contract::DATA_DIR), &listed), (out.join(side).join(wit_contract::DATA_DIR), &written)]
    {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(DedupError::io(&dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| DedupError::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = name.ends_with(".parquet") || (name.starts_with('.') && name.ends_with(".tmp"));
            if ours && !keep.contains(&name) {
                tracing::info!(file = %entry.path().display(), "removing a file an earlier run left");
                std::fs::remove_file(entry.path()).map_err(|e| DedupError::io(&entry.path(), e))?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Copies shard `index` (at `input`) into the rank's output, keeping the rows `keep` says to keep
/// for each batch (`first_row` is the batch's first row number in the shard).
pub fn filter_shard(
    input: &Path,
    index: usize,
    rank_home: &Path,
    manifest: &mut Manifest,
    mut keep: impl FnMut(&RecordBatch, u32) -> Result<BooleanArray>,
) -> Result<(u64, u64)> {
    let reader = ShardReader::open_kind(input, RecordKind::Corpus, &ReadOptions { batch_size: BATCH, columns: None })?;
    let schema: SchemaRef = Arc::clone(&reader.schema());
    let mut writer = ShardWriter::create(shard_path(rank_home, index), schema, &WriterOptions::default())?;
    let dropped = copy_kept_rows(reader, &mut writer, |batch, first_row| keep(batch, first_row as u32))?;
    let kept = writer.rows();
    manifest.add_shard(writer.finish()?);
    Ok((kept, dropped))
}

/// Lists every rank's shards in `OUT/_manifest.json` (world size > 1, after every rank).
pub fn merge(out: &Path, world_size: usize, config: serde_json::Value, stats: serde_json::Value) -> Result<Manifest> {
    let mut merged = Manifest::new(RecordKind::Corpus, config, None);
    for rank in 0..world_size {
        let me = RankOf::new(rank, world_size);
        let dir = me.dir(out);
        let manifest = Manifest::load(&dir)?;
        if !manifest.complete {
            return Err(DedupError::input(&dir, "rank not finished"));
        }
        for shard in manifest.shards {
            merged.add_shard(wit_contract::ShardInfo { file: me.listed(&shard.file), ..shard });
        }
    }
    merged.shards.sort_by(|a, b| bare_shard_name(&a.file).cmp(bare_shard_name(&b.file)));
    merged.stats = stats;
    merged.complete = true;
    merged.save(out)?;
    Ok(merged)
}
