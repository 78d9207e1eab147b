//! The robots.txt parser (`wit-net`, crawl and fetch): any body parses; matching any path
//! (the bytes after the first NUL) answers without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wit_net::RobotsRules;

fuzz_target!(|data: &[u8]| {
    let (body, path) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], String::from_utf8_lossy(&data[at + 1..]).into_owned()),
        None => (data, "/some/path?q=1".to_owned()),
    };
    let rules = RobotsRules::parse(body, 500 << 10);
    for token in ["wit", "WIT", "*", "googlebot", ""] {
        let _ = rules.is_allowed(token, &path);
        let _ = rules.is_allowed(token, "/");
        let _ = rules.crawl_delay(token);
    }
});
