//! The language decision on real short texts: the Debian Administrator's Handbook's alt texts and
//! section headings in English and 24 translations (`make fixtures` builds `fixtures/lang/` from
//! Debian's debian-handbook package; see scripts/lang-fixture.py), each judged on its own real
//! page (read by harvest's HTML extractor) by the default English filter. Prints the confusion
//! tables (`cargo test -p wit-harvest --test language_accuracy -- --nocapture`) and checks the bar:
//! ≥ 95% of the English texts kept; ≥ 95% of the other languages' texts rejected on pages in their
//! language (most of the page's visible text translated: see `translated` in scripts/lang-fixture.py),
//! and ≥ 95% rejected with no page evidence at all. Translated headings on partly translated pages
//! whose text is still mostly English — foreign captions on English pages — are printed, not
//! checked: the page cannot help there and whatlang on a short text cannot either (see the table).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use url::Url;
use wit_harvest::language_decision::{judge, PageEvidence, PageLanguage};
use wit_harvest::{extract_html, DecisionMode, HtmlOptions, LanguageFilter, LanguageRule};

/// A page is in its translation's language when most of its visible text is translated.
const TRANSLATED: f64 = 0.5;

struct Labelled {
    label: String,
    page: String,
    text: String,
    /// Share of the page's paragraphs that are translated (1 for English pages).
    translated: f64,
}

fn fixture() -> PathBuf {
    let dir = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../../fixtures/lang");
    assert!(dir.join("labelled.tsv").exists(), "{} missing: run `make fixtures`", dir.display());
    dir
}

fn labelled(dir: &Path) -> Vec<Labelled> {
    let text = std::fs::read_to_string(dir.join("labelled.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 5, "labelled.tsv: {line:?} (rebuild it: rm -r fixtures/lang; make fixtures)");
            Labelled {
                label: fields[0].into(),
                page: fields[1].into(),
                text: fields[3].into(),
                translated: fields[4].parse().unwrap(),
            }
        })
        .collect()
}

/// Each page's evidence, read by the harvest's own HTML extractor as a WARC page would be.
fn evidence(dir: &Path, pages: impl Iterator<Item = String>, bytes: usize) -> HashMap<String, PageEvidence> {
    let mut out = HashMap::new();
    for page in pages {
        if out.contains_key(&page) {
            continue;
        }
        let html = std::fs::read(dir.join(&page)).unwrap();
        let url = Url::parse(&format!("https://debian-handbook.info/browse/{page}")).unwrap();
        let extract = extract_html(&html, &url, &HtmlOptions { links: false, page_text: bytes, ..Default::default() })
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        let evidence = PageEvidence {
            html_lang: extract.html_lang,
            meta_language: extract.meta_language,
            text: extract.text,
            ..Default::default()
        };
        out.insert(page, evidence);
    }
    out
}

