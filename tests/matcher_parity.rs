//! Matching parity on real text: the token trie `wit curate` uses and the byte-level Aho-Corasick
//! automata (aho-corasick's contiguous NFA, daachorse's double array) find exactly the same queries
//! in every line of the enwiki excerpt's plain text, over a dictionary `wit queries build` makes
//! from that excerpt, in MetaCLIP mode and in words mode (with and without case folding).

use std::path::Path;

use wit_curate::{load_dictionary, AutomatonKind, MatchMode, Matcher, Scratch};
use wit_tests::wit_stdout as run;
use wit_tests::workspace_root;

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn every_automaton_finds_the_same_queries_in_the_enwiki_text() {
    let dump =
        workspace_root().join("fixtures/enwiki/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2");
    assert!(dump.exists(), "{} missing: run `make fixtures`", dump.display());
    let dir = tempfile::tempdir().unwrap();
    let queries = dir.path().join("queries");
    run(&["queries", "build", &s(&dump), "--min-count", "3", "--size", "100000", "-o", &s(&queries)]);
    let dictionary = load_dictionary(&queries).unwrap();
    assert!(dictionary.len() > 5_000, "a small dictionary: {} queries", dictionary.len());
    let text = run(&["queries", "text", &s(&dump)]);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 1_000, "{} lines of text", lines.len());
    // Lines cut into caption-sized pieces too, so that matches at a text's edges are exercised.
    let pieces: Vec<&str> = lines
        .iter()
        .flat_map(|l| l.split_inclusive(['.', ';']).map(str::trim_start))
        .filter(|p| !p.is_empty())
        .collect();

    for mode in [MatchMode::Metaclip, MatchMode::Words { case_fold: false }, MatchMode::Words { case_fold: true }] {
        let build = |kind| Matcher::with_kind(dictionary.queries.iter().map(String::as_str), mode, kind).unwrap();
        let reference = build(AutomatonKind::ContiguousNfa);
        let others = [build(AutomatonKind::TokenTrie), build(AutomatonKind::DoubleArray)];
        assert_eq!(Matcher::new(["x"], mode).unwrap().automaton_kind(), AutomatonKind::TokenTrie, "the default");
        let (mut a, mut b) = (Scratch::default(), Scratch::default());
        let mut total = 0usize;
        for text in lines.iter().chain(&pieces) {
            let expected = reference.find(text, &mut a);
            total += expected.len();
            for other in &others {
                assert_eq!(other.find(text, &mut b), expected, "{:?}, {mode:?}, text {text:?}", other.automaton_kind());
            }
        }
        // The comparison is only worth something if the texts match many queries.
        assert!(total > 100_000, "{mode:?}: only {total} matches");
    }
}
