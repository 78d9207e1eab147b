//! The strict cap at any size (the rule itself: [`crate::balance`]), within a memory budget.
//!
//! Only *head* queries — those matched more than the cap — can ever refuse a text: a query matched
//! `count ≤ cap` times never fills. So the greedy pass needs, per matched text with at least one
//! head query, its place in the global order (rarest count, seeded key hash, position) and its
//! head queries; every other matched text is kept without it.
//!
//! ```text
//! order  ×N ranks   each rank scans its shards and writes one claim per (text, head query),
//!                   sorted by the order (external sort within --memory-budget):
//!                   OUT/_strict/claims-RRRRR-of-NNNNN.bin
//! strict ×1         k-way merges the N sorted claim files and runs the greedy with one counter
//!                   per query; writes the kept positions per owning rank:
//!                   OUT/_strict/kept-RRRRR-of-NNNNN.bin
//! select ×N ranks   keeps a head text iff its position is in its kept file
//! ```
//! The greedy is a sequence by nature (whether a text fits depends on every text before it across
//! queries), so it runs once; it reads 32 bytes per (text, head query) claim and holds one counter
//! per query — never a row, never a set that grows with the pool.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wit_ranks::shuffle::{pack, unpack, BucketWriter};
use wit_ranks::sort::{write_records, SortRecord};
use wit_ranks::{Entry, ExternalSorter, RankOf, Sorted};

use crate::error::{CurateError, Result};

pub const STEP_ORDER: &str = "curate-order";
pub const STEP_STRICT: &str = "curate-strict";
/// The folder of claim and kept files inside the output folder.
pub const STRICT_DIR: &str = "_strict";

/// One (text, head query) pair in the strict order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Claim {
    /// The count of the text's rarest query (all its queries, head or not).
    pub rarest: u64,
    /// The seeded hash of the text's key.
    pub hash: u64,
    /// Where the text lies: candidate shard index (in manifest order) · row.
    pub pos: u64,
    /// A head query of the text (index into the dictionary).
    pub query: u64,
}

impl SortRecord for Claim {
    const WORDS: usize = 4;

    fn write_words(&self, out: &mut Vec<u8>) {
        for word in [self.rarest, self.hash, self.pos, self.query] {
            out.extend_from_slice(&word.to_le_bytes());
        }
    }

    fn from_words(words: &[u64]) -> Self {
        Claim { rarest: words[0], hash: words[1], pos: words[2], query: words[3] }
    }
}

/// The claims of one matched text: none when no query of it is a head query.
pub fn claims_of(counts: &[u64], cap: u64, ids: &[u32], hash: u64, pos: u64, out: &mut Vec<Claim>) {
    let rarest = ids.iter().map(|&q| counts[q as usize]).min().unwrap_or(0);
    for &q in ids {
        if counts[q as usize] > cap {
            out.push(Claim { rarest, hash, pos, query: q as u64 });
        }
    }
}

/// Whether a matched text has a head query (and so waits for the strict pass's verdict).
pub fn has_head(counts: &[u64], cap: u64, ids: &[u32]) -> bool {
    ids.iter().any(|&q| counts[q as usize] > cap)
}

/// The position of row `row` of candidate shard `shard`.
pub fn position(shard: usize, row: u64) -> u64 {
    pack(shard as u32, row as u32)
}

pub fn claims_path(out: &Path, rank: RankOf) -> PathBuf {
    out.join(STRICT_DIR).join(format!("claims-{}.bin", rank.suffix()))
}

pub fn kept_path(out: &Path, rank: RankOf) -> PathBuf {
    out.join(STRICT_DIR).join(format!("kept-{}.bin", rank.suffix()))
}

/// Sorts a rank's claims within the budget and writes them as one sorted file.
pub fn write_sorted_claims(
    claims: impl IntoIterator<Item = Claim>,
    path: &Path,
    spill: &Path,
    budget: u64,
) -> Result<u64> {
    let mut sorter = ExternalSorter::<Claim>::new(spill, budget);
    for claim in claims {
        sorter.push(claim).map_err(ranks_error)?;
    }
    let sorted = sorter.finish().map_err(ranks_error)?;
    let mut failed = None;
    let stream = sorted.map_while(|c| c.map_err(|e| failed = Some(e)).ok());
    let n = write_records(path, stream).map_err(ranks_error)?;
    if let Some(e) = failed {
        return Err(ranks_error(e));
    }
    let _ = std::fs::remove_dir_all(spill);
    Ok(n)
}

/// What the greedy pass did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StrictStats {
    /// Claims read (one per text and head query), and their bytes.
    pub claims: u64,
    pub bytes_read: u64,
    /// Head texts decided, and kept.
    pub texts: u64,
    pub kept: u64,
}