/// Kept and total per label under `rule`, each text on the page `page_of` gives it.
fn run(
    rule: &LanguageRule,
    texts: &[Labelled],
    page_of: impl Fn(&Labelled) -> Option<PageLanguage>,
) -> BTreeMap<String, (usize, usize, BTreeMap<&'static str, usize>)> {
    let filter = LanguageFilter::default();
    let mut table: BTreeMap<String, (usize, usize, BTreeMap<&'static str, usize>)> = BTreeMap::new();
    for t in texts {
        let page = page_of(t);
        let entry = table.entry(t.label.clone()).or_default();
        entry.1 += 1;
        match judge(rule, &filter, &t.text, page.as_ref()) {
            Ok(decision) => {
                entry.0 += 1;
                *entry.2.entry(decision.source.name()).or_default() += 1;
            }
            Err(_) => *entry.2.entry("rejected").or_default() += 1,
        }
    }
    table
}

/// (English kept, English total, others rejected, others total).
fn summary(table: &BTreeMap<String, (usize, usize, BTreeMap<&'static str, usize>)>) -> (usize, usize, usize, usize) {
    let mut s = (0, 0, 0, 0);
    for (label, (kept, total, _)) in table {
        if label == "eng" {
            s.0 += kept;
            s.1 += total;
        } else {
            s.2 += total - kept;
            s.3 += total;
        }
    }
    s
}

fn pct(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

fn print_table(title: &str, table: &BTreeMap<String, (usize, usize, BTreeMap<&'static str, usize>)>) {
    println!("\n{title}");
    println!("{:<6} {:>6} {:>6} {:>8} {:>9}   decision sources", "label", "texts", "kept", "rejected", "correct");
    for (label, (kept, total, sources)) in table {
        let correct = if label == "eng" { *kept } else { total - kept };
        let sources: Vec<String> = sources.iter().map(|(s, n)| format!("{s} {n}")).collect();
        println!(
            "{label:<6} {total:>6} {kept:>6} {:>8} {:>8.1}%   {}",
            total - kept,
            pct(correct, *total),
            sources.join(", ")
        );
    }
    let (eng_kept, eng_total, other_rejected, other_total) = summary(table);
    println!(
        "English kept: {eng_kept}/{eng_total} ({:.1}%); other languages rejected: {other_rejected}/{other_total} ({:.1}%)",
        pct(eng_kept, eng_total),
        pct(other_rejected, other_total)
    );
}

#[test]
fn english_pairs_stay_english_and_short_foreign_texts_are_rejected() {
    let dir = fixture();
    let texts = labelled(&dir);
    let default = LanguageRule::default();
    let pages = evidence(&dir, texts.iter().map(|t| t.page.clone()), default.page_text_bytes);
    // The page's language depends only on the page (not on the caption trust settings compared below).
    let languages: HashMap<String, Option<PageLanguage>> =
        pages.iter().map(|(page, evidence)| (page.clone(), evidence.language(&default))).collect();
    let page_language = |_: &LanguageRule| |t: &Labelled| languages[&t.page].clone();
    let (in_language, on_english_pages): (Vec<Labelled>, Vec<Labelled>) =
        texts.into_iter().partition(|t| t.label == "eng" || t.translated >= TRANSLATED);

    // The default rule, every text on its own page: the confusion table.
    let table = run(&default, &in_language, page_language(&default));
    print_table(
        &format!("Default English filter, {default:?}; English pages and pages in their language (≥ {TRANSLATED} of the text translated):"),
        &table,
    );
    let mixed = run(&default, &on_english_pages, page_language(&default));
    print_table("Not checked: translated texts on partly translated pages (text mostly English):", &mixed);
    let caption_only = LanguageRule { mode: DecisionMode::Caption, ..default };
    let no_page = run(&caption_only, &in_language, |_| None);

    // The alternatives, for the README's table.
    println!("\n{:<62} {:>9} {:>11} {:>13}", "configuration", "eng kept", "other rej.", "on eng pages");
    let mut rows = vec![("whatlang on the caption alone (before; --lang-decision caption)".to_string(), caption_only)];
    for (chars, conf) in
        [(10, 0.2), (20, 0.2), (20, 0.5), (30, 0.3), (30, 0.5), (40, 0.5), (60, 0.5), (usize::MAX, 1.0)]
    {
        let label = if chars == usize::MAX {
            "page language for every caption (script rule only)".to_string()
        } else {
            format!("page evidence, caption trusted from {chars} chars, conf {conf}")
        };
        rows.push((label, LanguageRule { trust_chars: chars, trust_confidence: conf, ..default }));
    }
    for (label, rule) in &rows {
        let s = summary(&run(rule, &in_language, page_language(rule)));
        let m = summary(&run(rule, &on_english_pages, page_language(rule)));
        println!("{label:<62} {:>8.1}% {:>10.1}% {:>12.1}%", pct(s.0, s.1), pct(s.2, s.3), pct(m.2, m.3));
    }
    let english_page = PageLanguage { code: "eng".into(), from: "identified", confidence: None };
    let s = summary(&run(&default, &in_language, |_| Some(english_page.clone())));
    println!("{:<62} {:>9} {:>10.1}%", "default rule, every text said to be on an English page", "", pct(s.2, s.3));

    let (eng_kept, eng_total, other_rejected, other_total) = summary(&table);
    let checked = table.iter().filter(|(l, (_, n, _))| *l != "eng" && *n >= 20).count();
    assert!(eng_total >= 300 && other_total >= 1000 && checked >= 10, "{eng_total} / {other_total} / {checked}");
    assert!(pct(eng_kept, eng_total) >= 95.0, "English kept {eng_kept}/{eng_total}");
    assert!(pct(other_rejected, other_total) >= 95.0, "others rejected {other_rejected}/{other_total}");
    let (_, _, rejected_alone, total_alone) = summary(&no_page);
    assert!(
        pct(rejected_alone, total_alone) >= 95.0,
        "others rejected without page evidence {rejected_alone}/{total_alone}"
    );
}
