//! Concentration measures of a per-query count distribution: Gini coefficient, Shannon entropy,
//! the effective number of queries (2^entropy: how many equally used queries would be as even),
//! and the share held by a subset of queries.

use serde::Serialize;

/// The Gini coefficient of `counts` (0: all equal, → 1: one query holds everything), from the
/// sorted form G = 2·Σ i·x₍ᵢ₎ / (n·Σx) − (n+1)/n with x ascending and i from 1. 0 for an empty or
/// all-zero list.
pub fn gini(counts: &[u64]) -> f64 {
    let n = counts.len();
    let total: f64 = counts.iter().map(|&c| c as f64).sum();
    if n == 0 || total == 0.0 {
        return 0.0;
    }
    let mut sorted = counts.to_vec();
    sorted.sort_unstable();
    let weighted: f64 = sorted.iter().enumerate().map(|(i, &c)| (i as f64 + 1.0) * c as f64).sum();
    let n = n as f64;
    2.0 * weighted / (n * total) - (n + 1.0) / n
}

/// Shannon entropy in bits of the shares cᵢ/Σc (zeros contribute nothing).
pub fn entropy_bits(counts: &[u64]) -> f64 {
    let total: f64 = counts.iter().map(|&c| c as f64).sum();
    if total == 0.0 {
        return 0.0;
    }
    -counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total;
            p * p.log2()
        })
        .sum::<f64>()
}

/// Summary of one count column over a population of queries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distribution {
    /// matched, kept or corpus.
    pub column: String,
    /// Queries in the population (those that matched at least one candidate, when known).
    pub queries: u64,
    /// Of those, queries with a count above zero.
    pub nonzero: u64,
    /// Sum of the per-query counts (a pair with k queries counts k times).
    pub total: u64,
    pub max: u64,
    pub mean: f64,
    pub median: f64,
    pub gini: f64,
    pub entropy_bits: f64,
    /// 2^entropy: the number of equally used queries with the same entropy.
    pub effective_queries: f64,
    /// entropy / log2(nonzero): 1 when every used query is used equally.
    pub evenness: f64,
    /// Queries whose count reached the cap (None without a cap).
    pub at_cap: Option<u64>,
}

impl Distribution {
    pub fn of(column: &str, counts: &[u64], cap: Option<u64>) -> Self {
        let n = counts.len();
        let total: u64 = counts.iter().sum();
        let nonzero = counts.iter().filter(|&&c| c > 0).count() as u64;
        let mut sorted = counts.to_vec();
        sorted.sort_unstable();
        let median = match n {
            0 => 0.0,
            _ if n % 2 == 1 => sorted[n / 2] as f64,
            _ => (sorted[n / 2 - 1] as f64 + sorted[n / 2] as f64) / 2.0,
        };
        let entropy = entropy_bits(counts);
        Distribution {
            column: column.to_owned(),
            queries: n as u64,
            nonzero,
            total,
            max: sorted.last().copied().unwrap_or(0),
            mean: if n == 0 { 0.0 } else { total as f64 / n as f64 },
            median,
            gini: gini(counts),
            entropy_bits: entropy,
            effective_queries: if total == 0 { 0.0 } else { entropy.exp2() },
            evenness: if nonzero > 1 { entropy / (nonzero as f64).log2() } else { 1.0 },
            at_cap: cap.map(|cap| counts.iter().filter(|&&c| c >= cap).count() as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gini as the mean absolute difference over twice the mean: a different formula, same value.
    fn gini_by_pairs(counts: &[u64]) -> f64 {
        let n = counts.len() as f64;
        let mean = counts.iter().sum::<u64>() as f64 / n;
        let sum: f64 =
            counts.iter().flat_map(|&a| counts.iter().map(move |&b| (a as f64 - b as f64).abs())).sum::<f64>();
        sum / (2.0 * n * n * mean)
    }

    #[test]
    fn gini_agrees_with_the_pairwise_definition_and_its_limits() {
        for counts in [vec![1, 1, 1, 1], vec![0, 0, 0, 10], vec![5, 3, 9, 1, 1, 40, 2], vec![7]] {
            assert!((gini(&counts) - gini_by_pairs(&counts)).abs() < 1e-12, "{counts:?}");
        }
        assert_eq!(gini(&[3, 3, 3]), 0.0);
        assert!((gini(&[0, 0, 0, 10]) - 0.75).abs() < 1e-12);
        assert_eq!(gini(&[]), 0.0);
        assert_eq!(gini(&[0, 0]), 0.0);
    }

    #[test]
    fn entropy_and_effective_number_of_even_and_skewed_counts() {
        let even = Distribution::of("kept", &[4, 4, 4, 4], Some(4));
        assert!((even.entropy_bits - 2.0).abs() < 1e-12);
        assert!((even.effective_queries - 4.0).abs() < 1e-9);
        assert!((even.evenness - 1.0).abs() < 1e-12);
        assert_eq!(even.at_cap, Some(4));
        let skewed = Distribution::of("matched", &[0, 1, 1, 2], None);
        // Shares 1/4, 1/4, 1/2: H = 1.5 bits, 2^1.5 ≈ 2.83 queries.
        assert!((skewed.entropy_bits - 1.5).abs() < 1e-12);
        assert!((skewed.effective_queries - 2f64.powf(1.5)).abs() < 1e-9);
        assert_eq!((skewed.nonzero, skewed.total, skewed.max, skewed.median), (3, 4, 2, 1.0));
        assert_eq!(skewed.at_cap, None);
    }
}
