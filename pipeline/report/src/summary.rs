//! The report itself: totals per stage, where pairs dropped off and why, per-query balance
//! (zero-match queries, queries at the cap, head/tail split, concentration measures, top and
//! bottom queries, per-source breakdown). Its renderings: [`crate::text`] (terminal), [`crate::html`].

use std::collections::BTreeMap;

use serde::Serialize;

use crate::compare::Comparison;
use crate::load::{Loaded, Sample, StageInfo};
use crate::measures::Distribution;
use crate::table::{Column, QueryRow};

/// The cap curate balanced against.
#[derive(Debug, Clone, Serialize)]
pub struct Cap {
    /// MetaCLIP's t.
    pub cap: Option<u64>,
    /// The cap the rules ran with (cap × oversample): what "at the cap" and "above the cap" use.
    pub effective_cap: u64,
    pub strict: Option<bool>,
}

/// The stage folders read and what their manifests say.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stages {
    pub queries: Option<StageInfo>,
    pub candidates: Option<StageInfo>,
    pub curated: Option<StageInfo>,
    pub corpus: Option<StageInfo>,
    pub failures: Option<StageInfo>,
}

/// Pairs left after one step of the pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct FunnelStep {
    pub step: String,
    pub pairs: u64,
}

/// Pairs lost at one step, and why.
#[derive(Debug, Clone, Serialize)]
pub struct DropReason {
    pub stage: String,
    pub reason: String,
    pub pairs: u64,
}

/// A query, by name.
#[derive(Debug, Clone, Serialize)]
pub struct QueryRef {
    pub id: u32,
    pub query: String,
}

/// How many queries are in a group, and the first few of them (by id).
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueryList {
    pub count: u64,
    pub first: Vec<QueryRef>,
}

/// The share of one column held by head queries (matched above the cap).
#[derive(Debug, Clone, Serialize)]
pub struct Share {
    pub column: Column,
    pub head: u64,
    pub tail: u64,
    pub head_share: f64,
}

/// Head queries (matched more candidates than the cap) against the tail.
#[derive(Debug, Clone, Serialize)]
pub struct HeadTail {
    pub cap: u64,
    pub head_queries: u64,
    pub tail_queries: u64,
    pub shares: Vec<Share>,
}

/// Matched, kept and corpus totals of the queries of one dictionary source.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceBreakdown {
    pub source: String,
    pub queries: u64,
    pub matched_queries: u64,
    pub zero_match: u64,
    pub matched: Option<u64>,
    pub kept: Option<u64>,
    pub corpus: Option<u64>,
}

/// The page of one `--query`: its row and sample pairs.
#[derive(Debug, Clone, Serialize)]
pub struct QueryPage {
    pub query: String,
    pub row: Option<QueryRow>,
    /// corpus (with thumbnails) or curated (captions only).
    pub samples_from: Option<String>,
    pub samples: Vec<Sample>,
    /// The page's file name in the output folder.
    pub file: String,
}

/// Pairs harvest left out for their language, for one decided language (`und`: none decided).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LanguageDrop {
    pub lang: String,
    pub pairs: u64,
}

/// The candidates manifest's `lang_dropped`, largest first.
fn language_drops(candidates: Option<&StageInfo>) -> Vec<LanguageDrop> {
    let Some(map) = candidates.and_then(|c| c.stats.get("lang_dropped")).and_then(|v| v.as_object()) else {
        return Vec::new();
    };
    let mut drops: Vec<LanguageDrop> =
        map.iter().filter_map(|(lang, n)| Some(LanguageDrop { lang: lang.clone(), pairs: n.as_u64()? })).collect();
    drops.sort_by(|a, b| b.pairs.cmp(&a.pairs).then(a.lang.cmp(&b.lang)));
    drops
}

/// Everything `wit report` knows about a build; `report.json` is this, serialised.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tool_version: String,
    pub generated_at: String,
    pub input: String,
    pub stages: Stages,
    pub cap: Option<Cap>,
    pub funnel: Vec<FunnelStep>,
    pub drop_off: Vec<DropReason>,
    /// Harvest's language drops by decided language, largest first (empty without them).
    pub language_drops: Vec<LanguageDrop>,
    pub failures_by_status: BTreeMap<String, u64>,
    pub failures_by_http_status: BTreeMap<String, u64>,
    /// What the distributions are over.
    pub population: String,
    pub distributions: Vec<Distribution>,
    pub head_tail: Option<HeadTail>,
    pub zero_match: Option<QueryList>,
    pub at_cap: Option<QueryList>,
    /// The column top and bottom are ranked by: the last stage present.
    pub ranked_by: Option<Column>,
    pub top: Vec<QueryRow>,
    pub bottom: Vec<QueryRow>,
    pub sources: Vec<SourceBreakdown>,
    pub query_pages: Vec<QueryPage>,
    pub against: Option<Comparison>,
    /// What the build left out and why: opt-outs, takedowns, near duplicates, decontamination.
    pub trust: crate::trust::Trust,
    pub notes: Vec<String>,
    /// The per-query table, every query.
    pub queries: Vec<QueryRow>,
}

