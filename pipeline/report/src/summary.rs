//! The report itself: totals per stage, where pairs dropped off and why, per-query balance
//! (zero-match queries, queries at the cap, head/tail split, concentration measures, top and
//! bottom queries, per-source breakdown), and its plain-text rendering for the terminal.

use std::collections::BTreeMap;
use std::fmt::Write as _;

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
        notes: loaded.notes,
        queries: loaded.rows,
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn opt(n: Option<u64>) -> String {
    n.map(thousands).unwrap_or_else(|| "-".into())
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / whole as f64)
    }
}

fn stage_line(out: &mut String, name: &str, stage: &Option<StageInfo>, what: &str) {
    if let Some(stage) = stage {
        let state = if stage.complete { "" } else { "  (INCOMPLETE)" };
        let _ = writeln!(out, "  {name:<11} {:>12} {what:<10} {}{state}", thousands(stage.rows), stage.path);
    } else {
        let _ = writeln!(out, "  {name:<11} {:>12} {what:<10} (not found)", "-");
    }
}

fn query_rows(out: &mut String, rows: &[QueryRow]) {
    let _ = writeln!(out, "    {:<32} {:>8} {:>12} {:>10} {:>10}", "query", "source", "matched", "kept", "corpus");
    for row in rows {
        let mut query: String = row.query.chars().take(32).collect();
        query.retain(|c| !c.is_control());
        let _ = writeln!(
            out,
            "    {query:<32} {:>8} {:>12} {:>10} {:>10}",
            row.source.as_deref().unwrap_or("-"),
            opt(row.matched),
            opt(row.kept),
            opt(row.corpus)
        );
    }
}

fn names(list: &QueryList) -> String {
    let shown: Vec<String> = list.first.iter().map(|q| format!("{:?}", q.query)).collect();
    let more = if list.count as usize > shown.len() { ", …" } else { "" };
    format!("{}{more}", shown.join(", "))
}

