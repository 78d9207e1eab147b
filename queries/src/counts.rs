//! Exact unigram and bigram counts with bounded memory (external aggregation).
//!
//! Each worker counts into its own hash table. When the table's estimated size passes the worker's
//! share of the memory budget it is sorted and written to disk as a *run* (atomically: temporary
//! name, then rename) and emptied. At the end every table becomes one more sorted run in memory and
//! a k-way merge over all runs yields each key once, counts summed, in byte order. The spill path
//! and the in-memory path therefore produce the same stream.
//!
//! Keys are the tokens themselves (unigrams) and `"a b"` (bigrams): a token never holds a space, so
//! a space tells the two apart. Run file: `WITRUN1\n`, then (varint key length, key, varint count)
//! per entry, then a zero length as the end marker, so a cut-off run is detected.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustc_hash::FxBuildHasher;

use crate::error::Result;
use crate::tokens::for_each_token;
use wit_contract::{AtPath, PathError};

const RUN_MAGIC: &[u8] = b"WITRUN1\n";
/// Estimated bytes per table entry beyond the key: the boxed key, the count, the hash table's
/// control byte and load factor, and the allocator's overhead.
const ENTRY_OVERHEAD: usize = 64;

/// Where runs go: a folder and a counter shared by all workers.
#[derive(Debug, Clone)]
pub struct SpillDir {
    dir: PathBuf,
    next: Arc<AtomicU64>,
}

impl SpillDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SpillDir { dir: dir.into(), next: Arc::new(AtomicU64::new(0)) }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn next_path(&self) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("run-{n:06}.run"))
    }
}

/// Token totals of a counted text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Totals {
    /// Token occurrences (N of the PMI formula).
    pub tokens: u64,
    pub bigrams: u64,
}

impl Totals {
    pub fn add(&mut self, other: Totals) {
        self.tokens += other.tokens;
        self.bigrams += other.bigrams;
    }
}

/// Sorted (key, count) entries held in memory.
pub type SortedEntries = Vec<(Box<str>, u64)>;

/// Estimated bytes per bigram entry: the (id pair, count) slot at the table's load factor.
const BIGRAM_ENTRY_BYTES: usize = 24;

/// One worker's counts. Tokens are interned: each distinct token gets an id, its count sits in a
/// vector, and a bigram is the pair of its tokens' ids in one `u64` — so the hot path hashes short
/// tokens once and bigrams as integers, and builds no `"a b"` string until the table is written.
pub struct Counter {
    ids: HashMap<Box<str>, u32, FxBuildHasher>,
    unigrams: Vec<u64>,
    bigrams: HashMap<u64, u64, FxBuildHasher>,
    /// Keys added with [`Counter::add_count`] (merged tables), counted as they are.
    other: HashMap<Box<str>, u64, FxBuildHasher>,
    bytes: usize,
    budget: usize,
    spill: SpillDir,
    runs: Vec<PathBuf>,
    totals: Totals,
}

impl Counter {
    /// `budget`: bytes this table may hold before it spills.
    pub fn new(budget: usize, spill: SpillDir) -> Self {
        Counter {
            ids: HashMap::default(),
            unigrams: Vec::new(),
            bigrams: HashMap::default(),
            other: HashMap::default(),
            bytes: 0,
            budget: budget.max(1),
            spill,
            runs: Vec::new(),
            totals: Totals::default(),
        }
    }

    fn intern(&mut self, token: &str) -> u32 {
        if let Some(&id) = self.ids.get(token) {
            return id;
        }
        let id = self.unigrams.len() as u32;
        self.ids.insert(token.into(), id);
        self.unigrams.push(0);
        self.bytes += token.len() + ENTRY_OVERHEAD;
        id
    }

