//! The memory-budgeted external sort behind every set and sort that can outgrow memory: records of
//! a fixed size ([`Entry`]: `(hash, at)`, 16 bytes — a key or image hash, and where the row lies;
//! or a stage's own [`SortRecord`]) are buffered up to the budget, spilled as sorted runs into a
//! scratch folder, and read back as one sorted stream by a k-way merge. Memory stays within the
//! budget (plus one read buffer per run) however many records go in.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::Result;
use wit_contract::{AtPath, PathError};

/// The default `--memory-budget`: 1 GiB.
pub const DEFAULT_MEMORY_BUDGET: u64 = 1 << 30;
/// The smallest budget a sorter uses (tests force spills with it).
pub const MIN_MEMORY_BUDGET: u64 = 1 << 10;
/// Runs merged at once: beyond this many spilled runs, they are merged into one first (a second
/// level of the external sort), so a tiny budget costs passes, never thousands of open files.
const MAX_RUNS: usize = 64;
/// Read buffer per spilled run during the merge.
const RUN_READ_BUFFER: usize = 64 << 10;

/// One sort entry: `hash` first, then `at` (a packed location or an order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entry {
    pub hash: u64,
    pub at: u64,
}

/// A fixed-size record the external sort can spill: little-endian u64 words, ordered as derived.
pub trait SortRecord: Copy + Ord + Send + 'static {
    /// Size on disk: 8 × the number of words.
    const WORDS: usize;
    fn write_words(&self, out: &mut Vec<u8>);
    fn from_words(words: &[u64]) -> Self;
}

impl SortRecord for Entry {
    const WORDS: usize = 2;

    fn write_words(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.hash.to_le_bytes());
        out.extend_from_slice(&self.at.to_le_bytes());
    }

    fn from_words(words: &[u64]) -> Self {
        Entry { hash: words[0], at: words[1] }
    }
}

impl Entry {
    pub const BYTES: usize = 16;

    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = Vec::with_capacity(16);
        self.write_words(&mut out);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&out);
        bytes
    }
}

/// Writes records into sorted runs within a memory budget; [`ExternalSorter::finish`] merges them.
pub struct ExternalSorter<R: SortRecord = Entry> {
    spill_dir: PathBuf,
    capacity: usize,
    buffer: Vec<R>,
    runs: Vec<PathBuf>,
    /// Merges of spilled runs into one so far.
    merges: usize,
    /// Bytes written to spilled runs.
    pub spilled_bytes: u64,
    pub entries: u64,
}

impl<R: SortRecord> ExternalSorter<R> {
    /// A sorter that buffers at most `budget` bytes of records and spills runs into `spill_dir`
    /// (created when needed; its run files are removed when the sorted stream is dropped).
    pub fn new(spill_dir: &Path, budget: u64) -> Self {
        let capacity = (budget.max(MIN_MEMORY_BUDGET) as usize / (R::WORDS * 8)).max(16);
        ExternalSorter {
            spill_dir: spill_dir.to_path_buf(),
            capacity,
            buffer: Vec::new(),
            runs: Vec::new(),
            merges: 0,
            spilled_bytes: 0,
            entries: 0,
        }
    }

    pub fn push(&mut self, entry: R) -> Result<()> {
        if self.buffer.len() >= self.capacity {
            self.spill()?;
        }
        if self.buffer.capacity() == 0 {
            self.buffer.reserve_exact(self.capacity.min(1 << 16));
        }
        self.buffer.push(entry);
        self.entries += 1;
        Ok(())
    }

    /// Every entry of a file written by [`write_entries`].
    pub fn push_file(&mut self, path: &Path) -> Result<u64> {
        let mut n = 0;
        for entry in read_records::<R>(path)? {
            self.push(entry?)?;
            n += 1;
        }
        Ok(n)
    }

    fn spill(&mut self) -> Result<()> {
        self.buffer.sort_unstable();
        std::fs::create_dir_all(&self.spill_dir).at_path(&self.spill_dir)?;
        let path = self.spill_dir.join(format!("run-{:05}.bin", self.runs.len()));
        write_records(&path, self.buffer.iter().copied())?;
        self.spilled_bytes += (self.buffer.len() * R::WORDS * 8) as u64;
        tracing::debug!(run = %path.display(), entries = self.buffer.len(), "spilled a sorted run");
        self.buffer.clear();
        self.runs.push(path);
        if self.runs.len() >= MAX_RUNS {
            self.compact()?;
        }
        Ok(())
    }

