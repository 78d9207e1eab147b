//! Inline SVG charts of per-query counts: the log-log rank-frequency plot (before and after
//! balancing, the cap drawn), a histogram of counts in power-of-two bins, and the cumulative
//! share curve. Long series are sampled at log-spaced ranks so a 500k-query build stays small.

use std::fmt::Write as _;

use crate::table::Column;
use wit_html::escape;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 340.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 48.0;
/// Points drawn per series at most.
const MAX_POINTS: usize = 400;

/// The colour of a column's series.
pub fn colour(column: Column) -> &'static str {
    match column {
        Column::Matched => "#d62728",
        Column::Kept => "#1f77b4",
        Column::Corpus => "#2ca02c",
    }
}

/// One column's per-query counts.
pub struct Series {
    pub column: Column,
    pub counts: Vec<u64>,
}

fn open_svg(out: &mut String, id: &str, title: &str) {
    let _ = write!(
        out,
        r#"<svg id="{id}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{t}"><title>{t}</title>"#,
        t = escape(title)
    );
    let _ = write!(out, r##"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>"##);
}

fn legend(out: &mut String, entries: &[(String, &str, bool)]) {
    for (i, (label, colour, dashed)) in entries.iter().enumerate() {
        let y = TOP + 10.0 + 16.0 * i as f64;
        let x = WIDTH - RIGHT - 200.0;
        let dash = if *dashed { r#" stroke-dasharray="5,4""# } else { "" };
        let _ = write!(
            out,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="2"{dash}/><text x="{}" y="{}" font-size="11">{}</text>"#,
            x + 18.0,
            x + 24.0,
            y + 4.0,
            escape(label)
        );
    }
}

fn frame(out: &mut String, x_label: &str, y_label: &str) {
    let (x0, y0, x1, y1) = (LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM);
    let _ = write!(
        out,
        r##"<rect x="{x0}" y="{y0}" width="{}" height="{}" fill="none" stroke="#888"/>"##,
        x1 - x0,
        y1 - y0
    );
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" font-size="12" text-anchor="middle">{}</text>"#,
        (x0 + x1) / 2.0,
        HEIGHT - 8.0,
        escape(x_label)
    );
    let _ = write!(
        out,
        r#"<text x="14" y="{}" font-size="12" text-anchor="middle" transform="rotate(-90 14 {})">{}</text>"#,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0,
        escape(y_label)
    );
}

/// Maps log10(v) in [lo, hi] onto [a, b].
fn log_scale(v: f64, lo: f64, hi: f64, a: f64, b: f64) -> f64 {
    let span = (hi - lo).max(1e-9);
    a + (v.log10() - lo) / span * (b - a)
}

fn power_label(p: i32) -> String {
    match p {
        0 => "1".into(),
        1 => "10".into(),
        2 => "100".into(),
        3 => "1k".into(),
        4 => "10k".into(),
        5 => "100k".into(),
        6 => "1M".into(),
        _ => format!("1e{p}"),
    }
}

/// Ranks (1-based) to draw for a series of `n` points: every rank when few, else log-spaced.
fn sample_ranks(n: usize) -> Vec<usize> {
    if n <= MAX_POINTS {
        return (1..=n).collect();
    }
    let mut ranks: Vec<usize> = (0..MAX_POINTS)
        .map(|i| (n as f64).powf(i as f64 / (MAX_POINTS - 1) as f64).round() as usize)
        .map(|r| r.clamp(1, n))
        .collect();
    ranks.dedup();
    ranks
}

/// The log-log rank-frequency plot: each series' nonzero counts, largest first, and the cap.
pub fn rank_frequency(series: &[Series], cap: Option<u64>) -> String {
    let mut out = String::new();
    open_svg(&mut out, "rank-frequency", "Rank-frequency of per-query counts (log-log)");
    let sorted: Vec<(Column, Vec<u64>)> = series
        .iter()
        .map(|s| {
            let mut counts: Vec<u64> = s.counts.iter().copied().filter(|&c| c > 0).collect();
            counts.sort_unstable_by(|a, b| b.cmp(a));
            (s.column, counts)
        })
        .collect();
    let max_rank = sorted.iter().map(|(_, c)| c.len()).max().unwrap_or(1).max(10);
    let max_count =
        sorted.iter().filter_map(|(_, c)| c.first().copied()).max().unwrap_or(1).max(cap.unwrap_or(1)).max(10);
    let (x_hi, y_hi) = ((max_rank as f64).log10().ceil(), (max_count as f64 * 1.5).log10().ceil());
    let (x0, y0, x1, y1) = (LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM);
    for p in 0..=x_hi as i32 {
        let x = log_scale(10f64.powi(p), 0.0, x_hi, x0, x1);
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{y1}" stroke="#eee"/><text x="{x:.1}" y="{}" font-size="11" text-anchor="middle">{}</text>"##,
            y1 + 14.0,
            power_label(p)
        );
    }
    for p in 0..=y_hi as i32 {
        let y = log_scale(10f64.powi(p), 0.0, y_hi, y1, y0);
        let _ = write!(
            out,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            x0 - 4.0,
            y + 4.0,
            power_label(p)
        );
    }
    frame(&mut out, "rank of the query (1 = most pairs)", "pairs per query");
    let mut entries = Vec::new();
    for (column, counts) in &sorted {
        if counts.is_empty() {
            continue;
        }
        let points: Vec<String> = sample_ranks(counts.len())
            .into_iter()
            .map(|rank| {
                let x = log_scale(rank as f64, 0.0, x_hi, x0, x1);
                let y = log_scale(counts[rank - 1] as f64, 0.0, y_hi, y1, y0);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="series" data-column="{}" fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
            column.name(),
            colour(*column),
            points.join(" ")
        );
        entries.push((column.label().to_owned(), colour(*column), false));
    }
    if let Some(cap) = cap.filter(|&c| c > 0) {
        let y = log_scale(cap as f64, 0.0, y_hi, y1, y0);
        let _ = write!(
            out,
            r##"<line id="cap-line" x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#555" stroke-width="1.5" stroke-dasharray="5,4"/>"##
        );
        entries.push((format!("cap t = {cap}"), "#555", true));
    }
    legend(&mut out, &entries);
    out.push_str("</svg>");
    out
}

/// The bin of a count: 0, 1, 2–3, 4–7, … (bin k ≥ 1 holds [2^(k−1), 2^k)).
fn bin_of(count: u64) -> usize {
    if count == 0 {
        0
    } else {
        64 - count.leading_zeros() as usize
    }
}

fn bin_label(bin: usize) -> String {
    match bin {
        0 => "0".into(),
        1 => "1".into(),
        _ => {
            let lo = 1u64 << (bin - 1);
            let hi = (1u64 << bin) - 1;
            let short = |v: u64| if v >= 10_000 { format!("{}k", v / 1000) } else { v.to_string() };
            format!("{}–{}", short(lo), short(hi))
        }
    }
}

/// Queries per power-of-two bin of count, one bar per series in each bin.
#[allow(clippy::needless_range_loop)] // a bin indexes every series' counts, not one list
pub fn histogram(series: &[Series]) -> String {
    let mut out = String::new();
    open_svg(&mut out, "histogram", "Histogram of per-query counts");
    let bins: Vec<Vec<u64>> = series
        .iter()
        .map(|s| {
            let mut bins = vec![0u64; 65];
            s.counts.iter().for_each(|&c| bins[bin_of(c)] += 1);
            bins
        })
        .collect();
    let used = bins.iter().flat_map(|b| b.iter().rposition(|&n| n > 0)).max().map_or(1, |last| last + 1);
    let max = bins.iter().flat_map(|b| b.iter().copied()).max().unwrap_or(1).max(1);
    let (x0, y0, x1, y1) = (LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM);
    let slot = (x1 - x0) / used as f64;
    let bar = slot * 0.8 / series.len().max(1) as f64;
    for tick in 0..=4 {
        let value = max as f64 * tick as f64 / 4.0;
        let y = y1 - (y1 - y0) * tick as f64 / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            x0 - 4.0,
            y + 4.0,
            value.round()
        );
    }
    for bin in 0..used {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle">{}</text>"#,
            x0 + slot * (bin as f64 + 0.5),
            y1 + 14.0,
            escape(&bin_label(bin))
        );
        for (i, s) in series.iter().enumerate() {
            let n = bins[i][bin];
            let h = (y1 - y0) * n as f64 / max as f64;
            let _ = write!(
                out,
                r#"<rect class="bar" x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{}: {n} queries with {} pairs</title></rect>"#,
                x0 + slot * bin as f64 + slot * 0.1 + bar * i as f64,
                y1 - h,
                bar.max(0.5),
                colour(s.column),
                s.column.name(),
                escape(&bin_label(bin))
            );
        }
    }
    frame(&mut out, "pairs per query", "queries");
    let entries: Vec<(String, &str, bool)> =
        series.iter().map(|s| (s.column.label().to_owned(), colour(s.column), false)).collect();
    legend(&mut out, &entries);
    out.push_str("</svg>");
    out
}

