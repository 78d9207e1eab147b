//! The partitioned merge, with files: exact deduplication of hashes (pair keys, image bytes) across
//! every rank, as a wave of bucket ranks instead of one process holding every hash.
//!
//! 1. [`send_to_buckets`]: rank R writes one `(hash, at)` entry per row into B bucket files by
//!    hash (`_buckets/to-bucket-B-of-N/from-rank-R.bin`); `at` is where the row lies, packed so
//!    that the row that must win (the one process's first) has the smallest `at`.
//! 2. [`find_duplicates`]: bucket rank B sorts bucket B of every rank within the memory budget
//!    (external sort) and, for each hash, keeps the smallest `at` and sends every other one to the
//!    rank that owns it (`_drops/to-rank-R-of-N/from-bucket-B.bin`, entries `(dropped, winner)`).
//! 3. [`read_drops`]: rank R reads its drop lists in location order and rewrites its own shards.
//!
//! No step holds more than the budget; each reads 16 bytes per row, never the rows themselves.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::names::{bucket_dir, drops_dir, RankOf};
use crate::sort::{read_entries, Entry, ExternalSorter, SortRecord, Sorted};
use wit_contract::{AtPath, PathError};

/// A row's location: `major` (an input or rank/shard number) then `minor` (a row), packed into the
/// `at` of an entry so that ordering `at` orders (major, minor).
pub fn pack(major: u32, minor: u32) -> u64 {
    ((major as u64) << 32) | minor as u64
}

/// The (major, minor) of a packed location.
pub fn unpack(at: u64) -> (u32, u32) {
    ((at >> 32) as u32, at as u32)
}

/// The bucket of `hash` among `buckets` (uniform for uniform hashes such as xxh3).
pub fn bucket_of(hash: u64, buckets: usize) -> usize {
    ((hash as u128 * buckets as u128) >> 64) as usize
}

/// What one step of the shuffle did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShuffleStats {
    /// Entries read or written.
    pub entries: u64,
    /// Bytes of entry files read or written.
    pub bytes: u64,
    /// Later duplicates found (find) or received (read).
    pub duplicates: u64,
    /// Sorted runs spilled to disk, and their bytes.
    pub spilled_runs: u64,
    pub spilled_bytes: u64,
}

/// Files a step writes one stream of records into per destination rank (bucket files, drop lists),
/// each through a small buffer, so that what a step sends never has to fit in memory; renamed into
/// place by [`BucketWriter::finish`] (a killed step leaves only temporary files).
pub struct BucketWriter {
    paths: Vec<PathBuf>,
    temps: Vec<PathBuf>,
    writers: Vec<BufWriter<File>>,
    /// One record's bytes.
    scratch: Vec<u8>,
}

impl BucketWriter {
    /// One file per path (its folder created), written from empty.
    pub fn create(paths: Vec<PathBuf>) -> Result<Self> {
        let mut temps = Vec::with_capacity(paths.len());
        let mut writers = Vec::with_capacity(paths.len());
        for path in &paths {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).at_path(dir)?;
            }
            let temp = path.with_extension("bin.tmp");
            let file = File::create(&temp).at_path(&temp)?;
            writers.push(BufWriter::with_capacity(64 << 10, file));
            temps.push(temp);
        }
        Ok(BucketWriter { paths, temps, writers, scratch: Vec::new() })
    }

    /// Appends `record` to file `to` (as [`crate::sort::read_records`] reads it back).
    pub fn write<R: SortRecord>(&mut self, to: usize, record: &R) -> Result<()> {
        self.scratch.clear();
        record.write_words(&mut self.scratch);
        Ok(self.writers[to].write_all(&self.scratch).at_path(&self.temps[to])?)
    }

    /// Flushes, syncs and renames every file into place.
    pub fn finish(self) -> Result<()> {
        for ((writer, temp), path) in self.writers.into_iter().zip(&self.temps).zip(&self.paths) {
            let file = writer.into_inner().map_err(|e| PathError::io(temp, e.into_error()))?;
            file.sync_all().at_path(temp)?;
            std::fs::rename(temp, path).at_path(path)?;
        }
        Ok(())
    }
}

