//! CLIP's byte-level BPE tokenizer, as open_clip's `SimpleTokenizer` (49,408 ids, context 77).
//!
//! The merges come from open_clip's `bpe_simple_vocab_16e6.txt.gz` (fetched into
//! `fixtures/clip/` by `scripts/fetch-fixtures.sh`). Text is cleaned as open_clip's default
//! `lower` cleaner does — ftfy, HTML unescaping twice (the full HTML5 table, [`crate::html`]),
//! whitespace collapsed, lower case — then
//! split with CLIP's pattern, mapped byte by byte onto printable characters and merged by rank.
//! Of ftfy's fixes this port applies the ones that change clean modern text (curly quotes,
//! Latin ligatures, full-width characters, control characters, NFC); it does not repair
//! mojibake, which open_clip's ftfy would.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

/// Ids in the vocabulary: 256 bytes, 256 word-final bytes, 48,894 merges, 2 special tokens.
pub const VOCAB_SIZE: usize = 49_408;
pub const CONTEXT_LENGTH: usize = 77;
pub const START_OF_TEXT: i64 = 49_406;
pub const END_OF_TEXT: i64 = 49_407;
pub const PAD: i64 = 0;
/// The merges file's name in the open_clip wheel and in `fixtures/clip/`.
pub const BPE_FILE_NAME: &str = "bpe_simple_vocab_16e6.txt.gz";
const MERGES: usize = 49_152 - 256 - 2;
const SPLIT_PATTERN: &str = r"(?i)<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+";

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("reading the BPE merges {path}: {source} (run `make fixtures`, or pass --bpe)")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {found} merges, CLIP's vocabulary needs {MERGES}")]
    TooFewMerges { path: PathBuf, found: usize },
    #[error("{path}: line {line} is not a merge of two symbols: {text:?}")]
    BadMerge { path: PathBuf, line: usize, text: String },
}

/// The merges file shipped in the repository's fixtures, the default of `--bpe`.
pub fn default_bpe_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("fixtures").join("clip").join(BPE_FILE_NAME)
}

/// CLIP's tokenizer. Cheap to share between threads (`&self` methods; the word cache is locked).
pub struct Tokenizer {
    byte_encoder: [char; 256],
    encoder: HashMap<String, i64>,
    ranks: HashMap<(String, String), usize>,
    pattern: Regex,
    cache: Mutex<HashMap<String, Vec<i64>>>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer").field("vocab", &self.encoder.len()).finish()
    }
}

