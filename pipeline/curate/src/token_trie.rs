//! A trie over whole tokens: the fastest of the matcher's automata on large dictionaries.
//!
//! Every pattern the matcher searches for is `" " + q + " "` and every text it searches is
//! `" " + t + " "` (see the module docs of `matcher`). Such a pattern occurs in such a text exactly
//! when the space-separated fields of `q` (`q.split(' ')`, empty fields included) equal a
//! contiguous run of the fields of `t`. So instead of walking a byte automaton (one dependent,
//! mostly cache-missing transition per byte), the text is cut into fields, each field is looked up
//! once in the dictionary's vocabulary (independent lookups that the CPU overlaps), and from every
//! field a walk down a trie keyed by token ids reports each pattern whose fields start there. Walks
//! are short: most stop after one or two fields. The matches are the byte automaton's, exactly
//! (token bytes are compared, not only their hashes).

use std::collections::hash_map::Entry;
use std::collections::HashMap;

/// No token / no pattern.
const NONE: u32 = u32::MAX;
/// `info` bit: the node has children.
const HAS_CHILDREN: u32 = 1 << 31;

/// One vocabulary slot (open addressing, linear probing); `id == NONE` marks an empty slot. The
/// token's first 8 bytes live in the slot, so most tokens are compared without a second load.
#[derive(Clone, Copy)]
#[repr(align(32))]
struct TokenSlot {
    hash: u64,
    prefix: u64,
    /// Where the token's bytes after the first 8 start in `bytes`.
    rest: u32,
    len: u16,
    id: u32,
    /// The depth-1 node's info (the node of the one-token sequence `[id]` is node `id`).
    info: u32,
}

/// One (node, token) → child slot; `key == u64::MAX` marks an empty slot.
#[derive(Clone, Copy)]
struct ChildSlot {
    key: u64,
    child: u32,
    info: u32,
}

pub(crate) struct TokenTrie {
    bytes: Vec<u8>,
    tokens: Vec<TokenSlot>,
    token_mask: usize,
    children: Vec<ChildSlot>,
    child_mask: usize,
}

/// A node's info: `HAS_CHILDREN` plus the pattern ending there + 1 (0: none).
fn info(pattern: u32, has_children: bool) -> u32 {
    (if pattern == NONE { 0 } else { pattern + 1 }) | if has_children { HAS_CHILDREN } else { 0 }
}

fn child_key(node: u32, token: u32) -> u64 {
    (u64::from(node) << 32) | u64::from(token)
}

fn child_hash(key: u64) -> u64 {
    key.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (key >> 29)
}

/// The first 8 bytes of `token`, zero-padded, as one integer.
#[inline]
fn prefix(token: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let n = token.len().min(8);
    word[..n].copy_from_slice(&token[..n]);
    u64::from_le_bytes(word)
}

/// The bytes `at..at + len` of `bytes` (len ≤ 8), zero-padded, as one integer: [`prefix`] of that
/// slice, with a single unaligned load when 8 bytes are readable from `at`.
#[inline]
fn prefix_at(bytes: &[u8], at: usize, len: usize) -> u64 {
    match bytes.get(at..at + 8) {
        Some(word) => {
            let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
            if len >= 8 {
                word
            } else {
                word & ((1u64 << (8 * len)) - 1)
            }
        }
        None => prefix(&bytes[at..at + len.min(8)]),
    }
}

const MIX: u64 = 0x9E37_79B9_7F4A_7C15;
const MIX2: u64 = 0xD6E8_FEB8_6659_FD93;

/// Both halves of the 128-bit product, folded: every bit of `x` reaches the low bits, which pick
/// the slot.
#[inline]
fn fold_mul(x: u64, k: u64) -> u64 {
    let product = u128::from(x) * u128::from(k);
    (product as u64) ^ ((product >> 64) as u64)
}

/// The hash of a token whose first 8 bytes (zero-padded) are `first`: a folded multiply per 8-byte
/// word. Cheaper than a general string hash on tokens of a few bytes; its quality only affects
/// probe lengths, never results (slots compare the token's bytes).
#[inline]
fn token_hash(first: u64, token: &[u8]) -> u64 {
    let mut h = fold_mul(first ^ (token.len() as u64).wrapping_mul(MIX2), MIX);
    let mut at = 8;
    while at < token.len() {
        h = fold_mul(h ^ prefix_at(token, at, (token.len() - at).min(8)), MIX2);
        at += 8;
    }
    h
}

/// The fields between a spaced string's outer spaces (`" a b "` → `a`, `b`); none if shorter than 2.
fn fields(spaced: &[u8]) -> impl Iterator<Item = &[u8]> {
    let interior = if spaced.len() >= 2 { Some(&spaced[1..spaced.len() - 1]) } else { None };
    interior.into_iter().flat_map(|i| i.split(|&b| b == b' '))
}

