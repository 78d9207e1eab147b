//! Multi-index hashing: the 63 informative bits of `image_phash` (bit 0, the DC term, is always 0)
//! dealt round-robin into `k + 1` bands, so two hashes within Hamming distance `k` agree exactly
//! on at least one band (pigeonhole: `k` differing bits cannot touch `k + 1` bands). Candidates
//! are the hashes sharing a band value; the full distance decides.
//!
//! Round-robin (bit `i` to band `(i − 1) mod (k + 1)`) rather than contiguous bands: neighbouring
//! bits are neighbouring DCT frequencies, whose signs correlate, so contiguous bands would crowd
//! real hashes into fewer buckets.

use rustc_hash::FxHashMap;
use wit_imaging::phash::{distance, mirrored};

/// The most bands (one per informative bit), so the largest threshold is 62.
pub const MAX_THRESHOLD: u32 = 62;

/// The bands of a threshold.
#[derive(Debug, Clone)]
pub struct Bands {
    /// Bit positions of each band.
    bits: Vec<Vec<u32>>,
}

impl Bands {
    /// The `threshold + 1` bands that guarantee every pair within `threshold` shares one.
    pub fn for_threshold(threshold: u32) -> Result<Bands, String> {
        if threshold > MAX_THRESHOLD {
            return Err(format!("threshold {threshold} is over {MAX_THRESHOLD} (63 informative bits)"));
        }
        Bands::with_count(threshold as usize + 1)
    }

    /// `count` bands (1 to 63) of the 63 informative bits, dealt round-robin.
    pub fn with_count(count: usize) -> Result<Bands, String> {
        if !(1..=63).contains(&count) {
            return Err(format!("{count} bands of 63 bits"));
        }
        let mut bits = vec![Vec::new(); count];
        for bit in 1..64u32 {
            bits[(bit as usize - 1) % count].push(bit);
        }
        Ok(Bands { bits })
    }

    pub fn len(&self) -> usize {
        self.bits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bits.is_empty()
    }

    /// How many bits band `band` has.
    pub fn width(&self, band: usize) -> usize {
        self.bits[band].len()
    }

    /// The value of band `band` of `hash` (its bits packed low to high).
    pub fn value(&self, band: usize, hash: u64) -> u64 {
        self.bits[band].iter().enumerate().fold(0, |acc, (i, &bit)| acc | ((hash >> bit) & 1) << i)
    }
}

/// A nearest match of an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Position of the matched hash in the index.
    pub item: usize,
    pub distance: u32,
    /// Whether the query matched the mirror of the indexed image.
    pub mirrored: bool,
}

/// An in-memory multi-index over a set small enough to hold (an eval set): `query` returns the
/// closest indexed hash within the threshold, the mirrored query included when asked.
pub struct BandIndex {
    bands: Bands,
    threshold: u32,
    hashes: Vec<u64>,
    tables: Vec<FxHashMap<u64, Vec<u32>>>,
}

impl BandIndex {
    pub fn new(hashes: Vec<u64>, threshold: u32) -> Result<BandIndex, String> {
        let bands = Bands::for_threshold(threshold)?;
        let mut tables = vec![FxHashMap::default(); bands.len()];
        for (i, &hash) in hashes.iter().enumerate() {
            for (band, table) in tables.iter_mut().enumerate() {
                table.entry(bands.value(band, hash)).or_insert_with(Vec::new).push(i as u32);
            }
        }
        Ok(BandIndex { bands, threshold, hashes, tables })
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The closest indexed hash within the threshold of `hash` (or of its mirror, with `mirror`).
    pub fn query(&self, hash: u64, mirror: bool) -> Option<Match> {
        let mut best: Option<Match> = None;
        let views: &[(u64, bool)] = &[(hash, false), (mirrored(hash), true)];
        for &(view, is_mirror) in &views[..if mirror { 2 } else { 1 }] {
            for (band, table) in self.tables.iter().enumerate() {
                let Some(items) = table.get(&self.bands.value(band, view)) else { continue };
                for &item in items {
                    let d = distance(view, self.hashes[item as usize]);
                    let better = best.is_none_or(|b| (d, item as usize) < (b.distance, b.item));
                    if d <= self.threshold && better {
                        best = Some(Match { item: item as usize, distance: d, mirrored: is_mirror });
                    }
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_within_the_threshold_shares_a_band() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for threshold in [0, 1, 4, 8, 12, 30] {
            let bands = Bands::for_threshold(threshold).unwrap();
            assert_eq!(bands.len(), threshold as usize + 1);
            for _ in 0..2000 {
                let a = next() & !1;
                let mut b = a;
                for _ in 0..threshold {
                    b ^= 1 << (1 + next() % 63);
                }
                let shared = (0..bands.len()).any(|band| bands.value(band, a) == bands.value(band, b));
                assert!(shared, "{a:x} {b:x} at {threshold}");
            }
        }
        assert!(Bands::for_threshold(63).is_err());
    }

    #[test]
    fn the_index_finds_the_closest_and_the_mirror() {
        let index = BandIndex::new(vec![0b1010_0000, 0xffff_0000_0000_0000, 0xffff_0000_0000_0006], 4).unwrap();
        assert_eq!(index.query(0xffff_0000_0000_0002, false), Some(Match { item: 1, distance: 1, mirrored: false }));
        assert_eq!(index.query(mirrored(0b1010_0010), true), Some(Match { item: 0, distance: 1, mirrored: true }));
        assert_eq!(index.query(mirrored(0b1010_0010), false), None);
        assert_eq!(index.query(0x0f0f_0f0f_0f0f_0f0f, true), None);
    }
}
