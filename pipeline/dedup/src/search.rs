//! How `wit dedup` meets every pair within the threshold without comparing every pair. A hash
//! (and its mirror) is cut into bands; a pair within `threshold` bits is close on at least one
//! band (pigeonhole), and rows are put in groups so that every pair close on a band shares one.
//! Only rows of one group are compared. Two exact schemes, the cheaper chosen for the corpus size
//! ([`Search::choose`]); both find the same pairs:
//!
//! - **exact bands**: `threshold + 1` bands; a pair within the threshold agrees on one band; a
//!   group is the rows with one band value. One record per band and view. Groups hold about
//!   `2N / 2^w` rows (w = 63 / bands bits), so the pairs compared grow as N² once `2N` passes `2^w`:
//!   cheap at low thresholds or small corpora.
//! - **balls of radius 1**: `threshold / 3 + 1` bands; a pair within the threshold differs by at
//!   most 2 bits on one band, and two band values within 2 bits have a common value within 1 bit
//!   of both. Each row joins the group of every value within 1 bit of its band value (`w + 1`
//!   records per band and view). Bands three times as wide keep groups near one row: more records,
//!   far fewer pairs.
//!
//! A pair is reported once: at the first band where it is close and, there, the smallest group
//! value where it meets ([`Search::reports_at`]).

use crate::bands::Bands;

/// The seconds a band record costs (written, sorted, read; measured with `make bench`'s dedup
/// stage) and a comparison costs, for choosing a scheme.
const RECORD_COST: f64 = 240e-9;
const COMPARE_COST: f64 = 1.6e-9;

/// Which scheme `wit dedup` uses (`--search`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchChoice {
    /// The cheaper of the two for the corpus's row count.
    Auto,
    ExactBands,
    Balls,
}

/// A scheme with its bands.
#[derive(Debug, Clone)]
pub struct Search {
    bands: Bands,
    /// How far (bits) a row's group values are from its band value: 0 or 1.
    radius: u32,
}

impl Search {
    /// The scheme `choice` names, for `threshold`; `Auto` picks the one with the lower estimated
    /// cost on `rows` hashed rows (views included when `mirror`).
    pub fn choose(choice: SearchChoice, threshold: u32, rows: u64, mirror: bool) -> Result<Search, String> {
        let exact = Search { bands: Bands::for_threshold(threshold)?, radius: 0 };
        let balls = Search { bands: Bands::with_count(threshold as usize / 3 + 1)?, radius: 1 };
        Ok(match choice {
            SearchChoice::ExactBands => exact,
            SearchChoice::Balls => balls,
            SearchChoice::Auto => {
                let views = if mirror { 2 } else { 1 };
                if balls.estimated_seconds(rows * views) < exact.estimated_seconds(rows * views) {
                    balls
                } else {
                    exact
                }
            }
        })
    }

    /// What the scheme is, for the stats and the recorded configuration.
    pub fn describe(&self) -> String {
        match self.radius {
            0 => format!("exact bands ({} bands)", self.bands.len()),
            _ => format!("balls of radius 1 ({} bands)", self.bands.len()),
        }
    }

    /// Calls `emit` with the group key of every group `hash` joins (the band number in the top
    /// byte when there are several bands, the group value below); stops at its first error.
    pub fn group_keys<E>(&self, hash: u64, mut emit: impl FnMut(u64) -> Result<(), E>) -> Result<(), E> {
        for band in 0..self.bands.len() {
            let value = self.bands.value(band, hash);
            emit(self.key(band, value))?;
            if self.radius == 1 {
                for bit in 0..self.bands.width(band) {
                    emit(self.key(band, value ^ (1 << bit)))?;
                }
            }
        }
        Ok(())
    }