impl Tokenizer {
    /// Reads the gzipped merges file (open_clip's `bpe_simple_vocab_16e6.txt.gz`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, TokenizerError> {
        let path = path.as_ref();
        let read_error = |source| TokenizerError::Read { path: path.to_owned(), source };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let mut text = String::new();
        flate2::read::GzDecoder::new(file).read_to_string(&mut text).map_err(read_error)?;
        Self::from_merges(&text, path)
    }

    /// Builds the vocabulary from the merges text (first line a header, as in CLIP's file).
    pub fn from_merges(text: &str, path: &Path) -> Result<Self, TokenizerError> {
        let byte_encoder = bytes_to_unicode();
        let mut merges = Vec::with_capacity(MERGES);
        for (index, line) in text.split('\n').enumerate().skip(1).take(MERGES) {
            if line.is_empty() {
                break;
            }
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), None) => merges.push((a.to_owned(), b.to_owned())),
                _ => return Err(TokenizerError::BadMerge { path: path.into(), line: index + 1, text: line.into() }),
            }
        }
        if merges.len() < MERGES {
            return Err(TokenizerError::TooFewMerges { path: path.into(), found: merges.len() });
        }
        // GPT-2's order: the printable bytes first, then the rest (as their characters' code points).
        let mut byte_chars: Vec<char> = byte_encoder.to_vec();
        byte_chars.sort_by_key(|&c| c as u32);
        let mut vocab: Vec<String> = byte_chars.iter().map(|c| c.to_string()).collect();
        vocab.extend(byte_chars.iter().map(|c| format!("{c}</w>")));
        vocab.extend(merges.iter().map(|(a, b)| format!("{a}{b}")));
        vocab.push("<start_of_text>".into());
        vocab.push("<end_of_text>".into());
        let encoder = vocab.into_iter().enumerate().map(|(id, token)| (token, id as i64)).collect();
        let ranks = merges.into_iter().enumerate().map(|(rank, pair)| (pair, rank)).collect();
        let pattern = Regex::new(SPLIT_PATTERN).expect("CLIP's split pattern compiles");
        Ok(Tokenizer { byte_encoder, encoder, ranks, pattern, cache: Mutex::new(HashMap::new()) })
    }

    /// The BPE ids of `text`, without start/end tokens.
    pub fn encode(&self, text: &str) -> Vec<i64> {
        let text = clean_lower(text);
        let mut ids = Vec::new();
        for piece in self.pattern.find_iter(&text) {
            let piece = piece.as_str();
            match piece {
                "<start_of_text>" => ids.push(START_OF_TEXT),
                "<end_of_text>" => ids.push(END_OF_TEXT),
                _ => ids.extend(self.bpe(piece)),
            }
        }
        ids
    }

    /// `[sot, ids…, eot, 0…]` of exactly `context` ids; a long text is cut and ends in eot.
    pub fn tokenize(&self, text: &str, context: usize) -> Vec<i64> {
        let mut row = Vec::with_capacity(context.max(2));
        row.push(START_OF_TEXT);
        row.extend(self.encode(text));
        row.push(END_OF_TEXT);
        if row.len() > context {
            row.truncate(context);
            if let Some(last) = row.last_mut() {
                *last = END_OF_TEXT;
            }
        }
        row.resize(context, PAD);
        row
    }

    /// `tokenize` of every text, concatenated row after row.
    pub fn tokenize_batch<S: AsRef<str>>(&self, texts: &[S], context: usize) -> Vec<i64> {
        texts.iter().flat_map(|t| self.tokenize(t.as_ref(), context)).collect()
    }

    fn bpe(&self, piece: &str) -> Vec<i64> {
        if let Some(ids) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(piece) {
            return ids.clone();
        }
        let mapped: Vec<String> = piece.bytes().map(|b| self.byte_encoder[b as usize].to_string()).collect();
        let mut word = mapped;
        if let Some(last) = word.last_mut() {
            last.push_str("</w>");
        }
        while word.len() > 1 {
            let best = word
                .windows(2)
                .filter_map(|w| self.ranks.get(&(w[0].clone(), w[1].clone())).map(|&rank| (rank, w)))
                .min_by_key(|(rank, _)| *rank);
            let Some((_, pair)) = best else { break };
            let (first, second) = (pair[0].clone(), pair[1].clone());
            let mut merged = Vec::with_capacity(word.len());
            let mut i = 0;
            while i < word.len() {
                if i + 1 < word.len() && word[i] == first && word[i + 1] == second {
                    merged.push(format!("{first}{second}"));
                    i += 2;
                } else {
                    merged.push(std::mem::take(&mut word[i]));
                    i += 1;
                }
            }
            word = merged;
        }
        // Every symbol BPE can produce is in the vocabulary by construction.
        let ids: Vec<i64> = word.iter().filter_map(|symbol| self.encoder.get(symbol).copied()).collect();
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(piece.to_owned(), ids.clone());
        ids
    }
}

/// GPT-2's reversible map from bytes to printable characters.
fn bytes_to_unicode() -> [char; 256] {
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let mut table = ['\0'; 256];
    let mut next = 0u32;
    for b in 0..256u32 {
        table[b as usize] = if printable(b) {
            char::from_u32(b).unwrap_or('\0')
        } else {
            next += 1;
            char::from_u32(255 + next).unwrap_or('\0')
        };
    }
    table
}

