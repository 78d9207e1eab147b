//! The two non-counted sources of queries: WordNet synset head words and Wikipedia titles.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::{QueriesError, Result};
use wit_contract::AtPath;

/// Head words read from a WordNet dict folder.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WordnetWords {
    /// Synsets read.
    pub synsets: u64,
    /// Distinct head words (first lemma of each synset, underscores → spaces), sorted.
    pub words: Vec<String>,
}

/// The head word (first lemma) of every synset in `DIR/data.noun` (and, with `all_pos`, the verb,
/// adjective and adverb files), underscores turned into spaces, adjective markers such as `(a)`
/// removed, deduplicated and sorted.
pub fn read_wordnet(dir: &Path, all_pos: bool) -> Result<WordnetWords> {
    let parts: &[&str] = if all_pos { &["noun", "verb", "adj", "adv"] } else { &["noun"] };
    let mut out = WordnetWords::default();
    for part in parts {
        let path = dir.join(format!("data.{part}"));
        let file = File::open(&path).at_path(&path)?;
        for (i, line) in BufReader::new(file).split(b'\n').enumerate() {
            let line = line.at_path(&path)?;
            if line.starts_with(b"  ") || line.is_empty() {
                continue; // the licence header
            }
            let line = String::from_utf8_lossy(&line);
            let word = line.split(' ').nth(4).filter(|w| !w.is_empty()).ok_or_else(|| QueriesError::Line {
                path: path.clone(),
                line: i as u64 + 1,
                problem: "not a WordNet data line (offset lex_filenum ss_type w_cnt word …)".into(),
            })?;
            let word = word.split('(').next().unwrap_or(word).replace('_', " ");
            out.synsets += 1;
            out.words.push(word);
        }
    }
    out.words.sort_unstable();
    out.words.dedup();
    Ok(out)
}

/// One line of a titles list.
#[derive(Debug, Clone, PartialEq)]
pub struct Title {
    pub title: String,
    pub views: Option<u64>,
}

/// Titles from a list file: one per line, `TITLE` or `TITLE<TAB>VIEWS` (a page-view count), as in
/// Wikimedia's `all-titles-in-ns0` (a `page_title` header line is skipped). Underscores → spaces.
/// With `min_views`, titles with fewer views (or none given) are left out.
pub fn read_titles(path: &Path, min_views: Option<u64>) -> Result<(Vec<Title>, u64)> {
    let file = File::open(path).at_path(path)?;
    let mut titles = Vec::new();
    let mut read = 0u64;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.at_path(path)?;
        let line = line.trim_end_matches('\r');
        if line.is_empty() || (i == 0 && (line == "page_title" || line == "title")) {
            continue;
        }
        read += 1;
        let (title, views) = match line.split_once('\t') {
            Some((title, views)) => {
                let views = views.trim().parse::<u64>().map_err(|_| QueriesError::Line {
                    path: path.to_path_buf(),
                    line: i as u64 + 1,
                    problem: format!("page views {views:?} is not a number"),
                })?;
                (title, Some(views))
            }
            None => (line, None),
        };
        if let Some(min) = min_views {
            if views.unwrap_or(0) < min {
                continue;
            }
        }
        titles.push(Title { title: title.replace('_', " ").trim().to_owned(), views });
    }
    Ok((titles, read))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_with_and_without_views() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.tsv");
        std::fs::write(&path, "page_title\nNew_York_City\t900\nObscure_page\t3\nParis\n").unwrap();
        let (all, read) = read_titles(&path, None).unwrap();
        assert_eq!(read, 3);
        assert_eq!(all[0], Title { title: "New York City".into(), views: Some(900) });
        assert_eq!(all[2], Title { title: "Paris".into(), views: None });
        let (popular, _) = read_titles(&path, Some(10)).unwrap();
        assert_eq!(popular.len(), 1);
        std::fs::write(&path, "A\tmany\n").unwrap();
        let err = read_titles(&path, None).unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("many"), "{err}");
    }
}
