//! The self-contained HTML report: one file with inline CSS, inline SVG charts, a sortable and
//! filterable query table (a few lines of inline script, no network, nothing external), and one
//! page per `--query` with sample captions and thumbnails as `data:` URIs.
//!
//! Queries and captions come from the web: every text goes through [`escape`], and only http(s)
//! URLs become links.

use std::fmt::Write as _;

use crate::charts::{self, Series};
use crate::compare::{Both, Comparison};
use crate::summary::{population, present_columns, QueryPage, Report};
use crate::table::{Column, QueryRow};
use crate::text::thousands;
use wit_html::escape;

/// `url` if it is an http(s) URL (a `javascript:` link from the web must not become clickable).
fn safe_href(url: &str) -> Option<String> {
    let lower = url.trim_start().to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")).then(|| escape(url.trim_start()))
}

/// The file name of a query's page: a readable slug plus a hash, so distinct queries never collide.
pub fn query_page_file(query: &str) -> String {
    let mut slug: String =
        query.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).take(40).collect();
    while slug.contains("--") {
        slug = slug.replace("--", "-");
    }
    let slug = slug.trim_matches('-');
    let hash = &wit_contract::xxh3_hex(query.as_bytes())[..8];
    if slug.is_empty() {
        format!("query-{hash}.html")
    } else {
        format!("query-{slug}-{hash}.html")
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}\
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f6f6f6}\
table.sortable th{cursor:pointer}table.sortable th:after{content:' \\2195';color:#aaa}\
.note{color:#8a4b00}.muted{color:#777}input.filter{padding:4px;width:320px}\
.samples{display:flex;flex-wrap:wrap;gap:12px}.sample{width:180px;font-size:12px}\
.sample img{max-width:170px;max-height:170px;display:block;border:1px solid #ddd}svg.chart{display:block;margin:8px 0}";

const SCRIPT: &str = r#"(function(){
function key(td,num){var v=td.getAttribute('data-v');if(v===null)v=td.textContent;
if(num){return v===''?-Infinity:parseFloat(v);}return v.toLowerCase();}
Array.prototype.forEach.call(document.querySelectorAll('table.sortable'),function(t){
var tb=t.tBodies[0];Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th){
th.addEventListener('click',function(){var i=th.cellIndex,num=th.className.indexOf('n')>=0;
var dir=th.getAttribute('data-dir')==='desc'?'asc':'desc';th.setAttribute('data-dir',dir);
var rows=Array.prototype.slice.call(tb.rows);rows.sort(function(a,b){var x=key(a.cells[i],num),y=key(b.cells[i],num);
var c=x<y?-1:(x>y?1:0);return dir==='asc'?c:-c;});rows.forEach(function(r){tb.appendChild(r);});});});});
Array.prototype.forEach.call(document.querySelectorAll('input.filter'),function(inp){
var t=document.getElementById(inp.getAttribute('data-table'));inp.addEventListener('input',function(){
var q=inp.value.toLowerCase();Array.prototype.forEach.call(t.tBodies[0].rows,function(r){
r.style.display=r.textContent.toLowerCase().indexOf(q)>=0?'':'none';});});});
})();"#;

fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width\"><title>{}</title><style>{STYLE}</style></head><body>",
        escape(title)
    );
}

fn num_cell(n: Option<u64>) -> String {
    match n {
        Some(n) => format!("<td class=\"n\" data-v=\"{n}\">{}</td>", thousands(n)),
        None => "<td class=\"n\" data-v=\"\">-</td>".into(),
    }
}

fn float_cell(v: f64, digits: usize) -> String {
    format!("<td class=\"n\">{v:.digits$}</td>")
}

