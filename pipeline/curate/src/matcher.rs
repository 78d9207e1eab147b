//! Which dictionary queries a text matches: one automaton over the whole dictionary, searched with
//! **overlapping** semantics so that matches sharing a separating space all count (" A hot dog "
//! yields `A`, `hot`, `dog` and `hot dog`). The default automaton is a trie over whole tokens
//! (`token_trie`); byte-level Aho-Corasick automata (aho-corasick's contiguous NFA and DFA,
//! daachorse's double array) give the same matches and stay for the parity tests and benchmarks.
//!
//! Both modes turn a text into a space-separated, space-padded string and search it for every
//! query turned into the same shape, so a query matches exactly when its whole tokens appear
//! contiguously in the text. Each query counts once per text.
//!
//! - [`MatchMode::Metaclip`] is MetaCLIP's `substr_matching`, byte for byte: the text is padded with
//!   one space at each end, each of `, . ; : ? ! `` ` `` is wrapped in spaces, tab, newline and CR
//!   become spaces, and each query is searched as `" query "`, case-sensitively. Nothing else is
//!   normalized: a non-breaking space or a double space stays as it is, `dog's`, `(dog)` and
//!   `dog-friendly` do not match `dog`, and a query holding one of `, . ; : ? !` never matches.
//! - [`MatchMode::Words`] is Unicode-aware. Text and query are NFKC-normalized, optionally
//!   lower-cased (`str::to_lowercase` after NFKC), and cut at Unicode word boundaries (UAX #29,
//!   `split_word_bounds`). Segments made only of whitespace are separators; every other segment
//!   (a word such as `U.S` or `dog's`, or one punctuation mark such as `(`, `.` or `-`) is a token,
//!   with any whitespace inside it removed. A query matches when its tokens occur as a contiguous run
//!   of the text's tokens. So `U.S.`, `St. Louis` and `hot dog` (any whitespace between) match,
//!   `(dog)` and `dog-friendly` match `dog`, and `dog's` does not (it is one word). A query with no
//!   token never matches.

use aho_corasick::automaton::Automaton;
use aho_corasick::automaton::StateID;
use aho_corasick::{dfa, nfa::contiguous, Anchored, MatchKind};
use daachorse::{DoubleArrayAhoCorasick, DoubleArrayAhoCorasickBuilder};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

use crate::error::CurateError;
use crate::small_sort::sort_unique_into;
use crate::token_trie::{TokenTrie, TrieScratch};

/// How texts and queries are compared; see the module docs for the exact rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchMode {
    /// MetaCLIP's exact substring rule (the default, for reproducibility).
    #[default]
    Metaclip,
    /// NFKC + Unicode word boundaries, optionally case-insensitive.
    Words { case_fold: bool },
}

/// Which automaton representation to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutomatonKind {
    /// A contiguous NFA: compact (≈ tens of MB for 500k queries); one dependent transition per byte.
    ContiguousNfa,
    /// A full DFA: one table lookup per byte, but >10× the memory (≈500 MB for 460k queries),
    /// which makes it slower than the NFA once the table no longer fits in cache.
    Dfa,
    /// A double-array Aho-Corasick automaton (daachorse): compact, one array probe per byte.
    DoubleArray,
    /// A trie over whole tokens (`token_trie`): one vocabulary lookup per token and a short walk
    /// from each; the same matches, several times faster than the byte automata at 460k queries.
    #[default]
    TokenTrie,
}

/// The automaton, concrete so the scan loop is statically dispatched and inlined.
enum Engine {
    Nfa(contiguous::NFA),
    Dfa(dfa::DFA),
    DoubleArray(DoubleArrayAhoCorasick<u32>),
    TokenTrie(TokenTrie),
}

/// How to build the automaton (the defaults are what `wit curate` uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatcherOptions {
    pub kind: AutomatonKind,
    /// States up to this depth get dense (one slot per byte class) transitions.
    pub dense_depth: usize,
}

impl Default for MatcherOptions {
    fn default() -> Self {
        MatcherOptions { kind: AutomatonKind::default(), dense_depth: 3 }
    }
}

