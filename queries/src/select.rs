//! Choosing the dictionary: per-source candidates ranked, quotas, deduplication, ids.
//!
//! Candidates per source, best first: unigrams by count; bigrams by PMI = log2(c12·N / (c1·c2))
//! (then count); titles by page views (then title); WordNet head words by corpus count (then word).
//! Sources take their quota in the order WordNet, unigrams, bigrams, titles, each skipping what an
//! earlier source already took. With `fill`, room left under `size` (a source with fewer candidates
//! than its quota) goes to the next-best unused unigrams, then bigrams, titles, WordNet words.
//! Ids are the positions of the queries in byte order: the same inputs always give the same ids.

use std::collections::{HashMap, HashSet};

use wit_contract::{QueryEntry, QuerySource};

/// MetaCLIP's 500k mix.
pub const METACLIP_SIZE: u64 = 500_000;
pub const METACLIP_WORDNET: u64 = 86_654;
pub const METACLIP_UNIGRAMS: u64 = 251_465;
pub const METACLIP_BIGRAMS: u64 = 100_646;
pub const METACLIP_TITLES: u64 = 61_235;

/// How many queries each source may contribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quotas {
    pub wordnet: u64,
    pub unigram: u64,
    pub bigram: u64,
    pub title: u64,
}

impl Quotas {
    /// MetaCLIP's mix scaled to `size`.
    pub fn metaclip_shaped(size: u64) -> Self {
        let scale = |n: u64| ((n as u128 * size as u128 + METACLIP_SIZE as u128 / 2) / METACLIP_SIZE as u128) as u64;
        Quotas {
            wordnet: scale(METACLIP_WORDNET),
            unigram: scale(METACLIP_UNIGRAMS),
            bigram: scale(METACLIP_BIGRAMS),
            title: scale(METACLIP_TITLES),
        }
    }

    fn of(&self, source: QuerySource) -> u64 {
        match source {
            QuerySource::Wordnet => self.wordnet,
            QuerySource::Unigram => self.unigram,
            QuerySource::Bigram => self.bigram,
            QuerySource::Title => self.title,
        }
    }
}

/// What selection starts from.
#[derive(Debug, Default)]
pub struct Candidates {
    /// Unigrams with count ≥ min-count.
    pub unigrams: Vec<(String, u64)>,
    /// Bigrams with count ≥ min-count.
    pub bigrams: Vec<(String, u64)>,
    /// N: token occurrences in the counted text.
    pub tokens: u64,
    pub titles: Vec<crate::sources::Title>,
    pub wordnet: Vec<String>,
}

/// Selected entries per source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Selected {
    pub wordnet: u64,
    pub unigram: u64,
    pub bigram: u64,
    pub title: u64,
}

/// A query is usable when it is non-empty, has no surrounding spaces and no control characters.
pub fn is_usable(query: &str) -> bool {
    !query.is_empty() && query.trim() == query && !query.chars().any(char::is_control) && query.len() <= 512
}

/// PMI of a bigram "a b" with count `c12`, given unigram counts and N.
pub fn pmi(c12: u64, c1: u64, c2: u64, n: u64) -> f64 {
    ((c12 as f64) * (n as f64) / ((c1 as f64) * (c2 as f64))).log2()
}