/// The columns that some row holds.
pub fn present_columns(rows: &[QueryRow]) -> Vec<Column> {
    Column::ALL.into_iter().filter(|&c| rows.iter().any(|r| r.count(c).is_some())).collect()
}

/// The queries the measures are over: those that matched at least one candidate when matched
/// counts are known, else every query of the table.
pub fn population(rows: &[QueryRow]) -> (Vec<&QueryRow>, &'static str) {
    if rows.iter().any(|r| r.matched.is_some()) {
        (rows.iter().filter(|r| r.matched.unwrap_or(0) > 0).collect(), "queries that matched at least one candidate")
    } else {
        (rows.iter().collect(), "every query in the table")
    }
}

/// One distribution per present column over the population.
pub fn distributions(rows: &[QueryRow], cap: Option<u64>) -> Vec<Distribution> {
    let (population, _) = population(rows);
    present_columns(rows)
        .into_iter()
        .map(|column| {
            let counts: Vec<u64> = population.iter().map(|r| r.count(column).unwrap_or(0)).collect();
            Distribution::of(column.name(), &counts, cap)
        })
        .collect()
}

fn query_list<'a>(rows: impl Iterator<Item = &'a QueryRow>, first: usize) -> QueryList {
    let mut list = QueryList::default();
    for row in rows {
        list.count += 1;
        if list.first.len() < first {
            list.first.push(QueryRef { id: row.id, query: row.query.clone() });
        }
    }
    list
}

fn cap_of(loaded: &Loaded, cap_override: Option<u64>) -> Option<Cap> {
    let curated = loaded.curated.as_ref();
    let cap = curated.and_then(|c| c.config_u64("cap"));
    let strict = curated.and_then(|c| c.config.get("strict")).and_then(serde_json::Value::as_bool);
    let effective = cap_override.or_else(|| curated.and_then(|c| c.config_u64("effective_cap"))).or(cap)?;
    Some(Cap { cap: cap.or(cap_override), effective_cap: effective, strict })
}

fn funnel_and_drop_off(loaded: &Loaded) -> (Vec<FunnelStep>, Vec<DropReason>) {
    let mut funnel = Vec::new();
    let mut drops = Vec::new();
    let step = |name: &str, pairs: u64| FunnelStep { step: name.to_owned(), pairs };
    let curated = loaded.curated.as_ref();
    let candidates = loaded.candidates.as_ref().map(|c| c.rows).or_else(|| curated.and_then(|c| c.stat("candidates")));
    let matched = curated.and_then(|c| c.stat("matched"));
    let kept = curated.map(|c| c.stat("kept").unwrap_or(c.rows));
    if let Some(n) = candidates {
        funnel.push(step("candidates", n));
    }
    if let Some(n) = matched {
        funnel.push(step("matched a query", n));
        if let Some(candidates) = candidates {
            let reason = "no dictionary query in the text";
            drops.push(DropReason {
                stage: "curate".into(),
                reason: reason.into(),
                pairs: candidates.saturating_sub(n),
            });
        }
    }
    if let Some(n) = kept {
        funnel.push(step("kept by balancing", n));
        if let Some(matched) = matched {
            let reason = "not kept by per-query balancing";
            drops.push(DropReason { stage: "curate".into(), reason: reason.into(), pairs: matched.saturating_sub(n) });
        }
    }
    if let Some(corpus) = &loaded.corpus {
        funnel.push(step("in the corpus", corpus.rows));
        for (status, &pairs) in &loaded.failures_by_status {
            drops.push(DropReason { stage: "fetch".into(), reason: status.clone(), pairs });
        }
        let failed: u64 = loaded.failures_by_status.values().sum();
        if let Some(kept) = kept {
            let accounted = corpus.rows + failed;
            if kept > accounted {
                drops.push(DropReason {
                    stage: "fetch".into(),
                    reason: "neither in the corpus nor a failure (not fetched yet, a duplicate image, or over the \
                             cap after download)"
                        .into(),
                    pairs: kept - accounted,
                });
            }
        }
    }
    (funnel, drops)
}

fn sources(rows: &[QueryRow]) -> Vec<SourceBreakdown> {
    let mut by_source: BTreeMap<String, SourceBreakdown> = BTreeMap::new();
    let add = |total: &mut Option<u64>, n: Option<u64>| {
        if let Some(n) = n {
            *total = Some(total.unwrap_or(0) + n);
        }
    };
    for row in rows {
        let name = row.source.clone().unwrap_or_else(|| "unknown".into());
        let entry =
            by_source.entry(name.clone()).or_insert_with(|| SourceBreakdown { source: name, ..Default::default() });
        entry.queries += 1;
        if let Some(matched) = row.matched {
            if matched > 0 {
                entry.matched_queries += 1;
            } else {
                entry.zero_match += 1;
            }
        }
        add(&mut entry.matched, row.matched);
        add(&mut entry.kept, row.kept);
        add(&mut entry.corpus, row.corpus);
    }
    // Dictionary order: unigram, bigram, title, wordnet, then anything else.
    let order = |s: &str| ["unigram", "bigram", "title", "wordnet"].iter().position(|&k| k == s).unwrap_or(4);
    let mut list: Vec<SourceBreakdown> = by_source.into_values().collect();
    list.sort_by(|a, b| order(&a.source).cmp(&order(&b.source)).then_with(|| a.source.cmp(&b.source)));
    list
}