    /// Merges every spilled run into one (the runs' files are removed when the merge is done).
    fn compact(&mut self) -> Result<()> {
        let runs = std::mem::take(&mut self.runs);
        let path = self.spill_dir.join(format!("merged-{:05}.bin", self.merges));
        self.merges += 1;
        let merged = Sorted::<R>::open(runs, Vec::new(), true)?;
        let mut failed = None;
        write_records(&path, merged.map_while(|r| r.map_err(|e| failed = Some(e)).ok()))?;
        if let Some(e) = failed {
            return Err(e);
        }
        self.runs.push(path);
        Ok(())
    }

    /// Number of runs spilled so far (merged runs count as one each).
    pub fn runs(&self) -> usize {
        self.runs.len() + self.merges * (MAX_RUNS - 1)
    }

    /// Every record pushed, in ascending order (duplicates kept).
    pub fn finish(mut self) -> Result<Sorted<R>> {
        self.buffer.sort_unstable();
        let memory = std::mem::take(&mut self.buffer);
        Sorted::open(std::mem::take(&mut self.runs), memory, true)
    }
}

struct RunReader {
    path: PathBuf,
    reader: BufReader<File>,
}

impl RunReader {
    fn next_record<R: SortRecord>(&mut self) -> Result<Option<R>> {
        read_one(&mut self.reader, &self.path)
    }
}

fn read_one<R: SortRecord>(reader: &mut impl Read, path: &Path) -> Result<Option<R>> {
    let size = R::WORDS * 8;
    let mut bytes = [0u8; 64];
    let bytes = &mut bytes[..size];
    let mut filled = 0;
    while filled < size {
        match reader.read(&mut bytes[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => {
                return Err(
                    PathError::input(path, format!("truncated record file (not a multiple of {size} bytes)")).into()
                )
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(PathError::io(path, e).into()),
        }
    }
    let mut words = [0u64; 8];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        *word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
    }
    Ok(Some(R::from_words(&words[..R::WORDS])))
}

/// A sorted stream: the k-way merge of sorted run files (and an in-memory sorted tail). Removes
/// the run files when dropped if it owns them (a sorter's spills), never files it was given.
pub struct Sorted<R: SortRecord = Entry> {
    heap: BinaryHeap<Reverse<(R, usize)>>,
    readers: Vec<RunReader>,
    memory: std::vec::IntoIter<R>,
    runs: Vec<PathBuf>,
    owned: bool,
}

impl<R: SortRecord> Sorted<R> {
    fn open(runs: Vec<PathBuf>, memory: Vec<R>, owned: bool) -> Result<Self> {
        let mut readers = Vec::with_capacity(runs.len());
        let mut heap = BinaryHeap::new();
        for (i, path) in runs.iter().enumerate() {
            let file = File::open(path).at_path(path)?;
            let mut reader = RunReader { path: path.clone(), reader: BufReader::with_capacity(RUN_READ_BUFFER, file) };
            if let Some(record) = reader.next_record::<R>()? {
                heap.push(Reverse((record, i)));
            }
            readers.push(reader);
        }
        let mut memory = memory.into_iter();
        if let Some(record) = memory.next() {
            heap.push(Reverse((record, readers.len())));
        }
        Ok(Sorted { heap, readers, memory, runs, owned })
    }

    /// The merge of files each already sorted (written by [`write_records`] from a sorted stream).
    pub fn merge_files(paths: Vec<PathBuf>) -> Result<Self> {
        Sorted::open(paths, Vec::new(), false)
    }
}

impl<R: SortRecord> Iterator for Sorted<R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        let Reverse((entry, source)) = self.heap.pop()?;
        let refill =
            if source == self.readers.len() { Ok(self.memory.next()) } else { self.readers[source].next_record::<R>() };
        match refill {
            Ok(Some(next)) => self.heap.push(Reverse((next, source))),
            Ok(None) => {}
            Err(e) => return Some(Err(e)),
        }
        Some(Ok(entry))
    }
}