    /// Counts the tokens and bigrams of one plain text; spills when over budget.
    pub fn add_text(&mut self, text: &str) -> Result<()> {
        let mut previous: Option<(u32, usize)> = None;
        for_each_token(text, |token, chained| {
            let id = self.intern(token);
            self.unigrams[id as usize] += 1;
            self.totals.tokens += 1;
            if let (true, Some((p, p_len))) = (chained, previous) {
                let slot = self.bigrams.entry(((p as u64) << 32) | id as u64).or_insert(0);
                if *slot == 0 {
                    // The slot, and the `"a b"` key it becomes when the table is written.
                    self.bytes += BIGRAM_ENTRY_BYTES + p_len + 1 + token.len() + ENTRY_OVERHEAD;
                }
                *slot += 1;
                self.totals.bigrams += 1;
            }
            previous = Some((id, token.len()));
        });
        // Ids are u32: a table with that many distinct tokens spills whatever the budget.
        if self.bytes > self.budget || self.unigrams.len() >= u32::MAX as usize - 1 {
            self.spill()?;
        }
        Ok(())
    }

    /// Adds one key `count` times (merging count tables).
    pub fn add_count(&mut self, key: &str, count: u64) {
        *self.other.entry(key.into()).or_insert(0) += count;
    }

    fn sorted(&mut self) -> Vec<(Box<str>, u64)> {
        let ids = std::mem::take(&mut self.ids);
        let unigrams = std::mem::take(&mut self.unigrams);
        let bigrams = std::mem::take(&mut self.bigrams);
        let other = std::mem::take(&mut self.other);
        self.bytes = 0;
        let mut names: Vec<Box<str>> = vec![Box::from(""); unigrams.len()];
        for (name, id) in ids {
            names[id as usize] = name;
        }
        // Unigram and bigram keys are distinct (a bigram holds a space, a token none; a pair of
        // tokens spells one string); only keys from `add_count` may repeat one, so equal keys are
        // summed after the sort.
        let mut entries: Vec<(Box<str>, u64)> = Vec::with_capacity(names.len() + bigrams.len() + other.len());
        let mut key = String::new();
        for (pair, count) in bigrams {
            key.clear();
            key.push_str(&names[(pair >> 32) as usize]);
            key.push(' ');
            key.push_str(&names[(pair & 0xFFFF_FFFF) as usize]);
            entries.push((key.as_str().into(), count));
        }
        entries.extend(names.into_iter().zip(unigrams));
        entries.extend(other);
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|next, kept| {
            let same = next.0 == kept.0;
            if same {
                kept.1 += next.1;
            }
            same
        });
        entries
    }

    fn spill(&mut self) -> Result<()> {
        let entries = self.sorted();
        let path = self.spill.next_path();
        tracing::debug!(run = %path.display(), entries = entries.len(), "spilling counts");
        write_run(&path, entries.into_iter().map(|(k, c)| Ok((k.into_string(), c))))?;
        self.runs.push(path);
        Ok(())
    }

    /// Runs spilled so far.
    pub fn spilled(&self) -> usize {
        self.runs.len()
    }

    /// The table as one sorted in-memory run, the spilled runs and the totals.
    pub fn finish(mut self) -> (SortedEntries, Vec<PathBuf>, Totals) {
        let entries = self.sorted();
        (entries, self.runs, self.totals)
    }
}

fn write_varint(out: &mut impl Write, mut v: u64) -> io::Result<()> {
    let mut buf = [0u8; 10];
    let mut n = 0;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            buf[n] = byte;
            n += 1;
            break;
        }
        buf[n] = byte | 0x80;
        n += 1;
    }
    out.write_all(&buf[..n])
}

fn read_varint(input: &mut impl Read) -> io::Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let mut byte = [0u8];
        input.read_exact(&mut byte)?;
        v |= ((byte[0] & 0x7f) as u64) << shift;
        if byte[0] & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(io::Error::new(io::ErrorKind::InvalidData, "varint longer than 64 bits"))
}

/// What [`write_run`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub entries: u64,
    pub bytes: u64,
}