fn stages(out: &mut String, report: &Report) {
    out.push_str("<h2>Stages</h2><table id=\"stages\"><thead><tr><th>stage</th><th class=\"n\">rows</th><th>complete</th><th>folder</th></tr></thead><tbody>");
    let list = [
        ("queries", &report.stages.queries),
        ("candidates", &report.stages.candidates),
        ("curated", &report.stages.curated),
        ("corpus", &report.stages.corpus),
        ("failures", &report.stages.failures),
    ];
    for (name, stage) in list {
        match stage {
            Some(s) => {
                let _ = write!(
                    out,
                    "<tr><td>{name}</td>{}<td>{}</td><td>{}</td></tr>",
                    num_cell(Some(s.rows)),
                    if s.complete { "yes" } else { "<span class=\"note\">no</span>" },
                    escape(&s.path)
                );
            }
            None => {
                let _ = write!(
                    out,
                    "<tr><td>{name}</td><td class=\"n\">-</td><td colspan=\"2\" class=\"muted\">not found</td></tr>"
                );
            }
        }
    }
    out.push_str("</tbody></table>");
    if !report.funnel.is_empty() {
        out.push_str("<h2>Pairs at each step</h2><table id=\"funnel\"><tbody>");
        let first = report.funnel[0].pairs.max(1);
        for step in &report.funnel {
            let _ = write!(
                out,
                "<tr><td>{}</td>{}<td class=\"n\">{:.1}%</td></tr>",
                escape(&step.step),
                num_cell(Some(step.pairs)),
                100.0 * step.pairs as f64 / first as f64
            );
        }
        out.push_str("</tbody></table>");
    }
    if !report.drop_off.is_empty() {
        out.push_str("<h2>Where pairs dropped off</h2><table id=\"drop-off\"><thead><tr><th>stage</th><th>reason</th><th class=\"n\">pairs</th></tr></thead><tbody>");
        for drop in &report.drop_off {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td>{}</tr>",
                escape(&drop.stage),
                escape(&drop.reason),
                num_cell(Some(drop.pairs))
            );
        }
        out.push_str("</tbody></table>");
    }
    if !report.language_drops.is_empty() {
        out.push_str("<h2>Pairs harvest dropped for their language</h2><table id=\"language-drops\"><thead><tr><th>language</th><th class=\"n\">pairs</th></tr></thead><tbody>");
        for drop in &report.language_drops {
            let _ = write!(out, "<tr><td>{}</td>{}</tr>", escape(&drop.lang), num_cell(Some(drop.pairs)));
        }
        out.push_str("</tbody></table>");
    }
}

fn balance(out: &mut String, report: &Report) {
    if report.distributions.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<h2>Per-query balance</h2><p>Over the {} ({} queries){}. A pair with several queries counts once for each.</p>",
        escape(&report.population),
        thousands(report.distributions[0].queries),
        report.cap.as_ref().map(|c| format!("; cap t = {}", thousands(c.effective_cap))).unwrap_or_default()
    );
    out.push_str("<table id=\"measures\"><thead><tr><th>column</th><th class=\"n\">total</th><th class=\"n\">nonzero</th><th class=\"n\">max</th><th class=\"n\">median</th><th class=\"n\">Gini</th><th class=\"n\">entropy (bits)</th><th class=\"n\">effective queries</th><th class=\"n\">at cap</th></tr></thead><tbody>");
    for d in &report.distributions {
        let _ = write!(
            out,
            "<tr><td>{}</td>{}{}{}{}{}{}{}{}</tr>",
            escape(&d.column),
            num_cell(Some(d.total)),
            num_cell(Some(d.nonzero)),
            num_cell(Some(d.max)),
            float_cell(d.median, 1),
            float_cell(d.gini, 3),
            float_cell(d.entropy_bits, 2),
            float_cell(d.effective_queries, 1),
            num_cell(d.at_cap)
        );
    }
    out.push_str("</tbody></table>");
    if let Some(ht) = &report.head_tail {
        let _ = write!(
            out,
            "<p id=\"head-tail\">Head: {} queries matched more than {} candidates; tail: {} queries.",
            thousands(ht.head_queries),
            thousands(ht.cap),
            thousands(ht.tail_queries)
        );
        for share in &ht.shares {
            let _ = write!(out, " The head holds {:.1}% of {} pairs.", 100.0 * share.head_share, share.column.name());
        }
        out.push_str("</p>");
    }
    let list = |out: &mut String, title: &str, list: &Option<crate::summary::QueryList>| {
        if let Some(list) = list {
            let names: Vec<String> = list.first.iter().map(|q| escape(&q.query)).collect();
            let more = if list.count as usize > names.len() { ", …" } else { "" };
            let _ = write!(out, "<p>{title}: <b>{}</b>. {}{more}</p>", thousands(list.count), names.join(", "));
        }
    };
    list(out, "Queries with zero matches", &report.zero_match);
    list(out, "Queries at the cap (kept)", &report.at_cap);
    if !report.sources.is_empty() {
        out.push_str("<h2>By source</h2><table id=\"sources\"><thead><tr><th>source</th><th class=\"n\">queries</th><th class=\"n\">matching</th><th class=\"n\">zero matches</th><th class=\"n\">matched</th><th class=\"n\">kept</th><th class=\"n\">corpus</th></tr></thead><tbody>");
        for s in &report.sources {
            let _ = write!(
                out,
                "<tr><td>{}</td>{}{}{}{}{}{}</tr>",
                escape(&s.source),
                num_cell(Some(s.queries)),
                num_cell(Some(s.matched_queries)),
                num_cell(Some(s.zero_match)),
                num_cell(s.matched),
                num_cell(s.kept),
                num_cell(s.corpus)
            );
        }
        out.push_str("</tbody></table>");
    }
}