/// One automaton over the whole dictionary.
pub struct Matcher {
    engine: Engine,
    mode: MatchMode,
    /// The query index of each pattern, ascending (queries without a pattern are skipped).
    pattern_query: Vec<u32>,
    /// (first query, query) for each query whose pattern an earlier (first) query already has, sorted.
    duplicates: Vec<(u32, u32)>,
    num_queries: usize,
}

/// Reusable buffers for [`Matcher::find`]; one per thread.
#[derive(Default)]
pub struct Scratch {
    text: Vec<u8>,
    hits: Vec<u32>,
    out: Vec<u32>,
    norm: String,
    trie: TrieScratch,
}

impl Matcher {
    /// Builds the automaton over `queries`; a query's index in the iteration is what
    /// [`Matcher::find`] reports.
    pub fn new<'a>(queries: impl IntoIterator<Item = &'a str>, mode: MatchMode) -> Result<Matcher, CurateError> {
        Self::with_kind(queries, mode, AutomatonKind::default())
    }

    pub fn with_kind<'a>(
        queries: impl IntoIterator<Item = &'a str>,
        mode: MatchMode,
        kind: AutomatonKind,
    ) -> Result<Matcher, CurateError> {
        Self::with_options(queries, mode, &MatcherOptions { kind, ..MatcherOptions::default() })
    }

    pub fn with_options<'a>(
        queries: impl IntoIterator<Item = &'a str>,
        mode: MatchMode,
        options: &MatcherOptions,
    ) -> Result<Matcher, CurateError> {
        // All patterns in one buffer; pattern `p` is `bytes[ends[p - 1]..ends[p]]` and stands for
        // query `pattern_query[p]`. Patterns are unique (the double array refuses duplicates): a
        // query whose pattern an earlier query already has goes into `duplicates` instead.
        let mut bytes: Vec<u8> = Vec::new();
        let mut ends: Vec<usize> = Vec::new();
        let mut pattern_query: Vec<u32> = Vec::new();
        let mut duplicates: Vec<(u32, u32)> = Vec::new();
        let mut seen: HashMap<Vec<u8>, u32> = HashMap::new();
        let mut num_queries = 0usize;
        let mut scratch = Scratch::default();
        for (index, query) in queries.into_iter().enumerate() {
            num_queries = index + 1;
            let index = u32::try_from(index).map_err(|_| CurateError::TooManyQueries)?;
            let pattern = &mut scratch.text;
            match mode {
                MatchMode::Metaclip => {
                    pattern.clear();
                    pattern.push(b' ');
                    pattern.extend_from_slice(query.as_bytes());
                    pattern.push(b' ');
                }
                MatchMode::Words { case_fold } => {
                    words_normalize(query, case_fold, &mut scratch.norm, pattern);
                    if pattern.len() <= 2 {
                        continue; // no token: never matches
                    }
                }
            }
            let next = u32::try_from(pattern_query.len()).map_err(|_| CurateError::TooManyQueries)?;
            match seen.entry(pattern.clone()) {
                Entry::Occupied(first) => duplicates.push((pattern_query[*first.get() as usize], index)),
                Entry::Vacant(slot) => {
                    slot.insert(next);
                    bytes.extend_from_slice(pattern);
                    ends.push(bytes.len());
                    pattern_query.push(index);
                }
            }
        }
        drop(seen);
        duplicates.sort_unstable();
        let patterns = (0..ends.len()).map(|p| &bytes[if p == 0 { 0 } else { ends[p - 1] }..ends[p]]);
        // Every pattern starts with a space, so a prefilter could never skip anything.
        let engine = match options.kind {
            AutomatonKind::ContiguousNfa => Engine::Nfa(
                contiguous::NFA::builder()
                    .match_kind(MatchKind::Standard)
                    .prefilter(false)
                    .dense_depth(options.dense_depth)
                    .build(patterns.clone())
                    .map_err(|e| CurateError::Automaton(e.to_string()))?,
            ),
            AutomatonKind::Dfa => Engine::Dfa(
                dfa::DFA::builder()
                    .match_kind(MatchKind::Standard)
                    .prefilter(false)
                    .build(patterns.clone())
                    .map_err(|e| CurateError::Automaton(e.to_string()))?,
            ),
            AutomatonKind::DoubleArray => Engine::DoubleArray(
                DoubleArrayAhoCorasickBuilder::new()
                    .match_kind(daachorse::MatchKind::Standard)
                    .use_prefilter(false)
                    .build::<_, _, u32>(patterns.clone())
                    .map_err(|e| CurateError::Automaton(e.to_string()))?,
            ),
            // The trie reports query indices directly (one table load less per match).
            AutomatonKind::TokenTrie => Engine::TokenTrie(
                TokenTrie::new(patterns.clone().zip(pattern_query.iter().copied())).map_err(CurateError::Automaton)?,
            ),
        };
        Ok(Matcher { engine, mode, pattern_query, duplicates, num_queries })
    }

    pub fn mode(&self) -> MatchMode {
        self.mode
    }

    /// How many queries the matcher was built over (including ones that can never match).
    pub fn num_queries(&self) -> usize {
        self.num_queries
    }

    /// Heap bytes held by the automaton and the pattern → query tables.
    pub fn memory_usage(&self) -> usize {
        let automaton = match &self.engine {
            Engine::Nfa(nfa) => nfa.memory_usage(),
            Engine::Dfa(dfa) => dfa.memory_usage(),
            Engine::DoubleArray(daac) => daac.heap_bytes(),
            Engine::TokenTrie(trie) => trie.memory_usage(),
        };
        automaton + 4 * self.pattern_query.capacity() + 8 * self.duplicates.capacity()
    }

    /// The automaton representation built.
    pub fn automaton_kind(&self) -> AutomatonKind {
        match self.engine {
            Engine::Nfa(_) => AutomatonKind::ContiguousNfa,
            Engine::Dfa(_) => AutomatonKind::Dfa,
            Engine::DoubleArray(_) => AutomatonKind::DoubleArray,
            Engine::TokenTrie(_) => AutomatonKind::TokenTrie,
        }
    }

    /// The indices of the queries `text` matches, ascending, each once.
    pub fn find<'s>(&self, text: &str, scratch: &'s mut Scratch) -> &'s [u32] {
        if let (Engine::TokenTrie(trie), MatchMode::Metaclip) = (&self.engine, self.mode) {
            // MetaCLIP's fields are read from the text itself: no spaced copy to build and split.
            let bytes = text.as_bytes();
            scratch.trie.clear();
            scratch.hits.clear();
            metaclip_fields(bytes, |from, len| trie.push_field(bytes, from, len, &mut scratch.trie));
            trie.walk(bytes, &mut scratch.trie, &mut scratch.hits);
            return self.queries_of_hits(scratch);
        }
        match self.mode {
            MatchMode::Metaclip => metaclip_spacing(text, &mut scratch.text),
            MatchMode::Words { case_fold } => words_normalize(text, case_fold, &mut scratch.norm, &mut scratch.text),
        }
        scratch.hits.clear();
        match &self.engine {
            Engine::Nfa(nfa) => scan_overlapping(nfa, &scratch.text, &mut scratch.hits),
            Engine::Dfa(dfa) => scan_overlapping(dfa, &scratch.text, &mut scratch.hits),
            Engine::DoubleArray(daac) => scan_double_array(daac, &scratch.text, &mut scratch.hits),
            Engine::TokenTrie(trie) => trie.scan(&scratch.text, &mut scratch.trie, &mut scratch.hits),
        }
        self.queries_of_hits(scratch)
    }

    /// `scratch.hits` (the engine's pattern values) as the sorted, unique query indices.
    fn queries_of_hits<'s>(&self, scratch: &'s mut Scratch) -> &'s [u32] {
        // Patterns ascend with their first queries, so sorted unique patterns give sorted unique
        // queries; a duplicated pattern adds its later queries, and then the list needs a sort.
        sort_unique_into(&scratch.hits, &mut scratch.out);
        if !matches!(self.engine, Engine::TokenTrie(_)) {
            scratch.out.iter_mut().for_each(|p| *p = self.pattern_query[*p as usize]);
        }
        if !self.duplicates.is_empty() {
            let firsts = scratch.out.len();
            for i in 0..firsts {
                let first = scratch.out[i];
                let from = self.duplicates.partition_point(|&(q, _)| q < first);
                for &(q, query) in &self.duplicates[from..] {
                    if q != first {
                        break;
                    }
                    scratch.out.push(query);
                }
            }
            if scratch.out.len() > firsts {
                scratch.out.sort_unstable();
            }
        }
        &scratch.out
    }
}

