//! Per-query balancing: which matched texts are kept.
//!
//! **Soft cap (MetaCLIP).** With `count_q` the number of texts in the whole pool matching query `q`
//! and cap `t`, a text matching queries `Q` is kept with probability
//! `p = 1 − Π_{q∈Q} (1 − t / max(count_q, t))`. The draw is not random state but a seeded hash of
//! the pair's key: `u = xxh3_64_with_seed(key, seed) >> 11` scaled to `[0, 1)`, kept iff `u < p`.
//! Every rerun, rank and shard therefore makes the same decision for the same pair. A query's
//! kept count is `t` in expectation when all its texts match only it, and more when its texts are
//! also kept for rarer queries (that is MetaCLIP's design: the cap is soft).
//!
//! **Strict cap.** No query ever holds more than `t` kept texts. Matched texts are visited in one
//! global order — ascending count of their *rarest* query, then ascending `xxh3_64_with_seed(key,
//! seed)`, then position in the pool — and a text is kept iff every query it matches still holds
//! fewer than `t` kept texts; keeping it adds one to each. Texts whose rarest query is rarest have
//! the fewest alternatives, so they go first; within a tier the hash is a seeded random order. A
//! query with `count ≤ t` loses a text only to a query that is already full, and every rejected text
//! matches at least one query that ends at exactly `t` (the rule is greedy-maximal).
//!
//! **Oversampling.** Both rules run with the effective cap `⌈t · oversample⌉` so the fetch stage can
//! stop each query at `t` despite download failures; the true cap is recorded beside it.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The cap the rules run with: `⌈cap · oversample⌉`.
pub fn effective_cap(cap: u64, oversample: f64) -> u64 {
    let scaled = (cap as f64 * oversample).ceil();
    if scaled.is_finite() && scaled >= 0.0 {
        scaled.min(u64::MAX as f64) as u64
    } else {
        u64::MAX
    }
}

/// MetaCLIP's keep probability of a text matching `queries` (indices into `counts`).
pub fn keep_prob(counts: &[u64], queries: &[u32], cap: u64) -> f64 {
    let t = cap as f64;
    let mut none = 1.0f64;
    for &q in queries {
        let c = counts[q as usize];
        if c <= cap {
            return 1.0;
        }
        none *= 1.0 - t / c as f64;
    }
    1.0 - none
}

/// The seeded 64-bit hash of a pair key that orders and decides.
pub fn key_hash(seed: u64, key: &str) -> u64 {
    xxh3_64_with_seed(key.as_bytes(), seed)
}