fn series(rows: &[QueryRow]) -> Vec<Series> {
    let (pop, _) = population(rows);
    present_columns(rows)
        .into_iter()
        .map(|column| Series { column, counts: pop.iter().map(|r| r.count(column).unwrap_or(0)).collect() })
        .collect()
}

fn query_table(out: &mut String, report: &Report, limit: usize) {
    let mut rows: Vec<&QueryRow> = report.queries.iter().collect();
    if let Some(column) = report.ranked_by {
        rows.sort_by(|a, b| b.count(column).cmp(&a.count(column)).then(a.id.cmp(&b.id)));
    }
    let shown = rows.len().min(limit);
    let _ = write!(
        out,
        "<h2>Queries</h2><p><input class=\"filter\" data-table=\"queries\" placeholder=\"filter queries\" \
         aria-label=\"filter queries\"> <span class=\"muted\">{} of {} queries{}; click a heading to sort. \
         The full table is in queries.parquet and report.json.</span></p>",
        thousands(shown as u64),
        thousands(rows.len() as u64),
        report.ranked_by.map(|c| format!(", most {} first", c.name())).unwrap_or_default()
    );
    out.push_str("<table id=\"queries\" class=\"sortable\"><thead><tr><th class=\"n\">id</th><th>query</th><th>source</th><th class=\"n\">dictionary count</th><th class=\"n\">matched</th><th class=\"n\">kept</th><th class=\"n\">corpus</th><th class=\"n\">failed</th></tr></thead><tbody>");
    let pages: std::collections::HashMap<&str, &str> =
        report.query_pages.iter().filter(|p| p.row.is_some()).map(|p| (p.query.as_str(), p.file.as_str())).collect();
    for row in rows.into_iter().take(limit) {
        let query = match pages.get(row.query.as_str()) {
            Some(file) => format!("<a href=\"{}\">{}</a>", escape(file), escape(&row.query)),
            None => escape(&row.query),
        };
        let _ = write!(
            out,
            "<tr>{}<td>{query}</td><td>{}</td>{}{}{}{}{}</tr>",
            num_cell(Some(u64::from(row.id))),
            escape(row.source.as_deref().unwrap_or("")),
            num_cell(row.dictionary_count),
            num_cell(row.matched),
            num_cell(row.kept),
            num_cell(row.corpus),
            num_cell(row.failed)
        );
    }
    out.push_str("</tbody></table>");
}