/// Overlapping search (every match of every pattern, `MatchKind::Standard`), pushing pattern ids.
///
/// The same walk as `AhoCorasick::find_overlapping_iter`, without its per-byte dynamic dispatch and
/// per-match iterator state, plus one exact shortcut: every pattern starts with a space, so in the
/// start state any other byte leads back to the start state, and the scan jumps to the next space.
fn scan_overlapping<A: Automaton>(automaton: &A, haystack: &[u8], hits: &mut Vec<u32>) {
    let Ok(start) = automaton.start_state(Anchored::No) else { return };
    let mut sid: StateID = start;
    let mut i = 0;
    while i < haystack.len() {
        if sid == start && haystack[i] != b' ' {
            match haystack[i..].iter().position(|&b| b == b' ') {
                Some(offset) => i += offset,
                None => return,
            }
        }
        sid = automaton.next_state(Anchored::No, sid, haystack[i]);
        if automaton.is_special(sid) {
            if automaton.is_dead(sid) {
                return;
            }
            if automaton.is_match(sid) {
                for m in 0..automaton.match_len(sid) {
                    hits.push(automaton.match_pattern(sid, m).as_u32());
                }
            }
        }
        i += 1;
    }
}

/// Overlapping search with the double array, pushing pattern ids.
fn scan_double_array(automaton: &DoubleArrayAhoCorasick<u32>, haystack: &[u8], hits: &mut Vec<u32>) {
    for m in automaton.find_overlapping_iter(haystack) {
        hits.push(m.value());
    }
}