/// open_clip's `lower` cleaner: ftfy (the subset described above, with its HTML unescaping),
/// Python's `html.unescape` twice, whitespace collapsed to single spaces, lower case.
pub fn clean_lower(text: &str) -> String {
    let fixed = fix_text(text);
    let unescaped = wit_html::unescape(&wit_html::unescape(&fixed)).into_owned();
    // Python's str.split() also splits at the information separators U+001C..U+001F.
    let words = unescaped.split(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c));
    words.filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ").to_lowercase()
}

/// ftfy's `fix_text`, line by line: HTML references first (not once a line holds a `<`, as
/// ftfy's "auto" mode), then the character fixes and NFC, repeated until nothing changes.
fn fix_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut unescape = true;
    for segment in text.split_inclusive('\n') {
        if segment.contains('<') {
            unescape = false;
        }
        let mut current = segment.to_owned();
        loop {
            let unescaped = if unescape { wit_html::ftfy_unescape(&current) } else { current.clone() };
            let fixed = fix_characters(&unescaped);
            if fixed == current {
                break;
            }
            current = fixed;
        }
        out.push_str(&current);
    }
    out
}

fn fix_characters(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{2018}'..='\u{201b}' | '\u{02bc}' => out.push('\''),
            '\u{201c}'..='\u{201f}' => out.push('"'),
            '\u{fb00}' => out.push_str("ff"),
            '\u{fb01}' => out.push_str("fi"),
            '\u{fb02}' => out.push_str("fl"),
            '\u{fb03}' => out.push_str("ffi"),
            '\u{fb04}' => out.push_str("ffl"),
            '\u{fb05}' | '\u{fb06}' => out.push_str("st"),
            '\u{3000}' => out.push(' '),
            '\u{ff01}'..='\u{ff5e}' => out.push(char::from_u32(c as u32 - 0xfee0).unwrap_or(c)),
            '\r' | '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.nfc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_map_is_a_bijection_onto_printable_characters() {
        let table = bytes_to_unicode();
        let distinct: std::collections::HashSet<char> = table.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
        assert_eq!(table[b'a' as usize], 'a');
        assert_eq!(table[b' ' as usize], 'Ġ');
        assert!(table.iter().all(|c| !c.is_whitespace() && !c.is_control()));
    }

    #[test]
    fn cleaning_follows_open_clips_lower_cleaner() {
        assert_eq!(clean_lower("  A  “Quoted”\tCAT &amp;amp; ﬁsh\n"), "a \"quoted\" cat & fish");
        assert_eq!(clean_lower("ＡＢＣ！"), "abc!");
        assert_eq!(clean_lower("&#233;t&eacute; &#x41; &bogus; &"), "été a &bogus; &");
        // ftfy decodes first, so a decoded curly quote is straightened like a typed one.
        assert_eq!(clean_lower("it&rsquo;s &hellip; &Auml;PFEL &EACUTE;"), "it's … äpfel é");
        // A line holding `<` keeps ftfy from decoding (Python's unescape still does).
        assert_eq!(clean_lower("a<b it&rsquo;s"), "a<b it’s");
    }

    #[test]
    fn a_toy_vocabulary_merges_by_rank() {
        // Header, then merges; the rest of the 48,894 lines are filler pairs that never apply.
        let mut text = String::from("#version\nc a\nca t</w>\n");
        for i in 0..MERGES - 2 {
            text.push_str(&format!("q{i} z\n"));
        }
        let tokenizer = Tokenizer::from_merges(&text, Path::new("toy")).unwrap();
        let cat = tokenizer.encoder["cat</w>"];
        assert_eq!(tokenizer.encode("Cat"), [cat]);
        let row = tokenizer.tokenize("cat cat", 5);
        assert_eq!(row, [START_OF_TEXT, cat, cat, END_OF_TEXT, PAD]);
        assert_eq!(tokenizer.tokenize("cat cat cat cat", 4), [START_OF_TEXT, cat, cat, END_OF_TEXT]);
        let err = Tokenizer::from_merges("#v\na b\n", Path::new("short")).err().unwrap().to_string();
        assert!(err.contains("short") && err.contains("1 merges"), "{err}");
    }
}