fn against(out: &mut String, comparison: &Comparison, limit: usize) {
    let _ = write!(
        out,
        "<h2>Against {}</h2><p id=\"against-summary\">{} queries here, {} there; {} only here, {} only there, {} changed. \
         Differences are here − there{}.</p>",
        escape(&comparison.other),
        thousands(comparison.queries_here),
        thousands(comparison.queries_there),
        thousands(comparison.only_here),
        thousands(comparison.only_there),
        thousands(comparison.changed),
        comparison.column.map(|c| format!(" in {}", c.name())).unwrap_or_default()
    );
    out.push_str("<table id=\"against-measures\"><thead><tr><th>column</th><th class=\"n\">total here</th><th class=\"n\">total there</th><th class=\"n\">Gini here</th><th class=\"n\">Gini there</th><th class=\"n\">effective here</th><th class=\"n\">effective there</th></tr></thead><tbody>");
    for (a, b) in
        comparison.distributions_here.iter().zip(&comparison.distributions_there).filter(|(a, b)| a.column == b.column)
    {
        let _ = write!(
            out,
            "<tr><td>{}</td>{}{}{}{}{}{}</tr>",
            escape(&a.column),
            num_cell(Some(a.total)),
            num_cell(Some(b.total)),
            float_cell(a.gini, 3),
            float_cell(b.gini, 3),
            float_cell(a.effective_queries, 1),
            float_cell(b.effective_queries, 1)
        );
    }
    out.push_str("</tbody></table>");
    let _ = write!(
        out,
        "<p><input class=\"filter\" data-table=\"differences\" placeholder=\"filter\" aria-label=\"filter differences\"> \
         <span class=\"muted\">{} of {} differing queries</span></p>",
        thousands(comparison.differences.len().min(limit) as u64),
        thousands(comparison.differences.len() as u64)
    );
    out.push_str("<table id=\"differences\" class=\"sortable\"><thead><tr><th>query</th><th class=\"n\">matched here</th><th class=\"n\">matched there</th><th class=\"n\">kept here</th><th class=\"n\">kept there</th><th class=\"n\">corpus here</th><th class=\"n\">corpus there</th><th class=\"n\">difference</th></tr></thead><tbody>");
    let both = |b: Both| format!("{}{}", num_cell(b.here), num_cell(b.there));
    for diff in comparison.differences.iter().take(limit) {
        let _ = write!(
            out,
            "<tr><td>{}</td>{}{}{}<td class=\"n\" data-v=\"{}\">{:+}</td></tr>",
            escape(&diff.query),
            both(diff.matched),
            both(diff.kept),
            both(diff.corpus),
            diff.delta,
            diff.delta
        );
    }
    out.push_str("</tbody></table>");
}

/// The main report page; `table_rows` caps the rows of the query table.
pub fn render(report: &Report, table_rows: usize) -> String {
    let mut out = String::new();
    head(&mut out, &format!("wit report: {}", report.input));
    let _ = write!(
        out,
        "<h1>wit report</h1><p class=\"muted\">{} · generated {} by wit {}</p>",
        escape(&report.input),
        escape(&report.generated_at),
        escape(&report.tool_version)
    );
    for note in &report.notes {
        let _ = write!(out, "<p class=\"note\">note: {}</p>", escape(note));
    }
    stages(&mut out, report);
    crate::trust::render_html(&mut out, &report.trust);
    balance(&mut out, report);
    let series = series(&report.queries);
    if !series.is_empty() {
        let cap = report.cap.as_ref().map(|c| c.effective_cap);
        out.push_str("<h2>Charts</h2>");
        out.push_str(&charts::rank_frequency(&series, cap));
        out.push_str(&charts::histogram(&series));
        out.push_str(&charts::cumulative_share(&series));
    }
    if !report.query_pages.is_empty() {
        out.push_str("<h2>Query pages</h2><ul>");
        for page in &report.query_pages {
            let _ = write!(out, "<li><a href=\"{}\">{}</a></li>", escape(&page.file), escape(&page.query));
        }
        out.push_str("</ul>");
    }
    if let Some(comparison) = &report.against {
        against(&mut out, comparison, table_rows);
    }
    query_table(&mut out, report, table_rows);
    let _ = writeln!(out, "<script>{SCRIPT}</script></body></html>");
    out
}