/// Bytes MetaCLIP wraps in spaces.
const WRAPPED: [u8; 7] = [b',', b'.', b';', b':', b'?', b'!', b'`'];

const fn spacing_table() -> [u8; 256] {
    // 0: copy, 1: wrap in spaces, 2: replace by a space
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < WRAPPED.len() {
        table[WRAPPED[i] as usize] = 1;
        i += 1;
    }
    table[b'\t' as usize] = 2;
    table[b'\n' as usize] = 2;
    table[b'\r' as usize] = 2;
    table
}

static SPACING: [u8; 256] = spacing_table();

/// MetaCLIP's `spacing(text)` into `out`: pad, wrap `, . ; : ? ! `` ` `` in spaces, tab/LF/CR to
/// space. Works on bytes: these are ASCII, and ASCII bytes never occur inside a UTF-8 sequence.
pub fn metaclip_spacing(text: &str, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(text.len() + 16);
    out.push(b' ');
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match SPACING[b as usize] {
            0 => continue,
            1 => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(&[b' ', b, b' ']);
            }
            _ => {
                out.extend_from_slice(&bytes[start..i]);
                out.push(b' ');
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b' ');
}

/// The fields of [`metaclip_spacing`]'s form of `text` (the space-separated pieces between its
/// padding spaces, empty ones included), as `(start, length)` in `text`, read without building it:
/// a space, tab, newline or CR ends a field; each of the seven marks ends a field and is a field of
/// its own.
pub fn metaclip_fields(text: &[u8], mut field: impl FnMut(usize, usize)) {
    let mut start = 0;
    let mut separator = |i: usize| {
        field(start, i - start);
        if SPACING[text[i] as usize] == 1 {
            field(i, 1);
        }
        start = i + 1;
    };
    let mut at = 0;
    #[cfg(target_arch = "x86_64")]
    while at + 16 <= text.len() {
        // 16 bytes at a time: a bit per separator byte, then the bits in order.
        let mut bits = separators_in_16(&text[at..at + 16]);
        while bits != 0 {
            separator(at + bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
        at += 16;
    }
    for i in at..text.len() {
        if text[i] == b' ' || SPACING[text[i] as usize] != 0 {
            separator(i);
        }
    }
    field(start, text.len() - start);
}

/// A bit per byte of `chunk` (16 bytes) that ends a MetaCLIP field: space, tab, LF, CR and the
/// seven marks.
#[cfg(target_arch = "x86_64")]
#[inline]
fn separators_in_16(chunk: &[u8]) -> u32 {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8};
    assert_eq!(chunk.len(), 16);
    // SAFETY: SSE2 is part of x86_64; the load reads the 16 bytes of `chunk` (checked above),
    // unaligned loads allowed.
    unsafe {
        let bytes = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        let mut found = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b' ' as i8));
        for &b in WRAPPED.iter().chain(b"\t\n\r") {
            found = _mm_or_si128(found, _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b as i8)));
        }
        _mm_movemask_epi8(found) as u32
    }
}