/// Writes sorted `(key, count)` entries as a run at `path`, atomically.
pub fn write_run(path: &Path, entries: impl IntoIterator<Item = Result<(String, u64)>>) -> Result<RunSummary> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| -> Result<RunSummary> {
        let file = File::create(&temp).at_path(&temp)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let io = |e| PathError::io(&temp, e);
        out.write_all(RUN_MAGIC).map_err(io)?;
        let mut summary = RunSummary::default();
        for entry in entries {
            let (key, count) = entry?;
            write_varint(&mut out, key.len() as u64).map_err(io)?;
            out.write_all(key.as_bytes()).map_err(io)?;
            write_varint(&mut out, count).map_err(io)?;
            summary.entries += 1;
        }
        write_varint(&mut out, 0).map_err(io)?;
        let file = out.into_inner().map_err(|e| PathError::io(&temp, e.into_error()))?;
        file.sync_all().map_err(io)?;
        summary.bytes = file.metadata().map_err(io)?.len();
        Ok(summary)
    })();
    match written {
        Ok(summary) => {
            fs::rename(&temp, path).at_path(path)?;
            Ok(summary)
        }
        Err(e) => {
            let _ = fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Reads a run file entry by entry.
pub struct RunReader {
    path: PathBuf,
    input: BufReader<File>,
    done: bool,
}

impl RunReader {
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).at_path(path)?;
        let mut input = BufReader::with_capacity(1 << 20, file);
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic).at_path(path)?;
        if magic != RUN_MAGIC {
            return Err(PathError::input(path, "not a wit count run").into());
        }
        Ok(RunReader { path: path.to_path_buf(), input, done: false })
    }

    pub fn next_entry(&mut self) -> Result<Option<(String, u64)>> {
        if self.done {
            return Ok(None);
        }
        let damaged = |e: io::Error| PathError::input(&self.path, format!("damaged count run: {e}"));
        let len = read_varint(&mut self.input).map_err(damaged)? as usize;
        if len == 0 {
            self.done = true;
            return Ok(None);
        }
        let mut key = vec![0u8; len];
        self.input.read_exact(&mut key).map_err(damaged)?;
        let count = read_varint(&mut self.input).map_err(damaged)?;
        let key =
            String::from_utf8(key).map_err(|e| PathError::input(&self.path, format!("damaged count run: {e}")))?;
        Ok(Some((key, count)))
    }
}

/// One input of the merge.
pub enum Run {
    Memory(std::vec::IntoIter<(Box<str>, u64)>),
    File(RunReader),
}

impl Run {
    fn next_entry(&mut self) -> Result<Option<(String, u64)>> {
        match self {
            Run::Memory(entries) => Ok(entries.next().map(|(k, c)| (k.into_string(), c))),
            Run::File(reader) => reader.next_entry(),
        }
    }
}

/// The k-way merge of sorted runs: each key once, counts summed, in byte order.
pub struct Merged {
    runs: Vec<Run>,
    heap: BinaryHeap<Reverse<(String, usize, u64)>>,
    started: bool,
}

impl Merged {
    pub fn new(runs: Vec<Run>) -> Self {
        Merged { runs, heap: BinaryHeap::new(), started: false }
    }

    fn refill(&mut self, i: usize) -> Result<()> {
        if let Some((key, count)) = self.runs[i].next_entry()? {
            self.heap.push(Reverse((key, i, count)));
        }
        Ok(())
    }

    pub fn next_entry(&mut self) -> Result<Option<(String, u64)>> {
        if !self.started {
            self.started = true;
            for i in 0..self.runs.len() {
                self.refill(i)?;
            }
        }
        let Some(Reverse((key, i, mut count))) = self.heap.pop() else {
            return Ok(None);
        };
        self.refill(i)?;
        while let Some(Reverse((next, _, _))) = self.heap.peek() {
            if *next != key {
                break;
            }
            let Some(Reverse((_, j, c))) = self.heap.pop() else { break };
            count += c;
            self.refill(j)?;
        }
        Ok(Some((key, count)))
    }
}

