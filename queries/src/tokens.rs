//! Tokens of plain text, case preserved (MetaCLIP matches queries case-sensitively), and which
//! neighbouring tokens may form a bigram.
//!
//! A token is a run of letters and digits, with `'`, `’`, `-` and `.` allowed between two of them
//! (`don't`, `well-known`, `U.S`, `3.5`). Two tokens form a bigram only when nothing but spaces or
//! tabs separates them: a line break (paragraph), sentence punctuation, a comma or a bracket ends
//! the chain, so a bigram never spans a sentence or paragraph boundary — and every bigram occurs
//! verbatim, space-separated, as MetaCLIP's matcher will look for it.

/// Whether the character starting at byte `i` (a char boundary) is a letter or digit, and its
/// length in bytes. ASCII, nearly all of the text, is answered from the byte alone.
#[inline]
fn word_char_at(text: &str, i: usize) -> (bool, usize) {
    let b = text.as_bytes()[i];
    if b < 0x80 {
        return (b.is_ascii_alphanumeric(), 1);
    }
    match text[i..].chars().next() {
        Some(c) => (c.is_alphanumeric(), c.len_utf8()),
        None => (false, 1),
    }
}

/// Byte length of the joiner (`'`, `’`, `-`, `.`) starting at byte `i`, or 0.
#[inline]
fn joiner_len(s: &[u8], i: usize) -> usize {
    match s[i] {
        b'\'' | b'-' | b'.' => 1,
        0xE2 if s[i..].starts_with("’".as_bytes()) => 3,
        _ => 0,
    }
}

/// Calls `f(token, pairs_with_previous)` for every token of `text`, in order.
pub fn for_each_token<'t>(text: &'t str, mut f: impl FnMut(&'t str, bool)) {
    let s = text.as_bytes();
    let mut i = 0;
    let mut chained = false;
    while i < s.len() {
        let (word, len) = word_char_at(text, i);
        if !word {
            if s[i] != b' ' && s[i] != b'\t' {
                chained = false;
            }
            i += len;
            continue;
        }
        let start = i;
        i += len;
        while i < s.len() {
            let (word, len) = word_char_at(text, i);
            if word {
                i += len;
                continue;
            }
            // A joiner stays only when a word character follows it.
            let joiner = joiner_len(s, i);
            if joiner > 0 && i + joiner < s.len() && word_char_at(text, i + joiner).0 {
                i += joiner;
                continue;
            }
            break;
        }
        f(&text[start..i], chained);
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

    /// The tokenizer as first written, over chars: the byte-level one must agree with it.
    fn reference(text: &str) -> Vec<(&str, bool)> {
        let word = |c: char| c.is_alphanumeric();
        let joiner = |c: char| matches!(c, '\'' | '’' | '-' | '.');
        let mut out = Vec::new();
        let mut chars = text.char_indices().peekable();
        let mut chained = false;
        while let Some((start, c)) = chars.next() {
            if !word(c) {
                if c != ' ' && c != '\t' {
                    chained = false;
                }
                continue;
            }
            let mut end = start + c.len_utf8();
            loop {
                match chars.peek() {
                    Some(&(i, next)) if word(next) => {
                        end = i + next.len_utf8();
                        chars.next();
                    }
                    Some(&(_, next)) if joiner(next) => {
                        if text[end + next.len_utf8()..].chars().next().is_some_and(word) {
                            chars.next();
                            end += next.len_utf8();
                        } else {
                            break;
                        }
                    }
                    _ => break,
                }
            }
            out.push((&text[start..end], chained));
            chained = true;
        }
        out
    }

    #[test]
    fn bytes_and_chars_tokenize_alike() {
        let texts = [
            "The U.S. well-known don't (Paris) 3.5 end- 'quoted' Zürich 東京",
            "it’s a’ b’’c ’d x’ ’",
            "a\tb  c\nd,e ; f—g Ünïcödé–words ½ ٣ ..x.. -y- 'z'",
            "tail joiner. tail joiner’",
            "é’é ß-ß Ω.Ω ①② x\u{a0}y",
            "",
            "’",
        ];
        for text in texts {
            let mut ours = Vec::new();
            for_each_token(text, |t, chained| ours.push((t, chained)));
            assert_eq!(ours, reference(text), "{text:?}");
        }
    }

    #[test]
    fn gensim_style_tokens() {
        assert_eq!(
            gensim_tokens("The U.S. a 2010 Zürich snake_case _x abcdefghijklmnop"),
            ["the", "zürich", "snake_case"]
        );
    }
}
