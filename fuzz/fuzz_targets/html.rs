//! The HTML extractor (`extract_html`, harvest and crawl): any bytes give pairs and links or an
//! error; every pair's URL is an absolute http(s) URL.
//!
//! lol_html 3.0.3 has a known internal panic on some malformed markup, which `extract_html` catches
//! and returns as an error. libFuzzer's panic hook aborts on every panic, before `catch_unwind`
//! can see it, so this target lets panics raised inside lol_html unwind to that catch; any other
//! panic is still a crash.
#![no_main]

use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use wit_harvest::{extract_html, HtmlOptions};

static HOOK: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_lol_html = info.location().is_some_and(|l| l.file().contains("/lol_html-"));
            if !in_lol_html {
                fuzzer_hook(info);
            }
        }));
    });
    let page = url::Url::parse("http://example.com/dir/page.html").expect("a valid URL");
    let options = HtmlOptions { max_memory: 1 << 20, ..Default::default() };
    if let Ok(extract) = extract_html(data, &page, &options) {
        for pair in &extract.pairs {
            let url = url::Url::parse(&pair.url).expect("extracted image URLs are absolute");
            assert!(matches!(url.scheme(), "http" | "https"), "{}", pair.url);
        }
    }
});