/// Builds the dictionary (see the module docs).
pub fn select(candidates: Candidates, size: u64, quotas: Quotas, fill: bool) -> (Vec<QueryEntry>, Selected) {
    let unigram_counts: HashMap<&str, u64> = candidates.unigrams.iter().map(|(k, c)| (k.as_str(), *c)).collect();
    let counted: HashMap<&str, u64> =
        candidates.unigrams.iter().chain(&candidates.bigrams).map(|(k, c)| (k.as_str(), *c)).collect();

    // Per source: (query, count, pmi), best first.
    let mut unigrams: Vec<(String, u64, Option<f64>)> =
        candidates.unigrams.iter().map(|(k, c)| (k.clone(), *c, None)).collect();
    unigrams.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

    let mut bigrams: Vec<(String, u64, Option<f64>)> = candidates
        .bigrams
        .iter()
        .filter_map(|(k, c12)| {
            let (a, b) = k.split_once(' ')?;
            // Both words of a counted bigram are counted at least as often, so both are here.
            let (c1, c2) = (*unigram_counts.get(a)?, *unigram_counts.get(b)?);
            Some((k.clone(), *c12, Some(pmi(*c12, c1, c2, candidates.tokens))))
        })
        .collect();
    bigrams.sort_by(|a, b| {
        b.2.unwrap_or(0.0).total_cmp(&a.2.unwrap_or(0.0)).then_with(|| b.1.cmp(&a.1)).then_with(|| a.0.cmp(&b.0))
    });

    let mut titles: Vec<(String, u64, Option<f64>)> = candidates
        .titles
        .iter()
        .map(|t| (t.title.clone(), counted.get(t.title.as_str()).copied().unwrap_or(0), t.views.map(|v| v as f64)))
        .collect();
    titles.sort_by(|a, b| b.2.unwrap_or(0.0).total_cmp(&a.2.unwrap_or(0.0)).then_with(|| a.0.cmp(&b.0)));
    titles.dedup_by(|a, b| a.0 == b.0);
    let titles: Vec<(String, u64, Option<f64>)> = titles.into_iter().map(|(t, c, _)| (t, c, None)).collect();

    let mut wordnet: Vec<(String, u64, Option<f64>)> =
        candidates.wordnet.iter().map(|w| (w.clone(), counted.get(w.as_str()).copied().unwrap_or(0), None)).collect();
    wordnet.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

    let order = [QuerySource::Wordnet, QuerySource::Unigram, QuerySource::Bigram, QuerySource::Title];
    let lists: HashMap<QuerySource, Vec<(String, u64, Option<f64>)>> = [
        (QuerySource::Wordnet, wordnet),
        (QuerySource::Unigram, unigrams),
        (QuerySource::Bigram, bigrams),
        (QuerySource::Title, titles),
    ]
    .into_iter()
    .collect();
    let mut cursor: HashMap<QuerySource, usize> = order.iter().map(|s| (*s, 0)).collect();
    let mut taken: HashSet<String> = HashSet::new();
    let mut chosen: Vec<(String, QuerySource, u64, Option<f64>)> = Vec::new();
    let mut selected = Selected::default();

    let mut take = |source: QuerySource, limit: u64, chosen: &mut Vec<_>, selected: &mut Selected| {
        let list = &lists[&source];
        let at = cursor.get_mut(&source).expect("every source has a cursor");
        let mut took = 0u64;
        while took < limit && *at < list.len() {
            let (query, count, pmi) = &list[*at];
            *at += 1;
            if !is_usable(query) || !taken.insert(query.clone()) {
                continue;
            }
            chosen.push((query.clone(), source, *count, *pmi));
            took += 1;
        }
        match source {
            QuerySource::Wordnet => selected.wordnet += took,
            QuerySource::Unigram => selected.unigram += took,
            QuerySource::Bigram => selected.bigram += took,
            QuerySource::Title => selected.title += took,
        }
    };
    for source in order {
        let room = size.saturating_sub(chosen.len() as u64);
        take(source, quotas.of(source).min(room), &mut chosen, &mut selected);
    }
    if fill {
        for source in [QuerySource::Unigram, QuerySource::Bigram, QuerySource::Title, QuerySource::Wordnet] {
            let room = size.saturating_sub(chosen.len() as u64);
            take(source, room, &mut chosen, &mut selected);
        }
    }
    chosen.sort_by(|a, b| a.0.cmp(&b.0));
    let entries = chosen
        .into_iter()
        .enumerate()
        .map(|(id, (query, source, count, pmi))| QueryEntry { id: id as u32, query, source, count, pmi })
        .collect();
    (entries, selected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::Title;

    fn candidates() -> Candidates {
        Candidates {
            unigrams: vec![
                ("New".into(), 50),
                ("York".into(), 20),
                ("the".into(), 500),
                ("dog".into(), 30),
                ("cat".into(), 30),
            ],
            bigrams: vec![("New York".into(), 20), ("the dog".into(), 25)],
            tokens: 1000,
            titles: vec![
                Title { title: "New York".into(), views: Some(5) },
                Title { title: "Paris".into(), views: Some(9) },
            ],
            wordnet: vec!["dog".into(), "hot dog".into()],
        }
    }

    #[test]
    fn pmi_is_the_textbook_formula() {
        assert!((pmi(20, 50, 20, 1000) - (20.0f64 * 1000.0 / (50.0 * 20.0)).log2()).abs() < 1e-12);
    }

    #[test]
    fn quotas_dedupe_ranks_and_ids() {
        let quotas = Quotas { wordnet: 1, unigram: 2, bigram: 1, title: 2 };
        let (entries, selected) = select(candidates(), 100, quotas, false);
        let got: Vec<(u32, &str, QuerySource)> = entries.iter().map(|e| (e.id, e.query.as_str(), e.source)).collect();
        // WordNet takes "dog" (the most frequent of its words); unigrams then take the two best
        // others; the bigram with the higher PMI wins; the title "New York" is already a bigram.
        assert_eq!(
            got,
            [
                (0, "New", QuerySource::Unigram),
                (1, "New York", QuerySource::Bigram),
                (2, "Paris", QuerySource::Title),
                (3, "dog", QuerySource::Wordnet),
                (4, "the", QuerySource::Unigram),
            ]
        );
        assert_eq!(selected, Selected { wordnet: 1, unigram: 2, bigram: 1, title: 1 });
        let ny = entries.iter().find(|e| e.query == "New York").unwrap();
        assert_eq!(ny.count, 20);
        assert!(ny.pmi.unwrap() > 4.0);
        assert_eq!(entries.iter().find(|e| e.query == "dog").unwrap().count, 30, "corpus count carried");

        let (filled, selected) = select(candidates(), 8, quotas, true);
        assert_eq!(filled.len(), 8);
        assert_eq!(selected.unigram, 4);
        let (capped, _) = select(candidates(), 3, quotas, true);
        assert_eq!(capped.len(), 3);
    }

    #[test]
    fn metaclip_shape_scales() {
        let q = Quotas::metaclip_shaped(METACLIP_SIZE);
        assert_eq!(q.wordnet + q.unigram + q.bigram + q.title, METACLIP_SIZE);
        assert_eq!(Quotas::metaclip_shaped(1000), Quotas { wordnet: 173, unigram: 503, bigram: 201, title: 122 });
    }
}