/// The cumulative share of pairs held by the top x of queries (largest first), per series, with
/// the equal-share diagonal.
pub fn cumulative_share(series: &[Series]) -> String {
    let mut out = String::new();
    open_svg(&mut out, "cumulative-share", "Cumulative share of pairs by share of queries");
    let (x0, y0, x1, y1) = (LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM);
    for tick in 0..=4 {
        let f = tick as f64 / 4.0;
        let x = x0 + (x1 - x0) * f;
        let y = y1 - (y1 - y0) * f;
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{y1}" stroke="#eee"/><text x="{x:.1}" y="{}" font-size="11" text-anchor="middle">{}%</text><line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{}%</text>"##,
            y1 + 14.0,
            tick * 25,
            x0 - 4.0,
            y + 4.0,
            tick * 25
        );
    }
    let _ = write!(out, r##"<line x1="{x0}" y1="{y1}" x2="{x1}" y2="{y0}" stroke="#aaa" stroke-dasharray="3,3"/>"##);
    frame(&mut out, "share of queries (largest first)", "share of pairs");
    let mut entries = Vec::new();
    for s in series {
        let mut counts = s.counts.clone();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let total: u64 = counts.iter().sum();
        if total == 0 {
            continue;
        }
        let n = counts.len();
        let step = n.div_ceil(MAX_POINTS).max(1);
        let mut points = vec![format!("{x0:.1},{y1:.1}")];
        let mut running = 0u64;
        for (i, &c) in counts.iter().enumerate() {
            running += c;
            if (i + 1) % step == 0 || i + 1 == n {
                let x = x0 + (x1 - x0) * (i + 1) as f64 / n as f64;
                let y = y1 - (y1 - y0) * running as f64 / total as f64;
                points.push(format!("{x:.1},{y:.1}"));
            }
        }
        let _ = write!(
            out,
            r#"<polyline class="series" data-column="{}" fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
            s.column.name(),
            colour(s.column),
            points.join(" ")
        );
        entries.push((s.column.label().to_owned(), colour(s.column), false));
    }
    entries.push(("every query equal".to_owned(), "#aaa", true));
    legend(&mut out, &entries);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_powers_of_two() {
        assert_eq!([0, 1, 2, 3, 4, 7, 8, 20_000].map(bin_of), [0, 1, 2, 2, 3, 3, 4, 15]);
        assert_eq!(bin_label(3), "4–7");
        assert_eq!(bin_label(15), "16k–32k");
    }

    #[test]
    fn long_series_are_sampled_and_keep_both_ends() {
        let ranks = sample_ranks(500_000);
        assert!(ranks.len() <= MAX_POINTS);
        assert_eq!((ranks[0], *ranks.last().unwrap()), (1, 500_000));
        assert_eq!(sample_ranks(3), [1, 2, 3]);
    }

    #[test]
    fn charts_hold_their_series_and_the_cap() {
        let series = vec![
            Series { column: Column::Matched, counts: vec![100, 10, 1, 0] },
            Series { column: Column::Kept, counts: vec![20, 10, 1, 0] },
        ];
        let plot = rank_frequency(&series, Some(20));
        assert!(plot.contains(r#"id="cap-line""#) && plot.matches("<polyline").count() == 2, "{plot}");
        assert!(histogram(&series).contains(r#"class="bar""#));
        assert_eq!(cumulative_share(&series).matches("<polyline").count(), 2);
    }
}