impl TokenTrie {
    /// Builds the trie over unique spaced patterns (`" q "`), each with the value [`TokenTrie::scan`]
    /// reports for it (below 2^31 - 1).
    pub(crate) fn new<'a>(patterns: impl Iterator<Item = (&'a [u8], u32)>) -> Result<TokenTrie, String> {
        let mut vocab: HashMap<&'a [u8], u32> = HashMap::new();
        let mut token_list: Vec<&'a [u8]> = Vec::new();
        // Per node: the pattern ending there and whether it has children. Nodes 0..V are the
        // one-token sequences; deeper nodes are appended as they appear.
        let mut node_pattern: Vec<u32> = Vec::new();
        let mut node_parent_of: Vec<bool> = Vec::new();
        let mut edges: HashMap<u64, u32> = HashMap::new();
        let mut paths: Vec<(Vec<u32>, u32)> = Vec::new(); // (token ids, pattern value) of every pattern
        for (pattern, p) in patterns {
            if p >= HAS_CHILDREN - 1 {
                return Err(format!("pattern value {p} over 2^31 - 2"));
            }
            let mut path = Vec::new();
            for field in fields(pattern) {
                let next = u32::try_from(token_list.len()).map_err(|_| "too many tokens".to_string())?;
                let id = *vocab.entry(field).or_insert_with(|| {
                    token_list.push(field);
                    next
                });
                path.push(id);
            }
            if path.is_empty() {
                return Err(format!("pattern with value {p} is not space-padded"));
            }
            paths.push((path, p));
        }
        let num_tokens = token_list.len();
        node_pattern.resize(num_tokens, NONE);
        node_parent_of.resize(num_tokens, false);
        for (path, p) in &paths {
            let mut node = path[0];
            for &token in &path[1..] {
                node_parent_of[node as usize] = true;
                let fresh = u32::try_from(node_pattern.len()).map_err(|_| "too many trie nodes".to_string())?;
                node = match edges.entry(child_key(node, token)) {
                    Entry::Occupied(e) => *e.get(),
                    Entry::Vacant(e) => {
                        e.insert(fresh);
                        node_pattern.push(NONE);
                        node_parent_of.push(false);
                        fresh
                    }
                };
            }
            node_pattern[node as usize] = *p;
        }
        if node_pattern.len() >= HAS_CHILDREN as usize {
            return Err("too many trie nodes".into());
        }
        let node_info = |n: u32| info(node_pattern[n as usize], node_parent_of[n as usize]);

        // The vocabulary table: bytes of every token, then slots at ≤ 2/3 load.
        let mut bytes = Vec::new();
        let capacity = (num_tokens * 3 / 2 + 1).next_power_of_two().max(16);
        let empty = TokenSlot { hash: 0, prefix: 0, rest: 0, len: 0, id: NONE, info: 0 };
        let mut tokens = vec![empty; capacity];
        let token_mask = capacity - 1;
        for (id, token) in token_list.iter().enumerate() {
            let rest = u32::try_from(bytes.len()).map_err(|_| "dictionary over 4 GiB".to_string())?;
            let len = u16::try_from(token.len()).map_err(|_| format!("a token of {} bytes", token.len()))?;
            bytes.extend_from_slice(token.get(8..).unwrap_or_default());
            let hash = token_hash(prefix(token), token);
            let mut at = hash as usize & token_mask;
            while tokens[at].id != NONE {
                at = (at + 1) & token_mask;
            }
            let id = id as u32;
            tokens[at] = TokenSlot { hash, prefix: prefix(token), rest, len, id, info: node_info(id) };
        }

        let capacity = (edges.len() * 3 / 2 + 1).next_power_of_two().max(16);
        let mut children = vec![ChildSlot { key: u64::MAX, child: 0, info: 0 }; capacity];
        let child_mask = capacity - 1;
        for (&key, &child) in &edges {
            let mut at = child_hash(key) as usize & child_mask;
            while children[at].key != u64::MAX {
                at = (at + 1) & child_mask;
            }
            children[at] = ChildSlot { key, child, info: node_info(child) };
        }
        Ok(TokenTrie { bytes, tokens, token_mask, children, child_mask })
    }

    /// Heap bytes of the tables.
    pub(crate) fn memory_usage(&self) -> usize {
        self.bytes.capacity()
            + self.tokens.capacity() * std::mem::size_of::<TokenSlot>()
            + self.children.capacity() * std::mem::size_of::<ChildSlot>()
    }

    /// `(token id, node info)` of a field whose hash is `hash`, `(NONE, 0)` when no pattern has it.
    #[inline]
    fn token(&self, field: &[u8], first: u64, hash: u64) -> (u32, u32) {
        let mut at = hash as usize & self.token_mask;
        loop {
            let slot = &self.tokens[at];
            if slot.id == NONE {
                return (NONE, 0);
            }
            if slot.hash == hash && slot.len as usize == field.len() && slot.prefix == first {
                let rest = field.get(8..).unwrap_or_default();
                if rest.is_empty() || self.bytes[slot.rest as usize..slot.rest as usize + rest.len()] == *rest {
                    return (slot.id, slot.info);
                }
            }
            at = (at + 1) & self.token_mask;
        }
    }

    #[inline]
    fn child(&self, node: u32, token: u32) -> Option<(u32, u32)> {
        let key = child_key(node, token);
        let mut at = child_hash(key) as usize & self.child_mask;
        loop {
            let slot = &self.children[at];
            if slot.key == key {
                return Some((slot.child, slot.info));
            }
            if slot.key == u64::MAX {
                return None;
            }
            at = (at + 1) & self.child_mask;
        }
    }

    /// Pushes the value of every occurrence of a pattern in the spaced text `haystack`.
    pub(crate) fn scan(&self, haystack: &[u8], scratch: &mut TrieScratch, hits: &mut Vec<u32>) {
        scratch.clear();
        let mut from = 1;
        for field in fields(haystack) {
            self.push_field(haystack, from, field.len(), scratch);
            from += field.len() + 1;
        }
        self.walk(haystack, scratch, hits);
    }

    /// Adds the field `bytes[from..from + len]` to the text being scanned: the first of three
    /// passes, so that the table loads of different fields do not wait for each other (hash every
    /// field and prefetch its vocabulary slot; in [`TokenTrie::walk`], resolve the fields to tokens,
    /// prefetching the slot of each field's first step down the trie, then walk). A caller that
    /// knows a text's fields without a spaced copy of it calls this for each, in order, after
    /// [`TrieScratch::clear`], then `walk`.
    #[inline]
    pub(crate) fn push_field(&self, bytes: &[u8], from: usize, len: usize, scratch: &mut TrieScratch) {
        let hash = token_hash(prefix_at(bytes, from, len.min(8)), &bytes[from..from + len]);
        prefetch(&self.tokens[hash as usize & self.token_mask]);
        scratch.spans.push((from as u32, len as u32, hash));
    }

    /// Pushes the value of every occurrence of a pattern among the fields pushed so far (of
    /// `haystack`, the bytes they were pushed from).
    pub(crate) fn walk(&self, haystack: &[u8], scratch: &mut TrieScratch, hits: &mut Vec<u32>) {
        // The first step's slot is prefetched as soon as both tokens are known, so its load runs
        // while the later fields are resolved.
        let mut previous = (NONE, 0);
        for &(from, len, hash) in &scratch.spans {
            let field = &haystack[from as usize..from as usize + len as usize];
            let first = prefix_at(haystack, from as usize, field.len().min(8));
            let resolved = self.token(field, first, hash);
            if previous.1 & HAS_CHILDREN != 0 && resolved.0 != NONE {
                prefetch(&self.children[child_hash(child_key(previous.0, resolved.0)) as usize & self.child_mask]);
            }
            scratch.ids.push(resolved);
            previous = resolved;
        }
        let ids = &scratch.ids;
        for (i, &(token, first_info)) in ids.iter().enumerate() {
            if token == NONE {
                continue;
            }
            let (mut node, mut info) = (token, first_info);
            let mut next = i + 1;
            loop {
                if info & !HAS_CHILDREN != 0 {
                    hits.push((info & !HAS_CHILDREN) - 1);
                }
                if info & HAS_CHILDREN == 0 || next == ids.len() || ids[next].0 == NONE {
                    break;
                }
                match self.child(node, ids[next].0) {
                    Some((child, child_info)) => (node, info) = (child, child_info),
                    None => break,
                }
                next += 1;
            }
        }
    }
}

/// Reusable buffers for [`TokenTrie::scan`].
#[derive(Default)]
pub(crate) struct TrieScratch {
    /// (start, length, hash) of each field.
    spans: Vec<(u32, u32, u64)>,
    /// (token id, node info) of each field.
    ids: Vec<(u32, u32)>,
}

impl TrieScratch {
    /// Forgets the previous text's fields.
    pub(crate) fn clear(&mut self) {
        self.spans.clear();
        self.ids.clear();
    }
}

/// Asks the CPU to start loading `value`'s cache line; a hint only, with no effect on results.
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching never faults and changes no memory; the address is a live reference.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((value as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
