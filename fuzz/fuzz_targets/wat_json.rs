//! The WAT JSON reader (`wit harvest`): any metadata record block is a page, or a JSON error —
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wit_harvest::wat::extract_wat(data, Some("http://example.com/dir/page.html"));
    let _ = wit_harvest::wat::extract_wat(data, None);
});