impl<R: SortRecord> Drop for Sorted<R> {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        for run in &self.runs {
            let _ = std::fs::remove_file(run);
        }
    }
}

/// Writes `entries` to `path` atomically (a temporary name, then renamed).
pub fn write_entries(path: &Path, entries: impl IntoIterator<Item = Entry>) -> Result<u64> {
    write_records(path, entries)
}

/// Writes `records` to `path` atomically (a temporary name, then renamed).
pub fn write_records<R: SortRecord>(path: &Path, records: impl IntoIterator<Item = R>) -> Result<u64> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).at_path(dir)?;
    }
    let temp = path.with_extension("bin.tmp");
    let file = File::create(&temp).at_path(&temp)?;
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    let mut n = 0u64;
    let mut bytes = Vec::with_capacity(R::WORDS * 8);
    for record in records {
        bytes.clear();
        record.write_words(&mut bytes);
        writer.write_all(&bytes).at_path(&temp)?;
        n += 1;
    }
    let file = writer.into_inner().map_err(|e| PathError::io(&temp, e.into_error()))?;
    file.sync_all().at_path(&temp)?;
    std::fs::rename(&temp, path).at_path(path)?;
    Ok(n)
}

/// The entries of a file written by [`write_entries`], streamed.
pub fn read_entries(path: &Path) -> Result<impl Iterator<Item = Result<Entry>>> {
    read_records::<Entry>(path)
}

/// The records of a file written by [`write_records`], streamed.
pub fn read_records<R: SortRecord>(path: &Path) -> Result<impl Iterator<Item = Result<R>>> {
    let file = File::open(path).at_path(path)?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let path = path.to_path_buf();
    Ok(std::iter::from_fn(move || read_one::<R>(&mut reader, &path).transpose()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn spilled_sort_equals_in_memory_sort(values in proptest::collection::vec((0u64..500, any::<u64>()), 0..9000)) {
            let dir = tempfile::tempdir().unwrap();
            // 4 KiB holds 256 entries: 9000 entries spill 35 times.
            let mut sorter = ExternalSorter::new(dir.path(), 4096);
            let mut expected: Vec<Entry> = values.iter().map(|&(hash, at)| Entry { hash, at }).collect();
            for &e in &expected {
                sorter.push(e).unwrap();
            }
            let runs = sorter.runs();
            prop_assert_eq!(runs, expected.len().saturating_sub(1) / 256);
            let sorted: Vec<Entry> = sorter.finish().unwrap().map(Result::unwrap).collect();
            expected.sort();
            prop_assert_eq!(sorted, expected);
            prop_assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "runs removed");
        }
    }

    #[test]
    fn a_tiny_budget_merges_runs_in_levels() {
        let dir = tempfile::tempdir().unwrap();
        // 64 entries per run, 20,000 entries: 312 runs, merged every 64.
        let mut sorter = ExternalSorter::new(dir.path(), MIN_MEMORY_BUDGET);
        let mut expected = Vec::new();
        for i in 0..20_000u64 {
            let e = Entry { hash: i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 997, at: i };
            sorter.push(e).unwrap();
            expected.push(e);
        }
        assert!(sorter.merges >= 4 && sorter.runs.len() < MAX_RUNS, "{} merges", sorter.merges);
        let sorted: Vec<Entry> = sorter.finish().unwrap().map(Result::unwrap).collect();
        expected.sort();
        assert_eq!(sorted, expected);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "runs removed");
    }

    #[test]
    fn entry_files_round_trip_and_truncation_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        let entries = [Entry { hash: 1, at: u64::MAX }, Entry { hash: u64::MAX, at: 0 }];
        write_entries(&path, entries).unwrap();
        let back: Vec<Entry> = read_entries(&path).unwrap().map(Result::unwrap).collect();
        assert_eq!(back, entries);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..20]).unwrap();
        let err = read_entries(&path).unwrap().nth(1).unwrap().unwrap_err().to_string();
        assert!(err.contains("a.bin") && err.contains("truncated"), "{err}");
    }
}