/// The page of one `--query`: its counts and sample pairs with thumbnails.
pub fn render_query_page(report: &Report, page: &QueryPage) -> String {
    let mut out = String::new();
    head(&mut out, &format!("wit report: {}", page.query));
    let _ = write!(out, "<h1>Query “{}”</h1><p><a href=\"report.html\">← the report</a></p>", escape(&page.query));
    let Some(row) = &page.row else {
        let _ = writeln!(
            out,
            "<p class=\"note\">This query is not in the build's dictionary or tables ({}).</p></body></html>",
            escape(&report.input)
        );
        return out;
    };
    out.push_str("<table id=\"query-counts\"><tbody>");
    let _ = write!(out, "<tr><td>id</td>{}</tr>", num_cell(Some(u64::from(row.id))));
    let _ = write!(out, "<tr><td>source</td><td>{}</td></tr>", escape(row.source.as_deref().unwrap_or("unknown")));
    for (label, value) in [
        ("dictionary count", row.dictionary_count),
        (Column::Matched.label(), row.matched),
        (Column::Kept.label(), row.kept),
        (Column::Corpus.label(), row.corpus),
        ("fetch failures", row.failed),
    ] {
        let _ = write!(out, "<tr><td>{}</td>{}</tr>", escape(label), num_cell(value));
    }
    out.push_str("</tbody></table>");
    let _ = write!(
        out,
        "<h2>Samples</h2><p class=\"muted\">{} sample pairs{}.</p><div class=\"samples\" id=\"samples\">",
        page.samples.len(),
        page.samples_from.as_ref().map(|s| format!(" from the {} folder", escape(s))).unwrap_or_default()
    );
    for sample in &page.samples {
        out.push_str("<div class=\"sample\">");
        match (&sample.thumbnail, &sample.thumbnail_error) {
            (Some(uri), _) => {
                let _ = write!(out, "<img src=\"{}\" alt=\"{}\">", escape(uri), escape(&sample.caption));
            }
            (None, Some(error)) => {
                let _ = write!(out, "<p class=\"note\">no thumbnail: {}</p>", escape(error));
            }
            (None, None) => {}
        }
        let _ = write!(out, "<div class=\"caption\">{}</div>", escape(&sample.caption));
        if let (Some(w), Some(h)) = (sample.width, sample.height) {
            let _ = write!(out, "<div class=\"muted\">{w}×{h}</div>");
        }
        match safe_href(&sample.url) {
            Some(href) => {
                let _ = write!(out, "<div><a href=\"{href}\" rel=\"noreferrer nofollow\">image URL</a></div>");
            }
            None => {
                let _ = write!(out, "<div class=\"muted\">{}</div>", escape(&sample.url));
            }
        }
        out.push_str("</div>");
    }
    out.push_str("</div></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_become_links() {
        assert_eq!(safe_href("https://a.example/x?a=1&b=2").as_deref(), Some("https://a.example/x?a=1&amp;b=2"));
        assert!(safe_href("javascript:alert(1)").is_none());
        assert!(safe_href(" JaVaScRiPt:alert(1)").is_none());
        assert!(safe_href("data:text/html,<b>").is_none());
    }

    #[test]
    fn page_files_are_safe_and_distinct() {
        assert!(query_page_file("hot dog").starts_with("query-hot-dog-"));
        assert_ne!(query_page_file("hot dog"), query_page_file("hot-dog"));
        let odd = query_page_file("../../etc/passwd");
        assert!(!odd.contains('/') && odd.ends_with(".html"), "{odd}");
        assert!(query_page_file("日本").starts_with("query-") && !query_page_file("日本").contains("--"));
    }
}