impl Iterator for Merged {
    type Item = Result<(String, u64)>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(counters: Vec<Counter>) -> Vec<(String, u64)> {
        let mut runs = Vec::new();
        for counter in counters {
            let (memory, files, _) = counter.finish();
            runs.push(Run::Memory(memory.into_iter()));
            for f in files {
                runs.push(Run::File(RunReader::open(&f).unwrap()));
            }
        }
        Merged::new(runs).collect::<Result<Vec<_>>>().unwrap()
    }

    const TEXTS: [&str; 4] = [
        "The cat sat on the mat. The cat ran.",
        "A dog and the cat\nthe dog barked",
        "New York is big. New York City is bigger.",
        "the the the cat",
    ];

    #[test]
    fn counts_are_exact_and_bigrams_stay_inside_sentences() {
        let dir = tempfile::tempdir().unwrap();
        let mut counter = Counter::new(1 << 30, SpillDir::new(dir.path()));
        for t in TEXTS {
            counter.add_text(t).unwrap();
        }
        let totals = counter.totals;
        let counts: HashMap<String, u64> = all(vec![counter]).into_iter().collect();
        assert_eq!(counts["cat"], 4);
        assert_eq!(counts["the"], 6);
        assert_eq!(counts["The"], 2);
        assert_eq!(counts["The cat"], 2);
        assert_eq!(counts["New York"], 2);
        assert_eq!(counts["the the"], 2);
        assert!(!counts.contains_key("mat The"));
        assert!(!counts.contains_key("cat the"), "a line break ends the chain");
        assert_eq!(totals.tokens, counts.iter().filter(|(k, _)| !k.contains(' ')).map(|(_, c)| c).sum::<u64>());
        assert_eq!(totals.bigrams, counts.iter().filter(|(k, _)| k.contains(' ')).map(|(_, c)| c).sum::<u64>());
    }

    #[test]
    fn a_tiny_budget_spills_and_merges_to_the_same_counts() {
        let dir = tempfile::tempdir().unwrap();
        let spill = SpillDir::new(dir.path());
        let mut big = Counter::new(1 << 30, spill.clone());
        let mut small = vec![Counter::new(100, spill.clone()), Counter::new(100, spill)];
        for (i, t) in TEXTS.iter().cycle().take(40).enumerate() {
            big.add_text(t).unwrap();
            small[i % 2].add_text(t).unwrap();
        }
        assert!(small.iter().all(|c| c.spilled() > 3));
        assert_eq!(all(vec![big]), all(small));
        // Spilled runs are whole files under their final names; no temporary file remains.
        assert!(fs::read_dir(dir.path()).unwrap().all(|e| e.unwrap().file_name().to_string_lossy().ends_with(".run")));
    }

    #[test]
    fn added_counts_sum_with_counted_keys() {
        let dir = tempfile::tempdir().unwrap();
        let mut counter = Counter::new(1 << 30, SpillDir::new(dir.path()));
        counter.add_text("New York is big").unwrap();
        counter.add_count("New York", 5);
        counter.add_count("York", 2);
        counter.add_count("elsewhere", 1);
        let counts: HashMap<String, u64> = all(vec![counter]).into_iter().collect();
        assert_eq!(counts["New York"], 6);
        assert_eq!(counts["York"], 3);
        assert_eq!(counts["elsewhere"], 1);
        assert_eq!(counts["is big"], 1);
        assert_eq!(counts.len(), 8, "{counts:?}");
    }

    #[test]
    fn a_cut_off_run_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.run");
        write_run(&path, vec![Ok(("a".to_string(), 1)), Ok(("b".to_string(), 300))]).unwrap();
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let mut reader = RunReader::open(&path).unwrap();
        assert_eq!(reader.next_entry().unwrap(), Some(("a".into(), 1)));
        assert_eq!(reader.next_entry().unwrap(), Some(("b".into(), 300)));
        assert!(reader.next_entry().unwrap_err().to_string().contains("damaged count run"));
    }
}
