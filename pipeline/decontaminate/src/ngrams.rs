//! Caption n-grams: tokens are the lower-cased runs of letters and digits; an n-gram is `n`
//! consecutive tokens. The eval side keeps the xxh3 of each n-gram with the first eval item that
//! has it; a corpus caption is checked n-gram by n-gram.

use rustc_hash::FxHashMap;

pub struct NgramSet {
    n: usize,
    grams: FxHashMap<u64, usize>,
}

fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_lowercase).collect()
}

fn gram_hash(gram: &[String]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(gram.join(" ").as_bytes())
}

impl NgramSet {
    pub fn empty() -> Self {
        NgramSet { n: 0, grams: FxHashMap::default() }
    }

    /// The n-grams of `(item, caption)` pairs.
    pub fn of<'a>(n: usize, captions: impl IntoIterator<Item = (usize, &'a str)>) -> Self {
        let mut grams = FxHashMap::default();
        for (item, caption) in captions {
            for gram in tokens(caption).windows(n) {
                grams.entry(gram_hash(gram)).or_insert(item);
            }
        }
        NgramSet { n, grams }
    }

    pub fn len(&self) -> usize {
        self.grams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.grams.is_empty()
    }

    /// The eval item and the n-gram `caption` shares with it, if any.
    pub fn shared(&self, caption: &str) -> Option<(usize, String)> {
        if self.grams.is_empty() {
            return None;
        }
        let tokens = tokens(caption);
        tokens.windows(self.n).find_map(|gram| self.grams.get(&gram_hash(gram)).map(|&item| (item, gram.join(" "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_run_of_n_tokens_is_found_across_case_and_punctuation() {
        let set = NgramSet::of(4, [(0, "A photo of a red fox, jumping."), (1, "two dogs")]);
        assert_eq!(set.shared("Look: RED FOX jumping over a fence"), None, "3 shared tokens are not 4");
        assert_eq!(set.shared("a RED fox -- jumping high"), Some((0, "a red fox jumping".into())));
        assert_eq!(NgramSet::of(2, [(1, "two dogs")]).shared("Two  Dogs!"), Some((1, "two dogs".into())));
        assert_eq!(NgramSet::empty().shared("anything"), None);
    }
}