/// The `words` mode form of `text` into `out`: `" tok1 tok2 … "` (see the module docs).
pub fn words_normalize(text: &str, case_fold: bool, norm: &mut String, out: &mut Vec<u8>) {
    norm.clear();
    if case_fold {
        let nfkc: String = text.nfkc().collect();
        norm.push_str(&nfkc.to_lowercase());
    } else {
        norm.extend(text.nfkc());
    }
    out.clear();
    out.push(b' ');
    for segment in norm.split_word_bounds() {
        if segment.chars().all(char::is_whitespace) {
            continue;
        }
        if segment.chars().any(char::is_whitespace) {
            for c in segment.chars().filter(|c| !c.is_whitespace()) {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        } else {
            out.extend_from_slice(segment.as_bytes());
        }
        out.push(b' ');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(queries: &[&str], mode: MatchMode, text: &str) -> Vec<String> {
        let matcher = Matcher::new(queries.iter().copied(), mode).unwrap();
        let mut scratch = Scratch::default();
        matcher.find(text, &mut scratch).iter().map(|&i| queries[i as usize].to_string()).collect()
    }

    fn metaclip(queries: &[&str], text: &str) -> Vec<String> {
        matches(queries, MatchMode::Metaclip, text)
    }

    fn words(queries: &[&str], text: &str) -> Vec<String> {
        matches(queries, MatchMode::Words { case_fold: false }, text)
    }

    #[test]
    fn metaclip_fields_are_those_of_the_spaced_form() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let alphabet = b"ab ,.;:?!`\t\n\r-'(";
        let mut texts: Vec<Vec<u8>> = ["", " ", ",", "a", "a,b", "  a  ", "dog's (dog).", "x\t\ty"]
            .iter()
            .map(|t| t.as_bytes().to_vec())
            .collect();
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Up to 50 bytes: the 16-byte steps, their ends and the rest all see separators.
        for _ in 0..4000 {
            let len = (next() % 51) as usize;
            texts.push((0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect());
        }
        for text in texts {
            let text = String::from_utf8(text).unwrap();
            let mut spaced = Vec::new();
            metaclip_spacing(&text, &mut spaced);
            let expected: Vec<&[u8]> = spaced[1..spaced.len() - 1].split(|&b| b == b' ').collect();
            let mut got: Vec<&[u8]> = Vec::new();
            metaclip_fields(text.as_bytes(), |from, len| got.push(&text.as_bytes()[from..from + len]));
            assert_eq!(got, expected, "{text:?}");
        }
    }

    #[test]
    fn overlapping_matches_sharing_a_space_all_count() {
        let q = ["A", "hot", "dog", "hot dog", "cat"];
        assert_eq!(metaclip(&q, "A hot dog"), ["A", "hot", "dog", "hot dog"]);
        assert_eq!(metaclip(&q, " A hot dog "), ["A", "hot", "dog", "hot dog"]);
        assert_eq!(words(&q, "A hot dog"), ["A", "hot", "dog", "hot dog"]);
    }

    #[test]
    fn nested_matches_all_count() {
        let q = ["new york", "york", "new york city", "city", "new"];
        assert_eq!(metaclip(&q, "new york city at night"), ["new york", "york", "new york city", "city", "new"]);
    }

    #[test]
    fn each_query_counts_once_per_text() {
        let matcher = Matcher::new(["dog", "cat"], MatchMode::Metaclip).unwrap();
        let mut scratch = Scratch::default();
        assert_eq!(matcher.find("dog dog dog, dog. cat dog", &mut scratch), [0, 1]);
    }

    #[test]
    fn metaclip_is_case_sensitive_and_needs_whole_tokens() {
        let q = ["dog"];
        assert!(metaclip(&q, "Dog park").is_empty());
        assert!(metaclip(&q, "DOG").is_empty());
        assert!(metaclip(&q, "hotdog stand").is_empty());
        assert!(metaclip(&q, "dogs").is_empty());
        assert_eq!(metaclip(&q, "dog"), ["dog"]);
    }

    #[test]
    fn metaclip_does_not_split_apostrophes_brackets_or_hyphens() {
        let q = ["dog"];
        for text in ["my dog's bed", "a (dog) here", "dog-friendly cafe", "\"dog\"", "dog/cat", "dog’s"] {
            assert!(metaclip(&q, text).is_empty(), "{text:?} matched");
        }
    }

    #[test]
    fn metaclip_wraps_its_seven_punctuation_marks() {
        let q = ["dog"];
        for text in ["dog,cat", "a dog.", "dog;", "dog:x", "dog?", "dog!", "`dog`", "x.dog.y"] {
            assert_eq!(metaclip(&q, text), ["dog"], "{text:?}");
        }
    }

    #[test]
    fn metaclip_control_whitespace_becomes_single_spaces() {
        let q = ["hot dog"];
        assert_eq!(metaclip(&q, "a hot\tdog"), ["hot dog"]);
        assert_eq!(metaclip(&q, "a hot\ndog"), ["hot dog"]);
        assert_eq!(metaclip(&q, "a hot\rdog"), ["hot dog"]);
        // A non-breaking space, a double space or CRLF is not one plain space.
        assert!(metaclip(&q, "a hot\u{a0}dog").is_empty());
        assert!(metaclip(&q, "a hot  dog").is_empty());
        assert!(metaclip(&q, "a hot\r\ndog").is_empty());
        assert!(metaclip(&["dog"], "hot\u{a0}dog").is_empty(), "NBSP is not a separator");
    }

    #[test]
    fn metaclip_queries_with_wrapped_punctuation_never_match() {
        let q = ["U.S.", "St. Louis", "hello, world", "what?", "a:b", "wow!", "x;y"];
        for text in ["U.S.", "the U.S. army", "St. Louis", "hello, world", "what?", "a:b", "wow!", "x;y", " U.S. "] {
            assert!(metaclip(&q, text).is_empty(), "{text:?} matched");
        }
    }

    #[test]
    fn metaclip_matches_other_unicode_verbatim() {
        let q = ["café", "東京", "naïve"];
        assert_eq!(metaclip(&q, "a café in 東京"), ["café", "東京"]);
        // Decomposed é (e + U+0301) is a different byte string: no match without normalization.
        assert!(metaclip(&q, "cafe\u{301}").is_empty());
        assert_eq!(words(&["café"], "cafe\u{301}"), ["café"]);
    }

    #[test]
    fn words_mode_matches_abbreviations_and_brackets() {
        let q = ["U.S.", "St. Louis", "dog", "hot dog"];
        assert_eq!(words(&q, "the U.S. army"), ["U.S."]);
        assert_eq!(words(&q, "visit St. Louis today"), ["St. Louis"]);
        assert_eq!(words(&q, "a (dog) here"), ["dog"]);
        assert_eq!(words(&q, "dog-friendly"), ["dog"]);
        assert!(words(&q, "my dog's bed").is_empty(), "dog's is one word");
        assert_eq!(words(&q, "hot\u{a0}dog"), ["dog", "hot dog"]);
        assert_eq!(words(&q, "hot   \t dog"), ["dog", "hot dog"]);
        assert!(words(&q, "hotdog").is_empty());
        assert!(words(&q, "the US army").is_empty());
    }

    #[test]
    fn words_mode_case_folding_is_optional() {
        let q = ["Dog", "new york"];
        assert!(words(&q, "DOG in New York").is_empty());
        let folded = matches(&q, MatchMode::Words { case_fold: true }, "DOG in New York");
        assert_eq!(folded, ["Dog", "new york"]);
        // NFKC: full-width letters and ligatures normalize.
        let folded = matches(&["file"], MatchMode::Words { case_fold: true }, "ＦＩＬＥ ﬁle");
        assert_eq!(folded, ["file"]);
    }

    #[test]
    fn words_mode_queries_without_tokens_never_match() {
        assert!(words(&["", "  "], "anything at all").is_empty());
        assert!(words(&["", "dog"], "").is_empty());
    }

    #[test]
    fn duplicate_queries_each_report_their_own_index() {
        let matcher = Matcher::new(["dog", "cat", "dog"], MatchMode::Metaclip).unwrap();
        let mut scratch = Scratch::default();
        assert_eq!(matcher.find("cat and dog", &mut scratch), [0, 1, 2]);
        let matcher = Matcher::new(["Dog", "cat", "dog"], MatchMode::Words { case_fold: true }).unwrap();
        assert_eq!(matcher.find("a DOG", &mut scratch), [0, 2]);
    }

    #[test]
    fn the_spacing_is_metaclips() {
        let mut out = Vec::new();
        metaclip_spacing("a,b.\tc!`", &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), " a , b .  c !  `  ");
    }

    const ALL_KINDS: [AutomatonKind; 4] =
        [AutomatonKind::ContiguousNfa, AutomatonKind::Dfa, AutomatonKind::DoubleArray, AutomatonKind::TokenTrie];

    #[test]
    fn every_automaton_kind_agrees() {
        let q = ["A", "hot", "dog", "hot dog"];
        for kind in ALL_KINDS {
            let matcher = Matcher::with_kind(q, MatchMode::Metaclip, kind).unwrap();
            let mut scratch = Scratch::default();
            assert_eq!(matcher.find("A hot dog", &mut scratch), [0, 1, 2, 3]);
        }
    }

    #[test]
    fn every_kind_handles_empty_fields_duplicates_and_long_tokens() {
        // Empty queries and fields (double spaces), duplicates, tokens over 8 bytes (the trie keeps
        // 8 inline), a token that shares a long token's first 8 bytes, and texts with none of them.
        let q = [
            "",
            "a  b",
            " a",
            "dog ",
            "dog",
            "dog",
            "internationalisation",
            "internat",
            "internationalization x",
            "x",
            "a",
            "b",
        ];
        let texts = [
            "",
            " ",
            "  ",
            "a  b",
            "a   b",
            " a b ",
            "dog  x",
            "internationalisation internationalization x",
            "internat",
            "dog dog",
            "b a  b a",
        ];
        for mode in [MatchMode::Metaclip, MatchMode::Words { case_fold: false }, MatchMode::Words { case_fold: true }] {
            let mut expected = Vec::new();
            for kind in ALL_KINDS {
                let matcher = Matcher::with_kind(q, mode, kind).unwrap();
                let mut scratch = Scratch::default();
                let got: Vec<Vec<u32>> = texts.iter().map(|t| matcher.find(t, &mut scratch).to_vec()).collect();
                if kind == AutomatonKind::ContiguousNfa {
                    expected = got;
                } else {
                    assert_eq!(got, expected, "{kind:?} in {mode:?}");
                }
            }
            assert!(expected.iter().any(|m| !m.is_empty()), "{mode:?}: nothing matched at all");
        }
        // The cases above, by hand, in MetaCLIP mode.
        let matcher = Matcher::with_kind(q, MatchMode::Metaclip, AutomatonKind::TokenTrie).unwrap();
        let mut scratch = Scratch::default();
        assert_eq!(matcher.find("", &mut scratch), [0], "the empty query matches the empty text");
        assert_eq!(matcher.find("a  b", &mut scratch), [0, 1, 10, 11], "` a` needs a space before the a");
        assert_eq!(matcher.find(" a", &mut scratch), [0, 2, 10]);
        assert_eq!(matcher.find("dog  x", &mut scratch), [0, 3, 4, 5, 9]);
        assert_eq!(matcher.find("internat", &mut scratch), [7]);
        assert_eq!(matcher.find("internationalisation internationalization x", &mut scratch), [6, 8, 9]);
    }

    mod property {
        use super::super::*;
        use proptest::prelude::*;

        const WORDS: [&str; 14] =
            ["dog", "hot", "A", "a", "cat", "U.S", "St", "Louis", "dog's", "new", "york", "é", "東京", "x"];
        const GLUE: [&str; 20] = [
            " ", " ", " ", "  ", ",", ".", ";", ":", "?", "!", "`", "'", "(", ")", "-", "\t", "\n", "\r", "\u{a0}", "",
        ];

        /// MetaCLIP's Python, transcribed: str.replace in its order, then `" q " in text`.
        fn naive(queries: &[String], text: &str) -> Vec<u32> {
            let mut spaced = format!(" {text} ");
            for p in [",", ".", ";", ":", "?", "!", "`"] {
                spaced = spaced.replace(p, &format!(" {p} "));
            }
            for c in ["\t", "\n", "\r"] {
                spaced = spaced.replace(c, " ");
            }
            (0..queries.len() as u32).filter(|&i| spaced.contains(&format!(" {} ", queries[i as usize]))).collect()
        }

        fn query() -> impl Strategy<Value = String> {
            // One to three words joined by glue (mostly single spaces, sometimes punctuation).
            (prop::collection::vec(0..WORDS.len(), 1..=3), prop::collection::vec(0..4usize, 2)).prop_map(
                |(words, glue)| {
                    let mut q = String::new();
                    for (i, w) in words.iter().enumerate() {
                        if i > 0 {
                            q.push_str([" ", " ", ".", " "][glue[(i - 1) % 2]]);
                        }
                        q.push_str(WORDS[*w]);
                    }
                    q
                },
            )
        }

        fn text() -> impl Strategy<Value = String> {
            prop::collection::vec((0..WORDS.len(), 0..GLUE.len()), 0..16)
                .prop_map(|parts| parts.into_iter().map(|(w, g)| format!("{}{}", WORDS[w], GLUE[g])).collect())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
            #[test]
            fn the_automaton_equals_a_naive_substring_scan(
                queries in prop::collection::vec(query(), 1..40),
                texts in prop::collection::vec(text(), 1..20),
            ) {
                let default = Matcher::new(queries.iter().map(String::as_str), MatchMode::Metaclip).unwrap();
                let others: Vec<Matcher> = [AutomatonKind::ContiguousNfa, AutomatonKind::Dfa, AutomatonKind::DoubleArray]
                    .into_iter()
                    .map(|kind| Matcher::with_kind(queries.iter().map(String::as_str), MatchMode::Metaclip, kind).unwrap())
                    .collect();
                let mut scratch = Scratch::default();
                for text in &texts {
                    let expected = naive(&queries, text);
                    prop_assert_eq!(default.find(text, &mut scratch), &expected[..], "text {:?}", text);
                    for other in &others {
                        prop_assert_eq!(other.find(text, &mut scratch), &expected[..], "text {:?} ({:?})", text, other.automaton_kind());
                    }
                }
            }

            #[test]
            fn every_kind_matches_the_nfa_in_words_mode(
                queries in prop::collection::vec(query(), 1..40),
                texts in prop::collection::vec(text(), 1..20),
                case_fold in any::<bool>(),
            ) {
                let mode = MatchMode::Words { case_fold };
                let nfa = Matcher::with_kind(queries.iter().map(String::as_str), mode, AutomatonKind::ContiguousNfa).unwrap();
                let mut scratch = Scratch::default();
                let expected: Vec<Vec<u32>> = texts.iter().map(|t| nfa.find(t, &mut scratch).to_vec()).collect();
                for kind in [AutomatonKind::Dfa, AutomatonKind::DoubleArray, AutomatonKind::TokenTrie] {
                    let other = Matcher::with_kind(queries.iter().map(String::as_str), mode, kind).unwrap();
                    for (text, expected) in texts.iter().zip(&expected) {
                        prop_assert_eq!(other.find(text, &mut scratch), &expected[..], "text {:?} ({:?})", text, kind);
                    }
                }
            }
        }
    }
}