/// The terminal summary.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "wit report of {}", report.input);
    let _ = writeln!(out, "\nStages");
    stage_line(&mut out, "queries", &report.stages.queries, "queries");
    stage_line(&mut out, "candidates", &report.stages.candidates, "pairs");
    stage_line(&mut out, "curated", &report.stages.curated, "pairs");
    stage_line(&mut out, "corpus", &report.stages.corpus, "images");
    if report.stages.failures.is_some() {
        stage_line(&mut out, "failures", &report.stages.failures, "pairs");
    }
    if !report.funnel.is_empty() {
        let _ = writeln!(out, "\nPairs at each step");
        let first = report.funnel[0].pairs;
        for step in &report.funnel {
            let _ = writeln!(
                out,
                "  {:<20} {:>12}  {:>7} of the first",
                step.step,
                thousands(step.pairs),
                percent(step.pairs, first)
            );
        }
    }
    if !report.drop_off.is_empty() {
        let _ = writeln!(out, "\nWhere pairs dropped off");
        for drop in &report.drop_off {
            let _ = writeln!(out, "  {:<8} {:>12}  {}", drop.stage, thousands(drop.pairs), drop.reason);
        }
    }
    if !report.language_drops.is_empty() {
        let total: u64 = report.language_drops.iter().map(|d| d.pairs).sum();
        let _ = writeln!(out, "\nPairs harvest dropped for their language ({}), by language", thousands(total));
        for drop in report.language_drops.iter().take(20) {
            let _ =
                writeln!(out, "  {:<8} {:>12}  {:>7}", drop.lang, thousands(drop.pairs), percent(drop.pairs, total));
        }
        if report.language_drops.len() > 20 {
            let rest: u64 = report.language_drops[20..].iter().map(|d| d.pairs).sum();
            let _ = writeln!(out, "  {:<8} {:>12}  {:>7}", "others", thousands(rest), percent(rest, total));
        }
    }
    if let Some(cap) = &report.cap {
        let strict = match cap.strict {
            Some(true) => " (strict)",
            Some(false) => " (soft, MetaCLIP)",
            None => "",
        };
        let _ = writeln!(out, "\nCap: {} per query{strict}", thousands(cap.effective_cap));
    }
    if !report.distributions.is_empty() {
        let _ = writeln!(
            out,
            "\nPer-query balance over the {} ({})",
            report.population,
            thousands(report.distributions[0].queries)
        );
        let _ = writeln!(
            out,
            "  {:<8} {:>12} {:>9} {:>10} {:>9} {:>7} {:>8} {:>12} {:>8}",
            "column", "total", "nonzero", "max", "median", "gini", "H bits", "effective q", "at cap"
        );
        for d in &report.distributions {
            let _ = writeln!(
                out,
                "  {:<8} {:>12} {:>9} {:>10} {:>9.1} {:>7.3} {:>8.2} {:>12.1} {:>8}",
                d.column,
                thousands(d.total),
                thousands(d.nonzero),
                thousands(d.max),
                d.median,
                d.gini,
                d.entropy_bits,
                d.effective_queries,
                opt(d.at_cap)
            );
        }
    }
    if let Some(head_tail) = &report.head_tail {
        let _ = writeln!(
            out,
            "\nHead/tail: {} head queries matched more than {}, {} tail queries",
            thousands(head_tail.head_queries),
            thousands(head_tail.cap),
            thousands(head_tail.tail_queries)
        );
        for share in &head_tail.shares {
            let _ = writeln!(
                out,
                "  {:<8} head holds {:>6.1}% ({} of {})",
                share.column.name(),
                100.0 * share.head_share,
                thousands(share.head),
                thousands(share.head + share.tail)
            );
        }
    }
    if let Some(zero) = &report.zero_match {
        let _ = writeln!(out, "\nQueries with zero matches: {}", thousands(zero.count));
        if zero.count > 0 {
            let _ = writeln!(out, "  {}", names(zero));
        }
    }
    if let Some(at_cap) = &report.at_cap {
        let _ = writeln!(out, "Queries at the cap (kept): {}", thousands(at_cap.count));
        if at_cap.count > 0 {
            let _ = writeln!(out, "  {}", names(at_cap));
        }
    }
    if let Some(column) = report.ranked_by {
        let _ = writeln!(out, "\nTop {} queries by {}", report.top.len(), column.name());
        query_rows(&mut out, &report.top);
        let _ = writeln!(out, "\nBottom {} queries by {}", report.bottom.len(), column.name());
        query_rows(&mut out, &report.bottom);
    }
    if !report.sources.is_empty() {
        let _ = writeln!(out, "\nBy source");
        let _ = writeln!(
            out,
            "  {:<9} {:>10} {:>10} {:>10} {:>12} {:>10} {:>10}",
            "source", "queries", "matching", "zero", "matched", "kept", "corpus"
        );
        for s in &report.sources {
            let _ = writeln!(
                out,
                "  {:<9} {:>10} {:>10} {:>10} {:>12} {:>10} {:>10}",
                s.source,
                thousands(s.queries),
                thousands(s.matched_queries),
                thousands(s.zero_match),
                opt(s.matched),
                opt(s.kept),
                opt(s.corpus)
            );
        }
    }
    for page in &report.query_pages {
        let _ = writeln!(out, "\nQuery {:?}", page.query);
        match &page.row {
            None => {
                let _ = writeln!(out, "  not in this build's dictionary or tables");
            }
            Some(row) => {
                let _ = writeln!(
                    out,
                    "  id {}, {}: matched {}, kept {}, corpus {}, failed {}",
                    row.id,
                    row.source.as_deref().unwrap_or("unknown source"),
                    opt(row.matched),
                    opt(row.kept),
                    opt(row.corpus),
                    opt(row.failed)
                );
                for sample in page.samples.iter().take(5) {
                    let caption: String = sample.caption.chars().filter(|c| !c.is_control()).take(100).collect();
                    let _ = writeln!(out, "    - {caption}");
                }
            }
        }
    }
    if let Some(against) = &report.against {
        crate::compare::render_text(&mut out, against);
    }
    for note in &report.notes {
        let _ = writeln!(out, "\nnote: {note}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

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
