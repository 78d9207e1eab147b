//! The wikitext stripper (`wit queries`): any text, however unbalanced its templates, tables,
//! tags and links, becomes plain text without a panic; the tokenizer then reads that text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let plain = wit_queries::wikitext::to_plain_text(&text);
    let _ = wit_queries::tokens::tokens(&plain);
    let _ = wit_queries::tokens::bigrams(&plain);
});
