//! The language decision's accuracy and speed on the labelled short texts of `fixtures/lang/`
//! (`make fixtures`; the same set as `tests/language_accuracy.rs`): English kept and other
//! languages rejected by the default English filter, and texts/s of the decision alone, for
//! whatlang on the caption alone and for the page-evidence rule (page languages worked out once
//! per page beforehand, as harvest does; that cost is in `bench_harvest`'s pairs/s).
//!
//! `cargo run --release -p wit-harvest --example bench_language [-- FIXTURE_DIR]` prints one line
//! per configuration: name, English kept %, others rejected %, texts, seconds, texts/s.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use url::Url;
use wit_harvest::language_decision::{judge, PageEvidence};
use wit_harvest::{extract_html, DecisionMode, HtmlOptions, LanguageFilter, LanguageRule};

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/lang"), PathBuf::from);
    let tsv =
        std::fs::read_to_string(dir.join("labelled.tsv")).expect("fixtures/lang/labelled.tsv: run `make fixtures`");
    let rows: Vec<Vec<&str>> = tsv.lines().skip(1).map(|l| l.split('\t').collect()).collect();
    let default = LanguageRule::default();
    let mut pages = HashMap::new();
    for row in &rows {
        pages.entry(row[1]).or_insert_with(|| {
            let html = std::fs::read(dir.join(row[1])).unwrap();
            let url = Url::parse(&format!("https://debian-handbook.info/browse/{}", row[1])).unwrap();
            let options = HtmlOptions { links: false, page_text: default.page_text_bytes, ..Default::default() };
            let page = extract_html(&html, &url, &options).unwrap();
            let evidence = PageEvidence { html_lang: page.html_lang, text: page.text, ..Default::default() };
            evidence.language(&default)
        });
    }
    let filter = LanguageFilter::default();
    println!(
        "{:<14} {:>9} {:>10} {:>7} {:>8} {:>10}",
        "decision", "eng kept", "other rej", "texts", "seconds", "texts/s"
    );
    for (name, rule) in [("caption", LanguageRule { mode: DecisionMode::Caption, ..default }), ("page", default)] {
        let (mut eng, mut eng_kept, mut other, mut other_rejected) = (0, 0, 0, 0);
        let started = Instant::now();
        for row in &rows {
            let kept = judge(&rule, &filter, row[3], pages[row[1]].as_ref()).is_ok();
            if row[0] == "eng" {
                eng += 1;
                eng_kept += kept as usize;
            } else {
                other += 1;
                other_rejected += !kept as usize;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{name:<14} {:>8.1}% {:>9.1}% {:>7} {:>8.3} {:>10.0}",
            100.0 * eng_kept as f64 / eng as f64,
            100.0 * other_rejected as f64 / other as f64,
            rows.len(),
            seconds,
            rows.len() as f64 / seconds
        );
    }
}