/// Builds the report of `loaded` (query pages and the comparison are added by the caller).
pub fn build(loaded: Loaded, input: &str, top_n: usize, cap_override: Option<u64>) -> Report {
    let cap = cap_of(&loaded, cap_override);
    let effective_cap = cap.as_ref().map(|c| c.effective_cap);
    let (funnel, drop_off) = funnel_and_drop_off(&loaded);
    let rows = &loaded.rows;
    let columns = present_columns(rows);
    let (pop, population_label) = population(rows);
    let has_matched = columns.contains(&Column::Matched);
    let has_kept = columns.contains(&Column::Kept);

    let head_tail = match (effective_cap, has_matched) {
        (Some(cap), true) => {
            let (head, tail): (Vec<&QueryRow>, Vec<&QueryRow>) =
                pop.iter().copied().partition(|r| r.matched.unwrap_or(0) > cap);
            let shares = columns
                .iter()
                .map(|&column| {
                    let sum = |rows: &[&QueryRow]| rows.iter().map(|r| r.count(column).unwrap_or(0)).sum::<u64>();
                    let (h, t) = (sum(&head), sum(&tail));
                    Share {
                        column,
                        head: h,
                        tail: t,
                        head_share: if h + t == 0 { 0.0 } else { h as f64 / (h + t) as f64 },
                    }
                })
                .collect();
            Some(HeadTail { cap, head_queries: head.len() as u64, tail_queries: tail.len() as u64, shares })
        }
        _ => None,
    };
    let zero_match = has_matched.then(|| query_list(rows.iter().filter(|r| r.matched == Some(0)), top_n));
    let at_cap = match (effective_cap, has_kept) {
        (Some(cap), true) => Some(query_list(rows.iter().filter(|r| r.kept.unwrap_or(0) >= cap), top_n)),
        _ => None,
    };
    let ranked_by = columns.last().copied();
    let (top, bottom) = match ranked_by {
        Some(column) => {
            let mut ranked: Vec<&QueryRow> = pop.clone();
            let key = |r: &&QueryRow| (r.count(column).unwrap_or(0), r.matched.unwrap_or(0));
            ranked.sort_by(|a, b| key(b).cmp(&key(a)).then(a.id.cmp(&b.id)));
            let top = ranked.iter().take(top_n).map(|r| (*r).clone()).collect();
            ranked.sort_by(|a, b| key(a).cmp(&key(b)).then(a.id.cmp(&b.id)));
            let bottom = ranked.iter().take(top_n).map(|r| (*r).clone()).collect();
            (top, bottom)
        }
        None => (Vec::new(), Vec::new()),
    };
    let distributions = distributions(rows, effective_cap);
    let sources = sources(rows);
    let language_drops = language_drops(loaded.candidates.as_ref());
    Report {
        tool_version: wit_contract::TOOL_VERSION.to_owned(),
        generated_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        input: input.to_owned(),
        stages: Stages {
            queries: loaded.queries,
            candidates: loaded.candidates,
            curated: loaded.curated,
            corpus: loaded.corpus,
            failures: loaded.failures,
        },
        cap,
        funnel,
        drop_off,
        language_drops,
        failures_by_status: loaded.failures_by_status,
        failures_by_http_status: loaded.failures_by_http_status,
        population: population_label.to_owned(),
        distributions,
        head_tail,
        zero_match,
        at_cap,
        ranked_by,
        top,
        bottom,
        sources,
        query_pages: Vec::new(),
        against: None,
        trust: Default::default(),
        notes: loaded.notes,
        queries: loaded.rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_drops_come_from_the_candidates_stats_largest_first() {
        let stage = |stats| StageInfo {
            path: "c".into(),
            complete: true,
            shards: 1,
            rows: 10,
            stats,
            config: serde_json::Value::Null,
        };
        let candidates = stage(serde_json::json!({"lang_dropped": {"deu": 3, "und": 1, "fra": 7}}));
        let drops = language_drops(Some(&candidates));
        let got: Vec<(&str, u64)> = drops.iter().map(|d| (d.lang.as_str(), d.pairs)).collect();
        assert_eq!(got, [("fra", 7), ("deu", 3), ("und", 1)]);
        assert!(language_drops(Some(&stage(serde_json::json!({"pairs_out": 3})))).is_empty());
        assert!(language_drops(None).is_empty());
    }
}
