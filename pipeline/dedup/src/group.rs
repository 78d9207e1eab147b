//! The records of one group (the rows a search scheme meets, module `search`), whose pairs are all
//! compared, held in memory up to a budget.
//!
//! A group's size is not bounded by the corpus design: one placeholder picture re-encoded thousands
//! of times (fetch's exact pass keeps byte-different copies) puts every copy in one group. Past
//! `limit` records the group goes to a spill file, and its pairs are visited block by block: a block
//! of `limit` records is held, its own pairs visited, then every later record is streamed past it.
//! Memory stays at `limit` records and every pair is visited once, the earlier record first, as in
//! memory.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use wit_contract::{AtPath, PathError};
use wit_ranks::SortRecord;

use crate::error::Result;

pub(crate) struct Group<R: SortRecord> {
    held: Vec<R>,
    first: Option<R>,
    limit: usize,
    spill_path: PathBuf,
    spill: Option<BufWriter<File>>,
    spilled: usize,
    scratch: Vec<u8>,
}

impl<R: SortRecord> Group<R> {
    /// A group holding at most `limit` (≥ 2) records in memory, spilling to `spill_path`.
    pub(crate) fn new(limit: usize, spill_path: PathBuf) -> Self {
        Group {
            held: Vec::new(),
            first: None,
            limit: limit.max(2),
            spill_path,
            spill: None,
            spilled: 0,
            scratch: Vec::new(),
        }
    }

    /// The group's first record (what names the group).
    pub(crate) fn first(&self) -> Option<&R> {
        self.first.as_ref()
    }

    pub(crate) fn push(&mut self, record: R) -> Result<()> {
        self.first.get_or_insert(record);
        if self.spill.is_none() {
            self.held.push(record);
            if self.held.len() <= self.limit {
                return Ok(());
            }
            if let Some(dir) = self.spill_path.parent() {
                std::fs::create_dir_all(dir).at_path(dir)?;
            }
            let file = File::create(&self.spill_path).at_path(&self.spill_path)?;
            self.spill = Some(BufWriter::with_capacity(1 << 20, file));
            let held = std::mem::take(&mut self.held);
            return held.into_iter().try_for_each(|r| self.write(r));
        }
        self.write(record)
    }

    fn write(&mut self, record: R) -> Result<()> {
        self.scratch.clear();
        record.write_words(&mut self.scratch);
        let spill = self.spill.as_mut().expect("spilling");
        spill.write_all(&self.scratch).at_path(&self.spill_path)?;
        self.spilled += 1;
        Ok(())
    }

    /// Visits every pair (earlier record, later record) once, then empties the group.
    pub(crate) fn each_pair(&mut self, mut visit: impl FnMut(&R, &R) -> Result<()>) -> Result<()> {
        match self.spill.take() {
            None => each_pair_of(&self.held, &mut visit)?,
            Some(spill) => {
                spill.into_inner().map_err(|e| PathError::io(&self.spill_path, e.into_error()))?;
                let mut block = Vec::with_capacity(self.limit);
                for start in (0..self.spilled).step_by(self.limit) {
                    let mut records = self.read_from(start)?;
                    block.clear();
                    for _ in 0..self.limit.min(self.spilled - start) {
                        block.push(next_record(&mut records, &mut self.scratch, &self.spill_path)?);
                    }
                    each_pair_of(&block, &mut visit)?;
                    for _ in start + block.len()..self.spilled {
                        let later = next_record(&mut records, &mut self.scratch, &self.spill_path)?;
                        block.iter().try_for_each(|earlier| visit(earlier, &later))?;
                    }
                }
                std::fs::remove_file(&self.spill_path).at_path(&self.spill_path)?;
                self.spilled = 0;
            }
        }
        self.held.clear();
        self.first = None;
        Ok(())
    }

    /// The spill file from record `start` on.
    fn read_from(&self, start: usize) -> Result<BufReader<File>> {
        let mut file = File::open(&self.spill_path).at_path(&self.spill_path)?;
        file.seek(SeekFrom::Start((start * R::WORDS * 8) as u64)).at_path(&self.spill_path)?;
        Ok(BufReader::with_capacity(1 << 20, file))
    }
}

fn each_pair_of<R>(records: &[R], visit: &mut impl FnMut(&R, &R) -> Result<()>) -> Result<()> {
    for (i, earlier) in records.iter().enumerate() {
        records[i + 1..].iter().try_for_each(|later| visit(earlier, later))?;
    }
    Ok(())
}

fn next_record<R: SortRecord>(reader: &mut impl Read, bytes: &mut Vec<u8>, path: &std::path::Path) -> Result<R> {
    bytes.resize(R::WORDS * 8, 0);
    reader.read_exact(bytes).at_path(path)?;
    let words: Vec<u64> = bytes.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().unwrap_or_default())).collect();
    Ok(R::from_words(&words))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wit_ranks::Entry;

    fn pairs(records: &[Entry], limit: usize, spill: PathBuf) -> (Vec<(u64, u64)>, Option<Entry>) {
        let mut group = Group::new(limit, spill.clone());
        records.iter().for_each(|&r| group.push(r).unwrap());
        let first = group.first().copied();
        let mut seen = Vec::new();
        group
            .each_pair(|a, b| {
                seen.push((a.at, b.at));
                Ok(())
            })
            .unwrap();
        assert!(!spill.exists() && group.first().is_none());
        seen.sort_unstable();
        (seen, first)
    }

    #[test]
    fn a_spilled_group_visits_the_pairs_of_one_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        for n in [0usize, 1, 2, 7, 40, 101] {
            let records: Vec<Entry> = (0..n as u64).map(|i| Entry { hash: i % 3, at: i }).collect();
            let all = pairs(&records, usize::MAX, dir.path().join("never"));
            let expected: Vec<(u64, u64)> =
                (0..n as u64).flat_map(|a| (a + 1..n as u64).map(move |b| (a, b))).collect();
            assert_eq!(all.0, expected);
            for limit in [2, 3, 8, 100] {
                assert_eq!(pairs(&records, limit, dir.path().join("spill.bin")), all, "{n} records, limit {limit}");
            }
        }
    }
}
