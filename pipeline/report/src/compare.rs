//! `--against B`: per-query differences between this build (A) and another (B), joined on the
//! query text (ids may differ between dictionaries), with both builds' concentration measures.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::measures::Distribution;
use crate::table::{Column, QueryRow};
use crate::text::thousands;

/// One count in both builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Both {
    pub here: Option<u64>,
    pub there: Option<u64>,
}

/// A query whose counts differ (or that only one build has).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryDiff {
    pub query: String,
    pub matched: Both,
    pub kept: Both,
    pub corpus: Both,
    /// This build's count minus the other's, in the compared column (absent counts as 0).
    pub delta: i64,
}

/// The comparison of this build with another.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub other: String,
    /// The column `delta` is taken in: the last stage both builds have.
    pub column: Option<Column>,
    pub queries_here: u64,
    pub queries_there: u64,
    pub only_here: u64,
    pub only_there: u64,
    /// Queries in both builds with a different count in any column.
    pub changed: u64,
    pub distributions_here: Vec<Distribution>,
    pub distributions_there: Vec<Distribution>,
    /// Every differing query, largest |delta| first.
    pub differences: Vec<QueryDiff>,
}

/// Compares `here` with `there` (rows of each build's per-query table).
pub fn compare(
    here: &[QueryRow],
    there: &[QueryRow],
    other: &str,
    distributions_here: Vec<Distribution>,
    distributions_there: Vec<Distribution>,
) -> Comparison {
    let by_text = |rows: &[QueryRow]| -> BTreeMap<String, QueryRow> {
        rows.iter().map(|r| (r.query.clone(), r.clone())).collect()
    };
    let (a, b) = (by_text(here), by_text(there));
    let columns_a = crate::summary::present_columns(here);
    let columns_b = crate::summary::present_columns(there);
    let column = Column::ALL.into_iter().rev().find(|c| columns_a.contains(c) && columns_b.contains(c));
    let mut comparison = Comparison {
        other: other.to_owned(),
        column,
        queries_here: a.len() as u64,
        queries_there: b.len() as u64,
        only_here: a.keys().filter(|q| !b.contains_key(*q)).count() as u64,
        only_there: b.keys().filter(|q| !a.contains_key(*q)).count() as u64,
        changed: 0,
        distributions_here,
        distributions_there,
        differences: Vec::new(),
    };
    let queries: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for query in queries {
        let (x, y) = (a.get(query), b.get(query));
        let both = |c: Column| Both { here: x.and_then(|r| r.count(c)), there: y.and_then(|r| r.count(c)) };
        let diff = QueryDiff {
            query: query.clone(),
            matched: both(Column::Matched),
            kept: both(Column::Kept),
            corpus: both(Column::Corpus),
            delta: column.map(|c| both(c).here.unwrap_or(0) as i64 - both(c).there.unwrap_or(0) as i64).unwrap_or(0),
        };
        let differs = [diff.matched, diff.kept, diff.corpus].iter().any(|b| b.here != b.there);
        if x.is_some() && y.is_some() && differs {
            comparison.changed += 1;
        }
        if differs || x.is_none() || y.is_none() {
            comparison.differences.push(diff);
        }
    }
    comparison
        .differences
        .sort_by(|p, q| q.delta.unsigned_abs().cmp(&p.delta.unsigned_abs()).then(p.query.cmp(&q.query)));
    comparison
}

fn opt(n: Option<u64>) -> String {
    n.map(thousands).unwrap_or_else(|| "-".into())
}

/// The comparison's part of the terminal summary (the 20 largest differences).
pub fn render_text(out: &mut String, comparison: &Comparison) {
    let _ = writeln!(out, "\nAgainst {}", comparison.other);
    let _ = writeln!(
        out,
        "  queries: {} here, {} there; {} only here, {} only there, {} changed",
        thousands(comparison.queries_here),
        thousands(comparison.queries_there),
        thousands(comparison.only_here),
        thousands(comparison.only_there),
        thousands(comparison.changed)
    );
    for (here, there) in comparison.distributions_here.iter().zip(&comparison.distributions_there) {
        if here.column == there.column {
            let _ = writeln!(
                out,
                "  {:<8} total {} vs {}, gini {:.3} vs {:.3}, effective queries {:.1} vs {:.1}",
                here.column,
                thousands(here.total),
                thousands(there.total),
                here.gini,
                there.gini,
                here.effective_queries,
                there.effective_queries
            );
        }
    }
    if let Some(column) = comparison.column {
        let _ = writeln!(out, "  largest differences in {} (here − there):", column.name());
        for diff in comparison.differences.iter().take(20) {
            let both = match column {
                Column::Matched => diff.matched,
                Column::Kept => diff.kept,
                Column::Corpus => diff.corpus,
            };
            let query: String = diff.query.chars().filter(|c| !c.is_control()).take(32).collect();
            let _ = writeln!(out, "    {query:<32} {:>10} {:>10} {:>+10}", opt(both.here), opt(both.there), diff.delta);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u32, query: &str, matched: u64, kept: u64) -> QueryRow {
        QueryRow { matched: Some(matched), kept: Some(kept), ..QueryRow::new(id, query.into()) }
    }

    #[test]
    fn differences_join_on_text_and_sort_by_size() {
        let a = vec![row(1, "dog", 10, 5), row(2, "cat", 3, 3), row(3, "owl", 1, 1)];
        let b = vec![row(7, "dog", 10, 2), row(8, "cat", 3, 3), row(9, "emu", 4, 4)];
        let c = compare(&a, &b, "B", vec![], vec![]);
        assert_eq!(c.column, Some(Column::Kept));
        assert_eq!((c.only_here, c.only_there, c.changed), (1, 1, 1));
        let deltas: Vec<(&str, i64)> = c.differences.iter().map(|d| (d.query.as_str(), d.delta)).collect();
        assert_eq!(deltas, [("emu", -4), ("dog", 3), ("owl", 1)]);
    }
}