    /// Whether the pair `a`, `b` (already known to be within the threshold) is reported in the
    /// group `group_key`: the first band where they are close, and there the smallest value within
    /// the radius of both.
    pub fn reports_at(&self, a: u64, b: u64, group_key: u64) -> bool {
        let close =
            |band: usize| (self.bands.value(band, a) ^ self.bands.value(band, b)).count_ones() <= 2 * self.radius;
        let Some(band) = (0..self.bands.len()).find(|&band| close(band)) else { return false };
        let (va, vb) = (self.bands.value(band, a), self.bands.value(band, b));
        let meet = if self.radius == 0 {
            va
        } else {
            let within = |v: u64| (v ^ vb).count_ones() <= 1;
            let neighbours = (0..self.bands.width(band)).map(|bit| va ^ (1 << bit));
            std::iter::once(va).chain(neighbours).filter(|&v| within(v)).min().unwrap_or(va)
        };
        self.key(band, meet) == group_key
    }

    fn key(&self, band: usize, value: u64) -> u64 {
        if self.bands.len() == 1 {
            value
        } else {
            (band as u64) << 56 | value
        }
    }

    /// Records and pairs compared for `views` hashed views, priced: each band sends every view's
    /// `w + 1` (or 1) records to groups holding, on uniform hashes, `records per value × views / 2^w`.
    fn estimated_seconds(&self, views: u64) -> f64 {
        let views = views as f64;
        (0..self.bands.len())
            .map(|band| {
                let per_view = if self.radius == 0 { 1.0 } else { self.bands.width(band) as f64 + 1.0 };
                let records = views * per_view;
                let group = per_view * views / (self.bands.width(band) as f64).exp2();
                records * RECORD_COST + records * group / 2.0 * COMPARE_COST
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wit_imaging::phash::distance;

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// Every pair within the threshold, found by grouping as the pipeline does (once each), equals
    /// the brute-force list, for both schemes, on random hashes with planted near pairs.
    #[test]
    fn both_schemes_report_every_near_pair_once() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for threshold in [0, 1, 2, 3, 4, 5, 8, 11, 12] {
            let mut hashes: Vec<u64> = (0..300).map(|_| xorshift(&mut state) & !1).collect();
            for i in 0..150 {
                let mut h = hashes[i];
                for _ in 0..xorshift(&mut state) % (threshold as u64 + 3) {
                    h ^= 1 << (1 + xorshift(&mut state) % 63);
                }
                hashes.push(h);
            }
            let mut expected = Vec::new();
            for i in 0..hashes.len() {
                for j in i + 1..hashes.len() {
                    if distance(hashes[i], hashes[j]) <= threshold {
                        expected.push((i, j));
                    }
                }
            }
            assert!(expected.len() >= 20, "threshold {threshold}: {} planted pairs", expected.len());
            for choice in [SearchChoice::ExactBands, SearchChoice::Balls] {
                let search = Search::choose(choice, threshold, 0, false).unwrap();
                let mut groups: std::collections::BTreeMap<u64, Vec<usize>> = Default::default();
                for (i, &h) in hashes.iter().enumerate() {
                    let joined = search.group_keys(h, |key| {
                        groups.entry(key).or_default().push(i);
                        Ok::<_, ()>(())
                    });
                    assert!(joined.is_ok());
                }
                let mut found = Vec::new();
                for (&key, rows) in &groups {
                    for (n, &i) in rows.iter().enumerate() {
                        for &j in &rows[n + 1..] {
                            let near = i != j && distance(hashes[i], hashes[j]) <= threshold;
                            if near && search.reports_at(hashes[i], hashes[j], key) {
                                found.push((i.min(j), i.max(j)));
                            }
                        }
                    }
                }
                found.sort();
                assert_eq!(found, expected, "threshold {threshold}, {}", search.describe());
            }
        }
    }

    #[test]
    fn auto_takes_balls_where_exact_bands_grow_quadratic() {
        let pick = |threshold, rows| Search::choose(SearchChoice::Auto, threshold, rows, true).unwrap().describe();
        assert_eq!(pick(8, 1_000), "exact bands (9 bands)");
        assert_eq!(pick(8, 1_000_000), "balls of radius 1 (3 bands)");
        assert_eq!(pick(4, 1_000), "exact bands (5 bands)");
    }
}
