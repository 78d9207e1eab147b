//! The WARC reader (`wit harvest`): any byte stream yields records, counted skips or an error,
//! and ends; every HTTP response block is parsed like harvest parses it (chunked transfer and
//! gzip/deflate/zstd content encodings undone).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wit_harvest::warc::{WarcItem, WarcLimits, WarcReader};

fuzz_target!(|data: &[u8]| {
    let limits = WarcLimits { max_block: 1 << 20, max_line: 4 << 10 };
    let input = Box::new(std::io::Cursor::new(data.to_vec()));
    let reader = WarcReader::from_reader(Path::new("fuzz.warc"), input, limits);
    for (n, item) in reader.enumerate() {
        assert!(n <= data.len() + 1, "more items than input bytes: the reader does not advance");
        match item {
            Ok(WarcItem::Record(record)) => {
                let _ = record.warc_type();
                let _ = record.target_uri();
                let _ = wit_harvest::http::parse_response(&record.block, 1 << 20);
            }
            Ok(WarcItem::Skipped { .. }) => {}
            Err(_) => break,
        }
    }
});