/// Step 1: rank `me` sends one entry per row to the bucket its hash falls in (every bucket gets a
/// file, empty or not, so a bucket rank can tell a rank that sent nothing from one not yet done).
pub fn send_to_buckets(out: &Path, me: RankOf, entries: impl IntoIterator<Item = Entry>) -> Result<ShuffleStats> {
    let buckets = me.world_size;
    let mut writer = BucketWriter::create((0..buckets).map(|b| me.bucket_file(out, b)).collect())?;
    let mut stats = ShuffleStats::default();
    for entry in entries {
        writer.write(bucket_of(entry.hash, buckets), &entry)?;
        stats.entries += 1;
    }
    writer.finish()?;
    stats.bytes = stats.entries * Entry::BYTES as u64;
    Ok(stats)
}

/// Step 2: bucket rank `bucket` finds, for every hash of its bucket, the winning (smallest) location
/// and sends every other location to its owner (`owner(at)`: the rank that holds that row).
pub fn find_duplicates(
    out: &Path,
    bucket: RankOf,
    spill_dir: &Path,
    budget: u64,
    owner: impl Fn(u64) -> usize,
) -> Result<ShuffleStats> {
    let mut sorter = ExternalSorter::<Entry>::new(spill_dir, budget);
    let dir = bucket_dir(out, bucket);
    for rank in 0..bucket.world_size {
        let path = RankOf::new(rank, bucket.world_size).bucket_file(out, bucket.rank);
        if !path.exists() {
            return Err(PathError::input(
                &path,
                format!("missing: rank {rank} has not sent its entries (not finished?)"),
            )
            .into());
        }
        sorter.push_file(&path)?;
    }
    let mut stats = ShuffleStats {
        entries: sorter.entries,
        bytes: sorter.entries * Entry::BYTES as u64,
        spilled_runs: sorter.runs() as u64,
        spilled_bytes: sorter.spilled_bytes,
        ..Default::default()
    };
    let mut writer = BucketWriter::create((0..bucket.world_size).map(|r| bucket.drops_file(out, r)).collect())?;
    let mut current: Option<Entry> = None;
    let sorted = sorter.finish()?;
    for entry in sorted {
        let entry = entry?;
        match current {
            Some(winner) if winner.hash == entry.hash => {
                let to = owner(entry.at);
                if to >= bucket.world_size {
                    return Err(PathError::input(&dir, format!("location {:#x} belongs to rank {to}", entry.at)).into());
                }
                writer.write(to, &Entry { hash: entry.at, at: winner.at })?;
                stats.duplicates += 1;
            }
            _ => current = Some(entry),
        }
    }
    writer.finish()?;
    Ok(stats)
}

/// Step 3: the drop lists of rank `me` from every bucket, as one stream of `(dropped, winner)`
/// entries in location order.
pub fn read_drops(out: &Path, me: RankOf, spill_dir: &Path, budget: u64) -> Result<(Sorted<Entry>, ShuffleStats)> {
    let mut sorter = ExternalSorter::<Entry>::new(spill_dir, budget);
    let dir = drops_dir(out, me);
    for bucket in 0..me.world_size {
        let path = RankOf::new(bucket, me.world_size).drops_file(out, me.rank);
        if !path.exists() {
            return Err(PathError::input(&path, format!("missing: bucket rank {bucket} has not finished")).into());
        }
        sorter.push_file(&path)?;
    }
    let stats = ShuffleStats {
        entries: sorter.entries,
        bytes: sorter.entries * Entry::BYTES as u64,
        duplicates: sorter.entries,
        spilled_runs: sorter.runs() as u64,
        spilled_bytes: sorter.spilled_bytes,
    };
    tracing::debug!(dir = %dir.display(), drops = stats.entries, "read drop lists");
    Ok((sorter.finish()?, stats))
}

/// One process (world size 1): the later duplicates among `entries`, through the same external
/// sort — a stream of `(dropped, winner)` entries in location order.
pub fn duplicates_in(entries: impl IntoIterator<Item = Entry>, spill_dir: &Path, budget: u64) -> Result<Sorted<Entry>> {
    let mut sorter = ExternalSorter::<Entry>::new(&spill_dir.join("entries"), budget);
    for entry in entries {
        sorter.push(entry)?;
    }
    let mut dropped = ExternalSorter::<Entry>::new(&spill_dir.join("dropped"), budget);
    let mut current: Option<Entry> = None;
    for entry in sorter.finish()? {
        let entry = entry?;
        match current {
            Some(winner) if winner.hash == entry.hash => dropped.push(Entry { hash: entry.at, at: winner.at })?,
            _ => current = Some(entry),
        }
    }
    dropped.finish()
}

