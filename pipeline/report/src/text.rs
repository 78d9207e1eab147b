//! The report rendered as plain text for the terminal (its HTML rendering is [`crate::html`]).

use std::fmt::Write as _;

use crate::load::StageInfo;
use crate::summary::{QueryList, Report};
use crate::table::QueryRow;

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
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
    crate::trust::render_text(&mut out, &report.trust);
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
}
