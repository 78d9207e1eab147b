//! Tokens of plain text, case preserved (MetaCLIP matches queries case-sensitively), and which
//! neighbouring tokens may form a bigram.
//!
//! A token is a run of letters and digits, with `'`, `’`, `-` and `.` allowed between two of them
//! (`don't`, `well-known`, `U.S`, `3.5`). Two tokens form a bigram only when nothing but spaces or
//! tabs separates them: a line break (paragraph), sentence punctuation, a comma or a bracket ends
//! the chain, so a bigram never spans a sentence or paragraph boundary — and every bigram occurs
//! verbatim, space-separated, as MetaCLIP's matcher will look for it.

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

fn is_joiner(c: char) -> bool {
    matches!(c, '\'' | '’' | '-' | '.')
}

/// Calls `f(token, pairs_with_previous)` for every token of `text`, in order.
pub fn for_each_token<'t>(text: &'t str, mut f: impl FnMut(&'t str, bool)) {
    let mut chars = text.char_indices().peekable();
    let mut chained = false;
    while let Some((start, c)) = chars.next() {
        if !is_word_char(c) {
            if c != ' ' && c != '\t' {
                chained = false;
            }
            continue;
        }
        let mut end = start + c.len_utf8();
        loop {
            match chars.peek() {
                Some(&(i, next)) if is_word_char(next) => {
                    end = i + next.len_utf8();
                    chars.next();
                }
                Some(&(_, next)) if is_joiner(next) => {
                    // A joiner stays only when a word character follows it.
                    let after = text[end + next.len_utf8()..].chars().next();
                    if after.is_some_and(is_word_char) {
                        chars.next();
                        end += next.len_utf8();
                    } else {
                        break;
                    }
                }
                _ => break,
            }
        }
        f(&text[start..end], chained);
        chained = true;
    }
}

/// The tokens of `text` (for tests and inspection).
pub fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for_each_token(text, |t, _| out.push(t));
    out
}

/// The bigrams of `text` as "a b" strings (for tests and inspection).
pub fn bigrams(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut previous: Option<&str> = None;
    for_each_token(text, |t, chained| {
        if let (true, Some(p)) = (chained, previous) {
            out.push(format!("{p} {t}"));
        }
        previous = Some(t);
    });
    out
}

/// Tokens the way gensim's `WikiCorpus` makes them (`utils.tokenize(lower=True)`, 2–15 characters,
/// none starting with `_`): lower-cased runs of letters. For comparing token totals with gensim.
pub fn gensim_tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut flush = |current: &mut String| {
        let n = current.chars().count();
        if (2..=15).contains(&n) && !current.starts_with('_') {
            out.push(current.to_lowercase());
        }
        current.clear();
    };
    for c in text.chars() {
        if c.is_alphabetic() || c == '_' {
            current.push(c);
        } else {
            flush(&mut current);
        }
    }
    flush(&mut current);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_keep_case_and_inner_joiners() {
        assert_eq!(
            tokens("The U.S. well-known don't (Paris) 3.5 end- 'quoted' Zürich 東京"),
            ["The", "U.S", "well-known", "don't", "Paris", "3.5", "end", "quoted", "Zürich", "東京"]
        );
    }

    #[test]
    fn bigrams_stop_at_sentences_paragraphs_and_punctuation() {
        assert_eq!(
            bigrams("New York City. The  end\nNext line, again"),
            ["New York", "York City", "The end", "Next line"]
        );
        assert_eq!(bigrams("a (b c) d"), ["b c"]);
        assert!(bigrams("one\ntwo").is_empty());
    }

    #[test]
    fn gensim_style_tokens() {
        assert_eq!(
            gensim_tokens("The U.S. a 2010 Zürich snake_case _x abcdefghijklmnop"),
            ["the", "zürich", "snake_case"]
        );
    }
}