/// Every entry of a file (tests, tools).
pub fn entries_of(path: &Path) -> Result<Vec<Entry>> {
    read_entries(path)?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sort::MIN_MEMORY_BUDGET;
    use std::collections::HashMap;

    /// Rows of `ranks` ranks, some hashes repeated within and across ranks: the shuffle's drops
    /// equal what one pass over all rows in location order drops.
    #[test]
    fn the_shuffle_drops_exactly_the_later_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let n = 3;
        let rows_per_rank = 7000u32;
        let hash_of = |rank: u32, row: u32| (((rank * 7919 + row) % 5003) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for rank in 0..n {
            let me = RankOf::new(rank, n);
            let entries =
                (0..rows_per_rank).map(|row| Entry { hash: hash_of(rank as u32, row), at: pack(rank as u32, row) });
            assert_eq!(send_to_buckets(out, me, entries).unwrap().entries, rows_per_rank as u64);
        }
        let mut found = 0;
        for bucket in 0..n {
            let spill = out.join(format!("spill-{bucket}"));
            let stats =
                find_duplicates(out, RankOf::new(bucket, n), &spill, MIN_MEMORY_BUDGET, |at| unpack(at).0 as usize)
                    .unwrap();
            found += stats.duplicates;
        }
        // One process: first occurrence in (rank, row) order wins.
        let mut first: HashMap<u64, u64> = HashMap::new();
        let mut expected: Vec<Vec<(u64, u64)>> = vec![Vec::new(); n];
        for rank in 0..n as u32 {
            for row in 0..rows_per_rank {
                let at = pack(rank, row);
                match first.get(&hash_of(rank, row)) {
                    Some(&winner) => expected[rank as usize].push((at, winner)),
                    None => {
                        first.insert(hash_of(rank, row), at);
                    }
                }
            }
        }
        assert_eq!(found as usize, expected.iter().map(Vec::len).sum::<usize>());
        assert!(found > 10_000, "a real test: {found}");
        for (rank, want) in expected.iter().enumerate() {
            let spill = out.join(format!("read-{rank}"));
            let (sorted, stats) = read_drops(out, RankOf::new(rank, n), &spill, MIN_MEMORY_BUDGET).unwrap();
            let got: Vec<(u64, u64)> = sorted.map(|e| e.map(|e| (e.hash, e.at)).unwrap()).collect();
            assert_eq!(&got, want, "rank {rank}");
            // 1 KiB holds 64 entries: every rank's drop list spilled.
            assert!(stats.spilled_runs > 0 && got.len() > 64, "rank {rank}: {} drops", got.len());
        }
        let one: Vec<(u64, u64)> = duplicates_in(
            (0..n as u32)
                .flat_map(|r| (0..rows_per_rank).map(move |row| Entry { hash: hash_of(r, row), at: pack(r, row) })),
            &out.join("one"),
            MIN_MEMORY_BUDGET,
        )
        .unwrap()
        .map(|e| e.map(|e| (e.hash, e.at)).unwrap())
        .collect();
        let all: Vec<(u64, u64)> = expected.iter().flatten().copied().collect();
        assert_eq!(one, all);
    }

    #[test]
    fn a_missing_rank_is_named() {
        let dir = tempfile::tempdir().unwrap();
        send_to_buckets(dir.path(), RankOf::new(0, 2), [Entry { hash: 1, at: 0 }]).unwrap();
        let err = find_duplicates(dir.path(), RankOf::new(0, 2), &dir.path().join("s"), MIN_MEMORY_BUDGET, |_| 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("from-rank-00001.bin") && err.contains("rank 1"), "{err}");
    }

    #[test]
    fn buckets_are_uniform_and_in_range() {
        let mut counts = [0u32; 4];
        for i in 0..40_000u64 {
            counts[bucket_of(xxh(i), 4)] += 1;
        }
        assert!(counts.iter().all(|&c| (9_000..11_000).contains(&c)), "{counts:?}");
        assert_eq!(bucket_of(u64::MAX, 7), 6);
    }

    fn xxh(i: u64) -> u64 {
        i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i >> 7)
    }
}