/// `key_hash` mapped uniformly onto `[0, 1)` (53 bits).
pub fn unit(hash: u64) -> f64 {
    (hash >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The soft-cap decision for one pair.
pub fn keep(seed: u64, key: &str, p: f64) -> bool {
    unit(key_hash(seed, key)) < p
}

/// The matched texts of a whole pool, for the strict rule: per text its key hash and query list.
#[derive(Default)]
pub struct StrictPool {
    hashes: Vec<u64>,
    ends: Vec<u64>,
    queries: Vec<u32>,
}

impl StrictPool {
    pub fn push(&mut self, hash: u64, queries: &[u32]) {
        self.hashes.push(hash);
        self.queries.extend_from_slice(queries);
        self.ends.push(self.queries.len() as u64);
    }

    /// Appends `other` (texts later in the pool order).
    pub fn append(&mut self, other: StrictPool) {
        let base = self.queries.len() as u64;
        self.hashes.extend(other.hashes);
        self.ends.extend(other.ends.into_iter().map(|e| e + base));
        self.queries.extend(other.queries);
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The key hash of text `i`.
    pub fn hash(&self, i: usize) -> Option<u64> {
        self.hashes.get(i).copied()
    }

    fn text(&self, i: usize) -> &[u32] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.queries[start..self.ends[i] as usize]
    }

    /// Every query's count in this pool.
    pub fn counts(&self, num_queries: usize) -> Vec<u64> {
        let mut counts = vec![0u64; num_queries];
        for &q in &self.queries {
            counts[q as usize] += 1;
        }
        counts
    }

    /// The strict rule (module docs): which texts, by position in the pool, are kept.
    pub fn select(&self, counts: &[u64], cap: u64) -> Vec<bool> {
        let mut order: Vec<(u64, u64, u64)> = (0..self.len())
            .map(|i| {
                let rarest = self.text(i).iter().map(|&q| counts[q as usize]).min().unwrap_or(0);
                (rarest, self.hashes[i], i as u64)
            })
            .collect();
        order.sort_unstable();
        let mut kept_per_query = vec![0u64; counts.len()];
        let mut kept = vec![false; self.len()];
        for (_, _, i) in order {
            let queries = self.text(i as usize);
            if queries.iter().all(|&q| kept_per_query[q as usize] < cap) {
                queries.iter().for_each(|&q| kept_per_query[q as usize] += 1);
                kept[i as usize] = true;
            }
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wit_contract::pair_key;

    #[test]
    fn keep_probability_follows_metaclip() {
        let counts = [10, 20_000, 40_000, 80_000];
        let t = 20_000;
        assert_eq!(keep_prob(&counts, &[0], t), 1.0);
        assert_eq!(keep_prob(&counts, &[1], t), 1.0, "count == t keeps everything");
        assert!((keep_prob(&counts, &[2], t) - 0.5).abs() < 1e-12);
        assert!((keep_prob(&counts, &[3], t) - 0.25).abs() < 1e-12);
        // 1 − (1 − 0.5)(1 − 0.25) = 0.625
        assert!((keep_prob(&counts, &[2, 3], t) - 0.625).abs() < 1e-12);
        assert_eq!(keep_prob(&counts, &[0, 3], t), 1.0);
        assert_eq!(keep_prob(&counts, &[3], 0), 0.0, "a zero cap keeps nothing");
        assert_eq!(keep_prob(&counts, &[], t), 0.0, "no query, no keep");
    }

    #[test]
    fn oversampling_scales_the_cap_upwards() {
        assert_eq!(effective_cap(20_000, 1.0), 20_000);
        assert_eq!(effective_cap(20_000, 1.25), 25_000);
        assert_eq!(effective_cap(3, 1.1), 4);
        assert_eq!(effective_cap(10, f64::INFINITY), u64::MAX);
    }

    #[test]
    fn the_unit_hash_is_seeded_and_in_range() {
        let key = pair_key("http://a/x.jpg", "a dog");
        assert_eq!(key_hash(7, &key), key_hash(7, &key));
        assert_ne!(key_hash(7, &key), key_hash(8, &key));
        assert!(unit(u64::MAX) < 1.0 && unit(0) == 0.0);
        assert!(keep(1, &key, 1.0) && !keep(1, &key, 0.0));
    }

    fn key(i: usize) -> String {
        pair_key(&format!("http://img.example/{i}.jpg"), &format!("caption {i}"))
    }

    /// |observed − expected| in binomial standard deviations.
    fn sigmas(observed: f64, expected: f64, variance: f64) -> f64 {
        if variance == 0.0 {
            return if observed == expected { 0.0 } else { f64::INFINITY };
        }
        (observed - expected).abs() / variance.sqrt()
    }

    #[test]
    fn single_query_kept_counts_converge_to_min_of_count_and_cap() {
        let t = 5_000u64;
        let counts = [60_000u64, 20_000, 8_000, 5_000, 1_000];
        let seed = 42;
        let mut kept = [0u64; 5];
        let mut i = 0;
        for (q, &c) in counts.iter().enumerate() {
            let p = keep_prob(&counts, &[q as u32], t);
            for _ in 0..c {
                kept[q] += keep(seed, &key(i), p) as u64;
                i += 1;
            }
        }
        for (q, &c) in counts.iter().enumerate() {
            let p = (t as f64 / c as f64).min(1.0);
            let z = sigmas(kept[q] as f64, c.min(t) as f64, c as f64 * p * (1.0 - p));
            assert!(z <= 6.0, "query {q}: kept {} of {c}, expected {}, {z:.1} sigma", kept[q], c.min(t));
            // A wrong cap (20% higher or lower) is rejected by the same test on the head query.
            for wrong in [t * 6 / 5, t * 4 / 5] {
                if c > wrong {
                    let pw = wrong as f64 / c as f64;
                    let zw = sigmas(kept[q] as f64, wrong as f64, c as f64 * pw * (1.0 - pw));
                    assert!(zw > 6.0, "query {q}: cap {wrong} would pass too ({zw:.1} sigma)");
                }
            }
        }
        assert_eq!(&kept[3..], &[5_000, 1_000], "queries at or under the cap keep everything");
    }

    /// A pool of texts matching 1–3 of 40 queries with Zipf-like popularity.
    fn zipf_pool(texts: usize) -> Vec<Vec<u32>> {
        (0..texts)
            .map(|i| {
                let h = xxh3_64_with_seed(&(i as u64).to_le_bytes(), 99);
                let k = 1 + (h % 3) as usize;
                let mut qs: Vec<u32> = (0..k)
                    .map(|j| {
                        let u = unit(xxh3_64_with_seed(&(i as u64).to_le_bytes(), j as u64));
                        // Inverse CDF of a density ∝ 1/x over 1..=40, roughly Zipf.
                        (40f64.powf(u) as u32).clamp(1, 40) - 1
                    })
                    .collect();
                qs.sort_unstable();
                qs.dedup();
                qs
            })
            .collect()
    }

    #[test]
    fn kept_fraction_converges_to_the_keep_probability() {
        let pool = zipf_pool(120_000);
        let mut counts = vec![0u64; 40];
        pool.iter().flatten().for_each(|&q| counts[q as usize] += 1);
        let t = 2_000;
        let seed = 7;
        // Bin texts by keep probability: observed kept vs the sum of probabilities in each bin.
        let bins = 10;
        let mut kept = vec![0f64; bins];
        let mut expected = vec![0f64; bins];
        let mut variance = vec![0f64; bins];
        let mut expected_wrong_product = vec![0f64; bins];
        let mut expected_wrong_rarest = vec![0f64; bins];
        for (i, qs) in pool.iter().enumerate() {
            let p = keep_prob(&counts, qs, t);
            let b = ((p * bins as f64) as usize).min(bins - 1);
            kept[b] += keep(seed, &key(i), p) as u64 as f64;
            expected[b] += p;
            variance[b] += p * (1.0 - p);
            // Two plausible misreadings of the rule.
            expected_wrong_product[b] +=
                qs.iter().map(|&q| (t as f64 / counts[q as usize] as f64).min(1.0)).product::<f64>();
            expected_wrong_rarest[b] +=
                qs.iter().map(|&q| (t as f64 / counts[q as usize] as f64).min(1.0)).fold(0.0, f64::max);
        }
        let mut populated = 0;
        for b in 0..bins {
            if variance[b] == 0.0 {
                assert_eq!(kept[b], expected[b], "bin {b}");
                continue;
            }
            populated += 1;
            let z = sigmas(kept[b], expected[b], variance[b]);
            assert!(z <= 6.0, "bin {b}: kept {} expected {:.1}, {z:.1} sigma", kept[b], expected[b]);
        }
        assert!(populated >= 5, "the pool spreads keep probabilities over {populated} bins only");
        let worst =
            |wrong: &[f64]| (0..bins).map(|b| sigmas(kept[b], wrong[b], variance[b].max(1.0))).fold(0.0, f64::max);
        assert!(worst(&expected_wrong_product) > 6.0, "the product rule would pass too");
        assert!(worst(&expected_wrong_rarest) > 6.0, "the rarest-query rule would pass too");
        let total: f64 = kept.iter().sum();
        let z = sigmas(total, expected.iter().sum(), variance.iter().sum());
        assert!(z <= 6.0, "total kept {total}, {z:.1} sigma");
    }

    #[test]
    fn strict_mode_never_exceeds_the_cap_and_is_greedy_maximal() {
        let pool_texts = zipf_pool(30_000);
        let mut pool = StrictPool::default();
        for (i, qs) in pool_texts.iter().enumerate() {
            pool.push(key_hash(3, &key(i)), qs);
        }
        let counts = pool.counts(40);
        for cap in [1, 50, 700, 5_000] {
            let kept = pool.select(&counts, cap);
            let mut per_query = vec![0u64; 40];
            for (i, qs) in pool_texts.iter().enumerate() {
                if kept[i] {
                    qs.iter().for_each(|&q| per_query[q as usize] += 1);
                }
            }
            assert!(per_query.iter().all(|&k| k <= cap), "cap {cap}: {per_query:?}");
            for (i, qs) in pool_texts.iter().enumerate() {
                if !kept[i] {
                    assert!(
                        qs.iter().any(|&q| per_query[q as usize] == cap),
                        "cap {cap}: text {i} rejected with room left"
                    );
                }
            }
            if cap == 5_000 {
                assert!(per_query.iter().filter(|&&k| k == cap).count() >= 1);
            }
        }
    }

    #[test]
    fn strict_mode_fills_single_query_texts_to_exactly_min_count_cap() {
        let counts_wanted = [3_000u64, 1_000, 999, 10];
        let mut pool = StrictPool::default();
        let mut i = 0;
        for (q, &c) in counts_wanted.iter().enumerate() {
            for _ in 0..c {
                pool.push(key_hash(5, &key(i)), &[q as u32]);
                i += 1;
            }
        }
        let counts = pool.counts(4);
        let kept = pool.select(&counts, 1_000);
        let mut per_query = [0u64; 4];
        let mut i = 0;
        for (q, &c) in counts_wanted.iter().enumerate() {
            for _ in 0..c {
                per_query[q] += kept[i] as u64;
                i += 1;
            }
        }
        assert_eq!(per_query, [1_000, 1_000, 999, 10]);
    }

    #[test]
    fn strict_mode_prefers_texts_whose_rarest_query_is_rarest() {
        // Query 0 is common (5 texts), query 1 rare (1 text). Cap 1: the one text holding the rare
        // query goes first and takes query 0's only slot too.
        let mut pool = StrictPool::default();
        for i in 0..4 {
            pool.push(i, &[0]);
        }
        pool.push(u64::MAX, &[0, 1]);
        let counts = pool.counts(2);
        assert_eq!(pool.select(&counts, 1), [false, false, false, false, true]);
    }

    #[test]
    fn appended_pools_equal_one_pool() {
        let mut a = StrictPool::default();
        a.push(1, &[0, 1]);
        let mut b = StrictPool::default();
        b.push(2, &[1]);
        b.push(3, &[0, 2]);
        a.append(b);
        assert_eq!(a.len(), 3);
        assert_eq!(a.text(0), [0, 1]);
        assert_eq!(a.text(1), [1]);
        assert_eq!(a.text(2), [0, 2]);
    }
}