/// The greedy over the sorted claim files of every rank: writes each rank's kept positions.
pub fn run_greedy(out: &Path, world_size: usize, num_queries: usize, cap: u64) -> Result<StrictStats> {
    let paths: Vec<PathBuf> = (0..world_size).map(|r| claims_path(out, RankOf::new(r, world_size))).collect();
    for path in &paths {
        if !path.exists() {
            return Err(CurateError::Counts {
                path: path.clone(),
                problem: "missing (has every rank run --phase order?)".into(),
            });
        }
    }
    let kept_paths = (0..world_size).map(|rank| kept_path(out, RankOf::new(rank, world_size))).collect();
    let mut writer = BucketWriter::create(kept_paths).map_err(ranks_error)?;
    let mut kept_per_query = vec![0u64; num_queries];
    let mut stats = StrictStats::default();
    let mut group: Vec<Claim> = Vec::new();
    let mut decide = |group: &mut Vec<Claim>, stats: &mut StrictStats| -> Result<()> {
        let Some(first) = group.first().copied() else { return Ok(()) };
        stats.texts += 1;
        let fits = group.iter().all(|c| kept_per_query.get(c.query as usize).is_some_and(|&k| k < cap));
        if fits {
            group.iter().for_each(|c| kept_per_query[c.query as usize] += 1);
            let owner = unpack(first.pos).0 as usize % world_size;
            writer.write(owner, &Entry { hash: first.pos, at: 0 }).map_err(ranks_error)?;
            stats.kept += 1;
        }
        group.clear();
        Ok(())
    };
    for claim in Sorted::<Claim>::merge_files(paths).map_err(ranks_error)? {
        let claim = claim.map_err(ranks_error)?;
        stats.claims += 1;
        if claim.query as usize >= num_queries {
            return Err(CurateError::Counts {
                path: out.join(STRICT_DIR),
                problem: format!("query index {} beyond the dictionary", claim.query),
            });
        }
        if group.first().is_some_and(|g| (g.rarest, g.hash, g.pos) != (claim.rarest, claim.hash, claim.pos)) {
            decide(&mut group, &mut stats)?;
        }
        group.push(claim);
    }
    decide(&mut group, &mut stats)?;
    stats.bytes_read = stats.claims * (Claim::WORDS * 8) as u64;
    writer.finish().map_err(ranks_error)?;
    Ok(stats)
}

/// A rank's kept positions in position order (sorted within the budget).
pub fn kept_positions(path: &Path, spill: &Path, budget: u64) -> Result<Sorted<Entry>> {
    if !path.exists() {
        return Err(CurateError::Counts {
            path: path.to_path_buf(),
            problem: "missing (has the strict step run?)".into(),
        });
    }
    let mut sorter = ExternalSorter::<Entry>::new(spill, budget);
    sorter.push_file(path).map_err(ranks_error)?;
    sorter.finish().map_err(ranks_error)
}

pub(crate) fn ranks_error(e: wit_ranks::RanksError) -> CurateError {
    match e {
        wit_ranks::RanksError::Path(e) => CurateError::Path(e),
        wit_ranks::RanksError::Contract(e) => CurateError::Contract(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::StrictPool;

    /// The streamed strict pass (claims split over ranks, spilled, merged, greedy) keeps exactly
    /// the texts the in-memory reference ([`StrictPool::select`]) keeps.
    #[test]
    fn the_streamed_greedy_equals_the_in_memory_rule() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let num_queries = 60usize;
        // Texts with 1–4 queries, skewed so that some queries are far above the cap.
        let mut texts: Vec<Vec<u32>> = Vec::new();
        let mut state = 12345u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state >> 33
        };
        for _ in 0..20_000 {
            let k = 1 + next() % 4;
            let mut ids: Vec<u32> = (0..k).map(|_| ((next() % 60) * (next() % 60) / 60) as u32).collect();
            ids.sort_unstable();
            ids.dedup();
            texts.push(ids);
        }
        let hash = |i: usize| (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
        let mut pool = StrictPool::default();
        for (i, ids) in texts.iter().enumerate() {
            pool.push(hash(i), ids);
        }
        let counts = pool.counts(num_queries);
        for cap in [5u64, 300, 2_000] {
            let expected = pool.select(&counts, cap);
            // Three ranks; text i lies in shard i / 1000, row i % 1000; shard s belongs to rank s % 3.
            let n = 3;
            for rank in 0..n {
                let mut claims = Vec::new();
                for (i, ids) in texts.iter().enumerate() {
                    let shard = i / 1000;
                    if shard % n == rank {
                        claims_of(&counts, cap, ids, hash(i), position(shard, (i % 1000) as u64), &mut claims);
                    }
                }
                let spill = out.join(format!("spill-{rank}"));
                write_sorted_claims(
                    claims,
                    &claims_path(out, RankOf::new(rank, n)),
                    &spill,
                    wit_ranks::MIN_MEMORY_BUDGET,
                )
                .unwrap();
            }
            let stats = run_greedy(out, n, num_queries, cap).unwrap();
            let mut kept = vec![false; texts.len()];
            for (i, ids) in texts.iter().enumerate() {
                kept[i] = !has_head(&counts, cap, ids);
            }
            for rank in 0..n {
                let spill = out.join(format!("kept-{rank}"));
                for e in
                    kept_positions(&kept_path(out, RankOf::new(rank, n)), &spill, wit_ranks::MIN_MEMORY_BUDGET).unwrap()
                {
                    let (shard, row) = unpack(e.unwrap().hash);
                    assert_eq!(shard as usize % n, rank);
                    kept[shard as usize * 1000 + row as usize] = true;
                }
            }
            assert_eq!(kept, expected, "cap {cap}");
            assert!(stats.texts > 0 && stats.kept < stats.texts, "a real test at cap {cap}: {stats:?}");
        }
    }
}
